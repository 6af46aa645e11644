//! The HTTP toolkit every route uses: who is calling ([`auth`]), extractors whose rejections are the API's
//! JSON errors ([`extract`]), the error shape ([`error`]), Range/ETag answers for stored files, middleware
//! (request ids, logs, metrics, timeout, rate limit), the OpenAPI document's common parts ([`openapi`]), and
//! the server loop with graceful shutdown.
//!
//! It names no domain: the routes live with their domains and are put together in `server`. Handlers extract,
//! call a domain function, and render; they hold no logic. Every route is declared with `utoipa` so that
//! `/api/openapi.json` is generated from the code. [`serve_router`] takes a bound listener and a shutdown
//! future (as in mini-redis), so tests bind port 0 and stop the server without signals.

pub mod auth;
pub mod error;
pub mod extract;
pub mod files;
pub(crate) mod middleware;
pub mod openapi;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use tokio::net::TcpListener;

use crate::App;

pub use error::{ErrorBody, ErrorDetail, error_response};

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

/// The answer to a method a path does not accept.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
        None,
    )
}
