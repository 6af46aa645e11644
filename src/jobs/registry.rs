//! The one list of job and workflow kinds. A kind missing here cannot run; a kind listed twice is a bug
//! caught at start-up (and by a unit test).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use rusqlite::Transaction;

use super::workflow::{RunWorkflow, StepContext, Workflow};
use super::{Job, JobContext};
use crate::App;
use crate::error::Result;

type RunJob = fn(JobContext, String) -> BoxFuture<'static, anyhow::Result<()>>;
type RunStep =
    fn(Arc<App>, String, usize, Arc<StepContext>) -> BoxFuture<'static, anyhow::Result<()>>;
type OnFailed = fn(&Transaction, &str, &str) -> Result<()>;

/// A registered job kind.
pub struct JobEntry {
    /// Its queue.
    pub queue: &'static str,
    /// Runs a payload.
    pub run: RunJob,
}

/// A registered workflow kind.
pub struct WorkflowEntry {
    /// Step names, in order.
    pub steps: &'static [&'static str],
    /// Runs one step of a payload.
    pub run_step: RunStep,
    /// Called in the transaction that marks the workflow failed.
    pub on_failed: OnFailed,
}

/// Every job and workflow kind.
#[derive(Default)]
pub struct Registry {
    /// Jobs by kind.
    pub jobs: HashMap<&'static str, JobEntry>,
    /// Workflows by kind.
    pub workflows: HashMap<&'static str, WorkflowEntry>,
}

impl Registry {
    fn job<J: Job>(mut self) -> Self {
        let previous = self.jobs.insert(
            J::KIND,
            JobEntry {
                queue: J::QUEUE,
                run: run_job::<J>,
            },
        );
        assert!(previous.is_none(), "job kind {} registered twice", J::KIND);
        self
    }

    fn workflow<W: Workflow>(mut self) -> Self {
        let previous = self.workflows.insert(
            W::KIND,
            WorkflowEntry {
                steps: W::STEPS,
                run_step: run_step::<W>,
                on_failed: on_failed::<W>,
            },
        );
        assert!(
            previous.is_none(),
            "workflow kind {} registered twice",
            W::KIND
        );
        self
    }
}

fn run_job<J: Job>(ctx: JobContext, payload: String) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let job: J = serde_json::from_str(&payload).map_err(|e| {
            super::Permanent::new(format!("payload of {} does not parse: {e}", J::KIND))
        })?;
        job.run(ctx).await
    })
}

fn run_step<W: Workflow>(
    app: Arc<App>,
    payload: String,
    step: usize,
    ctx: Arc<StepContext>,
) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let workflow: W = serde_json::from_str(&payload).map_err(|e| {
            super::Permanent::new(format!("payload of {} does not parse: {e}", W::KIND))
        })?;
        workflow.run_step(&app, step, &ctx).await
    })
}

fn on_failed<W: Workflow>(tx: &Transaction, payload: &str, error: &str) -> Result<()> {
    match serde_json::from_str::<W>(payload) {
        Ok(w) => w.on_failed(tx, error),
        Err(_) => Ok(()),
    }
}

/// The registry: every kind SmartCourse runs.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    Registry::default()
        .job::<RunWorkflow>()
        .job::<super::diag::Noop>()
        .job::<crate::events::Deliver>()
        .job::<crate::notify::mail::SendMail>()
        .job::<crate::notify::mail::WeeklyDigest>()
        .job::<crate::backup::ScheduledBackup>()
        .job::<crate::search::IndexCourse>()
        .workflow::<super::diag::SelfTest>()
        .workflow::<crate::courses::publish::PublishCourse>()
        .workflow::<crate::packages::pipeline::ImportPackage>()
});

#[cfg(test)]
mod tests {
    #[test]
    fn kinds_are_unique_and_queues_exist() {
        let r = &*super::REGISTRY;
        for (kind, entry) in &r.jobs {
            assert!(
                super::super::runner::QUEUES
                    .iter()
                    .any(|(q, _)| *q == entry.queue),
                "{kind} uses unknown queue {}",
                entry.queue
            );
        }
        for (kind, w) in &r.workflows {
            assert!(!w.steps.is_empty(), "{kind} has no steps");
        }
    }
}
