//! A quiz's own rules in the teacher's form: its introduction, when an attempt passes (a share of the points,
//! or Kolibri's mastery, m of the last n answers right), how many attempts a student has, whether each
//! attempt shuffles the questions, and how many questions each attempt draws from the pool.

use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};

use super::{long_text, save};
use crate::accounts::Actor;
use crate::courses;
use crate::error::{Error, Result};
use crate::quizzes::{Quiz, quiz_of};
use smartcourse_formats::quiz::PassRule;

/// The most attempts a limit may allow, and the largest `n` of a mastery rule.
const MAX_COUNT: u32 = 1_000;

/// The settings as the form sends them (texts as typed, so a mistake can be shown with them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub intro: String,
    /// `score` or `mastery`.
    pub pass: String,
    /// The share of the points that passes, in percent (`score`).
    pub percent: String,
    /// `m` of the last `n` answers right (`mastery`).
    pub m: String,
    pub n: String,
    /// Empty: unlimited.
    pub max_attempts: String,
    pub shuffle_questions: String,
    /// Empty: every question of the pool.
    pub draw: String,
    /// `yes`: the teacher confirmed a change of grading although students have attempted the quiz.
    pub confirm: String,
}

impl Settings {
    /// The form of `quiz`'s settings as they are.
    pub fn of(quiz: &Quiz) -> Settings {
        let (pass, percent, m, n) = match quiz.pass {
            PassRule::Score { percent } => {
                ("score", percent.to_string(), String::new(), String::new())
            }
            PassRule::Mastery { m, n } => ("mastery", String::new(), m.to_string(), n.to_string()),
        };
        Settings {
            intro: quiz.intro.clone(),
            pass: pass.into(),
            percent,
            m,
            n,
            max_attempts: quiz.max_attempts.map(|n| n.to_string()).unwrap_or_default(),
            shuffle_questions: if quiz.shuffle_questions {
                "on".into()
            } else {
                String::new()
            },
            draw: quiz.draw.map(|n| n.to_string()).unwrap_or_default(),
            confirm: String::new(),
        }
    }
}

/// A quiz's settings as the API takes them (`PUT /api/lessons/{id}/quiz/settings`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Shown before the questions (HTML).
    #[serde(default)]
    pub intro: String,
    /// `{"rule": "score", "percent": 60}` or `{"rule": "mastery", "m": 3, "n": 5}`.
    #[schema(value_type = Object)]
    pub pass: PassRule,
    /// `null`: unlimited.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub shuffle_questions: bool,
    /// Questions each attempt draws from the pool; `null`: all.
    #[serde(default)]
    pub draw: Option<usize>,
    /// Save a change of grading although students have attempted the quiz (else 409
    /// `confirm_quiz_change`).
    #[serde(default)]
    pub confirm: bool,
}

impl From<SettingsInput> for Settings {
    /// As the form would send them, so that both are checked by the same rules.
    fn from(i: SettingsInput) -> Settings {
        let mut q = Quiz::new("", Vec::new());
        q.intro = i.intro;
        q.pass = i.pass;
        let mut s = Settings::of(&q);
        s.max_attempts = i.max_attempts.map(|n| n.to_string()).unwrap_or_default();
        s.shuffle_questions = if i.shuffle_questions {
            "on".into()
        } else {
            String::new()
        };
        s.draw = i.draw.map(|n| n.to_string()).unwrap_or_default();
        s.confirm = if i.confirm {
            "yes".into()
        } else {
            String::new()
        };
        s
    }
}

/// A whole number from 1 to `max`, or `None` when left empty (422 on `field`).
fn count(text: &str, field: &'static str, max: u32, what: &str) -> Result<Option<u32>> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
        _ => Err(Error::invalid(
            field,
            format!("{what} is a whole number from 1 to {max}"),
        )),
    }
}

/// The quiz of `lesson_id` for its editor (404 when it is no quiz lesson).
pub fn quiz(conn: &Connection, actor: &Actor, lesson_id: i64) -> Result<Quiz> {
    courses::require_lesson_edit(conn, actor, lesson_id)?;
    quiz_of(conn, lesson_id)?.ok_or(Error::NotFound)
}

