//! Domain events through a transactional outbox (what Kafka did), and the subscribers that hear them.
//!
//! An event is something that happened in a lower domain that higher ones react to: enrolling starts a
//! student's progress, publishing a course tells its students, every event feeds the analytics. The domain
//! that causes it calls [`emit`] with a typed [`Event`] in its own transaction; [`emit`] writes the event and
//! one [`Deliver`] job for it, so if the change commits so does its delivery, and if the process dies right
//! after, the job is still there. This module names no subscriber: the application registers each
//! [`Subscriber`] in [`Subscribers`] at start-up (`server::wiring`), and [`Deliver`] hands the event to every
//! registered subscriber that [`Subscriber::hears`] it.
//!
//! Delivery is at least once; each subscriber's effect and the record that it happened (`event_deliveries`,
//! keyed by event and subscriber name) commit in one transaction, so the effect happens once. A subscriber
//! that fails is tried again by the job's retries without repeating the deliveries that succeeded.
//!
//! Stored form: the `kind` column is the event's serde tag and `payload` its fields as JSON; both are read by
//! reports and kept in old databases, so never rename a kind or a field (add optional fields instead). A
//! payload that no longer parses fails its delivery permanently rather than counting as zeros.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::jobs::{self, EnqueueOptions, Job, JobContext, Permanent};
use crate::util::now_rfc3339;

/// Everything that can happen that another domain hears about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Event {
    #[serde(rename = "user.registered")]
    UserRegistered { user_id: i64 },
    #[serde(rename = "course.published")]
    CoursePublished { course_id: i64 },
    /// A course's lessons, files or outline changed, or the course was deleted: what is derived from them (the
    /// search indexes) is out of date.
    #[serde(rename = "course.changed")]
    CourseChanged { course_id: i64 },
    /// A student joined a course. Carries what the student had done before (re-enrolling resumes), so the
    /// figures can count it again.
    #[serde(rename = "enrollment.created")]
    EnrollmentCreated {
        enrollment_id: i64,
        course_id: i64,
        user_id: i64,
        /// `YYYY-MM-DD` of the enrolment, in UTC.
        day: String,
        #[serde(default)]
        completed_lessons: Vec<i64>,
        #[serde(default)]
        last_completed_at: Option<String>,
    },
    /// A student left a course; carries what leaves the course's figures with them.
    #[serde(rename = "enrollment.cancelled")]
    EnrollmentCancelled {
        course_id: i64,
        user_id: i64,
        #[serde(default)]
        completed_lessons: Vec<i64>,
        /// Days from enrolling to completing, if the student had completed the course.
        #[serde(default)]
        days_to_complete: Option<f64>,
    },
    #[serde(rename = "lesson.completed")]
    LessonCompleted {
        lesson_id: i64,
        course_id: i64,
        user_id: i64,
        /// RFC 3339.
        completed_at: String,
    },
    #[serde(rename = "course.completed")]
    CourseCompleted {
        course_id: i64,
        user_id: i64,
        /// Days from enrolling to completing (fractional).
        days_to_complete: f64,
    },
    /// The tutor answered a question, or said the course does not cover it (`abstained`).
    #[serde(rename = "tutor.answered")]
    TutorAnswered {
        course_id: i64,
        abstained: bool,
        /// The lesson of the first citation, if any.
        #[serde(default)]
        lesson_id: Option<i64>,
    },
    /// A student submitted a quiz attempt (graded; an essay may still wait for its mark).
    #[serde(rename = "quiz.attempted")]
    QuizAttempted {
        attempt_id: i64,
        lesson_id: i64,
        course_id: i64,
        user_id: i64,
        /// In percent, 0 to 100.
        percent: f64,
        passed: bool,
    },
    /// A student passed a quiz (the first time or again): its lesson counts as complete.
    #[serde(rename = "quiz.passed")]
    QuizPassed {
        attempt_id: i64,
        lesson_id: i64,
        course_id: i64,
        user_id: i64,
    },
}

impl Event {
    /// The stored kind, e.g. `enrollment.created`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::UserRegistered { .. } => "user.registered",
            Event::CoursePublished { .. } => "course.published",
            Event::CourseChanged { .. } => "course.changed",
            Event::EnrollmentCreated { .. } => "enrollment.created",
            Event::EnrollmentCancelled { .. } => "enrollment.cancelled",
            Event::LessonCompleted { .. } => "lesson.completed",
            Event::CourseCompleted { .. } => "course.completed",
            Event::TutorAnswered { .. } => "tutor.answered",
            Event::QuizAttempted { .. } => "quiz.attempted",
            Event::QuizPassed { .. } => "quiz.passed",
        }
    }

    /// The course the event is about, if any.
    pub fn course_id(&self) -> Option<i64> {
        match self {
            Event::UserRegistered { .. } => None,
            Event::CoursePublished { course_id }
            | Event::CourseChanged { course_id }
            | Event::EnrollmentCreated { course_id, .. }
            | Event::EnrollmentCancelled { course_id, .. }
            | Event::LessonCompleted { course_id, .. }
            | Event::CourseCompleted { course_id, .. }
            | Event::TutorAnswered { course_id, .. }
            | Event::QuizAttempted { course_id, .. }
            | Event::QuizPassed { course_id, .. } => Some(*course_id),
        }
    }

    /// The stored (kind, payload JSON) pair.
    fn to_stored(&self) -> Result<(&'static str, String)> {
        let mut tagged = serde_json::to_value(self)
            .map_err(|e| Error::Internal(anyhow::anyhow!("event {}: {e}", self.kind())))?;
        let payload = tagged
            .get_mut("payload")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        Ok((self.kind(), payload.to_string()))
    }

    /// Reads a stored event back; an unknown kind or a payload of the wrong shape is an error.
    pub fn from_stored(kind: &str, payload: &str) -> Result<Event, serde_json::Error> {
        let payload: serde_json::Value = serde_json::from_str(payload)?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }
}

