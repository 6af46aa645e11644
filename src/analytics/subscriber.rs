//! The analytics subscriber: each event adds its change to the kept figures, in its delivery's transaction.
//!
//! Every event is counted per UTC day and kind (`analytics_daily`, the activity chart); those about a course
//! also move that course's figures. Events carry the change itself (which lessons leave with a student, how
//! many days a completion took), so deliveries add up in any order.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::Result;
use crate::events::{Delivery, Event, Subscriber};

/// Keeps the report figures (`course_stats`, `lesson_stats`, `course_stats_daily`, `student_activity`,
/// `analytics_daily`).
pub struct Analytics;

impl Subscriber for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    /// Everything a person did; not the bookkeeping of derived data.
    fn hears(&self, event: &Event) -> bool {
        !matches!(event, Event::CourseChanged { .. })
    }

    fn handle(&self, tx: &Transaction, d: &Delivery) -> Result<()> {
        count_daily(tx, d.event.kind(), &d.created_at)?;
        apply(tx, d.event_id, &d.event)
    }
}

fn count_daily(tx: &Transaction, kind: &str, created_at: &str) -> Result<()> {
    let day = created_at.get(..10).unwrap_or(created_at);
    tx.execute(
        "INSERT INTO analytics_daily (day, kind, count) VALUES (?1, ?2, 1)
         ON CONFLICT (day, kind) DO UPDATE SET count = count + 1",
        params![day, kind],
    )?;
    Ok(())
}

/// Applies one event's change to a course's figures. Events from before the figures were first filled (by
/// the migration) are already in them.
fn apply(tx: &Transaction, event_id: i64, event: &Event) -> Result<()> {
    let from: i64 = tx.query_row(
        "SELECT from_event FROM analytics_state WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    if event_id < from {
        return Ok(());
    }
    let Some(course) = event.course_id() else {
        return Ok(());
    };
    let exists = tx
        .query_row("SELECT 1 FROM courses WHERE id = ?1", [course], |_| Ok(()))
        .optional()?
        .is_some();
    if !exists {
        return Ok(()); // The course is gone, and its figures with it.
    }
    tx.execute(
        "INSERT OR IGNORE INTO course_stats (course_id) VALUES (?1)",
        [course],
    )?;
    let bump_lessons = |ids: &[i64], column: &str, by: i64| -> Result<()> {
        for id in ids {
            tx.execute(
                &format!(
                    "INSERT INTO lesson_stats (lesson_id, course_id, {column})
                     SELECT id, course_id, ?2 FROM lessons WHERE id = ?1 AND course_id = ?3
                     ON CONFLICT (lesson_id) DO UPDATE SET {column} = {column} + ?2"
                ),
                params![id, by, course],
            )?;
        }
        Ok(())
    };
    match event {
        Event::EnrollmentCreated {
            user_id,
            day,
            completed_lessons,
            last_completed_at,
            ..
        } => {
            tx.execute(
                "UPDATE course_stats SET enrolled = enrolled + 1 WHERE course_id = ?1",
                [course],
            )?;
            tx.execute(
                "INSERT INTO course_stats_daily (course_id, day, enrollments) VALUES (?1, ?2, 1)
                 ON CONFLICT (course_id, day) DO UPDATE SET enrollments = enrollments + 1",
                params![course, day],
            )?;
            bump_lessons(completed_lessons, "completed_by", 1)?;
            if let Some(at) = last_completed_at {
                activity(tx, course, *user_id, at)?;
            }
        }
        Event::EnrollmentCancelled {
            user_id,
            completed_lessons,
            days_to_complete,
            ..
        } => {
            tx.execute(
                "UPDATE course_stats SET enrolled = enrolled - 1 WHERE course_id = ?1",
                [course],
            )?;
            bump_lessons(completed_lessons, "completed_by", -1)?;
            if let Some(days) = days_to_complete {
                tx.execute(
                    "UPDATE course_stats SET completed = completed - 1, completion_days = completion_days - ?2
                     WHERE course_id = ?1",
                    params![course, days],
                )?;
            }
            tx.execute(
                "DELETE FROM student_activity WHERE course_id = ?1 AND user_id = ?2",
                [course, *user_id],
            )?;
        }
        Event::LessonCompleted {
            lesson_id,
            user_id,
            completed_at,
            ..
        } => {
            bump_lessons(&[*lesson_id], "completed_by", 1)?;
            activity(tx, course, *user_id, completed_at)?;
        }
        Event::CourseCompleted {
            days_to_complete, ..
        } => {
            tx.execute(
                "UPDATE course_stats SET completed = completed + 1, completion_days = completion_days + ?2
                 WHERE course_id = ?1",
                params![course, days_to_complete],
            )?;
        }
        Event::TutorAnswered {
            abstained,
            lesson_id,
            ..
        } => {
            tx.execute(
                "UPDATE course_stats SET tutor_questions = tutor_questions + 1,
                   tutor_not_covered = tutor_not_covered + ?2 WHERE course_id = ?1",
                [course, i64::from(*abstained)],
            )?;
            if let Some(lesson) = lesson_id {
                bump_lessons(&[*lesson], "tutor_first", 1)?;
            }
        }
        // Quiz figures are read from the attempts themselves (quizzes::results); passing shows up here as
        // the lesson completed.
        Event::UserRegistered { .. }
        | Event::CoursePublished { .. }
        | Event::CourseChanged { .. }
        | Event::QuizAttempted { .. }
        | Event::QuizPassed { .. } => {}
    }
    Ok(())
}

/// Records that a student completed a lesson of a course at `at` (the latest such time is kept).
fn activity(tx: &Transaction, course: i64, user: i64, at: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO student_activity (course_id, user_id, last_completed_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (course_id, user_id) DO UPDATE
         SET last_completed_at = max(last_completed_at, excluded.last_completed_at)",
        params![course, user, at],
    )?;
    Ok(())
}
