//! Quizzes taken in the app (#23): a lesson's quiz, students' attempts, grading on the server, and the
//! teacher's figures and essay marking. The quiz model, the answer-free view and the grading rules are
//! [`smartcourse_formats::quiz`]; this domain stores them and decides who may do what.
//!
//! - A lesson with a quiz (`quizzes`, the [`Quiz`] as JSON) is a quiz lesson. Package imports set it
//!   ([`set_quiz`]) with the lesson.
//! - [`start`] opens an attempt (or resumes the open one) with a random seed and a copy of the quiz as it is
//!   then (`quiz_versions`), both kept with it: the student's view ([`AttemptView`]) is [`Quiz::view`] of that
//!   copy and seed, so it renders the same after a restart or an edit of the quiz, and holds no answer, no
//!   fraction and no answer feedback: those types have no field for them. Grading, results, marking and the
//!   teacher's figures read the attempt's copy too, so a result never changes meaning when the quiz is edited.
//! - [`save`] keeps answers as the student goes; [`submit`] grades them ([`grade_quiz`]) and stores every grade,
//!   the attempt's result and a `quiz.attempted` event (and `quiz.passed` when it passes, which completes the
//!   lesson through `learning`'s subscriber) in one transaction.
//! - [`reveal_hint`] shows a question's hints one at a time on the student's request during an open attempt,
//!   kept with the attempt (`quiz_hints`) so the view shows them again; a view holds none unasked. Hints cost
//!   nothing: grading ignores them, and the teacher's results count them.
//! - Results ([`result`]) exist only for submitted attempts, and only for their student and the course's
//!   editors. [`report`] gives the editors per-question figures; [`mark`] scores an essay, re-deciding the
//!   attempt's pass.
//!
//! - [`teacher`] holds what the course's teachers do with a quiz: the figures, the essays to mark, the marks.
//! - [`results`] lists every attempt per student, with each question's score, as JSON or CSV.
//! - [`edit`] is the quiz editor of the teacher's pages and the API: any kind of question changed, added,
//!   deleted or moved, and the quiz's settings; grading changes on an attempted quiz are confirmed first.
//! - [`gift`] reads a quiz's questions from GIFT text and writes them back (the command line and the teacher's
//!   page).
//!
//! Only students enrolled in the course take quizzes; the course's owner and admins see and mark them.

mod asked;
pub mod edit;
pub mod gift;
pub mod results;
pub mod routes;
pub mod store;
pub mod teacher;

use std::collections::BTreeMap;

use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::learning::enrollment;
use smartcourse_formats::quiz::{QuestionKind, grade_quiz};
pub use smartcourse_formats::quiz::{Quiz, QuizView, Response};

pub use store::{quiz_of, quizzes_of_course, set_quiz};
pub use teacher::{EssayToMark, Mark, QuestionFigures, QuizReport, mark, report};

/// A student's attempt as they take it: the questions without their answers, and what they saved so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt_id: i64,
    pub lesson_id: i64,
    pub started_at: String,
    /// The quiz as this attempt shows it (`smartcourse_formats::quiz::QuizView`); texts are sanitised HTML.
    #[schema(value_type = Object)]
    pub quiz: QuizView,
    /// Responses saved so far, by question id.
    #[schema(value_type = Object)]
    pub saved: BTreeMap<String, Response>,
    /// The hints this attempt asked for so far ([`reveal_hint`]), by question id, in order; sanitised HTML.
    /// A question's `hints` in `quiz` says how many it has.
    pub revealed_hints: BTreeMap<String, Vec<String>>,
    /// Attempts this student has started, this one included.
    pub attempts_used: u32,
    /// `None`: unlimited.
    pub max_attempts: Option<u32>,
}

/// An attempt in a list: no answers, no per-question results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptSummary {
    pub attempt_id: i64,
    pub started_at: String,
    pub submitted_at: Option<String>,
    pub score: Option<f64>,
    pub points: Option<f64>,
    pub percent: Option<f64>,
    pub passed: Option<bool>,
}

/// A student's attempts at one quiz, and what they may still do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyAttempts {
    pub lesson_id: i64,
    pub attempts: Vec<AttemptSummary>,
    pub max_attempts: Option<u32>,
    /// Whether another attempt may be started (or the open one resumed).
    pub can_attempt: bool,
    /// Whether some attempt passed.
    pub passed: bool,
}

