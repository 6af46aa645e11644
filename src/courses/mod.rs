//! Courses, their modules and lessons, and attachments.
//!
//! Metadata is relational (SQLite); lesson bodies and attachment bytes are in redb ([`content`]). The access
//! rules are here, shared by every entry point:
//!
//! | who | sees a course | changes it | reads its lessons |
//! |---|---|---|---|
//! | owner, admin, system | always | yes | yes |
//! | anyone else | when published | no (403) | when enrolled and published or archived |
//!
//! A course the caller may not see answers 404, as if it did not exist.

pub mod content;
pub mod launch;
pub mod math;
pub mod render;
pub mod routes;
pub mod service;
mod store;
pub use smartcourse_formats::subtitles;
pub mod upload;

use std::fmt;
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{Actor, Role};
use crate::error::{Error, Result};

pub use store::{course_ref, lesson_ref, referenced_hashes};

/// Where a course is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CourseStatus {
    /// Being built; only its owner and admins see it.
    Draft,
    /// The publish workflow is running.
    Publishing,
    /// Open to everyone.
    Published,
    /// Closed for new enrollments; enrolled students keep reading.
    Archived,
}

impl CourseStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CourseStatus::Draft => "draft",
            CourseStatus::Publishing => "publishing",
            CourseStatus::Published => "published",
            CourseStatus::Archived => "archived",
        }
    }
}

impl fmt::Display for CourseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CourseStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "draft" => CourseStatus::Draft,
            "publishing" => CourseStatus::Publishing,
            "published" => CourseStatus::Published,
            "archived" => CourseStatus::Archived,
            _ => return Err(Error::invalid("status", "unknown course status")),
        })
    }
}

/// A course as listed in the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Course {
    pub id: i64,
    pub title: String,
    /// Description (plain text).
    pub description: String,
    /// Seats in all; `null` for no limit.
    pub capacity: Option<i64>,
    pub status: CourseStatus,
    /// The instructor who owns it.
    pub owner_id: i64,
    /// The owner's name.
    pub owner_name: String,
    /// Lessons in the course.
    pub lesson_count: i64,
    /// Students enrolled.
    pub enrolled_count: i64,
    /// Seats still free; `null` for no limit.
    pub seats_left: Option<i64>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// When it was first published.
    pub published_at: Option<String>,
}

/// A course with its outline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CourseDetail {
    #[serde(flatten)]
    pub course: Course,
    /// Its modules in order, each with its lessons in order.
    pub modules: Vec<ModuleOutline>,
}

/// A module (section) and its lessons.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModuleOutline {
    pub id: i64,
    pub title: String,
    /// Place among the course's modules, from 0.
    pub position: i64,
    /// Lessons in order.
    pub lessons: Vec<LessonOutline>,
}

/// A lesson in an outline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LessonOutline {
    pub id: i64,
    pub title: String,
    /// Place within its module, from 0.
    pub position: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Module {
    pub id: i64,
    pub course_id: i64,
    pub title: String,
    /// Place among the course's modules, from 0.
    pub position: i64,
}

/// A lesson to read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Lesson {
    pub id: i64,
    pub course_id: i64,
    pub module_id: i64,
    pub title: String,
    /// Place within its module.
    pub position: i64,
    /// The body rendered to sanitised HTML.
    pub body_html: String,
    /// The Markdown source; only for those who may edit the course.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_markdown: Option<String>,
    /// Files attached to the lesson.
    pub attachments: Vec<Attachment>,
    /// For a lesson that is an interactive page from a package (SCORM): where the page runs, on the package
    /// server's own port (see `courses::launch`). The URL carries a capability for the course's package files,
    /// valid for some hours; ask for the lesson again for a fresh one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_url: Option<String>,
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

/// A file attached to a lesson.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub lesson_id: i64,
    /// File name as uploaded (made safe).
    pub filename: String,
    /// Content type, detected from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// Where to download it.
    pub url: String,
    /// Uploaded.
    pub created_at: String,
}

