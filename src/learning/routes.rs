//! HTTP routes of learning: joining and leaving courses, completing lessons, progress.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::enrollment::{self, Enrollment, MyCourse};
use super::progress::{self, Completion, CourseProgress};
use crate::App;
use crate::accounts::Auth;
use crate::courses::Lesson;
use crate::error::Result;
use crate::http::ErrorBody;
use crate::http::extract::Path;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(enroll, unenroll))
        .routes(routes!(my_enrollments))
        .routes(routes!(read_lesson))
        .routes(routes!(complete))
        .routes(routes!(course_progress))
}

/// Enrol in a published course (students). 409 `already_enrolled`, `course_full`, `course_archived`.
#[utoipa::path(post, path = "/api/courses/{id}/enroll", tag = "enrollment", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 201, body = Enrollment), (status = 401, body = ErrorBody), (status = 403, description = "not a student", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn enroll(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, axum::Json<Enrollment>)> {
    let actor = user.actor();
    let e = app
        .db
        .write(move |tx| enrollment::enroll(tx, &actor, id))
        .await?;
    tracing::info!(course.id = id, user.id = user.0.id, "enrolled");
    Ok((StatusCode::CREATED, axum::Json(e)))
}

/// Leave a course (students).
#[utoipa::path(delete, path = "/api/courses/{id}/enroll", tag = "enrollment", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "not enrolled", body = ErrorBody)))]
async fn unenroll(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let actor = user.actor();
    app.db
        .write(move |tx| enrollment::unenroll(tx, &actor, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My courses, with progress.
#[utoipa::path(get, path = "/api/enrollments/me", tag = "enrollment", security(("bearer" = [])),
    responses((status = 200, body = Vec<MyCourse>), (status = 401, body = ErrorBody)))]
async fn my_enrollments(
    State(app): State<Arc<App>>,
    user: Auth,
) -> Result<axum::Json<Vec<MyCourse>>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db.read(move |c| enrollment::mine(c, &actor)).await?,
    ))
}

/// A lesson with its body as sanitised HTML (enrolled students, owner, admin).
#[utoipa::path(get, path = "/api/lessons/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Lesson), (status = 401, body = ErrorBody), (status = 403, description = "not enrolled", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn read_lesson(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<axum::Json<Lesson>> {
    let lesson = progress::read_lesson(&app, user.actor(), id).await?;
    Ok(axum::Json(crate::courses::routes::with_launch_url(
        &app, &headers, lesson,
    )))
}

/// Mark a lesson complete (enrolled students); doing it again changes nothing.
#[utoipa::path(post, path = "/api/lessons/{id}/complete", tag = "progress", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Completion), (status = 401, body = ErrorBody), (status = 404, description = "no such lesson, or not enrolled", body = ErrorBody)))]
async fn complete(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<Completion>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .write(move |tx| progress::complete(tx, &actor, id))
            .await?,
    ))
}

/// Progress in a course: your own as a student; every student's as its owner or an admin.
#[utoipa::path(get, path = "/api/courses/{id}/progress", tag = "progress", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = CourseProgress), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn course_progress(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<CourseProgress>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .read(move |c| progress::course_progress(c, &actor, id))
            .await?,
    ))
}
