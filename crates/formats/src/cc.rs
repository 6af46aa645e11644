//! IMS Common Cartridge 1.1–1.3 (`.imscc`): the organization tree gives modules and lesson order (falling
//! back to resource order when the tree is empty); wiki pages and web content become lessons; discussion
//! topics become lessons; web links become lessons with the link; files linked through `$IMS-CC-FILEBASE$`
//! become attachments; assessments (`imsqti` resources, read from Canvas's fuller `non_cc_assessments/` copy
//! when the package has one) become quiz lessons through [`crate::quiz::qti1`]; LTI links, question banks and
//! other activities are reported as skipped.

use std::collections::{HashMap, HashSet};

use roxmltree::Node;

use crate::{Error, Result};
use crate::{Package, PackageLesson, PackageModule, Source};

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// Whether the manifest looks like a Common Cartridge (and not, say, SCORM).
pub fn is_cartridge(manifest: &str) -> bool {
    manifest.contains("imsglobal.org/xsd/imscc") || manifest.contains("IMS Common Cartridge")
}

pub(super) fn children<'a, 'i>(
    n: Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

pub(super) fn child<'a, 'i>(n: Node<'a, 'i>, name: &'a str) -> Option<Node<'a, 'i>> {
    children(n, name).next()
}

pub(super) fn text_of(n: Option<Node<'_, '_>>) -> Option<String> {
    let t: String = n?
        .descendants()
        .filter(|d| d.is_text())
        .map(|d| d.text().unwrap_or(""))
        .collect();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}

struct Resource {
    kind: String,
    href: Option<String>,
    files: Vec<String>,
    /// Identifiers of the resources it depends on (Canvas's assessment metadata names its QTI file so).
    deps: Vec<String>,
}

/// Reads a cartridge into a package outline.
pub fn read(source: &Source, manifest_text: &str) -> Result<Package> {
    let doc = source.parse_xml(manifest_text, "imsmanifest.xml")?;
    let root = doc.root_element();
    let title = root
        .descendants()
        .find(|n| n.tag_name().name() == "general")
        .and_then(|g| child(g, "title"))
        .and_then(|t| text_of(Some(t)))
        .unwrap_or_else(|| "Imported course".to_owned());
    let description = root
        .descendants()
        .find(|n| n.tag_name().name() == "general")
        .and_then(|g| child(g, "description"))
        .and_then(|d| text_of(Some(d)))
        .unwrap_or_default();

    let mut resources: HashMap<String, Resource> = HashMap::new();
    let mut order = Vec::new();
    if let Some(res) = child(root, "resources") {
        for r in children(res, "resource") {
            let id = r.attribute("identifier").unwrap_or_default().to_owned();
            let files = children(r, "file")
                .filter_map(|f| f.attribute("href").map(str::to_owned))
                .collect();
            let deps = children(r, "dependency")
                .filter_map(|d| d.attribute("identifierref").map(str::to_owned))
                .collect();
            resources.insert(
                id.clone(),
                Resource {
                    kind: r.attribute("type").unwrap_or_default().to_owned(),
                    href: r.attribute("href").map(str::to_owned),
                    files,
                    deps,
                },
            );
            order.push(id);
        }
    }

    let mut skipped = Vec::new();
    let mut modules: Vec<PackageModule> = Vec::new();
    let organization = child(root, "organizations").and_then(|o| child(o, "organization"));
    let tree_has_lessons = organization.is_some_and(|o| {
        o.descendants()
            .any(|n| n.attribute("identifierref").is_some())
    });
    if let (Some(org), true) = (organization, tree_has_lessons) {
        // A rooted hierarchy has one untitled root item; its children are the modules.
        let mut top: Vec<Node> = children(org, "item").collect();
        if top.len() == 1
            && child(top[0], "title").is_none()
            && top[0].attribute("identifierref").is_none()
        {
            top = children(top[0], "item").collect();
        }
        let mut loose = Vec::new();
        for item in top {
            if item.attribute("identifierref").is_some() {
                loose.extend(lesson_from_item(source, item, &resources, &mut skipped)?);
                continue;
            }
            let module_title = text_of(child(item, "title")).unwrap_or_else(|| "Module".to_owned());
            let mut lessons = Vec::new();
            for leaf in item
                .descendants()
                .filter(|d| d.tag_name().name() == "item" && d.attribute("identifierref").is_some())
            {
                lessons.extend(lesson_from_item(source, leaf, &resources, &mut skipped)?);
            }
            modules.push(PackageModule {
                title: module_title,
                lessons,
            });
        }
        if !loose.is_empty() {
            modules.insert(
                0,
                PackageModule {
                    title: "Lessons".to_owned(),
                    lessons: loose,
                },
            );
        }
    } else {
        // No tree: every page-like resource, in the order of the manifest.
        let mut lessons = Vec::new();
        for id in &order {
            let r = &resources[id];
            if is_page(r) || is_discussion(r) || is_assessment(r) {
                lessons.extend(lesson_from_resource(
                    source,
                    None,
                    id,
                    r,
                    &resources,
                    &mut skipped,
                )?);
            } else if !is_settings(r) {
                skipped.push(skip_reason(None, r));
            }
        }
        modules.push(PackageModule {
            title: "Lessons".to_owned(),
            lessons,
        });
    }
    modules.retain(|m| !m.lessons.is_empty());
    dedup(&mut skipped);
    if modules.is_empty() {
        return Err(bad(format!(
            "the cartridge has no pages, links, discussions or quizzes to import{}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", skipped.join("; "))
            }
        )));
    }
    let version = text_of(child(root, "metadata").and_then(|m| child(m, "schemaversion")))
        .unwrap_or_else(|| "1.x".into());
    let key = root
        .attribute("identifier")
        .filter(|i| !i.trim().is_empty())
        .map(|i| format!("imscc:{i}"));
    Ok(Package {
        kept_files: None,
        format: format!("IMS Common Cartridge {version}"),
        key,
        title,
        description,
        capacity: None,
        modules,
        skipped,
        file_names: Default::default(),
        skip_unsupported_files: false,
    })
}

