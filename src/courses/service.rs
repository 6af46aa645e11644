//! Course operations that span SQLite and the content store. Every one checks access through the rules in
//! the parent module, inside the same transaction that acts on the data.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::upload::Staged;
use super::{
    Attachment, Course, CourseDetail, CourseStatus, Lesson, Module, check_body, check_capacity,
    check_description, check_title, content, render, reorder, require_author, require_edit,
    require_lesson_read, require_view, store,
};
use crate::App;
use crate::accounts::Actor;
use crate::error::{Error, Result};

/// Input for a new course.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCourse {
    /// Title, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    /// Description.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    /// Seats in all; omit for no limit.
    #[schema(minimum = 0, maximum = 100000)]
    pub capacity: Option<i64>,
}

/// Changes to a course; omitted fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseUpdate {
    /// New title.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    /// New description.
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// New capacity; `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100000)]
    pub capacity: Option<Option<i64>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A course with its outline.
fn detail(conn: &rusqlite::Connection, id: i64) -> Result<CourseDetail> {
    Ok(CourseDetail {
        course: store::get_course(conn, id)?,
        modules: store::outline(conn, id)?,
    })
}

/// Catalog order.
pub const ORDERS: &[&str] = &["newest", "oldest", "title", "popular"];

/// Creates a draft course owned by the caller (or by `owner_id` for the system).
pub async fn create_course(
    app: &App,
    actor: Actor,
    owner_id: i64,
    input: NewCourse,
) -> Result<Course> {
    require_author(&actor)?;
    let title = check_title("title", &input.title)?;
    let description = check_description(&input.description)?;
    let capacity = check_capacity(input.capacity)?;
    app.db
        .write(move |tx| {
            let id = store::insert_course(tx, owner_id, &title, &description, capacity)?;
            store::get_course(tx, id)
        })
        .await
}

/// A course with its outline, if the caller may see it.
pub async fn course_detail(app: &App, actor: Option<Actor>, id: i64) -> Result<CourseDetail> {
    app.db
        .read(move |c| {
            require_view(c, actor.as_ref(), id)?;
            detail(c, id)
        })
        .await
}

/// The catalog: published courses, plus the caller's own (all of them for admins).
pub async fn list_courses(
    app: &App,
    actor: Option<Actor>,
    q: Option<String>,
    order: Option<String>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Course>, i64)> {
    let order = order.unwrap_or_else(|| "newest".into());
    if !ORDERS.contains(&order.as_str()) {
        return Err(Error::invalid(
            "order",
            "order must be newest, oldest, title or popular",
        ));
    }
    app.db
        .read(move |c| {
            store::list_courses(
                c,
                &store::CatalogFilter {
                    viewer: actor.as_ref().and_then(Actor::user_id),
                    admin: actor.as_ref().is_some_and(Actor::is_admin),
                    q: q.as_deref(),
                    order: &order,
                    limit,
                    offset,
                },
            )
        })
        .await
}

/// Changes a course's title, description or capacity.
pub async fn update_course(
    app: &App,
    actor: Actor,
    id: i64,
    change: CourseUpdate,
) -> Result<CourseDetail> {
    let title = change
        .title
        .as_deref()
        .map(|t| check_title("title", t))
        .transpose()?;
    let description = change
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let capacity = change.capacity.map(check_capacity).transpose()?;
    app.db
        .write(move |tx| {
            require_edit(tx, &actor, id)?;
            store::update_course(tx, id, title.as_deref(), description.as_deref(), capacity)?;
            detail(tx, id)
        })
        .await
}

