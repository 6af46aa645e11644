//! Moodle course backups (`.mbz`: a tar.gz, or a zip from older Moodles; Moodle 2.6 to 4.x).
//!
//! `moodle_backup.xml` names the course, its sections and its activities; each section's `<sequence>` gives
//! the order of its activities. Pages, labels, book chapters, lesson content pages, files and folders, and
//! URLs become lessons; files come from `files.xml` and are stored under `files/<2 hex>/<sha1>`; links to them
//! (`@@PLUGINFILE@@/name`) point at the stored attachments. Quiz activities become quiz lessons through
//! [`crate::quiz::moodle`] (questions it cannot import listed). Other activity types are reported as skipped. An
//! activity or section backup (not a course) is refused.

use std::collections::{BTreeMap, HashMap, HashSet};

use roxmltree::{Document, Node};

use crate::cc::{child, children, dedup, html_block, rewrite_links};
use crate::scorm::plain_text;
use crate::{Error, Result};
use crate::{Package, PackageLesson, PackageModule, Source};

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// Moodle writes `$@NULL@$` for a null column.
fn value(n: Node<'_, '_>, name: &str) -> Option<String> {
    let v = child(n, name)?.text()?.trim().to_owned();
    (!v.is_empty() && v != "$@NULL@$").then_some(v)
}

/// Reads and parses one XML file of the backup, within the package's budget.
fn parse<'i>(source: &Source, path: &str, text: &'i mut String) -> Result<Document<'i>> {
    *text = source.read_text(path)?;
    source.parse_xml(text, path)
}

/// An activity's files, found by what a `@@PLUGINFILE@@` link names: the file's path and name, else (a link
/// written by hand, or a path changed since) its name alone, the first file of that name. Built once per page
/// or activity, so each link costs a lookup rather than a pass over the files: a page linking each of
/// thousands of files would otherwise cost their square.
struct Linkable {
    files: Vec<BackupFile>,
    by_path: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl Linkable {
    fn new(files: Vec<BackupFile>) -> Linkable {
        let mut by_path = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            let path = format!("{}{}", f.path, f.name);
            by_path
                .entry(path.trim_start_matches('/').to_owned())
                .or_insert(i);
            by_name.entry(f.name.clone()).or_insert(i);
        }
        Linkable {
            files,
            by_path,
            by_name,
        }
    }

    /// The file a link's (decoded) path names. Moodle file names hold no `/`, so the fallback compares the
    /// link's last segment.
    fn find(&self, decoded: &str) -> Option<&BackupFile> {
        let last = decoded.rsplit('/').next().unwrap_or(decoded);
        let i = self
            .by_path
            .get(decoded)
            .or_else(|| self.by_name.get(last))?;
        self.files.get(*i)
    }
}

/// An activity's files of one `filearea`, grouped by the item (book chapter, lesson page) they belong to, in
/// one pass: looking for each item's files among all of them would cost items × files.
fn by_item(files: &[BackupFile], area: &str) -> HashMap<String, Vec<BackupFile>> {
    let mut out: HashMap<String, Vec<BackupFile>> = HashMap::new();
    for f in files.iter().filter(|f| f.filearea == area) {
        out.entry(f.itemid.clone()).or_default().push(f.clone());
    }
    out
}

/// A file of the backup, from `files.xml`.
#[derive(Debug, Clone)]
struct BackupFile {
    hash: String,
    component: String,
    filearea: String,
    itemid: String,
    path: String,
    name: String,
}

impl BackupFile {
    fn stored_at(&self) -> String {
        format!(
            "files/{}/{}",
            &self.hash[..2.min(self.hash.len())],
            self.hash
        )
    }
}

struct Reader<'s> {
    source: &'s Source,
    files: HashMap<String, BackupFile>,
    skipped: Vec<String>,
    /// The backup's quizzes by activity directory, read when the first quiz activity is met.
    quizzes: Option<HashMap<String, crate::quiz::Quiz>>,
    file_names: BTreeMap<String, String>,
}

