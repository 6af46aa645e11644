//! Making a course's modules, lessons and files those of a package: read what the course holds, let
//! [`super::diff`] decide what changes, and apply that through the same domain functions the web UI uses.
//!
//! Applying is where the package's files are read: a lesson's file is kept when the lesson already has one of
//! that name with the same bytes, and attached anew otherwise; links in the lesson's text to its own files
//! (`sc-file:`) then point at the stored attachments. Links between lessons (`sc-lesson:`) wait until every
//! lesson exists, since they may point forward.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::diff::{self, Plan, StoredLesson, StoredModule};
use super::{Changes, Package, PackageLesson, Source};
use crate::App;
use crate::accounts::Actor;
use crate::courses::Attachment;
use crate::courses::service::{self, NewLesson};
use crate::error::{Error, Result};

/// Modules, lessons and files the course has after a sync, and what changed.
pub(super) type Counts = (usize, usize, usize, Changes);

/// Makes the course's modules, lessons and attachments those of the package. A new course is filled; a course
/// imported before is updated as [`diff`](super::diff) explains: lessons whose text or files differ are
/// updated, new ones created, ones no longer in the package removed, and the order set.
///
/// A file of a kind lessons do not take (a Word document in a Moodle backup, say) is left out and reported in
/// `package.skipped` where the format allows it; any other failure stops the import.
pub(super) async fn sync(
    app: &Arc<App>,
    course_id: i64,
    package: &mut Package,
    source: Arc<Source>,
) -> Result<Counts> {
    let stored = read_outline(app, course_id).await?;
    let plan = diff::diff(stored, &package.modules);
    apply(app, course_id, package, source, plan).await
}