fn is_page(r: &Resource) -> bool {
    r.kind.starts_with("webcontent")
        && r.href
            .as_deref()
            .is_some_and(|h| h.ends_with(".html") || h.ends_with(".htm"))
        || r.kind.contains("learning-application-resource")
            && r.href.as_deref().is_some_and(|h| {
                h.ends_with(".html")
                    && (!h.starts_with("course_settings/") || h.ends_with("/syllabus.html"))
            })
}

fn is_assessment(r: &Resource) -> bool {
    r.kind.contains("imsqti")
}

fn is_discussion(r: &Resource) -> bool {
    r.kind.starts_with("imsdt")
}

fn is_settings(r: &Resource) -> bool {
    r.href
        .as_deref()
        .is_some_and(|h| h.starts_with("course_settings/"))
}

fn skip_reason(title: Option<&str>, r: &Resource) -> String {
    let what = if r.kind.starts_with("imsbasiclti") {
        "LTI link (needs an external tool)"
    } else if r.kind.contains("imsqti") || r.kind.contains("assessment") {
        "quiz"
    } else {
        "activity of an unsupported kind"
    };
    format!(
        "{} “{}” skipped: {what} ({})",
        if what == "quiz" { "quiz" } else { "item" },
        title.or(r.href.as_deref()).unwrap_or("?"),
        r.kind
    )
}

fn lesson_from_item(
    source: &Source,
    item: Node<'_, '_>,
    resources: &HashMap<String, Resource>,
    skipped: &mut Vec<String>,
) -> Result<Option<PackageLesson>> {
    let title = text_of(child(item, "title"));
    let Some(id) = item.attribute("identifierref") else {
        return Ok(None);
    };
    let Some(r) = resources.get(id) else {
        skipped.push(format!(
            "“{}” skipped: its resource {id} is not in the manifest",
            title.as_deref().unwrap_or(id)
        ));
        return Ok(None);
    };
    lesson_from_resource(source, title, id, r, resources, skipped)
}

