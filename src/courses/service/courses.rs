//! Courses: creating, listing, changing, archiving and deleting them.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::detail;
use crate::App;
use crate::accounts::Actor;
use crate::courses::{
    Course, CourseDetail, CourseStatus, check_capacity, check_description, check_title, content,
    require_author, require_edit, require_view, store,
};
use crate::error::{Error, Result};

/// Input for a new course.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCourse {
    /// Title, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
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

/// Deletes a course and everything that hangs from it, in one transaction: modules, lessons, attachments,
/// package files, enrollments, progress, quizzes and attempts, tutor conversations, classroom answers,
/// search chunks with their vectors, and its figures (all `ON DELETE CASCADE`). The same transaction queues
/// `course.changed`, whose re-index job empties the course from the text index and forgets its vectors; the
/// content no other course refers to is collected after the commit. Users, other courses and the shared
/// content stay.
///
/// Refused with 409 `course_busy` while a workflow (publishing, an import) works on the course: its steps
/// would fail half-way. The system is exempt, because an import that fails removes its course from inside its
/// own workflow.
pub async fn delete_course(app: &App, actor: Actor, id: i64) -> Result<()> {
    let hashes = app
        .db
        .write(move |tx| {
            require_edit(tx, &actor, id)?;
            if actor != Actor::System && store::has_running_workflow(tx, id)? {
                return Err(Error::conflict(
                    "course_busy",
                    "the course is being published or imported; wait until that ends",
                ));
            }
            let hashes = store::course_hashes(tx, id)?;
            store::delete_course(tx, id)?;
            super::content_changed(tx, id)?;
            Ok(hashes)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, hashes).await?;
    tracing::info!(course.id = id, "course deleted");
    Ok(())
}

/// Hands a course over to another instructor or admin (admins only: an owner who leaves asks an admin).
/// 422 `invalid_input` on `owner_id` when that user is not an active instructor or admin.
pub async fn transfer_course(app: &App, actor: Actor, id: i64, owner_id: i64) -> Result<Course> {
    app.db
        .write(move |tx| {
            require_edit(tx, &actor, id)?;
            actor.require_admin()?;
            let owner = crate::accounts::user(tx, &actor, owner_id)?
                .ok_or_else(|| Error::invalid("owner_id", "there is no such user"))?;
            if owner.disabled
                || !matches!(
                    owner.role,
                    crate::accounts::Role::Instructor | crate::accounts::Role::Admin
                )
            {
                return Err(Error::invalid(
                    "owner_id",
                    "a course can only be handed to an active instructor or admin",
                ));
            }
            store::set_owner(tx, id, owner_id)?;
            tracing::info!(course.id = id, owner.id = owner_id, "course handed over");
            store::get_course(tx, id)
        })
        .await
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
