//! Durable jobs and workflows in SQLite (what Celery, RabbitMQ and Temporal did).
//!
//! - A job is a typed payload with a unique, never-renamed [`Job::KIND`], registered in one list
//!   ([`registry::registry`]), enqueued with [`enqueue`] inside the caller's transaction, so it exists exactly
//!   when the change that caused it does.
//! - The [`runner`] claims jobs atomically per named queue with its own concurrency, runs them with a lease it
//!   renews by heartbeat, retries failures with capped exponential backoff and jitter, keeps every error, and
//!   treats a panic as a failed attempt. `running` is never trusted after a restart: such jobs are requeued.
//! - A [`workflow`] is an ordered list of idempotent steps whose completions are recorded in SQLite; after a
//!   crash it resumes at the first unfinished step.
//! - Waking is by notification: a commit that touches the `jobs` table wakes the workers (an SQLite update
//!   hook), with a slow poll as the fallback for delayed jobs and for jobs enqueued by another process.

pub mod diag;
pub mod registry;
pub mod routes;
pub mod runner;
mod store;
pub mod workflow;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Transaction;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::App;
use crate::error::{Error, Result};

pub use store::{JobRow, cancel, get, list, retry};

/// A kind of background work.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stored with every job: never rename it, or queued jobs of the old name are orphaned.
    const KIND: &'static str;
    /// The queue it runs on (see [`runner::QUEUES`]).
    const QUEUE: &'static str = "default";
    /// Attempts before it is marked failed.
    const MAX_ATTEMPTS: u32 = 5;

    /// Does the work. Must be idempotent: a job may run again after a crash or a lost lease.
    fn run(self, ctx: JobContext) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What a running job knows about itself.
#[derive(Clone)]
pub struct JobContext {
    /// The application.
    pub app: Arc<App>,
    /// The job's id.
    pub job_id: i64,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    cancelled: Arc<AtomicBool>,
}

impl JobContext {
    /// Whether the job was cancelled while running; long jobs should check and stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Options for [`enqueue_with`].
#[derive(Debug, Default, Clone)]
pub struct EnqueueOptions {
    /// At most one queued-or-running job of this kind has this key; enqueueing another returns the existing
    /// job's id.
    pub dedup_key: Option<String>,
    /// Run no sooner than this many milliseconds from now.
    pub delay_ms: i64,
    /// The workflow this job drives.
    pub workflow_id: Option<i64>,
}

/// Enqueues `job` in the caller's transaction; returns its id.
pub fn enqueue<J: Job>(tx: &Transaction, job: &J) -> Result<i64> {
    enqueue_with(tx, job, EnqueueOptions::default())
}

/// Enqueues `job` with options; returns its id (the existing job's id when de-duplicated).
pub fn enqueue_with<J: Job>(tx: &Transaction, job: &J, options: EnqueueOptions) -> Result<i64> {
    let payload = serde_json::to_string(job)
        .map_err(|e| Error::Internal(anyhow::anyhow!("job payload of {}: {e}", J::KIND)))?;
    store::insert(tx, J::KIND, J::QUEUE, &payload, J::MAX_ATTEMPTS, &options)
}

/// Job states, as stored and shown.
pub const STATES: &[&str] = &["queued", "running", "done", "failed", "cancelled"];

/// A job as shown by the CLI and the admin API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    /// Id.
    pub id: i64,
    /// Job kind.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// queued, running, done, failed or cancelled.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Every failed attempt's error, oldest first.
    pub errors: Vec<String>,
    /// Enqueued.
    pub created_at: String,
    /// Finished.
    pub finished_at: Option<String>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An error not worth retrying (bad input, missing data): the job fails at once.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(String);

impl Permanent {
    /// A permanent failure with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Permanent(reason.into())
    }
}
