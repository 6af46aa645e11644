//! Enrollment: students join and leave published courses, within the course's capacity.
//!
//! Enrolling is one SQLite transaction: the course is published, the student is not enrolled, a seat is
//! free, the enrollment row and its `enrollment.created` event are written, commit. All writes go through
//! the single writer connection, so capacity holds however many requests arrive at once.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::{Actor, Role};
use crate::courses::{self, Course, CourseStatus};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::util::now_rfc3339;

/// A new enrollment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Enrollment {
    pub enrollment_id: i64,
    pub course_id: i64,
    /// When (RFC 3339).
    pub enrolled_at: String,
}

/// One of my courses.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyCourse {
    pub course: Course,
    /// When I enrolled.
    pub enrolled_at: String,
    /// Share of its lessons I completed, 0 to 100.
    pub progress_percent: i64,
    /// When I completed every lesson.
    pub completed_at: Option<String>,
    /// The lesson I opened last, to resume.
    pub last_lesson_id: Option<i64>,
}

fn require_student(actor: &Actor) -> Result<i64> {
    match actor {
        Actor::User(u) if u.role == Role::Student => Ok(u.id),
        _ => Err(Error::Forbidden),
    }
}

/// Enrols the calling student.
pub fn enroll(tx: &Transaction, actor: &Actor, course_id: i64) -> Result<Enrollment> {
    // Visibility first: a course the caller may not see is 404 whoever asks.
    let course = courses::require_view(tx, Some(actor), course_id)?;
    let user_id = require_student(actor)?;
    match course.status {
        CourseStatus::Published => {}
        CourseStatus::Archived => {
            return Err(Error::conflict(
                "course_archived",
                "this course is archived and takes no new students",
            ));
        }
        _ => {
            return Err(Error::conflict(
                "course_not_open",
                "this course is not open for enrollment yet",
            ));
        }
    }
    let existing: Option<i64> = tx
        .query_row(
            "SELECT id FROM enrollments WHERE course_id = ?1 AND user_id = ?2",
            [course_id, user_id],
            |r| r.get(0),
        )
        .optional()?;
    if existing.is_some() {
        return Err(Error::conflict(
            "already_enrolled",
            "you are already enrolled in this course",
        ));
    }
    let (capacity, taken): (Option<i64>, i64) = tx.query_row(
        "SELECT capacity, (SELECT count(*) FROM enrollments WHERE course_id = ?1) FROM courses WHERE id = ?1",
        [course_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if capacity.is_some_and(|c| taken >= c) {
        return Err(Error::conflict(
            "course_full",
            "this course has no free seats",
        ));
    }
    let now = now_rfc3339();
    tx.execute(
        "INSERT INTO enrollments (course_id, user_id, enrolled_at) VALUES (?1, ?2, ?3)",
        params![course_id, user_id, now],
    )?;
    let id = tx.last_insert_rowid();
    // Lessons done before (re-enrolling resumes): they count again in the course's funnel.
    let done = super::progress::completed_lessons(tx, course_id, user_id)?;
    let last: Option<String> = tx.query_row(
        "SELECT max(completed_at) FROM lesson_progress WHERE course_id = ?1 AND user_id = ?2",
        [course_id, user_id],
        |r| r.get(0),
    )?;
    crate::events::emit(
        tx,
        &Event::EnrollmentCreated {
            enrollment_id: id,
            course_id,
            user_id,
            day: now.get(..10).unwrap_or(&now).to_owned(),
            completed_lessons: done,
            last_completed_at: last,
        },
    )?;
    Ok(Enrollment {
        enrollment_id: id,
        course_id,
        enrolled_at: now,
    })
}

/// Unenrols the calling student (404 if not enrolled). Completed lessons are kept, so re-enrolling resumes.
pub fn unenroll(tx: &Transaction, actor: &Actor, course_id: i64) -> Result<()> {
    let Some(user_id) = actor.user_id() else {
        return Err(Error::NotFound);
    };
    courses::require_view(tx, Some(actor), course_id).or_else(|e| {
        // An archived course is not in the catalog but its students may still leave it.
        if is_enrolled(tx, course_id, user_id)? {
            Ok(courses::course_ref(tx, course_id)?.ok_or(Error::NotFound)?)
        } else {
            Err(e)
        }
    })?;
    // What leaves the course's figures with the student: their lessons in the funnel, their completion.
    let days_to_complete: Option<f64> = tx
        .query_row(
            "SELECT julianday(completed_at) - julianday(enrolled_at) FROM enrollments
             WHERE course_id = ?1 AND user_id = ?2 AND completed_at IS NOT NULL",
            [course_id, user_id],
            |r| r.get(0),
        )
        .optional()?;
    let done = super::progress::completed_lessons(tx, course_id, user_id)?;
    let removed = tx.execute(
        "DELETE FROM enrollments WHERE course_id = ?1 AND user_id = ?2",
        [course_id, user_id],
    )?;
    if removed == 0 {
        return Err(Error::NotFound);
    }
    crate::events::emit(
        tx,
        &Event::EnrollmentCancelled {
            course_id,
            user_id,
            completed_lessons: done,
            days_to_complete,
        },
    )?;
    Ok(())
}

/// Whether a user is enrolled in a course.
pub fn is_enrolled(conn: &Connection, course_id: i64, user_id: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM enrollments WHERE course_id = ?1 AND user_id = ?2",
            [course_id, user_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The caller's courses with their progress.
pub fn mine(conn: &Connection, actor: &Actor) -> Result<Vec<MyCourse>> {
    let user_id = actor.user_id().ok_or(Error::NotFound)?;
    let rows: Vec<(i64, String, Option<String>, Option<i64>)> = conn
        .prepare("SELECT course_id, enrolled_at, completed_at, last_lesson_id FROM enrollments WHERE user_id = ?1 ORDER BY id DESC")?
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(course_id, enrolled_at, completed_at, last_lesson_id)| {
            let course = courses::course_summary(conn, course_id)?;
            let percent = super::progress::percent(conn, course_id, user_id)?;
            Ok(MyCourse {
                course,
                enrolled_at,
                progress_percent: percent,
                completed_at,
                last_lesson_id,
            })
        })
        .collect()
}

/// The users enrolled in a course, in id order.
pub fn students(conn: &Connection, course_id: i64) -> Result<Vec<i64>> {
    let mut stmt = conn
        .prepare_cached("SELECT user_id FROM enrollments WHERE course_id = ?1 ORDER BY user_id")?;
    Ok(stmt
        .query_map([course_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}
