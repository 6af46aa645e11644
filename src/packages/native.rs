//! Export as a native SmartCourse package (`course.toml` plus Markdown lessons and files); reading one is
//! [`smartcourse_formats::native`]. See `docs/package-format.md`.

use std::io::Write;
use std::path::Path;

use crate::App;
use crate::accounts::Actor;
use crate::courses::{content, service};
use crate::error::{Error, Result};
pub use smartcourse_formats::native::{FORMAT, PAGES, read};
use smartcourse_formats::native::{Manifest, ManifestLesson, ManifestModule};

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// Writes `course_id` as a native package (zip) to `out`. `import(export(c))` gives the same course:
/// titles, order, lesson text and files byte for byte, and each quiz lesson's quiz (`quizzes/<lesson>.json`).
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
    // Interactive pages: each such lesson's page, and the files they run with, under `package/`.
    let (launches, kept, quizzes) = app
        .db
        .read(move |c| {
            let quizzes = crate::quizzes::quizzes_of_course(c, course_id)?;
            let launches: std::collections::HashMap<i64, String> = c
                .prepare("SELECT id, launch_path FROM lessons WHERE course_id = ?1 AND launch_path IS NOT NULL")?
                .query_map([course_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let kept: Vec<(String, String)> = c
                .prepare("SELECT path, sha256 FROM package_files WHERE course_id = ?1 ORDER BY path")?
                .query_map([course_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((launches, kept, quizzes))
        })
        .await?;
    for (path, sum) in kept {
        zip.start_file(format!("{PAGES}{path}"), deflate)
            .map_err(zerr)?;
        copy_blob(app, sum, &mut zip).await?;
    }
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
                copy_blob(app, a.sha256.clone(), &mut zip).await?;
                files.push(name);
            }
            let quiz = match quizzes.get(&l.id) {
                Some(quiz) => {
                    let name = format!("quizzes/{stem}.json");
                    let json =
                        serde_json::to_vec_pretty(quiz).map_err(|e| Error::Internal(e.into()))?;
                    zip.start_file(name.as_str(), deflate).map_err(zerr)?;
                    zip.write_all(&json).map_err(ioerr)?;
                    Some(name)
                }
                None => None,
            };
            lessons.push(ManifestLesson {
                title: l.title.clone(),
                file,
                files,
                launch: launches.get(&l.id).map(|p| format!("{PAGES}{p}")),
                quiz,
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

/// Writes the stored bytes `sum` into the zip entry just started, chunk by chunk.
async fn copy_blob(app: &App, sum: String, out: &mut impl Write) -> Result<()> {
    let mut index = 0u32;
    while let Some(chunk) = content::get_chunk(&app.content, sum.clone(), index).await? {
        out.write_all(&chunk)
            .map_err(|e| Error::Internal(anyhow::anyhow!("writing the package: {e}")))?;
        index += 1;
    }
    Ok(())
}
