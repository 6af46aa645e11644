//! SCORM 1.2 and 2004 packages: the default organization's item tree gives modules and lessons; each
//! lesson's text is extracted from its launch page, for search and the tutor. The package's files are kept, and
//! the lesson view runs the launch page itself, sandboxed (see `courses::launch`).

use std::collections::HashMap;

use roxmltree::Node;

use crate::cc::{child, children, extract_body, html_title, text_of};
use crate::{Error, Result};
use crate::{Package, PackageLesson, PackageModule, Source};

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// Whether the manifest is a SCORM one.
pub fn is_scorm(manifest: &str) -> bool {
    manifest.contains("ADL SCORM") || manifest.contains("adlcp")
}

/// Reads a SCORM package into a package outline.
pub fn read(source: &Source, manifest_text: &str) -> Result<Package> {
    let doc = source.parse_xml(manifest_text, "imsmanifest.xml")?;
    let root = doc.root_element();
    let mut launch: HashMap<String, String> = HashMap::new();
    if let Some(res) = child(root, "resources") {
        for r in children(res, "resource") {
            if let (Some(id), Some(href)) = (r.attribute("identifier"), r.attribute("href")) {
                launch.insert(id.to_owned(), href.to_owned());
            }
        }
    }
    let orgs = child(root, "organizations")
        .ok_or_else(|| bad("the SCORM manifest has no organizations"))?;
    let default = orgs.attribute("default");
    let org = children(orgs, "organization")
        .find(|o| default.is_none() || o.attribute("identifier") == default)
        .or_else(|| children(orgs, "organization").next())
        .ok_or_else(|| bad("the SCORM manifest has no organization"))?;
    let title = text_of(child(org, "title")).unwrap_or_else(|| "Imported course".to_owned());
    let mut skipped = Vec::new();
    let mut modules = Vec::new();
    let mut loose = Vec::new();
    for item in children(org, "item") {
        if item.attribute("identifierref").is_some() && !children(item, "item").any(|_| true) {
            loose.extend(lesson(source, item, &launch, &mut skipped)?);
        } else {
            let mut lessons = Vec::new();
            for leaf in std::iter::once(item).chain(
                item.descendants()
                    .filter(|d| d.tag_name().name() == "item" && *d != item),
            ) {
                if leaf.attribute("identifierref").is_some() {
                    lessons.extend(lesson(source, leaf, &launch, &mut skipped)?);
                }
            }
            modules.push(PackageModule {
                title: text_of(child(item, "title")).unwrap_or_else(|| "Module".into()),
                lessons,
            });
        }
    }
    if !loose.is_empty() {
        modules.insert(
            0,
            PackageModule {
                title: title.clone(),
                lessons: loose,
            },
        );
    }
    modules.retain(|m| !m.lessons.is_empty());
    if modules.is_empty() {
        return Err(bad("the SCORM package has no items with content to import"));
    }
    let version = text_of(child(root, "metadata").and_then(|m| child(m, "schemaversion")))
        .unwrap_or_default();
    let format = if version.contains("1.2") || manifest_text.contains("adlcp_rootv1p2") {
        "SCORM 1.2".to_owned()
    } else {
        // The schema version says "2004 3rd Edition" (or "CAM 1.3", or nothing).
        let version = version.trim().trim_start_matches("2004").trim();
        format!("SCORM 2004 {version}").trim().to_owned()
    };
    let key = root
        .attribute("identifier")
        .filter(|i| !i.trim().is_empty())
        .map(|i| format!("scorm:{i}"));
    Ok(Package {
        kept_files: Some(String::new()),
        format,
        key,
        title,
        description: String::new(),
        capacity: None,
        modules,
        skipped,
        file_names: Default::default(),
        skip_unsupported_files: false,
    })
}

