-- Classroom answers (#21): the tutor's answer to a course's first question, reused at once for a near-duplicate
-- first question answered from the same passages; the course's teacher can clear one or pin a reviewed text.
CREATE TABLE classroom_answers (
    id           INTEGER PRIMARY KEY,
    course_id    INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    -- The question as first asked, and its normalised words (sorted, space-separated) for near-duplicates.
    question     TEXT NOT NULL,
    words        TEXT NOT NULL,
    -- The tutor mode and the passages (lesson:position) it was answered from, best first.
    evidence_key TEXT NOT NULL,
    answer       TEXT NOT NULL,
    citations    TEXT NOT NULL,
    pinned       INTEGER NOT NULL DEFAULT 0,
    reused       INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX classroom_answers_lookup ON classroom_answers (course_id, evidence_key);