/// Deletes a course with its modules, lessons, attachments and enrollments, then its content.
pub async fn delete_course(app: &App, actor: Actor, id: i64) -> Result<()> {
    let hashes = app
        .db
        .write(move |tx| {
            require_edit(tx, &actor, id)?;
            let hashes = store::course_hashes(tx, id)?;
            store::delete_course(tx, id)?;
            crate::search::schedule_index(tx, id)?;
            Ok(hashes)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, hashes).await?;
    tracing::info!(course.id = id, "course deleted");
    Ok(())
}

/// Closes a published course to new students; enrolled students keep reading.
pub async fn archive_course(app: &App, actor: Actor, id: i64) -> Result<Course> {
    app.db
        .write(move |tx| {
            let course = require_edit(tx, &actor, id)?;
            if course.status != CourseStatus::Published {
                return Err(Error::conflict(
                    "not_published",
                    "only a published course can be archived",
                ));
            }
            store::set_status(tx, id, CourseStatus::Archived)?;
            store::get_course(tx, id)
        })
        .await
}

/// Adds a module at `position` (default: last).
pub async fn create_module(
    app: &App,
    actor: Actor,
    course_id: i64,
    title: String,
    position: Option<i64>,
) -> Result<Module> {
    let title = check_title("title", &title)?;
    app.db
        .write(move |tx| {
            require_edit(tx, &actor, course_id)?;
            let id = store::insert_module(tx, course_id, &title)?;
            store::write_positions(
                tx,
                "modules",
                &reorder(store::module_ids(tx, course_id)?, id, position),
            )?;
            store::touch_course(tx, course_id)?;
            store::module(tx, id)?.ok_or(Error::NotFound)
        })
        .await
}

/// Renames and/or moves a module.
pub async fn update_module(
    app: &App,
    actor: Actor,
    id: i64,
    title: Option<String>,
    position: Option<i64>,
) -> Result<Module> {
    let title = title
        .as_deref()
        .map(|t| check_title("title", t))
        .transpose()?;
    app.db
        .write(move |tx| {
            let module = store::module(tx, id)?.ok_or(Error::NotFound)?;
            require_edit(tx, &actor, module.course_id)?;
            if let Some(t) = &title {
                store::rename_module(tx, id, t)?;
            }
            if position.is_some() {
                store::write_positions(
                    tx,
                    "modules",
                    &reorder(store::module_ids(tx, module.course_id)?, id, position),
                )?;
            }
            store::touch_course(tx, module.course_id)?;
            store::module(tx, id)?.ok_or(Error::NotFound)
        })
        .await
}

/// Deletes a module with its lessons and their content.
pub async fn delete_module(app: &App, actor: Actor, id: i64) -> Result<()> {
    let hashes = app
        .db
        .write(move |tx| {
            let module = store::module(tx, id)?.ok_or(Error::NotFound)?;
            require_edit(tx, &actor, module.course_id)?;
            let hashes = store::module_hashes(tx, id)?;
            store::delete_module(tx, id)?;
            let rest = store::module_ids(tx, module.course_id)?;
            store::write_positions(tx, "modules", &rest)?;
            store::touch_course(tx, module.course_id)?;
            crate::search::schedule_index(tx, module.course_id)?;
            Ok(hashes)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, hashes).await?;
    Ok(())
}

/// Input for a new lesson.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLesson {
    /// Title.
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
            store::touch_course(tx, course_id)?;
            crate::search::schedule_index(tx, course_id)?;
            Ok(id)
        })
        .await?;
    drop(guard);
    get_lesson(app, actor, id).await
}

/// A lesson to read, with its body rendered; the Markdown source only for editors.
pub async fn get_lesson(app: &App, actor: Actor, id: i64) -> Result<Lesson> {
    let reader = actor.user_id();
    let (row, attachments, editor, resume_here, course_created) = app
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
            let editor = super::may_edit(&actor, &course);
            // Only a student whose resume point is another lesson needs a write.
            let resume_here = match reader.filter(|_| !editor) {
                Some(user) => c
                    .query_row(
                        "SELECT last_lesson_id IS NOT ?3 FROM enrollments WHERE course_id = ?1 AND user_id = ?2",
                        rusqlite::params![course.id, user, id],
                        |r| r.get::<_, bool>(0),
                    )
                    .optional()?
                    .unwrap_or(false),
                None => false,
            };
            Ok((
                row,
                store::attachments_of(c, id)?,
                editor,
                resume_here,
                course_created,
            ))
        })
        .await?;
    if let Some(user) = reader.filter(|_| resume_here) {
        // Where to resume; a failure here must not cost the student their lesson.
        if let Err(e) = app
            .db
            .write(move |tx| crate::learning::progress::opened(tx, user, id))
            .await
        {
            tracing::warn!(error = %e, "could not record the lesson opened");
        }
    }
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
            (Some(p), Some(created)) => Some(super::launch::url(app, row.course_id, &created, p)?),
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
            let course = require_lesson_read(tx, &write_actor, id)?;
            if !super::may_edit(&write_actor, &course) {
                return Err(Error::Forbidden);
            }
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
            store::touch_course(tx, row.course_id)?;
            crate::search::schedule_index(tx, row.course_id)?;
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
            let course = require_lesson_read(tx, &actor, id)?;
            if !super::may_edit(&actor, &course) {
                return Err(Error::Forbidden);
            }
            let hashes = store::lesson_hashes(tx, id)?;
            store::delete_lesson(tx, id)?;
            store::write_positions(tx, "lessons", &store::lesson_ids(tx, row.module_id)?)?;
            store::touch_course(tx, row.course_id)?;
            crate::search::schedule_index(tx, row.course_id)?;
            Ok(hashes)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, hashes).await?;
    Ok(())
}

