//! Email: messages rendered from templates in the user's language, stored, and sent by durable jobs through
//! SMTP, or written as `.eml` files under `data/outbox-mail/` when no SMTP server is configured (nothing is
//! lost offline; an admin can forward them later).
//!
//! A message row is unique per (user, kind, cause), and the sending job records `sent_at`: a job that runs
//! again finds the message sent and does nothing. (If the process dies between the SMTP server accepting the
//! message and that record, the retry sends it again; the stable `Message-ID` lets mail clients fold the two.)

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::config::{SmtpConfig, SmtpTls};
use crate::error::Result;
use crate::jobs::{self, EnqueueOptions, Job, JobContext, Permanent};
use crate::util::now_rfc3339;

/// Languages with translations; others fall back to English.
pub const LANGUAGES: &[&str] = &["en", "es"];

/// What a message says, before it is addressed.
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn render(subject: String, paragraphs: &[String], link: Option<&str>) -> Rendered {
    let mut text = paragraphs.join("\n\n");
    let mut html = String::from("<!doctype html><html><body style=\"font-family: sans-serif\">");
    for p in paragraphs {
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some(l) = link {
        text.push_str(&format!("\n\n{l}"));
        html.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", escape(l)));
    }
    text.push_str("\n\n-- \nSmartCourse. You can turn these emails off under Notifications.\n");
    html.push_str("<p style=\"color:#555\">SmartCourse. You can turn these emails off under Notifications.</p></body></html>");
    Rendered {
        subject,
        text,
        html,
    }
}

/// The message for `kind` in `language` (English when there is no translation).
pub fn template(
    kind: &str,
    language: &str,
    course: &str,
    extra: &[String],
    link: Option<&str>,
) -> Rendered {
    let es = language == "es";
    match kind {
        "welcome" => render(
            if es {
                format!("Te damos la bienvenida a {course}")
            } else {
                format!("Welcome to {course}")
            },
            &[if es {
                format!(
                    "Ya estas inscrito en {course}. Empieza por la primera leccion cuando quieras."
                )
            } else {
                format!(
                    "You are enrolled in {course}. Start with the first lesson whenever you are ready."
                )
            }],
            link,
        ),
        "course_completed" => render(
            if es {
                format!("Has completado {course}")
            } else {
                format!("You completed {course}")
            },
            &[if es {
                "Has terminado todas las lecciones. Enhorabuena.".to_owned()
            } else {
                "Every lesson is done. Well done!".to_owned()
            }],
            link,
        ),
        "course_updated" => render(
            if es {
                format!("{course} tiene novedades")
            } else {
                format!("{course} was updated")
            },
            &[if es {
                "El curso tiene contenido nuevo o cambiado.".to_owned()
            } else {
                "The course has new or changed content.".to_owned()
            }],
            link,
        ),
        _ => render(
            if es {
                "Tu resumen semanal de SmartCourse".to_owned()
            } else {
                "Your weekly SmartCourse digest".to_owned()
            },
            extra,
            link,
        ),
    }
}

/// Queues an email to `user_id` in their language, unless they turned email off, once per (kind, cause).
/// Runs in the caller's transaction, so the message and its sending job commit with the change.
pub fn queue(
    tx: &Transaction,
    user_id: i64,
    kind: &str,
    cause: i64,
    course: &str,
    extra: &[String],
    link: Option<&str>,
) -> Result<Option<i64>> {
    let user: Option<(String, String, bool)> = tx
        .query_row(
            "SELECT email, language, email_notifications AND disabled_at IS NULL FROM users WHERE id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((email, language, wanted)) = user else {
        return Ok(None);
    };
    if !wanted {
        return Ok(None);
    }
    let m = template(kind, &language, course, extra, link);
    let inserted = tx.execute(
        "INSERT INTO mail_messages (user_id, to_address, kind, cause, subject, text_body, html_body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        params![user_id, email, kind, cause, m.subject, m.text, m.html, now_rfc3339()],
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = tx.last_insert_rowid();
    jobs::enqueue_with(
        tx,
        &SendMail { message_id: id },
        EnqueueOptions {
            dedup_key: Some(id.to_string()),
            ..Default::default()
        },
    )?;
    Ok(Some(id))
}

/// Sends one stored message.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendMail {
    pub message_id: i64,
}

impl Job for SendMail {
    const KIND: &'static str = "mail.send";
    const MAX_ATTEMPTS: u32 = 8;

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let id = self.message_id;
        let row: Option<(String, String, String, String, Option<String>)> = ctx
            .app
            .db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT to_address, subject, text_body, html_body, sent_at FROM mail_messages WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?)
            })
            .await?;
        let Some((to, subject, text, html, sent_at)) = row else {
            return Err(Permanent::new(format!("mail message {id} is gone")).into());
        };
        if sent_at.is_some() {
            return Ok(()); // Sent by an earlier run of this job.
        }
        let smtp = &ctx.app.config.smtp;
        let from: Mailbox = smtp.from.parse().map_err(|e| {
            Permanent::new(format!("smtp.from {:?} is not an address: {e}", smtp.from))
        })?;
        let to_box: Mailbox = to
            .parse()
            .map_err(|e| Permanent::new(format!("{to:?} is not an address: {e}")))?;
        let install = ctx
            .app
            .data
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("smartcourse")
            .to_owned();
        let message = Message::builder()
            .from(from)
            .to(to_box)
            .subject(subject)
            .message_id(Some(format!("<smartcourse-{install}-{id}@localhost>")))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Permanent::new(format!("cannot build the message: {e}")))?;
        let via = if smtp.host.is_empty() {
            let dir = ctx.app.data.join("outbox-mail");
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("{id:06}.eml"));
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, message.formatted())?;
            std::fs::rename(&tmp, &path)?;
            "file"
        } else {
            transport(smtp)?.send(message).await?;
            "smtp"
        };
        ctx.app
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE mail_messages SET sent_at = ?2, sent_via = ?3 WHERE id = ?1",
                    params![id, now_rfc3339(), via],
                )?;
                Ok(())
            })
            .await?;
        tracing::info!(mail.id = id, via, "mail sent");
        Ok(())
    }
}

