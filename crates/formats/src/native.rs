//! The native SmartCourse package: `course.toml` plus Markdown lessons and files. See
//! `docs/package-format.md`.

use serde::{Deserialize, Serialize};

use crate::{Error, Package, PackageLesson, PackageModule, Result, Source};

/// The format version this build writes and reads.
pub const FORMAT: u32 = 1;

/// The folder of a package's interactive pages and everything they load.
pub const PAGES: &str = "package/";

/// `course.toml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The format version.
    pub format: u32,
    /// Optional identity: importing a package with the same `id` again updates the course it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Seats, if limited.
    pub capacity: Option<i64>,
    /// Modules in order.
    #[serde(default, rename = "module")]
    pub modules: Vec<ManifestModule>,
}

/// A `[[module]]`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestModule {
    /// Title.
    pub title: String,
    /// Lessons in order.
    #[serde(default, rename = "lesson")]
    pub lessons: Vec<ManifestLesson>,
}

/// A `[[module.lesson]]`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLesson {
    /// Title.
    pub title: String,
    /// Markdown file, relative to the package root.
    pub file: String,
    /// Attached files, relative to the package root.
    #[serde(default)]
    pub files: Vec<String>,
    /// For a lesson that is an interactive page: its page in the package's `package/` folder (with any query
    /// string), run in the lesson view with the folder's other files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<String>,
    /// For a quiz lesson: its quiz as JSON (the [`crate::quiz::Quiz`] model), relative to the package root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz: Option<String>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// Reads and checks a native package, reporting every missing or unreadable file at once.
pub fn read(source: &Source) -> Result<Package> {
    if !source.contains("course.toml") {
        return Err(bad(
            "this is not a SmartCourse package: there is no course.toml at its top level",
        ));
    }
    let text = String::from_utf8(source.read("course.toml")?)
        .map_err(|_| bad("course.toml is not UTF-8 text"))?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| bad(format!("course.toml: {e}")))?;
    if manifest.format > FORMAT {
        return Err(bad(format!(
            "this package has format {}, newer than this SmartCourse reads ({FORMAT})",
            manifest.format
        )));
    }
    let mut problems = Vec::new();
    let mut modules = Vec::new();
    for m in manifest.modules {
        let mut lessons = Vec::new();
        for l in m.lessons {
            // The file is the body: reading stops at the lesson limit. A file over it, or a package over its
            // budget, ends the reading; a missing file is one problem among those reported together.
            let body = match source.read_lesson(&l.file) {
                Ok(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| {
                    problems.push(format!("{} is not UTF-8 text", l.file));
                    String::new()
                }),
                Err(e @ Error::TooLarge(_)) => return Err(e),
                Err(e) => {
                    problems.push(e.to_string().trim_start_matches("package: ").to_owned());
                    String::new()
                }
            };
            for f in &l.files {
                if !source.contains(f) {
                    problems.push(format!(
                        "{f} (a file of lesson “{}”) is missing from the package",
                        l.title
                    ));
                }
            }
            let launch = match l.launch.as_deref() {
                None => None,
                Some(page) => {
                    let (path, rest) = crate::source::split_query(page);
                    // As the files are stored: `package/./a.html` is `package/a.html`.
                    let cleaned = crate::source::clean(path).unwrap_or_default();
                    match cleaned.strip_prefix(PAGES) {
                        Some(inner) if source.contains(&cleaned) && !inner.is_empty() => {
                            Some(format!("{inner}{rest}"))
                        }
                        _ => {
                            problems.push(format!(
                                "{path} (the page of lesson “{}”) is not in the package's {PAGES} folder",
                                l.title
                            ));
                            None
                        }
                    }
                }
            };
            let quiz = match l.quiz.as_deref() {
                None => None,
                Some(file) => match source.read(file) {
                    Ok(bytes) => match serde_json::from_slice::<crate::quiz::Quiz>(&bytes) {
                        Ok(quiz) => Some(quiz),
                        Err(e) => {
                            problems.push(format!(
                                "{file} (the quiz of lesson “{}”) is not a quiz: {e}",
                                l.title
                            ));
                            None
                        }
                    },
                    Err(e @ Error::TooLarge(_)) => return Err(e),
                    Err(e) => {
                        problems.push(e.to_string().trim_start_matches("package: ").to_owned());
                        None
                    }
                },
            };
            lessons.push(source.budget().keep(PackageLesson {
                quiz,
                launch,
                refs: Vec::new(),
                title: l.title,
                body,
                attachments: l.files,
            })?);
        }
        modules.push(PackageModule {
            title: m.title,
            lessons,
        });
    }
    if !problems.is_empty() {
        return Err(bad(format!(
            "{} problem(s): {}",
            problems.len(),
            problems.join("; ")
        )));
    }
    let interactive = modules
        .iter()
        .any(|m: &PackageModule| m.lessons.iter().any(|l| l.launch.is_some()));
    Ok(Package {
        kept_files: interactive.then(|| PAGES.to_owned()),
        format: format!("SmartCourse package {FORMAT}"),
        key: manifest.id.as_ref().map(|i| format!("smartcourse:{i}")),
        title: manifest.title,
        description: manifest.description,
        capacity: manifest.capacity,
        modules,
        skipped: Vec::new(),
        file_names: Default::default(),
        skip_unsupported_files: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(launch: &str) -> Result<Package> {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "course.toml",
            &format!(
                "format = 1\ntitle = \"Golf\"\n[[module]]\ntitle = \"M\"\n[[module.lesson]]\ntitle = \"Play\"\nfile = \"play.md\"\nlaunch = \"{launch}\"\n"
            ),
        );
        write("play.md", "Play golf.");
        write("package/shared/launch.html", "<p>Play</p>");
        write("outside.html", "<p>Out</p>");
        let source = Source::open(dir.path(), &crate::Limits::default(), dir.path())?;
        read(&source)
    }

    #[test]
    fn a_launch_page_is_inside_the_package_folder() {
        let p = package("package/./shared/launch.html?start=1").unwrap();
        assert_eq!(p.kept_files.as_deref(), Some(PAGES));
        assert_eq!(
            p.modules[0].lessons[0].launch.as_deref(),
            Some("shared/launch.html?start=1")
        );
        for outside in ["outside.html", "package/missing.html", "package/"] {
            let e = package(outside).unwrap_err().to_string();
            assert!(
                e.contains("is not in the package's package/ folder"),
                "{outside}: {e}"
            );
        }
    }
}
