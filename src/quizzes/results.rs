//! Every attempt at a quiz, per student, for its teachers: the teacher's page shows them and
//! `GET /api/lessons/{id}/quiz/results?format=csv` downloads them, one row per attempt with a column per
//! question, so a spreadsheet can follow a class. Each attempt's answers sit under the questions as that attempt
//! asked them: after a teacher changes a question, earlier attempts' scores are in a column of their own, headed
//! with the question as it was and the version that asked it ([`super::asked`]).

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use super::asked::Asked;
use super::teacher::question_label;
use super::{percent, quiz_of, store};
use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};
use crate::util::csv_field;

/// The attempts at a quiz, per student.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuizResults {
    pub lesson_id: i64,
    pub title: String,
    /// The per-question columns: the quiz's questions in the teacher's order, each after the earlier forms
    /// of it that attempts were asked (see [`ResultColumn::version`]), then questions since removed.
    pub questions: Vec<ResultColumn>,
    /// By student (name), then oldest first; open attempts too.
    pub attempts: Vec<StudentAttempt>,
}

/// A question as a column of the results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResultColumn {
    /// What [`StudentAttempt::scores`] names the column by: the question id for a question as the quiz has it
    /// now; the id, `~` and a digest of what it asked for an earlier form.
    pub key: String,
    pub question_id: String,
    /// The title, or the prompt shortened (plain text), as the column's attempts were asked it.
    pub label: String,
    pub points: f64,
    /// Its place in the quiz now, from 1; absent once the teacher removed it.
    pub number: Option<usize>,
    /// Absent for the question as the quiz has it now. Else the question as it was before the teacher changed
    /// or removed it: the quiz version that first asked it so, the lesson's versions numbered from 1 in the
    /// order students met them.
    pub version: Option<usize>,
}

/// One attempt of one student.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StudentAttempt {
    pub attempt_id: i64,
    pub user_id: i64,
    pub full_name: String,
    pub email: String,
    pub started_at: String,
    /// `None` while the attempt is open (then it has no score either).
    pub submitted_at: Option<String>,
    pub score: Option<f64>,
    pub points: Option<f64>,
    pub percent: Option<f64>,
    pub passed: Option<bool>,
    /// An essay waits for its mark.
    pub needs_marking: bool,
    /// How many hints the student asked for in this attempt, all questions together (open attempts too).
    pub hints_used: usize,
    /// Each question's score by its column's [`ResultColumn::key`]; a question the attempt did not show
    /// (drawn from a pool) has none, nor has any question of an open attempt.
    pub scores: BTreeMap<String, f64>,
}

/// Every attempt at the quiz of `lesson_id` (the course's owner and admins; 404 when it is no quiz lesson).
pub fn results(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<QuizResults> {
    courses::require_lesson_edit(conn, actor, lesson_id)?;
    let quiz = quiz_of(conn, lesson_id)?.ok_or(Error::NotFound)?;
    let mut asked = Asked::new(conn, lesson_id, &quiz)?;
    let mut attempts = Vec::new();
    for (a, full_name, email) in store::attempts_with_students(conn, lesson_id)? {
        let answers = if a.submitted_at.is_some() {
            store::answers(conn, a.id)?
        } else {
            Vec::new()
        };
        let version = asked.quiz_of(conn, &a)?;
        let mut scores = BTreeMap::new();
        for r in &answers {
            let Some(score) = r.score else { continue };
            let question = version
                .as_ref()
                .and_then(|v| v.questions.iter().find(|q| q.id == r.question_id));
            let key = match question {
                Some(q) => asked.key(q, a.quiz_version_id),
                None => r.question_id.clone(),
            };
            scores.insert(key, score);
        }
        attempts.push(StudentAttempt {
            attempt_id: a.id,
            user_id: a.user_id,
            full_name,
            email,
            started_at: a.started_at,
            percent: a.score.zip(a.points).map(|(s, p)| percent(s, p)),
            needs_marking: answers.iter().any(|r| r.needs_marking),
            hints_used: store::hints_shown(conn, a.id)?.values().sum(),
            scores,
            submitted_at: a.submitted_at,
            score: a.score,
            points: a.points,
            passed: a.passed,
        });
    }
    Ok(QuizResults {
        lesson_id,
        title: quiz.title.clone(),
        questions: asked
            .rows()
            .into_iter()
            .map(|r| ResultColumn {
                label: question_label(&r.question),
                points: r.question.points,
                question_id: r.question.id,
                key: r.key,
                number: r.number,
                version: r.version,
            })
            .collect(),
        attempts,
    })
}

/// How the CSV heads a question's column: `Q2 How much is 3 + 3?` for a question as the quiz has it now,
/// `Q2 as in version 1: How much is 2 + 2?` for its earlier form, `removed, as in version 1: …` for a question
/// no longer in the quiz.
fn heading(q: &ResultColumn) -> String {
    match (q.number, q.version) {
        (Some(n), None) => format!("Q{n} {}", q.label),
        (Some(n), Some(v)) => format!("Q{n} as in version {v}: {}", q.label),
        (None, v) => format!("removed, as in version {}: {}", v.unwrap_or(0), q.label),
    }
}

/// A number as a spreadsheet reads it: `2`, `0.5`, never `2.0`.
fn number(n: f64) -> String {
    format!("{n}")
}

/// The results as CSV: `student,email,attempt,started,submitted,score,points,percent,passed,needs_marking,hints`,
/// then one column per question (`Q1 <label>`) holding that question's score, empty where the attempt has
/// none. A question's earlier form has its own column, `Q1 as in version 1: <label as it was>`, and a removed
/// question's `removed, as in version 1: <label>` (see [`ResultColumn::version`]). Percents are rounded to one decimal; `passed` is `yes`, `no`, or empty while open.
pub fn to_csv(r: &QuizResults) -> String {
    let mut out = String::from(
        "student,email,attempt,started,submitted,score,points,percent,passed,needs_marking,hints",
    );
    for q in &r.questions {
        out.push(',');
        out.push_str(&csv_field(&heading(q)));
    }
    out.push('\n');
    for a in &r.attempts {
        let fields = [
            csv_field(&a.full_name),
            csv_field(&a.email),
            a.attempt_id.to_string(),
            a.started_at.clone(),
            a.submitted_at.clone().unwrap_or_default(),
            a.score.map(number).unwrap_or_default(),
            a.points.map(number).unwrap_or_default(),
            a.percent
                .map(|p| number((p * 10.0).round() / 10.0))
                .unwrap_or_default(),
            a.passed
                .map(|p| if p { "yes" } else { "no" }.to_owned())
                .unwrap_or_default(),
            if a.needs_marking { "yes" } else { "no" }.to_owned(),
            a.hints_used.to_string(),
        ];
        out.push_str(&fields.join(","));
        for q in &r.questions {
            out.push(',');
            if let Some(s) = a.scores.get(&q.key) {
                out.push_str(&number(*s));
            }
        }
        out.push('\n');
    }
    out
}
