//! Reading course packages: SmartCourse's own format, IMS Common Cartridge, SCORM, Moodle course backups and
//! Open edX OLX exports, from a folder or an archive, and Kolibri channels (an SQLite database, opened
//! read-only and defensively: [`kolibri`]), into a [`Package`] outline; and subtitle files ([`subtitles`]). No
//! server and none of SmartCourse's own data: the SmartCourse application imports what these readers return.
//!
//! A crate of its own so the readers, which take files from anyone, can be fuzzed with `cargo fuzz` (see
//! `fuzz/`) without building the whole application under the fuzzer's instrumentation.

pub mod budget;
pub mod cc;
pub mod kolibri;
pub mod moodle;
pub mod native;
pub mod olx;
pub mod quiz;
pub mod scorm;
pub mod source;
pub mod subtitles;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use budget::Budget;
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
///
/// The `max_package_*` and `max_lesson_bytes` fields are one package's budget: what reading a package (its
/// reader, then the import storing its files) may cost, whatever the package says about itself. They are
/// counted by [`Budget`] as the work is done, never taken from an archive's headers or a manifest's claims, so
/// a small crafted file cannot make the server run out of memory or time; going over one is an
/// [`Error::TooLarge`] that names the limit in words. The defaults are far above any real course seen (the
/// samples in `../shared/samples` use well under a tenth of each) and low enough for a 4 GB laptop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest single file, in bytes (default 100 MiB).
    pub max_file_bytes: u64,
    /// Largest total of a course's files, in bytes (default 1 GiB).
    pub max_course_bytes: u64,
    /// Most bytes a package may unpack to: every byte that comes out of an archive entry (as it is inflated,
    /// not as the archive declares) or out of a folder's file, a file read twice counting twice. Default 2 GiB:
    /// twice the course limit, as packages hold files a course does not keep (a backup's quizzes), and what
    /// streams through a laptop in well under a minute.
    pub max_package_bytes: u64,
    /// Most times a package's files may be read. Default 200,000: ten times the most entries an archive may
    /// have, so each file read a few times (its manifest, the page, then its bytes stored) fits, and a
    /// thousand lessons naming one file a thousand times does not.
    pub max_package_reads: u64,
    /// Most XML nodes (elements and their text) parsed from a package's manifests and pages, with each Open
    /// edX block visited and each Kolibri database row read counting one more. Default 5,000,000: a parsed
    /// node takes about 64 bytes, so the largest document fits in about 320 MiB; a large real Moodle backup
    /// has a few hundred thousand.
    pub max_package_xml_nodes: u64,
    /// Most lessons a package may make. Default 50,000: a large course has hundreds, and the largest Kolibri
    /// channels tens of thousands.
    pub max_package_lessons: u64,
    /// Most attachments a package's lessons may list together (a file attached to two lessons counts twice).
    /// Default 50,000, as lessons; each is read and stored by the import.
    pub max_package_attachments: u64,
    /// Most text a package's lessons may hold together, in bytes. Default 256 MiB: the outline is held in
    /// memory until the import stores it, so this is what a package costs in memory at most; a very large real
    /// course has tens of MiB.
    pub max_package_text_bytes: u64,
    /// Largest lesson body, in bytes. Default 1 MiB, the most a lesson written in SmartCourse may hold (a
    /// bigger one is refused on import anyway); a Markdown lesson's file stops being read there.
    pub max_lesson_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 100 * MIB,
            max_course_bytes: 1024 * MIB,
            max_package_bytes: 2048 * MIB,
            max_package_reads: 200_000,
            max_package_xml_nodes: 5_000_000,
            max_package_lessons: 50_000,
            max_package_attachments: 50_000,
            max_package_text_bytes: 256 * MIB,
            max_lesson_bytes: MIB,
        }
    }
}

const MIB: u64 = 1024 * 1024;

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
#[derive(Debug, Default, Serialize, Deserialize)]
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
    /// The lesson's quiz, for a package's assessment, quiz or problems; `body` is its introduction. Absent from
    /// outlines stored before quizzes were read, hence the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz: Option<quiz::Quiz>,
}
