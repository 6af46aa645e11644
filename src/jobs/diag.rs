//! Diagnostic work for `smartcourse jobs selftest` and the queue benchmark: a job that does nothing (or
//! leaves a mark), and a workflow whose steps wait and leave exactly one mark each.

use std::sync::Arc;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::workflow::{StepContext, Workflow};
use super::{Job, JobContext};
use crate::App;
use crate::util::now_rfc3339;

/// Does nothing, or leaves a mark in `diag_marks` (at least once: a job may run again after a crash).
#[derive(Debug, Serialize, Deserialize)]
pub struct Noop {
    /// A number to tell the jobs apart.
    pub n: i64,
    /// Leave a mark.
    #[serde(default)]
    pub mark: bool,
    /// Fail the first this many attempts (to exercise retries).
    #[serde(default)]
    pub fail_first: u32,
    /// Panic on the first attempt (to show a panic counts as a failed attempt).
    #[serde(default)]
    pub panic_first: bool,
    /// Work this long before finishing (to have a job running while something else happens).
    #[serde(default)]
    pub sleep_ms: u64,
}

impl Job for Noop {
    const KIND: &'static str = "diag.noop";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        if self.panic_first && ctx.attempt == 1 {
            panic!("diag.noop {} panics on purpose", self.n);
        }
        if ctx.attempt <= self.fail_first {
            anyhow::bail!(
                "diag.noop {} fails attempt {} on purpose",
                self.n,
                ctx.attempt
            );
        }
        if self.sleep_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(self.sleep_ms)).await;
        }
        if self.mark {
            let n = self.n;
            ctx.app
                .db
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO diag_marks (kind, ref, at) VALUES ('job', ?1, ?2)",
                        params![n, now_rfc3339()],
                    )?;
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }
}

/// Steps that each wait `step_ms` and then leave one mark, recorded with the step in one transaction.
#[derive(Debug, Serialize, Deserialize)]
pub struct SelfTest {
    /// How long each step works.
    pub step_ms: u64,
}

impl Workflow for SelfTest {
    const KIND: &'static str = "diag.selftest";
    const STEPS: &'static [&'static str] = &[
        "Warming up",
        "Checking the queue",
        "Checking the database",
        "Checking the content store",
        "Checking timers",
        "Finishing",
    ];

    async fn run_step(
        &self,
        _app: &Arc<App>,
        step: usize,
        ctx: &StepContext,
    ) -> anyhow::Result<()> {
        tokio::time::sleep(std::time::Duration::from_millis(self.step_ms)).await;
        let id = ctx.workflow_id;
        ctx.finish(move |tx| {
            tx.execute(
                "INSERT INTO diag_marks (kind, ref, step, at) VALUES ('step', ?1, ?2, ?3)",
                params![id, step as i64, now_rfc3339()],
            )?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
