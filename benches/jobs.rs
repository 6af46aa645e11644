//! Job queue throughput and enqueue latency, end to end on the real runner and a real SQLite file.
//!
//! `cargo bench --bench jobs` (or `just bench`) runs the full measurement; under `cargo test` it runs a
//! small smoke version so the benchmark keeps compiling and working.
//!
//! Measures, for `synchronous = normal` and `full` (every commit fsynced):
//! - enqueue latency: one job per transaction, as a request handler enqueues, p50/p99;
//! - throughput: no-op jobs per second from enqueue until every job is recorded done, with the jobs
//!   enqueued one per transaction while the runner works.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smartcourse::App;
use smartcourse::config::{Config, Synchronous};
use smartcourse::jobs::{self, diag::Noop};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(synchronous: Synchronous, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    config.database.synchronous = synchronous;
    config.log.level = "warn".into();
    let app: Arc<App> = App::open(config).unwrap();
    let runner = jobs::runner::start(app.clone()).await.unwrap();

    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let t = Instant::now();
        app.db
            .write(move |tx| {
                jobs::enqueue(
                    tx,
                    &Noop {
                        n: i,
                        mark: false,
                        fail_first: 0,
                        panic_first: false,
                        sleep_ms: 0,
                    },
                )
            })
            .await
            .unwrap();
        latencies.push(t.elapsed());
    }
    loop {
        let left: i64 = app
            .db
            .read(|c| {
                Ok(
                    c.query_row("SELECT count(*) FROM jobs WHERE state != 'done'", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = started.elapsed();
    runner.stop(Duration::from_secs(5)).await;
    latencies.sort();
    println!(
        "synchronous={:<6} jobs={n:<6} end-to-end {:>7.0} jobs/s  enqueue p50 {:>6.3} ms  p99 {:>6.3} ms",
        synchronous.pragma(),
        n as f64 / total.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 20_000 } else { 200 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for sync in [Synchronous::Normal, Synchronous::Full] {
        rt.block_on(run(sync, n));
    }
}