/// `quiz` with the settings of the form, checked: a percent from 0 to 100; a mastery of 1 ≤ m ≤ n; an
/// attempts limit and a draw of 1 or more (a draw at most the pool's size); each 422 on its field.
fn apply(s: &Settings, quiz: &Quiz) -> Result<Quiz> {
    let mut q = quiz.clone();
    q.intro = long_text(&s.intro, "intro", "an introduction")?;
    q.pass = match s.pass.as_str() {
        "score" => match s.percent.trim().parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => PassRule::Score { percent: p },
            _ => {
                return Err(Error::invalid(
                    "percent",
                    "the pass mark is a percent from 0 to 100",
                ));
            }
        },
        "mastery" => {
            let need = |t: &str, field, what| {
                count(t, field, MAX_COUNT, what)?
                    .ok_or_else(|| Error::invalid(field, format!("{what} is needed for mastery")))
            };
            let m = need(&s.m, "m", "the number of right answers")?;
            let n = need(&s.n, "n", "the number of answers counted")?;
            if m > n {
                return Err(Error::invalid(
                    "m",
                    "mastery asks for at most as many right answers as it counts",
                ));
            }
            PassRule::Mastery { m, n }
        }
        _ => return Err(Error::invalid("pass", "choose a score or mastery")),
    };
    q.max_attempts = count(
        &s.max_attempts,
        "max_attempts",
        MAX_COUNT,
        "the attempts limit",
    )?;
    q.shuffle_questions = !s.shuffle_questions.is_empty();
    let pool = q.questions.len() as u32;
    q.draw = count(
        &s.draw,
        "draw",
        pool.max(1),
        "the questions drawn for each attempt",
    )?
    .map(|n| n as usize);
    Ok(q)
}

/// Saves the settings of the quiz of `lesson_id` (the course's owner and admins). Changing the pass rule or
/// the draw while students have attempted the quiz needs `confirm` (409 `confirm_quiz_change`).
pub fn save_settings(tx: &Transaction, actor: &Actor, lesson_id: i64, s: &Settings) -> Result<()> {
    let old = quiz(tx, actor, lesson_id)?;
    let new = apply(s, &old)?;
    save(tx, lesson_id, &old, &new, s.confirm == "yes")?;
    tracing::info!(lesson.id = lesson_id, "quiz settings saved");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartcourse_formats::quiz::{Question, QuestionKind};

    fn quiz() -> Quiz {
        let q = |id: &str| {
            Question::new(
                id,
                "?",
                QuestionKind::TrueFalse {
                    answer: true,
                    feedback_true: String::new(),
                    feedback_false: String::new(),
                },
            )
        };
        Quiz::new("Q", vec![q("a"), q("b")])
    }

    fn field(r: Result<Quiz>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field.into_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn settings_read_back_what_they_show_and_refuse_nonsense() {
        let mut q = quiz();
        q.pass = PassRule::Mastery { m: 3, n: 5 };
        q.max_attempts = Some(2);
        q.draw = Some(1);
        q.shuffle_questions = true;
        assert_eq!(apply(&Settings::of(&q), &quiz()).unwrap(), q);
        let base = Settings::of(&quiz());
        let with = |f: &dyn Fn(&mut Settings)| {
            let mut s = base.clone();
            f(&mut s);
            apply(&s, &quiz())
        };
        assert_eq!(field(with(&|s| s.percent = "101".into())), "percent");
        assert_eq!(field(with(&|s| s.percent = "half".into())), "percent");
        assert_eq!(field(with(&|s| s.pass = "luck".into())), "pass");
        assert_eq!(
            field(with(&|s| s.max_attempts = "0".into())),
            "max_attempts"
        );
        assert_eq!(field(with(&|s| s.draw = "3".into())), "draw");
        let mastery = |m: &str, n: &str| {
            with(&|s| {
                s.pass = "mastery".into();
                s.m = m.into();
                s.n = n.into();
            })
        };
        assert_eq!(field(mastery("4", "3")), "m");
        assert_eq!(field(mastery("", "3")), "m");
        assert_eq!(field(mastery("2", "x")), "n");
        assert_eq!(
            mastery("2", "3").unwrap().pass,
            PassRule::Mastery { m: 2, n: 3 }
        );
    }
}
