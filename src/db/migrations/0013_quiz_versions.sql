-- Attempts graded against the quiz they were started on (#23). A teacher may edit a quiz (or re-import its
-- GIFT with --force) while students have attempts open, and results already given must keep their meaning:
-- each attempt points at a copy of the quiz as it was when the attempt started. Attempts of an unchanged quiz
-- share one copy (a new version is written only when the quiz's JSON differs from its latest version).
CREATE TABLE quiz_versions (
    id         INTEGER PRIMARY KEY,
    lesson_id  INTEGER NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
    quiz_json  TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX quiz_versions_lesson ON quiz_versions (lesson_id, id);

-- NULL only for an attempt whose quiz was gone when this migration ran; it is then read from the lesson's
-- current quiz, as before.
ALTER TABLE quiz_attempts ADD COLUMN quiz_version_id INTEGER REFERENCES quiz_versions (id);

-- Attempts made before this migration were graded against the quiz as it is now: that is their version.
INSERT INTO quiz_versions (lesson_id, quiz_json, created_at)
    SELECT lesson_id, quiz_json, updated_at FROM quizzes
    WHERE lesson_id IN (SELECT lesson_id FROM quiz_attempts);
UPDATE quiz_attempts
    SET quiz_version_id = (SELECT v.id FROM quiz_versions v WHERE v.lesson_id = quiz_attempts.lesson_id);
