//! The model layer against its peers, in the same run, on the same machine and thread count.
//!
//! `cargo bench --bench models` (or `just bench`): embeddings (sentences/s at batch 1 and 32 on chunk-sized
//! passages from the SQuAD sample) for candle, sentence-transformers (PyTorch CPU) and ONNX Runtime int8; the
//! LLM (prompt tokens/s, generated tokens/s, time to first token) for candle on SmolLM2-135M and
//! Qwen2.5-0.5B, and llama.cpp (llama-cpp-python) on the same GGUF files and prompt. Peers run through
//! `benches/peers.py` and are reported as skipped when their Python package is missing. Under `cargo test` a
//! small smoke version runs without peers.

use std::path::{Path, PathBuf};
use std::time::Instant;

use smartcourse::ml::embed::{BertEmbedder, Embedder};
use smartcourse::ml::generate::GgufGenerator;
use smartcourse::ml::{ChatMessage, GenerateParams, Generator};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn passages(n: usize) -> Vec<String> {
    let corpus = root().join("../shared/samples/eval/squad2-haystack-small/beir/corpus.jsonl");
    let text = std::fs::read_to_string(&corpus).unwrap_or_default();
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|d| d["text"].as_str().unwrap_or("").to_owned())
        .collect();
    if out.is_empty() {
        out.push("Photosynthesis turns light, water and carbon dioxide into sugar. ".repeat(12));
    }
    out.into_iter().cycle().take(n).collect()
}

fn peers(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg(root().join("benches/peers.py"))
        .args(args)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
        }
        Ok(o) => {
            serde_json::json!({"error": String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("").to_owned()})
        }
        Err(e) => serde_json::json!({"error": e.to_string()}),
    }
}

fn bench_embeddings(full: bool, threads: usize) {
    let dir = root().join("models/all-minilm-l6-v2");
    if !dir.join("model.safetensors").is_file() {
        println!(
            "embeddings: skipped, {} missing (just models)",
            dir.display()
        );
        return;
    }
    let texts = passages(if full { 128 } else { 8 });
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let e = BertEmbedder::new(dir, candle_core::Device::Cpu);
    e.embed(&refs[..2]).unwrap();
    let best = |f: &dyn Fn()| {
        (0..if full { 3 } else { 1 })
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let b1 = refs.len() as f64
        / best(&|| {
            for t in &refs {
                e.embed(&[t]).unwrap();
            }
        });
    let b32 = refs.len() as f64
        / best(&|| {
            e.embed(&refs).unwrap();
        });
    println!("| embeddings | batch 1 | batch 32 |\n|---|---|---|");
    println!("| candle (SmartCourse), fp32 | {b1:.1} sentences/s | {b32:.1} sentences/s |");
    if full {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_string(&texts).unwrap()).unwrap();
        let p = peers(&["embed", file.path().to_str().unwrap(), &threads.to_string()]);
        for (name, label) in [
            ("pytorch", "sentence-transformers (PyTorch CPU), fp32"),
            ("onnx_int8", "ONNX Runtime, int8"),
        ] {
            let r = &p[name];
            match (r["batch1"].as_f64(), r["batch32"].as_f64()) {
                (Some(a), Some(b)) => println!(
                    "| {label} ({}) | {a:.1} sentences/s (candle {:.2}x) | {b:.1} sentences/s (candle {:.2}x) |",
                    r["version"].as_str().unwrap_or(""),
                    b1 / a,
                    b32 / b
                ),
                _ => println!(
                    "| {label} | skipped: {} | |",
                    if r.is_null() { &p } else { r }
                ),
            }
        }
    }
    println!();
}

fn bench_llm(full: bool, threads: usize, name: &str, file: &str) {
    let path = root().join("models").join(name).join(file);
    if !path.is_file() {
        println!("{name}: skipped, {} missing (just models)", path.display());
        return;
    }
    let g = GgufGenerator::new(path.clone(), candle_core::Device::Cpu);
    let lesson = "A decorator in Python is a function that takes another function and returns a new function that adds behaviour to it, without changing the original function's code. You apply it with the @ symbol on the line above a function definition, for example @staticmethod or @functools.lru_cache. Decorators are used for logging, caching, access control and timing.";
    let messages = vec![
        ChatMessage::new(
            "system",
            "You are a helpful tutor. Answer using only the numbered sources, citing them like [1].",
        ),
        ChatMessage::new(
            "user",
            format!("Sources:\n[1] (Decorators) {lesson}\n\nQuestion: What is a Python decorator?"),
        ),
    ];
    let max = if full { 128 } else { 8 };
    let params = GenerateParams {
        max_new_tokens: max,
        ..Default::default()
    };
    let started = Instant::now();
    g.ensure_loaded().unwrap();
    let load_ms = started.elapsed().as_millis();
    let mut text = String::new();
    let stats = g
        .generate(&messages, &params, &mut |t| {
            text.push_str(t);
            true
        })
        .unwrap();
    println!(
        "| candle (SmartCourse), {name} | {} | {:.1} | {:.1} | {:.0} ms | {} | load {load_ms} ms |",
        stats.prompt_tokens,
        stats.prompt_tps(),
        stats.generate_tps(),
        stats.first_token_ms,
        stats.generated_tokens
    );
    println!("  answer: {:?}", text.chars().take(300).collect::<String>());
    if full {
        let prompt = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(prompt.path(), serde_json::to_string(&messages).unwrap()).unwrap();
        let p = peers(&[
            "llm",
            path.to_str().unwrap(),
            prompt.path().to_str().unwrap(),
            &threads.to_string(),
            &max.to_string(),
        ]);
        let r = &p["llama_cpp"];
        match r["generate_tps"].as_f64() {
            Some(tps) => {
                println!(
                    "| llama.cpp ({}), {name} | | | {tps:.1} (candle {:.2}x) | {:.0} ms | {} | |",
                    r["version"].as_str().unwrap_or(""),
                    stats.generate_tps() / tps,
                    r["first_token_ms"].as_f64().unwrap_or(0.0),
                    r["tokens"]
                );
                println!(
                    "  answer: {:?}",
                    r["text"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(300)
                        .collect::<String>()
                );
            }
            None => println!(
                "| llama.cpp, {name} | skipped: {} |",
                if r.is_null() { &p } else { r }
            ),
        }
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let threads = candle_core::utils::get_num_threads();
    println!(
        "device: {}, {threads} threads{}",
        smartcourse::ml::device_name(&candle_core::Device::Cpu),
        if full {
            ""
        } else {
            " (smoke run: small sizes, no peers)"
        }
    );
    bench_embeddings(full, threads);
    println!(
        "| LLM | prompt tokens | prompt tok/s | generated tok/s | first token | tokens | |\n|---|---|---|---|---|---|---|"
    );
    bench_llm(
        full,
        threads,
        "smollm2-135m-instruct",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    );
    if full {
        bench_llm(
            full,
            threads,
            "qwen2.5-0.5b-instruct",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        );
    }
}
