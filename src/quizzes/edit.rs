//! A teacher edits a quiz question by question in the browser: a question's text (any kind), a choice
//! question's choices and which are right, and a new single-choice question. Larger changes go through GIFT
//! ([`super::gift`]).
//!
//! Students' attempts keep the version they were started on (`quiz_versions`), so an edit never changes an
//! attempt already made or open; the next attempt gets it.

use rusqlite::{Connection, Transaction};

use super::{Quiz, quiz_of, set_quiz, store};
use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};
use smartcourse_formats::quiz::{Choice, Credit, Question, QuestionKind, text_id};

/// At most this many characters in a prompt (HTML, cleaned when shown).
const MAX_PROMPT: usize = 10_000;
/// At most this many characters in a choice.
const MAX_CHOICE: usize = 1_000;
/// At most this many choices.
const MAX_CHOICES: usize = 20;

/// A question as the teacher's form sends it. `choices` are the form's rows in order (empty rows are left
/// out); `right` are the places (0-based, among all rows) of the rows marked right. Choices are ignored for a
/// question without any.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub prompt: String,
    pub choices: Vec<String>,
    pub right: Vec<usize>,
}

/// The quiz of `lesson_id` for its editor (404 when it is no quiz lesson), and question `index` (0-based, in
/// the teacher's order) of it, 404 when it has none such.
pub fn question(
    conn: &Connection,
    actor: &Actor,
    lesson_id: i64,
    index: usize,
) -> Result<Question> {
    courses::require_lesson_edit(conn, actor, lesson_id)?;
    let quiz = quiz_of(conn, lesson_id)?.ok_or(Error::NotFound)?;
    quiz.questions.get(index).cloned().ok_or(Error::NotFound)
}

/// The prompt, checked (422 on `prompt`).
fn prompt_of(d: &Draft) -> Result<String> {
    let p = d.prompt.trim();
    if p.is_empty() {
        return Err(Error::invalid("prompt", "a question needs its text"));
    }
    if p.chars().count() > MAX_PROMPT {
        return Err(Error::invalid(
            "prompt",
            format!("a question's text is at most {MAX_PROMPT} characters"),
        ));
    }
    Ok(p.to_owned())
}

/// The draft's filled-in choices with whether each is right: 2 to 20, distinct, each at most 1,000
/// characters (422 on `choices`), and with `one_right` exactly one right, else at least one (422 on
/// `right`).
fn rows_of(d: &Draft, one_right: bool) -> Result<Vec<(String, bool)>> {
    let rows: Vec<(String, bool)> = d
        .choices
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(i, t)| (t.trim().to_owned(), d.right.contains(&i)))
        .collect();
    if rows.len() < 2 || rows.len() > MAX_CHOICES {
        return Err(Error::invalid(
            "choices",
            format!("a choice question has 2 to {MAX_CHOICES} choices"),
        ));
    }
    if rows.iter().any(|(t, _)| t.chars().count() > MAX_CHOICE) {
        return Err(Error::invalid(
            "choices",
            format!("a choice is at most {MAX_CHOICE} characters"),
        ));
    }
    let mut texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    texts.sort_unstable();
    if texts.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::invalid("choices", "two choices have the same text"));
    }
    let right = rows.iter().filter(|(_, r)| *r).count();
    match (one_right, right) {
        (true, 1) => Ok(rows),
        (true, _) => Err(Error::invalid(
            "right",
            "mark exactly one choice as the right one",
        )),
        (false, 0) => Err(Error::invalid("right", "mark at least one choice as right")),
        (false, _) => Ok(rows),
    }
}

/// Choices from the rows, keeping the feedback of a choice whose text is unchanged. Right choices share the
/// points; under Moodle's sum of fractions a wrong one takes an equal share away, so ticking every box does
/// not earn them all.
fn choices_from(rows: Vec<(String, bool)>, old: &[Choice], credit: Option<Credit>) -> Vec<Choice> {
    let right = rows.iter().filter(|(_, r)| *r).count().max(1) as f64;
    let wrong = rows.iter().filter(|(_, r)| !*r).count().max(1) as f64;
    rows.into_iter()
        .map(|(text, is_right)| Choice {
            id: text_id(&text),
            feedback: old
                .iter()
                .find(|c| c.text == text)
                .map(|c| c.feedback.clone())
                .unwrap_or_default(),
            fraction: match (is_right, credit) {
                (true, _) => 1.0 / right,
                (false, Some(Credit::SumOfFractions)) => -1.0 / wrong,
                (false, _) => 0.0,
            },
            text,
        })
        .collect()
}

/// Changes question `index` of the quiz of `lesson_id` (the course's owner and admins): its text, and for a
/// choice question its choices and which are right. Everything else about it stays.
pub fn edit_question(
    tx: &Transaction,
    actor: &Actor,
    lesson_id: i64,
    index: usize,
    d: &Draft,
) -> Result<()> {
    courses::require_lesson_edit(tx, actor, lesson_id)?;
    let mut quiz = quiz_of(tx, lesson_id)?.ok_or(Error::NotFound)?;
    let q = quiz.questions.get_mut(index).ok_or(Error::NotFound)?;
    let prompt = prompt_of(d)?;
    match &mut q.kind {
        QuestionKind::SingleChoice { choices } => {
            *choices = choices_from(rows_of(d, true)?, choices, None);
        }
        QuestionKind::MultipleResponse { choices, credit } => {
            *choices = choices_from(rows_of(d, false)?, choices, Some(*credit));
        }
        _ => {}
    }
    q.prompt = prompt;
    set_quiz(tx, lesson_id, Some(&quiz))?;
    tracing::info!(
        lesson.id = lesson_id,
        question = index,
        "quiz question edited"
    );
    Ok(())
}

/// Adds a single-choice question worth one point at the end of the quiz of `lesson_id` (making the lesson a
/// quiz lesson, named after it, when it is none); returns its place (0-based).
pub fn add_question(tx: &Transaction, actor: &Actor, lesson_id: i64, d: &Draft) -> Result<usize> {
    courses::require_lesson_edit(tx, actor, lesson_id)?;
    let prompt = prompt_of(d)?;
    let rows = rows_of(d, true)?;
    let mut quiz = match quiz_of(tx, lesson_id)? {
        Some(q) => q,
        None => Quiz::new(store::lesson_title(tx, lesson_id)?, Vec::new()),
    };
    let mut n = quiz.questions.len() + 1;
    let id = loop {
        let id = format!("added-{n}");
        if !quiz.questions.iter().any(|q| q.id == id) {
            break id;
        }
        n += 1;
    };
    let choices = choices_from(rows, &[], None);
    quiz.questions.push(Question::new(
        id,
        prompt,
        QuestionKind::SingleChoice { choices },
    ));
    set_quiz(tx, lesson_id, Some(&quiz))?;
    tracing::info!(lesson.id = lesson_id, "quiz question added");
    Ok(quiz.questions.len() - 1)
}
