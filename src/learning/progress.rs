//! Progress: completed lessons, the percent of a course done, where to resume, and course completion.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::util::now_rfc3339;

/// The answer to completing a lesson.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Completion {
    pub lesson_id: i64,
    /// When it was first completed (completing again changes nothing).
    pub completed_at: String,
    /// The course's progress now, 0 to 100.
    pub course_progress: i64,
}

/// One student's progress in a course.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StudentProgress {
    /// The student.
    pub user_id: i64,
    pub full_name: String,
    /// Share of lessons completed, 0 to 100.
    pub percent: i64,
    /// Lessons completed, with when.
    pub completed: Vec<LessonDone>,
    /// When they completed the course.
    pub completed_at: Option<String>,
    /// The lesson they opened last.
    pub last_lesson_id: Option<i64>,
}

/// A completed lesson.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LessonDone {
    pub lesson_id: i64,
    /// When.
    pub completed_at: String,
}

/// Progress in a course: the caller's own for a student, every student's for the owner and admins.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CourseProgress {
    pub course_id: i64,
    /// Lessons in the course.
    pub lesson_count: i64,
    /// Students, by name.
    pub students: Vec<StudentProgress>,
}

fn done_count(conn: &Connection, course_id: i64, user_id: i64) -> Result<i64> {
    // Only lessons that still exist count (deleted lessons cascade away).
    Ok(conn.query_row(
        "SELECT count(*) FROM lesson_progress WHERE course_id = ?1 AND user_id = ?2",
        [course_id, user_id],
        |r| r.get(0),
    )?)
}

/// A student's percent of a course done.
pub fn percent(conn: &Connection, course_id: i64, user_id: i64) -> Result<i64> {
    let total = courses::lesson_count(conn, course_id)?;
    if total == 0 {
        return Ok(0);
    }
    Ok(done_count(conn, course_id, user_id)? * 100 / total)
}

/// Marks a lesson complete for the calling student; idempotent. 404 unless they are enrolled in its course.
/// Emits `lesson.completed` the first time, and `course.completed` when it was the last lesson left.
pub fn complete(tx: &Transaction, actor: &Actor, lesson_id: i64) -> Result<Completion> {
    let user_id = actor.user_id().ok_or(Error::NotFound)?;
    complete_for(tx, user_id, lesson_id)
}

/// [`complete`] for student `user_id`: what passing a quiz does on their behalf.
pub fn complete_for(tx: &Transaction, user_id: i64, lesson_id: i64) -> Result<Completion> {
    let course_id = courses::lesson_ref(tx, lesson_id)?.ok_or(Error::NotFound)?;
    if !super::enrollment::is_enrolled(tx, course_id, user_id)? {
        return Err(Error::NotFound);
    }
    let now = now_rfc3339();
    let inserted = tx.execute(
        "INSERT INTO lesson_progress (user_id, lesson_id, course_id, completed_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![user_id, lesson_id, course_id, now],
    )?;
    let completed_at: String = tx.query_row(
        "SELECT completed_at FROM lesson_progress WHERE user_id = ?1 AND lesson_id = ?2",
        [user_id, lesson_id],
        |r| r.get(0),
    )?;
    let course_progress = percent(tx, course_id, user_id)?;
    if inserted == 1 {
        crate::events::emit(
            tx,
            &Event::LessonCompleted {
                lesson_id,
                course_id,
                user_id,
                completed_at: now.clone(),
            },
        )?;
        if course_progress == 100 {
            let first = tx.execute(
                "UPDATE enrollments SET completed_at = ?3 WHERE course_id = ?1 AND user_id = ?2 AND completed_at IS NULL",
                params![course_id, user_id, now],
            )?;
            if first == 1 {
                let days: f64 = tx.query_row(
                    "SELECT julianday(completed_at) - julianday(enrolled_at) FROM enrollments
                     WHERE course_id = ?1 AND user_id = ?2",
                    [course_id, user_id],
                    |r| r.get(0),
                )?;
                crate::events::emit(
                    tx,
                    &Event::CourseCompleted {
                        course_id,
                        user_id,
                        days_to_complete: days,
                    },
                )?;
            }
        }
    }
    Ok(Completion {
        lesson_id,
        completed_at,
        course_progress,
    })
}

/// Remembers the lesson a student opened, so they can resume there. Does nothing for non-students.
pub fn opened(tx: &Transaction, user_id: i64, lesson_id: i64) -> Result<()> {
    tx.execute(
        "UPDATE enrollments SET last_lesson_id = ?2
         WHERE user_id = ?1 AND course_id = (SELECT course_id FROM lessons WHERE id = ?2)
           AND last_lesson_id IS NOT ?2",
        params![user_id, lesson_id],
    )?;
    Ok(())
}

