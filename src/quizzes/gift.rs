//! A lesson's quiz to and from Moodle's GIFT text (`smartcourse quiz import-gift`/`export-gift` and the
//! teacher's upload on the quiz page). GIFT holds questions only: the quiz's own settings (title, pass rule,
//! attempts, shuffling, drawing) stay with the lesson, so exporting a quiz and importing the file again into
//! the same lesson gives the same quiz.
//!
//! Replacing the questions of a quiz that students have attempted is refused (409 `quiz_has_attempts`) unless
//! the caller forces it: the teacher's figures would then mix two versions. The attempts themselves keep the
//! version they were started on (`quiz_versions`), open ones included.

use rusqlite::{Connection, Transaction};
use serde::Serialize;
use smartcourse_formats::quiz::{PassRule, Question, gift};
use smartcourse_formats::{Budget, Limits};

use super::{Quiz, quiz_of, set_quiz, store};
use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};

/// The largest GIFT file the teacher's page takes (a file of a thousand questions is well under 1 MiB).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The questions of a GIFT file, read with the quiz core's parser under the package budget of `limits`.
/// 422 `invalid_input` (field `gift`) says the line of the first mistake; an empty file is refused too.
/// Pure CPU work: call it before opening a transaction.
pub fn parse(text: &str, limits: &Limits) -> Result<Vec<Question>> {
    let questions = gift::parse(text, &Budget::new(limits))?;
    if questions.is_empty() {
        return Err(Error::invalid("gift", "the file holds no question"));
    }
    let mut ids: Vec<&str> = questions.iter().map(|q| q.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::invalid(
            "gift",
            format!("two questions have the id “{}”", w[0]),
        ));
    }
    Ok(questions)
}

/// What replacing a quiz's questions did.
#[derive(Debug, Clone, Serialize)]
pub struct Replaced {
    pub lesson_id: i64,
    pub questions: usize,
    /// Whether the lesson had no quiz before (it is a quiz lesson now).
    pub created: bool,
    /// Attempts (open or submitted) made at the quiz before, kept as they were.
    pub earlier_attempts: usize,
}

/// Makes `questions` the quiz of lesson `lesson_id` (the course's owner and admins). A quiz already there
/// keeps its settings; a new one is named after the lesson, with the default rules. 409
/// `quiz_has_attempts` when students have attempted the quiz, unless `force`: their attempts then keep their
/// scores and passes.
pub fn replace_questions(
    tx: &Transaction,
    actor: &Actor,
    lesson_id: i64,
    questions: Vec<Question>,
    force: bool,
) -> Result<Replaced> {
    courses::require_lesson_edit(tx, actor, lesson_id)?;
    let attempts = store::attempt_count(tx, lesson_id)?;
    if attempts > 0 && !force {
        return Err(Error::Conflict {
            code: "quiz_has_attempts",
            message: format!(
                "students have made {attempts} attempt(s) at this quiz; replacing its questions would mix \
                 two versions in its figures (the attempts keep the questions they were started on)"
            )
            .into(),
        });
    }
    let existing = quiz_of(tx, lesson_id)?;
    let created = existing.is_none();
    let quiz = match existing {
        Some(q) => Quiz { questions, ..q },
        None => Quiz::new(store::lesson_title(tx, lesson_id)?, questions),
    };
    set_quiz(tx, lesson_id, Some(&quiz))?;
    tracing::info!(
        lesson.id = lesson_id,
        questions = quiz.questions.len(),
        forced = attempts > 0,
        "quiz questions replaced"
    );
    Ok(Replaced {
        lesson_id,
        questions: quiz.questions.len(),
        created,
        earlier_attempts: attempts,
    })
}

/// A quiz written as GIFT, and what the file does not hold.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub text: String,
    pub written: usize,
    /// Questions GIFT cannot express, each with the reason (the question's name is in it).
    pub left_out: Vec<String>,
    /// The quiz's settings, in words: GIFT has no syntax for them; they stay with the lesson.
    pub settings: Vec<String>,
}

/// The quiz of lesson `lesson_id` as GIFT (the course's owner and admins; 404 when it is no quiz lesson).
/// Each question GIFT cannot express is left out and listed, never dropped silently.
pub fn export(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<Exported> {
    courses::require_lesson_edit(conn, actor, lesson_id)?;
    let quiz = quiz_of(conn, lesson_id)?.ok_or(Error::NotFound)?;
    let mut text = String::new();
    let mut left_out = Vec::new();
    for q in &quiz.questions {
        match gift::write(std::slice::from_ref(q)) {
            Ok(one) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&one);
            }
            Err(smartcourse_formats::Error::Invalid { message, .. }) => {
                left_out.push(message.into_owned());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Exported {
        written: quiz.questions.len() - left_out.len(),
        text,
        left_out,
        settings: settings(&quiz),
    })
}

/// A quiz's settings in words.
fn settings(quiz: &Quiz) -> Vec<String> {
    let mut out = vec![format!("title “{}”", quiz.title)];
    if !quiz.intro.trim().is_empty() {
        out.push("an introduction".into());
    }
    out.push(match quiz.pass {
        PassRule::Score { percent } => format!("pass at {percent}% of the points"),
        PassRule::Mastery { m, n } => format!("pass with {m} of the last {n} answers right"),
    });
    out.push(match quiz.max_attempts {
        Some(n) => format!("at most {n} attempt(s)"),
        None => "unlimited attempts".into(),
    });
    if quiz.shuffle_questions {
        out.push("questions shuffled in each attempt".into());
    }
    if let Some(n) = quiz.draw {
        out.push(format!("{n} question(s) drawn for each attempt"));
    }
    for g in &quiz.groups {
        out.push(format!(
            "{} of the {} question(s) of the group “{}” drawn for each attempt",
            g.draw,
            g.questions.len(),
            g.title
        ));
    }
    out
}
