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
    // A Python with the peers installed (a virtualenv, say) can be named in SMARTCOURSE_BENCH_PYTHON.
    let python = std::env::var("SMARTCOURSE_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
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
    let many = refs.len() as f64
        / best(&|| {
            e.embed(&refs).unwrap();
        });
    let rate = |e: &BertEmbedder| {
        e.embed(&refs[..2]).unwrap();
        refs.len() as f64
            / best(&|| {
                e.embed(&refs).unwrap();
            })
    };
    let dir = || root().join("models/all-minilm-l6-v2");
    let cpu = candle_core::Device::Cpu;
    let theirs_in = |n| {
        BertEmbedder::new(dir(), cpu.clone())
            .with_candle_transformers()
            .with_batch(n)
    };
    let (b8, b32) = (rate(&theirs_in(8)), rate(&theirs_in(32)));
    let theirs = BertEmbedder::new(dir(), cpu.clone()).with_candle_transformers();
    let c1 = rate(&theirs);
    let approx = BertEmbedder::new(dir(), cpu.clone()).with_approximate_gelu();
    let a1 = rate(&approx);
    let x = e.embed(&refs).unwrap();
    let worst_to = |other: &BertEmbedder| {
        x.iter()
            .zip(other.embed(&refs).unwrap())
            .map(|(a, b)| smartcourse::ml::embed::dot(a, &b))
            .fold(1.0f32, f32::min)
    };
    let (worst, worst_own) = (worst_to(&approx), worst_to(&theirs));
    let words = refs
        .iter()
        .map(|t| t.split_whitespace().count())
        .sum::<usize>() as f64
        / refs.len() as f64;
    println!(
        "| embeddings ({} passages, {words:.0} words on average) | batch 1 | batch 32 |\n|---|---|---|",
        refs.len()
    );
    println!(
        "| SmartCourse's forward (candle GEMM, fused steps), fp32 | {b1:.1} sentences/s | {many:.1} sentences/s as SmartCourse calls it ({} texts per call, {} packed per pass) |",
        refs.len(),
        smartcourse::ml::embed::CPU_PACK
    );
    println!(
        "| candle-transformers BERT, fp32 | {c1:.1} sentences/s (cosine to SmartCourse's ≥ {worst_own:.6}) | {b32:.1} sentences/s (batch 8: {b8:.1}) |"
    );
    println!(
        "| candle-transformers BERT, tanh-approximate GELU | {a1:.1} sentences/s (cosine ≥ {worst:.5}) | |"
    );
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
                    "| {label} ({}) | {a:.1} sentences/s (candle {:.2}x) | {b:.1} sentences/s (candle as called {:.2}x) |",
                    r["version"].as_str().unwrap_or(""),
                    b1 / a,
                    many / b
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

/// A prompt shaped like the tutor's (its instructions, numbered passages of the demo course, a question) of
/// about `words` words of sources.
fn tutor_prompt(words: usize, question: &str, skip: usize) -> Vec<ChatMessage> {
    let mut paragraphs: Vec<(String, String)> = Vec::new();
    let mut dir: Vec<_> = std::fs::read_dir(root().join("assets/demo-course/lessons"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dir.sort();
    for path in dir {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let title = text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches('#')
            .trim()
            .to_owned();
        for p in text
            .split("\n\n")
            .filter(|p| p.split_whitespace().count() > 8)
        {
            paragraphs.push((title.clone(), p.replace('\n', " ")));
        }
    }
    let mut sources = String::from("Sources:\n");
    let (mut n, mut taken) = (0, 0);
    for (title, p) in paragraphs.iter().cycle().skip(skip) {
        if taken >= words {
            break;
        }
        n += 1;
        taken += p.split_whitespace().count();
        sources.push_str(&format!("[{n}] ({title}) {p}\n"));
    }
    sources.push_str(&format!("\nQuestion: {question}"));
    vec![
        ChatMessage::new(
            "system",
            "You are a friendly tutor for the course \"Fractions for beginners\". Answer the question from the numbered sources, in one to three short, simple sentences. Cite the source you use like [1].",
        ),
        ChatMessage::new("user", sources),
    ]
}

const QUESTIONS: [&str; 8] = [
    "What is a third?",
    "How do you add fractions with the same denominator?",
    "What is a half?",
    "What are equivalent fractions?",
    "What does the denominator tell you?",
    "How many quarters make a whole?",
    "What is a numerator?",
    "Is two quarters the same as one half?",
];

fn bench_llm(full: bool, threads: usize, name: &str, file: &str) {
    let path = root().join("models").join(name).join(file);
    if !path.is_file() {
        println!("{name}: skipped, {} missing (just models)", path.display());
        return;
    }
    let max = if full { 64 } else { 8 };
    let words = if full { 450 } else { 60 };
    let started = Instant::now();
    // SMARTCOURSE_BENCH_WRITING_SHARE: the engine's `models.llm_writing_share` (default 0.5).
    let share = std::env::var("SMARTCOURSE_BENCH_WRITING_SHARE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(smartcourse::ml::generate::WRITING_SHARE);
    let g = std::sync::Arc::new(GgufGenerator::with_options(
        path.clone(),
        candle_core::Device::Cpu,
        smartcourse::ml::generate::EngineOptions {
            writing_share: share,
            ..Default::default()
        },
    ));
    g.ensure_loaded().unwrap();
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let params = GenerateParams {
        max_new_tokens: max,
        repeat_penalty: 1.0,
        ..Default::default()
    };
    let prompts: Vec<Vec<ChatMessage>> = QUESTIONS
        .iter()
        .enumerate()
        .map(|(i, q)| tutor_prompt(words + 15 * i, q, i))
        .collect();
    // Warm-up (first-use allocations), then one question alone.
    g.generate(
        &tutor_prompt(20, "Hi", 0),
        &GenerateParams {
            max_new_tokens: 2,
            ..params.clone()
        },
        &mut |_| true,
    )
    .unwrap();
    let mut text = String::new();
    let one = g
        .generate(&prompts[0], &params, &mut |t| {
            text.push_str(t);
            true
        })
        .unwrap();
    // Eight at once, each on its own thread as the tutor's requests are.
    let n = if full { QUESTIONS.len() } else { 2 };
    let t0 = Instant::now();
    let runs: Vec<_> = prompts[..n]
        .iter()
        .cloned()
        .map(|m| {
            let (g, params) = (g.clone(), params.clone());
            std::thread::spawn(move || {
                let mut first = None;
                let mut at = Vec::new();
                let t = Instant::now();
                let stats = g
                    .generate(&m, &params, &mut |_| {
                        first.get_or_insert(t.elapsed());
                        at.push(t0.elapsed());
                        true
                    })
                    .unwrap();
                (first.unwrap_or_default(), stats.generated_tokens, at)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect::<Vec<_>>();
    let wall = t0.elapsed().as_secs_f64();
    let total: usize = runs.iter().map(|r| r.1).sum();
    let mut firsts: Vec<f64> = runs.iter().map(|r| r.0.as_secs_f64() * 1000.0).collect();
    firsts.sort_by(f64::total_cmp);
    let p95 = firsts[((firsts.len() - 1) as f64 * 0.95).round() as usize];
    let aggregate = total as f64 / wall;
    // When each answer was whole (its last token), from the moment the eight were asked.
    let mut done: Vec<f64> = runs
        .iter()
        .map(|r| r.2.last().map_or(0.0, |t| t.as_secs_f64()))
        .collect();
    done.sort_by(f64::total_cmp);
    let done_p50 = done[done.len() / 2];
    let done_first = done[0];
    // Once every prompt is read (the last first token), the answers still being written decode together:
    // the tokens written after that moment over the time until the last one (llama.cpp's "decode_tps" is the
    // same window: its batch reads every prompt first).
    let all_read = runs.iter().flat_map(|r| r.2.first()).max().copied();
    let decoding = all_read.map_or(0.0, |from| {
        let after: Vec<_> = runs
            .iter()
            .flat_map(|r| r.2.iter().filter(|t| **t > from))
            .collect();
        let until = after.iter().max().map_or(from, |t| **t);
        let window = (until - from).as_secs_f64();
        if window > 0.0 {
            after.len() as f64 / window
        } else {
            0.0
        }
    });
    println!(
        "| candle (SmartCourse), {name} | {load_ms:.0} ms | {} | {:.1} | {:.0} ms | {:.1} | {n}: {aggregate:.1} tok/s ({:.2}x one stream; {decoding:.1} tok/s once every prompt is read, {:.2}x one stream), p95 first token {p95:.0} ms; answers whole: first {done_first:.1} s, median {done_p50:.1} s (writing share {share}) |",
        one.prompt_tokens,
        one.prompt_tps(),
        one.first_token_ms,
        one.generate_tps(),
        aggregate / one.generate_tps().max(1e-9),
        decoding / one.generate_tps().max(1e-9),
    );
    println!("  answer: {:?}", text.chars().take(200).collect::<String>());
    // SMARTCOURSE_BENCH_PEERS=0 leaves llama.cpp out (its eight-question run takes minutes).
    if full && std::env::var("SMARTCOURSE_BENCH_PEERS").as_deref() != Ok("0") {
        let ids: Vec<Vec<u32>> = prompts.iter().map(|m| g.encode(m).unwrap()).collect();
        let job = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            job.path(),
            serde_json::json!({"prompts": ids, "threads": threads, "max_tokens": max}).to_string(),
        )
        .unwrap();
        let p = peers(&["llm", path.to_str().unwrap(), job.path().to_str().unwrap()]);
        let r = &p["llama_cpp"];
        match (
            r["one"]["prompt_tps"].as_f64(),
            r["one"]["generate_tps"].as_f64(),
        ) {
            (Some(ptps), Some(gtps)) => {
                let agg = r["many"]["aggregate_tps"].as_f64().unwrap_or(0.0);
                let decoding = r["many"]["decode_tps"].as_f64().unwrap_or(0.0);
                println!(
                    "| llama.cpp ({}), {name} | {:.0} ms | {} | {ptps:.1} (candle {:.2}x) | {:.0} ms | {gtps:.1} (candle {:.2}x) | {}: {agg:.1} tok/s (candle {:.2}x; {decoding:.1} tok/s once every prompt is read), p95 first token {:.0} ms; answers whole by {:.1} s (one batch) |",
                    r["version"].as_str().unwrap_or(""),
                    r["load_ms"].as_f64().unwrap_or(0.0),
                    r["one"]["prompt_tokens"],
                    one.prompt_tps() / ptps,
                    r["one"]["first_token_ms"].as_f64().unwrap_or(0.0),
                    one.generate_tps() / gtps,
                    r["many"]["sequences"],
                    aggregate / agg.max(1e-9),
                    r["many"]["p95_first_token_ms"].as_f64().unwrap_or(0.0),
                    r["many"]["total_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                );
            }
            _ => println!(
                "| llama.cpp, {name} | skipped: {} |",
                if r.is_null() { &p } else { r }
            ),
        }
    }
}

/// Decoding steps with 1, 2, 4 and 8 answers written together, each at the context of the tutor's long prompt
/// (every sequence starts from the same read prompt): what continuous batching gains once prompts are read,
/// without the scheduling around it (in the run above, prompts read in between make the answers start and
/// end at different times, so few steps carry all eight).
fn bench_decode_steps(full: bool, name: &str, file: &str) {
    use smartcourse::ml::generate::{encode_for, open_transformer};
    use smartcourse::ml::transformer::PromptWeights;
    let path = root().join("models").join(name).join(file);
    if !path.is_file() {
        return;
    }
    let prompt = encode_for(
        &path,
        &tutor_prompt(if full { 450 } else { 60 }, QUESTIONS[0], 0),
    )
    .unwrap();
    let model =
        open_transformer(&path, &candle_core::Device::Cpu, PromptWeights::Transient).unwrap();
    // SMARTCOURSE_BENCH_STEPS: more steps (for a profile of decoding alone).
    let steps = std::env::var("SMARTCOURSE_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 32 } else { 4 })
        .max(2);
    // Reading the prompt in chunks of different sizes: a smaller chunk lets answers being written advance
    // sooner, at the price of converting every weight once per chunk.
    let mut chunks = Vec::new();
    for chunk in [64usize, 128, 256] {
        let mut seq = model.sequence(prompt.len());
        let t = Instant::now();
        for part in prompt.chunks(chunk) {
            model.prefill(&mut seq, part).unwrap();
        }
        chunks.push(format!(
            "{chunk}: {:.1}",
            prompt.len() as f64 / t.elapsed().as_secs_f64()
        ));
    }
    println!(
        "| candle (SmartCourse), {name}, prompt read in chunks of | prompt tok/s {} |",
        chunks.join(", ")
    );
    let mut first = model.sequence(prompt.len() + steps + 1);
    model.prefill(&mut first, &prompt).unwrap();
    let read = first.snapshot(prompt.len()).unwrap();
    let mut one = 0.0;
    let mut cells = Vec::new();
    for n in [1usize, 2, 4, 8] {
        let mut seqs: Vec<_> = (0..n)
            .map(|_| {
                model
                    .sequence_from(&read, prompt.len() + steps + 1)
                    .unwrap()
            })
            .collect();
        // Different tokens per answer, as different questions would have.
        let tokens: Vec<u32> = (0..n as u32).map(|i| 100 + 37 * i).collect();
        let mut refs: Vec<_> = seqs.iter_mut().collect();
        model.decode(&mut refs, &tokens).unwrap();
        let t = Instant::now();
        for _ in 1..steps {
            model.decode(&mut refs, &tokens).unwrap();
        }
        let tps = (n * (steps - 1)) as f64 / t.elapsed().as_secs_f64();
        if n == 1 {
            one = tps;
        }
        cells.push(format!("{n}: {tps:.1} ({:.2}x)", tps / one));
    }
    println!(
        "| candle (SmartCourse), {name}, decoding together at a {}-token context | generated tok/s with {} |",
        prompt.len(),
        cells.join(", ")
    );
}

/// The tutor over HTTP: time to the first byte of the event stream (the `status` event, sent before the
/// model starts), to the first token, and to the end, for the demo course on the real server.
fn bench_tutor_http(full: bool, name: &str, file: &str) {
    let llm = root().join("models").join(name).join(file);
    let embedding = root().join("models/all-minilm-l6-v2");
    if !llm.is_file() || !embedding.join("model.safetensors").is_file() {
        println!("tutor over HTTP: skipped, models missing (just models)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = smartcourse::config::Config { data: dir.path().join("data"), ..Default::default() };
        config.log.level = "warn".into();
        // A free port for the package pages too (server.packages_port), so two runs do not collide.
        config.server.addr = "127.0.0.1:0".parse().unwrap();
        config.models.embedding = embedding;
        config.models.llm = llm;
        config.tutor.max_answer_tokens = if full { 128 } else { 8 };
        let app = smartcourse::App::open(config).unwrap();
        let runner = smartcourse::jobs::runner::start(app.clone()).await.unwrap();
        let demo = root().join("assets/demo-course");
        let report = smartcourse::packages::import(&app, &demo, None, true).await.unwrap();
        let course = report.course_id;
        loop {
            let published: bool = app
                .db
                .read(move |c| Ok(c.query_row("SELECT status = 'published' FROM courses WHERE id = ?1", [course], |r| r.get(0))?))
                .await
                .unwrap();
            if published {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let input = smartcourse::accounts::NewUser { email: "b@school.test".into(), password: "a-bench-password-1".into(), full_name: "B".into() };
        let prepared = smartcourse::accounts::prepare(&input).unwrap();
        app.db
            .write(move |tx| smartcourse::accounts::create_user(tx, &smartcourse::accounts::Actor::System, prepared, smartcourse::accounts::Role::Admin))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(smartcourse::server::serve_on(listener, app.clone(), std::future::pending()));
        let client = reqwest::Client::new();
        let login: serde_json::Value = client
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"email": "b@school.test", "password": "a-bench-password-1"}))
            .send().await.unwrap().json().await.unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();
        for (i, question) in ["How do you add two fractions with the same denominator?", "What is a fraction?"].iter().enumerate() {
            let started = Instant::now();
            let mut r = client
                .post(format!("{base}/api/ai/ask"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"course_id": course, "question": question}))
                .send().await.unwrap();
            let (mut first_byte, mut first_token) = (None, None);
            let mut body = String::new();
            while let Some(chunk) = r.chunk().await.unwrap() {
                first_byte.get_or_insert(started.elapsed());
                body.push_str(&String::from_utf8_lossy(&chunk));
                if first_token.is_none() && body.contains("event: token") {
                    first_token = Some(started.elapsed());
                }
            }
            let total = started.elapsed();
            println!(
                "| tutor over HTTP, {name}, question {} ({}) | first SSE byte {:.1} ms | first token {:.0} ms | done {:.0} ms |",
                i + 1,
                if i == 0 { "model loads" } else { "model loaded" },
                first_byte.unwrap_or_default().as_secs_f64() * 1000.0,
                first_token.unwrap_or_default().as_secs_f64() * 1000.0,
                total.as_secs_f64() * 1000.0
            );
        }
        server.abort();
        runner.stop(std::time::Duration::from_secs(5)).await;
    });
}

fn main() {
    // RUST_LOG=smartcourse::ml=trace shows each prompt chunk and decoding step.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    // `cargo bench --bench models -- embeddings` (or `llm`, `steps`, `tutor`) runs one part.
    let parts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| matches!(*a, "embeddings" | "llm" | "steps" | "tutor"))
        .collect();
    let want = |p: &str| parts.is_empty() || parts.contains(&p);
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
    if want("embeddings") {
        bench_embeddings(full, threads);
    }
    if want("llm") {
        println!(
            "| LLM, the tutor's prompt | load | prompt tokens | prompt tok/s | first token | generated tok/s | at once: aggregate, p95 first token |\n|---|---|---|---|---|---|---|"
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
    if want("steps") {
        bench_decode_steps(
            full,
            "smollm2-135m-instruct",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
        );
        if full {
            bench_decode_steps(
                full,
                "qwen2.5-0.5b-instruct",
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            );
        }
    }
    if want("tutor") {
        if full {
            bench_tutor_http(
                full,
                "qwen2.5-0.5b-instruct",
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            );
        } else {
            bench_tutor_http(
                full,
                "smollm2-135m-instruct",
                "SmolLM2-135M-Instruct.Q4_1.gguf",
            );
        }
    }
}