/// A submitted attempt, graded: what the student sees after submitting, and the teacher per attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptResult {
    pub attempt_id: i64,
    pub lesson_id: i64,
    pub user_id: i64,
    pub started_at: String,
    pub submitted_at: String,
    pub score: f64,
    pub points: f64,
    pub percent: f64,
    pub passed: bool,
    /// An essay waits for its mark: the score and the pass may still change.
    pub needs_marking: bool,
    /// In the attempt's order.
    pub questions: Vec<QuestionResult>,
}

/// One question of a submitted attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuestionResult {
    pub question_id: String,
    /// Sanitised HTML.
    pub prompt: String,
    pub points: f64,
    pub score: f64,
    pub correct: bool,
    pub needs_marking: bool,
    /// What the student answered (`smartcourse_formats::quiz::Response`), if anything.
    #[schema(value_type = Option<Object>)]
    pub response: Option<Response>,
    /// The feedback of what was answered and the question's general feedback, sanitised HTML.
    pub feedback: Vec<String>,
}

/// Saving or submitting answers: responses by question id.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// Question id → response (`{"type": "choice", "choice": "<choice id>"}`, `{"type": "text", "text":
    /// "…"}`, …: `smartcourse_formats::quiz::Response`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, Response>,
}

/// The quiz of `lesson_id` for `actor` if they may read the lesson: 404 when it is no quiz lesson.
fn readable_quiz(
    conn: &Connection,
    actor: &Actor,
    lesson_id: i64,
) -> Result<(courses::CourseRef, Quiz)> {
    let course = courses::require_lesson_read(conn, actor, lesson_id)?;
    let quiz = quiz_of(conn, lesson_id)?.ok_or(Error::NotFound)?;
    Ok((course, quiz))
}

/// The student taking quizzes in `course`: enrolled, else 403 (an editor previews, but does not take them).
fn require_student(conn: &Connection, actor: &Actor, course_id: i64) -> Result<i64> {
    let user = actor.user_id().ok_or(Error::Forbidden)?;
    if enrollment::is_enrolled(conn, course_id, user)? {
        Ok(user)
    } else {
        Err(Error::Forbidden)
    }
}

/// The quiz attempt `a` was started on (404 when it is gone): what it shows, grades and reports against,
/// whatever the teacher changed since.
fn attempt_quiz(conn: &Connection, a: &store::AttemptRow) -> Result<Quiz> {
    store::attempt_quiz(conn, a)?.ok_or(Error::NotFound)
}

fn new_seed() -> Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Internal(anyhow::anyhow!("no randomness for a seed: {e}")))?;
    Ok(u64::from_le_bytes(b))
}

/// Package or teacher HTML as a student sees it: sanitised, then its TeX (`\(…\)`, `\[…\]`, `$$…$$`; not
/// single dollars, which quizzes use for prices) typeset as MathML, as lessons are. The MathML is made after
/// the cleaning, which has no MathML on its list, and from the cleaned text, so nothing the cleaning took out
/// comes back; the pages show these texts as they are, with no second cleaning.
fn shown_html(html: &str) -> String {
    courses::math::typeset_html(&courses::render::clean_html(html), false)
}

/// A fill-in-the-blanks prompt as shown: typeset unless a formula holds a gap's marker, which the page replaces
/// with the gap's number and must find as written (the TeX then stays as written).
fn shown_gap_prompt(html: &str) -> String {
    let cleaned = courses::render::clean_html(html);
    let gap_in_formula = courses::math::formula_spans(&cleaned)
        .into_iter()
        .any(|r| cleaned[r].contains("[["));
    if gap_in_formula {
        cleaned
    } else {
        courses::math::typeset_html(&cleaned, false)
    }
}

