//! SQL of jobs.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{EnqueueOptions, JobView, now_ms};
use crate::error::{Error, Result};
use crate::util::now_rfc3339;

pub fn insert(
    tx: &Transaction,
    kind: &str,
    queue: &str,
    payload: &str,
    max_attempts: u32,
    o: &EnqueueOptions,
) -> Result<i64> {
    if let Some(key) = &o.dedup_key {
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM jobs WHERE kind = ?1 AND dedup_key = ?2 AND state IN ('queued', 'running')",
                params![kind, key],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            // Running already: it may have read what this enqueue is about before it changed, so it runs once
            // more when it finishes (however many enqueues come meanwhile).
            tx.execute(
                "UPDATE jobs SET rerun = 1 WHERE id = ?1 AND state = 'running'",
                [id],
            )?;
            return Ok(id);
        }
    }
    tx.execute(
        "INSERT INTO jobs (kind, queue, payload, max_attempts, run_at, dedup_key, workflow_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![kind, queue, payload, max_attempts, now_ms() + o.delay_ms.max(0), o.dedup_key, o.workflow_id, now_rfc3339()],
    )?;
    Ok(tx.last_insert_rowid())
}

/// A claimed job.
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
}

/// Takes the next due job of `queue`, marking it running with a lease.
pub fn claim(tx: &Transaction, queue: &str, lease_ms: i64) -> Result<Option<Claimed>> {
    let now = now_ms();
    Ok(tx
        .query_row(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = ?2, started_at = ?3
             WHERE id = (SELECT id FROM jobs WHERE queue = ?1 AND state = 'queued' AND run_at <= ?4
                         ORDER BY run_at, id LIMIT 1)
             RETURNING id, kind, payload, attempts, max_attempts",
            params![queue, now + lease_ms, now_rfc3339(), now],
            |r| {
                Ok(Claimed {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    payload: r.get(2)?,
                    attempts: r.get(3)?,
                    max_attempts: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// When the next queued job of `queue` is due, if any.
pub fn next_due(conn: &Connection, queue: &str) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT min(run_at) FROM jobs WHERE queue = ?1 AND state = 'queued'",
        [queue],
        |r| r.get(0),
    )?)
}

/// Extends a running job's lease; false if it is no longer running (cancelled, or taken back).
pub fn heartbeat(tx: &Transaction, id: i64, lease_ms: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE jobs SET lease_until = ?2 WHERE id = ?1 AND state = 'running'",
        params![id, now_ms() + lease_ms],
    )? == 1)
}

/// Records a job done, or, when it was asked again while it ran (see [`insert`]), puts it back in the queue
/// with fresh attempts.
pub fn mark_done(tx: &Transaction, id: i64) -> Result<()> {
    tx.execute(
        "UPDATE jobs SET
           state = CASE WHEN rerun = 1 THEN 'queued' ELSE 'done' END,
           attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
           run_at = CASE WHEN rerun = 1 THEN ?3 ELSE run_at END,
           finished_at = CASE WHEN rerun = 1 THEN NULL ELSE ?2 END,
           finished_ms = CASE WHEN rerun = 1 THEN NULL ELSE ?3 END,
           lease_until = NULL, rerun = 0
         WHERE id = ?1 AND state = 'running'",
        params![id, now_rfc3339(), now_ms()],
    )?;
    Ok(())
}

/// Records a failed attempt: back to the queue after `retry_in_ms`, or failed for good. Returns whether it
/// failed for good.
pub fn mark_failed(
    tx: &Transaction,
    id: i64,
    attempt: i64,
    error: &str,
    retry_in_ms: Option<i64>,
) -> Result<bool> {
    tx.execute(
        "INSERT OR REPLACE INTO job_errors (job_id, attempt, error, at) VALUES (?1, ?2, ?3, ?4)",
        params![id, attempt, error, now_rfc3339()],
    )?;
    match retry_in_ms {
        Some(delay) => {
            tx.execute(
                "UPDATE jobs SET state = 'queued', lease_until = NULL, last_error = ?2, run_at = ?3
                 WHERE id = ?1 AND state = 'running'",
                params![id, error, now_ms() + delay],
            )?;
            Ok(false)
        }
        None => {
            tx.execute(
                "UPDATE jobs SET state = 'failed', lease_until = NULL, last_error = ?2, finished_at = ?3, finished_ms = ?4
                 WHERE id = ?1 AND state = 'running'",
                params![id, error, now_rfc3339(), now_ms()],
            )?;
            Ok(true)
        }
    }
}

/// Puts every `running` job back in the queue, as a clean stop does with the jobs it had to interrupt.
/// Returns how many.
pub fn requeue_all_running(tx: &Transaction) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE jobs SET state = 'queued', lease_until = NULL, run_at = ?1 WHERE state = 'running'",
        [now_ms()],
    )?)
}

