//! `smartcourse jobs ...`: look at and steer background jobs. Works beside a running server (SQLite only);
//! the server picks up retried and new jobs within `jobs.poll_ms`.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::JobsCommand;
use crate::app::DB_FILE;
use crate::config::Config;
use crate::datadir::DataDir;
use crate::db::Db;
use crate::jobs::{self, diag, workflow};

pub fn run(config: &Config, command: JobsCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let data = DataDir::open_shared(&config.data)?;
    let db = Db::open(&data.join(DB_FILE), &config.database)?;
    runtime.block_on(execute(db, &config.data, command))
}

async fn execute(db: Db, data: &std::path::Path, command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List { state, limit } => {
            let list = db
                .read(move |c| jobs::list(c, state.as_deref(), limit))
                .await?;
            println!(
                "{:>6}  {:<16} {:<8} {:<10} {:>8}  {:<20}  last error",
                "id", "kind", "queue", "state", "attempts", "created"
            );
            for j in &list {
                println!(
                    "{:>6}  {:<16} {:<8} {:<10} {:>4}/{:<3}  {:<20}  {}",
                    j.id,
                    j.kind,
                    j.queue,
                    j.state,
                    j.attempts,
                    j.max_attempts,
                    j.created_at,
                    j.last_error
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("")
                );
            }
            println!("{} job(s)", list.len());
        }
        JobsCommand::Show { id } => {
            let j = db
                .read(move |c| jobs::get(c, id))
                .await
                .map_err(|e| not_found(e, id))?;
            println!("job {}: {} on queue {}", j.id, j.kind, j.queue);
            println!(
                "state:    {} (attempt {} of {})",
                j.state, j.attempts, j.max_attempts
            );
            println!("created:  {}", j.created_at);
            if let Some(f) = &j.finished_at {
                println!("finished: {f}");
            }
            for (n, e) in j.errors.iter().enumerate() {
                println!("attempt {} failed: {e}", n + 1);
            }
        }
        JobsCommand::Retry { id } => {
            db.write(move |tx| jobs::retry(tx, id))
                .await
                .map_err(|e| not_found(e, id))?;
            println!("job {id} queued again");
        }
        JobsCommand::Cancel { id } => {
            db.write(move |tx| jobs::cancel(tx, id))
                .await
                .map_err(|e| not_found(e, id))?;
            println!("job {id} cancelled");
        }
        JobsCommand::Selftest {
            jobs: count,
            step_ms,
            wait,
        } => {
            let id = db
                .write(move |tx| {
                    for n in 0..count {
                        jobs::enqueue(
                            tx,
                            &diag::Noop {
                                n,
                                mark: true,
                                fail_first: 0,
                                panic_first: false,
                                sleep_ms: 0,
                            },
                        )?;
                    }
                    workflow::start(tx, &diag::SelfTest { step_ms }, None, None)
                })
                .await?;
            println!("queued self-test workflow {id} and {count} job(s)");
            if wait {
                if !DataDir::is_locked(data) {
                    bail!(
                        "no SmartCourse server is running on this data directory to run them; start `smartcourse serve`"
                    );
                }
                let started = Instant::now();
                let registry = std::sync::Arc::new(crate::server::wiring().jobs);
                loop {
                    let registry = registry.clone();
                    let s = db
                        .read(move |c| workflow::status(c, &registry, workflow::Viewer::All, id))
                        .await?;
                    let pending: i64 = db
                        .read(move |c| {
                            Ok(c.query_row(
                                "SELECT count(*) FROM jobs WHERE kind = 'diag.noop' AND state IN ('queued', 'running')",
                                [],
                                |r| r.get(0),
                            )?)
                        })
                        .await?;
                    println!(
                        "{} {}% {} ({pending} job(s) left)",
                        s.status, s.progress, s.current_step
                    );
                    match s.status.as_str() {
                        "COMPLETED" if pending == 0 => {
                            println!(
                                "self-test passed in {:.1} s",
                                started.elapsed().as_secs_f64()
                            );
                            break;
                        }
                        "FAILED" | "CANCELLED" => {
                            bail!("self-test {}: {}", s.status, s.error.unwrap_or_default())
                        }
                        _ => {}
                    }
                    if started.elapsed() > Duration::from_secs(600) {
                        bail!("self-test did not finish within 10 minutes");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    Ok(())
}

fn not_found(e: crate::Error, id: i64) -> anyhow::Error {
    match e {
        crate::Error::NotFound => anyhow::anyhow!("there is no job {id}"),
        other => other.into(),
    }
}