/// Records `event` and enqueues its delivery, in the caller's transaction. Returns the event id.
pub fn emit(tx: &Transaction, event: &Event) -> Result<i64> {
    let (kind, payload) = event.to_stored()?;
    tx.execute(
        "INSERT INTO events (kind, payload, created_at) VALUES (?1, ?2, ?3)",
        params![kind, payload, now_rfc3339()],
    )?;
    let id = tx.last_insert_rowid();
    jobs::enqueue_with(
        tx,
        &Deliver {
            event_id: id,
            subscriber: None,
        },
        EnqueueOptions {
            dedup_key: Some(id.to_string()),
            ..Default::default()
        },
    )?;
    Ok(id)
}

/// Like [`emit`], unless the same event (same kind and fields) is already recorded and waiting for its delivery
/// to start: then that one stands for both, and `None` is returned. For events that say "this changed, look
/// again" (`course.changed`), where a burst of changes (an import's lessons) needs one look, not hundreds.
pub fn emit_coalesced(tx: &Transaction, event: &Event) -> Result<Option<i64>> {
    let (kind, payload) = event.to_stored()?;
    let waiting = tx
        .query_row(
            // From the few queued deliveries (the jobs' dedup index) to their events by id, not a scan of
            // every event ever recorded.
            "SELECT e.id FROM jobs j JOIN events e ON e.id = CAST(j.dedup_key AS INTEGER)
             WHERE j.kind = ?3 AND j.state = 'queued' AND j.dedup_key IS NOT NULL
               AND e.kind = ?1 AND e.payload = ?2 LIMIT 1",
            params![kind, payload, Deliver::KIND],
            |r| r.get::<_, i64>(0),
        )
        .optional()?;
    match waiting {
        Some(_) => Ok(None),
        None => emit(tx, event).map(Some),
    }
}

/// One event as a subscriber receives it.
#[derive(Debug)]
pub struct Delivery {
    pub event_id: i64,
    /// When the event was recorded (RFC 3339).
    pub created_at: String,
    pub event: Event,
    /// Which attempt of the delivery job this is, from 1.
    pub attempt: u32,
}

/// A domain's reaction to events, run in the transaction that records its delivery.
pub trait Subscriber: Send + Sync + 'static {
    /// Stored in `event_deliveries`: never rename it, or delivered events are delivered again.
    fn name(&self) -> &'static str;

    /// Whether this subscriber wants `event` at all.
    fn hears(&self, event: &Event) -> bool;

    /// Applies the event. Return an error holding [`Permanent`] for what no retry can fix.
    fn handle(&self, tx: &Transaction, delivery: &Delivery) -> Result<()>;
}

/// The subscribers of a process, in the order they are given each event.
#[derive(Default, Clone)]
pub struct Subscribers(Vec<Arc<dyn Subscriber>>);

impl Subscribers {
    /// Adds a subscriber. Panics if its name is taken.
    #[must_use]
    pub fn with(mut self, subscriber: impl Subscriber) -> Self {
        assert!(
            self.0.iter().all(|s| s.name() != subscriber.name()),
            "subscriber {} registered twice",
            subscriber.name()
        );
        self.0.push(Arc::new(subscriber));
        self
    }

    fn get(&self, name: &str) -> Option<&Arc<dyn Subscriber>> {
        self.0.iter().find(|s| s.name() == name)
    }
}

/// Delivers one event to each subscriber that hears it (or, in jobs queued by older versions, to the one
/// subscriber named).
#[derive(Debug, Serialize, Deserialize)]
pub struct Deliver {
    pub event_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<String>,
}

