//! Importing a package as a durable workflow: each step is recorded, so an import interrupted by a crash or a
//! restart resumes where it stopped, and the CLI and the web UI follow it step by step.
//!
//! Steps: check the package (read and validate it, nothing stored) → store its lessons and files (a course is
//! created, or the one this import or an earlier import of the same package made is brought up to date, so
//! running the step again converges) → index the lessons for search and the tutor (chunks, embeddings, vector
//! and text indexes) → publish (open the course and emit `course.published`; a draft stays a draft when not
//! asked to publish).

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::ImportReport;
use crate::App;
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::jobs::Permanent;
use crate::jobs::workflow::{self, StepContext, Workflow};

/// Where uploaded packages wait for their import workflow, under the data directory.
pub const UPLOADS_DIR: &str = "imports";

/// The import of one package.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportPackage {
    /// The package (file or folder).
    pub path: PathBuf,
    /// Email of the owner, if named.
    pub owner: Option<String>,
    /// Publish once imported.
    pub publish: bool,
    /// Whether `path` is a copy this workflow owns (an upload), removed when the workflow ends.
    pub owned: bool,
}

/// Errors in the package or the request fail the workflow at once; trouble of the moment (storage, a busy
/// database) is retried by the job.
fn classify(e: Error) -> anyhow::Error {
    match e {
        Error::Invalid { .. }
        | Error::Unsupported(_)
        | Error::TooLarge(_)
        | Error::NotFound
        | Error::BadRequest(_)
        | Error::Forbidden
        | Error::Conflict { .. } => Permanent::new(crate::error::describe(&e)).into(),
        other => anyhow::Error::new(other),
    }
}

impl ImportPackage {
    fn remove_copy(&self) {
        if self.owned
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove an imported upload");
        }
    }
}

impl Workflow for ImportPackage {
    const KIND: &'static str = "package.import";
    const STEPS: &'static [&'static str] = &[
        "Checking the package",
        "Storing lessons and files",
        "Indexing for search and the tutor",
        "Publishing",
    ];

    async fn run_step(&self, app: &Arc<App>, step: usize, ctx: &StepContext) -> anyhow::Result<()> {
        let id = ctx.workflow_id;
        match step {
            0 => {
                let (path, limits, scratch) = (
                    self.path.clone(),
                    app.config.uploads.clone(),
                    app.data.join("tmp"),
                );
                crate::blocking(move || super::read_package(&path, &limits, &scratch).map(|_| ()))
                    .await
                    .map_err(classify)
            }
            1 => {
                let report =
                    super::import_resuming(app, &self.path, self.owner.clone(), false, Some(id))
                        .await
                        .map_err(classify)?;
                let json = serde_json::to_string(&report)?;
                let course = report.course_id;
                ctx.finish(move |tx| {
                    tx.execute(
                        "UPDATE workflows SET course_id = ?1, result = ?2 WHERE id = ?3",
                        rusqlite::params![course, json, id],
                    )?;
                    Ok(())
                })
                .await?;
                Ok(())
            }
            2 => {
                let course = course_of(app, id).await?;
                crate::search::index_course(app, course).await?;
                Ok(())
            }
            _ => {
                let course = course_of(app, id).await?;
                let publish = self.publish;
                ctx.finish(move |tx| {
                    if publish {
                        crate::courses::open(tx, course)?;
                    }
                    Ok(())
                })
                .await?;
                self.remove_copy();
                Ok(())
            }
        }
    }

    fn on_failed(&self, _tx: &Transaction, _error: &str) -> Result<()> {
        self.remove_copy();
        Ok(())
    }
}

async fn course_of(app: &App, workflow: i64) -> anyhow::Result<i64> {
    app.db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT course_id FROM workflows WHERE id = ?1",
                [workflow],
                |r| r.get::<_, Option<i64>>(0),
            )?)
        })
        .await?
        .ok_or_else(|| Permanent::new("the import recorded no course").into())
}

/// Starts importing the package at `path` (an absolute path the server can read). The owner is checked now, so
/// a wrong one is refused before anything starts. Returns the workflow id.
pub async fn start(
    app: &App,
    actor: Actor,
    path: PathBuf,
    owner: Option<String>,
    publish: bool,
    owned: bool,
) -> Result<i64> {
    let job = ImportPackage {
        path,
        owner,
        publish,
        owned,
    };
    app.db
        .write(move |tx| {
            if let Some(email) = &job.owner {
                super::check_owner(tx, email)?;
            }
            workflow::start(tx, &job, actor.user_id(), None)
        })
        .await
}

/// What a finished import workflow reported: `None` while it has not got that far.
pub fn report(conn: &rusqlite::Connection, workflow: i64) -> Result<Option<ImportReport>> {
    let json: Option<Option<String>> = conn
        .query_row(
            "SELECT result FROM workflows WHERE id = ?1 AND kind = ?2",
            rusqlite::params![workflow, ImportPackage::KIND],
            |r| r.get(0),
        )
        .optional()?;
    let json = json.ok_or(Error::NotFound)?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}
