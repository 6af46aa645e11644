//! Time from `import` to searchable: each real sample package in ../shared/samples and a generated 500-lesson
//! course, step by step (read and check the package, store lessons and files, index: chunk + embed + text
//! index), with chunks per second for the index step.
//!
//! `cargo bench --bench import` (or `just bench`) uses the real embedding model (all-MiniLM-L6-v2 under
//! models/, `just models`); without it, the stand-in embedder, and says so. Under `cargo test` a smoke version
//! runs (20 generated lessons).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use smartcourse::App;
use smartcourse::config::Config;
use smartcourse::ml::Models;
use smartcourse::packages;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Words to write lessons with: the SQuAD sample's passages, in order (real prose, so chunks are realistic).
fn prose() -> Vec<String> {
    let corpus = root().join("../shared/samples/eval/squad2-haystack-small/beir/corpus.jsonl");
    let text = std::fs::read_to_string(corpus).unwrap_or_default();
    let mut words: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .flat_map(|t| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    if words.is_empty() {
        words = "light water plant cell energy river city king war"
            .split(' ')
            .map(str::to_owned)
            .collect();
    }
    words
}

/// A SmartCourse package of `lessons` lessons of ~350 words, 50 to a module.
fn generated(dir: &Path, lessons: usize) {
    let words = prose();
    let mut toml = String::from("format = 1\ntitle = \"Generated course\"\n");
    let mut at = 0;
    for i in 0..lessons {
        if i % 50 == 0 {
            toml.push_str(&format!(
                "\n[[module]]\ntitle = \"Module {}\"\n",
                i / 50 + 1
            ));
        }
        toml.push_str(&format!(
            "[[module.lesson]]\ntitle = \"Lesson {}\"\nfile = \"lessons/{i:04}.md\"\n",
            i + 1
        ));
        let mut body = format!("# Lesson {}\n\n", i + 1);
        for p in 0..5 {
            let para: Vec<&str> = (0..70)
                .map(|k| words[(at + k) % words.len()].as_str())
                .collect();
            at += 70;
            body.push_str(&para.join(" "));
            body.push_str(if p < 4 { "\n\n" } else { "\n" });
        }
        std::fs::create_dir_all(dir.join("lessons")).unwrap();
        std::fs::write(dir.join(format!("lessons/{i:04}.md")), body).unwrap();
    }
    std::fs::write(dir.join("course.toml"), toml).unwrap();
}

struct Row {
    name: String,
    lessons: usize,
    chunks: usize,
    read_s: f64,
    store_s: f64,
    index_s: f64,
}

async fn measure(app: &Arc<App>, name: &str, path: &Path) -> Row {
    let limits = app.config.uploads.clone();
    let scratch = app.data.join("tmp");
    let t = Instant::now();
    let (_source, package) = packages::read_package(path, &limits, &scratch).unwrap();
    let read_s = t.elapsed().as_secs_f64();
    drop(package);
    let t = Instant::now();
    let report = packages::import(app, path, None, false).await.unwrap();
    // `import` reads the package again before storing it: take that out.
    let store_s = (t.elapsed().as_secs_f64() - read_s).max(0.0);
    let t = Instant::now();
    let index = smartcourse::search::index_course(app, report.course_id)
        .await
        .unwrap();
    let index_s = t.elapsed().as_secs_f64();
    Row {
        name: name.to_owned(),
        lessons: report.lessons,
        chunks: index.chunks,
        read_s,
        store_s,
        index_s,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    config.log.level = "warn".into();
    config.models.dir = root().join("models");
    let real = config
        .models
        .dir
        .join("all-minilm-l6-v2/model.safetensors")
        .is_file();
    config.models.fake = !real;
    let models = Models::from_config(&config.models).unwrap();
    let app = App::open_with(config, models).unwrap();
    let samples = root().join("../shared/samples");
    let mut packages: Vec<(String, PathBuf)> = [
        "common-cartridge/canvas_cc_gem_course.imscc",
        "common-cartridge/latex.imscc",
        "common-cartridge/multiple-pages.imscc",
        "scorm/golf_ContentPackagingOneFilePerSCO_SCORM12.zip",
        "scorm/golf_RuntimeBasicCalls_SCORM20043rdEdition.zip",
        "olx/openedx-test-course.tar.gz",
    ]
    .iter()
    .map(|p| (p.to_string(), samples.join(p)))
    .filter(|(_, p)| p.is_file())
    .collect();
    let generated_dir = dir.path().join("generated");
    let n = if full { 500 } else { 20 };
    generated(&generated_dir, n);
    packages.push((format!("generated, {n} lessons"), generated_dir));
    // The model loads on first use: not part of any import.
    smartcourse::ml::Embedder::embed(app.models.embedder.as_ref(), &["warm up"]).unwrap();

    println!(
        "embedder: {}",
        if real {
            "all-MiniLM-L6-v2 (candle, CPU)"
        } else {
            "stand-in (models/ has no all-MiniLM-L6-v2: run `just models` for real figures)"
        }
    );
    println!(
        "| package | lessons | chunks | read + check | store | index (chunk, embed, text index) | chunks/s indexed | import to searchable |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, path) in packages {
        let r = measure(&app, &name, &path).await;
        println!(
            "| {} | {} | {} | {:.3} s | {:.3} s | {:.2} s | {:.1} | {:.2} s |",
            r.name,
            r.lessons,
            r.chunks,
            r.read_s,
            r.store_s,
            r.index_s,
            r.chunks as f64 / r.index_s.max(1e-9),
            r.read_s + r.store_s + r.index_s
        );
    }
}
