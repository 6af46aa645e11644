//! Learning: students join and leave courses ([`enrollment`]) and work through them ([`progress`]).
//!
//! This domain owns `enrollments` and `lesson_progress`; it sits above courses (it reads a course's lessons
//! and rules) and below the domains that report on it (analytics, notify), which hear what happens here
//! through events: `enrollment.created`, `enrollment.cancelled`, `lesson.completed`, `course.completed`.

pub mod enrollment;
pub mod progress;
pub mod routes;
mod subscriber;

pub use subscriber::{Progress, QuizProgress};