impl Attachment {
    /// Whether this is a subtitle file (SubRip or WebVTT).
    pub fn is_subtitles(&self) -> bool {
        self.content_type.starts_with("text/vtt")
            || self.content_type.starts_with("application/x-subrip")
    }

    /// Whether a browser plays this in a `<video>` or `<audio>` element.
    pub fn is_media(&self) -> bool {
        self.content_type.starts_with("video/") || self.content_type.starts_with("audio/")
    }
}

/// What the access rules need to know about a course.
#[derive(Debug, Clone)]
pub struct CourseRef {
    pub id: i64,
    pub owner_id: i64,
    pub status: CourseStatus,
}

fn owns_or_admin(actor: &Actor, course: &CourseRef) -> bool {
    actor.is_admin() || actor.user_id() == Some(course.owner_id)
}

/// Whether `actor` may see `course` (its catalog entry and outline).
pub fn can_view(actor: Option<&Actor>, course: &CourseRef) -> bool {
    course.status == CourseStatus::Published || actor.is_some_and(|a| owns_or_admin(a, course))
}

/// The course if `actor` may change it: 404 if they may not even see it, 403 if they only see it.
pub fn require_edit(conn: &Connection, actor: &Actor, course_id: i64) -> Result<CourseRef> {
    let course = course_ref(conn, course_id)?.ok_or(Error::NotFound)?;
    if owns_or_admin(actor, &course) {
        Ok(course)
    } else if can_view(Some(actor), &course) {
        Err(Error::Forbidden)
    } else {
        Err(Error::NotFound)
    }
}

/// The course if `actor` (or an anonymous caller) may see it, else 404.
pub fn require_view(conn: &Connection, actor: Option<&Actor>, course_id: i64) -> Result<CourseRef> {
    let course = course_ref(conn, course_id)?.ok_or(Error::NotFound)?;
    if can_view(actor, &course) {
        Ok(course)
    } else {
        Err(Error::NotFound)
    }
}

/// Whether `actor` may read the lessons of `course`: editors always; students when enrolled in a published or
/// archived course ([`crate::accounts::policy`]).
pub fn may_read_lessons(conn: &Connection, actor: &Actor, course: &CourseRef) -> Result<bool> {
    if owns_or_admin(actor, course) {
        return Ok(true);
    }
    crate::accounts::policy::may_read_lessons(conn, actor, course.id)
}

/// Opens a course to students and tells the subscribers (`course.published`), in the caller's transaction: the
/// last step of publishing and of an import with publish.
pub fn open(tx: &rusqlite::Transaction, id: i64) -> Result<()> {
    store::set_status(tx, id, CourseStatus::Published)?;
    crate::events::emit(tx, &crate::events::Event::CoursePublished { course_id: id })?;
    tracing::info!(course.id = id, "course published");
    Ok(())
}

/// Marks a draft course as being published (the publish workflow sets it back to draft if it fails).
pub fn mark_publishing(tx: &rusqlite::Transaction, id: i64) -> Result<()> {
    store::set_status(tx, id, CourseStatus::Publishing)
}

