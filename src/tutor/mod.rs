//! The AI tutor: answers a question about a course from the course's own material.
//!
//! Embed the question, retrieve the best passages of the course (hybrid search), and when the best is relevant
//! enough, ask the local LLM to answer from them as numbered sources, streaming its tokens; then send the
//! citations (which come from retrieval, so they are right even when a small model writes a weak answer) and
//! store the conversation. When nothing relevant is found, the tutor says the course does not cover the
//! question instead of letting the model invent an answer.
//!
//! One model serves everyone: it writes up to `models.llm_batch` answers at once (its batch; see
//! `ml::engine`), further questions wait their turn at a fair (first come, first served) gate, a question
//! whose asker goes away stops its generation, and more than `tutor.max_waiting` waiting questions, or more than
//! `tutor.max_per_user` of one user's, get 429.
//!
//! Here: the types, [`prepare`] (checks and the queue) and the course's mode. [`run`] (in `answer`) answers;
//! `prompt` builds what the model is given, as a pure function; `conversations` reads stored conversations.

mod answer;
pub mod classroom;
mod conversations;
mod evidence;
mod followup;
mod prompt;
pub mod routes;
mod snippet;

pub use answer::run;
pub use conversations::{
    Conversation, ConversationSummary, StoredMessage, get_conversation, list_conversations,
};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::App;
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::ml::ChatMessage;

/// How the tutor helps in a course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TutorMode {
    /// Answers questions.
    Explain,
    /// Guides with hints and questions; does not hand over solutions.
    Hint,
}

impl TutorMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TutorMode::Explain => "explain",
            TutorMode::Hint => "hint",
        }
    }
    fn parse(s: &str) -> TutorMode {
        if s == "hint" {
            TutorMode::Hint
        } else {
            TutorMode::Explain
        }
    }
}

/// What the tutor answers when the course does not cover a question.
pub const NOT_COVERED: &str = "I could not find this in the course material, so I cannot answer it from the course. Try rephrasing the question, or ask your teacher.";

/// Questions waiting for, or using, the model.
pub struct Gate {
    turn: Semaphore,
    /// Questions waiting for a seat, by arrival number (the gate is first come, first served).
    line: std::sync::Mutex<std::collections::BTreeSet<u64>>,
    arrivals: std::sync::atomic::AtomicU64,
    /// Questions the model answers at once (its batch).
    seats: usize,
    inside: AtomicUsize,
    /// Each user's questions inside, for the fair share.
    per_user: std::sync::Mutex<std::collections::HashMap<i64, usize>>,
}

impl Gate {
    /// A gate letting `seats` questions at a time through to the model (which writes that many answers at
    /// once).
    pub fn new(seats: usize) -> Gate {
        let seats = seats.max(1);
        Gate {
            turn: Semaphore::new(seats),
            line: std::sync::Mutex::default(),
            arrivals: std::sync::atomic::AtomicU64::new(0),
            seats,
            inside: AtomicUsize::new(0),
            per_user: std::sync::Mutex::default(),
        }
    }
}

/// A place in the tutor's queue; leaving it (drop) frees the place, and the user's share of it.
pub struct Ticket {
    app: Arc<App>,
    user: Option<i64>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.app.tutor.inside.fetch_sub(1, Ordering::SeqCst);
        if let Some(user) = self.user {
            let mut shares = self
                .app
                .tutor
                .per_user
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = shares.get_mut(&user) {
                *n -= 1;
                if *n == 0 {
                    shares.remove(&user);
                }
            }
        }
    }
}

/// A place in the line for a seat at the model; leaving it (drop) takes it out of the line.
pub(crate) struct InLine<'a> {
    gate: &'a Gate,
    number: u64,
}

impl Gate {
    /// Joins the line for a seat.
    pub(crate) fn join(&self) -> InLine<'_> {
        let number = self.arrivals.fetch_add(1, Ordering::SeqCst);
        self.line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(number);
        InLine { gate: self, number }
    }
}

impl InLine<'_> {
    /// Questions ahead of this one in the line.
    pub(crate) fn ahead(&self) -> usize {
        self.gate
            .line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .range(..self.number)
            .count()
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.gate
            .line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.number);
    }
}

/// Questions waiting or being answered now (for metrics and the admin page).
pub fn busy(app: &App) -> usize {
    app.tutor.inside.load(Ordering::SeqCst)
}

