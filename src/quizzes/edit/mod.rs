//! A teacher edits a quiz question by question, on the quiz's page or through the API: any question's text, points and feedback, and
//! its answers whatever its kind ([`Draft`]; the answer lines are read by [`answers`]); new questions of every
//! kind; deleting and moving questions; and the quiz's own rules ([`settings`]). Whole sets of questions come
//! and go through GIFT ([`super::gift`]).
//!
//! Students' attempts keep the version they were started on (`quiz_versions`, see [`super::store`]), so an
//! edit never changes an attempt already made or open; the next attempt gets it. An edit that changes how a
//! quiz is graded (answers, points, the questions, the pass rule, the draw) while students have attempts is
//! saved only once the teacher confirms it (409 `confirm_quiz_change` until then; see [`check_change`]),
//! because the quiz's figures then mix two versions.

pub mod answers;
mod confirm;
pub mod settings;

use confirm::save;
pub use confirm::{check_change, students_with_attempts};

use rusqlite::{Connection, Transaction};
use serde::Serialize;

use super::{Quiz, quiz_of, set_quiz, store};
use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};
use smartcourse_formats::quiz::{Choice, Credit, Question, QuestionKind, Whitespace, text_id};

/// At most this many characters in a prompt or a feedback (HTML, cleaned when shown).
const MAX_PROMPT: usize = 10_000;
/// At most this many characters in a choice.
const MAX_CHOICE: usize = 1_000;
/// At most this many choices.
const MAX_CHOICES: usize = 20;
/// The most points a question may be worth.
const MAX_POINTS: f64 = 1_000.0;

/// The kinds a new question may have, by the name the form sends (the model's own tag).
pub const KINDS: &[&str] = &[
    "single_choice",
    "multiple_response",
    "true_false",
    "short_answer",
    "numeric",
    "matching",
    "ordering",
    "fill_blanks",
    "essay",
];

/// The form's name of a question's kind (one of [`KINDS`]).
pub fn kind_tag(kind: &QuestionKind) -> &'static str {
    match kind {
        QuestionKind::SingleChoice { .. } => "single_choice",
        QuestionKind::MultipleResponse { .. } => "multiple_response",
        QuestionKind::TrueFalse { .. } => "true_false",
        QuestionKind::ShortAnswer { .. } => "short_answer",
        QuestionKind::Numeric { .. } => "numeric",
        QuestionKind::Matching { .. } => "matching",
        QuestionKind::Ordering { .. } => "ordering",
        QuestionKind::FillBlanks { .. } => "fill_blanks",
        QuestionKind::Essay { .. } => "essay",
    }
}

/// A question as the teacher's form sends it (and shows it again, with a mistake marked). Which fields count
/// depends on the kind: a choice question's `choices` (the rows in order; empty ones are left out) and `right`
/// (the places, 0-based among all rows, of those marked right); a true/false question's `truth`; the other
/// kinds' `answers`, one per line ([`answers`]). `points` and `feedback` left out (`None`) stay as they were.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Draft {
    /// One of [`KINDS`]: only read when adding a question (an edit keeps the question's kind).
    pub kind: String,
    pub prompt: String,
    pub choices: Vec<String>,
    pub right: Vec<usize>,
    /// `true` or `false`.
    pub truth: String,
    pub answers: String,
    pub case_sensitive: bool,
    pub shuffle_choices: bool,
    pub points: Option<String>,
    pub feedback: Option<String>,
    /// The teacher confirmed a change of grading although students have attempted the quiz.
    pub confirm: bool,
}

