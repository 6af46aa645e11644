//! `smartcourse import` and `smartcourse export`: through the running server's control socket when one
//! runs, in this process otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::App;
use crate::config::Config;
use crate::control::{self, Request};
use crate::datadir::DataDir;

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("cannot find {}", path.display()))
}

/// Runs `request` on the server that holds the data directory, or here (starting the job runner for as long
/// as a publish takes).
fn run(config: Config, request: Request) -> anyhow::Result<serde_json::Value> {
    run_with(config, request, |_, _| {})
}

/// [`run`], handing the events of a streamed answer (`ask`) to `on_event` as they come.
fn run_with(
    config: Config,
    request: Request,
    mut on_event: impl FnMut(&str, &serde_json::Value) + Send,
) -> anyhow::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if DataDir::is_locked(&config.data) {
            let value = control::call_streaming(&config.data, &request, on_event).await?;
            if let Some(workflow) = value["workflow_id"].as_i64() {
                // The server works in the background; follow it in the database, as `jobs` does.
                let data = DataDir::open_shared(&config.data)?;
                let db = crate::db::Db::open(&data.join(crate::app::DB_FILE), &config.database)?;
                return wait_for(&db, workflow).await;
            }
            return Ok(value);
        }
        let app = App::open(config)?;
        let runner = crate::jobs::runner::start(app.clone()).await?;
        let result = match request {
            Request::Ask { course, question } => {
                control::ask(&app, course, question, &mut on_event).await
            }
            other => control::execute(&app, other).await,
        }
        .map_err(|e| anyhow::anyhow!(control::describe(&e)));
        let result = match result {
            Ok(value) => match value["workflow_id"].as_i64() {
                Some(workflow) => wait_for(&app.db, workflow).await,
                None => Ok(value),
            },
            Err(e) => Err(e),
        };
        runner.stop(Duration::from_secs(10)).await;
        app.db.checkpoint().await?;
        result
    })
}

