//! Which job and workflow kinds this process runs.
//!
//! The jobs module names no job: the application builds one [`Registry`] at start-up (`server::wiring`),
//! chaining [`Registry::job`] and [`Registry::workflow`] once per kind, and the runner and the workflow driver
//! look kinds up in it. Tests build their own, with jobs of their own beside the application's. A kind
//! registered twice is a bug and panics at start-up.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use rusqlite::Transaction;

use super::workflow::{RunWorkflow, StepContext, Workflow};
use super::{Job, JobContext, Permanent};
use crate::App;
use crate::error::Result;

type RunJob = fn(JobContext, String) -> BoxFuture<'static, anyhow::Result<()>>;
type RunStep =
    fn(Arc<App>, String, usize, Arc<StepContext>) -> BoxFuture<'static, anyhow::Result<()>>;
type OnFailed = fn(&Transaction, &str, &str) -> Result<()>;

/// A registered job kind: its queue, and how to run a stored payload.
pub struct JobEntry {
    pub queue: &'static str,
    pub run: RunJob,
}

/// A registered workflow kind.
pub struct WorkflowEntry {
    /// Step names as people read them, in order.
    pub steps: &'static [&'static str],
    pub run_step: RunStep,
    /// Called in the transaction that marks the workflow failed.
    pub on_failed: OnFailed,
}

/// Every job and workflow kind a process runs, by their stored kind names.
pub struct Registry {
    jobs: HashMap<&'static str, JobEntry>,
    workflows: HashMap<&'static str, WorkflowEntry>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// A registry with the job that drives workflows, and nothing else.
    pub fn new() -> Registry {
        Registry {
            jobs: HashMap::new(),
            workflows: HashMap::new(),
        }
        .job::<RunWorkflow>()
    }

    /// Registers job kind `J`. Panics if its kind is registered already or its queue does not exist.
    #[must_use]
    pub fn job<J: Job>(mut self) -> Self {
        assert!(
            super::runner::QUEUES.iter().any(|(q, _)| *q == J::QUEUE),
            "job kind {} uses the unknown queue {}",
            J::KIND,
            J::QUEUE
        );
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

    /// Registers workflow kind `W`. Panics if its kind is registered already or it has no steps.
    #[must_use]
    pub fn workflow<W: Workflow>(mut self) -> Self {
        assert!(
            !W::STEPS.is_empty(),
            "workflow kind {} has no steps",
            W::KIND
        );
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

    /// The job kind stored as `kind`, if this process runs it.
    pub fn job_entry(&self, kind: &str) -> Option<&JobEntry> {
        self.jobs.get(kind)
    }

    /// The workflow kind stored as `kind`, if this process runs it.
    pub fn workflow_entry(&self, kind: &str) -> Option<&WorkflowEntry> {
        self.workflows.get(kind)
    }

    /// The step names of workflow kind `kind` (none for an unknown kind).
    pub fn steps(&self, kind: &str) -> &'static [&'static str] {
        self.workflows.get(kind).map_or(&[], |w| w.steps)
    }
}

fn run_job<J: Job>(ctx: JobContext, payload: String) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let job: J = serde_json::from_str(&payload)
            .map_err(|e| Permanent::new(format!("payload of {} does not parse: {e}", J::KIND)))?;
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
        let workflow: W = serde_json::from_str(&payload)
            .map_err(|e| Permanent::new(format!("payload of {} does not parse: {e}", W::KIND)))?;
        workflow.run_step(&app, step, &ctx).await
    })
}

fn on_failed<W: Workflow>(tx: &Transaction, payload: &str, error: &str) -> Result<()> {
    match serde_json::from_str::<W>(payload) {
        Ok(w) => w.on_failed(tx, error),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::diag::Noop;

    #[test]
    fn a_registry_runs_workflows_and_what_it_was_given() {
        let r = Registry::new().job::<Noop>();
        assert!(r.job_entry("workflow.run").is_some());
        assert_eq!(r.job_entry("diag.noop").map(|e| e.queue), Some("default"));
        assert!(r.job_entry("search.index").is_none());
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_kind_registered_twice_is_refused() {
        let _ = Registry::new().job::<Noop>().job::<Noop>();
    }
}