/// The lesson an item is, charged to the package's budget; `None` when it has no page to show (listed in
/// `skipped`).
fn lesson(
    source: &Source,
    item: Node<'_, '_>,
    launch: &HashMap<String, String>,
    skipped: &mut Vec<String>,
) -> Result<Option<PackageLesson>> {
    let title = text_of(child(item, "title"));
    let Some((id, href)) = item
        .attribute("identifierref")
        .and_then(|id| Some((id, launch.get(id)?)))
    else {
        return Ok(None);
    };
    let (path, query) = crate::source::split_query(href);
    let html = match source.budget().soft(source.read(path))? {
        Ok(b) => match crate::source::decode(&b, path) {
            Ok(text) => text,
            Err(e) => {
                skipped.push(e.to_string());
                return Ok(None);
            }
        },
        Err(_) => {
            skipped.push(format!(
                "{path} (launch page of “{}”) is missing from the package",
                title.as_deref().unwrap_or(id)
            ));
            return Ok(None);
        }
    };
    let text = plain_text(&extract_body(&html));
    let title = title
        .or_else(|| html_title(&html))
        .unwrap_or_else(|| path.to_owned());
    let body = if text.is_empty() {
        "This activity has no text of its own; it ran as an interactive SCORM page.\n".to_owned()
    } else {
        text
    };
    source
        .budget()
        .keep(PackageLesson {
            quiz: None,
            launch: crate::source::clean(path).map(|p| format!("{p}{query}")),
            refs: Vec::new(),
            title,
            body,
            attachments: Vec::new(),
        })
        .map(Some)
}

/// Visible text of an HTML fragment, as Markdown paragraphs: scripts and styles dropped, tags removed,
/// common entities decoded, Markdown punctuation escaped.
/// `html` with every `<tag ...>...</tag>` block (case-insensitive; an unclosed one runs to the end) replaced by
/// a space, in one pass: a page of ten megabytes of `<script></script>` takes as long as its length, not its
/// square (the earlier loop searched the whole page again after each block).
fn without_blocks(html: &str, tag: &str) -> String {
    // ASCII lower-casing keeps every byte where it was, so positions found in `lower` are valid in `html`.
    let lower = html.to_ascii_lowercase();
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(&open) {
        let start = at + found;
        out.push_str(&html[at..start]);
        out.push(' ');
        at = lower[start..]
            .find(&close)
            .map_or(html.len(), |e| start + e + close.len());
    }
    out.push_str(&html[at..]);
    out
}

/// The text of an HTML fragment: tags dropped, common entities decoded (for titles, figures and search).
pub fn plain_text(html: &str) -> String {
    let mut s = html.to_owned();
    for tag in ["script", "style", "noscript"] {
        s = without_blocks(&s, tag);
    }
    let mut out = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    for c in s.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "p" | "br"
                        | "div"
                        | "h1"
                        | "h2"
                        | "h3"
                        | "h4"
                        | "li"
                        | "tr"
                        | "table"
                        | "ul"
                        | "ol"
                ) {
                    out.push_str("\n\n");
                } else {
                    out.push(' ');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.chars().fold(String::new(), |mut out, c| {
                if matches!(c, '\\' | '*' | '_' | '#' | '`' | '<' | '[') {
                    out.push('\\');
                }
                out.push(c);
                out
            })
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {

    #[test]
    fn scripts_and_styles_are_removed_in_one_pass_even_from_a_huge_page() {
        assert_eq!(
            super::plain_text(
                "<p>Keep <SCRIPT type=x>drop()</script>this<style>p{}</style> text<noscript>no"
            ),
            "Keep this text"
        );
        // Two megabytes of empty script blocks: linear work (the old loop would take hours).
        let page = format!(
            "<p>Start</p>{}<p>End</p>",
            "<script></script>".repeat(120_000)
        );
        let text = super::plain_text(&page);
        assert!(
            text.starts_with("Start") && text.ends_with("End"),
            "{}",
            &text[..40]
        );
    }

    #[test]
    fn text_without_scripts_or_tags() {
        let t = super::plain_text(
            "<h1>Golf</h1><script>var x = '<p>';</script><p>Par is <b>good</b> &amp; fun.</p><style>p{}</style><p></p>",
        );
        assert_eq!(t, "Golf\n\nPar is good & fun.");
    }
}
