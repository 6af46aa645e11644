//! Course operations that span SQLite and the content store, one file per object: `courses`,
//! `modules` (with the order of a course's outline), `lessons` and `attachments`.
//!
//! Every operation checks access through the rules in [`crate::courses`] inside the same transaction that acts
//! on the data, so a permission cannot change between the check and the write. Content is stored before the
//! row that refers to it, under the content lock (see [`super::content::collect_garbage`]); what a delete leaves
//! unreferenced is collected after its transaction commits.

mod attachments;
mod courses;
mod lessons;
mod modules;

pub use attachments::{
    MAX_SUBTITLE_BYTES, add_attachment, attachment, delete_attachment, subtitle_cues,
    subtitle_cues_of,
};
pub use courses::{
    CourseUpdate, NewCourse, ORDERS, archive_course, course_detail, create_course, delete_course,
    list_courses, transfer_course, update_course,
};
pub use lessons::{
    LessonUpdate, NewLesson, create_lesson, delete_lesson, get_lesson, update_lesson,
};
pub use modules::{
    ModuleOrder, Structure, create_module, delete_module, set_structure, update_module,
};

use super::{CourseDetail, store};
use crate::error::Result;

/// A course with its outline.
fn detail(conn: &rusqlite::Connection, id: i64) -> Result<CourseDetail> {
    Ok(CourseDetail {
        course: store::get_course(conn, id)?,
        modules: store::outline(conn, id)?,
    })
}

/// Records, in the transaction that makes it, that a course's lessons or files changed: the course's
/// `updated_at` moves, and `course.changed` tells search to rebuild its index (committed or rolled back
/// with the change).
fn changed(tx: &rusqlite::Transaction, course_id: i64) -> Result<()> {
    store::touch_course(tx, course_id)?;
    content_changed(tx, course_id)
}

/// Tells what derives from a course's content (search) that it changed, without touching the course: a
/// deleted course or attachment.
fn content_changed(tx: &rusqlite::Transaction, course_id: i64) -> Result<()> {
    // One waiting `course.changed` per course is enough: an import's hundreds of lessons need one reindex.
    crate::events::emit_coalesced(tx, &crate::events::Event::CourseChanged { course_id })?;
    Ok(())
}
