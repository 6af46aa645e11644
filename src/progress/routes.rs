//! HTTP routes of progress.

use std::sync::Arc;

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Completion, CourseProgress};
use crate::App;
use crate::error::Result;
use crate::http::ErrorBody;
use crate::http::auth::Auth;
use crate::http::extract::Path;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(complete))
        .routes(routes!(course_progress))
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
            .write(move |tx| super::complete(tx, &actor, id))
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
            .read(move |c| super::course_progress(c, &actor, id))
            .await?,
    ))
}
