//! The AI tutor: answers a question about a course from the course's own material.
//!
//! Embed the question, retrieve the best passages of the course (hybrid search), and when the best is relevant
//! enough, ask the local LLM to answer from them as numbered sources, streaming its tokens; then send the
//! citations (which come from retrieval, so they are right even when a small model writes a weak answer) and
//! store the conversation. When nothing relevant is found, the tutor says the course does not cover the
//! question instead of letting the model invent an answer.
//!
//! One model serves everyone: questions wait their turn at a fair (first come, first served) gate, a question
//! whose asker goes away stops its generation, and more than `tutor.max_waiting` waiting questions get 429.

pub mod routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use utoipa::ToSchema;

use crate::App;
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::ml::{ChatMessage, Finish, GenerateParams};
use crate::search::{self, Hit, Mode};

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
    fn as_str(self) -> &'static str {
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
    inside: AtomicUsize,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            turn: Semaphore::new(1),
            inside: AtomicUsize::new(0),
        }
    }
}

/// A place in the tutor's queue; leaving it (drop) frees the place.
pub struct Ticket {
    app: Arc<App>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.app.tutor.inside.fetch_sub(1, Ordering::SeqCst);
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
    /// The question.
    pub question: String,
    /// Continue this conversation (the caller's own, in the same course).
    pub conversation_id: Option<i64>,
}

/// A source of an answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Citation {
    /// Its number in the answer (`[n]`).
    pub n: usize,
    /// The lesson.
    pub lesson_id: i64,
    /// The lesson's title.
    pub lesson_title: String,
    /// Which passage of the lesson, from 0.
    pub position: i64,
    /// The passage (shortened).
    pub excerpt: String,
    /// Relevance to the question (cosine similarity, -1 to 1).
    pub score: f32,
}

/// What the tutor sends while it answers.
#[derive(Debug, Clone)]
pub enum TutorEvent {
    /// Progress before the first token: `retrieving`, `waiting` (for the model), `generating`.
    Status(&'static str),
    /// A piece of the answer.
    Token(String),
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
            TutorEvent::Token(text) => ("token", json!({ "text": text })),
            TutorEvent::Citations(c) => ("citations", json!(c)),
            TutorEvent::Done {
                conversation_id,
                message_id,
                abstained,
            } => (
                "done",
                json!({"conversation_id": conversation_id, "message_id": message_id, "abstained": abstained}),
            ),
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
    let (course_title, mode, history) = app
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
                            history(c, id)?
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
            Ok((title, TutorMode::parse(&mode), history))
        })
        .await?;
    let inside = app.tutor.inside.fetch_add(1, Ordering::SeqCst);
    let ticket = Ticket { app: app.clone() };
    if inside > app.config.tutor.max_waiting {
        return Err(Error::RateLimited {
            retry_after_secs: 10,
        });
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
        },
        _ticket: ticket,
    })
}

fn history(c: &Connection, conversation_id: i64) -> Result<Vec<ChatMessage>> {
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

fn instructions(mode: TutorMode, course: &str) -> String {
    match mode {
        TutorMode::Explain => format!(
            "You are a helpful tutor for the course \"{course}\". Answer the student's question using only the numbered sources. \
             Cite the sources you use like [1]. If the sources do not answer the question, say that the course material does not cover it. \
             Answer in a few clear sentences."
        ),
        TutorMode::Hint => format!(
            "You are a patient tutor for the course \"{course}\". Do not give the answer or the solution. \
             Help the student find it themselves: give one hint or ask one guiding question, and say which numbered source to read, like [1]. \
             Use only the numbered sources."
        ),
    }
}

fn excerpt(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(chars).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut}…")
}

/// Builds the conversation for the model: instructions, earlier turns, then the sources and the question; as
/// many sources (best first) and earlier turns (latest first) as the token budget allows.
fn build_messages(
    app: &App,
    p: &Question,
    hits: &[Hit],
    budget: usize,
) -> anyhow::Result<(Vec<ChatMessage>, usize)> {
    let generator = &app.models.generator;
    let system = ChatMessage::new("system", instructions(p.mode, &p.course_title));
    let user = |n: usize| {
        let mut s = String::from("Sources:\n");
        for (i, h) in hits.iter().take(n).enumerate() {
            s.push_str(&format!(
                "[{}] ({}) {}\n",
                i + 1,
                h.lesson_title,
                h.text.replace('\n', " ")
            ));
        }
        s.push_str(&format!("\nQuestion: {}", p.question));
        ChatMessage::new("user", s)
    };
    let mut sources = hits.len();
    let mut history = p.history.clone();
    loop {
        let mut messages = vec![system.clone()];
        messages.extend(history.iter().cloned());
        messages.push(user(sources));
        if generator.prompt_tokens(&messages)? <= budget {
            return Ok((messages, sources));
        }
        if !history.is_empty() {
            history.drain(..history.len().min(2));
        } else if sources > 1 {
            sources -= 1;
        } else {
            anyhow::bail!("the question does not fit the model's context");
        }
    }
}

/// Answers a prepared question, sending events to `tx`. Stops generating when `tx` is closed.
pub async fn run(app: Arc<App>, p: Prepared, tx: mpsc::Sender<TutorEvent>) {
    if let Err(e) = answer(&app, &p.q, &tx).await {
        let (code, message) = match &e {
            Error::Internal(inner) => {
                tracing::error!(error = ?inner, "the tutor failed");
                (
                    "internal",
                    "the tutor failed; the error is in the server log".to_owned(),
                )
            }
            other => (other.code(), other.to_string()),
        };
        let _ = tx.send(TutorEvent::Error { code, message }).await;
    }
}