/// The student's view with its texts sanitised and their formulas typeset: they come from packages and
/// teachers. A gap's choices stay plain (they are a drop-down's options, which hold text only).
fn clean_view(mut view: QuizView) -> QuizView {
    use smartcourse_formats::quiz::view::{GapKindView, KindView};
    let clean = shown_html;
    view.intro = clean(&view.intro);
    for q in &mut view.questions {
        q.prompt = if matches!(q.kind, KindView::FillBlanks { .. }) {
            shown_gap_prompt(&q.prompt)
        } else {
            clean(&q.prompt)
        };
        match &mut q.kind {
            KindView::SingleChoice { choices } | KindView::MultipleResponse { choices } => {
                choices.iter_mut().for_each(|c| c.text = clean(&c.text));
            }
            KindView::Matching { prompts, .. } => {
                prompts.iter_mut().for_each(|c| c.text = clean(&c.text));
            }
            KindView::Ordering { items } => items.iter_mut().for_each(|c| c.text = clean(&c.text)),
            KindView::FillBlanks { gaps } => {
                for g in gaps {
                    if let GapKindView::Choice { choices } = &mut g.kind {
                        choices
                            .iter_mut()
                            .for_each(|c| c.text = courses::render::clean_html(&c.text));
                    }
                }
            }
            KindView::TrueFalse
            | KindView::ShortAnswer
            | KindView::Numeric
            | KindView::Essay { .. } => {}
        }
    }
    view
}

fn view_of(conn: &Connection, quiz: &Quiz, a: &store::AttemptRow) -> Result<AttemptView> {
    let used = store::attempts_of(conn, a.user_id, a.lesson_id)?.len() as u32;
    let saved = store::answers(conn, a.id)?
        .into_iter()
        .filter_map(|r| Some((r.question_id, r.response?)))
        .collect();
    let shown = store::hints_shown(conn, a.id)?;
    let revealed_hints = quiz
        .attempt_questions(a.seed)
        .into_iter()
        .filter_map(|q| {
            let n = *shown.get(&q.id)?;
            Some((q.id.clone(), revealed(q, n)))
        })
        .collect();
    Ok(AttemptView {
        attempt_id: a.id,
        lesson_id: a.lesson_id,
        started_at: a.started_at.clone(),
        quiz: clean_view(quiz.view(a.seed)),
        saved,
        revealed_hints,
        attempts_used: used,
        max_attempts: quiz.max_attempts,
    })
}

/// The first `n` hints of `q` as shown (fewer if the quiz has fewer).
fn revealed(q: &smartcourse_formats::quiz::Question, n: usize) -> Vec<String> {
    q.hints.iter().take(n).map(|h| shown_html(h)).collect()
}

/// A question's hints revealed so far in an attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevealedHints {
    pub question_id: String,
    /// In order, sanitised HTML.
    pub hints: Vec<String>,
    /// How many hints the question has.
    pub total: usize,
}

/// Reveals the next hint of `question_id` in the caller's own open attempt `attempt_id`, durably, and answers
/// every hint revealed so far. 404 for another's attempt or a question the attempt does not show; 409
/// `attempt_submitted` once submitted, `no_hints_left` when every hint is already shown (or there is none).
pub fn reveal_hint(
    tx: &Transaction,
    actor: &Actor,
    attempt_id: i64,
    question_id: &str,
) -> Result<RevealedHints> {
    let (a, quiz) = own_open_attempt(tx, actor, attempt_id)?;
    let questions = quiz.attempt_questions(a.seed);
    let q = questions
        .iter()
        .find(|q| q.id == question_id)
        .ok_or(Error::NotFound)?;
    let shown = store::hints_shown(tx, a.id)?
        .get(question_id)
        .copied()
        .unwrap_or(0);
    if shown >= q.hints.len() {
        return Err(Error::Conflict {
            code: "no_hints_left",
            message: format!("this question has {} hints, all shown", q.hints.len()).into(),
        });
    }
    store::set_hints_shown(tx, a.id, question_id, shown + 1)?;
    tracing::info!(attempt.id = a.id, hint = shown + 1, "quiz hint revealed");
    Ok(RevealedHints {
        question_id: q.id.clone(),
        hints: revealed(q, shown + 1),
        total: q.hints.len(),
    })
}

