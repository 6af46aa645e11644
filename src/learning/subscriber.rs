//! The `progress` subscriber: a student who enrols starts at the course's first lesson.

use rusqlite::Transaction;

use crate::error::Result;
use crate::events::{Delivery, Event, Subscriber};

/// Starts a new enrolment's progress ([`super::progress::initialise`]).
pub struct Progress;

impl Subscriber for Progress {
    fn name(&self) -> &'static str {
        "progress"
    }

    fn hears(&self, event: &Event) -> bool {
        matches!(event, Event::EnrollmentCreated { .. })
    }

    fn handle(&self, tx: &Transaction, d: &Delivery) -> Result<()> {
        if let Event::EnrollmentCreated {
            course_id, user_id, ..
        } = d.event
        {
            super::progress::initialise(tx, course_id, user_id)?;
        }
        Ok(())
    }
}