/// The lesson a resource is, charged to the package's budget (which may refuse it); `None` when it is not
/// one (listed in `skipped`).
fn lesson_from_resource(
    source: &Source,
    title: Option<String>,
    id: &str,
    r: &Resource,
    resources: &HashMap<String, Resource>,
    skipped: &mut Vec<String>,
) -> Result<Option<PackageLesson>> {
    let lesson = resource_lesson(source, title, id, r, resources, skipped)?;
    lesson.map(|l| source.budget().keep(l)).transpose()
}

fn resource_lesson(
    source: &Source,
    title: Option<String>,
    id: &str,
    r: &Resource,
    resources: &HashMap<String, Resource>,
    skipped: &mut Vec<String>,
) -> Result<Option<PackageLesson>> {
    if is_discussion(r) {
        let Some(path) = r.href.clone().or_else(|| r.files.first().cloned()) else {
            return Ok(None);
        };
        let Some(xml) = read_text(source, &path, skipped)? else {
            return Ok(None);
        };
        let Ok(doc) = source.budget().soft(source.parse_xml(&xml, &path))? else {
            return Ok(None);
        };
        let topic_title = text_of(
            doc.root_element()
                .children()
                .find(|n| n.tag_name().name() == "title"),
        );
        let body = doc
            .root_element()
            .children()
            .find(|n| n.tag_name().name() == "text")
            .and_then(|t| t.text().map(str::to_owned))
            .unwrap_or_default();
        let title = title
            .or(topic_title)
            .unwrap_or_else(|| "Discussion".to_owned());
        return Ok(Some(PackageLesson {
            launch: None,
            quiz: None,
            refs: Vec::new(),
            title,
            body: html_block(&body),
            attachments: Vec::new(),
        }));
    }
    if r.kind.starts_with("imswl") {
        let Some(path) = r.href.clone().or_else(|| r.files.first().cloned()) else {
            return Ok(None);
        };
        let Some(xml) = read_text(source, &path, skipped)? else {
            return Ok(None);
        };
        let Ok(doc) = source.budget().soft(source.parse_xml(&xml, &path))? else {
            return Ok(None);
        };
        let url = doc
            .descendants()
            .find(|n| n.tag_name().name() == "url")
            .and_then(|u| u.attribute("href"))
            .unwrap_or("");
        let link_title = text_of(doc.descendants().find(|n| n.tag_name().name() == "title"));
        let title = title.or(link_title).unwrap_or_else(|| url.to_owned());
        return Ok(Some(PackageLesson {
            launch: None,
            quiz: None,
            refs: Vec::new(),
            title,
            body: format!("[{url}]({url})\n"),
            attachments: Vec::new(),
        }));
    }
    if is_assessment(r) {
        return assessment(source, title, id, r, resources, skipped);
    }
    if is_page(r) {
        let Some(href) = r.href.clone() else {
            return Ok(None);
        };
        let Some(html) = read_text(source, &href, skipped)? else {
            return Ok(None);
        };
        let (body, attachments) = rewrite_filebase(source, &extract_body(&html), skipped);
        // Links to other pages of the course (Canvas writes `$WIKI_REFERENCE$/pages/<id or file name>`) point
        // at their lessons once those exist.
        let body = body
            .replace("%24WIKI_REFERENCE%24/pages/", "sc-lesson:")
            .replace("$WIKI_REFERENCE$/pages/", "sc-lesson:");
        let file = href.rsplit('/').next().unwrap_or(&href);
        let stem = file.strip_suffix(".html").unwrap_or(file).to_owned();
        let title = title
            .or_else(|| html_title(&html))
            .unwrap_or_else(|| file.to_owned());
        return Ok(Some(PackageLesson {
            launch: None,
            quiz: None,
            refs: vec![id.to_owned(), stem],
            title,
            body: html_block(&body),
            attachments,
        }));
    }
    if r.kind.starts_with("webcontent")
        && let Some(href) = r.href.clone()
    {
        // A file as a lesson of its own.
        if !source.contains(&href) {
            skipped.push(format!("{href} is missing from the package"));
            return Ok(None);
        }
        let name = href.rsplit('/').next().unwrap_or(&href).to_owned();
        let title = title.unwrap_or_else(|| name.clone());
        return Ok(Some(PackageLesson {
            launch: None,
            quiz: None,
            refs: Vec::new(),
            title,
            body: format!("See the attached file {name}.\n"),
            attachments: vec![href],
        }));
    }
    skipped.push(skip_reason(title.as_deref(), r));
    Ok(None)
}

