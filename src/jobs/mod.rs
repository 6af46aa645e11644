//! Durable jobs and workflows in SQLite (what Celery, RabbitMQ and Temporal did).
//!
//! - A job is a typed payload with a unique, never-renamed [`Job::KIND`], enqueued with [`enqueue`] inside
//!   the caller's transaction, so it exists exactly when the change that caused it does. This module names no
//!   job: the application registers its kinds in a [`Registry`] at start-up (`server::wiring`).
//! - A failure is retried with backoff unless its error chain holds a [`Permanent`] (see [`classify`]): bad
//!   input or missing data fails the job at once.
//! - The [`runner`] claims jobs atomically per named queue with its own concurrency, runs them with a lease it
//!   renews by heartbeat, retries failures with capped exponential backoff and jitter, keeps every error, and
//!   treats a panic as a failed attempt. `running` is never trusted after a restart: such jobs are requeued.
//! - A [`workflow`] is an ordered list of idempotent steps whose completions are recorded in SQLite; after a
//!   crash it resumes at the first unfinished step.
//! - Waking is by notification: a commit that touches the `jobs` table wakes the workers (an SQLite update
//!   hook), with a slow poll as the fallback for delayed jobs and for jobs enqueued by another process.

pub mod diag;
pub mod registry;
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

pub use registry::Registry;
pub use store::{JobRow, STOPPED_WHILE_RUNNING, cancel, count, get, list, retry};

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
    pub id: i64,
    /// Job kind.
    pub kind: String,
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
    pub finished_at: Option<String>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An error not worth retrying (bad input, missing data): the job fails at once. Put it anywhere in the error's
/// chain (`Err(Permanent::new("..").into())`, `.context(..)` above it, or inside [`crate::Error::Internal`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(String);

impl Permanent {
    /// A permanent failure with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Permanent(reason.into())
    }
}

/// What the runner does with a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Try again after a backoff, while attempts are left.
    Retry,
    /// Mark the job failed now.
    Permanent,
}

/// Decides by the whole error chain: a [`Permanent`] anywhere in it, also behind the transparent
/// [`crate::Error::Internal`] (whose own chain hides the error it wraps), makes the failure permanent.
pub fn classify(error: &anyhow::Error) -> Failure {
    for cause in error.chain() {
        if cause.is::<Permanent>() {
            return Failure::Permanent;
        }
        if let Some(Error::Internal(inner)) = cause.downcast_ref::<Error>()
            && classify(inner) == Failure::Permanent
        {
            return Failure::Permanent;
        }
    }
    Failure::Retry
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn a_permanent_error_is_found_anywhere_in_the_chain() {
        let plain: anyhow::Error = Permanent::new("gone").into();
        assert_eq!(classify(&plain), Failure::Permanent);
        let with_context = Err::<(), _>(Permanent::new("gone"))
            .context("while sending")
            .unwrap_err();
        assert_eq!(classify(&with_context), Failure::Permanent);
        let wrapped: anyhow::Error = Error::Internal(Permanent::new("gone").into()).into();
        assert_eq!(classify(&wrapped), Failure::Permanent);
        let wrapped_twice = Err::<(), _>(wrapped).context("outer").unwrap_err();
        assert_eq!(classify(&wrapped_twice), Failure::Permanent);
    }

    #[test]
    fn other_errors_are_retried() {
        assert_eq!(classify(&anyhow::anyhow!("timeout")), Failure::Retry);
        let internal: anyhow::Error = Error::Internal(anyhow::anyhow!("disk busy")).into();
        assert_eq!(classify(&internal), Failure::Retry);
        let domain: anyhow::Error = Error::NotFound.into();
        assert_eq!(classify(&domain), Failure::Retry);
    }
}