/// What a job that was running when the process died is told, in its errors.
pub const STOPPED_WHILE_RUNNING: &str = "the server stopped while this job was running";

/// How many times a job may be running when the process dies before it is failed for good: a job that takes
/// the server down (an import running it out of memory, say) must not do it again after every restart.
pub const CRASHES_ALLOWED: i64 = 2;

/// The same for one step of a workflow: one more, because a long workflow on a laptop that is switched off
/// and on (or killed by someone impatient) can be caught in the same step twice without being the cause.
pub const STEP_CRASHES_ALLOWED: i64 = 3;

/// At start-up, the jobs still `running` are those the last process was running when it died (a clean stop
/// puts its jobs back in the queue). Each gets an error saying so; one that has now been running at
/// [`CRASHES_ALLOWED`] deaths is failed for good (with its workflow), the others go back to the queue. A
/// workflow's job counts its deaths per step ([`STEP_CRASHES_ALLOWED`]): a workflow that moved on between two
/// deaths (a server killed twice during a long import) is not what keeps killing the server. Returns
/// (requeued, failed).
pub fn recover_after_crash(tx: &Transaction, registry: &super::Registry) -> Result<(usize, usize)> {
    let running: Vec<(i64, i64, Option<i64>, Option<i64>)> = tx
        .prepare(
            "SELECT j.id, j.attempts, j.workflow_id, w.next_step FROM jobs j
             LEFT JOIN workflows w ON w.id = j.workflow_id WHERE j.state = 'running'",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (mut requeued, mut failed) = (0, 0);
    for (id, attempt, workflow, step) in running {
        let death = match step {
            Some(step) => format!("{STOPPED_WHILE_RUNNING} (step {})", step + 1),
            None => STOPPED_WHILE_RUNNING.to_owned(),
        };
        // This death, and those recorded at earlier attempts.
        let deaths: i64 = 1 + tx.query_row(
            "SELECT count(*) FROM job_errors WHERE job_id = ?1 AND error = ?2 AND attempt != ?3",
            params![id, death, attempt],
            |r| r.get::<_, i64>(0),
        )?;
        let allowed = if step.is_some() {
            STEP_CRASHES_ALLOWED
        } else {
            CRASHES_ALLOWED
        };
        if deaths >= allowed {
            let error = format!(
                "{STOPPED_WHILE_RUNNING}, {deaths} times: it is not run again (it may be what stops the server)"
            );
            mark_failed(tx, id, attempt, &error, None)?;
            if let Some(wf) = workflow {
                super::workflow::fail(tx, registry, wf, &error)?;
            }
            failed += 1;
        } else {
            mark_failed(tx, id, attempt, &death, Some(0))?;
            requeued += 1;
        }
    }
    Ok((requeued, failed))
}

/// Takes back running jobs whose lease ran out (their worker stopped or hung).
pub fn requeue_expired(tx: &Transaction) -> Result<usize> {
    let now = now_ms();
    Ok(tx.execute(
        "UPDATE jobs SET state = 'queued', lease_until = NULL, run_at = ?1
         WHERE state = 'running' AND lease_until < ?1",
        [now],
    )?)
}

/// Deletes finished jobs older than `keep_ms`.
pub fn prune(tx: &Transaction, keep_ms: i64) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND finished_ms < ?1 AND workflow_id IS NULL",
        [now_ms() - keep_ms],
    )?)
}

