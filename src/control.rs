//! The control socket: how CLI commands reach a running server.
//!
//! Commands that need the content store (`import`, `export`) cannot open it while a server holds the data
//! directory. The server listens on `data/control.sock`, a Unix socket only the data directory's owner can
//! open (mode 0600), so reaching it is the same permission as reading the data itself. A request is one
//! JSON line; the answer is one JSON line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::App;
use crate::accounts::Actor;

/// File name of the socket in the data directory.
pub const SOCKET: &str = "control.sock";

/// What the CLI asks the server to do.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Import a package.
    Import {
        /// Absolute path of the package.
        path: PathBuf,
        /// Owner's email.
        owner: Option<String>,
        /// Publish after importing.
        publish: bool,
    },
    /// Write a backup.
    Backup {
        /// Absolute path of the archive to write.
        out: PathBuf,
    },
    /// Rebuild the search indexes.
    Reindex {
        /// Embed every lesson again, even unchanged ones.
        fresh: bool,
    },
    /// Ask the tutor (answers stream as event lines before the final response).
    Ask {
        /// Course id.
        course: i64,
        /// The question.
        question: String,
    },
    /// Export a course.
    Export {
        /// Course id.
        course: i64,
        /// Absolute path of the zip to write.
        out: PathBuf,
    },
}

/// The answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    /// Whether it worked.
    pub ok: bool,
    /// The result, when it worked.
    pub result: serde_json::Value,
    /// Why not, when it did not.
    pub error: Option<String>,
}

/// Runs a request in this process (the CLI without a server, or the server for a socket client).
pub async fn execute(app: &Arc<App>, request: Request) -> crate::Result<serde_json::Value> {
    match request {
        Request::Import {
            path,
            owner,
            publish,
        } => {
            let id =
                crate::packages::pipeline::start(app, Actor::System, path, owner, publish, false)
                    .await?;
            Ok(serde_json::json!({ "workflow_id": id }))
        }
        Request::Backup { out } => {
            let manifest = crate::backup::create(app, &out).await?;
            Ok(serde_json::json!({ "path": out, "files": manifest.files.len() }))
        }
        Request::Export { course, out } => {
            crate::packages::native::export(app, Actor::System, course, &out).await?;
            Ok(serde_json::json!({ "path": out }))
        }
        Request::Reindex { fresh } => {
            let report = crate::search::reindex_all(app, fresh).await?;
            Ok(serde_json::to_value(report).unwrap_or_default())
        }
        Request::Ask { course, question } => ask(app, course, question, |_, _| {}).await,
    }
}

/// Asks the tutor as the machine's owner, handing each event to `on_event`; the result is the `done` event.
pub async fn ask(
    app: &Arc<App>,
    course: i64,
    question: String,
    mut on_event: impl FnMut(&str, &serde_json::Value),
) -> crate::Result<serde_json::Value> {
    let request = crate::tutor::AskRequest {
        course_id: course,
        question,
        conversation_id: None,
    };
    let prepared = crate::tutor::prepare(app, &Actor::System, request).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(crate::tutor::run(app.clone(), prepared, tx));
    let mut done = serde_json::Value::Null;
    while let Some(event) = rx.recv().await {
        let (name, data) = event.to_json();
        on_event(name, &data);
        match name {
            "done" => done = data,
            "error" => {
                return Err(crate::Error::Unavailable(
                    data["message"]
                        .as_str()
                        .unwrap_or("the tutor failed")
                        .to_owned()
                        .into(),
                ));
            }
            _ => {}
        }
    }
    Ok(done)
}

/// Serves the control socket until the task is dropped.
#[cfg(unix)]
pub async fn serve(app: Arc<App>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = app.data.join(SOCKET);
    // A socket left by a killed server; we hold the data-directory lock, so it is nobody's.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match serde_json::from_str::<Request>(&line) {
                Ok(Request::Ask { course, question }) => {
                    // Stream each event as its own line, then the response.
                    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                    let app2 = app.clone();
                    let asking = tokio::spawn(async move {
                        ask(&app2, course, question, |name, data| {
                            let line = serde_json::json!({"event": name, "data": data}).to_string();
                            let _ = lines_tx.send(line + "\n");
                        })
                        .await
                    });
                    while let Some(line) = lines_rx.recv().await {
                        if write.write_all(line.as_bytes()).await.is_err() {
                            asking.abort();
                            return;
                        }
                    }
                    match asking.await {
                        Ok(Ok(result)) => Response {
                            ok: true,
                            result,
                            error: None,
                        },
                        Ok(Err(e)) => Response {
                            ok: false,
                            result: serde_json::Value::Null,
                            error: Some(describe(&e)),
                        },
                        Err(_) => return,
                    }
                }
                Ok(request) => match execute(&app, request).await {
                    Ok(result) => Response {
                        ok: true,
                        result,
                        error: None,
                    },
                    Err(e) => Response {
                        ok: false,
                        result: serde_json::Value::Null,
                        error: Some(describe(&e)),
                    },
                },
                Err(e) => Response {
                    ok: false,
                    result: serde_json::Value::Null,
                    error: Some(format!("bad request: {e}")),
                },
            };
            let mut text = serde_json::to_string(&answer).unwrap_or_default();
            text.push('\n');
            let _ = write.write_all(text.as_bytes()).await;
        });
    }
}

pub use crate::error::describe;

/// Sends a request to the server running on `data` and waits for its answer.
#[cfg(unix)]
pub async fn call(data: &Path, request: &Request) -> anyhow::Result<serde_json::Value> {
    call_streaming(data, request, |_, _| {}).await
}

/// Like [`call`], handing the event lines that come before the answer (of `ask`) to `on_event`.
#[cfg(unix)]
pub async fn call_streaming(
    data: &Path,
    request: &Request,
    mut on_event: impl FnMut(&str, &serde_json::Value),
) -> anyhow::Result<serde_json::Value> {
    let path = data.join(SOCKET);
    let stream = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the running server through {}: {e}",
            path.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut text = serde_json::to_string(request)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("the server answered something unexpected: {e}"))?;
        match value["event"].as_str() {
            Some(name) => on_event(name, &value["data"]),
            None => break,
        }
    }
    let answer: Response = serde_json::from_str(&line)
        .map_err(|e| anyhow::anyhow!("the server answered something unexpected: {e}"))?;
    if answer.ok {
        Ok(answer.result)
    } else {
        anyhow::bail!("{}", answer.error.unwrap_or_default())
    }
}
