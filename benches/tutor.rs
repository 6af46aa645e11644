//! `cargo bench --bench tutor`: the tutor's answers, judged on their words, over HTTP on a real server with the
//! real models (Qwen2.5 by default; `SMARTCOURSE_BENCH_LLM=smollm2-135m-instruct` for the small one).
//!
//! The questions: the demo course's and the sample packages' from `tests/fixtures/tutor-questions.json` (each
//! with phrases one of which a right answer holds, and off-topic questions to refuse), and the SQuAD 2.0
//! sample's first article made into a course, with its answerable questions (a right answer holds one of
//! SQuAD's answers) and its unanswerable ones (reported: SQuAD writes them to sound answerable, so refusing
//! them is a higher bar than off-topic). For each set it prints: right answers, answers refused though the
//! course holds them, off-topic questions refused, the evidence holding the answer, prompt tokens, and the
//! time to the evidence and to the first token (p50 and p95). The test suite's subset (the same judging of
//! the evidence, with the embedder only) is `tests/integration/tutor.rs`.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it asks three demo questions of the small model,
//! as a smoke test.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tracing log, kept to read each answer's prompt size from its "tutor answered" line.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// Prompt tokens of the answers logged since `from` bytes, and the log's length now.
    fn prompt_tokens_since(&self, from: usize) -> (Vec<u64>, usize) {
        let bytes = self.0.lock().unwrap();
        let text = String::from_utf8_lossy(&bytes[from.min(bytes.len())..]).into_owned();
        let tokens = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "tutor answered")
            .filter_map(|v| v["fields"]["prompt_tokens"].as_u64())
            .collect();
        (tokens, bytes.len())
    }
}

/// One question and how it was answered.
struct Asked {
    refused: bool,
    answer: String,
    evidence: Vec<String>,
    to_evidence: Option<Duration>,
    to_first_token: Option<Duration>,
    prompt_tokens: Option<u64>,
}

struct Server {
    base: String,
    token: String,
    client: reqwest::Client,
    log: Log,
}

impl Server {
    async fn ask(&self, course: i64, question: &str) -> Asked {
        let logged = self.log.prompt_tokens_since(usize::MAX).1;
        let started = Instant::now();
        let mut r = self
            .client
            .post(format!("{}/api/ai/ask", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"course_id": course, "question": question}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{question}: {}", r.status());
        let (mut body, mut seen) = (String::new(), 0);
        let mut asked = Asked {
            refused: false,
            answer: String::new(),
            evidence: Vec::new(),
            to_evidence: None,
            to_first_token: None,
            prompt_tokens: None,
        };
        while let Some(chunk) = r.chunk().await.unwrap() {
            body.push_str(&String::from_utf8_lossy(&chunk));
            // Whole events only: each ends with a blank line.
            while let Some(end) = body[seen..].find("\n\n") {
                let event = body[seen..seen + end].to_owned();
                seen += end + 2;
                let name = event
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap_or("");
                let data: Value = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                match name {
                    "evidence" => {
                        asked.to_evidence.get_or_insert(started.elapsed());
                        asked.evidence = data
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e["text"].as_str().map(str::to_lowercase))
                            .collect();
                    }
                    "token" => {
                        asked.to_first_token.get_or_insert(started.elapsed());
                        asked.answer.push_str(data["text"].as_str().unwrap_or(""));
                    }
                    "replace" => asked.answer = data["text"].as_str().unwrap_or("").to_owned(),
                    "done" => asked.refused = data["abstained"] == true,
                    "error" => panic!("{question}: {data}"),
                    _ => {}
                }
            }
        }
        asked.prompt_tokens = self.log.prompt_tokens_since(logged).0.first().copied();
        asked
    }
}

/// A question to answer, with the phrases one of which a right answer holds.
struct Question {
    q: String,
    expect: Vec<String>,
}

struct Set {
    name: String,
    course: i64,
    answerable: Vec<Question>,
    off_topic: Vec<String>,
    /// Off-topic questions are to be refused; SQuAD's unanswerable ones are only counted.
    must_refuse: bool,
}

fn holds(text: &str, expect: &[String]) -> bool {
    let text = text.to_lowercase();
    expect.iter().any(|p| text.contains(&p.to_lowercase()))
}

fn percentile(mut v: Vec<Duration>, p: f64) -> String {
    if v.is_empty() {
        return "–".into();
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.2} s", v[i].as_secs_f64())
}

