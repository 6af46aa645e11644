//! The native SmartCourse package: `course.toml` plus Markdown lessons and files. See
//! `docs/package-format.md`.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Package, PackageLesson, PackageModule, Source};
use crate::App;
use crate::accounts::Actor;
use crate::courses::{content, service};
use crate::error::{Error, Result};

/// The format version this build writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: u32,
    /// Optional identity: importing a package with the same `id` again updates the course it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    title: String,
    #[serde(default)]
    description: String,
    capacity: Option<i64>,
    #[serde(default, rename = "module")]
    modules: Vec<ManifestModule>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestModule {
    title: String,
    #[serde(default, rename = "lesson")]
    lessons: Vec<ManifestLesson>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestLesson {
    title: String,
    /// Markdown file, relative to the package root.
    file: String,
    /// Attached files, relative to the package root.
    #[serde(default)]
    files: Vec<String>,
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
            let body = match source.read(&l.file) {
                Ok(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| {
                    problems.push(format!("{} is not UTF-8 text", l.file));
                    String::new()
                }),
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
            lessons.push(PackageLesson {
                refs: Vec::new(),
                title: l.title,
                body,
                attachments: l.files,
            });
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
    Ok(Package {
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

/// Writes `course_id` as a native package (zip) to `out`. `import(export(c))` gives the same course:
/// titles, order, lesson text and files byte for byte.
pub async fn export(app: &App, actor: Actor, course_id: i64, out: &Path) -> Result<()> {
    let detail = service::course_detail(app, Some(actor.clone()), course_id).await?;
    let check = actor.clone();
    app.db
        .read(move |c| crate::courses::require_edit(c, &check, course_id).map(drop))
        .await?;
    let tmp = out.with_extension("partial");
    let file = std::fs::File::create(&tmp)
        .map_err(|e| bad(format!("cannot write {}: {e}", tmp.display())))?;
    let mut zip = zip::ZipWriter::new(file);
    let deflate = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut manifest = Manifest {
        format: FORMAT,
        id: None,
        title: detail.course.title.clone(),
        description: detail.course.description.clone(),
        capacity: detail.course.capacity,
        modules: Vec::new(),
    };
    let zerr =
        |e: zip::result::ZipError| Error::Internal(anyhow::anyhow!("writing the package: {e}"));
    let ioerr = |e: std::io::Error| Error::Internal(anyhow::anyhow!("writing the package: {e}"));
    for (mi, m) in detail.modules.iter().enumerate() {
        let mut lessons = Vec::new();
        for (li, l) in m.lessons.iter().enumerate() {
            let lesson = service::get_lesson(app, actor.clone(), l.id).await?;
            let stem = format!("{:02}-{:02}", mi + 1, li + 1);
            let file = format!("lessons/{stem}.md");
            zip.start_file(file.as_str(), deflate).map_err(zerr)?;
            zip.write_all(lesson.body_markdown.unwrap_or_default().as_bytes())
                .map_err(ioerr)?;
            let mut files = Vec::new();
            for a in &lesson.attachments {
                let mut name = format!("files/{stem}/{}", a.filename);
                if files.contains(&name) {
                    name = format!("files/{stem}/{}-{}", a.id, a.filename);
                }
                zip.start_file(name.as_str(), stored).map_err(zerr)?;
                let mut index = 0u32;
                while let Some(chunk) =
                    content::get_chunk(&app.content, a.sha256.clone(), index).await?
                {
                    zip.write_all(&chunk).map_err(ioerr)?;
                    index += 1;
                }
                files.push(name);
            }
            lessons.push(ManifestLesson {
                title: l.title.clone(),
                file,
                files,
            });
        }
        manifest.modules.push(ManifestModule {
            title: m.title.clone(),
            lessons,
        });
    }
    let toml = toml::to_string_pretty(&manifest).map_err(|e| Error::Internal(e.into()))?;
    zip.start_file("course.toml", deflate).map_err(zerr)?;
    zip.write_all(toml.as_bytes()).map_err(ioerr)?;
    zip.finish().map_err(zerr)?;
    std::fs::rename(&tmp, out).map_err(|e| bad(format!("cannot write {}: {e}", out.display())))?;
    Ok(())
}