impl Job for Deliver {
    const KIND: &'static str = "events.deliver";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let event_id = self.event_id;
        let stored: Option<(String, String, String)> = ctx
            .app
            .db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT kind, created_at, payload FROM events WHERE id = ?1",
                    [event_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
            })
            .await?;
        let (kind, created_at, payload) =
            stored.ok_or_else(|| Permanent::new(format!("event {event_id} is gone")))?;
        let event = Event::from_stored(&kind, &payload).map_err(|e| {
            Permanent::new(format!("event {event_id} ({kind}) does not parse: {e}"))
        })?;
        let targets: Vec<Arc<dyn Subscriber>> = match &self.subscriber {
            Some(name) => vec![
                ctx.app
                    .subscribers
                    .get(name)
                    .ok_or_else(|| Permanent::new(format!("no subscriber named {name}")))?
                    .clone(),
            ],
            None => ctx
                .app
                .subscribers
                .0
                .iter()
                .filter(|s| s.hears(&event))
                .cloned()
                .collect(),
        };
        let delivery = Arc::new(Delivery {
            event_id,
            created_at,
            event,
            attempt: ctx.attempt,
        });
        // Every subscriber gets its chance even when one before it fails; the job then fails, and its retry
        // skips the deliveries already recorded.
        let mut failures = Vec::new();
        for subscriber in targets {
            let name = subscriber.name();
            let delivery = delivery.clone();
            let result = ctx
                .app
                .db
                .write(move |tx| deliver(tx, subscriber.as_ref(), &delivery))
                .await;
            if let Err(e) = result {
                failures.push((name, anyhow::Error::new(e)));
            }
        }
        let Some((name, first)) = failures.pop() else {
            return Ok(());
        };
        let all_permanent = jobs::classify(&first) == jobs::Failure::Permanent
            && failures
                .iter()
                .all(|(_, e)| jobs::classify(e) == jobs::Failure::Permanent);
        let mut message = format!("subscriber {name}: {first:#}");
        for (name, e) in &failures {
            message.push_str(&format!("; subscriber {name}: {e:#}"));
        }
        if all_permanent {
            Err(Permanent::new(message).into())
        } else {
            Err(anyhow::anyhow!(message))
        }
    }
}

fn deliver(tx: &Transaction, subscriber: &dyn Subscriber, delivery: &Delivery) -> Result<()> {
    let name = subscriber.name();
    let done = tx
        .query_row(
            "SELECT 1 FROM event_deliveries WHERE event_id = ?1 AND subscriber = ?2",
            params![delivery.event_id, name],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if done {
        return Ok(());
    }
    subscriber.handle(tx, delivery)?;
    tx.execute(
        "INSERT INTO event_deliveries (event_id, subscriber, delivered_at) VALUES (?1, ?2, ?3)",
        params![delivery.event_id, name, now_rfc3339()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_is_the_kind_and_the_fields() {
        let e = Event::TutorAnswered {
            course_id: 7,
            abstained: true,
            lesson_id: None,
        };
        let (kind, payload) = e.to_stored().unwrap();
        assert_eq!(kind, "tutor.answered");
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(v["course_id"], 7);
        assert_eq!(v["abstained"], true);
        assert_eq!(Event::from_stored(kind, &payload).unwrap(), e);
    }

    #[test]
    fn every_event_is_stored_under_its_kind_and_reads_back() {
        let all = [
            Event::UserRegistered { user_id: 1 },
            Event::CoursePublished { course_id: 1 },
            Event::CourseChanged { course_id: 1 },
            Event::EnrollmentCreated {
                enrollment_id: 1,
                course_id: 1,
                user_id: 2,
                day: "2026-11-30".into(),
                completed_lessons: vec![3],
                last_completed_at: None,
            },
            Event::EnrollmentCancelled {
                course_id: 1,
                user_id: 2,
                completed_lessons: vec![],
                days_to_complete: Some(1.5),
            },
            Event::LessonCompleted {
                lesson_id: 3,
                course_id: 1,
                user_id: 2,
                completed_at: "2026-11-30T10:00:00Z".into(),
            },
            Event::CourseCompleted {
                course_id: 1,
                user_id: 2,
                days_to_complete: 2.0,
            },
            Event::TutorAnswered {
                course_id: 1,
                abstained: false,
                lesson_id: Some(3),
            },
            Event::QuizAttempted {
                attempt_id: 4,
                lesson_id: 3,
                course_id: 1,
                user_id: 2,
                percent: 75.0,
                passed: true,
            },
            Event::QuizPassed {
                attempt_id: 4,
                lesson_id: 3,
                course_id: 1,
                user_id: 2,
            },
        ];
        for e in all {
            // `kind()` is written out by hand beside the serde names: they must agree.
            let tagged = serde_json::to_value(&e).unwrap();
            assert_eq!(tagged["kind"], e.kind());
            let (kind, payload) = e.to_stored().unwrap();
            assert_eq!(Event::from_stored(kind, &payload).unwrap(), e);
        }
    }

    #[test]
    fn payloads_written_by_earlier_versions_still_read() {
        let e = Event::from_stored(
            "enrollment.created",
            r#"{"enrollment_id":3,"course_id":1,"user_id":2,"day":"2026-05-01","completed_lessons":[4,5],"last_completed_at":null}"#,
        )
        .unwrap();
        assert_eq!(e.course_id(), Some(1));
        assert!(
            matches!(e, Event::EnrollmentCreated { ref completed_lessons, .. } if completed_lessons == &[4, 5])
        );
    }

    #[test]
    fn a_renamed_field_is_an_error_not_a_zero() {
        assert!(
            Event::from_stored(
                "course.completed",
                r#"{"course":1,"user_id":2,"days_to_complete":1.5}"#
            )
            .is_err()
        );
        assert!(Event::from_stored("diag.ping", "{}").is_err());
    }
}
