//! The SQL of quizzes: `quizzes` (a lesson's quiz as JSON), `quiz_attempts` and `quiz_answers`. No access
//! checks here; [`super`] makes them.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Quiz, Response};
use crate::error::{Error, Result};
use crate::util::now_rfc3339;

fn internal(what: &str, e: serde_json::Error) -> Error {
    Error::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// The quiz of lesson `lesson_id`, if it is a quiz lesson.
pub fn quiz_of(conn: &Connection, lesson_id: i64) -> Result<Option<Quiz>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT quiz_json FROM quizzes WHERE lesson_id = ?1",
            [lesson_id],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(|e| internal("a stored quiz", e)))
        .transpose()
}

/// The quizzes of a course's lessons, by lesson id.
pub fn quizzes_of_course(conn: &Connection, course_id: i64) -> Result<BTreeMap<i64, Quiz>> {
    let mut s = conn.prepare("SELECT lesson_id, quiz_json FROM quizzes WHERE course_id = ?1")?;
    let rows: Vec<(i64, String)> = s
        .query_map([course_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(id, j)| {
            serde_json::from_str(&j)
                .map(|q| (id, q))
                .map_err(|e| internal("a stored quiz", e))
        })
        .collect()
}

/// Makes lesson `lesson_id` a quiz lesson with `quiz`, or (with `None`) a lesson without one.
pub fn set_quiz(tx: &Transaction, lesson_id: i64, quiz: Option<&Quiz>) -> Result<()> {
    let Some(quiz) = quiz else {
        tx.execute("DELETE FROM quizzes WHERE lesson_id = ?1", [lesson_id])?;
        return Ok(());
    };
    let json = serde_json::to_string(quiz).map_err(|e| internal("a quiz", e))?;
    let changed = tx.execute(
        "INSERT INTO quizzes (lesson_id, course_id, quiz_json, updated_at)
         SELECT id, course_id, ?2, ?3 FROM lessons WHERE id = ?1
         ON CONFLICT (lesson_id) DO UPDATE SET quiz_json = excluded.quiz_json, updated_at = excluded.updated_at",
        params![lesson_id, json, now_rfc3339()],
    )?;
    if changed == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// An attempt as stored.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: i64,
    pub user_id: i64,
    pub lesson_id: i64,
    pub course_id: i64,
    pub seed: u64,
    pub started_at: String,
    pub submitted_at: Option<String>,
    pub score: Option<f64>,
    pub points: Option<f64>,
    pub passed: Option<bool>,
    /// The copy of the quiz this attempt was started on (see [`attempt_quiz`]).
    pub quiz_version_id: Option<i64>,
}

const ATTEMPT: &str = "SELECT id, user_id, lesson_id, course_id, seed, started_at, submitted_at, score, points, passed,
        quiz_version_id
     FROM quiz_attempts";

fn attempt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttemptRow> {
    Ok(AttemptRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        lesson_id: r.get(2)?,
        course_id: r.get(3)?,
        // The seed's bits are stored as a signed integer.
        seed: r.get::<_, i64>(4)? as u64,
        started_at: r.get(5)?,
        submitted_at: r.get(6)?,
        score: r.get(7)?,
        points: r.get(8)?,
        passed: r.get(9)?,
        quiz_version_id: r.get(10)?,
    })
}

pub fn attempt(conn: &Connection, id: i64) -> Result<Option<AttemptRow>> {
    Ok(conn
        .query_row(&format!("{ATTEMPT} WHERE id = ?1"), [id], attempt_row)
        .optional()?)
}

/// A student's open (not submitted) attempt at a quiz.
pub fn open_attempt(conn: &Connection, user_id: i64, lesson_id: i64) -> Result<Option<AttemptRow>> {
    Ok(conn
        .query_row(
            &format!("{ATTEMPT} WHERE user_id = ?1 AND lesson_id = ?2 AND submitted_at IS NULL"),
            [user_id, lesson_id],
            attempt_row,
        )
        .optional()?)
}

