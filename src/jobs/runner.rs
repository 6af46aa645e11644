//! The job runner: workers per queue, leases with heartbeats, retries, and upkeep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Failure, JobContext, classify, store, workflow};
use crate::App;
use crate::metrics::{JobLabels, JobOutcomeLabels, QueueLabels};

/// Queues and how many jobs each runs at once by default: `default` for small work, `content` for imports
/// and publishing, `ml` for model work (one at a time: the CPU is the limit).
pub const QUEUES: &[(&str, usize)] = &[("default", 2), ("content", 1), ("ml", 1)];

/// A running job runner; dropping the stop sender or calling [`RunnerHandle::stop`] ends it.
pub struct RunnerHandle {
    app: Arc<App>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunnerHandle {
    /// Stops claiming jobs and waits for the workers (each finishes the job it is running, up to `grace`;
    /// jobs still running then are taken back at the next start).
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                "jobs still running at shutdown; they will be retried at the next start"
            );
            self.tasks.abort_all();
            // Back in the queue now: what is still `running` at the next start is what a dying process left.
            if let Err(e) = self.app.db.write(store::requeue_all_running).await {
                tracing::error!(error = %e, "could not put the interrupted jobs back in the queue");
            }
        }
    }
}

/// Recovers what a previous process left `running` when it died (requeued, or failed after repeated deaths:
/// [`store::recover_after_crash`]), then starts the workers and the upkeep task.
pub async fn start(app: Arc<App>) -> crate::Result<RunnerHandle> {
    let registry = app.jobs.clone();
    let (requeued, failed) = app
        .db
        .write(move |tx| store::recover_after_crash(tx, &registry))
        .await?;
    if requeued > 0 {
        tracing::warn!(
            jobs = requeued,
            "requeued jobs the previous process was running when it stopped"
        );
    }
    if failed > 0 {
        tracing::error!(
            jobs = failed,
            "failed jobs that were running each time the server stopped: they are not run again"
        );
    }
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (queue, default_workers) in QUEUES {
        let workers = if *queue == "default" {
            app.config.jobs.default_workers as usize
        } else {
            *default_workers
        };
        for n in 0..workers.max(1) {
            let (app, stop_rx) = (app.clone(), stop_rx.clone());
            tasks.spawn(async move { worker(app, queue, n, stop_rx).await });
        }
    }
    tasks.spawn(upkeep(app.clone(), stop_rx));
    Ok(RunnerHandle { app, stop, tasks })
}

