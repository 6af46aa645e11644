//! Publishing a course: a durable workflow that checks the course, indexes it for search and the tutor, and
//! opens it to students, so a crash mid-way resumes where it stopped.
//!
//! It sits above courses and search, whose work it orders; opening a course ([`crate::courses::open`]) is the
//! courses domain's own change, which an import with `--publish` makes too.

pub mod routes;

use std::sync::Arc;

use rusqlite::Transaction;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::accounts::Actor;
use crate::courses::{CourseStatus, open, require_edit};
use crate::error::{Error, Result};
use crate::jobs::Permanent;
use crate::jobs::workflow::{self, StepContext, Workflow};

/// The publish workflow of one course.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishCourse {
    pub course_id: i64,
}

impl Workflow for PublishCourse {
    const KIND: &'static str = "course.publish";
    const STEPS: &'static [&'static str] = &[
        "Checking the course",
        "Indexing for search and the tutor",
        "Opening the course to students",
    ];

    async fn run_step(&self, app: &Arc<App>, step: usize, ctx: &StepContext) -> anyhow::Result<()> {
        let id = self.course_id;
        match step {
            0 => {
                let lessons = app
                    .db
                    .read(move |c| {
                        crate::courses::course_ref(c, id)?.ok_or(Error::NotFound)?;
                        crate::courses::lesson_count(c, id)
                    })
                    .await
                    .map_err(|e| Permanent::new(format!("course {id}: {e}")))?;
                if lessons == 0 {
                    return Err(Permanent::new(
                        "a course needs at least one lesson to be published",
                    )
                    .into());
                }
                Ok(())
            }
            1 => {
                crate::search::index_course(app, id).await?;
                Ok(())
            }
            _ => {
                ctx.finish(move |tx| open(tx, id)).await?;
                Ok(())
            }
        }
    }

    fn on_failed(&self, tx: &Transaction, _error: &str) -> Result<()> {
        // A course that never made it stays a draft (a re-publish of a published course leaves it published).
        tx.execute(
            "UPDATE courses SET status = 'draft' WHERE id = ?1 AND status = 'publishing'",
            [self.course_id],
        )?;
        Ok(())
    }
}

/// Starts publishing a course (owner, admin); returns the workflow id.
pub async fn publish(app: &App, actor: Actor, course_id: i64) -> Result<i64> {
    app.db
        .write(move |tx| {
            let course = require_edit(tx, &actor, course_id)?;
            let running: Option<i64> = rusqlite::OptionalExtension::optional(tx.query_row(
                "SELECT id FROM workflows WHERE kind = ?1 AND course_id = ?2 AND state IN ('queued', 'running')",
                rusqlite::params![PublishCourse::KIND, course_id],
                |r| r.get(0),
            ))?;
            if running.is_some() {
                return Err(Error::conflict("already_publishing", "this course is being published already"));
            }
            if course.status == CourseStatus::Draft {
                crate::courses::mark_publishing(tx, course_id)?;
            }
            workflow::start(tx, &PublishCourse { course_id }, actor.user_id(), Some(course_id))
        })
        .await
}