impl Draft {
    /// The form of question `q` as it is.
    pub fn of(q: &Question) -> Draft {
        let mut d = Draft {
            kind: kind_tag(&q.kind).to_owned(),
            prompt: q.prompt.clone(),
            points: Some(q.points.to_string()),
            feedback: Some(q.feedback.clone()),
            shuffle_choices: q.shuffle_choices,
            ..Draft::default()
        };
        match &q.kind {
            QuestionKind::SingleChoice { choices }
            | QuestionKind::MultipleResponse { choices, .. } => {
                d.choices = choices.iter().map(|c| c.text.clone()).collect();
                d.right = (0..choices.len())
                    .filter(|&i| choices[i].fraction > 0.0)
                    .collect();
            }
            QuestionKind::TrueFalse { answer, .. } => d.truth = answer.to_string(),
            QuestionKind::ShortAnswer {
                answers: a,
                case_sensitive,
                ..
            } => {
                d.answers = answers::text_lines(a);
                d.case_sensitive = *case_sensitive;
            }
            QuestionKind::Numeric { answers: a } => d.answers = answers::numeric_lines(a),
            QuestionKind::Matching { pairs, distractors } => {
                d.answers = answers::pair_lines(pairs, distractors);
            }
            QuestionKind::Ordering { items } => d.answers = answers::item_lines(items),
            QuestionKind::FillBlanks { gaps } => d.answers = answers::gap_lines(gaps),
            QuestionKind::Essay { .. } => {}
        }
        d
    }
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

/// A text of at most [`MAX_PROMPT`] characters, trimmed (422 on `field`).
fn long_text(text: &str, field: &'static str, what: &str) -> Result<String> {
    let t = text.trim();
    if t.chars().count() > MAX_PROMPT {
        return Err(Error::invalid(
            field,
            format!("{what} is at most {MAX_PROMPT} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// The prompt, checked (422 on `prompt`).
fn prompt_of(d: &Draft) -> Result<String> {
    let p = long_text(&d.prompt, "prompt", "a question's text")?;
    if p.is_empty() {
        return Err(Error::invalid("prompt", "a question needs its text"));
    }
    Ok(p)
}

/// The points, when the form sends them: a number above 0, at most [`MAX_POINTS`] (422 on `points`).
fn points_of(d: &Draft) -> Result<Option<f64>> {
    let Some(p) = d.points.as_deref().map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    match p.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= MAX_POINTS => Ok(Some(v)),
        _ => Err(Error::invalid(
            "points",
            format!("points are a number above 0, at most {MAX_POINTS}"),
        )),
    }
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

/// The answers of a question of kind `tag` from the draft, keeping what the form does not show from `old`
/// (the question's kind before, of the same tag, when editing).
fn kind_of(d: &Draft, tag: &str, prompt: &str, old: Option<&QuestionKind>) -> Result<QuestionKind> {
    use QuestionKind as K;
    Ok(match (tag, old) {
        ("single_choice", old) => {
            let old = match old {
                Some(K::SingleChoice { choices }) => choices.as_slice(),
                _ => &[],
            };
            K::SingleChoice {
                choices: choices_from(rows_of(d, true)?, old, None),
            }
        }
        ("multiple_response", old) => {
            let (old, credit) = match old {
                Some(K::MultipleResponse { choices, credit }) => (choices.as_slice(), *credit),
                // Moodle's rule, the one GIFT questions have: a wrong tick costs what a right one earns.
                _ => (&[][..], Credit::SumOfFractions),
            };
            K::MultipleResponse {
                choices: choices_from(rows_of(d, false)?, old, Some(credit)),
                credit,
            }
        }
        ("true_false", old) => {
            let answer = match d.truth.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(Error::invalid(
                        "truth",
                        "choose whether the statement is true or false",
                    ));
                }
            };
            match old {
                Some(K::TrueFalse {
                    feedback_true,
                    feedback_false,
                    ..
                }) => K::TrueFalse {
                    answer,
                    feedback_true: feedback_true.clone(),
                    feedback_false: feedback_false.clone(),
                },
                _ => K::TrueFalse {
                    answer,
                    feedback_true: String::new(),
                    feedback_false: String::new(),
                },
            }
        }
        ("short_answer", old) => {
            let (old, whitespace) = match old {
                Some(K::ShortAnswer {
                    answers,
                    whitespace,
                    ..
                }) => (answers.as_slice(), *whitespace),
                _ => (&[][..], Whitespace::default()),
            };
            K::ShortAnswer {
                answers: answers::text_answers(&d.answers, old)?,
                case_sensitive: d.case_sensitive,
                whitespace,
            }
        }
        ("numeric", old) => {
            let old = match old {
                Some(K::Numeric { answers }) => answers.as_slice(),
                _ => &[],
            };
            K::Numeric {
                answers: answers::numeric_answers(&d.answers, old)?,
            }
        }
        ("matching", _) => {
            let (pairs, distractors) = answers::pairs(&d.answers)?;
            K::Matching { pairs, distractors }
        }
        ("ordering", _) => K::Ordering {
            items: answers::items(&d.answers)?,
        },
        ("fill_blanks", old) => {
            let old = match old {
                Some(K::FillBlanks { gaps }) => gaps.as_slice(),
                _ => &[],
            };
            K::FillBlanks {
                gaps: answers::gaps(prompt, &d.answers, old)?,
            }
        }
        ("essay", Some(old @ K::Essay { .. })) => old.clone(),
        ("essay", _) => K::Essay {
            template: String::new(),
            grader_info: String::new(),
        },
        _ => return Err(Error::invalid("kind", "no such kind of question")),
    })
}

/// `q` with the draft's text, points, feedback, answers and (for a choice question) shuffling.
fn apply(d: &Draft, q: &mut Question, tag: &str, old: Option<&QuestionKind>) -> Result<()> {
    let prompt = prompt_of(d)?;
    let points = points_of(d)?;
    let feedback = match &d.feedback {
        Some(f) => Some(long_text(f, "feedback", "a feedback")?),
        None => None,
    };
    q.kind = kind_of(d, tag, &prompt, old)?;
    q.prompt = prompt;
    if let Some(p) = points {
        q.points = p;
    }
    if let Some(f) = feedback {
        q.feedback = f;
    }
    if matches!(tag, "single_choice" | "multiple_response") {
        q.shuffle_choices = d.shuffle_choices;
    }
    Ok(())
}

/// Changes question `index` of the quiz of `lesson_id` (the course's owner and admins): its text, points,
/// feedback and answers, its kind staying. A change of grading needs `d.confirm` once students have attempted
/// the quiz.
pub fn edit_question(
    tx: &Transaction,
    actor: &Actor,
    lesson_id: i64,
    index: usize,
    d: &Draft,
) -> Result<()> {
    courses::require_lesson_edit(tx, actor, lesson_id)?;
    let old = quiz_of(tx, lesson_id)?.ok_or(Error::NotFound)?;
    let mut quiz = old.clone();
    let q = quiz.questions.get_mut(index).ok_or(Error::NotFound)?;
    let kind = q.kind.clone();
    apply(d, q, kind_tag(&kind), Some(&kind))?;
    save(tx, lesson_id, &old, &quiz, d.confirm)?;
    tracing::info!(
        lesson.id = lesson_id,
        question = index,
        "quiz question edited"
    );
    Ok(())
}

/// Adds a question of kind `d.kind` (single choice when empty) at the end of the quiz of `lesson_id`, worth
/// one point unless the draft says otherwise (making the lesson a quiz lesson, named after it, when it is
/// none); returns its place (0-based).
pub fn add_question(tx: &Transaction, actor: &Actor, lesson_id: i64, d: &Draft) -> Result<usize> {
    courses::require_lesson_edit(tx, actor, lesson_id)?;
    let tag = if d.kind.is_empty() {
        "single_choice"
    } else {
        d.kind.as_str()
    };
    if !KINDS.contains(&tag) {
        return Err(Error::invalid("kind", "no such kind of question"));
    }
    let old = quiz_of(tx, lesson_id)?;
    let mut quiz = match &old {
        Some(q) => q.clone(),
        None => Quiz::new(store::lesson_title(tx, lesson_id)?, Vec::new()),
    };
    // A random id: attempts and results name questions by id, and an id a deleted question had must not
    // come back meaning another question.
    let id = loop {
        let id = format!("added-{:08x}", super::new_seed()? as u32);
        if !quiz.questions.iter().any(|q| q.id == id) {
            break id;
        }
    };
    let mut q = Question::new(
        id,
        String::new(),
        QuestionKind::Essay {
            template: String::new(),
            grader_info: String::new(),
        },
    );
    apply(d, &mut q, tag, None)?;
    quiz.questions.push(q);
    match &old {
        Some(old) => save(tx, lesson_id, old, &quiz, d.confirm)?,
        None => set_quiz(tx, lesson_id, Some(&quiz))?,
    }
    tracing::info!(lesson.id = lesson_id, kind = tag, "quiz question added");
    Ok(quiz.questions.len() - 1)
}

/// Deletes question `index` of the quiz of `lesson_id` once the teacher `confirm`ed it (422 on `confirm`
/// otherwise): the confirmation page says what students' attempts keep. The last question stays (409
/// `last_question`): a quiz lesson without questions could not be taken.
pub fn delete_question(
    tx: &Transaction,
    actor: &Actor,
    lesson_id: i64,
    index: usize,
    confirm: bool,
) -> Result<()> {
    courses::require_lesson_edit(tx, actor, lesson_id)?;
    let mut quiz = quiz_of(tx, lesson_id)?.ok_or(Error::NotFound)?;
    if index >= quiz.questions.len() {
        return Err(Error::NotFound);
    }
    if !confirm {
        return Err(Error::invalid(
            "confirm",
            "confirm that the question is to be deleted",
        ));
    }
    if quiz.questions.len() == 1 {
        return Err(Error::Conflict {
            code: "last_question",
            message: "a quiz keeps at least one question; add another before deleting this one"
                .into(),
        });
    }
    let gone = quiz.questions.remove(index);
    for g in &mut quiz.groups {
        g.questions.retain(|id| *id != gone.id);
    }
    set_quiz(tx, lesson_id, Some(&quiz))?;
    tracing::info!(
        lesson.id = lesson_id,
        question = index,
        "quiz question deleted"
    );
    Ok(())
}

/// Moves question `index` of the quiz of `lesson_id` one place `up` or `down` (422 on `direction` for
/// anything else); nothing happens at either end. Order grades nothing, so no confirmation is asked. Returns
/// the question's new place.
pub fn move_question(
    tx: &Transaction,
    actor: &Actor,
    lesson_id: i64,
    index: usize,
    direction: &str,
) -> Result<usize> {
    courses::require_lesson_edit(tx, actor, lesson_id)?;
    let step: i64 = match direction {
        "up" => -1,
        "down" => 1,
        _ => return Err(Error::invalid("direction", "move up or down")),
    };
    let mut quiz = quiz_of(tx, lesson_id)?.ok_or(Error::NotFound)?;
    if index >= quiz.questions.len() {
        return Err(Error::NotFound);
    }
    let to = (index as i64 + step).clamp(0, quiz.questions.len() as i64 - 1) as usize;
    if to != index {
        quiz.questions.swap(index, to);
        set_quiz(tx, lesson_id, Some(&quiz))?;
    }
    Ok(to)
}

/// A question as the API takes it (`POST /api/lessons/{id}/quiz/questions`, `PUT …/questions/{n}`): the
/// fields of the teacher's form, typed.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionInput {
    /// Adding only (an edit keeps the kind): `single_choice` (the default), `multiple_response`,
    /// `true_false`, `short_answer`, `numeric`, `matching`, `ordering`, `fill_blanks` or `essay`.
    #[serde(default)]
    pub kind: Option<String>,
    /// HTML; a fill-in question marks its blanks `[[1]]`, `[[2]]`….
    pub prompt: String,
    /// A choice question's choices, in order.
    #[serde(default)]
    pub choices: Vec<String>,
    /// The places (0-based) in `choices` of the right ones: exactly one for `single_choice`.
    #[serde(default)]
    pub right: Vec<usize>,
    /// A true/false question's answer.
    #[serde(default)]
    pub truth: Option<bool>,
    /// The other kinds' answers, one per line as on the form: accepted texts (`*` any text); numbers
    /// (`42`, `3.14 ± 0.01`, `1..2`); pairs `left = right` (`= right` alone: a wrong answer offered); items
    /// in the right order; one line per blank with its answers separated by `|` (a drop-down's right choice
    /// starts with `=`).
    #[serde(default)]
    pub answers: String,
    /// Short answers: whether capitals count.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Choice questions: whether each attempt shows the choices in its own order.
    #[serde(default)]
    pub shuffle_choices: bool,
    /// Above 0, at most 1000; left out: unchanged (1 for a new question).
    #[serde(default)]
    pub points: Option<f64>,
    /// Shown after the attempt whatever the answer (HTML); left out: unchanged.
    #[serde(default)]
    pub feedback: Option<String>,
    /// Save a change of grading although students have attempted the quiz (else 409
    /// `confirm_quiz_change`).
    #[serde(default)]
    pub confirm: bool,
}

impl From<QuestionInput> for Draft {
    fn from(i: QuestionInput) -> Draft {
        Draft {
            kind: i.kind.unwrap_or_default(),
            prompt: i.prompt,
            choices: i.choices,
            right: i.right,
            truth: i.truth.map(|t| t.to_string()).unwrap_or_default(),
            answers: i.answers,
            case_sensitive: i.case_sensitive,
            shuffle_choices: i.shuffle_choices,
            points: i.points.map(|p| p.to_string()),
            feedback: i.feedback,
            confirm: i.confirm,
        }
    }
}
