//! Domain events through a transactional outbox (what Kafka did).
//!
//! [`emit`] writes the event and one [`Deliver`] job per subscriber in the caller's transaction: if the
//! change commits, so do its deliveries; if the process dies right after, the jobs are still there. Delivery
//! is at least once; each subscriber records the delivery in the transaction of its effect, keyed by
//! (event, subscriber), so the effect happens once.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::jobs::{self, EnqueueOptions, Job, JobContext, Permanent};
use crate::util::now_rfc3339;

/// Event kinds and who hears them.
pub const SUBSCRIBERS: &[(&str, &[&str])] = &[
    ("user.registered", &["analytics"]),
    ("course.published", &["analytics", "notifications"]),
    (
        "enrollment.created",
        &["analytics", "progress", "notifications"],
    ),
    ("enrollment.cancelled", &["analytics"]),
    ("lesson.completed", &["analytics"]),
    ("course.completed", &["analytics", "notifications"]),
    ("tutor.answered", &["analytics"]),
    // Diagnostics: a subscriber that fails as often as the event asks, to prove redelivery is harmless.
    ("diag.ping", &["analytics", "diag"]),
];

/// Records an event and enqueues its deliveries, in the caller's transaction. Returns the event id.
pub fn emit(tx: &Transaction, kind: &str, payload: &serde_json::Value) -> Result<i64> {
    let subscribers = SUBSCRIBERS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, s)| *s)
        .ok_or_else(|| crate::Error::Internal(anyhow::anyhow!("unknown event kind {kind}")))?;
    tx.execute(
        "INSERT INTO events (kind, payload, created_at) VALUES (?1, ?2, ?3)",
        params![kind, payload.to_string(), now_rfc3339()],
    )?;
    let id = tx.last_insert_rowid();
    for subscriber in subscribers {
        jobs::enqueue_with(
            tx,
            &Deliver {
                event_id: id,
                subscriber: (*subscriber).to_owned(),
            },
            EnqueueOptions {
                dedup_key: Some(format!("{id}:{subscriber}")),
                ..Default::default()
            },
        )?;
    }
    Ok(id)
}

/// Delivers one event to one subscriber.
#[derive(Debug, Serialize, Deserialize)]
pub struct Deliver {
    /// The event.
    pub event_id: i64,
    /// The subscriber's name.
    pub subscriber: String,
}

impl Job for Deliver {
    const KIND: &'static str = "events.deliver";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let Deliver {
            event_id,
            subscriber,
        } = self;
        let attempt = ctx.attempt;
        ctx.app
            .db
            .write(move |tx| {
                let done = tx
                    .query_row(
                        "SELECT 1 FROM event_deliveries WHERE event_id = ?1 AND subscriber = ?2",
                        params![event_id, subscriber],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if done {
                    return Ok(());
                }
                let (kind, created_at, payload): (String, String, String) = tx
                    .query_row("SELECT kind, created_at, payload FROM events WHERE id = ?1", [event_id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?
                    .ok_or_else(|| crate::Error::Internal(Permanent::new(format!("event {event_id} is gone")).into()))?;
                match subscriber.as_str() {
                    "analytics" => {
                        count_daily(tx, &kind, &created_at)?;
                        crate::analytics::apply(tx, event_id, &kind, &payload)?;
                    }
                    "progress" => {
                        let p: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
                        if let (Some(c), Some(u)) = (p["course_id"].as_i64(), p["user_id"].as_i64()) {
                            crate::progress::initialise(tx, c, u)?;
                        }
                    }
                    "notifications" => notify_for(tx, event_id, &kind, &payload)?,
                    "diag" => {
                        let fail_first = serde_json::from_str::<serde_json::Value>(&payload)
                            .ok()
                            .and_then(|v| v["fail_first"].as_u64())
                            .unwrap_or(0);
                        if u64::from(attempt) <= fail_first {
                            return Err(crate::Error::Internal(anyhow::anyhow!(
                                "diag subscriber fails attempt {attempt} on purpose"
                            )));
                        }
                        tx.execute(
                            "INSERT INTO diag_marks (kind, ref, at) VALUES ('event', ?1, ?2)",
                            params![event_id, now_rfc3339()],
                        )?;
                    }
                    other => {
                        return Err(crate::Error::Internal(
                            Permanent::new(format!("no subscriber named {other}")).into(),
                        ));
                    }
                }
                tx.execute(
                    "INSERT INTO event_deliveries (event_id, subscriber, delivered_at) VALUES (?1, ?2, ?3)",
                    params![event_id, subscriber, now_rfc3339()],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// The in-app messages an event causes.
fn notify_for(tx: &Transaction, event_id: i64, kind: &str, payload: &str) -> Result<()> {
    let p: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let Some(course_id) = p["course_id"].as_i64() else {
        return Ok(());
    };
    let title: Option<String> = tx
        .query_row(
            "SELECT title FROM courses WHERE id = ?1",
            [course_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(title) = title else {
        return Ok(()); // The course is gone; nothing to say.
    };
    let link = format!("/courses/{course_id}");
    let recipients: Vec<(i64, &str)> = match kind {
        "enrollment.created" => p["user_id"]
            .as_i64()
            .map(|u| (u, "welcome"))
            .into_iter()
            .collect(),
        "course.completed" => p["user_id"]
            .as_i64()
            .map(|u| (u, "course_completed"))
            .into_iter()
            .collect(),
        "course.published" => tx
            .prepare("SELECT user_id FROM enrollments WHERE course_id = ?1")?
            .query_map([course_id], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?
            .into_iter()
            .map(|u| (u, "course_updated"))
            .collect(),
        _ => Vec::new(),
    };
    for (user, what) in recipients {
        crate::notify::tell(tx, user, what, &title, &link, event_id)?;
    }
    Ok(())
}

fn count_daily(tx: &Transaction, kind: &str, created_at: &str) -> Result<()> {
    let day = created_at.get(..10).unwrap_or(created_at);
    tx.execute(
        "INSERT INTO analytics_daily (day, kind, count) VALUES (?1, ?2, 1)
         ON CONFLICT (day, kind) DO UPDATE SET count = count + 1",
        params![day, kind],
    )?;
    Ok(())
}