/// A question to ask.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The course it is about.
    pub course_id: i64,
    pub question: String,
    /// Continue this conversation (the caller's own, in the same course).
    pub conversation_id: Option<i64>,
}

/// A source of an answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Citation {
    /// Its number in the answer (`[n]`).
    pub n: usize,
    pub lesson_id: i64,
    /// The lesson's title.
    pub lesson_title: String,
    /// Which passage of the lesson, from 0.
    pub position: i64,
    /// The passage (shortened).
    pub excerpt: String,
    /// What the tutor panel shows of it: a sentence or two around the question's words, as HTML (escaped,
    /// those words in `<mark>`, formulas as MathML). Empty in answers kept before there were snippets.
    #[serde(default)]
    pub snippet: String,
    /// Relevance to the question (cosine similarity, -1 to 1).
    pub score: f32,
}

/// A sentence of the course that answers the question, shown before the model's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EvidenceItem {
    pub lesson_id: i64,
    pub lesson_title: String,
    /// Which passage of the lesson, from 0.
    pub position: i64,
    /// The sentence (a table row's cells joined by dashes).
    pub text: String,
    /// The sentence as HTML: escaped, formulas as MathML.
    #[serde(default)]
    pub html: String,
}

/// What the tutor sends while it answers.
#[derive(Debug, Clone)]
pub enum TutorEvent {
    /// Progress before the first token: `retrieving`, `waiting` (for the model), `generating`.
    Status(&'static str),
    /// While waiting: how many questions are ahead in the line for the model (sent when it changes).
    Queue {
        /// Questions ahead.
        ahead: usize,
    },
    /// The sentences of the course that best answer the question, sent as soon as retrieval is done (before
    /// the model starts); none when the course does not cover the question.
    Evidence(Vec<EvidenceItem>),
    /// A piece of the answer.
    Token(String),
    /// The whole answer, replacing what was streamed: the model wrote that the course does not cover a question
    /// the evidence answers, so the answer is the evidence itself.
    Replace(String),
    /// The sources.
    Citations(Vec<Citation>),
    /// The answer is complete and stored.
    Done {
        /// The conversation (none when asked from the command line).
        conversation_id: Option<i64>,
        /// The stored answer.
        message_id: Option<i64>,
        /// Whether the tutor declined because the course does not cover the question.
        abstained: bool,
        /// The whole answer as HTML (escaped, formulas as MathML), to show in place of the streamed text.
        html: String,
    },
    /// The answer is the class's: kept from an earlier asker of the same question (or pinned by the teacher).
    Classroom {
        /// The kept answer.
        id: i64,
        /// Reviewed and pinned by the teacher.
        pinned: bool,
    },
    /// It failed.
    Error {
        /// Stable code.
        code: &'static str,
        /// For a person.
        message: String,
    },
}

impl TutorEvent {
    /// The event's name and JSON data, as sent over SSE and the control socket.
    pub fn to_json(&self) -> (&'static str, serde_json::Value) {
        use serde_json::json;
        match self {
            TutorEvent::Status(s) => ("status", json!({ "state": s })),
            TutorEvent::Queue { ahead } => ("queue", json!({ "ahead": ahead })),
            TutorEvent::Evidence(items) => ("evidence", json!(items)),
            TutorEvent::Token(text) => ("token", json!({ "text": text })),
            TutorEvent::Replace(text) => ("replace", json!({ "text": text })),
            TutorEvent::Citations(c) => ("citations", json!(c)),
            TutorEvent::Done {
                conversation_id,
                message_id,
                abstained,
                html,
            } => (
                "done",
                json!({"conversation_id": conversation_id, "message_id": message_id, "abstained": abstained, "html": html}),
            ),
            TutorEvent::Classroom { id, pinned } => {
                ("classroom", json!({"id": id, "pinned": pinned}))
            }
            TutorEvent::Error { code, message } => {
                ("error", json!({"code": code, "message": message}))
            }
        }
    }
}

/// A checked question, holding its place in the queue.
pub struct Prepared {
    q: Question,
    _ticket: Ticket,
}

#[derive(Clone)]
struct Question {
    actor: Actor,
    course_id: i64,
    course_title: String,
    mode: TutorMode,
    question: String,
    conversation_id: Option<i64>,
    history: Vec<ChatMessage>,
    /// The student's open quiz attempts in this course: hints only, and their hidden answers never written.
    quiz: crate::quizzes::OpenQuizzes,
}

/// Checks that `actor` may ask about the course (enrolled student, owner, admin), the question and the
/// conversation, and takes a place in the queue (429 when it is full).
pub async fn prepare(app: &Arc<App>, actor: &Actor, req: AskRequest) -> Result<Prepared> {
    let question = req.question.trim().to_owned();
    let max = app.config.tutor.max_question_chars;
    if question.is_empty() || question.chars().count() > max {
        return Err(Error::invalid(
            "question",
            format!("a question needs 1 to {max} characters"),
        ));
    }
    let a = actor.clone();
    let (course_title, mode, history, quiz) = app
        .db
        .read(move |c| {
            crate::courses::require_lessons_read(c, &a, req.course_id)?;
            let (title, mode): (String, String) = c.query_row(
                "SELECT title, tutor_mode FROM courses WHERE id = ?1",
                [req.course_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let history = match req.conversation_id {
                Some(id) => {
                    let owner: Option<(i64, i64)> = c
                        .query_row(
                            "SELECT user_id, course_id FROM conversations WHERE id = ?1",
                            [id],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    match owner {
                        Some((user, course))
                            if Some(user) == a.user_id() && course == req.course_id =>
                        {
                            conversations::history(c, id)?
                        }
                        Some((user, _)) if Some(user) == a.user_id() => {
                            return Err(Error::invalid(
                                "conversation_id",
                                "that conversation is about another course",
                            ));
                        }
                        _ => return Err(Error::NotFound),
                    }
                }
                None => Vec::new(),
            };
            let quiz = match a.user_id() {
                Some(user) => crate::quizzes::open_for_tutor(c, user, req.course_id)?,
                None => crate::quizzes::OpenQuizzes::default(),
            };
            // While a quiz is open the tutor only hints, whatever the course's mode.
            let mode = if quiz.any() {
                TutorMode::Hint
            } else {
                TutorMode::parse(&mode)
            };
            Ok((title, mode, history, quiz))
        })
        .await?;
    let inside = app.tutor.inside.fetch_add(1, Ordering::SeqCst);
    let mut ticket = Ticket {
        app: app.clone(),
        user: None,
    };
    if inside >= app.config.tutor.max_waiting + app.tutor.seats {
        return Err(Error::RateLimited {
            retry_after_secs: 10,
        });
    }
    if let Some(user) = actor.user_id() {
        let mut shares = app
            .tutor
            .per_user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = shares.entry(user).or_default();
        if *mine >= app.config.tutor.max_per_user.max(1) {
            return Err(Error::RateLimited {
                retry_after_secs: 10,
            });
        }
        *mine += 1;
        ticket.user = Some(user);
    }
    Ok(Prepared {
        q: Question {
            actor: actor.clone(),
            course_id: req.course_id,
            course_title,
            mode,
            question,
            conversation_id: req.conversation_id,
            history,
            quiz,
        },
        _ticket: ticket,
    })
}

/// The tutor mode of a course (anyone who may read its lessons).
pub fn mode(c: &Connection, course_id: i64) -> Result<TutorMode> {
    let m: String = c
        .query_row(
            "SELECT tutor_mode FROM courses WHERE id = ?1",
            [course_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(Error::NotFound)?;
    Ok(TutorMode::parse(&m))
}

/// Sets the tutor mode of a course (owner, admin).
pub fn set_mode(
    tx: &rusqlite::Transaction,
    actor: &Actor,
    course_id: i64,
    mode: TutorMode,
) -> Result<()> {
    crate::courses::require_edit(tx, actor, course_id)?;
    tx.execute(
        "UPDATE courses SET tutor_mode = ?1 WHERE id = ?2",
        params![mode.as_str(), course_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_in_line_counts_those_still_ahead() {
        let gate = Gate::new(1);
        let first = gate.join();
        let second = gate.join();
        let third = gate.join();
        assert_eq!((first.ahead(), second.ahead(), third.ahead()), (0, 1, 2));
        // Someone ahead gets their seat, someone else gives up: the line moves up.
        drop(first);
        assert_eq!(third.ahead(), 1);
        drop(second);
        assert_eq!(third.ahead(), 0);
        // A newcomer queues behind.
        let fourth = gate.join();
        assert_eq!(fourth.ahead(), 1);
    }
}