/// The course as stored: modules and lessons in order, each lesson with its text, launch page and files.
async fn read_outline(app: &Arc<App>, course_id: i64) -> Result<Vec<StoredModule>> {
    let detail = service::course_detail(app, Some(Actor::System), course_id).await?;
    let mut launches: HashMap<i64, String> = app
        .db
        .read(move |c| {
            Ok(c.prepare(
                "SELECT id, launch_path FROM lessons WHERE course_id = ?1 AND launch_path IS NOT NULL",
            )?
            .query_map([course_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?)
        })
        .await?;
    let mut quizzes = app
        .db
        .read(move |c| crate::quizzes::quizzes_of_course(c, course_id))
        .await?;
    let mut modules = Vec::with_capacity(detail.modules.len());
    for m in detail.modules {
        let mut lessons = Vec::with_capacity(m.lessons.len());
        for l in m.lessons {
            let full = service::get_lesson(app, Actor::System, l.id).await?;
            lessons.push(StoredLesson {
                id: l.id,
                title: l.title,
                body: full.body_markdown.unwrap_or_default(),
                launch: launches.remove(&l.id),
                quiz: quizzes.remove(&l.id),
                attachments: full.attachments,
            });
        }
        modules.push(StoredModule {
            id: m.id,
            title: m.title,
            lessons,
        });
    }
    Ok(modules)
}

/// Carries out `plan` (made from `package`) on the course.
async fn apply(
    app: &Arc<App>,
    course_id: i64,
    package: &mut Package,
    source: Arc<Source>,
    plan: Plan,
) -> Result<Counts> {
    let (mut lessons, mut files) = (0, 0);
    let mut changes = Changes::default();
    let mut unsupported = Vec::new();
    let mut structure = Vec::new();
    // Lessons linking to other lessons of the package wait until every lesson exists.
    let mut lesson_ids: HashMap<String, i64> = HashMap::new();
    let mut linking: Vec<(i64, String, String)> = Vec::new();
    for (module, step) in package.modules.iter().zip(plan.modules) {
        let module_id = match step.existing {
            Some(id) => id,
            None => {
                service::create_module(app, Actor::System, course_id, module.title.clone(), None)
                    .await?
                    .id
            }
        };
        let mut order = Vec::new();
        for (lesson, step) in module.lessons.iter().zip(step.lessons) {
            let changed_here = step.changed();
            let (launch_changed, quiz_changed, updating) = (
                step.launch_changed,
                step.quiz_changed,
                step.existing.is_some(),
            );
            let (lesson_id, old_body, have) = match step.existing {
                Some(stored) => (stored.id, stored.body, stored.attachments),
                None => {
                    let l = service::create_lesson(
                        app,
                        Actor::System,
                        course_id,
                        NewLesson {
                            title: lesson.title.clone(),
                            body_markdown: lesson.body.clone(),
                            module: Some(module_id),
                            position: None,
                        },
                    )
                    .await?;
                    (l.id, lesson.body.clone(), Vec::new())
                }
            };
            lessons += 1;
            order.push(lesson_id);
            let attached = attach_files(
                app,
                package,
                &source,
                lesson_id,
                lesson,
                have,
                &mut unsupported,
            )
            .await?;
            files += attached.files;
            if launch_changed || quiz_changed {
                // The lesson's launch page and quiz, beside the lesson (a lesson with a quiz is a quiz
                // lesson); an interrupted import finds them unwritten and writes them on its next run.
                let (launch, quiz) = (lesson.launch.clone(), lesson.quiz.clone());
                app.db
                    .write(move |tx| {
                        if launch_changed {
                            tx.execute(
                                "UPDATE lessons SET launch_path = ?1 WHERE id = ?2",
                                rusqlite::params![launch, lesson_id],
                            )?;
                        }
                        if quiz_changed {
                            crate::quizzes::set_quiz(tx, lesson_id, quiz.as_ref())?;
                        }
                        Ok(())
                    })
                    .await?;
            }
            for r in &lesson.refs {
                lesson_ids.entry(r.clone()).or_insert(lesson_id);
            }
            let body = attached.body;
            if body.contains("sc-lesson:") {
                linking.push((lesson_id, body, old_body));
            } else if body != old_body {
                set_body(app, lesson_id, body).await?;
            }
            match (updating, attached.changed || changed_here) {
                (false, _) => changes.added += 1,
                (true, true) => changes.changed += 1,
                (true, false) => changes.unchanged += 1,
            }
        }
        for id in step.removed_lessons {
            service::delete_lesson(app, Actor::System, id).await?;
            changes.removed += 1;
        }
        structure.push(service::ModuleOrder {
            id: module_id,
            lessons: order,
        });
    }
    for (id, lessons) in plan.removed_modules {
        changes.removed += lessons;
        service::delete_module(app, Actor::System, id).await?;
    }
    for (lesson_id, body, old_body) in linking {
        let body = rewrite_lesson_links(&body, &lesson_ids, &mut package.skipped);
        if body != old_body {
            set_body(app, lesson_id, body).await?;
        }
    }
    if plan.reorder {
        service::set_structure(
            app,
            Actor::System,
            course_id,
            service::Structure { modules: structure },
        )
        .await?;
    }
    package.skipped.extend(unsupported);
    Ok((package.modules.len(), lessons, files, changes))
}

async fn set_body(app: &Arc<App>, lesson_id: i64, body: String) -> Result<()> {
    let change = service::LessonUpdate {
        title: None,
        body_markdown: Some(body),
        module: None,
        position: None,
    };
    service::update_lesson(app, Actor::System, lesson_id, change).await?;
    Ok(())
}

/// A lesson's files after [`attach_files`].
struct Attached {
    /// The package's text of the lesson, its links to its own files pointing at the stored attachments.
    body: String,
    /// Files the lesson has.
    files: usize,
    /// Whether a file was added or removed.
    changed: bool,
}

/// A file of a lesson as the package has it: kept as is when the lesson already has a file of that name with
/// the same bytes.
enum Staging {
    Kept(i64, String),
    New(crate::courses::upload::Staged),
}

/// Gives lesson `lesson_id` the files `lesson` names: those it `have`s with the same name and bytes are kept,
/// others attached, and the files it had that the package no longer has removed. A file of a kind lessons do
/// not take is added to `unsupported` when the package allows skipping it.
async fn attach_files(
    app: &Arc<App>,
    package: &Package,
    source: &Arc<Source>,
    lesson_id: i64,
    lesson: &PackageLesson,
    have: Vec<Attachment>,
    unsupported: &mut Vec<String>,
) -> Result<Attached> {
    let staging: PathBuf = app.data.join("tmp");
    // Where each `sc-file:` placeholder now points, applied in one pass at the end: replacing in the whole
    // body once per file cost files × body (a Moodle page may link tens of thousands of files).
    let mut links: HashMap<String, String> = HashMap::new();
    let (mut files, mut changed) = (0, false);
    let mut kept = Vec::new();
    // The lesson's files now (name, bytes' hash), to keep those the package has unchanged.
    let hashes: Arc<Vec<(i64, String, String, String)>> = Arc::new(
        have.iter()
            .map(|a| (a.id, a.filename.clone(), a.sha256.clone(), a.url.clone()))
            .collect(),
    );
    for file in &lesson.attachments {
        let (src, name, dir, max) = (
            source.clone(),
            file.clone(),
            staging.clone(),
            app.config.uploads.max_file_bytes,
        );
        let shown = package.file_names.get(file).cloned();
        let label = shown.clone().unwrap_or_else(|| file.clone());
        let hashes = hashes.clone();
        let staged = crate::blocking(move || {
            let bytes = src.read(&name)?;
            let shown = shown.as_deref().unwrap_or(&name);
            let sum = crate::courses::content::sha256(&bytes);
            let safe = crate::courses::upload::safe_filename(shown);
            if let Some((id, _, _, url)) = hashes.iter().find(|h| h.1 == safe && h.2 == sum) {
                return Ok(Staging::Kept(*id, url.clone()));
            }
            crate::courses::upload::stage_bytes(&bytes, shown, &dir, max).map(Staging::New)
        })
        .await;
        let url = match staged {
            Ok(Staging::Kept(id, url)) => {
                kept.push(id);
                url
            }
            Ok(Staging::New(staged)) => {
                changed = true;
                service::add_attachment(app, Actor::System, lesson_id, staged)
                    .await?
                    .url
            }
            Err(Error::Unsupported(message)) if package.skip_unsupported_files => {
                unsupported.push(format!("{label}: {message}; not attached"));
                links.insert(file.clone(), "#not-imported".to_owned());
                continue;
            }
            Err(
                Error::Invalid { message, .. }
                | Error::Unsupported(message)
                | Error::TooLarge(message),
            ) => {
                return Err(Error::invalid("package", format!("{label}: {message}")));
            }
            Err(other) => return Err(other),
        };
        files += 1;
        // Links to the lesson's own files now point at the stored attachments.
        links.insert(file.clone(), url);
    }
    let body = replace_file_links(&lesson.body, &links);
    for old in have.iter().filter(|a| !kept.contains(&a.id)) {
        changed = true;
        service::delete_attachment(app, Actor::System, old.id).await?;
    }
    Ok(Attached {
        body,
        files,
        changed,
    })
}

/// `body` with each `sc-file:<path>` placeholder whose path is a key of `links` replaced by its value (the
/// longest key that fits, so `a.pdf` does not take the place of `a.pdf.txt`); others are left as they are.
/// One pass over the body, trying at each placeholder only the lengths the keys have.
fn replace_file_links(body: &str, links: &HashMap<String, String>) -> String {
    const MARK: &str = "sc-file:";
    let mut lengths: Vec<usize> = links.keys().map(String::len).collect();
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    lengths.dedup();
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find(MARK) {
        let after = &rest[i + MARK.len()..];
        let found = lengths
            .iter()
            .find_map(|&n| Some((n, links.get(after.get(..n)?)?)));
        match found {
            Some((n, url)) => {
                out.push_str(&rest[..i]);
                out.push_str(url);
                rest = &after[n..];
            }
            None => {
                out.push_str(&rest[..i + MARK.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Points `sc-lesson:<name>` links at the lessons with that name among their refs (`/lessons/<id>`); a link to
/// a page the package does not hold becomes `#missing`, and is reported.
fn rewrite_lesson_links(
    body: &str,
    ids: &HashMap<String, i64>,
    skipped: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find("sc-lesson:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "sc-lesson:".len()..];
        let end = after
            .find(['"', '\'', ' ', '>', '#', '?', ')'])
            .unwrap_or(after.len());
        let name = &after[..end];
        match ids.get(name) {
            Some(id) => out.push_str(&format!("/lessons/{id}")),
            None => {
                let reason =
                    format!("a link to the page “{name}”, which the package does not hold");
                if !skipped.contains(&reason) {
                    skipped.push(reason);
                }
                out.push_str("#missing");
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_links_are_replaced_by_the_longest_path_that_fits() {
        let links: HashMap<String, String> = [
            ("a.pdf", "/api/attachments/1"),
            ("a.pdf.txt", "/api/attachments/2"),
            ("web_resources/leaf diagram.pdf", "#not-imported"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let body = "[one](sc-file:a.pdf) [two](sc-file:a.pdf.txt) <a href=\"sc-file:web_resources/leaf diagram.pdf\">é</a> \
                    [other](sc-file:b.pdf) sc-file:";
        assert_eq!(
            replace_file_links(body, &links),
            "[one](/api/attachments/1) [two](/api/attachments/2) <a href=\"#not-imported\">é</a> \
             [other](sc-file:b.pdf) sc-file:"
        );
    }

    /// A page linking each of 20,000 files: every link replaced in one pass over the body (this was a pass per
    /// file, 20,000 passes over a megabyte).
    #[test]
    fn a_page_linking_thousands_of_files_is_rewritten_in_one_pass() {
        let n = 20_000;
        let links: HashMap<String, String> = (0..n)
            .map(|i| (format!("files/{i:05}.png"), format!("/api/attachments/{i}")))
            .collect();
        let body: String = (0..n)
            .map(|i| format!("![](sc-file:files/{i:05}.png)\n"))
            .collect();
        let out = replace_file_links(&body, &links);
        assert!(!out.contains("sc-file:"));
        assert_eq!(out.lines().count(), n);
        assert_eq!(out.lines().nth(1234), Some("![](/api/attachments/1234)"));
    }
}
