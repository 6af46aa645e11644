-- Progress through a course, and the in-app notification inbox.
ALTER TABLE enrollments ADD COLUMN last_lesson_id INTEGER REFERENCES lessons (id) ON DELETE SET NULL;
ALTER TABLE enrollments ADD COLUMN completed_at TEXT;
ALTER TABLE enrollments ADD COLUMN progress_started_at TEXT;

CREATE TABLE lesson_progress (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson_id    INTEGER NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
    course_id    INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    completed_at TEXT NOT NULL,
    PRIMARY KEY (user_id, lesson_id)
) STRICT;
CREATE INDEX lesson_progress_course ON lesson_progress (course_id, user_id);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    link       TEXT,
    event_id   INTEGER,
    created_at TEXT NOT NULL,
    read_at    TEXT
) STRICT;
CREATE INDEX notifications_user ON notifications (user_id, id);