async fn run_set(server: &Server, set: &Set, show_misses: bool) {
    let (mut right, mut wrong_refusals, mut evidence_holds) = (0, 0, 0);
    let (mut to_evidence, mut to_token, mut prompt) = (Vec::new(), Vec::new(), Vec::new());
    let mut misses = Vec::new();
    for item in &set.answerable {
        let a = server.ask(set.course, &item.q).await;
        to_evidence.extend(a.to_evidence);
        to_token.extend(a.to_first_token);
        prompt.extend(a.prompt_tokens);
        if a.evidence.iter().any(|e| holds(e, &item.expect)) {
            evidence_holds += 1;
        }
        if a.refused {
            wrong_refusals += 1;
        }
        if !a.refused && holds(&a.answer, &item.expect) {
            right += 1;
        } else {
            misses.push(format!(
                "{}{} → {:?}",
                item.q,
                if a.refused { " (refused)" } else { "" },
                a.answer.chars().take(160).collect::<String>()
            ));
        }
    }
    let mut refused = 0;
    for q in &set.off_topic {
        let a = server.ask(set.course, q).await;
        to_evidence.extend(a.to_evidence);
        if a.refused {
            refused += 1;
        }
    }
    let n = set.answerable.len().max(1);
    let mean_prompt = if prompt.is_empty() {
        "–".into()
    } else {
        format!(
            "{:.0}",
            prompt.iter().sum::<u64>() as f64 / prompt.len() as f64
        )
    };
    println!(
        "| {} | {}/{} ({:.0} %) | {wrong_refusals} | {refused}/{} {} | {evidence_holds}/{} | {mean_prompt} | {} / {} | {} / {} |",
        set.name,
        right,
        set.answerable.len(),
        right as f64 * 100.0 / n as f64,
        set.off_topic.len(),
        if set.must_refuse {
            "off-topic"
        } else {
            "unanswerable"
        },
        set.answerable.len(),
        percentile(to_evidence.clone(), 0.5),
        percentile(to_evidence, 0.95),
        percentile(to_token.clone(), 0.5),
        percentile(to_token, 0.95),
    );
    if show_misses {
        for m in misses {
            println!("    miss: {m}");
        }
    }
}