/// A lesson for its reader ([`courses::service::get_lesson`]). A student's resume point moves to it; the write
/// is made only when it is elsewhere, and its failure does not cost the student their lesson.
pub async fn read_lesson(app: &crate::App, actor: Actor, id: i64) -> Result<courses::Lesson> {
    let reader = actor.user_id();
    let lesson = courses::service::get_lesson(app, actor, id).await?;
    // Editors get the Markdown source; their reading is not a student's progress.
    let Some(user) = reader.filter(|_| lesson.body_markdown.is_none()) else {
        return Ok(lesson);
    };
    let course = lesson.course_id;
    let elsewhere = app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT last_lesson_id IS NOT ?3 FROM enrollments WHERE course_id = ?1 AND user_id = ?2",
                params![course, user, id],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false))
        })
        .await;
    if matches!(elsewhere, Ok(true))
        && let Err(e) = app.db.write(move |tx| opened(tx, user, id)).await
    {
        tracing::warn!(error = %e, "could not record the lesson opened");
    }
    Ok(lesson)
}

/// Progress in a course. Students see their own (404 unless enrolled); the owner and admins see every
/// enrolled student's.
pub fn course_progress(conn: &Connection, actor: &Actor, course_id: i64) -> Result<CourseProgress> {
    let course = courses::course_ref(conn, course_id)?.ok_or(Error::NotFound)?;
    let user_ids: Vec<i64> = if courses::may_edit(actor, &course) {
        conn.prepare("SELECT e.user_id FROM enrollments e JOIN users u ON u.id = e.user_id WHERE e.course_id = ?1 ORDER BY u.full_name, u.id")?
            .query_map([course_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    } else {
        let me = actor.user_id().ok_or(Error::NotFound)?;
        if !super::enrollment::is_enrolled(conn, course_id, me)? {
            return Err(Error::NotFound);
        }
        vec![me]
    };
    let mut students = Vec::with_capacity(user_ids.len());
    for user_id in user_ids {
        let (full_name, completed_at, last_lesson_id): (String, Option<String>, Option<i64>) = conn
            .query_row(
                "SELECT u.full_name, e.completed_at, e.last_lesson_id FROM enrollments e JOIN users u ON u.id = e.user_id
                 WHERE e.course_id = ?1 AND e.user_id = ?2",
                [course_id, user_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or(Error::NotFound)?;
        let completed = conn
            .prepare("SELECT lesson_id, completed_at FROM lesson_progress WHERE course_id = ?1 AND user_id = ?2 ORDER BY completed_at, lesson_id")?
            .query_map([course_id, user_id], |r| Ok(LessonDone { lesson_id: r.get(0)?, completed_at: r.get(1)? }))?
            .collect::<Result<_, _>>()?;
        students.push(StudentProgress {
            user_id,
            full_name,
            percent: percent(conn, course_id, user_id)?,
            completed,
            completed_at,
            last_lesson_id,
        });
    }
    Ok(CourseProgress {
        course_id,
        lesson_count: courses::lesson_count(conn, course_id)?,
        students,
    })
}

/// Whether a student has completed a lesson.
pub fn is_completed(conn: &Connection, user_id: i64, lesson_id: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM lesson_progress WHERE user_id = ?1 AND lesson_id = ?2",
            [user_id, lesson_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The lessons of a course a student has completed, in id order.
pub fn completed_lessons(conn: &Connection, course_id: i64, user_id: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT lesson_id FROM lesson_progress WHERE course_id = ?1 AND user_id = ?2 ORDER BY lesson_id",
    )?;
    Ok(stmt
        .query_map([course_id, user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// What the `progress` subscriber does when a student enrols: start them at the first lesson.
pub fn initialise(tx: &Transaction, course_id: i64, user_id: i64) -> Result<()> {
    tx.execute(
        "UPDATE enrollments SET progress_started_at = ?3,
            last_lesson_id = coalesce(last_lesson_id, (
                SELECT l.id FROM lessons l JOIN modules m ON m.id = l.module_id
                WHERE l.course_id = ?1 ORDER BY m.position, l.position LIMIT 1))
         WHERE course_id = ?1 AND user_id = ?2 AND progress_started_at IS NULL",
        params![course_id, user_id, now_rfc3339()],
    )?;
    Ok(())
}
