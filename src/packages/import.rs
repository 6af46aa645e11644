//! Reading a package whatever its format, previewing it, and importing it: as a new course, or over the course
//! an earlier import of the same package made (matched by the package's key), which [`super::sync`] brings in
//! line with it.

use std::path::Path;
use std::sync::Arc;

use rusqlite::OptionalExtension;

use super::sync::sync;
use super::{
    ImportReport, Package, Preview, PreviewLesson, PreviewModule, Source, cc, kolibri, moodle,
    native, olx, scorm,
};
use crate::App;
use crate::accounts::{self, Actor, Role};
use crate::courses::service::{self, NewCourse};
use crate::error::{Error, Result};

/// Reads the package at `path` (folder, `.zip`, `.tar.gz`/`.mbz`, or a Kolibri channel database), whatever its
/// format; archives are unpacked under `scratch`.
pub fn read_package(
    path: &Path,
    limits: &crate::config::UploadConfig,
    scratch: &Path,
) -> Result<(Source, Package)> {
    if kolibri::is_channel(path) {
        let (source, mut package) = kolibri::read(path, limits)?;
        prepare(&mut package)?;
        return Ok((source, package));
    }
    let source = Source::open(path, limits, scratch)?.descend(&[
        "course.toml",
        "imsmanifest.xml",
        "moodle_backup.xml",
        "course.xml",
    ]);
    let package = if source.contains("course.toml") {
        native::read(&source)?
    } else if source.contains("imsmanifest.xml") {
        let manifest = source.read_text("imsmanifest.xml")?;
        if cc::is_cartridge(&manifest) {
            cc::read(&source, &manifest)?
        } else if scorm::is_scorm(&manifest) {
            scorm::read(&source, &manifest)?
        } else {
            return Err(Error::invalid(
                "package",
                "imsmanifest.xml is neither a Common Cartridge nor a SCORM manifest",
            ));
        }
    } else if source.contains("moodle_backup.xml") {
        moodle::read(&source)?
    } else if source.contains("course.xml") {
        olx::read(&source)?
    } else {
        native::read(&source)?
    };
    let mut package = package;
    prepare(&mut package)?;
    Ok((source, package))
}