async fn worker(app: Arc<App>, queue: &'static str, n: usize, mut stop: watch::Receiver<bool>) {
    let mut wake = app.db.job_wakeups();
    let lease_ms = app.config.jobs.lease_secs as i64 * 1000;
    let poll = Duration::from_millis(app.config.jobs.poll_ms);
    tracing::debug!(queue, worker = n, "job worker started");
    // A job that succeeded is recorded done in the same transaction that claims the next one: one commit
    // (and, with `synchronous = full`, one fsync) fewer per job.
    let mut done: Option<i64> = None;
    while !*stop.borrow() {
        let finished = done.take();
        let claimed = app
            .db
            .write(move |tx| {
                if let Some(id) = finished {
                    store::mark_done(tx, id)?;
                }
                store::claim(tx, queue, lease_ms)
            })
            .await;
        match claimed {
            Ok(Some(job)) => done = run_one(&app, queue, job).await,
            Ok(None) => {
                let next = app
                    .db
                    .read(move |c| store::next_due(c, queue))
                    .await
                    .ok()
                    .flatten();
                let wait = next
                    .map(|at| Duration::from_millis((at - super::now_ms()).max(0) as u64))
                    .map_or(poll, |d| d.min(poll));
                tokio::select! {
                    _ = wake.changed() => {}
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                // A finished job not recorded here is taken back when its lease runs out and runs
                // again; jobs are idempotent.
                tracing::error!(queue, error = %e, "claiming a job failed");
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
    if let Some(id) = done
        && let Err(e) = app.db.write(move |tx| store::mark_done(tx, id)).await
    {
        tracing::error!(job.id = id, error = %e, "recording a finished job failed");
    }
}

/// Runs a claimed job and records a failure. Returns the id of a job that succeeded, which the caller
/// records done together with its next claim.
async fn run_one(app: &Arc<App>, queue: &'static str, job: store::Claimed) -> Option<i64> {
    use tracing::Instrument;
    let span =
        tracing::info_span!("job", job.id = job.id, job.kind = %job.kind, attempt = job.attempts);
    run_claimed(app, queue, job).instrument(span).await
}

async fn run_claimed(app: &Arc<App>, queue: &'static str, job: store::Claimed) -> Option<i64> {
    let started = Instant::now();
    let cancelled = Arc::new(AtomicBool::new(false));
    let ctx = JobContext {
        app: app.clone(),
        job_id: job.id,
        attempt: job.attempts as u32,
        cancelled: cancelled.clone(),
    };
    let outcome: Result<(), (String, bool)> = match app.jobs.job_entry(job.kind.as_str()) {
        None => Err((
            format!(
                "unknown job kind {:?}: nothing registered runs it",
                job.kind
            ),
            true,
        )),
        Some(entry) => {
            // The job runs in a task of its own (a panic is an error, not a dead worker), stopped with the worker:
            // a runner stopped at shutdown leaves no job running behind it.
            let mut handle = AbortOnDrop(tokio::spawn((entry.run)(ctx, job.payload.clone())));
            let lease_ms = app.config.jobs.lease_secs as i64 * 1000;
            let mut beat =
                tokio::time::interval(Duration::from_millis((lease_ms / 3).max(50) as u64));
            beat.tick().await;
            let result = loop {
                tokio::select! {
                    r = &mut handle.0 => break r,
                    _ = beat.tick() => {
                        let id = job.id;
                        match app.db.write(move |tx| store::heartbeat(tx, id, lease_ms)).await {
                            Ok(true) => {}
                            Ok(false) => cancelled.store(true, Ordering::Relaxed),
                            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                        }
                    }
                }
            };
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err((format!("{e:#}"), classify(&e) == Failure::Permanent)),
                Err(join) if join.is_panic() => Err((
                    format!("panicked: {}", panic_message(join.into_panic())),
                    false,
                )),
                Err(join) => Err((format!("stopped: {join}"), false)),
            }
        }
    };
    let elapsed = started.elapsed();
    let kind = job.kind.clone();
    app.metrics
        .job_duration
        .get_or_create(&JobLabels { kind: kind.clone() })
        .observe(elapsed.as_secs_f64());
    let (id, attempt) = (job.id, job.attempts);
    let label = match &outcome {
        Ok(()) => "done",
        Err(_) => "failed",
    };
    app.metrics
        .job_runs
        .get_or_create(&JobOutcomeLabels {
            kind: kind.clone(),
            outcome: label.into(),
        })
        .inc();
    let result = match outcome {
        Ok(()) => {
            tracing::info!(queue, ms = elapsed.as_millis() as u64, "job done");
            return Some(id);
        }
        Err((error, permanent)) => {
            let retry =
                (!permanent && attempt < job.max_attempts).then(|| backoff_ms(app, attempt));
            match retry {
                Some(ms) => {
                    tracing::warn!(error = %error, retry_in_ms = ms, "job failed; will retry")
                }
                None => tracing::error!(error = %error, "job failed for good"),
            }
            let app_jobs = app.jobs.clone();
            app.db
                .write(move |tx| {
                    let for_good = store::mark_failed(tx, id, attempt, &error, retry)?;
                    if for_good {
                        let wf: Option<i64> = tx.query_row(
                            "SELECT workflow_id FROM jobs WHERE id = ?1",
                            [id],
                            |r| r.get(0),
                        )?;
                        if let Some(wf) = wf {
                            workflow::fail(tx, &app_jobs, wf, &error)?;
                        }
                    }
                    Ok(())
                })
                .await
        }
    };
    if let Err(e) = result {
        // The lease runs out and the job is taken back; it is idempotent.
        tracing::error!(error = %e, "recording the job's outcome failed");
    }
    None
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Capped exponential backoff with ±25 % jitter, so failing jobs do not retry in lockstep.
fn backoff_ms(app: &App, attempt: i64) -> i64 {
    let base = app.config.jobs.retry_base_ms as i64;
    let cap = app.config.jobs.retry_max_ms as i64;
    let exp = base
        .saturating_mul(1i64 << (attempt - 1).clamp(0, 30))
        .min(cap);
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    let jitter = (u16::from_le_bytes(r) as i64 % 51) - 25; // -25..=25 %
    (exp + exp * jitter / 100).max(0)
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}

/// Takes back jobs whose lease ran out, refreshes the queue-depth gauges, and prunes old finished jobs.
async fn upkeep(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis((app.config.jobs.lease_secs * 1000 / 2).max(100));
    let keep_ms = app.config.jobs.keep_finished_hours as i64 * 3_600_000;
    while !*stop.borrow() {
        let work = async {
            let taken = app.db.write(store::requeue_expired).await?;
            if taken > 0 {
                tracing::warn!(
                    jobs = taken,
                    "took back jobs whose worker stopped answering"
                );
            }
            let pruned = app.db.write(move |tx| store::prune(tx, keep_ms)).await?;
            if pruned > 0 {
                tracing::info!(jobs = pruned, "pruned finished jobs");
            }
            let depths = app.db.read(store::depths).await?;
            for (queue, _) in QUEUES {
                let n = depths
                    .iter()
                    .find(|(q, _)| q == queue)
                    .map_or(0, |(_, n)| *n);
                app.metrics
                    .jobs_queued
                    .get_or_create(&QueueLabels {
                        queue: (*queue).into(),
                    })
                    .set(n);
            }
            Ok::<(), crate::Error>(())
        };
        if let Err(e) = work.await {
            tracing::error!(error = %e, "job upkeep failed");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}
