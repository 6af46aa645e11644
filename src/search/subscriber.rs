//! The `search` subscriber: a course whose content changed is indexed again.

use rusqlite::Transaction;

use crate::error::Result;
use crate::events::{Delivery, Event, Subscriber};

/// Queues a course's re-indexing ([`super::schedule_index`]) when it hears `course.changed`.
pub struct Reindex;

impl Subscriber for Reindex {
    fn name(&self) -> &'static str {
        "search"
    }

    fn hears(&self, event: &Event) -> bool {
        matches!(event, Event::CourseChanged { .. })
    }

    fn handle(&self, tx: &Transaction, d: &Delivery) -> Result<()> {
        if let Event::CourseChanged { course_id } = d.event {
            super::schedule_index(tx, course_id)?;
        }
        Ok(())
    }
}
