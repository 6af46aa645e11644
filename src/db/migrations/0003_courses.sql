-- Courses, their ordered modules and lessons, attachments, and enrollments. Lesson bodies and attachment bytes
-- live in content.redb, addressed by their SHA-256; these rows hold the metadata and the references.
CREATE TABLE courses (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL REFERENCES users (id),
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    capacity     INTEGER CHECK (capacity IS NULL OR capacity >= 0),
    status       TEXT NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'publishing', 'published', 'archived')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    published_at TEXT
) STRICT;
CREATE INDEX courses_owner ON courses (owner_id);
CREATE INDEX courses_status ON courses (status);

CREATE TABLE modules (
    id         INTEGER PRIMARY KEY,
    course_id  INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    position   INTEGER NOT NULL
) STRICT;
CREATE INDEX modules_course ON modules (course_id, position);

CREATE TABLE lessons (
    id          INTEGER PRIMARY KEY,
    course_id   INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    module_id   INTEGER NOT NULL REFERENCES modules (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    position    INTEGER NOT NULL,
    body_sha256 TEXT NOT NULL,
    body_bytes  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX lessons_module ON lessons (module_id, position);
CREATE INDEX lessons_course ON lessons (course_id);
CREATE INDEX lessons_body ON lessons (body_sha256);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    lesson_id    INTEGER NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
    course_id    INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX attachments_lesson ON attachments (lesson_id);
CREATE INDEX attachments_course ON attachments (course_id);
CREATE INDEX attachments_blob ON attachments (sha256);

CREATE TABLE enrollments (
    id          INTEGER PRIMARY KEY,
    course_id   INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    enrolled_at TEXT NOT NULL,
    UNIQUE (course_id, user_id)
) STRICT;
CREATE INDEX enrollments_user ON enrollments (user_id);
