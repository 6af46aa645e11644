//! Attachments: a lesson's files, their bytes in the content store, within the course's size limit.

use super::changed;
use crate::App;
use crate::accounts::Actor;
use crate::courses::upload::Staged;
use crate::courses::{
    Attachment, content, require_lesson_edit, require_lesson_read, store, subtitles,
};
use crate::error::{Error, Result};

/// Stores a staged upload as an attachment of a lesson, within the per-course limit.
pub async fn add_attachment(
    app: &App,
    actor: Actor,
    lesson_id: i64,
    staged: Staged,
) -> Result<Attachment> {
    let max_course = app.config.uploads.max_course_bytes as i64;
    let guard = app.content.content_lock().await;
    let path = staged.path.clone();
    let sum = staged.sha256.clone();
    let size = staged.size as i64;
    // Check access before copying the bytes in, and again in the transaction that refers to them.
    let check_actor = actor.clone();
    app.db
        .read(move |c| crate::courses::require_lesson_edit(c, &check_actor, lesson_id))
        .await?;
    content::put_blob(&app.content, sum.clone(), path).await?;
    let (filename, content_type) = (staged.filename.clone(), staged.content_type);
    let stored = sum.clone();
    let result = app
        .db
        .write(move |tx| {
            let course = require_lesson_edit(tx, &actor, lesson_id)?;
            if store::course_bytes(tx, course.id)? + size > max_course {
                return Err(Error::TooLarge(
                    format!(
                        "the course's files may take at most {} MiB in all",
                        max_course / (1024 * 1024)
                    )
                    .into(),
                ));
            }
            let id = store::insert_attachment(
                tx,
                lesson_id,
                course.id,
                &filename,
                content_type,
                size,
                &sum,
            )?;
            // A PDF's pages and a subtitle file's words are searchable with the lesson.
            changed(tx, course.id)?;
            store::attachment_by_id(tx, id)?.ok_or(Error::NotFound)
        })
        .await;
    drop(guard);
    drop(staged);
    if result.is_err() {
        // The bytes went in but nothing refers to them: take them out again.
        if let Err(e) = content::collect_garbage(&app.db, &app.content, vec![stored]).await {
            tracing::warn!(error = %e, "could not remove the bytes of a refused upload; doctor will");
        }
    }
    result
}

/// An attachment the caller may download.
pub async fn attachment(app: &App, actor: Actor, id: i64) -> Result<Attachment> {
    app.db
        .read(move |c| {
            let a = store::attachment_by_id(c, id)?.ok_or(Error::NotFound)?;
            require_lesson_read(c, &actor, a.lesson_id)?;
            Ok(a)
        })
        .await
}

/// Largest subtitle file read into cues (a two-hour film's SubRip is ~150 KiB).
pub const MAX_SUBTITLE_BYTES: i64 = 4 * 1024 * 1024;

/// The cues of a subtitle attachment (SubRip or WebVTT), for whoever may read its lesson.
pub async fn subtitle_cues(app: &App, actor: Actor, id: i64) -> Result<Vec<subtitles::Cue>> {
    let a = attachment(app, actor, id).await?;
    subtitle_cues_of(app, &a).await
}

/// The cues of an attachment already checked for access.
pub async fn subtitle_cues_of(app: &App, a: &Attachment) -> Result<Vec<subtitles::Cue>> {
    if !a.is_subtitles() {
        return Err(Error::invalid(
            "id",
            format!("{} is not a subtitle file (SubRip or WebVTT)", a.filename),
        ));
    }
    if a.size > MAX_SUBTITLE_BYTES {
        return Err(Error::TooLarge(
            format!("{} is too large to read as subtitles", a.filename).into(),
        ));
    }
    let bytes = content::get_bytes(&app.content, a.sha256.clone(), a.size as u64).await?;
    Ok(subtitles::parse(&String::from_utf8_lossy(&bytes)))
}

/// Deletes an attachment and, if nothing else uses its bytes, the bytes.
pub async fn delete_attachment(app: &App, actor: Actor, id: i64) -> Result<()> {
    let sum = app
        .db
        .write(move |tx| {
            let a = store::attachment_by_id(tx, id)?.ok_or(Error::NotFound)?;
            let course = require_lesson_edit(tx, &actor, a.lesson_id)?;
            store::delete_attachment(tx, id)?;
            super::content_changed(tx, course.id)?;
            Ok(a.sha256)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, vec![sum]).await?;
    Ok(())
}
