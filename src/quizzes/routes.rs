//! HTTP routes of quizzes: taking one (start, save, submit, results) and, for its teachers, the figures,
//! marking essays and editing the quiz ([`super::edit`], as the teacher's pages do). Nothing a student
//! receives before submitting holds an answer (see [`super`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::edit::settings::{Settings, SettingsInput};
use super::edit::{self, Draft, QuestionInput};
use super::{Answers, AttemptResult, AttemptView, Mark, MyAttempts, QuizReport, RevealedHints};
use crate::App;
use crate::accounts::Auth;
use crate::error::{Error, Result};
use crate::http::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(start, my_attempts))
        .routes(routes!(save))
        .routes(routes!(hint))
        .routes(routes!(submit))
        .routes(routes!(result))
        .routes(routes!(report))
        .routes(routes!(results))
        .routes(routes!(mark))
        .routes(routes!(add_question))
        .routes(routes!(edit_question, delete_question))
        .routes(routes!(move_question))
        .routes(routes!(save_settings))
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

/// Which question's next hint to reveal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HintRequest {
    /// The question's id, as the attempt's view gives it.
    pub question: String,
}

/// Reveal the next hint of a question of my open attempt, and get every hint of it revealed so far (kept
/// with the attempt: the view's `revealed_hints` shows them again). 404 for a question the attempt does not
/// show; 409 `no_hints_left` once all are shown, `attempt_submitted` after submitting.
#[utoipa::path(post, path = "/api/quiz-attempts/{id}/hints", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = HintRequest,
    responses((status = 200, body = RevealedHints), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn hint(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(req): Json<HintRequest>,
) -> Result<axum::Json<RevealedHints>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .write(move |tx| super::reveal_hint(tx, &actor, id, &req.question))
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

/// A question's place in the quiz, 1-based as the pages number them.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionPlace {
    pub number: usize,
}

/// Add a question of any kind at the end of a lesson's quiz (the course's owner and admins; a lesson without
/// a quiz becomes a quiz lesson). 422 `invalid_input` naming the field; 409 `confirm_quiz_change` when
/// students have attempted the quiz and `confirm` is not set.
#[utoipa::path(post, path = "/api/lessons/{id}/quiz/questions", tag = "quizzes", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = QuestionInput,
    responses((status = 201, body = QuestionPlace), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_question(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(input): Json<QuestionInput>,
) -> Result<(StatusCode, axum::Json<QuestionPlace>)> {
    let actor = user.actor();
    let d = Draft::from(input);
    let index = app
        .db
        .write(move |tx| edit::add_question(tx, &actor, id, &d))
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(QuestionPlace { number: index + 1 }),
    ))
}

/// Change question `n` (1-based) of a lesson's quiz: its text, points, feedback and answers; its kind stays.
/// 422 `invalid_input` naming the field; 409 `confirm_quiz_change` as for adding.
#[utoipa::path(put, path = "/api/lessons/{id}/quiz/questions/{n}", tag = "quizzes", security(("bearer" = [])),
    params(("id" = i64, Path), ("n" = usize, Path)), request_body = QuestionInput,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_question(
    State(app): State<Arc<App>>,
    user: Auth,
    Path((id, n)): Path<(i64, usize)>,
    Json(input): Json<QuestionInput>,
) -> Result<StatusCode> {
    let actor = user.actor();
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    let d = Draft::from(input);
    app.db
        .write(move |tx| edit::edit_question(tx, &actor, id, index, &d))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete question `n` of a lesson's quiz; students' attempts keep the version they took. 409
/// `last_question` for a quiz's only question.
#[utoipa::path(delete, path = "/api/lessons/{id}/quiz/questions/{n}", tag = "quizzes", security(("bearer" = [])),
    params(("id" = i64, Path), ("n" = usize, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_question(
    State(app): State<Arc<App>>,
    user: Auth,
    Path((id, n)): Path<(i64, usize)>,
) -> Result<StatusCode> {
    let actor = user.actor();
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    app.db
        .write(move |tx| edit::delete_question(tx, &actor, id, index, true))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which way a question moves.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// `up` or `down`.
    pub direction: String,
}

/// Move question `n` one place up or down (nothing happens at either end); answers its new place. 422
/// `invalid_input` on `direction`.
#[utoipa::path(post, path = "/api/lessons/{id}/quiz/questions/{n}/move", tag = "quizzes", security(("bearer" = [])),
    params(("id" = i64, Path), ("n" = usize, Path)), request_body = Move,
    responses((status = 200, body = QuestionPlace), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_question(
    State(app): State<Arc<App>>,
    user: Auth,
    Path((id, n)): Path<(i64, usize)>,
    Json(m): Json<Move>,
) -> Result<axum::Json<QuestionPlace>> {
    let actor = user.actor();
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    let to = app
        .db
        .write(move |tx| edit::move_question(tx, &actor, id, index, &m.direction))
        .await?;
    Ok(axum::Json(QuestionPlace { number: to + 1 }))
}

/// Set a quiz's rules: introduction, pass rule, attempts, shuffling, draw. 422 `invalid_input` naming the
/// field; 409 `confirm_quiz_change` when the pass rule or the draw changes on an attempted quiz without
/// `confirm`.
#[utoipa::path(put, path = "/api/lessons/{id}/quiz/settings", tag = "quizzes", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SettingsInput,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_settings(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(input): Json<SettingsInput>,
) -> Result<StatusCode> {
    let actor = user.actor();
    let s = Settings::from(input);
    app.db
        .write(move |tx| edit::settings::save_settings(tx, &actor, id, &s))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
