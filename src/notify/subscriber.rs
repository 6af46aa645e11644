//! The `notifications` subscriber: what a student is told when something happens to their course.
//!
//! Enrolling sends a welcome, completing a course a congratulation, and publishing a course again tells its
//! students it changed. Each is written once per (user, kind, event) by [`super::tell`], so a redelivered
//! event tells nobody twice.

use rusqlite::Transaction;

use crate::error::Result;
use crate::events::{Delivery, Event, Subscriber};

/// Writes the in-app notifications (and queued mails) events cause.
pub struct Notifications;

impl Subscriber for Notifications {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn hears(&self, event: &Event) -> bool {
        matches!(
            event,
            Event::CoursePublished { .. }
                | Event::EnrollmentCreated { .. }
                | Event::CourseCompleted { .. }
        )
    }

    fn handle(&self, tx: &Transaction, d: &Delivery) -> Result<()> {
        let Some(course_id) = d.event.course_id() else {
            return Ok(());
        };
        let Some(title) = crate::courses::title(tx, course_id)? else {
            return Ok(()); // The course is gone; nothing to say.
        };
        let recipients: Vec<(i64, &str)> = match &d.event {
            Event::EnrollmentCreated { user_id, .. } => vec![(*user_id, "welcome")],
            Event::CourseCompleted { user_id, .. } => vec![(*user_id, "course_completed")],
            Event::CoursePublished { .. } => crate::learning::enrollment::students(tx, course_id)?
                .into_iter()
                .map(|u| (u, "course_updated"))
                .collect(),
            _ => Vec::new(),
        };
        let link = format!("/courses/{course_id}");
        for (user, what) in recipients {
            super::tell(tx, user, what, &title, &link, d.event_id)?;
        }
        Ok(())
    }
}
