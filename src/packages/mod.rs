//! Course packages: the native SmartCourse format (a folder or `.zip` with a `course.toml`), import and
//! export. The format is documented in `docs/package-format.md`.
//!
//! Import goes through the same domain functions as the web UI and the API (so every check applies: titles,
//! body sizes, upload types by their bytes, per-file and per-course limits). A package that fails half-way
//! leaves nothing behind: the partial course is deleted.

pub mod cc;
pub mod kolibri;
pub mod moodle;
pub mod native;
pub mod olx;
pub mod scorm;
mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::App;
use crate::accounts::{self, Actor, Role};
use crate::courses::service::{self, NewCourse, NewLesson};
use crate::error::{Error, Result};

pub use source::Source;

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
#[derive(Debug, Clone, Serialize)]
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
    /// Things in the package that were not imported, and why.
    pub skipped: Vec<String>,
}

/// A package read into memory-light form: the outline, with lesson bodies and file paths to read later.
#[derive(Debug)]
pub struct Package {
    /// The format, with its version (`Moodle 4.0 backup`, `SCORM 1.2`).
    pub format: String,
    /// Course title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Seats, if limited.
    pub capacity: Option<i64>,
    /// Modules in order.
    pub modules: Vec<PackageModule>,
    /// What could not be imported, and why.
    pub skipped: Vec<String>,
    /// The name a file is attached under, where its path in the package is not it (Moodle stores files by
    /// hash). Paths not listed keep their own name.
    pub file_names: BTreeMap<String, String>,
    /// Whether a file of a kind lessons do not take is left out (and listed) rather than refusing the package:
    /// for formats whose files the teacher did not choose one by one (a Moodle backup's Word documents). A
    /// SmartCourse package lists each file, so there a wrong one refuses the package.
    pub skip_unsupported_files: bool,
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
        let manifest = String::from_utf8_lossy(&source.read("imsmanifest.xml")?).into_owned();
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

/// A module of a package.
#[derive(Debug)]
pub struct PackageModule {
    /// Title.
    pub title: String,
    /// Lessons in order.
    pub lessons: Vec<PackageLesson>,
}

/// A lesson of a package.
#[derive(Debug)]
pub struct PackageLesson {
    /// Title.
    pub title: String,
    /// Markdown body.
    pub body: String,
    /// Paths of attached files inside the package.
    pub attachments: Vec<String>,
}

/// The owner of imported courses: the instructor or admin with `email`, else the first admin, else a
/// built-in instructor account that cannot log in (for the demo course on a fresh install).
fn resolve_owner(conn: &rusqlite::Transaction, email: Option<&str>) -> Result<i64> {
    if let Some(email) = email {
        let user = accounts::find_by_email(conn, &Actor::System, email)
            .map_err(|_| Error::invalid("owner", format!("there is no user {email}")))?;
        if user.role == Role::Student {
            return Err(Error::invalid(
                "owner",
                format!("{email} is a student; courses belong to instructors or admins"),
            ));
        }
        return Ok(user.id);
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

/// Imports the package at `path` (folder or `.zip`).
pub async fn import(
    app: &Arc<App>,
    path: &Path,
    owner: Option<String>,
    publish: bool,
) -> Result<ImportReport> {
    let limits = app.config.uploads.clone();
    let root = path.to_path_buf();
    let scratch = app.data.join("tmp");
    let (source, package) = crate::blocking(move || read_package(&root, &limits, &scratch)).await?;
    let owner_id = app
        .db
        .write(move |tx| resolve_owner(tx, owner.as_deref()))
        .await?;
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
    let source = Arc::new(source);
    let mut package = package;
    let filled = fill(app, course.id, &mut package, source).await;
    let (modules, lessons, attachments) = match filled {
        Ok(counts) => counts,
        Err(e) => {
            if let Err(cleanup) = service::delete_course(app, Actor::System, course.id).await {
                tracing::error!(error = %cleanup, course.id = course.id, "could not remove a half-imported course");
            }
            return Err(e);
        }
    };
    let workflow_id = if publish {
        Some(crate::courses::publish::publish(app, Actor::System, course.id).await?)
    } else {
        None
    };
    tracing::info!(
        course.id = course.id,
        lessons,
        attachments,
        "package imported"
    );
    Ok(ImportReport {
        format: package.format,
        course_id: course.id,
        title: course.title,
        modules,
        lessons,
        attachments,
        workflow_id,
        skipped: package.skipped,
    })
}

/// Creates the modules, lessons and attachments. A file of a kind lessons do not take (a Word document in a
/// Moodle backup, say) is left out and reported in `package.skipped`; any other failure stops the import.
async fn fill(
    app: &Arc<App>,
    course_id: i64,
    package: &mut Package,
    source: Arc<Source>,
) -> Result<(usize, usize, usize)> {
    let (mut lessons, mut files) = (0, 0);
    let mut unsupported = Vec::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let staging: PathBuf = app.data.join("tmp");
    for module in &package.modules {
        let m = service::create_module(app, Actor::System, course_id, module.title.clone(), None)
            .await?;
        for lesson in &module.lessons {
            let l = service::create_lesson(
                app,
                Actor::System,
                course_id,
                NewLesson {
                    title: lesson.title.clone(),
                    body_markdown: lesson.body.clone(),
                    module: Some(m.id),
                    position: None,
                },
            )
            .await?;
            lessons += 1;
            for file in &lesson.attachments {
                let (src, name, dir, max) = (
                    source.clone(),
                    file.clone(),
                    staging.clone(),
                    app.config.uploads.max_file_bytes,
                );
                let shown = package.file_names.get(file).cloned();
                let label = shown.clone().unwrap_or_else(|| file.clone());
                let staged = crate::blocking(move || {
                    let bytes = src.read(&name)?;
                    let shown = shown.as_deref().unwrap_or(&name);
                    crate::courses::upload::stage_bytes(&bytes, shown, &dir, max)
                })
                .await;
                let staged = match staged {
                    Ok(staged) => staged,
                    Err(Error::Unsupported(message)) if package.skip_unsupported_files => {
                        unsupported.push(format!("{label}: {message}; not attached"));
                        links.push((format!("sc-file:{file}"), "#not-imported".to_owned()));
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
                let stored = service::add_attachment(app, Actor::System, l.id, staged).await?;
                links.push((format!("sc-file:{file}"), stored.url));
                files += 1;
            }
            // Links to the lesson's own files (from cartridges) now point at the stored attachments.
            if !links.is_empty() && lesson.body.contains("sc-file:") {
                let mut body = lesson.body.clone();
                for (placeholder, url) in links.drain(..) {
                    body = body.replace(&placeholder, &url);
                }
                let change = crate::courses::service::LessonUpdate {
                    title: None,
                    body_markdown: Some(body),
                    module: None,
                    position: None,
                };
                service::update_lesson(app, Actor::System, l.id, change).await?;
            }
            links.clear();
        }
    }
    package.skipped.extend(unsupported);
    Ok((package.modules.len(), lessons, files))
}
