//! HTTP routes of workflows and jobs: a workflow's status for its owner, the job list and retries for admins.

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::App;
use crate::accounts::Auth;
use crate::error::Result;
use crate::http::ErrorBody;
use crate::http::extract::{Path, Query};
use crate::jobs::JobView;
use crate::jobs::workflow::{self, WorkflowStatus};

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(workflow_status))
        .routes(routes!(cancel_workflow))
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
}

/// A workflow's status, current step and progress (its owner, admins).
#[utoipa::path(get, path = "/api/workflows/{id}/status", tag = "jobs", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = WorkflowStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn workflow_status(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<WorkflowStatus>> {
    let (jobs, viewer) = (app.jobs.clone(), user.actor().viewer());
    Ok(axum::Json(
        app.db
            .read(move |c| workflow::status(c, &jobs, viewer, id))
            .await?,
    ))
}

/// Cancel a queued or running workflow: the step running now finishes, no later step starts.
#[utoipa::path(post, path = "/api/workflows/{id}/cancel", tag = "jobs", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = WorkflowStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_workflow(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<WorkflowStatus>> {
    let (jobs, viewer) = (app.jobs.clone(), user.actor().viewer());
    Ok(axum::Json(
        app.db
            .write(move |tx| workflow::cancel(tx, &jobs, viewer, id))
            .await?,
    ))
}

/// Job list filter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// queued, running, done, failed or cancelled.
    #[param(pattern = "^(queued|running|done|failed|cancelled)$")]
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Jobs, newest first.
#[derive(Serialize, ToSchema)]
pub struct JobList {
    /// The jobs.
    pub items: Vec<JobView>,
}

/// Background jobs with their errors (admins).
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", security(("bearer" = [])), params(JobQuery),
    responses((status = 200, body = JobList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_jobs(
    State(app): State<Arc<App>>,
    user: Auth,
    Query(q): Query<JobQuery>,
) -> Result<axum::Json<JobList>> {
    user.actor().require_admin()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = app
        .db
        .read(move |c| crate::jobs::list(c, q.state.as_deref(), limit))
        .await?;
    Ok(axum::Json(JobList { items }))
}

/// Run a failed or cancelled job again (admins).
#[utoipa::path(post, path = "/api/jobs/{id}/retry", tag = "jobs", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = JobView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_job(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<JobView>> {
    user.actor().require_admin()?;
    Ok(axum::Json(
        app.db
            .write(move |tx| {
                crate::jobs::retry(tx, id)?;
                crate::jobs::get(tx, id)
            })
            .await?,
    ))
}
