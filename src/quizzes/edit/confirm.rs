//! When an edit must be confirmed: a change to how a quiz grades, while students have attempted it.
//!
//! Their attempts are safe either way (each keeps the `quiz_versions` copy it was started on, and is shown,
//! graded and reported against it); what the confirmation protects is the teacher's understanding that the
//! quiz's figures will now mix two versions, and that new attempts get the new one.

use rusqlite::{Connection, Transaction};

use crate::error::{Error, Result};
use crate::quizzes::{Quiz, set_quiz};
use smartcourse_formats::quiz::QuestionKind;

/// How many students have attempts (open or submitted) at the quiz of `lesson_id`.
pub fn students_with_attempts(conn: &Connection, lesson_id: i64) -> Result<usize> {
    let n: i64 = conn.query_row(
        "SELECT count(DISTINCT user_id) FROM quiz_attempts WHERE lesson_id = ?1",
        [lesson_id],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

/// What of a quiz decides scores and passes: the quiz without its texts that grade nothing (titles, intro,
/// prompts but a fill-in's blanks, feedback, hints), its shuffling and its attempts limit.
fn grading(quiz: &Quiz) -> Quiz {
    let mut q = quiz.clone();
    q.title.clear();
    q.intro.clear();
    q.shuffle_questions = false;
    q.max_attempts = None;
    for question in &mut q.questions {
        question.title.clear();
        if !matches!(question.kind, QuestionKind::FillBlanks { .. }) {
            question.prompt.clear();
        }
        question.feedback.clear();
        question.hints.clear();
        question.shuffle_choices = false;
        match &mut question.kind {
            QuestionKind::SingleChoice { choices }
            | QuestionKind::MultipleResponse { choices, .. } => {
                choices.iter_mut().for_each(|c| c.feedback.clear());
            }
            QuestionKind::TrueFalse {
                feedback_true,
                feedback_false,
                ..
            } => {
                feedback_true.clear();
                feedback_false.clear();
            }
            _ => {}
        }
    }
    q
}

/// Refuses (409 `confirm_quiz_change`) a change from `old` to `new` that grades differently while students
/// have attempted the quiz, unless the teacher `confirm`ed it.
pub fn check_change(
    conn: &Connection,
    lesson_id: i64,
    old: &Quiz,
    new: &Quiz,
    confirm: bool,
) -> Result<()> {
    if confirm || grading(old) == grading(new) {
        return Ok(());
    }
    let students = students_with_attempts(conn, lesson_id)?;
    if students == 0 {
        return Ok(());
    }
    Err(Error::Conflict {
        code: "confirm_quiz_change",
        message: format!(
            "{students} student(s) have attempts on this quiz; their attempts keep the version they took, new \
             attempts use the new one: confirm the change to save it"
        )
        .into(),
    })
}

/// Saves `new` as the quiz of `lesson_id` once [`check_change`] allows it.
pub(super) fn save(
    tx: &Transaction,
    lesson_id: i64,
    old: &Quiz,
    new: &Quiz,
    confirm: bool,
) -> Result<()> {
    check_change(tx, lesson_id, old, new, confirm)?;
    set_quiz(tx, lesson_id, Some(new))
}