/// An assessment as a quiz lesson: its QTI file read by [`crate::quiz::qti1`], Canvas's full form
/// (`non_cc_assessments/<id>.xml.qti`, named by a dependency) in preference, since the cartridge form leaves out
/// Canvas-only questions. Questions that cannot be read are listed in `skipped`; a question bank (not an
/// assessment) and a file with no question left are listed too, never made an empty lesson.
fn assessment(
    source: &Source,
    title: Option<String>,
    id: &str,
    r: &Resource,
    resources: &HashMap<String, Resource>,
    skipped: &mut Vec<String>,
) -> Result<Option<PackageLesson>> {
    let canvas = r
        .deps
        .iter()
        .filter_map(|d| resources.get(d))
        .flat_map(|d| d.files.iter())
        .find(|f| f.starts_with("non_cc_assessments/") && source.contains(f));
    let cartridge = r
        .href
        .iter()
        .chain(r.files.iter())
        .find(|f| f.ends_with(".xml") && source.contains(f));
    let Some(path) = canvas.or(cartridge).cloned() else {
        skipped.push(format!(
            "quiz “{}” skipped: its QTI file is missing from the package",
            title.as_deref().unwrap_or(id)
        ));
        return Ok(None);
    };
    let mut listed = Vec::new();
    let read = source
        .budget()
        .soft(crate::quiz::qti1::read(source, &path, &mut listed))?;
    skipped.extend(listed);
    let quiz = match read {
        Ok(Some((quiz, false))) if !quiz.questions.is_empty() => quiz,
        Ok(Some((quiz, false))) => {
            skipped.push(format!(
                "quiz “{}” skipped: none of its questions could be imported",
                title.as_deref().unwrap_or(&quiz.title)
            ));
            return Ok(None);
        }
        Ok(Some((bank, true))) => {
            skipped.push(format!(
                "question bank “{}” skipped: banks are not lessons",
                bank.title
            ));
            return Ok(None);
        }
        Ok(None) => return Ok(None),
        Err(e) => {
            skipped.push(format!(
                "quiz “{}” skipped: {e}",
                title.as_deref().unwrap_or(id)
            ));
            return Ok(None);
        }
    };
    Ok(Some(PackageLesson {
        launch: None,
        refs: vec![id.to_owned()],
        title: title.unwrap_or_else(|| quiz.title.clone()),
        body: if quiz.intro.trim().is_empty() {
            String::new()
        } else {
            html_block(&quiz.intro)
        },
        attachments: Vec::new(),
        quiz: Some(quiz),
    }))
}

/// A text file of the package; `None` when it is missing or unreadable (listed in `skipped`). The package's
/// budget refusing the read is an error.
fn read_text(source: &Source, path: &str, skipped: &mut Vec<String>) -> Result<Option<String>> {
    Ok(match source.budget().soft(source.read(path))? {
        Ok(bytes) => match crate::source::decode(&bytes, path) {
            Ok(text) => Some(text),
            Err(e) => {
                skipped.push(e.to_string());
                None
            }
        },
        Err(_) => {
            skipped.push(format!("{path} is missing from the package"));
            None
        }
    })
}

