//! Analytics: enrollment and completion reports from SQLite, as JSON, CSV, and charts in the UI.
//!
//! Enrollments over time come from the `enrollment.created` events of the outbox (so students who later
//! left still count on the day they joined); current enrolment and completion come from `enrollments`.

pub mod routes;

use rusqlite::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::{Actor, Role};
use crate::error::{Error, Result};

/// One course's enrollment report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CourseReport {
    /// Course.
    pub course_id: i64,
    /// Title.
    pub title: String,
    /// Students enrolled now.
    pub enrolled: i64,
    /// Of those, how many completed every lesson.
    pub completed: i64,
    /// completed / enrolled, in percent (0 when nobody is enrolled).
    pub completion_rate: i64,
    /// Enrollments per UTC day, oldest first (days without any are left out).
    pub daily: Vec<DayCount>,
}

/// Enrollments on one day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayCount {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// New enrollments that day.
    pub enrollments: i64,
}

/// Reports for the courses the actor may see the students of: their own (instructors) or all (admins).
/// Students have none (403).
pub fn enrollments(conn: &Connection, actor: &Actor) -> Result<Vec<CourseReport>> {
    let owner_filter = match actor {
        Actor::System => None,
        Actor::User(u) if u.role == Role::Admin => None,
        Actor::User(u) if u.role == Role::Instructor => Some(u.id),
        Actor::User(_) => return Err(Error::Forbidden),
    };
    let courses: Vec<(i64, String, i64, i64)> = conn
        .prepare(
            "SELECT c.id, c.title,
                (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id),
                (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id AND e.completed_at IS NOT NULL)
             FROM courses c WHERE ?1 IS NULL OR c.owner_id = ?1 ORDER BY c.id",
        )?
        .query_map([owner_filter], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
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
            Ok(CourseReport {
                course_id,
                title,
                enrolled,
                completed,
                completion_rate: if enrolled == 0 {
                    0
                } else {
                    completed * 100 / enrolled
                },
                daily,
            })
        })
        .collect()
}

/// The reports as CSV: one row per course and day with enrollments, then the course's totals on each row.
pub fn to_csv(reports: &[CourseReport]) -> String {
    let mut out = String::from(
        "course_id,course_title,day,enrollments,enrolled_now,completed,completion_rate_percent\n",
    );
    for r in reports {
        let rows: Vec<(String, i64)> = if r.daily.is_empty() {
            vec![(String::new(), 0)]
        } else {
            r.daily
                .iter()
                .map(|d| (d.day.clone(), d.enrollments))
                .collect()
        };
        for (day, n) in rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.course_id,
                csv_field(&r.title),
                day,
                n,
                r.enrolled,
                r.completed,
                r.completion_rate
            ));
        }
    }
    out
}

/// Quotes a CSV field when needed, and defuses text a spreadsheet would run as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
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
            daily: vec![DayCount {
                day: "2026-01-02".into(),
                enrollments: 2,
            }],
        }]);
        assert_eq!(csv.lines().nth(1), Some("1,T,2026-01-02,2,2,1,50"));
    }
}
