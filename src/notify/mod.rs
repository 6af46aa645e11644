//! Notifications: the in-app inbox. Written by the `notifications` event subscriber.

pub mod mail;
pub mod routes;
mod subscriber;

pub use subscriber::Notifications;

use rusqlite::{Connection, Transaction, params};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::util::now_rfc3339;

/// A message in a user's inbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    /// What it is about: `welcome`, `course_completed`, ...
    pub kind: String,
    pub title: String,
    /// Text.
    pub body: String,
    /// Where to go, in the web UI.
    pub link: Option<String>,
    pub created_at: String,
    /// Read, if it has been.
    pub read_at: Option<String>,
}

/// Adds a notification for the effect of event `event_id` (once per event, user and kind).
pub fn add(
    tx: &Transaction,
    user_id: i64,
    kind: &str,
    title: &str,
    body: &str,
    link: Option<&str>,
    event_id: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO notifications (user_id, kind, title, body, link, event_id, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
         WHERE NOT EXISTS (SELECT 1 FROM notifications WHERE user_id = ?1 AND kind = ?2 AND event_id = ?6)",
        params![user_id, kind, title, body, link, event_id, now_rfc3339()],
    )?;
    Ok(())
}

/// Tells a user about something: an in-app notification and, unless they turned email off, an email, both in
/// their language and both once per (user, kind, event).
pub fn tell(
    tx: &Transaction,
    user_id: i64,
    kind: &str,
    course: &str,
    link: &str,
    event_id: i64,
) -> Result<()> {
    let language: Option<String> = rusqlite::OptionalExtension::optional(tx.query_row(
        "SELECT language FROM users WHERE id = ?1",
        [user_id],
        |r| r.get(0),
    ))?;
    let Some(language) = language else {
        return Ok(());
    };
    let m = mail::template(kind, &language, course, &[], None);
    let first = m.text.split("\n\n").next().unwrap_or("").to_owned();
    add(tx, user_id, kind, &m.subject, &first, Some(link), event_id)?;
    mail::queue(tx, user_id, kind, event_id, course, &[], Some(link))?;
    Ok(())
}

/// The caller's notifications, newest first, and how many are unread.
pub fn inbox(conn: &Connection, actor: &Actor, limit: i64) -> Result<(Vec<Notification>, i64)> {
    let user = actor.user_id().ok_or(Error::NotFound)?;
    let items = conn
        .prepare("SELECT id, kind, title, body, link, created_at, read_at FROM notifications WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2")?
        .query_map(params![user, limit], |r| {
            Ok(Notification {
                id: r.get(0)?,
                kind: r.get(1)?,
                title: r.get(2)?,
                body: r.get(3)?,
                link: r.get(4)?,
                created_at: r.get(5)?,
                read_at: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let unread = conn.query_row(
        "SELECT count(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL",
        [user],
        |r| r.get(0),
    )?;
    Ok((items, unread))
}

/// Marks one of the caller's notifications read (404 for anyone else's).
pub fn mark_read(tx: &Transaction, actor: &Actor, id: i64) -> Result<()> {
    let user = actor.user_id().ok_or(Error::NotFound)?;
    let n = tx.execute(
        "UPDATE notifications SET read_at = coalesce(read_at, ?3) WHERE id = ?1 AND user_id = ?2",
        params![id, user, now_rfc3339()],
    )?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
