//! The HTTP route that starts publishing a course; the workflow's progress is followed at
//! `/api/workflows/{id}/status`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::App;
use crate::accounts::Auth;
use crate::error::Result;
use crate::http::ErrorBody;
use crate::http::extract::Path;

/// The routes of publishing.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(publish_course))
}

/// `{workflow_id}`
#[derive(Serialize, ToSchema)]
pub struct WorkflowStarted {
    /// Follow it at `/api/workflows/{workflow_id}/status`.
    pub workflow_id: i64,
}

/// Publish a course: starts the publish workflow (course `draft` → `publishing` → `published`).
#[utoipa::path(post, path = "/api/courses/{id}/publish", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 202, body = WorkflowStarted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "already_publishing", body = ErrorBody)))]
async fn publish_course(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<(StatusCode, axum::Json<WorkflowStarted>)> {
    let workflow_id = super::publish(&app, user.actor(), id).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(WorkflowStarted { workflow_id }),
    ))
}
