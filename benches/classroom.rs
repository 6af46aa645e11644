//! A class on loopback: 30 students log in, enrol, open every lesson and mark it complete, all at once, while
//! a teacher imports a 200-lesson course (its embeddings take the CPU) and the tutor answers questions. Counts
//! errors and reports latency per kind of request (p50 / p95 / p99).
//!
//! `cargo bench --bench classroom` (or `just bench`) runs it with the real models when models/ has them
//! (`just models`), the stand-ins otherwise (and says so). Under `cargo test` a smoke version runs: 5
//! students, 20 imported lessons.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smartcourse::App;
use smartcourse::accounts::{self, Actor, NewUser, Role};
use smartcourse::config::Config;
use smartcourse::jobs::workflow::Viewer;
use smartcourse::ml::Models;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A SmartCourse package of `n` lessons of ~300 words.
fn package(dir: &Path, n: usize) {
    let words: Vec<&str> = "plants turn light water and carbon dioxide into sugar while roots take minerals \
        from the soil and leaves hold chlorophyll which catches the energy of the sun for the whole plant"
        .split(' ')
        .collect();
    let mut toml = String::from(
        "format = 1\ntitle = \"Imported during class\"\n[[module]]\ntitle = \"All\"\n",
    );
    std::fs::create_dir_all(dir.join("l")).unwrap();
    for i in 0..n {
        toml.push_str(&format!(
            "[[module.lesson]]\ntitle = \"L{i}\"\nfile = \"l/{i}.md\"\n"
        ));
        let body: Vec<&str> = (0..300).map(|k| words[(i * 7 + k) % words.len()]).collect();
        std::fs::write(dir.join(format!("l/{i}.md")), body.join(" ")).unwrap();
    }
    std::fs::write(dir.join("course.toml"), toml).unwrap();
}

#[derive(Default)]
struct Samples(
    BTreeMap<&'static str, Vec<f64>>,
    BTreeMap<&'static str, usize>,
);