/// Starts an attempt at the quiz of `lesson_id` for the enrolled student `actor`, or resumes their open one.
/// 409 `no_attempts_left` when the quiz's attempts are used up.
pub fn start(tx: &Transaction, actor: &Actor, lesson_id: i64) -> Result<AttemptView> {
    let (course, quiz) = readable_quiz(tx, actor, lesson_id)?;
    let user = require_student(tx, actor, course.id)?;
    if let Some(open) = store::open_attempt(tx, user, lesson_id)? {
        return view_of(tx, &attempt_quiz(tx, &open)?, &open);
    }
    let used = store::attempts_of(tx, user, lesson_id)?.len() as u32;
    if quiz.max_attempts.is_some_and(|max| used >= max) {
        return Err(Error::Conflict {
            code: "no_attempts_left",
            message: format!("you have used all {used} attempts this quiz allows").into(),
        });
    }
    let id = store::insert_attempt(tx, user, lesson_id, new_seed()?, &quiz)?;
    let attempt = store::attempt(tx, id)?.ok_or(Error::NotFound)?;
    tracing::info!(
        attempt.id = id,
        lesson.id = lesson_id,
        "quiz attempt started"
    );
    view_of(tx, &quiz, &attempt)
}

/// The attempt `attempt_id` if it is `actor`'s own and still open; 404 for another's, 409 `attempt_submitted`
/// once submitted.
fn own_open_attempt(
    conn: &Connection,
    actor: &Actor,
    attempt_id: i64,
) -> Result<(store::AttemptRow, Quiz)> {
    let user = actor.user_id().ok_or(Error::NotFound)?;
    let a = store::attempt(conn, attempt_id)?
        .filter(|a| a.user_id == user)
        .ok_or(Error::NotFound)?;
    let (course, _) = readable_quiz(conn, actor, a.lesson_id)?;
    require_student(conn, actor, course.id)?;
    let quiz = attempt_quiz(conn, &a)?;
    if a.submitted_at.is_some() {
        return Err(Error::Conflict {
            code: "attempt_submitted",
            message: "this attempt was submitted; start a new one".into(),
        });
    }
    Ok((a, quiz))
}