/// Reads a Moodle course backup.
pub fn read(source: &Source) -> Result<Package> {
    let mut text = String::new();
    let doc = parse(source, "moodle_backup.xml", &mut text)?;
    let info = child(doc.root_element(), "information")
        .ok_or_else(|| bad("moodle_backup.xml has no <information>"))?;
    let kind = child(info, "details")
        .and_then(|d| child(d, "detail"))
        .and_then(|d| value(d, "type"))
        .unwrap_or_else(|| "course".into());
    let contents =
        child(info, "contents").ok_or_else(|| bad("moodle_backup.xml lists no contents"))?;
    let activities: Vec<(String, String, String, String, String)> = child(contents, "activities")
        .into_iter()
        .flat_map(|a| children(a, "activity"))
        .filter_map(|a| {
            Some((
                value(a, "moduleid")?,
                value(a, "sectionid").unwrap_or_default(),
                value(a, "modulename")?,
                value(a, "title").unwrap_or_default(),
                value(a, "directory")?,
            ))
        })
        .collect();
    if kind != "course" {
        let what = activities
            .first()
            .map(|(_, _, module, title, _)| format!(" (“{title}”, a {module})"))
            .unwrap_or_default();
        return Err(bad(format!(
            "this is a Moodle {kind} backup{what}, not a course backup: back up the whole course in Moodle \
             (Course administration → Backup) and import that file"
        )));
    }
    let release = value(info, "backup_release").unwrap_or_default();
    let mut course_text = String::new();
    let course_doc = source
        .budget()
        .soft(parse(source, "course/course.xml", &mut course_text))?
        .ok();
    let course = course_doc.as_ref().map(|d| d.root_element());
    let title = course
        .and_then(|c| value(c, "fullname"))
        .or_else(|| value(info, "original_course_fullname"))
        .unwrap_or_else(|| "Imported Moodle course".into());
    let description = course
        .and_then(|c| value(c, "summary"))
        .map(|s| plain_text(&s).replace('\\', ""))
        .unwrap_or_default();
    let weekly = course.and_then(|c| value(c, "format")).as_deref() == Some("weeks");

    let mut reader = Reader {
        source,
        files: read_files(source)?,
        skipped: Vec::new(),
        quizzes: None,
        file_names: BTreeMap::new(),
    };
    let mut by_id: HashMap<&str, &(String, String, String, String, String)> =
        activities.iter().map(|a| (a.0.as_str(), a)).collect();
    let mut modules = Vec::new();
    let sections: Vec<(String, String)> = child(contents, "sections")
        .into_iter()
        .flat_map(|s| children(s, "section"))
        .filter_map(|s| Some((value(s, "sectionid")?, value(s, "directory")?)))
        .collect();
    for (section_id, dir) in &sections {
        let mut text = String::new();
        let Ok(doc) =
            source
                .budget()
                .soft(parse(source, &format!("{dir}/section.xml"), &mut text))?
        else {
            reader
                .skipped
                .push(format!("{dir}/section.xml is missing from the backup"));
            continue;
        };
        let s = doc.root_element();
        let number: u32 = value(s, "number").and_then(|n| n.parse().ok()).unwrap_or(0);
        let section_title = value(s, "name").unwrap_or_else(|| match (number, weekly) {
            (0, _) => "General".into(),
            (n, true) => format!("Week {n}"),
            (n, false) => format!("Topic {n}"),
        });
        let mut lessons = Vec::new();
        if let Some(summary) = value(s, "summary").filter(|h| !plain_text(h).is_empty()) {
            lessons.push(source.budget().keep(PackageLesson {
                launch: None,
                quiz: None,
                refs: Vec::new(),
                title: section_title.clone(),
                body: html_block(&summary),
                attachments: Vec::new(),
            })?);
        }
        // The section's order first; activities of this section its sequence forgot, after.
        let mut order: Vec<String> = value(s, "sequence")
            .unwrap_or_default()
            .split(',')
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .collect();
        // A set beside the list: a backup of many activities must not cost their square.
        let mut listed: HashSet<String> = order.iter().cloned().collect();
        for a in &activities {
            if &a.1 == section_id && listed.insert(a.0.clone()) {
                order.push(a.0.clone());
            }
        }
        for id in order {
            // Ids in a sequence without an activity in the backup were left out of it (or deleted).
            if let Some(a) = by_id.remove(id.as_str()) {
                for lesson in reader.activity(&a.2, &a.3, &a.4)? {
                    lessons.push(source.budget().keep(lesson)?);
                }
            }
        }
        modules.push(PackageModule {
            title: section_title,
            lessons,
        });
    }
    modules.retain(|m| !m.lessons.is_empty());
    dedup(&mut reader.skipped);
    let key = value(info, "original_site_identifier_hash")
        .zip(value(info, "original_course_id"))
        .map(|(site, course)| format!("moodle:{site}:{course}"));
    Ok(Package {
        kept_files: None,
        format: format!("Moodle {release} course backup").replace("  ", " "),
        key,
        title,
        description,
        capacity: None,
        modules,
        skipped: reader.skipped,
        file_names: reader.file_names,
        skip_unsupported_files: true,
    })
}

