//! What a quiz's teachers (the course's owner and admins) do with it: per-question figures ([`report`]), the
//! essays waiting for a mark, and marking them ([`mark`]), which re-decides the attempt's pass. Figures count
//! each attempt against the questions as it asked them ([`super::asked`]): a question the teacher changed has a
//! row for its earlier form.

use std::collections::BTreeMap;

use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::asked::Asked;
use super::{AttemptResult, Response, percent, quiz_of, result, store};
use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};
use crate::events::Event;
use smartcourse_formats::quiz::{QuestionKind, grade};

/// A teacher's mark for an essay answer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// Between 0 and the question's points.
    pub score: f64,
    /// A word for the student, shown with the question's feedback on their result (plain text, at most
    /// 2000 characters).
    #[serde(default)]
    pub comment: Option<String>,
}

/// The longest comment a mark may carry, in characters.
const MAX_COMMENT: usize = 2000;

/// How a quiz went, per question, for its teachers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuizReport {
    pub lesson_id: i64,
    pub title: String,
    /// Submitted attempts.
    pub attempts: usize,
    /// Students with a submitted attempt.
    pub students: usize,
    /// Students with a passing attempt.
    pub passed: usize,
    /// The quiz's questions in the teacher's order, each after the earlier forms of it that attempts were asked
    /// (see [`QuestionFigures::version`]), then questions since removed.
    pub questions: Vec<QuestionFigures>,
    /// Essay answers waiting for a mark.
    pub to_mark: Vec<EssayToMark>,
}

/// One question's figures over every submitted attempt that asked it in this form.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuestionFigures {
    pub question_id: String,
    /// Its place in the quiz now, from 1 (what the question editor's links name it by); absent once the
    /// teacher removed it.
    pub number: Option<usize>,
    /// Absent for the question as the quiz has it now. Else the question as it was before the teacher changed
    /// or removed it, with the attempts that asked it so: the quiz version that first asked it in this form,
    /// the lesson's versions numbered from 1 in the order students met them.
    pub version: Option<usize>,
    pub title: String,
    /// What the question is worth, in this form.
    pub points: f64,
    /// Plain text, shortened.
    pub prompt: String,
    pub kind: String,
    /// Attempts that showed the question.
    pub shown: usize,
    /// Answers fully right.
    pub right: usize,
    /// Attempts that asked for at least one of its hints.
    pub hinted: usize,
    /// The wrong answer given most often (a choice's text, or what was typed), and how many gave it.
    pub most_common_wrong: Option<String>,
    pub most_common_wrong_count: usize,
}

/// An essay answer to mark.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EssayToMark {
    pub attempt_id: i64,
    pub user_id: i64,
    pub full_name: String,
    pub question_id: String,
    /// The question's title, or its prompt shortened (plain text).
    pub question: String,
    pub points: f64,
    pub text: String,
}

