//! Analytics: enrollment, completion and tutor reports, as JSON, CSV, and charts in the UI.
//!
//! The figures are kept by the analytics subscriber of the event outbox ([`Analytics`]): each event carries the
//! change it makes to them (a student enrolled on this day, left with these completed lessons, completed the
//! course in so many days, asked the tutor a question it answered from this lesson), so deliveries add up in
//! any order and a redelivery counts once (the outbox records each delivery with its effect). A report reads
//! a few rows per course ([`enrollments`]); [`recompute`] computes the same figures from the source tables,
//! which the tests use to check that the two agree.

pub mod routes;
mod subscriber;

pub use subscriber::Analytics;

use rusqlite::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::{Actor, Role};
use crate::error::{Error, Result};
use crate::util::csv_field;

/// One course's enrollment report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CourseReport {
    pub course_id: i64,
    pub title: String,
    /// Students enrolled now.
    pub enrolled: i64,
    /// Of those, how many completed every lesson.
    pub completed: i64,
    /// completed / enrolled, in percent (0 when nobody is enrolled).
    pub completion_rate: i64,
    /// Enrolled students who completed a lesson in the last 7 days.
    pub active_7d: i64,
    /// Average days from enrolling to completing, for those who completed.
    pub avg_days_to_complete: Option<f64>,
    /// Enrollments per UTC day, oldest first (days without any are left out).
    pub daily: Vec<DayCount>,
    /// Each lesson in course order with how many enrolled students completed it: where students stop.
    pub funnel: Vec<LessonCount>,
    /// Questions asked to the tutor about the course.
    pub tutor_questions: i64,
    /// Of those, how many the tutor declined because the course does not cover them.
    pub tutor_not_covered: i64,
    /// The most-asked topics: the lessons the tutor's answers drew on first, most often first (top 5).
    pub tutor_topics: Vec<LessonCount>,
}

/// Completions of one lesson.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LessonCount {
    pub lesson_id: i64,
    pub title: String,
    /// Enrolled students who completed it (in `funnel`); questions answered from it first (in
    /// `tutor_topics`).
    pub completed: i64,
}

/// Enrollments on one day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayCount {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// New enrollments that day.
    pub enrollments: i64,
}

/// The courses whose reports `actor` may read: `None` for all (admins, the system), else the owner's id.
fn owner_filter(actor: &Actor) -> Result<Option<i64>> {
    match actor {
        Actor::System => Ok(None),
        Actor::User(u) if u.role == Role::Admin => Ok(None),
        Actor::User(u) if u.role == Role::Instructor => Ok(Some(u.id)),
        Actor::User(_) => Err(Error::Forbidden),
    }
}

/// Reports for the courses the actor may see the students of: their own (instructors) or all (admins).
/// Students have none (403). Read from the figures the analytics subscriber keeps.
pub fn enrollments(conn: &Connection, actor: &Actor) -> Result<Vec<CourseReport>> {
    let owner = owner_filter(actor)?;
    let week_ago = crate::util::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(7));
    let courses: Vec<(i64, String, i64, i64, f64, i64, i64)> = conn
        .prepare(
            "SELECT c.id, c.title, coalesce(s.enrolled, 0), coalesce(s.completed, 0),
                coalesce(s.completion_days, 0), coalesce(s.tutor_questions, 0), coalesce(s.tutor_not_covered, 0)
             FROM courses c LEFT JOIN course_stats s ON s.course_id = c.id
             WHERE ?1 IS NULL OR c.owner_id = ?1 ORDER BY c.id",
        )?
        .query_map([owner], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut daily_stmt = conn.prepare(
        "SELECT day, enrollments FROM course_stats_daily WHERE course_id = ?1 AND enrollments > 0 ORDER BY day",
    )?;
    let mut active_stmt = conn.prepare(
        "SELECT count(*) FROM student_activity a JOIN enrollments e
            ON e.course_id = a.course_id AND e.user_id = a.user_id
         WHERE a.course_id = ?1 AND a.last_completed_at >= ?2",
    )?;
    let mut funnel_stmt = conn.prepare(
        "SELECT l.id, l.title, coalesce(s.completed_by, 0)
         FROM lessons l JOIN modules m ON m.id = l.module_id LEFT JOIN lesson_stats s ON s.lesson_id = l.id
         WHERE l.course_id = ?1 ORDER BY m.position, l.position",
    )?;
    let mut topics_stmt = conn.prepare(
        "SELECT s.lesson_id, l.title, s.tutor_first FROM lesson_stats s JOIN lessons l ON l.id = s.lesson_id
         WHERE s.course_id = ?1 AND s.tutor_first > 0 ORDER BY s.tutor_first DESC, s.lesson_id LIMIT 5",
    )?;
    let count = |r: &rusqlite::Row| -> rusqlite::Result<LessonCount> {
        Ok(LessonCount {
            lesson_id: r.get(0)?,
            title: r.get(1)?,
            completed: r.get(2)?,
        })
    };
    courses
        .into_iter()
        .map(
            |(course_id, title, enrolled, completed, days, tutor_questions, tutor_not_covered)| {
                Ok(CourseReport {
                    daily: daily_stmt
                        .query_map([course_id], |r| {
                            Ok(DayCount {
                                day: r.get(0)?,
                                enrollments: r.get(1)?,
                            })
                        })?
                        .collect::<Result<_, _>>()?,
                    active_7d: active_stmt
                        .query_row(rusqlite::params![course_id, week_ago], |r| r.get(0))?,
                    funnel: funnel_stmt
                        .query_map([course_id], count)?
                        .collect::<Result<_, _>>()?,
                    tutor_topics: topics_stmt
                        .query_map([course_id], count)?
                        .collect::<Result<_, _>>()?,
                    tutor_questions,
                    tutor_not_covered,
                    course_id,
                    title,
                    enrolled,
                    completed,
                    completion_rate: completion_rate(completed, enrolled),
                    avg_days_to_complete: (completed > 0)
                        .then(|| (days / completed as f64 * 10.0).round() / 10.0),
                })
            },
        )
        .collect()
}