impl Samples {
    fn add(&mut self, kind: &'static str, ms: f64, ok: bool) {
        self.0.entry(kind).or_default().push(ms);
        if !ok {
            *self.1.entry(kind).or_default() += 1;
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (students, imported) = if full { (30, 200) } else { (5, 20) };
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    config.log.level = "warn".into();
    config.rate_limit.api_per_client = 0; // the whole class is one address here
    config.rate_limit.login_per_client = 0;
    config.models.dir = root().join("models");
    let real = full
        && config
            .models
            .dir
            .join("all-minilm-l6-v2/model.safetensors")
            .is_file()
        && config.models.dir.join("qwen2.5-0.5b-instruct").is_dir();
    config.models.fake = !real;
    let models = Models::from_config(&config.models).unwrap();
    let app: Arc<App> = App::open_with(config, models).unwrap();
    let runner = smartcourse::jobs::runner::start(app.clone()).await.unwrap();

    // The demo course, published; the class's accounts (passwords hashed as at sign-up).
    let demo = root().join("assets/demo-course");
    let report = smartcourse::packages::import(&app, &demo, None, true)
        .await
        .unwrap();
    let course = report.course_id;
    let workflow = report.workflow_id.unwrap();
    while app
        .db
        .read({
            let registry = app.jobs.clone();
            move |c| smartcourse::jobs::workflow::status(c, &registry, Viewer::All, workflow)
        })
        .await
        .unwrap()
        .status
        != "COMPLETED"
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..students {
        let prepared = accounts::prepare(&NewUser {
            email: format!("kid{i}@class.test"),
            password: "a-good-long-password".into(),
            full_name: format!("Kid {i}"),
        })
        .unwrap();
        app.db
            .write(move |tx| {
                accounts::create_user(tx, &Actor::System, prepared, Role::Student).map(|_| ())
            })
            .await
            .unwrap();
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(smartcourse::server::serve_on(
        listener,
        app.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let samples = Arc::new(Mutex::new(Samples::default()));
    let started = Instant::now();

    // The teacher's import, running through the class.
    let pkg = dir.path().join("pkg");
    package(&pkg, imported);
    let import =
        smartcourse::packages::pipeline::start(&app, Actor::System, pkg, None, true, false)
            .await
            .unwrap();

    // The tutor, answering one question after another meanwhile.
    let tutor = {
        let (http, url, samples) = (http.clone(), url.clone(), samples.clone());
        tokio::spawn(async move {
            let token = login(&http, &url, "kid0@class.test").await.1.unwrap();
            let _ = http
                .post(format!("{url}/api/courses/{course}/enroll"))
                .bearer_auth(&token)
                .send()
                .await;
            for q in [
                "How do you add fractions with the same denominator?",
                "What is an equivalent fraction?",
                "What is a half?",
            ] {
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/api/ai/ask"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"course_id": course, "question": q}))
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) if r.status() == 200 => {
                        r.text().await.is_ok_and(|t| t.contains("event: done"))
                    }
                    _ => false,
                };
                samples.lock().unwrap().add(
                    "tutor answer (whole stream)",
                    t.elapsed().as_secs_f64() * 1000.0,
                    ok,
                );
            }
        })
    };

    let lessons: Vec<i64> = app
        .db
        .read(move |c| {
            let mut s = c.prepare("SELECT id FROM lessons WHERE course_id = ?1 ORDER BY id")?;
            Ok(s.query_map([course], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
        .unwrap();
    let mut class = Vec::new();
    for i in 0..students {
        let (http, url, samples, lessons) =
            (http.clone(), url.clone(), samples.clone(), lessons.clone());
        class.push(tokio::spawn(async move {
            let (ms, token) = login(&http, &url, &format!("kid{i}@class.test")).await;
            samples.lock().unwrap().add("log in", ms, token.is_some());
            let Some(token) = token else { return };
            let t = Instant::now();
            let r = http
                .post(format!("{url}/api/courses/{course}/enroll"))
                .bearer_auth(&token)
                .send()
                .await;
            let ok = r.is_ok_and(|r| r.status() == 201 || r.status() == 409);
            samples
                .lock()
                .unwrap()
                .add("enrol", t.elapsed().as_secs_f64() * 1000.0, ok);
            for lesson in &lessons {
                let t = Instant::now();
                let r = http
                    .get(format!("{url}/lessons/{lesson}"))
                    .header("cookie", format!("smartcourse_token={token}"))
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                };
                samples.lock().unwrap().add(
                    "open a lesson (page)",
                    t.elapsed().as_secs_f64() * 1000.0,
                    ok,
                );
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/api/lessons/{lesson}/complete"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let ok = r.is_ok_and(|r| r.status().is_success());
                samples.lock().unwrap().add(
                    "mark complete",
                    t.elapsed().as_secs_f64() * 1000.0,
                    ok,
                );
            }
        }));
    }
    for s in class {
        s.await.unwrap();
    }
    let class_done = started.elapsed();
    tutor.await.unwrap();
    loop {
        let registry = app.jobs.clone();
        let s = app
            .db
            .read(move |c| smartcourse::jobs::workflow::status(c, &registry, Viewer::All, import))
            .await
            .unwrap();
        if !matches!(s.status.as_str(), "QUEUED" | "RUNNING") {
            assert_eq!(s.status, "COMPLETED", "{s:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let import_done = started.elapsed();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    runner.stop(Duration::from_secs(10)).await;

    println!(
        "models: {}; {students} students, {} lessons each; class done in {:.1} s; import of {imported} lessons done in {:.1} s",
        if real {
            "real (all-MiniLM-L6-v2, Qwen2.5-0.5B)"
        } else {
            "stand-ins"
        },
        lessons.len(),
        class_done.as_secs_f64(),
        import_done.as_secs_f64()
    );
    println!("| request | count | errors | p50 | p95 | p99 |");
    println!("|---|---|---|---|---|---|");
    let mut s = samples.lock().unwrap();
    let errors = s.1.clone();
    let mut total_errors = 0;
    for (kind, v) in s.0.iter_mut() {
        let e = errors.get(kind).copied().unwrap_or(0);
        total_errors += e;
        println!(
            "| {kind} | {} | {e} | {:.1} ms | {:.1} ms | {:.1} ms |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.95),
            pct(v, 0.99)
        );
    }
    assert_eq!(total_errors, 0, "requests failed during the class");
}

/// Logs in; (milliseconds, the token if it worked).
async fn login(http: &reqwest::Client, url: &str, email: &str) -> (f64, Option<String>) {
    let t = Instant::now();
    let r = http
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": email, "password": "a-good-long-password"}))
        .send()
        .await;
    let token = match r {
        Ok(r) if r.status() == 200 => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["access_token"].as_str().map(str::to_owned)),
        _ => None,
    };
    (t.elapsed().as_secs_f64() * 1000.0, token)
}
