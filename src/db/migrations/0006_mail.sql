-- Email: each user's language and choice about email, and every message with the state of its sending.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE users ADD COLUMN email_notifications INTEGER NOT NULL DEFAULT 1;

CREATE TABLE mail_messages (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    to_address  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- What caused it (an event id, or a week number for digests): one message per user, kind and cause.
    cause       INTEGER NOT NULL,
    subject     TEXT NOT NULL,
    text_body   TEXT NOT NULL,
    html_body   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    sent_via    TEXT,
    UNIQUE (user_id, kind, cause)
) STRICT;
