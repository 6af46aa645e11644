//! Course packages: the native SmartCourse format (a folder or `.zip` with a `course.toml`), import and
//! export. The format is documented in `docs/package-format.md`.
//!
//! Import goes through the same domain functions as the web UI and the API (so every check applies: titles,
//! body sizes, upload types by their bytes, per-file and per-course limits). A package that fails half-way
//! leaves nothing behind: the partial course is deleted.

pub mod kolibri;
pub mod native;
pub mod pipeline;

pub use smartcourse_formats::{
    Package, PackageLesson, PackageModule, Source, cc, moodle, olx, scorm, source,
};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::accounts::{self, Actor, Role};
use crate::courses::service::{self, NewCourse, NewLesson};
use crate::error::{Error, Result};

/// The demo course, embedded so a new installation has something to show (`serve --demo-if-empty`).
pub const DEMO: &[(&str, &[u8])] = &[
    (
        "course.toml",
        include_bytes!("../../assets/demo-course/course.toml"),
    ),
    (
        "lessons/01-parts-of-a-whole.md",
        include_bytes!("../../assets/demo-course/lessons/01-parts-of-a-whole.md"),
    ),
    (
        "lessons/02-halves-thirds-quarters.md",
        include_bytes!("../../assets/demo-course/lessons/02-halves-thirds-quarters.md"),
    ),
    (
        "lessons/03-equivalent-fractions.md",
        include_bytes!("../../assets/demo-course/lessons/03-equivalent-fractions.md"),
    ),
    (
        "lessons/04-adding.md",
        include_bytes!("../../assets/demo-course/lessons/04-adding.md"),
    ),
    (
        "files/worksheet-1.txt",
        include_bytes!("../../assets/demo-course/files/worksheet-1.txt"),
    ),
    (
        "files/worksheet-2.txt",
        include_bytes!("../../assets/demo-course/files/worksheet-2.txt"),
    ),
];

/// What an import did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportReport {
    /// The package's format, with its version where the package states one.
    pub format: String,
    /// The new course.
    pub course_id: i64,
    /// Its title.
    pub title: String,
    /// Modules created.
    pub modules: usize,
    /// Lessons created.
    pub lessons: usize,
    /// Files attached.
    pub attachments: usize,
    /// The publish workflow, when asked to publish.
    pub workflow_id: Option<i64>,
    /// Whether an earlier import of the same package was updated (instead of a new course made).
    pub updated: bool,
    /// Lessons added, changed, removed and left as they were (all "added" for a new course).
    pub changes: Changes,
    /// Things in the package that were not imported, and why.
    pub skipped: Vec<String>,
    /// Files of the package kept as they are, for lessons that are interactive pages (SCORM).
    #[serde(default)]
    pub package_files: usize,
    /// Of those, how many were added, changed or removed since the course was imported before (all of them for
    /// a new course). A lesson is "unchanged" by its text and launch page alone; this says whether what the
    /// pages load changed.
    #[serde(default)]
    pub package_files_changed: usize,
}

/// What an import changed, lesson by lesson.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Changes {
    /// Lessons created.
    pub added: usize,
    /// Lessons whose text or files changed.
    pub changed: usize,
    /// Lessons removed (no longer in the package).
    pub removed: usize,
    /// Lessons left as they were.
    pub unchanged: usize,
}

/// What `import --dry-run` shows: the package as it would be imported.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Format and version.
    pub format: String,
    /// Course title.
    pub title: String,
    /// Modules, each with its lessons' titles and how many files each would attach.
    pub modules: Vec<PreviewModule>,
    /// What would be skipped, and why.
    pub skipped: Vec<String>,
}

/// A module in a [`Preview`].
#[derive(Debug, Clone, Serialize)]
pub struct PreviewModule {
    /// Title.
    pub title: String,
    /// (lesson title, attachments).
    pub lessons: Vec<(String, usize)>,
}

