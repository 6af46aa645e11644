-- Search and the tutor. Chunks of lesson text with their embeddings (the source of both derived indexes under
-- data/index/), which lesson version and model each lesson was indexed with, tutor modes, and conversations.
CREATE TABLE chunks (
    id         INTEGER PRIMARY KEY,
    lesson_id  INTEGER NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
    course_id  INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    ordinal    INTEGER NOT NULL,
    text       TEXT NOT NULL,
    vector     BLOB NOT NULL,
    UNIQUE (lesson_id, ordinal)
) STRICT;
CREATE INDEX chunks_course ON chunks (course_id);

CREATE TABLE lesson_index_state (
    lesson_id   INTEGER PRIMARY KEY REFERENCES lessons (id) ON DELETE CASCADE,
    body_sha256 TEXT NOT NULL,
    model       TEXT NOT NULL,
    chunks      INTEGER NOT NULL,
    indexed_at  TEXT NOT NULL
) STRICT;

ALTER TABLE courses ADD COLUMN tutor_mode TEXT NOT NULL DEFAULT 'explain' CHECK (tutor_mode IN ('explain', 'hint'));

CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id  INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX conversations_user ON conversations (user_id, updated_at);
CREATE INDEX conversations_course ON conversations (course_id, updated_at);

CREATE TABLE conversation_messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    citations       TEXT NOT NULL DEFAULT '[]',
    abstained       INTEGER NOT NULL DEFAULT 0,
    finish          TEXT,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX conversation_messages_conv ON conversation_messages (conversation_id, id);