/// A student's attempts at a quiz, oldest first.
pub fn attempts_of(conn: &Connection, user_id: i64, lesson_id: i64) -> Result<Vec<AttemptRow>> {
    let mut s = conn.prepare(&format!(
        "{ATTEMPT} WHERE user_id = ?1 AND lesson_id = ?2 ORDER BY id"
    ))?;
    Ok(s.query_map([user_id, lesson_id], attempt_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Every submitted attempt at a quiz, oldest first.
pub fn submitted_attempts(conn: &Connection, lesson_id: i64) -> Result<Vec<AttemptRow>> {
    let mut s = conn.prepare(&format!(
        "{ATTEMPT} WHERE lesson_id = ?1 AND submitted_at IS NOT NULL ORDER BY id"
    ))?;
    Ok(s.query_map([lesson_id], attempt_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Opens an attempt on the quiz as it is now: its copy is the lesson's latest version when that is the same
/// quiz, else a new version.
pub fn insert_attempt(
    tx: &Transaction,
    user_id: i64,
    lesson_id: i64,
    seed: u64,
    quiz: &Quiz,
) -> Result<i64> {
    let json = serde_json::to_string(quiz).map_err(|e| internal("a quiz", e))?;
    let latest: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, quiz_json FROM quiz_versions WHERE lesson_id = ?1 ORDER BY id DESC LIMIT 1",
            [lesson_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let version = match latest {
        Some((id, stored)) if stored == json => id,
        _ => {
            tx.execute(
                "INSERT INTO quiz_versions (lesson_id, quiz_json, created_at) VALUES (?1, ?2, ?3)",
                params![lesson_id, json, now_rfc3339()],
            )?;
            tx.last_insert_rowid()
        }
    };
    tx.execute(
        "INSERT INTO quiz_attempts (user_id, lesson_id, course_id, seed, started_at, quiz_version_id)
         SELECT ?1, id, course_id, ?3, ?4, ?5 FROM lessons WHERE id = ?2",
        params![user_id, lesson_id, seed as i64, now_rfc3339(), version],
    )?;
    Ok(tx.last_insert_rowid())
}

/// The quiz attempt `a` was started on: its copy, or (for an attempt older than copies whose quiz was gone
/// when they were made) the lesson's quiz now. `None` when neither exists.
pub fn attempt_quiz(conn: &Connection, a: &AttemptRow) -> Result<Option<Quiz>> {
    let Some(version) = a.quiz_version_id else {
        return quiz_of(conn, a.lesson_id);
    };
    let json: String = conn.query_row(
        "SELECT quiz_json FROM quiz_versions WHERE id = ?1",
        [version],
        |r| r.get(0),
    )?;
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| internal("a stored quiz version", e))
}

/// The ids of the quiz versions of `lesson_id`, oldest first.
pub fn version_ids(conn: &Connection, lesson_id: i64) -> Result<Vec<i64>> {
    let mut s = conn.prepare("SELECT id FROM quiz_versions WHERE lesson_id = ?1 ORDER BY id")?;
    Ok(s.query_map([lesson_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// An answer as stored.
#[derive(Debug, Clone)]
pub struct AnswerRow {
    pub question_id: String,
    /// `None` for a question left unanswered (graded with nothing).
    pub response: Option<Response>,
    pub score: Option<f64>,
    pub correct: Option<bool>,
    pub needs_marking: bool,
    pub feedback: Vec<String>,
    pub marked_by: Option<i64>,
}

/// An answer's columns as read, before its JSON is parsed.
type RawAnswer = (
    String,
    String,
    Option<f64>,
    Option<bool>,
    bool,
    String,
    Option<i64>,
);

pub fn answers(conn: &Connection, attempt_id: i64) -> Result<Vec<AnswerRow>> {
    let mut s = conn.prepare(
        "SELECT question_id, response_json, score, correct, needs_marking, feedback_json, marked_by
         FROM quiz_answers WHERE attempt_id = ?1",
    )?;
    let rows: Vec<RawAnswer> = s
        .query_map([attempt_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(
            |(question_id, response, score, correct, needs_marking, feedback, marked_by)| {
                Ok(AnswerRow {
                    question_id,
                    response: serde_json::from_str(&response)
                        .map_err(|e| internal("a stored answer", e))?,
                    score,
                    correct,
                    needs_marking,
                    feedback: serde_json::from_str(&feedback).unwrap_or_default(),
                    marked_by,
                })
            },
        )
        .collect()
}

/// Saves (or replaces) the responses given, ungraded.
pub fn save_responses(
    tx: &Transaction,
    attempt_id: i64,
    responses: &BTreeMap<String, Response>,
) -> Result<()> {
    let mut s = tx.prepare_cached(
        "INSERT INTO quiz_answers (attempt_id, question_id, response_json) VALUES (?1, ?2, ?3)
         ON CONFLICT (attempt_id, question_id) DO UPDATE SET response_json = excluded.response_json",
    )?;
    for (question, response) in responses {
        let json = serde_json::to_string(response).map_err(|e| internal("an answer", e))?;
        s.execute(params![attempt_id, question, json])?;
    }
    Ok(())
}

/// Records one question's grade (a question left unanswered gets a row with an empty response).
pub fn write_grade(
    tx: &Transaction,
    attempt_id: i64,
    question_id: &str,
    graded: &smartcourse_formats::quiz::Graded,
    marked_by: Option<i64>,
) -> Result<()> {
    let feedback = serde_json::to_string(&graded.feedback).map_err(|e| internal("feedback", e))?;
    tx.execute(
        "INSERT INTO quiz_answers (attempt_id, question_id, response_json, score, correct, needs_marking,
             feedback_json, marked_by)
         VALUES (?1, ?2, 'null', ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (attempt_id, question_id) DO UPDATE SET score = excluded.score,
             correct = excluded.correct, needs_marking = excluded.needs_marking,
             feedback_json = excluded.feedback_json, marked_by = excluded.marked_by",
        params![
            attempt_id,
            question_id,
            graded.score,
            graded.correct,
            graded.needs_marking,
            feedback,
            marked_by
        ],
    )?;
    Ok(())
}

/// Closes an attempt with its result.
pub fn finish_attempt(
    tx: &Transaction,
    attempt_id: i64,
    score: f64,
    points: f64,
    passed: bool,
) -> Result<()> {
    tx.execute(
        "UPDATE quiz_attempts SET submitted_at = coalesce(submitted_at, ?2), score = ?3, points = ?4, passed = ?5
         WHERE id = ?1",
        params![attempt_id, now_rfc3339(), score, points, passed],
    )?;
    Ok(())
}

/// The right/wrong history of a student's answers to a quiz before attempt `before`, oldest first (for a
/// mastery rule); essays waiting for a mark are left out. Within an attempt the answers come in the order the
/// attempt showed its questions (see [`right_and_wrong`]), each attempt's quiz version read once.
pub fn history(conn: &Connection, user_id: i64, lesson_id: i64, before: i64) -> Result<Vec<bool>> {
    let mut versions: HashMap<Option<i64>, Option<Quiz>> = HashMap::new();
    let mut out = Vec::new();
    for t in attempts_of(conn, user_id, lesson_id)? {
        if t.id >= before || t.submitted_at.is_none() {
            continue;
        }
        let quiz = match versions.entry(t.quiz_version_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(attempt_quiz(conn, &t)?),
        };
        out.extend(in_order(&answers(conn, t.id)?, quiz.as_ref(), t.seed));
    }
    Ok(out)
}

/// Attempt `a`'s right and wrong answers in the order the attempt showed its questions, essays waiting for a
/// mark left out: the order a mastery rule's "last n answers" counts them in, as Kolibri counts a student's
/// answers in the order they were given. (Stored rows are in the order they were first saved, which is not
/// the questions'.)
pub fn right_and_wrong(conn: &Connection, a: &AttemptRow) -> Result<Vec<bool>> {
    Ok(in_order(
        &answers(conn, a.id)?,
        attempt_quiz(conn, a)?.as_ref(),
        a.seed,
    ))
}

/// `rows`' right/wrong in the order `quiz` shows its questions for `seed` (stored order without the quiz).
fn in_order(rows: &[AnswerRow], quiz: Option<&Quiz>, seed: u64) -> Vec<bool> {
    let graded: Vec<(&str, bool)> = rows
        .iter()
        .filter(|r| !r.needs_marking)
        .filter_map(|r| Some((r.question_id.as_str(), r.correct?)))
        .collect();
    let Some(quiz) = quiz else {
        return graded.into_iter().map(|(_, c)| c).collect();
    };
    let by_id: HashMap<&str, bool> = graded.into_iter().collect();
    quiz.attempt_questions(seed)
        .iter()
        .filter_map(|q| by_id.get(q.id.as_str()).copied())
        .collect()
}

/// A user's full name.
pub fn full_name(conn: &Connection, user_id: i64) -> Result<String> {
    Ok(conn
        .query_row(
            "SELECT full_name FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_default())
}

/// How many attempts (open or submitted) students have made at a quiz.
pub fn attempt_count(conn: &Connection, lesson_id: i64) -> Result<usize> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM quiz_attempts WHERE lesson_id = ?1",
        [lesson_id],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

/// A lesson's title (404 for no such lesson).
pub fn lesson_title(conn: &Connection, lesson_id: i64) -> Result<String> {
    conn.query_row(
        "SELECT title FROM lessons WHERE id = ?1",
        [lesson_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or(Error::NotFound)
}

/// Every attempt at a quiz (open ones too) with its student's full name and email: by student, then oldest
/// first.
pub fn attempts_with_students(
    conn: &Connection,
    lesson_id: i64,
) -> Result<Vec<(AttemptRow, String, String)>> {
    let mut s = conn.prepare(
        "SELECT t.id, t.user_id, t.lesson_id, t.course_id, t.seed, t.started_at, t.submitted_at, t.score,
                t.points, t.passed, t.quiz_version_id, u.full_name, u.email
         FROM quiz_attempts t JOIN users u ON u.id = t.user_id
         WHERE t.lesson_id = ?1 ORDER BY u.full_name, u.id, t.id",
    )?;
    Ok(s.query_map([lesson_id], |r| {
        Ok((attempt_row(r)?, r.get(11)?, r.get(12)?))
    })?
    .collect::<rusqlite::Result<_>>()?)
}

/// How many hints attempt `attempt_id` revealed, by question id (questions without any are absent).
pub fn hints_shown(conn: &Connection, attempt_id: i64) -> Result<BTreeMap<String, usize>> {
    let mut s =
        conn.prepare_cached("SELECT question_id, shown FROM quiz_hints WHERE attempt_id = ?1")?;
    let rows: Vec<(String, i64)> = s
        .query_map([attempt_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows.into_iter().map(|(q, n)| (q, n as usize)).collect())
}

/// Records that `shown` hints of `question_id` are now revealed in attempt `attempt_id`.
pub fn set_hints_shown(
    tx: &Transaction,
    attempt_id: i64,
    question_id: &str,
    shown: usize,
) -> Result<()> {
    tx.execute(
        "INSERT INTO quiz_hints (attempt_id, question_id, shown) VALUES (?1, ?2, ?3)
         ON CONFLICT (attempt_id, question_id) DO UPDATE SET shown = excluded.shown",
        params![attempt_id, question_id, shown as i64],
    )?;
    Ok(())
}