fn transport(smtp: &SmtpConfig) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let builder = match smtp.tls {
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(20)));
    if !smtp.user.is_empty() {
        builder = builder.credentials(Credentials::new(smtp.user.clone(), smtp.password.clone()));
    }
    Ok(builder.build())
}

/// Sends instructors a summary of their courses' week, and schedules the next one.
#[derive(Debug, Serialize, Deserialize)]
pub struct WeeklyDigest {}

impl Job for WeeklyDigest {
    const KIND: &'static str = "notify.weekly_digest";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let week = crate::util::unix_now() / (7 * 86_400);
        ctx.app
            .db
            .write(move |tx| {
                let since = time::OffsetDateTime::now_utc() - time::Duration::days(7);
                let since = crate::util::rfc3339(since);
                let owners: Vec<i64> = tx
                    .prepare("SELECT DISTINCT owner_id FROM courses WHERE status IN ('published', 'archived')")?
                    .query_map([], |r| r.get(0))?
                    .collect::<std::result::Result<_, _>>()?;
                for owner in owners {
                    let lines: Vec<String> = tx
                        .prepare(
                            "SELECT c.title,
                                (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id AND e.enrolled_at >= ?2),
                                (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id AND e.completed_at >= ?2),
                                (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id)
                             FROM courses c WHERE c.owner_id = ?1 AND c.status IN ('published', 'archived') ORDER BY c.title",
                        )?
                        .query_map(params![owner, since], |r| {
                            let (t, new, done, all): (String, i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                            Ok(format!("{t}: {new} new student(s), {done} completion(s) this week, {all} enrolled in all."))
                        })?
                        .collect::<std::result::Result<_, _>>()?;
                    queue(tx, owner, "weekly_digest", week, "", &lines, None)?;
                }
                jobs::enqueue_with(tx, &WeeklyDigest {}, EnqueueOptions { delay_ms: 7 * 86_400_000, ..Default::default() })?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// Makes sure a digest is scheduled (called at start-up): the next Monday, 06:00 UTC.
pub fn schedule_digest(tx: &Transaction) -> Result<()> {
    let queued: i64 = tx.query_row(
        "SELECT count(*) FROM jobs WHERE kind = ?1 AND state IN ('queued', 'running')",
        [WeeklyDigest::KIND],
        |r| r.get(0),
    )?;
    if queued == 0 {
        let now = time::OffsetDateTime::now_utc();
        let days = (7 - now.weekday().number_days_from_monday() as i64) % 7;
        let mut next = (now.date() + time::Duration::days(days))
            .with_hms(6, 0, 0)
            .expect("valid time")
            .assume_utc();
        if next <= now {
            next += time::Duration::days(7);
        }
        let delay = (next - now).whole_milliseconds() as i64;
        jobs::enqueue_with(
            tx,
            &WeeklyDigest {},
            EnqueueOptions {
                delay_ms: delay,
                ..Default::default()
            },
        )?;
    }
    Ok(())
}
