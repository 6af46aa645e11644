//! Durable jobs, workflows, the publish workflow and event delivery, on the real runner.

use reqwest::Method;
use serde_json::Value;
use smartcourse::accounts::Role;
use smartcourse::events::{self, Delivery, Event, Subscriber};
use smartcourse::jobs::{self, EnqueueOptions, diag::Noop, workflow};

use crate::common::{TestApp, assert_error};

fn noop(n: i64) -> Noop {
    Noop {
        n,
        mark: true,
        fail_first: 0,
        panic_first: false,
        sleep_ms: 0,
    }
}

async fn enqueue(app: &TestApp, job: Noop, options: EnqueueOptions) -> i64 {
    app.app
        .db
        .write(move |tx| jobs::enqueue_with(tx, &job, options))
        .await
        .unwrap()
}

async fn marks(app: &TestApp, kind: &'static str, r#ref: i64) -> i64 {
    app.app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM diag_marks WHERE kind = ?1 AND ref = ?2",
                rusqlite::params![kind, r#ref],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

async fn job(app: &TestApp, id: i64) -> jobs::JobView {
    app.app.db.read(move |c| jobs::get(c, id)).await.unwrap()
}

#[tokio::test]
async fn failures_are_retried_with_their_errors_kept_and_panics_count_as_failures() {
    let app = TestApp::spawn().await;
    app.expect_failed_jobs();
    let flaky = enqueue(
        &app,
        Noop {
            fail_first: 2,
            ..noop(1)
        },
        EnqueueOptions::default(),
    )
    .await;
    let panicky = enqueue(
        &app,
        Noop {
            panic_first: true,
            ..noop(2)
        },
        EnqueueOptions::default(),
    )
    .await;
    let hopeless = enqueue(
        &app,
        Noop {
            fail_first: 99,
            ..noop(3)
        },
        EnqueueOptions::default(),
    )
    .await;
    app.drain_jobs().await;

    let j = job(&app, flaky).await;
    assert_eq!((j.state.as_str(), j.attempts), ("done", 3));
    assert_eq!(j.errors.len(), 2);
    assert!(j.errors[0].contains("fails attempt 1"), "{:?}", j.errors);
    assert_eq!(marks(&app, "job", 1).await, 1);

    let j = job(&app, panicky).await;
    assert_eq!((j.state.as_str(), j.attempts), ("done", 2));
    assert!(
        j.errors[0].contains("panicked") && j.errors[0].contains("on purpose"),
        "{:?}",
        j.errors
    );

    let j = job(&app, hopeless).await;
    assert_eq!(
        (j.state.as_str(), j.attempts, j.max_attempts),
        ("failed", 5, 5)
    );
    assert_eq!(j.errors.len(), 5);
    assert!(j.last_error.unwrap().contains("fails attempt 5"));
    assert_eq!(marks(&app, "job", 3).await, 0);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"smartcourse_job_runs_total{kind="diag.noop",outcome="failed"} 8"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"smartcourse_job_runs_total{kind="diag.noop",outcome="done"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"smartcourse_job_duration_seconds_count{kind="diag.noop"} 10"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn dedup_keys_delays_and_cancellation() {
    let app = TestApp::spawn().await;
    let delayed = EnqueueOptions {
        dedup_key: Some("k".into()),
        delay_ms: 60_000,
        ..Default::default()
    };
    let a = enqueue(&app, noop(10), delayed.clone()).await;
    let b = enqueue(&app, noop(11), delayed).await;
    assert_eq!(a, b, "a second job with the same key is the first one");
    assert_eq!(job(&app, a).await.state, "queued", "not due for a minute");

    app.app
        .db
        .write(move |tx| jobs::cancel(tx, a))
        .await
        .unwrap();
    assert_eq!(job(&app, a).await.state, "cancelled");
    let again = app
        .app
        .db
        .write(move |tx| jobs::cancel(tx, a))
        .await
        .unwrap_err();
    assert_eq!(again.code(), "not_cancellable");
    // With the first one finished, the key is free again.
    let c = enqueue(
        &app,
        noop(12),
        EnqueueOptions {
            dedup_key: Some("k".into()),
            ..Default::default()
        },
    )
    .await;
    assert_ne!(c, a);
    app.drain_jobs().await;
    assert_eq!(
        marks(&app, "job", 10).await,
        0,
        "the cancelled job never ran"
    );
    assert_eq!(marks(&app, "job", 12).await, 1);

    // Retry puts a failed job back with fresh attempts.
    let failed = enqueue(
        &app,
        Noop {
            fail_first: 5,
            ..noop(13)
        },
        EnqueueOptions::default(),
    )
    .await;
    app.drain_jobs().await;
    assert_eq!(job(&app, failed).await.state, "failed");
    assert_eq!(
        app.app
            .db
            .write(move |tx| jobs::retry(tx, c))
            .await
            .unwrap_err()
            .code(),
        "not_retryable"
    );
    app.app
        .db
        .write(move |tx| jobs::retry(tx, failed))
        .await
        .unwrap();
    app.drain_jobs().await;
    let j = job(&app, failed).await;
    assert_eq!(
        (j.state.as_str(), j.attempts, j.max_attempts),
        ("done", 6, 10)
    );
    assert_eq!(j.errors.len(), 5, "the first round's errors stay on record");
}

#[tokio::test]
async fn jobs_left_running_are_taken_back_at_start_and_when_their_lease_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = TestApp::spawn_in(&data, |c| c.jobs.poll_ms = 3_600_000).await;
    // As a killed process leaves it: claimed, lease still in the future.
    let id = first
        .app
        .db
        .write(|tx| {
            let id = jobs::enqueue(tx, &noop(20))?;
            tx.execute(
                "UPDATE jobs SET state = 'running', attempts = 1, lease_until = ?2 WHERE id = ?1",
                rusqlite::params![id, jobs::now_ms() + 3_600_000],
            )?;
            Ok(id)
        })
        .await
        .unwrap();
    first.stop().await;
    let second = TestApp::spawn_in(&data, |c| c.jobs.lease_secs = 1).await;
    second.drain_jobs().await;
    assert_eq!(job(&second, id).await.state, "done");
    assert_eq!(marks(&second, "job", 20).await, 1);

    // While running: a job whose worker stopped answering (lease in the past) is taken back by upkeep.
    let stale = second
        .app
        .db
        .write(|tx| {
            let id = jobs::enqueue(tx, &noop(21))?;
            tx.execute(
                "UPDATE jobs SET state = 'running', attempts = 1, lease_until = ?2 WHERE id = ?1",
                rusqlite::params![id, jobs::now_ms() - 1],
            )?;
            Ok(id)
        })
        .await
        .unwrap();
    second.drain_jobs().await;
    assert_eq!(job(&second, stale).await.state, "done");
    assert_eq!(marks(&second, "job", 21).await, 1);
}

#[tokio::test]
async fn a_workflow_runs_every_step_once_and_reports_progress() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let student = app.user(Role::Student).await;
    let id = app
        .app
        .db
        .write(|tx| workflow::start(tx, &jobs::diag::SelfTest { step_ms: 30 }, None, None))
        .await
        .unwrap();
    let path = format!("/api/workflows/{id}/status");
    let early: Value = app
        .send(Method::GET, &path, Some(&admin.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ["QUEUED", "RUNNING"].contains(&early["status"].as_str().unwrap()),
        "{early}"
    );
    assert!(
        early["current_step"].as_str().unwrap().starts_with("Step "),
        "{early}"
    );
    app.drain_jobs().await;
    let done: Value = app
        .send(Method::GET, &path, Some(&admin.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["progress"], 100);
    let steps: Vec<(i64, i64)> = app
        .app
        .db
        .read(move |c| {
            Ok(c.prepare("SELECT step, count(*) FROM diag_marks WHERE kind = 'step' AND ref = ?1 GROUP BY step ORDER BY step")?
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    assert_eq!(steps, (0..6).map(|s| (s, 1)).collect::<Vec<_>>());
    assert_error(
        app.send(Method::GET, &path, Some(&student.token), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(app.get(&path).await, 401, "unauthorized").await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/workflows/{id}/cancel"),
            Some(&admin.token),
            None,
        )
        .await;
    assert_error(r, 409, "not_cancellable").await;
}

#[tokio::test]
async fn a_cancelled_workflow_starts_no_further_step() {
    let app = TestApp::spawn().await;
    let id = app
        .app
        .db
        .write(|tx| workflow::start(tx, &jobs::diag::SelfTest { step_ms: 300 }, None, None))
        .await
        .unwrap();
    // Let it get into its first step.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let app_jobs = app.app.jobs.clone();
    let s = app
        .app
        .db
        .write(move |tx| workflow::cancel(tx, &app_jobs, workflow::Viewer::All, id))
        .await
        .unwrap();
    assert_eq!(s.status, "CANCELLED");
    app.drain_jobs().await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let ran: i64 = app
        .app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM diag_marks WHERE kind = 'step' AND ref = ?1",
                [id],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert!(ran <= 1, "{ran} steps ran after cancellation");
}

#[tokio::test]
async fn publishing_is_a_workflow_the_owner_can_follow() {
    let app = TestApp::spawn().await;
    app.expect_failed_jobs();
    let owner = app.user(Role::Instructor).await;
    let other = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let course = app.course(&owner, "To publish").await;
    app.lesson(&owner, course, "First", "Hello").await;

    assert_error(
        app.send(
            Method::POST,
            &format!("/api/courses/{course}/publish"),
            Some(&student.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/courses/{course}/publish"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 202);
    let started: Value = r.json().await.unwrap();
    let wf = started["workflow_id"].as_i64().unwrap();
    app.drain_jobs().await;

    let s: Value = app
        .send(
            Method::GET,
            &format!("/api/workflows/{wf}/status"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "COMPLETED", "{s}");
    assert_error(
        app.send(
            Method::GET,
            &format!("/api/workflows/{wf}/status"),
            Some(&other.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let c: Value = app
        .get(&format!("/api/courses/{course}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "published");
    assert!(c["published_at"].is_string());
    let page: Value = app
        .send(Method::GET, "/api/courses", Some(&student.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);

    // The course.published event reached analytics once.
    let counted: i64 = app
        .app
        .db
        .read(|c| Ok(c.query_row("SELECT coalesce(sum(count), 0) FROM analytics_daily WHERE kind = 'course.published'", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(counted, 1);

    // A course without lessons fails to publish, says why, and stays a draft.
    let empty = app.course(&owner, "Empty").await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/courses/{empty}/publish"),
            Some(&owner.token),
            None,
        )
        .await;
    let wf: Value = r.json().await.unwrap();
    app.drain_jobs().await;
    let s: Value = app
        .send(
            Method::GET,
            &format!("/api/workflows/{}/status", wf["workflow_id"]),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "FAILED");
    assert!(
        s["error"].as_str().unwrap().contains("at least one lesson"),
        "{s}"
    );
    let c: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{empty}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "draft");
}

/// A subscriber of the test's own: fails the first two attempts of a delivery, then leaves a mark.
struct Flaky;

impl Subscriber for Flaky {
    fn name(&self) -> &'static str {
        "test.flaky"
    }

    fn hears(&self, event: &Event) -> bool {
        matches!(event, Event::UserRegistered { .. })
    }

    fn handle(&self, tx: &rusqlite::Transaction, d: &Delivery) -> smartcourse::Result<()> {
        if d.attempt <= 2 {
            return Err(smartcourse::Error::Internal(anyhow::anyhow!(
                "fails attempt {} on purpose",
                d.attempt
            )));
        }
        tx.execute(
            "INSERT INTO diag_marks (kind, ref, at) VALUES ('event', ?1, ?2)",
            rusqlite::params![d.event_id, d.created_at],
        )?;
        Ok(())
    }
}

#[tokio::test]
async fn every_event_reaches_every_subscriber_once_even_when_one_fails_twice() {
    let mut wiring = smartcourse::server::wiring();
    wiring.subscribers = wiring.subscribers.with(Flaky);
    let app = TestApp::spawn_wired(wiring).await;
    let event = app
        .app
        .db
        .write(|tx| events::emit(tx, &Event::UserRegistered { user_id: 1 }))
        .await
        .unwrap();
    let jobs = app.drain_jobs().await;
    let deliveries: Vec<_> = jobs.iter().filter(|j| j.kind == "events.deliver").collect();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].state, "done");
    assert_eq!(
        (deliveries[0].attempts, deliveries[0].errors.len()),
        (3, 2),
        "{deliveries:?}"
    );
    assert_eq!(marks(&app, "event", event).await, 1);
    let counts = async |app: &TestApp| {
        app.app.db.read(move |c| {
            Ok((
                c.query_row(
                    "SELECT count(*) FROM event_deliveries WHERE event_id = ?1",
                    [event],
                    |r| r.get::<_, i64>(0),
                )?,
                c.query_row(
                    "SELECT coalesce(sum(count), 0) FROM analytics_daily WHERE kind = 'user.registered'",
                    [],
                    |r| r.get::<_, i64>(0),
                )?,
            ))
        }).await
    };
    // Analytics heard it on the first attempt and was not given it again by the retries.
    assert_eq!(counts(&app).await.unwrap(), (2, 1));

    // Delivering the same event again (as after a crash between effect and job completion), to everyone or to
    // one subscriber by name (jobs queued by earlier versions), changes nothing.
    app.app
        .db
        .write(move |tx| {
            for subscriber in [None, Some("test.flaky"), Some("analytics")] {
                jobs::enqueue(
                    tx,
                    &events::Deliver {
                        event_id: event,
                        subscriber: subscriber.map(str::to_owned),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    app.drain_jobs().await;
    assert_eq!(marks(&app, "event", event).await, 1);
    assert_eq!(counts(&app).await.unwrap(), (2, 1));
}

/// A job of the test's own that fails with a permanent error wrapped in the crate's `Internal` error, the way
/// domain code returns one.
#[derive(serde::Serialize, serde::Deserialize)]
struct GivesUp;

impl jobs::Job for GivesUp {
    const KIND: &'static str = "test.gives_up";

    async fn run(self, _: jobs::JobContext) -> anyhow::Result<()> {
        Err(
            smartcourse::Error::Internal(jobs::Permanent::new("the input cannot be read").into())
                .into(),
        )
    }
}

#[tokio::test]
async fn a_permanent_failure_is_not_retried_even_when_wrapped() {
    let mut wiring = smartcourse::server::wiring();
    wiring.jobs = wiring.jobs.job::<GivesUp>();
    let app = TestApp::spawn_wired(wiring).await;
    app.expect_failed_jobs();
    let id = app
        .app
        .db
        .write(|tx| jobs::enqueue(tx, &GivesUp))
        .await
        .unwrap();
    let jobs = app.drain_jobs().await;
    let job = jobs.iter().find(|j| j.id == id).unwrap();
    assert_eq!(job.state, "failed");
    assert_eq!(job.attempts, 1, "{job:?}");
    assert!(job.max_attempts > 1);
    assert!(
        job.last_error
            .as_deref()
            .unwrap_or("")
            .contains("the input cannot be read")
    );
}

#[tokio::test]
async fn admins_see_and_retry_jobs_over_http() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let teacher = app.user(Role::Instructor).await;
    let failed = enqueue(
        &app,
        Noop {
            fail_first: 5,
            ..noop(30)
        },
        EnqueueOptions::default(),
    )
    .await;
    app.drain_jobs().await;
    assert_error(
        app.send(Method::GET, "/api/jobs", Some(&teacher.token), None)
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.send(
            Method::POST,
            &format!("/api/jobs/{failed}/retry"),
            Some(&teacher.token),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let list: Value = app
        .send(
            Method::GET,
            "/api/jobs?state=failed",
            Some(&admin.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], failed);
    assert_eq!(list["items"][0]["errors"].as_array().unwrap().len(), 5);
    assert_error(
        app.send(
            Method::GET,
            "/api/jobs?state=exploded",
            Some(&admin.token),
            None,
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/jobs/{failed}/retry"),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    app.drain_jobs().await;
    assert_eq!(job(&app, failed).await.state, "done");
}

#[tokio::test]
async fn automatic_backups_keep_the_newest_and_schedule_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("usb");
    let app = TestApp::spawn_with(|c| {
        c.backup.dir = target.clone();
        c.backup.keep = 2;
    })
    .await;
    for _ in 0..3 {
        app.app
            .db
            .write(|tx| jobs::enqueue(tx, &smartcourse::backup::ScheduledBackup {}).map(drop))
            .await
            .unwrap();
        app.drain_jobs().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut kept: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(
        kept.iter()
            .all(|n| n.starts_with("smartcourse-auto-") && n.ends_with(".backup"))
    );
    // Each one is a valid backup.
    let restored = dir.path().join("restored");
    smartcourse::backup::restore(&target.join(&kept[1]), &restored).unwrap();
    // The next ones are scheduled a day ahead.
    let next: i64 = app
        .app
        .db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM jobs WHERE kind = 'backup.scheduled' AND state = 'queued' AND run_at > ?1", [jobs::now_ms() + 3_600_000], |r| r.get(0))?))
        .await
        .unwrap();
    assert!(next >= 1);
}

#[tokio::test]
async fn a_deduplicated_job_asked_for_while_it_runs_runs_once_more_after() {
    let app = TestApp::spawn().await;
    let key = EnqueueOptions {
        dedup_key: Some("again".into()),
        ..Default::default()
    };
    let slow = Noop {
        sleep_ms: 400,
        ..noop(40)
    };
    let id = enqueue(&app, slow, key.clone()).await;
    // Wait until it runs, then ask for it three times more.
    let started = std::time::Instant::now();
    while job(&app, id).await.state != "running" {
        assert!(started.elapsed().as_secs() < 10, "the job never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        assert_eq!(
            enqueue(&app, noop(41), key.clone()).await,
            id,
            "the same job"
        );
    }
    app.drain_jobs().await;
    assert_eq!(job(&app, id).await.state, "done");
    assert_eq!(
        marks(&app, "job", 40).await,
        2,
        "it ran once more after the enqueues that came while it ran, and only once"
    );
    // Asked for while queued (not running), it runs once.
    let queued = EnqueueOptions {
        dedup_key: Some("later".into()),
        delay_ms: 300,
        ..Default::default()
    };
    let a = enqueue(&app, noop(42), queued.clone()).await;
    assert_eq!(enqueue(&app, noop(42), queued).await, a);
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    app.drain_jobs().await;
    assert_eq!(marks(&app, "job", 42).await, 1);
}

/// A job of the test's own that runs until it is stopped.
#[derive(serde::Serialize, serde::Deserialize)]
struct Hangs;

impl jobs::Job for Hangs {
    const KIND: &'static str = "test.hangs";

    async fn run(self, _: jobs::JobContext) -> anyhow::Result<()> {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        Ok(())
    }
}

async fn job_state(app: &TestApp, id: i64) -> (String, Vec<String>) {
    let j = app.app.db.read(move |c| jobs::get(c, id)).await.unwrap();
    (j.state, j.errors)
}

async fn wait_running(app: &TestApp, id: i64) {
    let started = std::time::Instant::now();
    while job_state(app, id).await.0 != "running" {
        assert!(started.elapsed().as_secs() < 20, "job {id} never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Stops a test server and waits until its data directory is free to open again.
async fn stop(app: TestApp, data: &std::path::Path) {
    app.stop().await;
    let started = std::time::Instant::now();
    while smartcourse::datadir::DataDir::is_locked(data) {
        assert!(
            started.elapsed().as_secs() < 20,
            "the data directory stays locked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// What a process killed in the middle of a job leaves behind: the job's row still `running`, one attempt on.
fn as_if_killed_while_running(data: &std::path::Path, id: i64) {
    let c = rusqlite::Connection::open(data.join(smartcourse::app::DB_FILE)).unwrap();
    c.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1 WHERE id = ?1",
        [id],
    )
    .unwrap();
}

/// A job the server was running each time it died is failed after the second time instead of being run again
/// at every start (an import that runs the laptop out of memory would otherwise do it after every restart);
/// a clean stop is not a death.
#[tokio::test]
async fn a_job_running_each_time_the_server_dies_is_not_run_again_after_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let wiring = || {
        let mut w = smartcourse::server::wiring();
        w.jobs = w.jobs.job::<Hangs>();
        w
    };
    let quick_stop = |c: &mut smartcourse::config::Config| c.server.shutdown_grace_secs = 1;

    let app = TestApp::spawn_custom(&data, quick_stop, wiring()).await;
    let id = app
        .app
        .db
        .write(|tx| jobs::enqueue(tx, &Hangs))
        .await
        .unwrap();
    wait_running(&app, id).await;
    stop(app, &data).await;
    let app = TestApp::spawn_custom(&data, quick_stop, wiring()).await;
    // The clean stop put it back in the queue, with no error: it runs again.
    wait_running(&app, id).await;
    assert!(job_state(&app, id).await.1.is_empty());
    stop(app, &data).await;

    as_if_killed_while_running(&data, id);
    let app = TestApp::spawn_custom(&data, quick_stop, wiring()).await;
    wait_running(&app, id).await;
    let (_, errors) = job_state(&app, id).await;
    assert_eq!(
        errors,
        [jobs::STOPPED_WHILE_RUNNING],
        "after one death it runs again"
    );
    stop(app, &data).await;

    as_if_killed_while_running(&data, id);
    let app = TestApp::spawn_custom(&data, quick_stop, wiring()).await;
    app.expect_failed_jobs();
    let j = app.app.db.read(move |c| jobs::get(c, id)).await.unwrap();
    assert_eq!(j.state, "failed", "{j:?}");
    assert!(
        j.last_error.as_deref().unwrap_or("").contains("2 times"),
        "{j:?}"
    );
    app.stop().await;
}

/// A burst of changes to one course (an import's lessons) waits as one `course.changed`, not one per change;
/// once it is delivered, the next change records a new one.
#[tokio::test]
async fn changes_to_a_course_wait_as_one_event() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Burst").await;
    app.drain_jobs().await;
    let event = Event::CourseChanged { course_id: course };
    let ids = app
        .app
        .db
        .write(move |tx| {
            let mut ids = Vec::new();
            for _ in 0..5 {
                ids.push(events::emit_coalesced(tx, &event)?);
            }
            Ok(ids)
        })
        .await
        .unwrap();
    assert!(
        ids[0].is_some() && ids[1..].iter().all(Option::is_none),
        "{ids:?}"
    );
    app.drain_jobs().await;
    let again = app
        .app
        .db
        .write(move |tx| events::emit_coalesced(tx, &Event::CourseChanged { course_id: course }))
        .await
        .unwrap();
    assert!(again.is_some());
    app.drain_jobs().await;
}
