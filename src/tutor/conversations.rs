//! Stored conversations with the tutor: the earlier turns a follow-up question is asked with, and the
//! conversations their askers, the course's owner and admins may read back. The tutor's answer writes a
//! conversation's turns (`answer`); this module only reads them.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use utoipa::ToSchema;

use super::Citation;
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::ml::ChatMessage;

/// The last six turns of a conversation, oldest first: what a follow-up question is asked with.
pub(super) fn history(c: &Connection, conversation_id: i64) -> Result<Vec<ChatMessage>> {
    let mut s = c.prepare(
        "SELECT role, content FROM conversation_messages WHERE conversation_id = ?1 ORDER BY id DESC LIMIT 6",
    )?;
    let mut out: Vec<ChatMessage> = s
        .query_map([conversation_id], |r| {
            Ok(ChatMessage::new(
                &r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

/// A conversation in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationSummary {
    pub id: i64,
    pub course_id: i64,
    /// Who asked.
    pub user_id: i64,
    /// The first question, shortened.
    pub title: String,
    /// Started.
    pub created_at: String,
    /// Last question.
    pub updated_at: String,
}

/// One turn of a stored conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredMessage {
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
    /// Sources of an answer.
    pub citations: Vec<Citation>,
    /// The tutor declined: the course does not cover the question.
    pub abstained: bool,
    /// When.
    pub created_at: String,
}

/// A conversation with its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    /// The conversation.
    #[serde(flatten)]
    pub summary: ConversationSummary,
    /// Its messages, oldest first.
    pub messages: Vec<StoredMessage>,
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationSummary> {
    Ok(ConversationSummary {
        id: r.get(0)?,
        course_id: r.get(1)?,
        user_id: r.get(2)?,
        title: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

/// The caller's conversations, or with `course_id`, the conversations in that course (owner, admin) or the
/// caller's own in it.
pub fn list_conversations(
    c: &Connection,
    actor: &Actor,
    course_id: Option<i64>,
) -> Result<Vec<ConversationSummary>> {
    let user = actor.user_id().unwrap_or(-1);
    let all_of_course = match course_id {
        Some(id) => {
            let course = crate::courses::course_ref(c, id)?.ok_or(Error::NotFound)?;
            crate::courses::may_edit(actor, &course)
        }
        None => false,
    };
    let mut s = c.prepare(
        "SELECT id, course_id, user_id, title, created_at, updated_at FROM conversations
         WHERE (?1 IS NULL OR course_id = ?1) AND (?2 OR user_id = ?3)
         ORDER BY updated_at DESC, id DESC LIMIT 200",
    )?;
    Ok(
        s.query_map(params![course_id, all_of_course, user], summary)?
            .collect::<rusqlite::Result<_>>()?,
    )
}

/// One conversation: its asker, the course's owner and admins may read it; others get 404.
pub fn get_conversation(c: &Connection, actor: &Actor, id: i64) -> Result<Conversation> {
    let summary = c
        .query_row(
            "SELECT id, course_id, user_id, title, created_at, updated_at FROM conversations WHERE id = ?1",
            [id],
            summary,
        )
        .optional()?
        .ok_or(Error::NotFound)?;
    let course = crate::courses::course_ref(c, summary.course_id)?.ok_or(Error::NotFound)?;
    if actor.user_id() != Some(summary.user_id) && !crate::courses::may_edit(actor, &course) {
        return Err(Error::NotFound);
    }
    let mut s = c.prepare(
        "SELECT id, role, content, citations, abstained, created_at FROM conversation_messages
         WHERE conversation_id = ?1 ORDER BY id",
    )?;
    let messages = s
        .query_map([id], |r| {
            let cites: String = r.get(3)?;
            Ok(StoredMessage {
                id: r.get(0)?,
                role: r.get(1)?,
                content: r.get(2)?,
                citations: serde_json::from_str(&cites).unwrap_or_default(),
                abstained: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Conversation { summary, messages })
}
