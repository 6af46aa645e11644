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
            let report = crate::packages::import(app, &path, owner, publish).await?;
            Ok(serde_json::to_value(report).unwrap_or_default())
        }
        Request::Backup { out } => {
            let manifest = crate::backup::create(app, &out).await?;
            Ok(serde_json::json!({ "path": out, "files": manifest.files.len() }))
        }
        Request::Export { course, out } => {
            crate::packages::native::export(app, Actor::System, course, &out).await?;
            Ok(serde_json::json!({ "path": out }))
        }
    }
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

/// A domain error as a sentence for the terminal (internal details stay in the server's log).
pub fn describe(e: &crate::Error) -> String {
    match e {
        crate::Error::Internal(inner) => {
            tracing::error!(error = format!("{inner:#}"), "control request failed");
            "the server hit an internal error; see its log".into()
        }
        other => other.to_string(),
    }
}

/// Sends a request to the server running on `data` and waits for its answer.
#[cfg(unix)]
pub async fn call(data: &Path, request: &Request) -> anyhow::Result<serde_json::Value> {
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
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let answer: Response = serde_json::from_str(&line)
        .map_err(|e| anyhow::anyhow!("the server answered something unexpected: {e}"))?;
    if answer.ok {
        Ok(answer.result)
    } else {
        anyhow::bail!("{}", answer.error.unwrap_or_default())
    }
}