/// The open attempt of the calling student at the quiz of `lesson_id`, read only (404 when there is none).
pub fn resume(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<AttemptView> {
    let (course, _) = readable_quiz(conn, actor, lesson_id)?;
    let user = require_student(conn, actor, course.id)?;
    let open = store::open_attempt(conn, user, lesson_id)?.ok_or(Error::NotFound)?;
    view_of(conn, &attempt_quiz(conn, &open)?, &open)
}

/// The view of the caller's own open attempt `attempt_id` (what a submitted form answers).
pub fn attempt_view(conn: &Connection, actor: &Actor, attempt_id: i64) -> Result<AttemptView> {
    let (a, quiz) = own_open_attempt(conn, actor, attempt_id)?;
    view_of(conn, &quiz, &a)
}

/// Checks that every response names a question of the attempt (422 naming the first that does not).
fn check_answers(quiz: &Quiz, seed: u64, answers: &BTreeMap<String, Response>) -> Result<()> {
    let shown: Vec<&str> = quiz
        .attempt_questions(seed)
        .iter()
        .map(|q| q.id.as_str())
        .collect();
    match answers.keys().find(|id| !shown.contains(&id.as_str())) {
        Some(id) => Err(Error::invalid(
            format!("answers.{id}"),
            "this attempt has no such question",
        )),
        None => Ok(()),
    }
}

/// Saves answers to the open attempt `attempt_id` without grading them.
pub fn save(
    tx: &Transaction,
    actor: &Actor,
    attempt_id: i64,
    answers: &Answers,
) -> Result<AttemptView> {
    let (a, quiz) = own_open_attempt(tx, actor, attempt_id)?;
    check_answers(&quiz, a.seed, &answers.answers)?;
    store::save_responses(tx, a.id, &answers.answers)?;
    view_of(tx, &quiz, &a)
}

/// Saves the last answers and submits the attempt: graded, stored with `quiz.attempted` (and `quiz.passed`
/// when it passes) in this one transaction.
pub fn submit(
    tx: &Transaction,
    actor: &Actor,
    attempt_id: i64,
    answers: &Answers,
) -> Result<AttemptResult> {
    let (a, quiz) = own_open_attempt(tx, actor, attempt_id)?;
    check_answers(&quiz, a.seed, &answers.answers)?;
    store::save_responses(tx, a.id, &answers.answers)?;
    let responses: BTreeMap<String, Response> = store::answers(tx, a.id)?
        .into_iter()
        .filter_map(|r| Some((r.question_id, r.response?)))
        .collect();
    let earlier = store::history(tx, a.user_id, a.lesson_id, a.id)?;
    let graded = grade_quiz(&quiz, a.seed, &responses, &earlier);
    for (question, g) in &graded.questions {
        store::write_grade(tx, a.id, question, g, None)?;
    }
    store::finish_attempt(tx, a.id, graded.score, graded.points, graded.passed)?;
    crate::events::emit(
        tx,
        &Event::QuizAttempted {
            attempt_id: a.id,
            lesson_id: a.lesson_id,
            course_id: a.course_id,
            user_id: a.user_id,
            percent: graded.percent,
            passed: graded.passed,
        },
    )?;
    if graded.passed {
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
    tracing::info!(
        attempt.id = a.id,
        passed = graded.passed,
        "quiz attempt submitted"
    );
    result(tx, actor, a.id)
}

fn percent(score: f64, points: f64) -> f64 {
    if points > 0.0 {
        score / points * 100.0
    } else {
        0.0
    }
}

/// A submitted attempt's result: for its student and the course's editors (404 for anyone else, 409
/// `attempt_open` while it is open, so no result can be read before submitting).
pub fn result(conn: &Connection, actor: &Actor, attempt_id: i64) -> Result<AttemptResult> {
    let a = store::attempt(conn, attempt_id)?.ok_or(Error::NotFound)?;
    let mine = actor.user_id() == Some(a.user_id);
    // Someone else's attempt in a course they may not read: 404, not 403, so ids tell outsiders nothing.
    let (course, _) = match readable_quiz(conn, actor, a.lesson_id) {
        Err(Error::Forbidden) if !mine => return Err(Error::NotFound),
        other => other?,
    };
    let quiz = attempt_quiz(conn, &a)?;
    if !mine && !courses::may_edit(actor, &course) {
        return Err(Error::NotFound);
    }
    let Some(submitted_at) = a.submitted_at.clone() else {
        return Err(Error::Conflict {
            code: "attempt_open",
            message: "this attempt has not been submitted yet".into(),
        });
    };
    let answers: BTreeMap<String, store::AnswerRow> = store::answers(conn, a.id)?
        .into_iter()
        .map(|r| (r.question_id.clone(), r))
        .collect();
    let questions: Vec<QuestionResult> = quiz
        .attempt_questions(a.seed)
        .into_iter()
        .map(|q| {
            let row = answers.get(&q.id);
            QuestionResult {
                question_id: q.id.clone(),
                prompt: if matches!(q.kind, QuestionKind::FillBlanks { .. }) {
                    shown_gap_prompt(&q.prompt)
                } else {
                    shown_html(&q.prompt)
                },
                points: q.points,
                score: row.and_then(|r| r.score).unwrap_or(0.0),
                correct: row.and_then(|r| r.correct).unwrap_or(false),
                needs_marking: row.is_some_and(|r| r.needs_marking),
                response: row.and_then(|r| r.response.clone()),
                feedback: row
                    .map(|r| r.feedback.iter().map(|f| shown_html(f)).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let (score, points) = (a.score.unwrap_or(0.0), a.points.unwrap_or(0.0));
    Ok(AttemptResult {
        attempt_id: a.id,
        lesson_id: a.lesson_id,
        user_id: a.user_id,
        started_at: a.started_at,
        submitted_at,
        score,
        points,
        percent: percent(score, points),
        passed: a.passed.unwrap_or(false),
        needs_marking: questions.iter().any(|q| q.needs_marking),
        questions,
    })
}

/// The caller's attempts at a quiz (students: their own).
pub fn my_attempts(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<MyAttempts> {
    let (course, quiz) = readable_quiz(conn, actor, lesson_id)?;
    let user = actor.user_id().ok_or(Error::NotFound)?;
    let enrolled = enrollment::is_enrolled(conn, course.id, user)?;
    let rows = store::attempts_of(conn, user, lesson_id)?;
    let open = rows.iter().any(|a| a.submitted_at.is_none());
    let used = rows.len() as u32;
    Ok(MyAttempts {
        lesson_id,
        passed: rows.iter().any(|a| a.passed == Some(true)),
        can_attempt: enrolled && (open || quiz.max_attempts.is_none_or(|m| used < m)),
        max_attempts: quiz.max_attempts,
        attempts: rows
            .into_iter()
            .map(|a| AttemptSummary {
                attempt_id: a.id,
                started_at: a.started_at,
                percent: a.score.zip(a.points).map(|(s, p)| percent(s, p)),
                submitted_at: a.submitted_at,
                score: a.score,
                points: a.points,
                passed: a.passed,
            })
            .collect(),
    })
}

/// What the tutor must know while a student has quiz attempts open in a course: the quizzes' titles, and the
/// texts their hidden answers accept (short answers, numbers, text gaps: answers the student cannot see in
/// the questions), which the tutor must never write.
#[derive(Debug, Default, Clone)]
pub struct OpenQuizzes {
    /// Titles of the quiz lessons with an open attempt.
    pub titles: Vec<String>,
    /// Accepted answers that appear nowhere in the questions as shown (without wildcards, 2+ characters).
    pub answers: Vec<String>,
}

impl OpenQuizzes {
    /// Whether any attempt is open.
    pub fn any(&self) -> bool {
        !self.titles.is_empty()
    }

    /// Whether `text` gives away one of the hidden answers (case-insensitive, as whole words).
    pub fn reveals(&self, text: &str) -> bool {
        let text = spaced_words(text);
        self.answers.iter().any(|a| {
            let a = spaced_words(a);
            a.trim() != "" && text.contains(&a)
        })
    }
}

/// `text`'s words, lower case, with a space before and after each (" 1 3 " for "1/3"), so that one answer's
/// words can be found as whole words in another text. Dots and dashes stay inside words ("2.5", "x-ray").
fn spaced_words(text: &str) -> String {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '.' && c != '-')
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '-').to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    format!(" {} ", words.join(" "))
}

/// The quizzes `user` has an attempt open at in `course_id` (see [`OpenQuizzes`]).
pub fn open_for_tutor(conn: &Connection, user: i64, course_id: i64) -> Result<OpenQuizzes> {
    let mut stmt = conn.prepare(
        "SELECT a.id, l.title FROM quiz_attempts a
           JOIN quizzes q ON q.lesson_id = a.lesson_id
           JOIN lessons l ON l.id = a.lesson_id
          WHERE a.user_id = ?1 AND a.submitted_at IS NULL AND q.course_id = ?2",
    )?;
    let open: Vec<(i64, String)> = stmt
        .query_map(rusqlite::params![user, course_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = OpenQuizzes::default();
    for (attempt, title) in open {
        out.titles.push(title);
        // The answers of the version the student is answering, which may differ from the quiz now.
        let quiz = match store::attempt(conn, attempt)? {
            Some(a) => store::attempt_quiz(conn, &a)?,
            None => None,
        };
        if let Some(quiz) = quiz {
            for q in &quiz.questions {
                hidden_answers(q, &mut out.answers);
            }
        }
    }
    out.answers
        .retain(|a| a.chars().count() >= 2 && !a.contains('*'));
    out.answers.sort();
    out.answers.dedup();
    Ok(out)
}

fn hidden_answers(q: &smartcourse_formats::quiz::Question, out: &mut Vec<String>) {
    use smartcourse_formats::quiz::{GapKind, NumericAnswer, NumericValue, TextAnswer};
    let texts = |a: &[TextAnswer], out: &mut Vec<String>| {
        out.extend(
            a.iter()
                .filter(|a| a.fraction > 0.0)
                .map(|a| a.pattern.trim().to_owned()),
        )
    };
    let numbers = |a: &[NumericAnswer], out: &mut Vec<String>| {
        for a in a.iter().filter(|a| a.fraction > 0.0) {
            if let NumericValue::Exact { value, .. } = a.value {
                out.push(value.to_string());
            }
        }
    };
    match &q.kind {
        QuestionKind::ShortAnswer { answers, .. } => texts(answers, out),
        QuestionKind::Numeric { answers } => numbers(answers, out),
        QuestionKind::FillBlanks { gaps } => {
            for g in gaps {
                match &g.kind {
                    GapKind::Text { answers, .. } => texts(answers, out),
                    GapKind::Numeric { answers } => numbers(answers, out),
                    GapKind::Choice { .. } => {}
                }
            }
        }
        _ => {}
    }
}