async fn answer(app: &Arc<App>, p: &Question, tx: &mpsc::Sender<TutorEvent>) -> Result<()> {
    let _ = tx.send(TutorEvent::Status("retrieving")).await;
    let cfg = &app.config.tutor;
    let hits = search::retrieve(
        app,
        vec![p.course_id],
        p.question.clone(),
        cfg.sources,
        Mode::Hybrid,
    )
    .await?;
    let best = hits.iter().map(|h| h.cosine).fold(f32::MIN, f32::max);
    let abstain = hits.is_empty() || best < cfg.min_relevance;
    // Weak passages only distract a small model.
    let hits: Vec<Hit> = hits
        .into_iter()
        .filter(|h| h.cosine >= 0.75 * cfg.min_relevance)
        .collect();
    let mut citations: Vec<Citation> = Vec::new();
    let answer;
    let mut finish = Finish::Stop;
    if abstain {
        answer = NOT_COVERED.to_owned();
        let _ = tx.send(TutorEvent::Token(answer.clone())).await;
    } else {
        let _ = tx.send(TutorEvent::Status("waiting")).await;
        let _turn = app
            .tutor
            .turn
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("the tutor is shutting down".into()))?;
        if tx.is_closed() {
            return Ok(());
        }
        let _ = tx.send(TutorEvent::Status("generating")).await;
        let params = GenerateParams {
            max_new_tokens: cfg.max_answer_tokens,
            temperature: cfg.temperature,
            top_p: cfg.top_p,
            repeat_penalty: cfg.repeat_penalty,
            repeat_last_n: 64,
            seed: 299_792_458,
        };
        let a = app.clone();
        let sink = tx.clone();
        let (messages_hits, prepared_budget) = (hits.clone(), cfg.context_tokens);
        let prepared = p.clone();
        let (text, stats, used) = tokio::task::spawn_blocking(move || {
            let generator = a.models.generator.clone();
            let context = generator.context_tokens()?.min(prepared_budget);
            let budget = context.saturating_sub(params.max_new_tokens).max(64);
            let (messages, used) = build_messages(&a, &prepared, &messages_hits, budget)?;
            let mut text = String::new();
            let stats = generator.generate(&messages, &params, &mut |piece| {
                text.push_str(piece);
                sink.blocking_send(TutorEvent::Token(piece.to_owned()))
                    .is_ok()
            })?;
            anyhow::Ok((text, stats, used))
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?
        .map_err(|e| {
            Error::Unavailable(format!("the language model is not available: {e:#}").into())
        })?;
        tracing::info!(
            course.id = p.course_id,
            prompt_tokens = stats.prompt_tokens,
            tokens = stats.generated_tokens,
            first_token_ms = stats.first_token_ms as u64,
            tps = format!("{:.1}", stats.generate_tps()),
            finish = ?stats.finish,
            "tutor answered"
        );
        answer = text;
        finish = stats.finish;
        citations = hits
            .iter()
            .take(used)
            .enumerate()
            .map(|(i, h)| Citation {
                n: i + 1,
                lesson_id: h.lesson_id,
                lesson_title: h.lesson_title.clone(),
                position: h.ordinal,
                excerpt: excerpt(&h.text, 300),
                score: h.cosine,
            })
            .collect();
    }
    let _ = tx.send(TutorEvent::Citations(citations.clone())).await;
    let (conversation_id, message_id) = match p.actor.user_id() {
        Some(user) => {
            let (course_id, question, existing) =
                (p.course_id, p.question.clone(), p.conversation_id);
            let cites = serde_json::to_string(&citations).map_err(anyhow::Error::from)?;
            let first_lesson = citations.first().map(|c| c.lesson_id);
            let finish = serde_json::to_value(finish)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            let (c, m) = app
                .db
                .write(move |tx| {
                    let now = crate::util::now_rfc3339();
                    let conv = match existing {
                        Some(id) => {
                            tx.execute("UPDATE conversations SET updated_at = ?1 WHERE id = ?2", params![now, id])?;
                            id
                        }
                        None => {
                            tx.execute(
                                "INSERT INTO conversations (user_id, course_id, title, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                                params![user, course_id, excerpt(&question, 80), now],
                            )?;
                            tx.last_insert_rowid()
                        }
                    };
                    tx.execute(
                        "INSERT INTO conversation_messages (conversation_id, role, content, created_at) VALUES (?1, 'user', ?2, ?3)",
                        params![conv, question, now],
                    )?;
                    tx.execute(
                        "INSERT INTO conversation_messages (conversation_id, role, content, citations, abstained, finish, created_at)
                         VALUES (?1, 'assistant', ?2, ?3, ?4, ?5, ?6)",
                        params![conv, answer, cites, abstain, finish, now],
                    )?;
                    let message = tx.last_insert_rowid();
                    crate::events::emit(
                        tx,
                        &crate::events::Event::TutorAnswered {
                            course_id,
                            abstained: abstain,
                            lesson_id: first_lesson,
                        },
                    )?;
                    Ok((conv, message))
                })
                .await?;
            (Some(c), Some(m))
        }
        None => (None, None),
    };
    let _ = tx
        .send(TutorEvent::Done {
            conversation_id,
            message_id,
            abstained: abstain,
        })
        .await;
    Ok(())
}

/// A conversation in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationSummary {
    /// Id.
    pub id: i64,
    /// The course.
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
    /// Id.
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
