//! The HTTP layer: routing, middleware, and the server loop.
//!
//! Handlers extract, call a domain function, and render; they hold no logic. Every route is declared with
//! `utoipa` so that `/api/openapi.json` is generated from the code. [`serve`] takes a bound listener and a
//! shutdown future (as in mini-redis), so tests bind port 0 and stop the server without signals.

pub mod auth;
pub mod error;
pub mod extract;
pub mod files;
pub(crate) mod middleware;
pub mod system;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::App;

pub use error::{ErrorBody, ErrorDetail, error_response};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SmartCourse API",
        description = "The HTTP API of SmartCourse, an offline learning platform. Errors are answered as \
                       `{\"error\": {\"code\", \"message\"}}` with a stable snake_case code.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Health, metrics and this document"),
        (name = "accounts", description = "Registration, login and user management"),
        (name = "courses", description = "Courses, modules, lessons and attachments"),
        (name = "jobs", description = "Workflows and background jobs"),
        (name = "enrollment", description = "Joining and leaving courses"),
        (name = "progress", description = "Completed lessons and course progress"),
        (name = "notifications", description = "The in-app inbox"),
        (name = "analytics", description = "Enrollment and completion reports"),
    ),
)]
struct ApiDoc;

/// Documents the answers every route can give besides its own: a malformed request (400), no or a bad token
/// on routes that need one (401), input out of range (422), the rate limit (429) and storage trouble (503,
/// 507).
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
        let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(what));
                };
                add("400", "bad_request: the request is malformed");
                // Routes open to anonymous callers still refuse a token that is not valid (expired, revoked).
                add(
                    "401",
                    if secured {
                        "unauthorized: no token, or one that is not valid"
                    } else {
                        "unauthorized: the token sent is not valid (expired or revoked)"
                    },
                );
                add(
                    "422",
                    "invalid_input: a value is out of range (the field is named)",
                );
                add("429", "rate_limited: too many requests; see Retry-After");
                add(
                    "503",
                    "unavailable: storage is busy or a request took too long",
                );
                add("507", "storage_full: the server's disk is full");
            }
        }
    }
}

/// Declares the bearer-token security scheme that routes refer to as `bearer`.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Builds the router and the OpenAPI document that describes it.
pub fn router_and_openapi(app: Arc<App>) -> (Router, utoipa::openapi::OpenApi) {
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi))
        .merge(crate::accounts::routes::router())
        .merge(crate::courses::routes::router(&app))
        .merge(crate::jobs::routes::router())
        .merge(crate::enrollment::routes::router())
        .merge(crate::progress::routes::router())
        .merge(crate::notify::routes::router())
        .merge(crate::analytics::routes::router())
        .merge(crate::search::routes::router())
        .merge(crate::tutor::routes::router())
        .split_for_parts();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    utoipa::Modify::modify(&CommonResponses, &mut api);
    let doc = Arc::new(serde_json::to_string(&api).expect("the OpenAPI document serialises"));

    let router = router
        .merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::Extension(doc))
        .layer(DefaultBodyLimit::max(
            app.config.server.max_body_bytes as usize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::track,
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(middleware::not_framed))
        .layer(axum::middleware::from_fn(middleware::clear_planted_cookies))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(
            middleware::RequestIds::new(),
        ))
        .with_state(app);
    (router, api)
}

/// The router with every route and middleware.
pub fn router(app: Arc<App>) -> Router {
    router_and_openapi(app).0
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish for up to the
/// configured grace period.
///
/// Beside it, on the same address, the pages of course packages are served on their own port
/// ([`crate::config::ServerConfig::packages_port`]; see `courses::launch`).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let packages = bind_packages(&app, listener.local_addr()?.ip()).await?;
    serve_with_packages(listener, packages, app, shutdown).await
}

/// Listens for the pages of course packages on `ip` and the configured port
/// ([`crate::config::ServerConfig::packages_port`]), with an error that says how to choose another.
pub async fn bind_packages(app: &App, ip: std::net::IpAddr) -> std::io::Result<TcpListener> {
    let port = app.config.server.packages_port();
    TcpListener::bind((ip, port)).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {ip}:{port} for the pages of course packages: {e}; choose another port with \
                 server.packages_port in the configuration or SMARTCOURSE_SERVER_PACKAGES_PORT"
            ),
        )
    })
}

/// [`serve`], with the package pages' listener already bound.
pub async fn serve_with_packages(
    listener: TcpListener,
    packages: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_secs(app.config.server.shutdown_grace_secs);
    let bound = packages.local_addr()?.port();
    if app.packages_port.set(bound).is_err() && app.packages_port.get() != Some(&bound) {
        tracing::warn!(
            "this application is already served elsewhere; package pages link to the first server"
        );
    }
    tracing::info!(port = bound, "package pages are served on their own port");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let main = serve_router(listener, router(app.clone()), grace, until(stopped.clone()));
    let pages = serve_router(
        packages,
        crate::courses::launch::router(app),
        grace,
        until(stopped),
    );
    let (a, b) = tokio::join!(main, pages);
    a.and(b)
}

/// Serves `router` until `shutdown` completes; requests already in flight then get up to `grace` to finish,
/// while new connections are refused.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = Arc::new(tokio::sync::Notify::new());
    let notify = stopping.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        notify.notify_one();
    };
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    tokio::select! {
        result = server => result,
        () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; stopping anyway");
            Ok(())
        }
    }
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called (not when first polled),
/// so a signal that arrives while the server is still starting is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn not_found(method: Method, uri: Uri) -> Response {
    if !uri.path().starts_with("/api/") {
        return crate::web::WebError(crate::Error::NotFound).into_response();
    }
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("there is no {method} {}", uri.path()),
        None,
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
        None,
    )
}
