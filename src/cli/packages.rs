//! `smartcourse import` and `smartcourse export`: through the running server's control socket when one
//! runs, in this process otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::App;
use crate::accounts::Actor;
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if DataDir::is_locked(&config.data) {
            return control::call(&config.data, &request).await;
        }
        let app = App::open(config)?;
        let runner = crate::jobs::runner::start(app.clone()).await?;
        let result = control::execute(&app, request)
            .await
            .map_err(|e| anyhow::anyhow!(control::describe(&e)));
        if let Ok(value) = &result
            && let Some(workflow) = value["workflow_id"].as_i64()
        {
            loop {
                let s = app
                    .db
                    .read(move |c| crate::jobs::workflow::status(c, &Actor::System, workflow))
                    .await?;
                if !matches!(s.status.as_str(), "QUEUED" | "RUNNING") {
                    if s.status != "COMPLETED" {
                        anyhow::bail!("publishing failed: {}", s.error.unwrap_or_default());
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        runner.stop(Duration::from_secs(10)).await;
        app.db.checkpoint().await?;
        result
    })
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
    println!(
        "imported “{}” as course {}: {} module(s), {} lesson(s), {} file(s)",
        report["title"].as_str().unwrap_or(""),
        report["course_id"],
        report["modules"],
        report["lessons"],
        report["attachments"]
    );
    for s in report["skipped"].as_array().into_iter().flatten() {
        println!("skipped: {}", s.as_str().unwrap_or(""));
    }
    if let Some(w) = report["workflow_id"].as_i64() {
        println!("publishing: workflow {w}");
    }
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
