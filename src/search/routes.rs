//! `GET /api/search`.

use std::sync::Arc;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::SearchResult;
use crate::App;
use crate::accounts::Auth;
use crate::error::{Error, Result};
use crate::http::ErrorBody;
use crate::http::extract::Query;
use axum::extract::State;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(search))
}

/// Search parameters.
#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// What to look for (1–500 characters).
    q: String,
    /// Only this course.
    course_id: Option<i64>,
    /// Most results (1–50, default 10).
    limit: Option<usize>,
}

/// Hybrid search (BM25 and meaning) over the lessons the caller may read; one result per lesson, best first.
#[utoipa::path(get, path = "/api/search", tag = "search", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = Vec<SearchResult>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn search(
    State(app): State<Arc<App>>,
    user: Auth,
    Query(p): Query<SearchParams>,
) -> Result<axum::Json<Vec<SearchResult>>> {
    let limit = p.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(Error::invalid("limit", "limit must be between 1 and 50"));
    }
    let actor = user.actor();
    Ok(axum::Json(
        super::search(&app, &actor, &p.q, p.course_id, limit).await?,
    ))
}
