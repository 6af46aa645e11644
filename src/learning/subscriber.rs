//! The `progress` subscriber: a student who enrols starts at the course's first lesson; and `quiz_progress`:
//! a student who passes a quiz has completed its lesson.

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

/// Completes a quiz's lesson for the student who passed it ([`super::progress::complete_for`]); completing
/// again changes nothing, so a second pass or a repeated delivery is harmless.
pub struct QuizProgress;

impl Subscriber for QuizProgress {
    fn name(&self) -> &'static str {
        "quiz_progress"
    }

    fn hears(&self, event: &Event) -> bool {
        matches!(event, Event::QuizPassed { .. })
    }

    fn handle(&self, tx: &Transaction, d: &Delivery) -> Result<()> {
        if let Event::QuizPassed {
            lesson_id, user_id, ..
        } = d.event
        {
            // A student who left the course since has nothing to complete.
            match super::progress::complete_for(tx, user_id, lesson_id) {
                Ok(_) | Err(crate::error::Error::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
