//! HTTP routes of the tutor: `POST /api/ai/ask` (server-sent events), conversations, and the course's mode.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AskRequest, Conversation, ConversationSummary, TutorEvent, TutorMode};
use crate::App;
use crate::accounts::Auth;
use crate::error::Result;
use crate::http::ErrorBody;
use crate::http::extract::{Json, Path, Query};

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(ask))
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(get_mode, set_mode))
        .routes(routes!(list_classroom))
        .routes(routes!(edit_classroom, clear_classroom))
}

/// One server-sent event of an answer: its name and its JSON data (as text).
#[derive(Debug, Serialize, ToSchema)]
pub struct SseEvent {
    /// `status`, `queue`, `evidence`, `classroom`, `token`, `replace`, `citations`, `done` or `error`.
    pub event: String,
    /// The event's JSON: `{state}`, `[{lesson_id, lesson_title, position, text, html}]`, `{text}`, `{text}`,
    /// `[{n, lesson_id, lesson_title, position, excerpt, snippet, score}]`,
    /// `{conversation_id, message_id, abstained, html}` or
    /// `{code, message}`.
    pub data: String,
}

fn sse_event(e: TutorEvent) -> Event {
    let (name, data) = e.to_json();
    Event::default().event(name).data(data.to_string())
}

/// Ask the tutor about a course (enrolled students, the course's owner, admins). The answer streams as
/// server-sent events: `status` (`{state}`: retrieving, waiting, generating) first, `queue` (`{ahead}`: questions ahead
/// in the line for the model, while waiting, whenever it changes), `evidence` (the course's
/// sentences that best answer the question, `[{lesson_id, lesson_title, position, text, html}]`, empty when the course
/// does not cover it) as soon as retrieval is done, possibly `classroom` (`{id, pinned}`: the answer is the one kept
/// for this course's near-duplicate first question, or the teacher's pinned one, sent at once), then `token` (`{text}`) pieces, possibly `replace` (`{text}`:
/// the whole answer, when the model wrote that the course does not cover what the evidence answers), `citations` (`[{n, lesson_id, lesson_title, position, excerpt, snippet, score}]`;
/// `snippet` is HTML: a sentence or two of the passage, the question's words in `<mark>`), and `done`
/// (`{conversation_id, message_id, abstained, html}`; `html` is the whole answer, escaped, formulas as MathML), or `error` (`{code, message}`). Closing the connection stops
/// the generation.
#[utoipa::path(post, path = "/api/ai/ask", tag = "tutor", security(("bearer" = [])), request_body = AskRequest,
    responses((status = 200, description = "text/event-stream of the answer", content_type = "text/event-stream", body = SseEvent),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn ask(
    State(app): State<Arc<App>>,
    user: Auth,
    Json(req): Json<AskRequest>,
) -> Result<Sse<impl futures_util::Stream<Item = std::result::Result<Event, Infallible>>>> {
    let prepared = super::prepare(&app, &user.actor(), req).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<TutorEvent>(64);
    tokio::spawn(super::run(app.clone(), prepared, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok(sse_event(e)), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Conversation list filter.
#[derive(Deserialize, IntoParams)]
pub struct ConversationFilter {
    /// Only this course; its owner (and admins) see every student's conversations in it.
    course_id: Option<i64>,
}

/// The caller's conversations with the tutor; with `course_id`, a course owner sees all of that course's.
#[utoipa::path(get, path = "/api/ai/conversations", tag = "tutor", security(("bearer" = [])), params(ConversationFilter),
    responses((status = 200, body = Vec<ConversationSummary>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_conversations(
    State(app): State<Arc<App>>,
    user: Auth,
    Query(f): Query<ConversationFilter>,
) -> Result<axum::Json<Vec<ConversationSummary>>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .read(move |c| super::list_conversations(c, &actor, f.course_id))
            .await?,
    ))
}

/// One conversation with its messages (its asker, the course's owner, admins).
#[utoipa::path(get, path = "/api/ai/conversations/{id}", tag = "tutor", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Conversation), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_conversation(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<Conversation>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .read(move |c| super::get_conversation(c, &actor, id))
            .await?,
    ))
}

/// A course's tutor mode.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeBody {
    /// `explain` answers questions; `hint` guides without handing over solutions.
    pub mode: TutorMode,
}

/// The tutor mode of a course (anyone who may see the course).
#[utoipa::path(get, path = "/api/courses/{id}/tutor", tag = "tutor", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ModeBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_mode(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<ModeBody>> {
    let actor = user.actor();
    let mode = app
        .db
        .read(move |c| {
            crate::courses::require_view(c, Some(&actor), id)?;
            super::mode(c, id)
        })
        .await?;
    Ok(axum::Json(ModeBody { mode }))
}

/// Set the tutor mode of a course (its owner, admins).
#[utoipa::path(put, path = "/api/courses/{id}/tutor", tag = "tutor", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ModeBody,
    responses((status = 200, body = ModeBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_mode(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(body): Json<ModeBody>,
) -> Result<axum::Json<ModeBody>> {
    let actor = user.actor();
    let mode = body.mode;
    app.db
        .write(move |tx| super::set_mode(tx, &actor, id, mode))
        .await?;
    Ok(axum::Json(ModeBody { mode }))
}

/// The answers a course's tutor keeps for its class (the course's owner, admins): pinned first, then the most
/// reused.
#[utoipa::path(get, path = "/api/courses/{id}/tutor/answers", tag = "tutor", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Vec<super::classroom::ClassroomAnswer>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_classroom(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<super::classroom::ClassroomAnswer>>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .read(move |c| super::classroom::list(c, &actor, id))
            .await?,
    ))
}

/// Edit or pin a kept answer (the course's owner, admins).
#[utoipa::path(put, path = "/api/courses/{id}/tutor/answers/{answer_id}", tag = "tutor", security(("bearer" = [])),
    params(("id" = i64, Path), ("answer_id" = i64, Path)), request_body = super::classroom::ClassroomEdit,
    responses((status = 200, body = super::classroom::ClassroomAnswer), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_classroom(
    State(app): State<Arc<App>>,
    user: Auth,
    Path((id, answer_id)): Path<(i64, i64)>,
    Json(body): Json<super::classroom::ClassroomEdit>,
) -> Result<axum::Json<super::classroom::ClassroomAnswer>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .write(move |tx| super::classroom::edit(tx, &actor, id, answer_id, &body))
            .await?,
    ))
}

/// Clear a kept answer: the next such question is answered afresh (the course's owner, admins).
#[utoipa::path(delete, path = "/api/courses/{id}/tutor/answers/{answer_id}", tag = "tutor", security(("bearer" = [])),
    params(("id" = i64, Path), ("answer_id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn clear_classroom(
    State(app): State<Arc<App>>,
    user: Auth,
    Path((id, answer_id)): Path<(i64, i64)>,
) -> Result<axum::http::StatusCode> {
    let actor = user.actor();
    app.db
        .write(move |tx| super::classroom::clear(tx, &actor, id, answer_id))
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
