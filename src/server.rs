//! The one place that names every module: which jobs, workflows and event subscribers run, which routes are
//! served, and how a server starts and stops.
//!
//! `smartcourse serve` and the test app both start through here ([`Background::start`], then [`serve`]), so
//! the tests run the real start-up: schedules, the job runner and the control socket. The CLI's other
//! commands open the same [`App`] (with [`wiring`]), so a job a command enqueues is one a server runs.
//!
//! Adding a job kind, a workflow or a subscriber is one line in [`wiring`]; adding a domain's routes is one
//! line in [`router`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::App;
use crate::events::Subscribers;
use crate::jobs::{self, Registry};
use crate::system;

/// What a process runs in the background: its job and workflow kinds and its event subscribers.
pub struct Wiring {
    pub jobs: Registry,
    pub subscribers: Subscribers,
}

/// Every job kind, workflow kind and event subscriber of SmartCourse.
pub fn wiring() -> Wiring {
    let jobs = Registry::new()
        .job::<jobs::diag::Noop>()
        .job::<crate::events::Deliver>()
        .job::<crate::notify::mail::SendMail>()
        .job::<crate::notify::mail::WeeklyDigest>()
        .job::<crate::backup::ScheduledBackup>()
        .job::<crate::search::IndexCourse>()
        .workflow::<jobs::diag::SelfTest>()
        .workflow::<crate::publishing::PublishCourse>()
        .workflow::<crate::packages::pipeline::ImportPackage>();
    let subscribers = Subscribers::default()
        .with(crate::analytics::Analytics)
        .with(crate::learning::Progress)
        .with(crate::learning::QuizProgress)
        .with(crate::notify::Notifications)
        .with(crate::search::Reindex);
    Wiring { jobs, subscribers }
}

/// The API routes of every domain, with the OpenAPI document that describes them.
fn api(app: &App) -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(crate::http::openapi::base())
        .routes(routes!(system::healthz))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi))
        .merge(system::jobs::router())
        .merge(crate::accounts::routes::router())
        .merge(crate::courses::routes::router(app))
        .merge(crate::publishing::routes::router())
        .merge(crate::packages::routes::router())
        .merge(crate::learning::routes::router())
        .merge(crate::notify::routes::router())
        .merge(crate::analytics::routes::router())
        .merge(crate::search::routes::router())
        .merge(crate::tutor::routes::router())
        .merge(crate::quizzes::routes::router())
        .split_for_parts()
}

/// The application's router: the API, its OpenAPI document, the web UI, and the middleware.
pub fn router(app: Arc<App>) -> Router {
    let (api, mut doc) = api(&app);
    crate::http::openapi::finish(&mut doc);
    let routes = api
        .merge(crate::web::router())
        .fallback(crate::web::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed);
    crate::http::middleware::wrap(routes, app, &doc)
}

/// The running background of a server: the job runner, and the control socket the CLI talks to.
pub struct Background {
    runner: jobs::runner::RunnerHandle,
    #[cfg(unix)]
    control: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Background {
    /// Schedules the recurring jobs (weekly digest, backups), then starts the job runner and the control
    /// socket.
    pub async fn start(app: &Arc<App>) -> crate::Result<Background> {
        app.db.write(crate::notify::mail::schedule_digest).await?;
        let every = app.config.backup.every_hours;
        app.db
            .write(move |tx| crate::backup::schedule(tx, every))
            .await?;
        let runner = jobs::runner::start(app.clone()).await?;
        Ok(Background {
            runner,
            #[cfg(unix)]
            control: tokio::spawn(crate::control::serve(app.clone())),
        })
    }

    /// Stops the runner (jobs running get `shutdown_grace_secs` to finish) and the control socket.
    pub async fn stop(self, app: &App) {
        self.runner
            .stop(Duration::from_secs(app.config.server.shutdown_grace_secs))
            .await;
        #[cfg(unix)]
        {
            self.control.abort();
            let _ = std::fs::remove_file(app.data.join(crate::control::SOCKET));
        }
    }
}

/// Serves `app` on `listener`, and the pages of course packages on `packages`, until `shutdown` completes;
/// requests in flight then get the grace period to finish.
pub async fn serve(
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
    let main =
        crate::http::serve_router(listener, router(app.clone()), grace, until(stopped.clone()));
    let pages = crate::http::serve_router(
        packages,
        crate::courses::launch::router(app),
        grace,
        until(stopped),
    );
    let (a, b) = tokio::join!(main, pages);
    a.and(b)
}

/// [`serve`] with the package pages on the configured port of `listener`'s address (benchmarks, tools).
pub async fn serve_on(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let packages = crate::http::bind_packages(&app, listener.local_addr()?.ip()).await?;
    serve(listener, packages, app, shutdown).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_is_registered_once() {
        // Registering panics on a duplicate kind, name or unknown queue.
        let w = super::wiring();
        for kind in [
            "workflow.run",
            "events.deliver",
            "mail.send",
            "search.index_course",
        ] {
            assert!(w.jobs.job_entry(kind).is_some(), "{kind}");
        }
        assert!(!w.jobs.steps("course.publish").is_empty());
        assert!(!w.jobs.steps("package.import").is_empty());
    }
}