/// What an answer says, in words, for the figures: the choice's text rather than its id.
fn answer_words(q: &smartcourse_formats::quiz::Question, r: &Response) -> String {
    let plain = |h: &str| smartcourse_formats::scorm::plain_text(h).trim().to_owned();
    let choice_text = |choices: &[smartcourse_formats::quiz::Choice], id: &str| {
        choices
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_owned(), |c| plain(&c.text))
    };
    match (&q.kind, r) {
        (QuestionKind::SingleChoice { choices }, Response::Choice { choice }) => {
            choice_text(choices, choice)
        }
        (QuestionKind::MultipleResponse { choices, .. }, Response::Choices { choices: chosen }) => {
            let mut words: Vec<String> = chosen.iter().map(|c| choice_text(choices, c)).collect();
            words.sort();
            words.join(" + ")
        }
        (_, Response::TrueFalse { value }) => if *value { "true" } else { "false" }.to_owned(),
        (_, Response::Text { text } | Response::Number { text }) => text.trim().to_owned(),
        (_, other) => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Per-question figures of a quiz, and the essays to mark: for the course's owner and admins.
pub fn report(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<QuizReport> {
    courses::require_lesson_edit(conn, actor, lesson_id)?;
    let quiz = quiz_of(conn, lesson_id)?.ok_or(Error::NotFound)?;
    let mut asked = Asked::new(conn, lesson_id, &quiz)?;
    let attempts = store::submitted_attempts(conn, lesson_id)?;
    let mut figures: BTreeMap<String, (usize, usize, BTreeMap<String, usize>)> = BTreeMap::new();
    let mut hinted: BTreeMap<String, usize> = BTreeMap::new();
    let mut to_mark = Vec::new();
    for a in &attempts {
        let hints = store::hints_shown(conn, a.id)?;
        let answers: BTreeMap<String, store::AnswerRow> = store::answers(conn, a.id)?
            .into_iter()
            .map(|r| (r.question_id.clone(), r))
            .collect();
        // Each attempt as it was shown: the version it was started on.
        let Some(version) = asked.quiz_of(conn, a)? else {
            continue;
        };
        for q in version.attempt_questions(a.seed) {
            let key = asked.key(q, a.quiz_version_id);
            if hints.contains_key(&q.id) {
                *hinted.entry(key.clone()).or_default() += 1;
            }
            let f = figures.entry(key).or_default();
            f.0 += 1;
            let Some(row) = answers.get(&q.id) else {
                continue;
            };
            if row.correct == Some(true) {
                f.1 += 1;
            } else if let (false, Some(r)) = (row.needs_marking, &row.response) {
                *f.2.entry(answer_words(q, r)).or_default() += 1;
            }
            if row.needs_marking
                && let Some(Response::Essay { text }) = &row.response
            {
                to_mark.push(EssayToMark {
                    attempt_id: a.id,
                    user_id: a.user_id,
                    full_name: store::full_name(conn, a.user_id)?,
                    question_id: q.id.clone(),
                    question: question_label(q),
                    points: q.points,
                    text: text.clone(),
                });
            }
        }
    }
    let questions = asked
        .rows()
        .into_iter()
        .map(|row| {
            let q = &row.question;
            let (shown, right, wrong) = figures.remove(&row.key).unwrap_or_default();
            let top = wrong
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
            let prompt = smartcourse_formats::scorm::plain_text(&q.prompt);
            QuestionFigures {
                question_id: q.id.clone(),
                number: row.number,
                version: row.version,
                points: q.points,
                title: q.title.clone(),
                prompt: shorten(prompt.trim(), 120),
                kind: q.kind_name().to_owned(),
                shown,
                right,
                hinted: hinted.get(&row.key).copied().unwrap_or(0),
                most_common_wrong_count: top.as_ref().map_or(0, |t| t.1),
                most_common_wrong: top.map(|t| t.0),
            }
        })
        .collect();
    let mut students: Vec<i64> = attempts.iter().map(|a| a.user_id).collect();
    students.sort_unstable();
    students.dedup();
    let mut passed: Vec<i64> = attempts
        .iter()
        .filter(|a| a.passed == Some(true))
        .map(|a| a.user_id)
        .collect();
    passed.sort_unstable();
    passed.dedup();
    Ok(QuizReport {
        lesson_id,
        title: quiz.title.clone(),
        attempts: attempts.len(),
        students: students.len(),
        passed: passed.len(),
        questions,
        to_mark,
    })
}

/// A question's title, or its prompt shortened: how the teacher's pages and the CSV name it.
pub(crate) fn question_label(q: &smartcourse_formats::quiz::Question) -> String {
    if q.title.trim().is_empty() {
        shorten(smartcourse_formats::scorm::plain_text(&q.prompt).trim(), 60)
    } else {
        q.title.trim().to_owned()
    }
}

/// `text` with the characters HTML gives a meaning escaped.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Marks an essay answer of a submitted attempt (the course's owner and admins): its score is set and the
/// attempt's score and pass decided again; passing now emits `quiz.passed`.
pub fn mark(
    tx: &Transaction,
    actor: &Actor,
    attempt_id: i64,
    question_id: &str,
    m: &Mark,
) -> Result<AttemptResult> {
    let a = store::attempt(tx, attempt_id)?.ok_or(Error::NotFound)?;
    courses::require_lesson_edit(tx, actor, a.lesson_id)?;
    let quiz = store::attempt_quiz(tx, &a)?.ok_or(Error::NotFound)?;
    if a.submitted_at.is_none() {
        return Err(Error::Conflict {
            code: "attempt_open",
            message: "this attempt has not been submitted yet".into(),
        });
    }
    let question = quiz
        .attempt_questions(a.seed)
        .into_iter()
        .find(|q| q.id == question_id)
        .ok_or(Error::NotFound)?;
    if !matches!(question.kind, QuestionKind::Essay { .. }) {
        return Err(Error::invalid(
            "question",
            "only essay answers are marked by hand",
        ));
    }
    if !m.score.is_finite() || m.score < 0.0 || m.score > question.points {
        return Err(Error::invalid(
            "score",
            format!("a mark is between 0 and {}", question.points),
        ));
    }
    let comment = m
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT) {
        return Err(Error::invalid(
            "comment",
            format!("a comment is at most {MAX_COMMENT} characters"),
        ));
    }
    let answers = store::answers(tx, a.id)?;
    let response = answers
        .iter()
        .find(|r| r.question_id == question_id)
        .and_then(|r| r.response.clone())
        .unwrap_or(Response::Essay {
            text: String::new(),
        });
    let mut graded = grade(question, &response);
    graded.score = m.score;
    graded.fraction = if question.points > 0.0 {
        m.score / question.points
    } else {
        0.0
    };
    graded.correct = graded.fraction >= 1.0 - 1e-9;
    graded.needs_marking = false;
    if let Some(c) = comment {
        // Feedback is HTML-ish (it is sanitised when shown); a teacher's comment is plain text.
        graded.feedback.push(format!(
            "<p class=\"teacher-comment\">{}</p>",
            escape_html(c)
        ));
    }
    store::write_grade(tx, a.id, question_id, &graded, actor.user_id())?;
    let rows = store::answers(tx, a.id)?;
    let score: f64 = rows.iter().filter_map(|r| r.score).sum();
    let points = a.points.unwrap_or(0.0);
    let earlier = store::history(tx, a.user_id, a.lesson_id, a.id)?;
    let mut history = earlier;
    history.extend(store::right_and_wrong(tx, &a)?);
    let passed = quiz.pass.passed(percent(score, points), &history);
    store::finish_attempt(tx, a.id, score, points, passed)?;
    if passed && a.passed != Some(true) {
        crate::events::emit(
            tx,
            &Event::QuizPassed {
                attempt_id: a.id,
                lesson_id: a.lesson_id,
                course_id: a.course_id,
                user_id: a.user_id,
            },
        )?;
    }
    result(tx, actor, a.id)
}
