//! HTTP routes of notifications.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Notification;
use crate::App;
use crate::accounts::Auth;
use crate::error::Result;
use crate::http::ErrorBody;
use crate::http::extract::Path;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(inbox))
        .routes(routes!(mark_read))
}

#[derive(Serialize, ToSchema)]
pub struct Inbox {
    /// Latest 100 notifications, newest first.
    pub items: Vec<Notification>,
    /// How many are unread in all.
    pub unread: i64,
}

/// Your notifications.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Inbox), (status = 401, body = ErrorBody)))]
async fn inbox(State(app): State<Arc<App>>, user: Auth) -> Result<axum::Json<Inbox>> {
    let actor = user.actor();
    let (items, unread) = app.db.read(move |c| super::inbox(c, &actor, 100)).await?;
    Ok(axum::Json(Inbox { items, unread }))
}

/// Mark one of your notifications read.
#[utoipa::path(post, path = "/api/notifications/{id}/read", tag = "notifications", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn mark_read(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let actor = user.actor();
    app.db
        .write(move |tx| super::mark_read(tx, &actor, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
