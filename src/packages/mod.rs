//! Course packages: the native SmartCourse format (a folder or `.zip` with a `course.toml`), import and
//! export. The format is documented in `docs/package-format.md`.
//!
//! Import goes through the same domain functions as the web UI and the API (so every check applies: titles,
//! body sizes, upload types by their bytes, per-file and per-course limits). A package that fails half-way
//! leaves nothing behind: the partial course is deleted.
//!
//! The parts: the formats themselves, Kolibri channels included, are read by the `smartcourse_formats` crate
//! (re-exported here); `import` picks the reader and makes or finds the course; `sync` fills or updates it, with
//! `diff` deciding, without touching the database, what an import over an earlier one changes; [`native`]
//! also writes packages (export), which [`routes`] serves as a download; [`pipeline`] runs an import as a
//! recorded, resumable workflow.

mod diff;
mod import;
pub mod native;
pub mod pipeline;
pub mod routes;
mod sync;

pub(crate) use import::{check_owner, import_resuming};
pub use import::{import, inspect, read_package};

pub use smartcourse_formats::{
    Package, PackageLesson, PackageModule, Source, cc, kolibri, moodle, olx, scorm, source,
};

use serde::{Deserialize, Serialize};

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
    pub title: String,
    pub lessons: Vec<PreviewLesson>,
}

/// A lesson in a [`Preview`].
#[derive(Debug, Clone, Serialize)]
pub struct PreviewLesson {
    /// As the import would store it (cleaned, see `import::clean_title`).
    pub title: String,
    /// Files it would attach.
    pub files: usize,
    /// For a quiz lesson, how many questions its quiz has.
    pub quiz_questions: Option<usize>,
}
