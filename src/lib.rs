//! SmartCourse: an offline learning platform in one executable.
//!
//! A tour of the crate:
//!
//! - [`cli`]: the `smartcourse` command line; `serve` starts the server, the rest manage the data directory.
//! - [`config`]: one typed [`config::Config`], from defaults < TOML file < `SMARTCOURSE_*` env < flags.
//! - [`app`]: [`App`], everything opened: the locked [`datadir`], the SQLite [`db`], the redb [`store`], and
//!   the [`metrics`] registry. The server, the CLI and jobs all work through it.
//! - [`http`]: the axum router, middleware (request ids, logs, metrics, timeout) and the server loop with
//!   graceful shutdown. Routes are annotated with `utoipa`, so the OpenAPI document is generated.
//! - [`accounts`]: users, roles, passwords, tokens and the access rules (domain code shared by HTTP and CLI).
//! - [`courses`]: courses, modules, lessons and attachments; content-addressed bytes in redb.
//! - [`enrollment`], [`progress`], [`notify`]: joining courses within capacity, completing lessons, the inbox.
//! - [`events`]: the transactional outbox and its subscribers, delivered by jobs.
//! - [`jobs`]: durable jobs and workflows in SQLite, run by [`jobs::runner`].
//! - [`packages`]: course packages (the native format) in and out; [`control`]: the socket through which the
//!   CLI asks a running server to import or export.
//! - [`web`]: the server-rendered pages of the web UI, on the same domain functions.
//! - [`ml`]: the local models behind the `Embedder` and `Generator` traits (candle); [`search`]: lesson chunks,
//!   the BM25 and vector indexes and their fusion; [`tutor`]: retrieval, the prompt, streamed answers,
//!   conversations.
//! - [`error`]: the domain [`Error`] with stable codes; `http` renders it as JSON.
//!
//! Storage calls never run on the async runtime: [`db::Db`] and [`store::ContentStore`] move them to
//! blocking threads behind `read(|..| ..)` / `write(|..| ..)`.

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
