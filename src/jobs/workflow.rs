//! Workflows: ordered, idempotent steps whose completions are recorded in SQLite.
//!
//! A workflow row holds the kind, the payload and `next_step`. One [`RunWorkflow`] job drives it: it runs the
//! first unfinished step, then records the step finished (a `workflow_steps` row, `next_step` moved on) in
//! one transaction. A step that changes SQLite can make that change in the same transaction through
//! [`StepContext::finish`], so the change and the record of it commit together. After a crash the job is
//! requeued and resumes at `next_step`: a recorded step never runs again.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::registry::Registry;
use super::{EnqueueOptions, Job, JobContext, Permanent, enqueue_with};
use crate::App;
use crate::error::{Error, Result};
use crate::util::now_rfc3339;

/// A kind of workflow.
pub trait Workflow: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stored with every workflow: never rename it.
    const KIND: &'static str;
    /// Step names as people read them ("Generating embeddings").
    const STEPS: &'static [&'static str];

    /// Runs step `step` (0-based). Must be idempotent: it may run again if the process dies before the
    /// step is recorded.
    fn run_step(
        &self,
        app: &Arc<App>,
        step: usize,
        ctx: &StepContext,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Undo or mark what must be when the workflow fails for good (runs in that transaction).
    fn on_failed(&self, _tx: &Transaction, _error: &str) -> Result<()> {
        Ok(())
    }
}

/// What a running step knows, and how it records its end together with its own SQLite changes.
pub struct StepContext {
    app: Arc<App>,
    pub workflow_id: i64,
    /// The step, from 0.
    pub step: usize,
    name: &'static str,
    finished: AtomicBool,
}

impl StepContext {
    /// Runs `f` and records this step finished, in one transaction.
    pub async fn finish<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&Transaction) -> Result<()> + Send + 'static,
    {
        let (id, step, name) = (self.workflow_id, self.step, self.name);
        self.app
            .db
            .write(move |tx| {
                f(tx)?;
                record_step(tx, id, step, name)
            })
            .await?;
        self.finished.store(true, Ordering::Release);
        Ok(())
    }
}

fn record_step(tx: &Transaction, id: i64, step: usize, name: &str) -> Result<()> {
    let moved = tx.execute(
        "UPDATE workflows SET next_step = ?2 + 1, updated_at = ?3 WHERE id = ?1 AND next_step = ?2",
        params![id, step as i64, now_rfc3339()],
    )?;
    if moved == 1 {
        tx.execute(
            "INSERT INTO workflow_steps (workflow_id, step, name, finished_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, step as i64, name, now_rfc3339()],
        )?;
    }
    Ok(())
}

/// Creates a workflow and the job that drives it, in the caller's transaction. Returns the workflow id.
pub fn start<W: Workflow>(
    tx: &Transaction,
    workflow: &W,
    owner_id: Option<i64>,
    course_id: Option<i64>,
) -> Result<i64> {
    let payload = serde_json::to_string(workflow)
        .map_err(|e| Error::Internal(anyhow::anyhow!("workflow payload of {}: {e}", W::KIND)))?;
    let now = now_rfc3339();
    tx.execute(
        "INSERT INTO workflows (kind, payload, step_count, owner_id, course_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![W::KIND, payload, W::STEPS.len() as i64, owner_id, course_id, now],
    )?;
    let id = tx.last_insert_rowid();
    enqueue_with(
        tx,
        &RunWorkflow { workflow_id: id },
        EnqueueOptions {
            dedup_key: Some(id.to_string()),
            workflow_id: Some(id),
            ..Default::default()
        },
    )?;
    Ok(id)
}

/// The job that drives one workflow through its steps.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunWorkflow {
    pub workflow_id: i64,
}

