//! Who may read which course's lessons: the one rule, in Rust for one course and in SQL for many.
//!
//! Reading a course's lessons (the lesson pages, search, the tutor) is allowed to admins and the system, to the
//! course's owner, and to students enrolled in it while it is published or archived (an archived course's
//! students keep their material). Both forms below run the same SQL, so they cannot disagree.
//!
//! The rule reads `courses` and `enrollments` by their columns, which is why it sits here, below both of
//! those domains: everything that checks access calls down to it.

use rusqlite::{Connection, OptionalExtension};

use super::Actor;
use crate::error::Result;

/// The courses a signed-in user (`?1`) may read the lessons of, for everyone but admins and the system.
const READABLE_BY_USER: &str = "SELECT id FROM courses WHERE owner_id = ?1
     UNION SELECT c.id FROM courses c JOIN enrollments e ON e.course_id = c.id
     WHERE e.user_id = ?1 AND c.status IN ('published', 'archived')";

/// The ids of the courses whose lessons `actor` may read.
pub fn readable_courses(conn: &Connection, actor: &Actor) -> Result<Vec<i64>> {
    if actor.is_admin() {
        let mut s = conn.prepare_cached("SELECT id FROM courses")?;
        return Ok(s
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?);
    }
    let Some(user) = actor.user_id() else {
        return Ok(Vec::new());
    };
    let mut s = conn.prepare_cached(READABLE_BY_USER)?;
    Ok(s.query_map([user], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Whether `actor` may read the lessons of course `course_id` (false for a course that does not exist, unless
/// the actor is an admin).
pub fn may_read_lessons(conn: &Connection, actor: &Actor, course_id: i64) -> Result<bool> {
    if actor.is_admin() {
        return Ok(true);
    }
    let Some(user) = actor.user_id() else {
        return Ok(false);
    };
    let mut s =
        conn.prepare_cached(&format!("SELECT 1 FROM ({READABLE_BY_USER}) WHERE id = ?2"))?;
    Ok(s.query_row([user, course_id], |_| Ok(()))
        .optional()?
        .is_some())
}