/// Queued jobs per queue, for the queue-depth gauge.
pub fn depths(conn: &Connection) -> Result<Vec<(String, i64)>> {
    Ok(conn
        .prepare("SELECT queue, count(*) FROM jobs WHERE state = 'queued' GROUP BY queue")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

pub fn state_of(conn: &Connection, id: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))
        .optional()?)
}

/// Stored job data, for the CLI and API.
pub type JobRow = JobView;

fn view(conn: &Connection, r: &rusqlite::Row<'_>) -> rusqlite::Result<JobView> {
    let id: i64 = r.get(0)?;
    let errors = conn
        .prepare_cached("SELECT error FROM job_errors WHERE job_id = ?1 ORDER BY attempt")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(JobView {
        id,
        kind: r.get(1)?,
        queue: r.get(2)?,
        state: r.get(3)?,
        attempts: r.get(4)?,
        max_attempts: r.get(5)?,
        last_error: r.get(6)?,
        errors,
        created_at: r.get(7)?,
        finished_at: r.get(8)?,
    })
}

const COLUMNS: &str =
    "id, kind, queue, state, attempts, max_attempts, last_error, created_at, finished_at";

/// Jobs, newest first, optionally in one state.
pub fn list(conn: &Connection, state: Option<&str>, limit: i64) -> Result<Vec<JobView>> {
    if let Some(s) = state
        && !super::STATES.contains(&s)
    {
        return Err(Error::invalid(
            "state",
            "state must be queued, running, done, failed or cancelled",
        ));
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![state, limit], |r| view(conn, r))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One job.
pub fn get(conn: &Connection, id: i64) -> Result<JobView> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
        [id],
        |r| view(conn, r),
    )
    .optional()?
    .ok_or(Error::NotFound)
}

/// Puts a failed or cancelled job back in the queue with fresh attempts.
pub fn retry(tx: &Transaction, id: i64) -> Result<()> {
    let state = state_of(tx, id)?.ok_or(Error::NotFound)?;
    if state != "failed" && state != "cancelled" {
        return Err(Error::conflict(
            "not_retryable",
            format!("job {id} is {state}; only failed or cancelled jobs can be retried"),
        ));
    }
    tx.execute(
        // Attempts keep counting (so each attempt's error stays on record); the job gets a fresh allowance.
        "UPDATE jobs SET state = 'queued', max_attempts = attempts + max_attempts, run_at = ?2,
            finished_at = NULL, finished_ms = NULL WHERE id = ?1",
        params![id, now_ms()],
    )?;
    tx.execute(
        "UPDATE workflows SET state = 'queued', error = NULL, updated_at = ?2
         WHERE id = (SELECT workflow_id FROM jobs WHERE id = ?1) AND state IN ('failed', 'cancelled')",
        params![id, now_rfc3339()],
    )?;
    Ok(())
}

/// Cancels a queued or running job (a running one is told, and its result is ignored).
pub fn cancel(tx: &Transaction, id: i64) -> Result<()> {
    let state = state_of(tx, id)?.ok_or(Error::NotFound)?;
    if state != "queued" && state != "running" {
        return Err(Error::conflict(
            "not_cancellable",
            format!("job {id} is {state}; only queued or running jobs can be cancelled"),
        ));
    }
    tx.execute(
        "UPDATE jobs SET state = 'cancelled', lease_until = NULL, finished_at = ?2, finished_ms = ?3 WHERE id = ?1",
        params![id, now_rfc3339(), now_ms()],
    )?;
    Ok(())
}

/// How many jobs are in `state` (one of [`super::STATES`]).
pub fn count(conn: &Connection, state: &str) -> Result<i64> {
    Ok(
        conn.query_row("SELECT count(*) FROM jobs WHERE state = ?1", [state], |r| {
            r.get(0)
        })?,
    )
}