impl Job for RunWorkflow {
    const KIND: &'static str = "workflow.run";
    const QUEUE: &'static str = "content";
    const MAX_ATTEMPTS: u32 = 5;

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let id = self.workflow_id;
        loop {
            let row = ctx
                .app
                .db
                .write(move |tx| {
                    let row: Option<(String, String, String, i64, i64)> = tx
                        .query_row(
                            "SELECT kind, payload, state, next_step, step_count FROM workflows WHERE id = ?1",
                            [id],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                        )
                        .optional()?;
                    if let Some((_, _, state, next, count)) = &row {
                        let new_state = if next >= count { "completed" } else { "running" };
                        if state != "cancelled" && state != new_state {
                            tx.execute(
                                "UPDATE workflows SET state = ?2, updated_at = ?3 WHERE id = ?1",
                                params![id, new_state, now_rfc3339()],
                            )?;
                        }
                    }
                    Ok(row)
                })
                .await?;
            let Some((kind, payload, state, next, count)) = row else {
                return Err(Permanent::new(format!("workflow {id} does not exist")).into());
            };
            if state == "cancelled" || next >= count || ctx.is_cancelled() {
                return Ok(());
            }
            let entry = ctx
                .app
                .jobs
                .workflow_entry(kind.as_str())
                .ok_or_else(|| Permanent::new(format!("unknown workflow kind {kind}")))?;
            let step = next as usize;
            let name = entry.steps.get(step).copied().unwrap_or("step");
            let step_ctx = Arc::new(StepContext {
                app: ctx.app.clone(),
                workflow_id: id,
                step,
                name,
                finished: AtomicBool::new(false),
            });
            tracing::info!(workflow.id = id, workflow.kind = %kind, step, step.name = name, "workflow step");
            (entry.run_step)(ctx.app.clone(), payload, step, step_ctx.clone()).await?;
            if !step_ctx.finished.load(Ordering::Acquire) {
                ctx.app
                    .db
                    .write(move |tx| record_step(tx, id, step, name))
                    .await?;
            }
        }
    }
}

/// Marks a workflow failed for good, in the transaction that fails its job.
pub fn fail(tx: &Transaction, registry: &Registry, id: i64, error: &str) -> Result<()> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT kind, payload FROM workflows WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    tx.execute(
        "UPDATE workflows SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1 AND state != 'cancelled'",
        params![id, error, now_rfc3339()],
    )?;
    if let Some((kind, payload)) = row
        && let Some(entry) = registry.workflow_entry(kind.as_str())
    {
        (entry.on_failed)(tx, &payload, error)?;
    }
    Ok(())
}

/// A workflow's progress, as `GET /api/workflows/{id}/status` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowStatus {
    pub id: i64,
    /// Workflow kind.
    pub kind: String,
    /// QUEUED, RUNNING, COMPLETED, FAILED or CANCELLED.
    pub status: String,
    /// "Step 2/5: Publishing", or "Completed".
    pub current_step: String,
    /// 0 to 100.
    pub progress: i64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The course it works on, once known (an import's course appears when its lessons are being stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course_id: Option<i64>,
}

/// Whose workflows a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Every workflow (admins, the system).
    All,
    /// The workflows this user started.
    Owner(i64),
}

/// The status of a workflow `viewer` may see; 404 otherwise. Step names come from `registry`.
pub fn status(
    conn: &Connection,
    registry: &Registry,
    viewer: Viewer,
    id: i64,
) -> Result<WorkflowStatus> {
    /// kind, state, next step, step count, error, owner, course
    type Row = (
        String,
        String,
        i64,
        i64,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT kind, state, next_step, step_count, error, owner_id, course_id FROM workflows WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .optional()?;
    let (kind, state, next, count, error, owner, course_id) = row.ok_or(Error::NotFound)?;
    if let Viewer::Owner(user) = viewer
        && owner != Some(user)
    {
        return Err(Error::NotFound);
    }
    let steps = registry.steps(&kind);
    let current_step = if state == "completed" {
        "Completed".to_owned()
    } else {
        let i = (next as usize).min(steps.len().saturating_sub(1));
        format!(
            "Step {}/{}: {}",
            i + 1,
            count,
            steps.get(i).copied().unwrap_or("?")
        )
    };
    Ok(WorkflowStatus {
        id,
        kind,
        status: state.to_uppercase(),
        current_step,
        progress: if state == "completed" {
            100
        } else {
            next * 100 / count.max(1)
        },
        error,
        course_id,
    })
}

/// Cancels a queued or running workflow (its owner or an admin). The step running now finishes; no later
/// step starts.
pub fn cancel(
    tx: &Transaction,
    registry: &Registry,
    viewer: Viewer,
    id: i64,
) -> Result<WorkflowStatus> {
    let current = status(tx, registry, viewer, id)?;
    if !matches!(current.status.as_str(), "QUEUED" | "RUNNING") {
        return Err(Error::conflict(
            "not_cancellable",
            "only a queued or running workflow can be cancelled",
        ));
    }
    tx.execute(
        "UPDATE workflows SET state = 'cancelled', updated_at = ?2 WHERE id = ?1",
        params![id, now_rfc3339()],
    )?;
    tx.execute(
        "UPDATE jobs SET state = 'cancelled', lease_until = NULL, finished_at = ?2, finished_ms = ?3
         WHERE workflow_id = ?1 AND state IN ('queued', 'running')",
        params![id, now_rfc3339(), super::now_ms()],
    )?;
    status(tx, registry, viewer, id)
}