/// The same reports computed from the source tables (enrollments, progress, conversations, the event log):
/// what the kept figures must equal.
pub fn recompute(conn: &Connection, actor: &Actor) -> Result<Vec<CourseReport>> {
    let owner_filter = owner_filter(actor)?;
    let courses: Vec<(i64, String, i64, i64)> = conn
        .prepare(
            "SELECT c.id, c.title,
                (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id),
                (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id AND e.completed_at IS NOT NULL)
             FROM courses c WHERE ?1 IS NULL OR c.owner_id = ?1 ORDER BY c.id",
        )?
        .query_map([owner_filter], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let week_ago = crate::util::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(7));
    let mut extra_stmt = conn.prepare(
        "SELECT
            (SELECT count(DISTINCT p.user_id) FROM lesson_progress p JOIN enrollments e
                ON e.course_id = p.course_id AND e.user_id = p.user_id
             WHERE p.course_id = ?1 AND p.completed_at >= ?2),
            (SELECT avg(julianday(completed_at) - julianday(enrolled_at)) FROM enrollments
             WHERE course_id = ?1 AND completed_at IS NOT NULL)",
    )?;
    let mut funnel_stmt = conn.prepare(
        "SELECT l.id, l.title,
            (SELECT count(*) FROM lesson_progress p JOIN enrollments e
                ON e.course_id = p.course_id AND e.user_id = p.user_id
             WHERE p.lesson_id = l.id)
         FROM lessons l JOIN modules m ON m.id = l.module_id
         WHERE l.course_id = ?1 ORDER BY m.position, l.position",
    )?;
    let mut tutor_stmt = conn.prepare(
        "SELECT count(*), coalesce(sum(m.abstained), 0) FROM conversation_messages m
         JOIN conversations c ON c.id = m.conversation_id
         WHERE c.course_id = ?1 AND m.role = 'assistant'",
    )?;
    let mut topics_stmt = conn.prepare(
        "SELECT json_extract(j.value, '$.lesson_id') AS lesson, max(json_extract(j.value, '$.lesson_title')),
                count(*) AS n
         FROM conversation_messages m JOIN conversations c ON c.id = m.conversation_id,
              json_each(m.citations) j
         WHERE c.course_id = ?1 AND m.role = 'assistant' AND json_extract(j.value, '$.n') = 1
         GROUP BY lesson ORDER BY n DESC, lesson LIMIT 5",
    )?;
    let mut daily_stmt = conn.prepare(
        "SELECT substr(created_at, 1, 10) AS day, count(*) FROM events
         WHERE kind = 'enrollment.created' AND json_extract(payload, '$.course_id') = ?1
         GROUP BY day ORDER BY day",
    )?;
    courses
        .into_iter()
        .map(|(course_id, title, enrolled, completed)| {
            let daily = daily_stmt
                .query_map([course_id], |r| {
                    Ok(DayCount {
                        day: r.get(0)?,
                        enrollments: r.get(1)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let (active_7d, avg_days): (i64, Option<f64>) = extra_stmt
                .query_row(rusqlite::params![course_id, week_ago], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let funnel = funnel_stmt
                .query_map([course_id], |r| {
                    Ok(LessonCount {
                        lesson_id: r.get(0)?,
                        title: r.get(1)?,
                        completed: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let (tutor_questions, tutor_not_covered): (i64, i64) =
                tutor_stmt.query_row([course_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let tutor_topics = topics_stmt
                .query_map([course_id], |r| {
                    Ok(LessonCount {
                        lesson_id: r.get(0)?,
                        title: r.get(1)?,
                        completed: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(CourseReport {
                tutor_questions,
                tutor_not_covered,
                tutor_topics,
                course_id,
                title,
                enrolled,
                completed,
                completion_rate: completion_rate(completed, enrolled),
                active_7d,
                avg_days_to_complete: avg_days.map(|d| (d * 10.0).round() / 10.0),
                daily,
                funnel,
            })
        })
        .collect()
}

/// The reports as CSV, one figure per row, the same figures the students page shows:
/// `course_id,course_title,figure,key,value`, where `key` is the day or the lesson of per-day and per-lesson
/// figures.
pub fn to_csv(reports: &[CourseReport]) -> String {
    let mut out = String::from("course_id,course_title,figure,key,value\n");
    for r in reports {
        let mut row = |figure: &str, key: &str, value: String| {
            out.push_str(&format!(
                "{},{},{figure},{},{value}\n",
                r.course_id,
                csv_field(&r.title),
                csv_field(key)
            ));
        };
        row("enrolled_now", "", r.enrolled.to_string());
        row("completed", "", r.completed.to_string());
        row("completion_rate_percent", "", r.completion_rate.to_string());
        row("active_students_7d", "", r.active_7d.to_string());
        // Written as the JSON writes it, so the two never differ.
        let avg = r
            .avg_days_to_complete
            .map(|d| serde_json::Value::from(d).to_string());
        row("avg_days_to_complete", "", avg.unwrap_or_default());
        for d in &r.daily {
            row("enrollments_on_day", &d.day, d.enrollments.to_string());
        }
        for l in &r.funnel {
            row("lesson_completed_by", &l.title, l.completed.to_string());
        }
        row("tutor_questions", "", r.tutor_questions.to_string());
        row("tutor_not_covered", "", r.tutor_not_covered.to_string());
        for t in &r.tutor_topics {
            row(
                "tutor_questions_on_lesson",
                &t.title,
                t.completed.to_string(),
            );
        }
    }
    out
}

/// Completed as a whole percentage of enrolled (0 with nobody enrolled).
fn completion_rate(completed: i64, enrolled: i64) -> i64 {
    if enrolled == 0 {
        0
    } else {
        completed * 100 / enrolled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses() {
        assert_eq!(csv_field("Plain"), "Plain");
        assert_eq!(csv_field("A, B"), "\"A, B\"");
        assert_eq!(csv_field("Say \"hi\""), "\"Say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        let csv = to_csv(&[CourseReport {
            course_id: 1,
            title: "T".into(),
            enrolled: 2,
            completed: 1,
            completion_rate: 50,
            active_7d: 1,
            avg_days_to_complete: Some(2.5),
            daily: vec![DayCount {
                day: "2026-01-02".into(),
                enrollments: 2,
            }],
            funnel: vec![LessonCount {
                lesson_id: 9,
                title: "=SUM(A1)".into(),
                completed: 1,
            }],
            tutor_questions: 4,
            tutor_not_covered: 1,
            tutor_topics: vec![LessonCount {
                lesson_id: 9,
                title: "Halves, quarters".into(),
                completed: 3,
            }],
        }]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[1], "1,T,enrolled_now,,2");
        assert!(lines.contains(&"1,T,avg_days_to_complete,,2.5"), "{csv}");
        assert!(
            lines.contains(&"1,T,enrollments_on_day,2026-01-02,2"),
            "{csv}"
        );
        assert!(
            lines.contains(&"1,T,lesson_completed_by,'=SUM(A1),1"),
            "{csv}"
        );
        assert!(lines.contains(&"1,T,tutor_questions,,4"), "{csv}");
        assert!(
            lines.contains(&"1,T,tutor_questions_on_lesson,\"Halves, quarters\",3"),
            "{csv}"
        );
    }
}