/// `files.xml`: id → file. Folder entries (name `.`) are left out.
fn read_files(source: &Source) -> Result<HashMap<String, BackupFile>> {
    let mut text = String::new();
    let Ok(doc) = source
        .budget()
        .soft(parse(source, "files.xml", &mut text))?
    else {
        return Ok(HashMap::new());
    };
    Ok(children(doc.root_element(), "file")
        .filter_map(|f| {
            let file = BackupFile {
                hash: value(f, "contenthash")?,
                component: value(f, "component").unwrap_or_default(),
                filearea: value(f, "filearea").unwrap_or_default(),
                itemid: value(f, "itemid").unwrap_or_default(),
                path: value(f, "filepath").unwrap_or_else(|| "/".into()),
                name: value(f, "filename")?,
            };
            (file.name != "." && file.hash.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| (f.attribute("id").unwrap_or_default().to_owned(), file))
        })
        .collect())
}

impl Reader<'_> {
    /// A quiz activity as a quiz lesson ([`crate::quiz::moodle`]); the backup's quizzes are read once, on the
    /// first. Questions it cannot import are listed; a quiz with none left is listed, not made a lesson.
    fn quiz(&mut self, title: &str, dir: &str) -> Result<Vec<PackageLesson>> {
        if self.quizzes.is_none() {
            let mut out = crate::quiz::Imported::default();
            let found = crate::quiz::moodle::read_quizzes(self.source, false, &mut out)?;
            self.skipped.extend(out.unsupported);
            self.quizzes = Some(found.into_iter().collect());
        }
        let found = self.quizzes.as_mut().and_then(|q| q.remove(dir));
        let Some(quiz) = found.filter(|q| !q.questions.is_empty()) else {
            self.skipped.push(format!(
                "“{title}” (quiz): none of its questions could be imported"
            ));
            return Ok(Vec::new());
        };
        let body = if plain_text(&quiz.intro).trim().is_empty() {
            String::new()
        } else {
            html_block(&quiz.intro)
        };
        Ok(vec![PackageLesson {
            launch: None,
            refs: Vec::new(),
            title: title.to_owned(),
            body,
            attachments: Vec::new(),
            quiz: Some(quiz),
        }])
    }

    /// The files an activity's `inforef.xml` refers to, each once.
    fn activity_files(&self, dir: &str) -> Result<Vec<BackupFile>> {
        let mut text = String::new();
        let parsed = parse(self.source, &format!("{dir}/inforef.xml"), &mut text);
        let Ok(doc) = self.source.budget().soft(parsed)? else {
            return Ok(Vec::new());
        };
        let mut seen = HashSet::new();
        Ok(child(doc.root_element(), "fileref")
            .into_iter()
            .flat_map(|r| children(r, "file"))
            .filter_map(|f| value(f, "id"))
            .filter(|id| seen.insert(id.clone()))
            .filter_map(|id| self.files.get(&id).cloned())
            .collect())
    }

    /// Makes `file` an attachment of a lesson: its stored path, named as in Moodle. `None` when the bytes are
    /// missing from the backup (reported).
    fn attach(&mut self, file: &BackupFile) -> Option<String> {
        let path = file.stored_at();
        if !self.source.contains(&path) {
            // Repeats are removed once, at the end (`dedup`).
            self.skipped
                .push(format!("{} is missing from the backup", file.name));
            return None;
        }
        self.file_names.insert(path.clone(), file.name.clone());
        Some(path)
    }

    /// HTML with its `@@PLUGINFILE@@` links pointing at the attachments they name (among `files`).
    fn html(&mut self, html: &str, files: &Linkable) -> (String, Vec<String>) {
        let mut skipped = std::mem::take(&mut self.skipped);
        let mut names = BTreeMap::new();
        let (out, attached) =
            rewrite_links(
                html,
                "@@PLUGINFILE@@",
                &mut skipped,
                |decoded| match files.find(decoded) {
                    Some(f) if self.source.contains(&f.stored_at()) => {
                        names.insert(f.stored_at(), f.name.clone());
                        Ok(f.stored_at())
                    }
                    _ => Err(format!(
                        "{decoded} (linked from a page) is missing from the backup"
                    )),
                },
            );
        self.skipped = skipped;
        self.file_names.extend(names);
        (html_block(&out), attached)
    }

    /// The lessons an activity becomes (charged to the budget by the caller); an activity that cannot be read
    /// is listed as skipped, unless the package is over its budget.
    fn activity(&mut self, module: &str, title: &str, dir: &str) -> Result<Vec<PackageLesson>> {
        let mut text = String::new();
        let path = format!("{dir}/{module}.xml");
        if module == "quiz" {
            return self.quiz(title, dir);
        }
        let supported = matches!(
            module,
            "page" | "label" | "book" | "lesson" | "url" | "resource" | "folder"
        );
        if !supported {
            self.skipped.push(format!(
                "“{title}” ({module}): this Moodle activity type is not imported"
            ));
            return Ok(Vec::new());
        }
        let doc = match self
            .source
            .budget()
            .soft(parse(self.source, &path, &mut text))?
        {
            Ok(d) => d,
            Err(e) => {
                self.skipped.push(format!("“{title}” ({module}): {e}"));
                return Ok(Vec::new());
            }
        };
        let Some(node) = child(doc.root_element(), module) else {
            self.skipped
                .push(format!("“{title}” ({module}): {path} has no <{module}>"));
            return Ok(Vec::new());
        };
        let files = self.activity_files(dir)?;
        let linkable = Linkable::new(files.clone());
        let name = value(node, "name").unwrap_or_else(|| title.to_owned());
        let intro = value(node, "intro").unwrap_or_default();
        let lesson = |title: String, body: String, attachments: Vec<String>| PackageLesson {
            launch: None,
            quiz: None,
            refs: Vec::new(),
            title,
            body: if body.trim().is_empty() {
                "(This activity has no text.)\n".into()
            } else {
                body
            },
            attachments,
        };
        Ok(match module {
            "page" => {
                let content = value(node, "content").unwrap_or_default();
                let (body, attached) = self.html(&content, &linkable);
                vec![lesson(name, body, attached)]
            }
            "label" => {
                let (body, attached) = self.html(&intro, &linkable);
                // A label's name is its text, cut; a shorter title reads better in the lesson list.
                let mut short: String = plain_text(&intro)
                    .replace('\\', "")
                    .chars()
                    .take(60)
                    .collect();
                if short.trim().is_empty() {
                    short = "Note".into();
                }
                vec![lesson(short.trim().to_owned(), body, attached)]
            }
            "book" => {
                let mut chapters: Vec<(u32, Node)> = child(node, "chapters")
                    .into_iter()
                    .flat_map(|c| children(c, "chapter"))
                    .filter(|c| value(*c, "hidden").as_deref() != Some("1"))
                    .map(|c| {
                        (
                            value(c, "pagenum")
                                .and_then(|p| p.parse().ok())
                                .unwrap_or(0),
                            c,
                        )
                    })
                    .collect();
                chapters.sort_by_key(|(n, _)| *n);
                let mut by_chapter = by_item(&files, "chapter");
                let mut out = Vec::new();
                for (_, c) in chapters {
                    let id = c.attribute("id").unwrap_or_default();
                    let own = Linkable::new(by_chapter.remove(id).unwrap_or_default());
                    let (body, attached) =
                        self.html(&value(c, "content").unwrap_or_default(), &own);
                    let chapter =
                        value(c, "title").unwrap_or_else(|| format!("Chapter {}", out.len() + 1));
                    out.push(lesson(format!("{name}: {chapter}"), body, attached));
                }
                if out.is_empty() {
                    self.skipped
                        .push(format!("“{name}” (book) has no chapters"));
                }
                out
            }
            "lesson" => self.lesson_pages(node, &name, &files),
            "url" => {
                let url = value(node, "externalurl").unwrap_or_default();
                let (intro, attached) = self.html(&intro, &linkable);
                let link = format!(
                    "[{}]({})",
                    name.replace(['[', ']'], ""),
                    url.replace(' ', "%20")
                );
                vec![lesson(name, format!("{intro}\n{link}\n"), attached)]
            }
            _ => {
                // resource (one file) and folder (several): the files of their content area.
                let mut attached = Vec::new();
                for f in files
                    .iter()
                    .filter(|f| f.filearea == "content" && f.component.starts_with("mod_"))
                {
                    if let Some(p) = self.attach(f) {
                        attached.push(p);
                    }
                }
                let (intro, mut linked) = self.html(&intro, &linkable);
                let kept: HashSet<&String> = attached.iter().collect();
                linked.retain(|p| !kept.contains(p));
                attached.extend(linked);
                if attached.is_empty() && intro.trim().is_empty() {
                    self.skipped
                        .push(format!("“{name}” ({module}) has no files in the backup"));
                    return Ok(Vec::new());
                }
                let names: Vec<String> = attached
                    .iter()
                    .filter_map(|p| self.file_names.get(p).cloned())
                    .collect();
                let body = format!("{intro}\nFiles: {}\n", names.join(", "));
                vec![lesson(name, body, attached)]
            }
        })
    }

    /// A Moodle lesson's content pages (qtype 20), in the order its pages link to each other; question pages
    /// are counted as skipped.
    fn lesson_pages(
        &mut self,
        node: Node<'_, '_>,
        name: &str,
        files: &[BackupFile],
    ) -> Vec<PackageLesson> {
        let pages: Vec<Node> = child(node, "pages")
            .into_iter()
            .flat_map(|p| children(p, "page"))
            .collect();
        let by_id: HashMap<&str, Node> = pages
            .iter()
            .filter_map(|p| Some((p.attribute("id")?, *p)))
            .collect();
        // The chain of pages is a pointer graph from the backup: walked with a visited set, so a loop ends it
        // and a long chain costs its length, not its square.
        let mut ordered = Vec::new();
        let mut visited = HashSet::new();
        let mut next = pages
            .iter()
            .find(|p| value(**p, "prevpageid").as_deref().unwrap_or("0") == "0")
            .copied();
        while let Some(p) = next {
            if !visited.insert(p.id()) {
                break;
            }
            ordered.push(p);
            next = value(p, "nextpageid").and_then(|id| by_id.get(id.as_str()).copied());
        }
        for p in &pages {
            if visited.insert(p.id()) {
                ordered.push(*p);
            }
        }
        let mut out = Vec::new();
        let mut questions = 0;
        let mut by_page = by_item(files, "page_contents");
        for p in ordered {
            match value(p, "qtype").as_deref() {
                Some("20") => {
                    let id = p.attribute("id").unwrap_or_default();
                    let own = Linkable::new(by_page.remove(id).unwrap_or_default());
                    let (body, attached) =
                        self.html(&value(p, "contents").unwrap_or_default(), &own);
                    let title = value(p, "title").unwrap_or_else(|| "Page".into());
                    out.push(PackageLesson {
                        launch: None,
                        quiz: None,
                        refs: Vec::new(),
                        title: format!("{name}: {title}"),
                        body,
                        attachments: attached,
                    });
                }
                Some("21" | "30" | "31") => {} // end of branch, cluster markers: no content
                _ => questions += 1,
            }
        }
        if questions > 0 {
            self.skipped.push(format!(
                "“{name}” (lesson): {questions} question page(s); questions are not imported"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn null_values_are_absent() {
        let doc =
            roxmltree::Document::parse("<s><name>$@NULL@$</name><n> 3 </n><e></e></s>").unwrap();
        let s = doc.root_element();
        assert_eq!(super::value(s, "name"), None);
        assert_eq!(super::value(s, "n").as_deref(), Some("3"));
        assert_eq!(super::value(s, "e"), None);
        assert_eq!(super::value(s, "missing"), None);
    }
}