/// The inside of `<body>`, or the whole text when there is none.
pub(super) fn extract_body(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let start = lower
        .find("<body")
        .and_then(|i| lower[i..].find('>').map(|j| i + j + 1));
    let end = lower.rfind("</body>");
    match (start, end) {
        (Some(s), Some(e)) if s <= e => html[s..e].to_owned(),
        _ => html.to_owned(),
    }
}

pub(super) fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let s = lower.find("<title>")? + "<title>".len();
    let e = lower[s..].find("</title>")? + s;
    let t = html[s..e].split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}

/// Keeps HTML as one raw block of the lesson's Markdown: no blank lines, so Markdown does not re-read
/// indented HTML as code. The sanitiser still cleans it when shown.
pub(super) fn html_block(html: &str) -> String {
    let lines: Vec<&str> = html
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    format!("<div class=\"imported\">\n{}\n</div>\n", lines.join("\n"))
}

/// Files linked as `$IMS-CC-FILEBASE$/path` become attachments; the links point at them once stored
/// (the `sc-file:` placeholder is replaced by the importer).
fn rewrite_filebase(
    source: &Source,
    html: &str,
    skipped: &mut Vec<String>,
) -> (String, Vec<String>) {
    let html = html.replace("%24IMS-CC-FILEBASE%24", "$IMS-CC-FILEBASE$");
    rewrite_links(&html, "$IMS-CC-FILEBASE$", skipped, |decoded| {
        let path = format!("web_resources/{decoded}");
        if source.contains(&path) {
            Ok(path)
        } else {
            Err(format!(
                "{path} (linked from a page) is missing from the package"
            ))
        }
    })
}

/// Replaces each link that starts with `marker` by an `sc-file:` placeholder for the package file `resolve`
/// finds for its (percent-decoded) rest, collecting those files; a link to a missing file becomes `#missing`
/// and `resolve`'s reason goes to `skipped` (once per page; the reader removes repeats across pages with
/// [`dedup`]).
///
/// Linear in the page: a page may hold hundreds of thousands of links, so the files and reasons already met
/// are kept in sets, not looked for in the lists.
pub(super) fn rewrite_links(
    html: &str,
    marker: &str,
    skipped: &mut Vec<String>,
    mut resolve: impl FnMut(&str) -> std::result::Result<String, String>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(html.len());
    let mut files = Vec::new();
    let mut listed = HashSet::new();
    let mut reported = HashSet::new();
    let mut rest = html;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i]);
        let after = &rest[i + marker.len()..];
        let end = after
            .find(['"', '\'', ' ', '>', '?', '#', ')'])
            .unwrap_or(after.len());
        let decoded = percent_decode(after[..end].trim_start_matches('/'));
        match resolve(&decoded) {
            Ok(path) => {
                out.push_str("sc-file:");
                out.push_str(&path);
                if listed.insert(path.clone()) {
                    files.push(path);
                }
            }
            Err(reason) => {
                if reported.insert(reason.clone()) {
                    skipped.push(reason);
                }
                out.push_str("#missing");
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    (out, files)
}

/// Removes repeated reasons from a reader's `skipped`, keeping the first of each in its place: one pass with a
/// set, where checking the list before each push would cost its square.
pub(super) fn dedup(skipped: &mut Vec<String>) {
    let mut seen = HashSet::new();
    skipped.retain(|s| seen.insert(s.clone()));
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'%'
            && let Some(Ok(b)) = hex.map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_titles_come_out_of_pages() {
        let html = "<html><head><title> First  page </title></head><body class=x>\n<p>One</p>\n\n    <p>Two</p>\n</body></html>";
        assert_eq!(html_title(html).as_deref(), Some("First page"));
        assert_eq!(extract_body(html).trim(), "<p>One</p>\n\n    <p>Two</p>");
        assert_eq!(
            html_block(&extract_body(html)),
            "<div class=\"imported\">\n<p>One</p>\n    <p>Two</p>\n</div>\n"
        );
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
    }
}
