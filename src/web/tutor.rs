//! Search and tutor pages: the search results page, a course's tutor page (ask, with the answer streamed by
//! `app.js`; without JavaScript the form posts and the page shows the finished answer), conversations, and the
//! instructor's tutor-mode switch.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::{Viewer, WebError, render, see_other};
use crate::App;
use crate::courses::{self, service};
use crate::error::Error;
use crate::http::extract::Path;
use crate::tutor::{self, AskRequest, TutorEvent, TutorMode};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/search", get(search))
        .route("/courses/{id}/tutor", get(tutor_page).post(ask))
        .route("/conversations/{id}", get(conversation))
        .route("/teach/courses/{id}/tutor-mode", post(set_mode))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    course_id: Option<i64>,
}

async fn search(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(q): Query<SearchQuery>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let text = q.q.clone().unwrap_or_default();
    let (results, error) = if text.trim().is_empty() {
        (Vec::new(), None)
    } else {
        match crate::search::search(&app, &actor, &text, q.course_id, 20).await {
            Ok(r) => (r, None),
            Err(e @ Error::Invalid { .. }) => (Vec::new(), Some(e.to_string())),
            Err(e) => return Err(e.into()),
        }
    };
    // Course titles for the results.
    let ids: Vec<i64> = results.iter().map(|r| r.course_id).collect();
    let titles = app
        .db
        .read(move |c| {
            let mut out = std::collections::HashMap::new();
            for id in ids {
                if let Some(t) = crate::courses::title(c, id)? {
                    out.insert(id.to_string(), t);
                }
            }
            Ok(out)
        })
        .await?;
    Ok(render(
        "search.html",
        &viewer,
        "Search",
        context! { q => text, course_id => q.course_id, results, titles, error, searched => q.q.is_some() },
    ))
}

#[derive(Deserialize)]
struct TutorQuery {
    conversation: Option<i64>,
}

async fn tutor_page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<TutorQuery>,
) -> Result<Html<String>, WebError> {
    page(&app, &viewer, id, q.conversation, None).await
}

async fn page(
    app: &Arc<App>,
    viewer: &Viewer,
    id: i64,
    conversation: Option<i64>,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let detail = service::course_detail(app, Some(actor.clone()), id).await?;
    let a = actor.clone();
    let (can_ask, can_edit, mode, mine, all, current) = app
        .db
        .read(move |c| {
            let course = courses::course_ref(c, id)?.ok_or(Error::NotFound)?;
            let can_ask = courses::may_read_lessons(c, &a, &course)?;
            let can_edit = courses::may_edit(&a, &course);
            let mode = tutor::mode(c, id)?;
            let all = tutor::list_conversations(c, &a, Some(id))?;
            let me = a.user_id();
            let mine: Vec<_> = all
                .iter()
                .filter(|s| Some(s.user_id) == me)
                .map(|s| s.id)
                .collect();
            let current = match conversation {
                Some(cid) => Some(tutor::get_conversation(c, &a, cid)?),
                None => None,
            };
            Ok((can_ask, can_edit, mode, mine, all, current))
        })
        .await?;
    Ok(render(
        "tutor.html",
        viewer,
        &format!("Tutor · {}", detail.course.title),
        context! {
            course => detail, can_ask, can_edit, mode, mine, conversations => all, current,
            error, max_chars => app.config.tutor.max_question_chars,
        },
    ))
}

#[derive(Deserialize)]
struct AskForm {
    question: String,
    conversation_id: Option<String>,
}

/// Without JavaScript: ask, wait for the whole answer, show the conversation.
async fn ask(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<AskForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let conversation_id = f
        .conversation_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok());
    let request = AskRequest {
        course_id: id,
        question: f.question,
        conversation_id,
    };
    let prepared = match tutor::prepare(&app, &actor, request).await {
        Ok(p) => p,
        Err(e @ (Error::Invalid { .. } | Error::RateLimited { .. })) => {
            return Ok(axum::response::IntoResponse::into_response((
                e.status(),
                page(&app, &viewer, id, conversation_id, Some(e.to_string())).await?,
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(tutor::run(app.clone(), prepared, tx));
    let mut done = None;
    let mut failed = None;
    while let Some(event) = rx.recv().await {
        match event {
            TutorEvent::Done {
                conversation_id, ..
            } => done = conversation_id,
            TutorEvent::Error { message, .. } => failed = Some(message),
            _ => {}
        }
    }
    match (done, failed) {
        (Some(c), _) => Ok(see_other(&format!("/courses/{id}/tutor?conversation={c}"))),
        (None, error) => Ok(axum::response::IntoResponse::into_response(
            page(&app, &viewer, id, conversation_id, error).await?,
        )),
    }
}

async fn conversation(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let conv = app
        .db
        .read(move |c| tutor::get_conversation(c, &actor, id))
        .await?;
    Ok(see_other(&format!(
        "/courses/{}/tutor?conversation={}",
        conv.summary.course_id, id
    )))
}

#[derive(Deserialize)]
struct ModeForm {
    mode: TutorMode,
}

async fn set_mode(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<ModeForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    app.db
        .write(move |tx| tutor::set_mode(tx, &actor, id, f.mode))
        .await?;
    Ok(see_other(&format!("/courses/{id}/tutor")))
}