/// The checks and clean-ups an import makes before it changes anything, on the one path that both the import
/// and `import --dry-run` ([`inspect`]) take, so a dry run that passes is an import that passes: a package
/// with no lessons is refused; a lesson body over the limit is refused naming the lesson; an odd title (line
/// breaks, markup, over 200 characters) is cleaned by [`clean_title`] rather than failing the course, the
/// full text kept at the top of the lesson's body when it had to be shortened.
fn prepare(package: &mut Package) -> Result<()> {
    require_lessons(package)?;
    for module in &mut package.modules {
        module.title = clean_title(&module.title, "Module").0;
        for lesson in &mut module.lessons {
            let (title, full) = clean_title(&lesson.title, "Lesson");
            if let Some(full) = full {
                lesson.body = format!("**{}**\n\n{}", markdown_text(&full), lesson.body);
            }
            lesson.title = title;
            crate::courses::check_body(&lesson.body).map_err(|_| {
                Error::invalid(
                    "package",
                    format!(
                        "the lesson “{}” has more than 1 MiB of text; split it into several lessons",
                        lesson.title
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// Most characters a title keeps ([`crate::courses::check_title`]'s limit).
const MAX_TITLE: usize = 200;

/// A title as SmartCourse takes it: markup dropped, line breaks and runs of spaces made one space, control
/// characters removed, and shortened to [`MAX_TITLE`] characters with an ellipsis; `fallback` when nothing is
/// left. With the full (cleaned) text when it had to be shortened.
pub(crate) fn clean_title(raw: &str, fallback: &str) -> (String, Option<String>) {
    let text = if raw.contains('<') {
        smartcourse_formats::scorm::plain_text(raw)
    } else {
        raw.to_owned()
    };
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let full = words.join(" ");
    if full.is_empty() {
        return (fallback.to_owned(), None);
    }
    if full.chars().count() <= MAX_TITLE {
        return (full, None);
    }
    let mut short: String = full.chars().take(MAX_TITLE - 1).collect();
    short = short.trim_end().to_owned();
    short.push('…');
    (short, Some(full))
}

/// Text safe to put in Markdown as it is (its markup characters escaped).
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\`*_{}[]<>()#+-.!|".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A package with no lesson to import is refused, saying what was skipped, rather than becoming an empty
/// course.
fn require_lessons(package: &Package) -> Result<()> {
    if package.modules.iter().any(|m| !m.lessons.is_empty()) {
        return Ok(());
    }
    let why = if package.skipped.is_empty() {
        String::new()
    } else {
        format!("; skipped: {}", package.skipped.join("; "))
    };
    Err(Error::invalid(
        "package",
        format!(
            "this {} (“{}”) has nothing SmartCourse can import as lessons{why}",
            package.format, package.title
        ),
    ))
}

/// What importing `path` would do, without changing anything.
pub fn inspect(
    path: &Path,
    limits: &crate::config::UploadConfig,
    scratch: &Path,
) -> Result<Preview> {
    let (_source, package) = read_package(path, limits, scratch)?;
    Ok(Preview {
        format: package.format,
        title: package.title,
        modules: package
            .modules
            .into_iter()
            .map(|m| PreviewModule {
                title: m.title,
                lessons: m
                    .lessons
                    .into_iter()
                    .map(|l| PreviewLesson {
                        files: l.attachments.len(),
                        quiz_questions: l.quiz.map(|q| q.questions.len()),
                        title: l.title,
                    })
                    .collect(),
            })
            .collect(),
        skipped: package.skipped,
    })
}

/// The instructor or admin with `email`, who may own an imported course.
pub(crate) fn check_owner(conn: &rusqlite::Connection, email: &str) -> Result<i64> {
    let user = accounts::find_by_email(conn, &Actor::System, email)
        .map_err(|_| Error::invalid("owner", format!("there is no user {email}")))?;
    if user.role == Role::Student {
        return Err(Error::invalid(
            "owner",
            format!("{email} is a student; courses belong to instructors or admins"),
        ));
    }
    Ok(user.id)
}

/// The owner of imported courses: the instructor or admin with `email`, else the first admin, else a
/// built-in instructor account that cannot log in (for the demo course on a fresh install).
fn resolve_owner(conn: &rusqlite::Transaction, email: Option<&str>) -> Result<i64> {
    if let Some(email) = email {
        return check_owner(conn, email);
    }
    let admin: Option<i64> = rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id LIMIT 1",
        [],
        |r| r.get(0),
    ))?;
    if let Some(id) = admin {
        return Ok(id);
    }
    let builtin = "smartcourse@localhost";
    if let Ok(user) = accounts::find_by_email(conn, &Actor::System, builtin) {
        return Ok(user.id);
    }
    // No password can match this hash, and the account is disabled: it only owns courses.
    conn.execute(
        "INSERT INTO users (email, full_name, role, password_hash, disabled_at, created_at, updated_at)
         VALUES (?1, 'SmartCourse', 'instructor', '!', ?2, ?2, ?2)",
        rusqlite::params![builtin, crate::util::now_rfc3339()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Imports the package at `path` here and now (the [`super::pipeline`] workflow does it as recorded steps).
pub async fn import(
    app: &Arc<App>,
    path: &Path,
    owner: Option<String>,
    publish: bool,
) -> Result<ImportReport> {
    import_resuming(app, path, owner, publish, None).await
}

/// [`import`], for the import workflow `workflow` when given: the course it recorded on an earlier, interrupted
/// run is brought up to date instead of a second one made, and a new course is recorded as soon as it exists.
pub(crate) async fn import_resuming(
    app: &Arc<App>,
    path: &Path,
    owner: Option<String>,
    publish: bool,
    workflow: Option<i64>,
) -> Result<ImportReport> {
    let limits = app.config.uploads.clone();
    let root = path.to_path_buf();
    let scratch = app.data.join("tmp");
    let (source, package) = crate::blocking(move || read_package(&root, &limits, &scratch)).await?;
    let key = package.key.clone();
    // With an owner named, only that owner's earlier import is updated; without, any earlier import is.
    let named = owner.is_some();
    let owner_id = app
        .db
        .write(move |tx| resolve_owner(tx, owner.as_deref()))
        .await?;
    let resumed: Option<i64> = match workflow {
        Some(w) => {
            app.db
                .read(move |c| {
                    Ok(c.query_row(
                        "SELECT w.course_id FROM workflows w JOIN courses c ON c.id = w.course_id WHERE w.id = ?1",
                        [w],
                        |r| r.get(0),
                    )
                    .optional()?)
                })
                .await?
        }
        None => None,
    };
    let earlier: Option<i64> = match key.clone() {
        _ if resumed.is_some() => resumed,
        Some(key) => {
            app.db
                .read(move |c| {
                    Ok(rusqlite::OptionalExtension::optional(c.query_row(
                        "SELECT id FROM courses WHERE import_key = ?2 AND (NOT ?3 OR owner_id = ?1)
                         ORDER BY id LIMIT 1",
                        rusqlite::params![owner_id, key, named],
                        |r| r.get(0),
                    ))?)
                })
                .await?
        }
        None => None,
    };
    let source = Arc::new(source);
    let mut package = package;
    let (course_id, counts, (package_files, package_files_changed)) = match earlier {
        Some(id) => {
            // The same package again: bring the course in line with it, keeping what did not change (and so
            // students' progress in those lessons).
            service::update_course(
                app,
                Actor::System,
                id,
                service::CourseUpdate {
                    title: Some(package.title.clone()),
                    description: Some(package.description.clone()),
                    capacity: package.capacity.map(Some),
                },
            )
            .await?;
            let counts = sync(app, id, &mut package, source.clone()).await?;
            let kept = crate::courses::launch::keep_files(
                app,
                id,
                package.kept_files.clone().map(|p| (source, p)),
            )
            .await?;
            (id, counts, kept)
        }
        None => {
            let course = service::create_course(
                app,
                Actor::System,
                owner_id,
                NewCourse {
                    title: package.title.clone(),
                    description: package.description.clone(),
                    capacity: package.capacity,
                },
            )
            .await?;
            let key = package.key.clone();
            let id = course.id;
            app.db
                .write(move |tx| {
                    tx.execute(
                        "UPDATE courses SET import_key = ?1 WHERE id = ?2",
                        rusqlite::params![key, id],
                    )?;
                    if let Some(w) = workflow {
                        tx.execute("UPDATE workflows SET course_id = ?1 WHERE id = ?2", [id, w])?;
                    }
                    Ok(())
                })
                .await?;
            let filled = async {
                let counts = sync(app, id, &mut package, source.clone()).await?;
                let keep = package.kept_files.clone().map(|p| (source, p));
                Ok::<_, Error>((
                    counts,
                    crate::courses::launch::keep_files(app, id, keep).await?,
                ))
            };
            match filled.await {
                Ok((counts, kept)) => (id, counts, kept),
                Err(e) => {
                    if let Err(cleanup) = service::delete_course(app, Actor::System, id).await {
                        tracing::error!(error = %cleanup, course.id = id, "could not remove a half-imported course");
                    }
                    return Err(e);
                }
            }
        }
    };
    let (modules, lessons, attachments, changes) = counts;
    let workflow_id = if publish {
        Some(crate::publishing::publish(app, Actor::System, course_id).await?)
    } else {
        None
    };
    tracing::info!(
        course.id = course_id,
        lessons,
        attachments,
        updated = earlier.is_some(),
        "package imported"
    );
    Ok(ImportReport {
        format: package.format,
        course_id,
        title: package.title,
        modules,
        lessons,
        attachments,
        workflow_id,
        updated: earlier.is_some(),
        changes,
        skipped: package.skipped,
        package_files,
        package_files_changed,
    })
}