/// Reads the package at `path` (folder, `.zip`, `.tar.gz`/`.mbz`, or a Kolibri channel database), whatever its
/// format; archives are unpacked under `scratch`.
pub fn read_package(
    path: &Path,
    limits: &crate::config::UploadConfig,
    scratch: &Path,
) -> Result<(Source, Package)> {
    if kolibri::is_channel(path) {
        let (source, package) = kolibri::read(path)?;
        require_lessons(&package)?;
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
    require_lessons(&package)?;
    Ok((source, package))
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
                    .map(|l| (l.title, l.attachments.len()))
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

/// Imports the package at `path` here and now (the [`pipeline`] workflow does it as recorded steps).
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

/// A file of a lesson as the package has it: kept as is when the lesson already has a file of that name with
/// the same bytes.
enum Staging {
    Kept(i64, String),
    New(crate::courses::upload::Staged),
}

/// A module already in the course: id, title, and its lessons' ids and titles.
type OldModule = (i64, String, Vec<(i64, String)>);

/// Makes the course's modules, lessons and attachments those of the package. A new course is filled; a course
/// imported before is updated: modules and lessons are matched by title (in order), lessons whose text or
/// files differ are updated, new ones created, ones no longer in the package removed, and the order set.
///
/// A file of a kind lessons do not take (a Word document in a Moodle backup, say) is left out and reported in
/// `package.skipped` where the format allows it; any other failure stops the import.
async fn sync(
    app: &Arc<App>,
    course_id: i64,
    package: &mut Package,
    source: Arc<Source>,
) -> Result<(usize, usize, usize, Changes)> {
    let detail = service::course_detail(app, Some(Actor::System), course_id).await?;
    // The lessons' launch pages now, so only a changed one is written.
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
    let updating = !detail.modules.is_empty();
    let mut old_modules: Vec<OldModule> = detail
        .modules
        .into_iter()
        .map(|m| {
            let lessons = m.lessons.into_iter().map(|l| (l.id, l.title)).collect();
            (m.id, m.title, lessons)
        })
        .collect();
    let (mut lessons, mut files) = (0, 0);
    let mut changes = Changes::default();
    let mut unsupported = Vec::new();
    let mut structure = Vec::new();
    let staging: PathBuf = app.data.join("tmp");
    // Lessons linking to other lessons of the package wait until every lesson exists.
    let mut lesson_ids: HashMap<String, i64> = HashMap::new();
    let mut linking: Vec<(i64, String, String)> = Vec::new();
    for module in &package.modules {
        let (module_id, mut old_lessons) = match old_modules
            .iter()
            .position(|m| m.1 == module.title)
        {
            Some(i) => {
                let (id, _, lessons) = old_modules.remove(i);
                (id, lessons)
            }
            None => (
                service::create_module(app, Actor::System, course_id, module.title.clone(), None)
                    .await?
                    .id,
                Vec::new(),
            ),
        };
        let mut order = Vec::new();
        for lesson in &module.lessons {
            let existing = old_lessons
                .iter()
                .position(|l| l.1 == lesson.title)
                .map(|i| old_lessons.remove(i).0);
            let (lesson_id, old_body, keep) = match existing {
                Some(id) => {
                    let l = service::get_lesson(app, Actor::System, id).await?;
                    (id, l.body_markdown.unwrap_or_default(), l.attachments)
                }
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
            let mut body = lesson.body.clone();
            let mut kept = Vec::new();
            let mut files_changed = false;
            // The lesson's files now (name, bytes' hash), to keep those the package has unchanged.
            let have: Arc<Vec<(i64, String, String, String)>> = Arc::new(
                keep.iter()
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
                let have = have.clone();
                let staged = crate::blocking(move || {
                    let bytes = src.read(&name)?;
                    let shown = shown.as_deref().unwrap_or(&name);
                    let sum = crate::courses::content::sha256(&bytes);
                    let safe = crate::courses::upload::safe_filename(shown);
                    if let Some((id, _, _, url)) = have.iter().find(|h| h.1 == safe && h.2 == sum) {
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
                        files_changed = true;
                        service::add_attachment(app, Actor::System, lesson_id, staged)
                            .await?
                            .url
                    }
                    Err(Error::Unsupported(message)) if package.skip_unsupported_files => {
                        unsupported.push(format!("{label}: {message}; not attached"));
                        body = body.replace(&format!("sc-file:{file}"), "#not-imported");
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
                body = body.replace(&format!("sc-file:{file}"), &url);
            }
            for old in keep.iter().filter(|a| !kept.contains(&a.id)) {
                files_changed = true;
                service::delete_attachment(app, Actor::System, old.id).await?;
            }
            if launches.remove(&lesson_id) != lesson.launch {
                let launch = lesson.launch.clone();
                app.db
                    .write(move |tx| {
                        tx.execute(
                            "UPDATE lessons SET launch_path = ?1 WHERE id = ?2",
                            rusqlite::params![launch, lesson_id],
                        )?;
                        Ok(())
                    })
                    .await?;
                files_changed |= existing.is_some();
            }
            for r in &lesson.refs {
                lesson_ids.entry(r.clone()).or_insert(lesson_id);
            }
            if body.contains("sc-lesson:") {
                linking.push((lesson_id, body.clone(), old_body.clone()));
            } else if body != old_body {
                let change = service::LessonUpdate {
                    title: None,
                    body_markdown: Some(body),
                    module: None,
                    position: None,
                };
                service::update_lesson(app, Actor::System, lesson_id, change).await?;
            }
            match (
                existing.is_some(),
                files_changed || lesson_changed(&old_body, &lesson.body),
            ) {
                (false, _) => changes.added += 1,
                (true, true) => changes.changed += 1,
                (true, false) => changes.unchanged += 1,
            }
        }
        for (id, _) in old_lessons {
            service::delete_lesson(app, Actor::System, id).await?;
            changes.removed += 1;
        }
        structure.push(service::ModuleOrder {
            id: module_id,
            lessons: order,
        });
    }
    for (id, _, lessons) in old_modules {
        changes.removed += lessons.len();
        service::delete_module(app, Actor::System, id).await?;
    }
    for (lesson_id, body, old_body) in linking {
        let body = rewrite_lesson_links(&body, &lesson_ids, &mut package.skipped);
        if body != old_body {
            let change = service::LessonUpdate {
                title: None,
                body_markdown: Some(body),
                module: None,
                position: None,
            };
            service::update_lesson(app, Actor::System, lesson_id, change).await?;
        }
    }
    if updating {
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

/// Whether a stored body differs from the package's, ignoring the attachment links (whose placeholders the
/// stored body has replaced with URLs).
fn lesson_changed(stored: &str, from_package: &str) -> bool {
    fn without_links(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        loop {
            let next = ["sc-file:", "/api/attachments/", "sc-lesson:", "/lessons/"]
                .iter()
                .filter_map(|m| rest.find(m).map(|i| (i, m.len())))
                .min();
            let Some((i, len)) = next else {
                out.push_str(rest);
                return out;
            };
            out.push_str(&rest[..i]);
            out.push('@');
            let after = &rest[i + len..];
            let end = after
                .find(['"', '\'', ' ', ')', '>'])
                .unwrap_or(after.len());
            rest = &after[end..];
        }
    }
    without_links(stored) != without_links(from_package)
}