/// The whole order of a course: modules in order, each with its lessons in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Structure {
    /// Every module of the course, in the new order.
    pub modules: Vec<ModuleOrder>,
}

/// One module's place and lessons.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleOrder {
    /// Module id.
    pub id: i64,
    /// Every lesson that belongs in it, in order (lessons may move between modules).
    pub lessons: Vec<i64>,
}

/// Reorders modules and lessons in one step. The structure must name every module and lesson of the course
/// exactly once.
pub async fn set_structure(
    app: &App,
    actor: Actor,
    course_id: i64,
    structure: Structure,
) -> Result<CourseDetail> {
    app.db
        .write(move |tx| {
            require_edit(tx, &actor, course_id)?;
            let outline = store::outline(tx, course_id)?;
            let mut have_modules: Vec<i64> = outline.iter().map(|m| m.id).collect();
            let mut have_lessons: Vec<i64> = outline
                .iter()
                .flat_map(|m| m.lessons.iter().map(|l| l.id))
                .collect();
            let mut got_modules: Vec<i64> = structure.modules.iter().map(|m| m.id).collect();
            let mut got_lessons: Vec<i64> = structure
                .modules
                .iter()
                .flat_map(|m| m.lessons.iter().copied())
                .collect();
            for v in [
                &mut have_modules,
                &mut have_lessons,
                &mut got_modules,
                &mut got_lessons,
            ] {
                v.sort_unstable();
            }
            if have_modules != got_modules || have_lessons != got_lessons {
                return Err(Error::invalid(
                    "modules",
                    "the structure must list every module and lesson of the course exactly once",
                ));
            }
            let order: Vec<i64> = structure.modules.iter().map(|m| m.id).collect();
            store::write_positions(tx, "modules", &order)?;
            for m in &structure.modules {
                for l in &m.lessons {
                    store::update_lesson(tx, *l, None, None, Some(m.id))?;
                }
                store::write_positions(tx, "lessons", &m.lessons)?;
            }
            store::touch_course(tx, course_id)?;
            detail(tx, course_id)
        })
        .await
}

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
        .read(move |c| {
            let course = require_lesson_read(c, &check_actor, lesson_id)?;
            if super::may_edit(&check_actor, &course) {
                Ok(())
            } else {
                Err(Error::Forbidden)
            }
        })
        .await?;
    content::put_blob(&app.content, sum.clone(), path).await?;
    let (filename, content_type) = (staged.filename.clone(), staged.content_type);
    let stored = sum.clone();
    let result = app
        .db
        .write(move |tx| {
            let course = require_lesson_read(tx, &actor, lesson_id)?;
            if !super::may_edit(&actor, &course) {
                return Err(Error::Forbidden);
            }
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
            store::touch_course(tx, course.id)?;
            // A PDF's pages and a subtitle file's words are searchable with the lesson.
            crate::search::schedule_index(tx, course.id)?;
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
pub async fn subtitle_cues(app: &App, actor: Actor, id: i64) -> Result<Vec<super::subtitles::Cue>> {
    let a = attachment(app, actor, id).await?;
    subtitle_cues_of(app, &a).await
}

/// The cues of an attachment already checked for access.
pub async fn subtitle_cues_of(app: &App, a: &Attachment) -> Result<Vec<super::subtitles::Cue>> {
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
    Ok(super::subtitles::parse(&String::from_utf8_lossy(&bytes)))
}

/// Deletes an attachment and, if nothing else uses its bytes, the bytes.
pub async fn delete_attachment(app: &App, actor: Actor, id: i64) -> Result<()> {
    let sum = app
        .db
        .write(move |tx| {
            let a = store::attachment_by_id(tx, id)?.ok_or(Error::NotFound)?;
            let course = require_lesson_read(tx, &actor, a.lesson_id)?;
            if !super::may_edit(&actor, &course) {
                return Err(Error::Forbidden);
            }
            store::delete_attachment(tx, id)?;
            crate::search::schedule_index(tx, course.id)?;
            Ok(a.sha256)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, vec![sum]).await?;
    Ok(())
}
