//! Middleware: request ids, request logs and metrics, and the request timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header::HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Instrument;

use crate::App;
use crate::error::Error;
use crate::metrics::{HttpLabels, RouteLabels};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes request ids `<process tag>-<counter>`: unique within a run and across restarts, cheap, and short
/// enough to read out loud when a teacher reports a problem.
#[derive(Clone)]
pub struct RequestIds {
    tag: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    /// A generator tagged with this process's start time.
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tag = format!("{:x}", (nanos as u64) ^ u64::from(std::process::id()));
        RequestIds {
            tag: tag.into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.tag))
            .ok()
            .map(RequestId::new)
    }
}

/// Logs each request in a span carrying its id, and records the per-route metrics.
pub async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("request", request.id = %request_id, http.method = %method, http.route = %route);

    let metrics = &app.metrics;
    metrics.http_in_flight.inc();
    let response = next.run(req).instrument(span.clone()).await;
    metrics.http_in_flight.dec();

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method: method.to_string(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .http_duration
        .get_or_create(&RouteLabels {
            method: method.to_string(),
            route,
        })
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            http.status = status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        )
    });
    response
}

/// Answers 503 `timeout` when a handler takes longer than `server.request_timeout_secs` to produce its
/// response headers (a stream that has started is not cut).
pub async fn timeout(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    // An upload over slow classroom Wi-Fi takes as long as it takes; its size is limited instead.
    let upload = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    if upload {
        return next.run(req).await;
    }
    let limit = Duration::from_secs(app.config.server.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_secs = limit.as_secs(), "request timed out");
            Error::Unavailable("the server took too long to answer; try again".into())
                .into_response()
        }
    }
}

/// The general per-client limit on API requests (`rate_limit.api_per_client`); the health check is exempt so
/// monitoring never trips it.
pub async fn rate_limit(
    State(app): State<Arc<App>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() != "/healthz"
        && let Err(e) = app.limits.api.check(&peer.ip().to_string())
    {
        return e.into_response();
    }
    next.run(req).await
}

/// SmartCourse's pages may be framed by SmartCourse only: not by a course package's pages, which are served
/// from another port of the same host (`courses::launch`), nor by any other site.
pub async fn not_framed(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .entry(axum::http::header::X_FRAME_OPTIONS)
        .or_insert(axum::http::HeaderValue::from_static("SAMEORIGIN"));
    response
}

/// Removes sign-in cookies planted by a page on another port of this host (see
/// [`crate::http::auth::cookie_token`]), on the response to any request that carries more than one.
pub async fn clear_planted_cookies(req: Request, next: Next) -> Response {
    let clears = crate::http::auth::planted_cookie_clears(req.headers(), req.uri().path());
    let mut response = next.run(req).await;
    for value in clears {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, v);
        }
    }
    response
}

/// Puts the middleware around a router with every route and fallback: body limit, timeout, rate limit,
/// metrics and logs, compression, framing and cookie rules, request ids (outermost last), and serves `doc` at
/// `/api/openapi.json`.
pub fn wrap(
    router: axum::Router<Arc<App>>,
    app: Arc<App>,
    doc: &utoipa::openapi::OpenApi,
) -> axum::Router {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    let doc = Arc::new(serde_json::to_string(doc).expect("the OpenAPI document serialises"));
    router
        .layer(axum::Extension(doc))
        .layer(axum::extract::DefaultBodyLimit::max(
            app.config.server.max_body_bytes as usize,
        ))
        .layer(axum::middleware::from_fn_with_state(app.clone(), timeout))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(app.clone(), track))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(not_framed))
        .layer(axum::middleware::from_fn(clear_planted_cookies))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
        .with_state(app)
}
