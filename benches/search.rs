//! Search latency at 1k, 10k and 100k chunks: hybrid retrieval (BM25 + vectors, fused) of one course, exact
//! vector comparison against the HNSW index, p50/p95 over a set of queries; and the HNSW index's first search
//! when it is built, against the first search after a restart, when the saved index is loaded.
//!
//! `cargo bench --bench search` (or `just bench`). The chunks are synthetic (words drawn from the SQuAD
//! sample's vocabulary, random unit vectors) and written straight into the tables, so the measurement is the
//! search, not the embedding model; the query is embedded by the stand-in embedder (microseconds). Under
//! `cargo test` a small smoke version runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smartcourse::App;
use smartcourse::config::Config;
use smartcourse::ml::Models;
use smartcourse::search::{self, Mode};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn vocabulary() -> Vec<String> {
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/eval/squad2-haystack-small/beir/corpus.jsonl"
    );
    let text = std::fs::read_to_string(corpus)
        .unwrap_or_else(|_| "light water plant cell energy river city king war".into());
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() > 3)
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

fn config(dir: &std::path::Path, exact_below: usize) -> Config {
    let mut config = Config {
        data: dir.join("data"),
        ..Config::default()
    };
    config.log.level = "warn".into();
    config.search.exact_below = exact_below;
    // Random vectors are all about equally far from a query: no floor.
    config.search.min_similarity = -1.0;
    config
}

async fn setup(chunks: usize, exact_below: usize) -> (tempfile::TempDir, Arc<App>, i64) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open_with(config(dir.path(), exact_below), Models::fake()).unwrap();
    let words = vocabulary();
    let course = app
        .db
        .write(move |tx| {
            let now = "2026-01-01T00:00:00Z";
            tx.execute("INSERT INTO users (email, password_hash, full_name, role, created_at, updated_at) VALUES ('b@x', 'x', 'B', 'instructor', ?1, ?1)", [now])?;
            let owner = tx.last_insert_rowid();
            tx.execute("INSERT INTO courses (owner_id, title, status, created_at, updated_at) VALUES (?1, 'Bench', 'published', ?2, ?2)", rusqlite::params![owner, now])?;
            let course = tx.last_insert_rowid();
            tx.execute("INSERT INTO modules (course_id, title, position) VALUES (?1, 'M', 0)", [course])?;
            let module = tx.last_insert_rowid();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let per_lesson = 10;
            for l in 0..chunks.div_ceil(per_lesson) {
                tx.execute(
                    "INSERT INTO lessons (course_id, module_id, title, position, body_sha256, body_bytes, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'bench', 0, ?5, ?5)",
                    rusqlite::params![course, module, format!("Lesson {l}"), l as i64, now],
                )?;
                let lesson = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO lesson_index_state (lesson_id, body_sha256, model, chunks, indexed_at) VALUES (?1, 'bench', 'fake-hash', ?2, ?3)",
                    rusqlite::params![lesson, per_lesson as i64, now],
                )?;
                for o in 0..per_lesson {
                    let text: Vec<&str> = (0..120).map(|_| words[(rng.next() % words.len() as u64) as usize].as_str()).collect();
                    let mut v: Vec<f32> = (0..384).map(|_| rng.unit()).collect();
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= n);
                    let blob: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    tx.execute(
                        "INSERT INTO chunks (lesson_id, course_id, ordinal, text, vector) VALUES (?1, ?2, ?3, ?4, ?5)",
                        rusqlite::params![lesson, course, o as i64, text.join(" "), blob],
                    )?;
                }
            }
            Ok(course)
        })
        .await
        .unwrap();
    search::index_course(&app, course).await.unwrap();
    (dir, app, course)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

async fn measure(app: &Arc<App>, course: i64, queries: &[String], mode: Mode) -> (f64, f64) {
    // Warm-up: loads the vectors (and builds the HNSW index when it is used).
    search::retrieve(app, vec![course], queries[0].clone(), 10, mode)
        .await
        .unwrap();
    let mut times = Vec::new();
    for q in queries {
        let t = Instant::now();
        let hits = search::retrieve(app, vec![course], q.clone(), 10, mode)
            .await
            .unwrap();
        times.push(t.elapsed());
        assert!(!hits.is_empty());
    }
    times.sort();
    (pct(&times, 0.5), pct(&times, 0.95))
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full {
        &[1_000, 10_000, 100_000]
    } else {
        &[200]
    };
    let words = vocabulary();
    let queries: Vec<String> = (0..if full { 200 } else { 10 })
        .map(|i| {
            format!(
                "{} {} {}",
                words[(i * 7919) % words.len()],
                words[(i * 104_729) % words.len()],
                words[(i * 15_485_863) % words.len()]
            )
        })
        .collect();
    println!(
        "| chunks | vectors | hybrid p50 | hybrid p95 | BM25 only p50 | vectors only p50 |\n|---|---|---|---|---|---|"
    );
    let mut restarts = Vec::new();
    for &n in sizes {
        for (label, exact_below) in [("exact", usize::MAX), ("HNSW", 0)] {
            let t = Instant::now();
            let (dir, app, course) = setup(n, exact_below).await;
            let setup_s = t.elapsed().as_secs_f64();
            let app = if exact_below == 0 {
                // The first vector search builds the HNSW index (and saves it); after a restart it is loaded.
                let built = first_search(&app, course, &queries[0]).await;
                drop(app);
                let app = App::open_with(config(dir.path(), 0), Models::fake()).unwrap();
                let loaded = first_search(&app, course, &queries[0]).await;
                restarts.push(format!("| {n} | {built:.0} ms | {loaded:.0} ms |"));
                app
            } else {
                app
            };
            let (h50, h95) = measure(&app, course, &queries, Mode::Hybrid).await;
            let (t50, _) = measure(&app, course, &queries, Mode::Text).await;
            let (v50, _) = measure(&app, course, &queries, Mode::Vector).await;
            println!(
                "| {n} | {label} | {h50:.2} ms | {h95:.2} ms | {t50:.2} ms | {v50:.2} ms |  (setup {setup_s:.0} s)"
            );
        }
    }
    println!(
        "\n| chunks | first vector search, HNSW index built | first after a restart, saved index loaded |\n|---|---|---|"
    );
    for line in restarts {
        println!("{line}");
    }
}

/// How long the first vector-only search takes (ms).
async fn first_search(app: &Arc<App>, course: i64, q: &str) -> f64 {
    let t = Instant::now();
    search::retrieve(app, vec![course], q.to_owned(), 10, Mode::Vector)
        .await
        .unwrap();
    t.elapsed().as_secs_f64() * 1000.0
}
