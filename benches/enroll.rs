//! Enrollments per second and latency over HTTP on loopback, driven by `wrk` (Debian package `wrk`).
//!
//! `cargo bench --bench enroll` runs it against the real server in this process (one runtime, the same
//! two cores as wrk), with `synchronous = full` (every commit fsynced) and `normal`. Every request enrols a
//! different student in a published course without a seat limit, so each one runs the whole transaction:
//! access and capacity checks, the insert, the outbox event and its delivery jobs (which the job runner
//! works through at the same time). Under `cargo test` it only checks that the setup works.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use smartcourse::App;
use smartcourse::accounts::{self, Actor, NewUser, Role};
use smartcourse::config::{Config, Synchronous};

async fn run(synchronous: Synchronous, connections: u32, students: usize, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    config.database.synchronous = synchronous;
    config.rate_limit.api_per_client = 0;
    config.log.level = "warn".into();
    let app: Arc<App> = App::open(config).unwrap();

    // A published course with a lesson, and students with tokens, made directly (no password hashing).
    let keys = app.tokens.clone();
    let prepared = accounts::prepare(&NewUser {
        email: "teacher@bench.test".into(),
        password: "bench-teacher-password".into(),
        full_name: "Teacher".into(),
    })
    .unwrap();
    let (course, tokens) = app
        .db
        .write(move |tx| {
            let teacher = accounts::create_user(tx, &Actor::System, prepared, Role::Instructor)?;
            tx.execute(
                "INSERT INTO courses (owner_id, title, status, created_at, updated_at) VALUES (?1, 'Bench', 'published', 'x', 'x')",
                [teacher.id],
            )?;
            let course = tx.last_insert_rowid();
            let mut tokens = Vec::with_capacity(students);
            for i in 0..students {
                tx.execute(
                    "INSERT INTO users (email, full_name, role, password_hash, created_at, updated_at)
                     VALUES (?1, 'Student', 'student', 'x', 'x', 'x')",
                    [format!("s{i}@bench.test")],
                )?;
                let user = accounts::find_by_email(tx, &Actor::System, &format!("s{i}@bench.test"))?;
                tokens.push(accounts::issue_token(tx, &keys, &user, 3600)?.token);
            }
            Ok((course, tokens))
        })
        .await
        .unwrap();
    let token_file = dir.path().join("tokens.txt");
    std::fs::write(&token_file, tokens.join("\n")).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let runner = smartcourse::jobs::runner::start(app.clone()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(smartcourse::server::serve_on(
        listener,
        app.clone(),
        async {
            let _ = stopped.await;
        },
    ));

    let threads = 2;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/enroll.lua");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("wrk")
            .args([
                "-t",
                &threads.to_string(),
                "-c",
                &connections.to_string(),
                "-d",
                &format!("{seconds}s"),
                "--latency",
                "-s",
                script,
            ])
            .arg(format!("http://{addr}"))
            .env("TOKENS", &token_file)
            .env("THREADS", threads.to_string())
            .env("ENROLL_PATH", format!("/api/courses/{course}/enroll"))
            .output()
    })
    .await
    .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    runner.stop(Duration::from_secs(5)).await;

    let output = match output {
        Ok(o) => o,
        Err(e) => {
            println!("wrk is not installed ({e}); `apt-get install wrk` to run this benchmark");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let result = text
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or("RESULT missing");
    let field = |name: &str| -> f64 {
        result
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let enrolled: i64 = app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM enrollments WHERE course_id = ?1",
                [course],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    println!(
        "synchronous={:<6} connections={connections:<3} {:>6.0} requests/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.1} ms  non-2xx {}  enrolled {enrolled}",
        synchronous.pragma(),
        field("requests") / (field("duration_us") / 1e6),
        field("p50_us") / 1000.0,
        field("p90_us") / 1000.0,
        field("p99_us") / 1000.0,
        field("max_us") / 1000.0,
        field("non2xx"),
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if full {
        for (sync, connections) in [
            (Synchronous::Full, 2),
            (Synchronous::Full, 16),
            (Synchronous::Normal, 2),
            (Synchronous::Normal, 16),
        ] {
            rt.block_on(run(sync, connections, 40_000, 10));
        }
    } else {
        rt.block_on(run(Synchronous::Normal, 2, 50, 1));
    }
}
