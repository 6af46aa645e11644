//! HTTP routes of quizzes: taking one (start, save, submit, results) and, for its teachers, the figures and
//! marking essays. Nothing a student receives before submitting holds an answer (see [`super`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Answers, AttemptResult, AttemptView, Mark, MyAttempts, QuizReport};
use crate::App;
use crate::accounts::Auth;
use crate::error::{Error, Result};
use crate::http::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use serde::Deserialize;
use utoipa::IntoParams;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(start, my_attempts))
        .routes(routes!(save))
        .routes(routes!(submit))
        .routes(routes!(result))
        .routes(routes!(report))
        .routes(routes!(results))
        .routes(routes!(mark))
}

/// Start an attempt at a lesson's quiz (enrolled students), or resume the open one. The view holds the
/// questions without answers, in the attempt's own order. 409 `no_attempts_left`.
#[utoipa::path(post, path = "/api/lessons/{id}/quiz/attempts", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 201, body = AttemptView), (status = 401, body = ErrorBody), (status = 403, description = "not enrolled", body = ErrorBody),
        (status = 404, description = "no such lesson, or not a quiz", body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn start(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, axum::Json<AttemptView>)> {
    let actor = user.actor();
    let view = app.db.write(move |tx| super::start(tx, &actor, id)).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// My attempts at a lesson's quiz, and whether I may attempt it again.
#[utoipa::path(get, path = "/api/lessons/{id}/quiz/attempts", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = MyAttempts), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn my_attempts(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<MyAttempts>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .read(move |c| super::my_attempts(c, &actor, id))
            .await?,
    ))
}

/// Save answers to my open attempt without submitting (a restart loses nothing). 409 `attempt_submitted`;
/// 422 `invalid_input` naming an answer to a question the attempt does not have.
#[utoipa::path(put, path = "/api/quiz-attempts/{id}/answers", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = Answers,
    responses((status = 200, body = AttemptView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(answers): Json<Answers>,
) -> Result<axum::Json<AttemptView>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .write(move |tx| super::save(tx, &actor, id, &answers))
            .await?,
    ))
}

/// Submit my attempt (with any last answers): graded on the server; passing completes the lesson.
#[utoipa::path(post, path = "/api/quiz-attempts/{id}/submit", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = Answers,
    responses((status = 200, body = AttemptResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(answers): Json<Answers>,
) -> Result<axum::Json<AttemptResult>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .write(move |tx| super::submit(tx, &actor, id, &answers))
            .await?,
    ))
}

/// A submitted attempt's result, per question with feedback (its student, the course's owner, admins).
/// 409 `attempt_open` before it is submitted.
#[utoipa::path(get, path = "/api/quiz-attempts/{id}", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = AttemptResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn result(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<AttemptResult>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db.read(move |c| super::result(c, &actor, id)).await?,
    ))
}

/// Per-question figures of a quiz (how many got it right, the most common wrong answer) and the essays to
/// mark (the course's owner and admins).
#[utoipa::path(get, path = "/api/lessons/{id}/quiz/report", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = QuizReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn report(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<QuizReport>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db.read(move |c| super::report(c, &actor, id)).await?,
    ))
}

/// The format of the results.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// Every attempt at a quiz, per student, with each question's score (the course's owner and admins); CSV
/// with `?format=csv`: one row per attempt, a column per question.
#[utoipa::path(get, path = "/api/lessons/{id}/quiz/results", tag = "quizzes", security(("bearer" = [])),
    params(("id" = i64, Path), ResultsQuery),
    responses((status = 200, description = "JSON, or CSV with ?format=csv",
            content((super::results::QuizResults = "application/json"), (String = "text/csv"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn results(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Query(q): Query<ResultsQuery>,
) -> Result<Response> {
    let format = q.format.unwrap_or_else(|| "json".into());
    if format != "json" && format != "csv" {
        return Err(Error::invalid("format", "format must be json or csv"));
    }
    let actor = user.actor();
    let results = app
        .db
        .read(move |c| super::results::results(c, &actor, id))
        .await?;
    Ok(if format == "csv" {
        let name = format!("attachment; filename=\"quiz-{id}-results.csv\"");
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            super::results::to_csv(&results),
        )
            .into_response()
    } else {
        axum::Json(results).into_response()
    })
}

/// Mark an essay answer (the course's owner and admins); the attempt's score and pass follow.
#[utoipa::path(put, path = "/api/quiz-attempts/{id}/answers/{question}/mark", tag = "quizzes", security(("bearer" = [])),
    params(("id" = i64, Path), ("question" = String, Path)), request_body = Mark,
    responses((status = 200, body = AttemptResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn mark(
    State(app): State<Arc<App>>,
    user: Auth,
    Path((id, question)): Path<(i64, String)>,
    Json(m): Json<Mark>,
) -> Result<axum::Json<AttemptResult>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .write(move |tx| super::mark(tx, &actor, id, &question, &m))
            .await?,
    ))
}
