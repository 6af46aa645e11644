//! Lessons: their bodies are Markdown in the content store, stored before the row that names them.

use serde::Deserialize;
use utoipa::ToSchema;

use super::changed;
use crate::App;
use crate::accounts::Actor;
use crate::courses::{
    Lesson, check_body, check_title, content, launch, may_edit, render, reorder, require_edit,
    require_lesson_read, store,
};
use crate::error::{Error, Result};

/// Input for a new lesson.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLesson {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    /// Markdown body (at most 1 MiB).
    #[serde(default)]
    pub body_markdown: String,
    /// Module to put it in (default: the last module, created if the course has none).
    pub module: Option<i64>,
    /// Place within the module (default: last).
    pub position: Option<i64>,
}

/// Changes to a lesson; omitted fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LessonUpdate {
    /// New title.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    /// New Markdown body.
    pub body_markdown: Option<String>,
    /// Move to this module (of the same course).
    pub module: Option<i64>,
    /// Move to this place within its module.
    pub position: Option<i64>,
}

/// Adds a lesson to a course.
pub async fn create_lesson(
    app: &App,
    actor: Actor,
    course_id: i64,
    input: NewLesson,
) -> Result<Lesson> {
    let title = check_title("title", &input.title)?;
    check_body(&input.body_markdown)?;
    let check_actor = actor.clone();
    app.db
        .read(move |c| require_edit(c, &check_actor, course_id).map(drop))
        .await?;
    let bytes = input.body_markdown.len();
    // Store the body, then the row that refers to it, under the content lock (see content::collect_garbage).
    let guard = app.content.content_lock().await;
    let sum = content::put_body(&app.content, input.body_markdown).await?;
    let write_actor = actor.clone();
    let id = app
        .db
        .write(move |tx| {
            require_edit(tx, &write_actor, course_id)?;
            let module_id = match input.module {
                Some(m) => {
                    let module = store::module(tx, m)?.filter(|m| m.course_id == course_id);
                    module
                        .ok_or_else(|| Error::invalid("module", "no such module in this course"))?
                        .id
                }
                None => match store::module_ids(tx, course_id)?.last() {
                    Some(last) => *last,
                    None => store::insert_module(tx, course_id, "Lessons")?,
                },
            };
            let id = store::insert_lesson(tx, course_id, module_id, &title, &sum, bytes)?;
            if input.position.is_some() {
                store::write_positions(
                    tx,
                    "lessons",
                    &reorder(store::lesson_ids(tx, module_id)?, id, input.position),
                )?;
            }
            changed(tx, course_id)?;
            Ok(id)
        })
        .await?;
    drop(guard);
    get_lesson(app, actor, id).await
}

/// A lesson to read, with its body rendered; the Markdown source only for editors. (A student reading it moves
/// their resume point: `learning::progress::read_lesson`.)
pub async fn get_lesson(app: &App, actor: Actor, id: i64) -> Result<Lesson> {
    let (row, attachments, editor, course_created) = app
        .db
        .read(move |c| {
            let course = require_lesson_read(c, &actor, id)?;
            let row = store::lesson(c, id)?.ok_or(Error::NotFound)?;
            // What a launch page's capability names the course by, besides its id (`launch::url`).
            let course_created: Option<String> = match row.launch_path {
                Some(_) => Some(c.query_row(
                    "SELECT created_at FROM courses WHERE id = ?1",
                    [course.id],
                    |r| r.get(0),
                )?),
                None => None,
            };
            let editor = may_edit(&actor, &course);
            Ok((row, store::attachments_of(c, id)?, editor, course_created))
        })
        .await?;
    let markdown = content::get_body(&app.content, row.body_sha256.clone()).await?;
    let (html, markdown) =
        crate::blocking(move || Ok((render::markdown_to_html(&markdown), markdown))).await?;
    Ok(Lesson {
        id: row.id,
        course_id: row.course_id,
        module_id: row.module_id,
        title: row.title,
        position: row.position,
        body_html: html,
        body_markdown: editor.then_some(markdown),
        attachments,
        launch_url: match (row.launch_path.as_deref(), course_created) {
            (Some(p), Some(created)) => Some(launch::url(app, row.course_id, &created, p)?),
            _ => None,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Edits or moves a lesson.
pub async fn update_lesson(
    app: &App,
    actor: Actor,
    id: i64,
    change: LessonUpdate,
) -> Result<Lesson> {
    let title = change
        .title
        .as_deref()
        .map(|t| check_title("title", t))
        .transpose()?;
    if let Some(b) = &change.body_markdown {
        check_body(b)?;
    }
    let guard = app.content.content_lock().await;
    let body = match change.body_markdown {
        Some(b) => {
            let len = b.len();
            Some((content::put_body(&app.content, b).await?, len))
        }
        None => None,
    };
    let write_actor = actor.clone();
    let old = app
        .db
        .write(move |tx| {
            let row = store::lesson(tx, id)?.ok_or(Error::NotFound)?;
            crate::courses::require_lesson_edit(tx, &write_actor, id)?;
            let target = match change.module {
                Some(m) => {
                    let module = store::module(tx, m)?.filter(|m| m.course_id == row.course_id);
                    Some(
                        module
                            .ok_or_else(|| {
                                Error::invalid("module", "no such module in this course")
                            })?
                            .id,
                    )
                }
                None => None,
            };
            store::update_lesson(
                tx,
                id,
                title.as_deref(),
                body.as_ref().map(|(s, n)| (s.as_str(), *n)),
                target,
            )?;
            let module_id = target.unwrap_or(row.module_id);
            if target.is_some() || change.position.is_some() {
                store::write_positions(
                    tx,
                    "lessons",
                    &reorder(store::lesson_ids(tx, module_id)?, id, change.position),
                )?;
                if module_id != row.module_id {
                    store::write_positions(tx, "lessons", &store::lesson_ids(tx, row.module_id)?)?;
                }
            }
            changed(tx, row.course_id)?;
            Ok(row.body_sha256)
        })
        .await?;
    drop(guard);
    content::collect_garbage(&app.db, &app.content, vec![old]).await?;
    get_lesson(app, actor, id).await
}

/// Deletes a lesson with its attachments and content.
pub async fn delete_lesson(app: &App, actor: Actor, id: i64) -> Result<()> {
    let hashes = app
        .db
        .write(move |tx| {
            let row = store::lesson(tx, id)?.ok_or(Error::NotFound)?;
            crate::courses::require_lesson_edit(tx, &actor, id)?;
            let hashes = store::lesson_hashes(tx, id)?;
            store::delete_lesson(tx, id)?;
            store::write_positions(tx, "lessons", &store::lesson_ids(tx, row.module_id)?)?;
            changed(tx, row.course_id)?;
            Ok(hashes)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, hashes).await?;
    Ok(())
}
