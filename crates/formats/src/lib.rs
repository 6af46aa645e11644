//! Reading course packages: SmartCourse's own format, IMS Common Cartridge, SCORM, Moodle course backups and
//! Open edX OLX exports, from a folder or an archive, into a [`Package`] outline; and subtitle files
//! ([`subtitles`]). No database, no server: the SmartCourse application imports what these readers return.
//!
//! A crate of its own so the readers, which take files from anyone, can be fuzzed with `cargo fuzz` (see
//! `fuzz/`) without building the whole application under the fuzzer's instrumentation.

pub mod cc;
pub mod moodle;
pub mod native;
pub mod olx;
pub mod scorm;
pub mod source;
pub mod subtitles;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use source::Source;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a package cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The package (or a part of it, named in the message) is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// What was wrong: `package`, mostly.
        field: Cow<'static, str>,
        /// What is wrong with it, as a sentence for a person, naming the file.
        message: Cow<'static, str>,
    },
    /// A file, or the whole package, is over a size limit.
    #[error("{0}")]
    TooLarge(Cow<'static, str>),
    /// Reading failed for a reason that is not the package's fault (the disk).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// An [`Error::Invalid`].
    pub fn invalid(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable code SmartCourse answers this with (`invalid_input`, `too_large`, `internal`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid_input",
            Error::TooLarge(_) => "too_large",
            Error::Internal(_) => "internal",
        }
    }
}

/// Size limits on files and courses: `uploads.*` in SmartCourse's configuration, which packages obey too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest single file, in bytes (default 100 MiB).
    pub max_file_bytes: u64,
    /// Largest total of a course's files, in bytes (default 1 GiB).
    pub max_course_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 100 * 1024 * 1024,
            max_course_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// A package read into memory-light form: the outline, with lesson bodies and file paths to read later.
#[derive(Debug)]
pub struct Package {
    /// The format, with its version (`Moodle 4.0 backup`, `SCORM 1.2`).
    pub format: String,
    /// What identifies this course in its own platform (a cartridge's manifest identifier, a Moodle site and
    /// course id, a Kolibri channel id…): importing a package with the same key again updates that course
    /// instead of making a second one (the named owner's, when an owner is named). `None` when the format has no such identity.
    pub key: Option<String>,
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
    /// For lessons that are interactive pages ([`PackageLesson::launch`]), the folder of the package whose files
    /// are kept as they are, for the pages' scripts, styles and images to load from: `""` (all of a SCORM
    /// package), `"package/"` (a SmartCourse package's). `None`: no files are kept.
    pub kept_files: Option<String>,
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
    /// Names other lessons of the package link to this one by (a cartridge page's resource identifier and
    /// file name): their `sc-lesson:<name>` links are pointed at it once it exists.
    pub refs: Vec<String>,
    /// The page the lesson is, for a package of interactive pages (SCORM): its path among the package's
    /// files, with any query string. The lesson view runs it; `body` is its text, for search and the tutor.
    pub launch: Option<String>,
}
