//! The questions a quiz's attempts were asked, for its teachers' figures and results: each attempt is
//! reported against its own copy of the quiz (its version, see [`store::attempt_quiz`]), not the quiz as it is
//! now. A question keeps one row while the teacher leaves what it asks as it was; once they change its prompt,
//! its answers or its points (or remove it), the attempts made before are counted under the question as those
//! attempts saw it, beside the question as it is now. Such an earlier form is labelled with the version that
//! first asked it: the lesson's quiz versions numbered from 1 in the order students first met them.
//!
//! Rows come in the teacher's order: each question of the quiz now, after its earlier forms (oldest first);
//! then the forms of removed questions. A title, hint or feedback changed alone keeps the row: what was asked
//! and how it was scored are the same.

use std::collections::HashMap;

use rusqlite::Connection;
use smartcourse_formats::quiz::{Question, Quiz, text_id};

use super::store;
use crate::error::Result;

/// One row of the figures or one column of the results.
#[derive(Debug, Clone)]
pub(super) struct AskedQuestion {
    /// What the row is found by: the question id for a question as the quiz has it now; the id, `~` and a
    /// digest of what it asked for an earlier form.
    pub key: String,
    pub question: Question,
    /// Its place in the quiz now, from 1; `None` once removed.
    pub number: Option<usize>,
    /// `None`: as the quiz has it now. Else the version that first asked it in this form.
    pub version: Option<usize>,
}

/// The rows met so far: the quiz's questions now, and earlier forms as attempts show them.
pub(super) struct Asked {
    rows: Vec<AskedQuestion>,
    by_key: HashMap<String, usize>,
    /// The lesson's version ids, oldest first: a version's number is its place here, from 1.
    versions: Vec<i64>,
    /// Each version's quiz, read once.
    quizzes: HashMap<Option<i64>, Option<Quiz>>,
}

/// What a question asks and how it is scored, as one comparable text.
fn form(q: &Question) -> String {
    serde_json::to_string(&(&q.prompt, &q.kind, q.points)).unwrap_or_default()
}

impl Asked {
    /// The rows of the quiz of `lesson_id` as it is now (`current`).
    pub fn new(conn: &Connection, lesson_id: i64, current: &Quiz) -> Result<Asked> {
        let rows: Vec<AskedQuestion> = current
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| AskedQuestion {
                key: q.id.clone(),
                question: q.clone(),
                number: Some(i + 1),
                version: None,
            })
            .collect();
        let by_key = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
        Ok(Asked {
            rows,
            by_key,
            versions: store::version_ids(conn, lesson_id)?,
            quizzes: HashMap::new(),
        })
    }

    /// The quiz attempt `a` was asked (its version, read once per version); `None` when it is gone.
    pub fn quiz_of(&mut self, conn: &Connection, a: &store::AttemptRow) -> Result<Option<Quiz>> {
        if let Some(q) = self.quizzes.get(&a.quiz_version_id) {
            return Ok(q.clone());
        }
        let q = store::attempt_quiz(conn, a)?;
        self.quizzes.insert(a.quiz_version_id, q.clone());
        Ok(q)
    }

    /// The key of the row for `q` as the version `version_id` asked it, adding the row if it is new.
    pub fn key(&mut self, q: &Question, version_id: Option<i64>) -> String {
        if let Some(&i) = self.by_key.get(&q.id)
            && self.rows[i].version.is_none()
            && form(&self.rows[i].question) == form(q)
        {
            return q.id.clone();
        }
        let number = self
            .versions
            .iter()
            .position(|v| Some(*v) == version_id)
            .map_or(0, |p| p + 1);
        let key = format!("{}~{}", q.id, text_id(&form(q)));
        if let Some(&i) = self.by_key.get(&key) {
            let row = &mut self.rows[i];
            row.version = row.version.min(Some(number));
            return key;
        }
        let now = self
            .rows
            .iter()
            .find(|r| r.version.is_none() && r.question.id == q.id)
            .and_then(|r| r.number);
        self.by_key.insert(key.clone(), self.rows.len());
        self.rows.push(AskedQuestion {
            key: key.clone(),
            question: q.clone(),
            number: now,
            version: Some(number),
        });
        key
    }

    /// The rows in the teacher's order (see the module's docs).
    pub fn rows(self) -> Vec<AskedQuestion> {
        let (now, mut earlier): (Vec<_>, Vec<_>) =
            self.rows.into_iter().partition(|r| r.version.is_none());
        earlier.sort_by(|a, b| a.version.cmp(&b.version).then(a.key.cmp(&b.key)));
        let mut out = Vec::with_capacity(now.len() + earlier.len());
        for q in now {
            out.extend(
                earlier
                    .iter()
                    .filter(|e| e.number.is_some() && e.question.id == q.question.id)
                    .cloned(),
            );
            out.push(q);
        }
        out.extend(earlier.into_iter().filter(|e| e.number.is_none()));
        out
    }
}