/// Follows workflow `id` until it ends, with a progress bar on a terminal (a line per step otherwise); an
/// error unless it completed. Returns what the workflow reported (an import's report), or its id.
async fn wait_for(db: &crate::db::Db, id: i64) -> anyhow::Result<serde_json::Value> {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::new(100);
    if terminal {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos:>3}% {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut shown = String::new();
    // Step names: the kinds this binary runs are the kinds a server of the same version runs.
    let registry = std::sync::Arc::new(crate::server::wiring().jobs);
    loop {
        let registry = registry.clone();
        let s = db
            .read(move |c| {
                crate::jobs::workflow::status(c, &registry, crate::jobs::workflow::Viewer::All, id)
            })
            .await?;
        bar.set_position(s.progress as u64);
        if s.current_step != shown {
            shown.clone_from(&s.current_step);
            if terminal {
                bar.set_message(shown.clone());
            } else if s.status != "COMPLETED" {
                eprintln!("{shown}");
            }
        }
        if !matches!(s.status.as_str(), "QUEUED" | "RUNNING") {
            bar.finish_and_clear();
            if s.status != "COMPLETED" {
                let what = if s.kind == <crate::packages::pipeline::ImportPackage as crate::jobs::workflow::Workflow>::KIND {
                    "importing"
                } else {
                    "publishing"
                };
                anyhow::bail!("{what} failed: {}", s.error.unwrap_or_default());
            }
            let report = db
                .read(move |c| Ok(crate::packages::pipeline::report(c, id).unwrap_or(None)))
                .await?;
            return Ok(match report {
                Some(r) => {
                    let mut value = serde_json::to_value(r)?;
                    value["workflow_id"] = id.into();
                    value
                }
                None => serde_json::json!({ "workflow_id": id }),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn import(
    config: Config,
    package: &Path,
    owner: Option<String>,
    publish: bool,
) -> anyhow::Result<()> {
    let path = absolute(package)?;
    let report = run(
        config,
        Request::Import {
            path,
            owner,
            publish,
        },
    )?;
    let c = &report["changes"];
    if report["updated"].as_bool() == Some(true) {
        println!(
            "updated course {} “{}” from the same package imported before ({}): {} lesson(s) added, {} changed, {} removed, {} unchanged",
            report["course_id"],
            report["title"].as_str().unwrap_or(""),
            report["format"].as_str().unwrap_or("package"),
            c["added"],
            c["changed"],
            c["removed"],
            c["unchanged"]
        );
    } else {
        println!(
            "imported “{}” as course {}: {} module(s), {} lesson(s), {} file(s) ({})",
            report["title"].as_str().unwrap_or(""),
            report["course_id"],
            report["modules"],
            report["lessons"],
            report["attachments"],
            report["format"].as_str().unwrap_or("package")
        );
    }
    if let Some(kept) = report["package_files"].as_u64().filter(|k| *k > 0) {
        println!(
            "kept {kept} package file(s) for the lessons' interactive pages ({} new, changed or removed)",
            report["package_files_changed"]
        );
    }
    for s in report["skipped"].as_array().into_iter().flatten() {
        println!("skipped: {}", s.as_str().unwrap_or(""));
    }
    if let Some(w) = report["workflow_id"].as_i64() {
        let published = if publish { " and published" } else { "" };
        println!("imported{published} by workflow {w}");
    }
    Ok(())
}

/// `import --dry-run`: reads the package as an import would and prints what it would create. Needs no data
/// directory (archives are unpacked in the system's temporary folder and removed).
pub fn dry_run(config: &Config, package: &Path) -> anyhow::Result<()> {
    let path = absolute(package)?;
    let preview = crate::packages::inspect(&path, &config.uploads, &std::env::temp_dir())
        .map_err(|e| anyhow::anyhow!(control::describe(&e)))?;
    println!("format:  {}", preview.format);
    println!("title:   {}", preview.title);
    let lessons: usize = preview.modules.iter().map(|m| m.lessons.len()).sum();
    let files: usize = preview
        .modules
        .iter()
        .flat_map(|m| &m.lessons)
        .map(|l| l.files)
        .sum();
    println!(
        "would create {} module(s), {lessons} lesson(s), {files} file(s):",
        preview.modules.len()
    );
    for (i, m) in preview.modules.iter().enumerate() {
        println!("{:>3}. {}", i + 1, m.title);
        for (j, l) in m.lessons.iter().enumerate() {
            let files = match l.files {
                0 => String::new(),
                1 => " (1 file)".into(),
                n => format!(" ({n} files)"),
            };
            let quiz = match l.quiz_questions {
                None => String::new(),
                Some(1) => " [quiz: 1 question]".into(),
                Some(n) => format!(" [quiz: {n} questions]"),
            };
            println!("     {}.{} {}{files}{quiz}", i + 1, j + 1, l.title);
        }
    }
    if !preview.skipped.is_empty() {
        println!("would skip {}:", preview.skipped.len());
        for s in &preview.skipped {
            println!("  - {s}");
        }
    }
    println!("(dry run: nothing was changed)");
    Ok(())
}

pub fn export(config: Config, course: i64, out: Option<PathBuf>) -> anyhow::Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from(format!("course-{course}.zip")));
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = out.file_name().context("the output needs a file name")?;
    let out = absolute(dir)?.join(file);
    run(
        config,
        Request::Export {
            course,
            out: out.clone(),
        },
    )?;
    println!("wrote {}", out.display());
    Ok(())
}

/// `smartcourse ask`: streams the tutor's answer to stdout, then its sources.
pub fn ask(config: Config, course: i64, question: String) -> anyhow::Result<()> {
    use std::io::Write;
    let mut citations = serde_json::Value::Null;
    run_with(
        config,
        Request::Ask { course, question },
        |name, data| match name {
            "evidence" => {
                let mut out = std::io::stdout().lock();
                if let Some(items) = data.as_array().filter(|l| !l.is_empty()) {
                    let _ = writeln!(out, "From the course:");
                    for item in items {
                        let _ = writeln!(
                            out,
                            "  In \"{}\": {}",
                            item["lesson_title"].as_str().unwrap_or(""),
                            item["text"].as_str().unwrap_or("")
                        );
                    }
                    let _ = writeln!(out);
                }
            }
            "replace" => {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "\n\n{}", data["text"].as_str().unwrap_or(""));
            }
            "token" => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(data["text"].as_str().unwrap_or("").as_bytes());
                let _ = out.flush();
            }
            "citations" => citations = data.clone(),
            _ => {}
        },
    )?;
    println!();
    if let Some(list) = citations.as_array().filter(|l| !l.is_empty()) {
        println!("\nSources:");
        for c in list {
            println!(
                "  [{}] {} (lesson {}, passage {}, relevance {:.2})",
                c["n"],
                c["lesson_title"].as_str().unwrap_or(""),
                c["lesson_id"],
                c["position"],
                c["score"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// `smartcourse reindex`.
pub fn reindex(config: Config, fresh: bool) -> anyhow::Result<()> {
    let report = run(config, Request::Reindex { fresh })?;
    println!(
        "indexed {} chunk(s): {} lesson(s) embedded, {} unchanged",
        report["chunks"], report["lessons_embedded"], report["lessons_unchanged"]
    );
    Ok(())
}

pub fn backup(config: Config, file: &Path) -> anyhow::Result<()> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = file.file_name().context("the backup needs a file name")?;
    let out = absolute(dir)?.join(name);
    run(config, Request::Backup { out: out.clone() })?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Imports and publishes the demo course embedded in this binary when the installation has no course yet.
pub async fn demo_if_empty(app: &std::sync::Arc<App>) -> anyhow::Result<Option<i64>> {
    let courses: i64 = app
        .db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM courses", [], |r| r.get(0))?))
        .await?;
    if courses > 0 {
        return Ok(None);
    }
    let dir = tempfile_dir(app)?;
    for (name, bytes) in crate::packages::DEMO {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    let report = crate::packages::import(app, &dir, None, true)
        .await
        .map_err(|e| anyhow::anyhow!(control::describe(&e)));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Some(report?.course_id))
}

fn tempfile_dir(app: &App) -> anyhow::Result<PathBuf> {
    let dir = app.data.join("tmp").join("demo-course");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
