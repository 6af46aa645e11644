//! The test harness: [`TestApp::spawn`] starts the real server on `127.0.0.1:0` with a temporary data dir.

use std::path::Path;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use smartcourse::App;
use smartcourse::accounts::{self, Actor, NewUser, Role};
use smartcourse::config::Config;
use smartcourse::server::Wiring;
use tokio::sync::oneshot;

/// A running server with its own data directory; stopped and removed when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The server's application state, for looking behind the API.
    pub app: Arc<App>,
    /// A client with no proxy.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    expect_failed: std::sync::atomic::AtomicBool,
    // Dropped last, after the server released the directory.
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Starts a server with default settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after letting `tweak` change the settings.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = Self::spawn_in(&dir.path().join("data"), tweak).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on an existing (or new) data directory that the caller owns.
    pub async fn spawn_in(data: &Path, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::start(data, tweak, smartcourse::server::wiring()).await
    }

    /// Starts a server running `wiring`'s jobs and subscribers (the application's, plus a test's own).
    pub async fn spawn_wired(wiring: Wiring) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = Self::start(&dir.path().join("data"), |_| {}, wiring).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on `data` (which the caller owns) with these settings and jobs.
    pub async fn spawn_custom(
        data: &Path,
        tweak: impl FnOnce(&mut Config),
        wiring: Wiring,
    ) -> TestApp {
        Self::start(data, tweak, wiring).await
    }

    /// Starts a server with these models (say, the real embedder beside the stand-in generator).
    pub async fn spawn_with_models(
        tweak: impl FnOnce(&mut Config),
        models: smartcourse::ml::Models,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(&dir.path().join("data"));
        tweak(&mut config);
        let mut app = Self::open(config, models, smartcourse::server::wiring()).await;
        app._dir = Some(dir);
        app
    }

    async fn start(data: &Path, tweak: impl FnOnce(&mut Config), wiring: Wiring) -> TestApp {
        let mut config = test_config(data);
        tweak(&mut config);
        let models = smartcourse::ml::Models::from_config(&config.models).expect("models");
        Self::open(config, models, wiring).await
    }

    async fn open(config: Config, models: smartcourse::ml::Models, wiring: Wiring) -> TestApp {
        let app = App::open_wired(config, models, wiring).expect("open app");
        // The real start-up, as `smartcourse serve` does it: schedules, the job runner, the control socket.
        let background = smartcourse::server::Background::start(&app)
            .await
            .expect("background");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let packages = smartcourse::http::bind_packages(&app, std::net::Ipv4Addr::LOCALHOST.into())
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let app_for_server = app.clone();
        let server = tokio::spawn(async move {
            let served =
                smartcourse::server::serve(listener, packages, app_for_server.clone(), async {
                    let _ = stopped.await;
                })
                .await;
            background.stop(&app_for_server).await;
            served
        });
        TestApp {
            base,
            app,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(stop),
            server: Some(server),
            _dir: None,
            expect_failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Says that this test leaves jobs failed on purpose (a retry or failure test), so dropping the app does
    /// not fail the test for them.
    pub fn expect_failed_jobs(&self) {
        self.expect_failed.store(true, Ordering::Relaxed);
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// POST `body` as JSON to `path`, with `token` as bearer if given.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut r = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    /// A request with `token` as bearer.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut r = self.client.request(method, self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().await.expect("request")
    }

    /// Creates a user with `role` directly in the database, then logs in through the API.
    pub async fn user(&self, role: Role) -> TestUser {
        let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
        let email = format!("{role}{n}@school.test");
        let input = NewUser {
            email: email.clone(),
            password: PASSWORD.into(),
            full_name: format!("Test {role} {n}"),
        };
        let prepared = accounts::prepare(&input).unwrap();
        let user = self
            .app
            .db
            .write(move |tx| accounts::create_user(tx, &Actor::System, prepared, role))
            .await
            .unwrap();
        let token = self.login(&email, PASSWORD).await;
        TestUser {
            id: user.id,
            email,
            token,
        }
    }

    /// Makes `n` students quickly (no password hashing) with tokens signed by the server's keys.
    pub async fn quick_students(&self, n: usize) -> Vec<TestUser> {
        let keys = self.app.tokens.clone();
        let base = NEXT_USER.fetch_add(n as u64, Ordering::Relaxed);
        self.app
            .db
            .write(move |tx| {
                let mut out = Vec::with_capacity(n);
                for i in 0..n as u64 {
                    let email = format!("quick{}@school.test", base + i);
                    tx.execute(
                        "INSERT INTO users (email, full_name, role, password_hash, created_at, updated_at)
                         VALUES (?1, ?2, 'student', 'not-a-hash', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                        rusqlite::params![email, format!("Quick {i}")],
                    )?;
                    let id = tx.last_insert_rowid();
                    let user = accounts::find_by_email(tx, &Actor::System, &email)?;
                    let token = accounts::issue_token(tx, &keys, &user, 3600)?.token;
                    out.push(TestUser { id, email, token });
                }
                Ok(out)
            })
            .await
            .unwrap()
    }

    /// Publishes a course through the API and waits for the workflow.
    pub async fn publish(&self, owner: &TestUser, course: i64) {
        let r = self
            .send(
                reqwest::Method::POST,
                &format!("/api/courses/{course}/publish"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status(), 202);
        self.drain_jobs().await;
        let c: serde_json::Value = self
            .get(&format!("/api/courses/{course}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(c["status"], "published", "{c}");
    }

    /// Logs in through the API and returns the token; panics unless 200.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/auth/login",
                None,
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status(), 200, "login of {email}");
        let body: serde_json::Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a course owned by `owner` through the API; returns its id.
    pub async fn course(&self, owner: &TestUser, title: &str) -> i64 {
        let r = self
            .post(
                "/api/courses",
                Some(&owner.token),
                &json!({"title": title, "description": format!("About {title}")}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        body["course"]["id"].as_i64().unwrap()
    }

    /// Adds a lesson through the API; returns its id.
    pub async fn lesson(&self, owner: &TestUser, course: i64, title: &str, body: &str) -> i64 {
        let r = self
            .post(
                &format!("/api/courses/{course}/lessons"),
                Some(&owner.token),
                &json!({"title": title, "body_markdown": body}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let body: serde_json::Value = r.json().await.unwrap();
        body["lesson"]["id"].as_i64().unwrap()
    }

    /// Uploads `bytes` as the file `name` of a lesson, as `who`, through the API.
    pub async fn upload(
        &self,
        who: &TestUser,
        lesson: i64,
        name: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        self.client
            .post(self.url(&format!("/api/lessons/{lesson}/attachments")))
            .bearer_auth(&who.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap()
    }

    /// The SHA-256 of every lesson body and file in the content store.
    pub async fn stored_hashes(&self) -> Vec<String> {
        self.app
            .content
            .read(smartcourse::courses::content::stored_hashes)
            .await
            .unwrap()
    }

    /// Makes `lesson` a quiz titled `title` from GIFT text, in the database directly (`edit` may change
    /// the quiz before it is stored).
    pub async fn gift_quiz(
        &self,
        lesson: i64,
        title: &str,
        gift: &str,
        edit: impl FnOnce(&mut smartcourse::quizzes::Quiz),
    ) {
        let questions = smartcourse_formats::quiz::gift::parse(
            gift,
            &smartcourse_formats::Budget::new(&smartcourse_formats::Limits::default()),
        )
        .unwrap();
        let mut quiz = smartcourse::quizzes::Quiz::new(title, questions);
        edit(&mut quiz);
        self.app
            .db
            .write(move |tx| smartcourse::quizzes::set_quiz(tx, lesson, Some(&quiz)))
            .await
            .unwrap();
    }

    /// Marks a course published in the database directly, for tests about other things that need
    /// published courses without lessons (the publish workflow refuses those).
    pub async fn publish_directly(&self, course: i64) {
        self.app
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE courses SET status = 'published' WHERE id = ?1",
                    [course],
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Imports and publishes the demo course (`assets/demo-course`, as `just serve` does) for a new teacher, and
    /// enrols a new student in it; returns the course and the student.
    pub async fn demo_course(&self) -> (i64, TestUser) {
        let teacher = self.user(Role::Instructor).await;
        let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo-course");
        let report = smartcourse::packages::import(&self.app, &package, Some(teacher.email), true)
            .await
            .expect("the demo course imports");
        self.drain_jobs().await;
        let student = self.user(Role::Student).await;
        self.enroll(&student, report.course_id).await;
        (report.course_id, student)
    }

    /// Enrols a student through the API.
    pub async fn enroll(&self, user: &TestUser, course: i64) {
        let r = self
            .send(
                reqwest::Method::POST,
                &format!("/api/courses/{course}/enroll"),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    /// Waits until no job is queued or running (panics after 60 s), so a test sees every effect of
    /// the jobs its requests caused. Returns every job.
    pub async fn drain_jobs(&self) -> Vec<smartcourse::jobs::JobView> {
        let started = std::time::Instant::now();
        // Every commit that touches the jobs table wakes this (the runner's own wake-up signal), so the check
        // runs when something changed rather than on a timer; the timeout covers jobs delayed by a backoff.
        let mut changed = self.app.db.job_wakeups();
        loop {
            let (jobs, pending): (Vec<smartcourse::jobs::JobView>, i64) = self
                .app
                .db
                .read(|c| {
                    // Jobs scheduled for much later (a weekly digest) do not count.
                    let pending = c.query_row(
                        "SELECT count(*) FROM jobs WHERE state = 'running'
                            OR (state = 'queued' AND run_at <= ?1)",
                        [smartcourse::jobs::now_ms() + 10_000],
                        |r| r.get(0),
                    )?;
                    Ok((smartcourse::jobs::list(c, None, 100_000)?, pending))
                })
                .await
                .unwrap();
            if pending == 0 {
                return jobs;
            }
            assert!(
                started.elapsed().as_secs() < 60,
                "jobs did not finish: {jobs:?}"
            );
            let _ = tokio::time::timeout(std::time::Duration::from_millis(250), changed.changed())
                .await;
        }
    }

    /// Stops the server gracefully and waits for it, releasing the data directory.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestApp {
    /// Stops the server, and fails the test if a job failed (unless the test said it expects that): a job
    /// that failed is an effect the test did not see go wrong.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if std::thread::panicking() || self.expect_failed.load(Ordering::Relaxed) {
            return;
        }
        let failed = failed_jobs(&self.app.data.join(smartcourse::app::DB_FILE));
        assert!(
            failed.is_empty(),
            "jobs failed during the test (call expect_failed_jobs() if that is its point): {failed:?}"
        );
    }
}

/// `kind: last error` of every failed job, read through a connection of its own (a `Drop` cannot await the
/// application's pool).
fn failed_jobs(db: &Path) -> Vec<String> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
    conn.prepare("SELECT kind || ': ' || coalesce(last_error, '') FROM jobs WHERE state = 'failed'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default()
}

/// The settings every test app starts from: a free port, no rate limits, fast job turnaround, stand-in models.
pub fn test_config(data: &Path) -> Config {
    let mut config = Config {
        data: data.to_path_buf(),
        ..Config::default()
    };
    // The server listens on a free port, and so does its package server (server.packages_port).
    config.server.addr = "127.0.0.1:0".parse().unwrap();
    // Every test talks from 127.0.0.1: limits are off unless a test turns them on.
    config.rate_limit.login_per_client = 0;
    config.rate_limit.login_per_account = 0;
    config.rate_limit.register_per_client = 0;
    config.rate_limit.api_per_client = 0;
    // Fast job turnaround for tests.
    config.jobs.poll_ms = 50;
    config.jobs.retry_base_ms = 20;
    config.jobs.retry_max_ms = 200;
    config.jobs.lease_secs = 2;
    // The stand-in models, unless a test asks for the real ones (tests/integration/models.rs).
    config.models.fake = true;
    config
}

/// Asserts that `response` is an API error with `status` and `code`, and returns its message.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// The kinds of the recurring jobs a server schedules when it starts (weekly digest, backups): queued for
/// later from the first moment of every test app.
pub const SCHEDULED: &[&str] = &["notify.weekly_digest", "backup.scheduled"];

/// The password of users made by [`TestApp::user`].
pub const PASSWORD: &str = "violet-tractor-51";

static NEXT_USER: AtomicU64 = AtomicU64::new(1);

/// A user made for a test, signed in.
pub struct TestUser {
    /// User id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// A valid bearer token.
    pub token: String,
}
