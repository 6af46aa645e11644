//! System routes: health, metrics and the OpenAPI document.

pub mod jobs;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::App;
use crate::error::{Error, Result};

/// The answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the answer is 200.
    pub status: &'static str,
    /// The running SmartCourse version.
    pub version: &'static str,
}

/// Says whether the server and its storage are usable.
#[utoipa::path(
    get, path = "/healthz", tag = "system",
    responses(
        (status = 200, description = "Storage is usable", body = Health),
        (status = 503, description = "Storage is not usable", body = crate::http::ErrorBody),
    )
)]
pub async fn healthz(State(app): State<Arc<App>>) -> Result<Json<Health>> {
    let check = async {
        app.db
            .read(|c| {
                Ok(
                    c.query_row("SELECT count(*) FROM schema_migrations", [], |r| {
                        r.get::<_, i64>(0)
                    })?,
                )
            })
            .await?;
        app.content.read(|_| Ok(())).await
    };
    check.await.map_err(|e| {
        tracing::error!(error = %e, "health check failed");
        Error::Unavailable("storage is not usable".into())
    })?;
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// Prometheus metrics (OpenMetrics text). Served to clients on the server's own machine, and to admins.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses(
        (status = 200, description = "Metrics in the OpenMetrics text format", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "Not a loopback client, and not signed in", body = crate::http::ErrorBody),
        (status = 403, description = "Not a loopback client, and not an admin", body = crate::http::ErrorBody),
    )
)]
pub async fn metrics(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: crate::accounts::MaybeAuth,
) -> Result<impl IntoResponse> {
    let admin = user.actor().is_some_and(|a| a.is_admin());
    if !may_read_metrics(peer) && !admin {
        return Err(if user.0.is_some() {
            Error::Forbidden
        } else {
            Error::Unauthorized
        });
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    ))
}

/// Metrics reveal usage patterns, so only the machine running the server may read them.
fn may_read_metrics(peer: SocketAddr) -> bool {
    match peer.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback(),
        std::net::IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Users, courses, lessons, and bytes of attached files: the admin page's picture of the installation.
pub fn totals(conn: &rusqlite::Connection) -> Result<(i64, i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM courses), (SELECT count(*) FROM lessons),
            (SELECT coalesce(sum(size), 0) FROM attachments)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?)
}

/// The OpenAPI 3 document of this API, generated from the code.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "system",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub async fn openapi(Extension(doc): Extension<Arc<String>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.as_str().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_reads_metrics() {
        assert!(may_read_metrics("127.0.0.1:5".parse().unwrap()));
        assert!(may_read_metrics("[::1]:5".parse().unwrap()));
        assert!(may_read_metrics("[::ffff:127.0.0.1]:5".parse().unwrap()));
        assert!(!may_read_metrics("192.168.1.20:5".parse().unwrap()));
        assert!(!may_read_metrics("[::ffff:10.0.0.2]:5".parse().unwrap()));
        assert!(!may_read_metrics("[fe80::1]:5".parse().unwrap()));
    }
}
