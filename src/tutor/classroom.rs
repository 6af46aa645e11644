//! Classroom answers: a class asks the same things. The tutor's answer to a course's first question (of a
//! conversation) is kept, and a near-duplicate first question answered from the same passages, in the same
//! tutor mode, gets it at once instead of waiting for the model (the `classroom` event marks it). The
//! course's teacher sees them, clears a poor one (the next asker gets a fresh answer) and pins a reviewed
//! text to a frequent question.
//!
//! Near-duplicate: the questions' content words (lower-cased, without a few function words) overlap by at
//! least [`SIMILAR`] (Jaccard); "What is a third?" and "what's a third" match, "What is a half?" does not.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Citation;
use crate::accounts::Actor;
use crate::error::{Error, Result};

/// Least word overlap (Jaccard) for two questions to count as the same.
pub const SIMILAR: f64 = 0.75;

const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "what", "whats", "s", "do", "does", "you", "i", "me",
    "please", "can", "tell", "about", "of", "to", "in", "it",
];

/// A question's content words, sorted and unique.
pub fn words(question: &str) -> Vec<String> {
    let mut w: Vec<String> = question
        .to_lowercase()
        .replace('\'', "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !FUNCTION_WORDS.contains(w))
        .map(str::to_owned)
        .collect();
    w.sort();
    w.dedup();
    w
}

/// Whether two word sets are near-duplicates.
pub fn similar(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a == b;
    }
    let common = a.iter().filter(|w| b.contains(w)).count();
    let union = a.len() + b.len() - common;
    common as f64 / union as f64 >= SIMILAR
}

/// A kept answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassroomAnswer {
    pub id: i64,
    pub course_id: i64,
    /// The question as first asked.
    pub question: String,
    pub answer: String,
    pub citations: Vec<Citation>,
    /// Set by the teacher: a reviewed answer.
    pub pinned: bool,
    /// How many askers got it from here.
    pub reused: i64,
    pub created_at: String,
    pub updated_at: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClassroomAnswer> {
    let citations: String = r.get(4)?;
    Ok(ClassroomAnswer {
        id: r.get(0)?,
        course_id: r.get(1)?,
        question: r.get(2)?,
        answer: r.get(3)?,
        citations: serde_json::from_str(&citations).unwrap_or_default(),
        pinned: r.get(5)?,
        reused: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

const COLUMNS: &str =
    "id, course_id, question, answer, citations, pinned, reused, created_at, updated_at";

/// The kept answer for a question with these `words`, answered from `key`, pinned ones first.
pub(crate) fn find(
    conn: &Connection,
    course_id: i64,
    key: &str,
    words: &[String],
) -> Result<Option<ClassroomAnswer>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, words FROM classroom_answers WHERE course_id = ?1 AND evidence_key = ?2
          ORDER BY pinned DESC, id"
    ))?;
    let mut rows = stmt.query(params![course_id, key])?;
    while let Some(r) = rows.next()? {
        let stored: String = r.get(9)?;
        let stored: Vec<String> = stored.split(' ').map(str::to_owned).collect();
        if similar(words, &stored) {
            return Ok(Some(row(r)?));
        }
    }
    Ok(None)
}

/// Counts one more asker answered from `id`.
pub(crate) fn reused(tx: &Transaction, id: i64) -> Result<()> {
    tx.execute(
        "UPDATE classroom_answers SET reused = reused + 1 WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// Keeps an answer, unless a near-duplicate is kept already.
pub(crate) fn remember(
    tx: &Transaction,
    course_id: i64,
    question: &str,
    key: &str,
    answer: &str,
    citations: &[Citation],
) -> Result<()> {
    let w = words(question);
    if find(tx, course_id, key, &w)?.is_some() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO classroom_answers (course_id, question, words, evidence_key, answer, citations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            course_id,
            question,
            w.join(" "),
            key,
            answer,
            serde_json::to_string(citations).map_err(anyhow::Error::from)?
        ],
    )?;
    Ok(())
}

/// A course's kept answers, for its owner and admins (pinned first, then the most reused).
pub fn list(conn: &Connection, actor: &Actor, course_id: i64) -> Result<Vec<ClassroomAnswer>> {
    crate::courses::require_edit(conn, actor, course_id)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM classroom_answers WHERE course_id = ?1 ORDER BY pinned DESC, reused DESC, id"
    ))?;
    let out = stmt
        .query_map([course_id], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(out)
}

fn one(conn: &Connection, course_id: i64, id: i64) -> Result<ClassroomAnswer> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM classroom_answers WHERE id = ?1 AND course_id = ?2"),
        params![id, course_id],
        row,
    )
    .optional()?
    .ok_or(Error::NotFound)
}

/// Clears a kept answer (the next such question is answered afresh).
pub fn clear(tx: &Transaction, actor: &Actor, course_id: i64, id: i64) -> Result<()> {
    crate::courses::require_edit(tx, actor, course_id)?;
    one(tx, course_id, id)?;
    tx.execute("DELETE FROM classroom_answers WHERE id = ?1", [id])?;
    Ok(())
}

/// A teacher's change to a kept answer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassroomEdit {
    /// The reviewed text (1 to 4,000 characters); absent keeps the text.
    pub answer: Option<String>,
    /// Pin it (a reviewed answer, listed first and preferred).
    pub pinned: Option<bool>,
}

/// Edits or pins a kept answer.
pub fn edit(
    tx: &Transaction,
    actor: &Actor,
    course_id: i64,
    id: i64,
    change: &ClassroomEdit,
) -> Result<ClassroomAnswer> {
    crate::courses::require_edit(tx, actor, course_id)?;
    one(tx, course_id, id)?;
    if let Some(text) = &change.answer {
        let n = text.trim().chars().count();
        if n == 0 || n > 4000 {
            return Err(Error::invalid(
                "answer",
                "an answer needs 1 to 4,000 characters",
            ));
        }
        tx.execute(
            "UPDATE classroom_answers SET answer = ?1, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?2",
            params![text.trim(), id],
        )?;
    }
    if let Some(pinned) = change.pinned {
        tx.execute(
            "UPDATE classroom_answers SET pinned = ?1, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?2",
            params![pinned, id],
        )?;
    }
    one(tx, course_id, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rephrasings_match_and_other_questions_do_not() {
        let third = words("What is a third?");
        assert!(similar(&third, &words("what's a third")));
        assert!(similar(&third, &words("Third?")));
        assert!(!similar(&third, &words("What is a half?")));
        assert!(!similar(
            &words("How do you add fractions?"),
            &words("How do you compare fractions?")
        ));
    }
}
