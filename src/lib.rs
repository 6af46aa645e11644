//! SmartCourse: an offline learning platform in one executable.
//!
//! A tour of the crate, from the bottom up (ARCHITECTURE.md draws the layers; a test keeps them):
//!
//! - Foundations: [`error`] (the domain [`Error`] with stable codes), [`config`] (one typed
//!   [`config::Config`], from defaults < TOML file < `SMARTCOURSE_*` env < flags), [`datadir`] (the locked
//!   data directory), [`metrics`], [`ratelimit`], [`util`].
//! - Infrastructure, which names no domain: [`db`] (SQLite: one writer, a pool of readers, migrations),
//!   [`store`] (content-addressed bytes in redb), [`ml`] (the local models behind the `Embedder` and
//!   `Generator` traits, on candle), [`jobs`] (durable jobs and workflows in SQLite), [`events`] (the
//!   transactional outbox and the `Subscriber` trait), [`http`] (extractors, errors, middleware, Range/ETag
//!   files, the server loop).
//! - Domains, each depending only on those below it: [`accounts`] (users, roles, passwords, tokens, and the
//!   access rule in `accounts::policy`) < [`courses`] (courses, modules, lessons, attachments, package pages)
//!   < [`learning`] (enrolment and progress) < the services: [`analytics`], [`notify`] (the inbox and mail),
//!   [`search`] (chunks, BM25 and vector indexes, fusion), [`tutor`] (retrieval, the prompt, streamed answers),
//!   [`packages`] (course packages in and out), [`publishing`] (the publish workflow), [`quizzes`] (attempts,
//!   grading on the server, results), [`backup`].
//! - The application: [`server`] (the one place that wires every job, subscriber and route, and starts a
//!   server), [`app`] ([`App`], everything opened, shared as `Arc<App>`), [`cli`] (the `smartcourse` command;
//!   `serve` starts the server), [`web`] (the server-rendered pages), [`system`] (health, metrics, OpenAPI,
//!   the jobs API) and [`control`] (the socket through which the CLI asks a running server to work).
//!
//! Storage calls never run on the async runtime: [`db::Db`] and [`store::ContentStore`] move them to
//! blocking threads behind `read(|..| ..)` / `write(|..| ..)`, whose closures run SQL only.

pub mod accounts;
pub mod analytics;
pub mod app;
pub mod backup;
pub mod cli;
pub mod config;
pub mod control;
pub mod courses;
pub mod datadir;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod jobs;
pub mod learning;
pub mod metrics;
pub mod ml;
pub mod notify;
pub mod packages;
pub mod publishing;
pub mod quizzes;
pub mod ratelimit;
pub mod search;
pub mod server;
pub mod store;
pub mod system;
pub mod tutor;
pub mod util;
pub mod web;

pub use app::App;
pub use error::{Error, Result};

/// mimalloc keeps freed memory for reuse; glibc's malloc returns the models' large temporary tensors to the
/// kernel and pays page faults to get them back (embedding in batches of 32: 9.1 → 11.5 passages/s,
/// BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs blocking work (hashing, parsing) on the blocking thread pool.
pub async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
}