/// How many lessons a course has, in all its modules.
pub fn lesson_count(conn: &Connection, id: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM lessons WHERE course_id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

/// A course's title, or `None` when there is no such course.
pub fn title(conn: &Connection, course_id: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT title FROM courses WHERE id = ?1",
            [course_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// A module by id (no access check: the change that follows checks).
pub fn module_of(conn: &Connection, id: i64) -> Result<Module> {
    store::module(conn, id)?.ok_or(Error::NotFound)
}

/// Whether `actor` may change `course`.
pub fn may_edit(actor: &Actor, course: &CourseRef) -> bool {
    owns_or_admin(actor, course)
}

/// The course of lesson `lesson_id` if `actor` may read the lesson: 404 when they may not see the course,
/// 403 when they see it but are not enrolled.
pub fn require_lesson_read(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<CourseRef> {
    let course_id = lesson_ref(conn, lesson_id)?.ok_or(Error::NotFound)?;
    require_lessons_read(conn, actor, course_id)
}

/// The course of lesson `lesson_id` if `actor` may change the lesson (its files, its text): 404 when they may
/// not see it, 403 when they may only read it. Checked before an upload reads a byte of its body.
pub fn require_lesson_edit(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<CourseRef> {
    let course = require_lesson_read(conn, actor, lesson_id)?;
    if may_edit(actor, &course) {
        Ok(course)
    } else {
        Err(Error::Forbidden)
    }
}

/// The course if `actor` may read its lessons (search it, ask the tutor about it): 404 when they may not see
/// the course, 403 when they see it but are not enrolled.
pub fn require_lessons_read(conn: &Connection, actor: &Actor, course_id: i64) -> Result<CourseRef> {
    let course = course_ref(conn, course_id)?.ok_or(Error::NotFound)?;
    if may_read_lessons(conn, actor, &course)? {
        Ok(course)
    } else if can_view(Some(actor), &course) {
        Err(Error::Forbidden)
    } else {
        Err(Error::NotFound)
    }
}

/// A course's catalog entry (no access check: callers check first).
pub fn course_summary(conn: &Connection, id: i64) -> Result<Course> {
    store::get_course(conn, id)
}

/// Only instructors and admins create courses.
pub fn require_author(actor: &Actor) -> Result<()> {
    match actor {
        Actor::System => Ok(()),
        Actor::User(u) if matches!(u.role, Role::Instructor | Role::Admin) => Ok(()),
        Actor::User(_) => Err(Error::Forbidden),
    }
}

/// Checks and trims a title.
pub fn check_title(field: &'static str, title: &str) -> Result<String> {
    let t = title.trim();
    if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(Error::invalid(field, "a title needs 1 to 200 characters"));
    }
    Ok(t.to_owned())
}

/// Checks a description.
pub fn check_description(d: &str) -> Result<String> {
    if d.chars().count() > 10_000 {
        return Err(Error::invalid("description", "at most 10,000 characters"));
    }
    Ok(d.trim().to_owned())
}

/// Checks a capacity.
pub fn check_capacity(c: Option<i64>) -> Result<Option<i64>> {
    match c {
        Some(n) if !(0..=100_000).contains(&n) => Err(Error::invalid(
            "capacity",
            "capacity must be between 0 and 100000",
        )),
        other => Ok(other),
    }
}

/// Largest lesson body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Checks a lesson body.
pub fn check_body(body: &str) -> Result<()> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid(
            "body_markdown",
            "a lesson body may have at most 1 MiB of text; split it into several lessons",
        ));
    }
    Ok(())
}

/// Moves `id` to `position` within `ids` (clamped), returning the new order.
pub fn reorder(mut ids: Vec<i64>, id: i64, position: Option<i64>) -> Vec<i64> {
    ids.retain(|x| *x != id);
    let at = position.map_or(ids.len(), |p| p.clamp(0, ids.len() as i64) as usize);
    ids.insert(at, id);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_moves_and_clamps() {
        assert_eq!(reorder(vec![1, 2, 3], 3, Some(0)), vec![3, 1, 2]);
        assert_eq!(reorder(vec![1, 2, 3], 1, Some(99)), vec![2, 3, 1]);
        assert_eq!(reorder(vec![1, 2, 3], 4, None), vec![1, 2, 3, 4]);
        assert_eq!(reorder(vec![1, 2, 3], 4, Some(-5)), vec![4, 1, 2, 3]);
    }

    #[test]
    fn validation() {
        assert!(check_title("title", "  ").is_err());
        assert_eq!(check_title("title", " Algebra ").unwrap(), "Algebra");
        assert!(check_capacity(Some(-1)).is_err());
        assert!(check_capacity(None).unwrap().is_none());
        assert!(check_body(&"x".repeat(MAX_BODY_BYTES + 1)).is_err());
    }
}