fn questions(v: &Value) -> Vec<Question> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|item| Question {
            q: item["q"].as_str().unwrap().to_owned(),
            expect: item["expect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap().to_owned())
        .collect()
}

/// The SQuAD sample's first article as a SmartCourse package (a lesson per paragraph), and its questions:
/// `per_kind` answerable and as many unanswerable.
fn squad_package(dir: &Path, per_kind: usize) -> (Vec<Question>, Vec<String>) {
    let squad: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("../shared/samples/eval/squad2-haystack-small/small.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let article = &squad["data"][0];
    let title = article["title"].as_str().unwrap();
    std::fs::create_dir_all(dir.join("lessons")).unwrap();
    let mut manifest = format!(
        "format = 1\ntitle = \"SQuAD: {title}\"\ndescription = \"The SQuAD 2.0 sample's article, a lesson per paragraph.\"\n\n[[module]]\ntitle = \"{title}\"\n"
    );
    let (mut answerable, mut unanswerable) = (Vec::new(), Vec::new());
    for (i, p) in article["paragraphs"].as_array().unwrap().iter().enumerate() {
        let file = format!("lessons/{i:02}.md");
        std::fs::write(dir.join(&file), p["context"].as_str().unwrap()).unwrap();
        manifest.push_str(&format!(
            "\n[[module.lesson]]\ntitle = \"{title}, part {}\"\nfile = \"{file}\"\n",
            i + 1
        ));
        for qa in p["qas"].as_array().unwrap() {
            let q = qa["question"].as_str().unwrap().trim().to_owned();
            if qa["is_impossible"] == true {
                if unanswerable.len() < per_kind {
                    unanswerable.push(q);
                }
            } else if answerable.len() < per_kind {
                let expect = qa["answers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["text"].as_str().unwrap().to_owned())
                    .collect();
                answerable.push(Question { q, expect });
            }
        }
    }
    std::fs::write(dir.join("course.toml"), manifest).unwrap();
    (answerable, unanswerable)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let name = std::env::var("SMARTCOURSE_BENCH_LLM").unwrap_or_else(|_| {
        if full {
            "qwen2.5-0.5b-instruct".into()
        } else {
            "smollm2-135m-instruct".into()
        }
    });
    let models = root().join("models");
    let llm = std::fs::read_dir(models.join(&name)).ok().and_then(|d| {
        d.filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "gguf"))
    });
    let embedding = models.join("all-minilm-l6-v2");
    let Some(llm) = llm.filter(|_| embedding.join("model.safetensors").is_file()) else {
        println!(
            "tutor: skipped, models missing (just models; just test-models for the small one)"
        );
        return;
    };
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "smartcourse::tutor=info",
        ))
        .with_writer(move || writer.clone())
        .init();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = smartcourse::config::Config {
            data: dir.path().join("data"),
            ..Default::default()
        };
        // A free port for the package pages too (server.packages_port), so two runs do not collide.
        config.server.addr = "127.0.0.1:0".parse().unwrap();
        config.models.embedding = embedding;
        config.models.llm = llm;
        if !full {
            config.tutor.max_answer_tokens = 16;
        }
        let app = smartcourse::App::open(config).unwrap();
        let runner = smartcourse::jobs::runner::start(app.clone()).await.unwrap();
        let import = |path: PathBuf| {
            let app = app.clone();
            async move {
                let report = smartcourse::packages::import(&app, &path, None, true)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let course = report.course_id;
                loop {
                    let published: bool = app
                        .db
                        .read(move |c| {
                            Ok(c.query_row(
                                "SELECT status = 'published' FROM courses WHERE id = ?1",
                                [course],
                                |r| r.get(0),
                            )?)
                        })
                        .await
                        .unwrap();
                    if published {
                        break course;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let fixture: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("tests/fixtures/tutor-questions.json")).unwrap(),
        )
        .unwrap();
        let demo = import(root().join("assets/demo-course")).await;
        let mut sets = vec![Set {
            name: "demo course".into(),
            course: demo,
            answerable: questions(&fixture["answerable"]),
            off_topic: strings(&fixture["off_topic"]),
            must_refuse: true,
        }];
        if full {
            for p in fixture["packages"].as_array().unwrap() {
                let course = import(root().join("../shared/samples").join(p["package"].as_str().unwrap())).await;
                sets.push(Set {
                    name: p["package"].as_str().unwrap().into(),
                    course,
                    answerable: questions(&p["answerable"]),
                    off_topic: strings(&p["off_topic"]),
                    must_refuse: true,
                });
            }
            let squad_dir = dir.path().join("squad");
            let (answerable, unanswerable) = squad_package(&squad_dir, 15);
            let course = import(squad_dir).await;
            sets.push(Set {
                name: "SQuAD 2.0 sample (Normans)".into(),
                course,
                answerable,
                off_topic: unanswerable,
                must_refuse: false,
            });
        } else {
            sets[0].answerable.truncate(2);
            sets[0].off_topic.truncate(1);
        }
        let input = smartcourse::accounts::NewUser {
            email: "b@school.test".into(),
            password: "a-bench-password-1".into(),
            full_name: "B".into(),
        };
        let prepared = smartcourse::accounts::prepare(&input).unwrap();
        app.db
            .write(move |tx| {
                smartcourse::accounts::create_user(
                    tx,
                    &smartcourse::accounts::Actor::System,
                    prepared,
                    smartcourse::accounts::Role::Admin,
                )
            })
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let serving = tokio::spawn(smartcourse::server::serve_on(
            listener,
            app.clone(),
            std::future::pending(),
        ));
        let client = reqwest::Client::new();
        let login: Value = client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": "b@school.test", "password": "a-bench-password-1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let server = Server {
            base,
            token: login["access_token"].as_str().unwrap().to_owned(),
            client,
            log,
        };
        // The first question loads the model: not timed with the rest.
        server.ask(demo, "Tell me about fractions and chapatis.").await;
        println!("model: {name}, {} threads", std::thread::available_parallelism().map_or(1, |n| n.get()));
        println!(
            "| questions | right answers | refused though answerable | refused | evidence holds the answer | prompt tokens (mean) | evidence p50 / p95 | first token p50 / p95 |\n|---|---|---|---|---|---|---|---|"
        );
        for set in &sets {
            run_set(&server, set, full).await;
        }
        serving.abort();
        runner.stop(Duration::from_secs(5)).await;
    });
}
