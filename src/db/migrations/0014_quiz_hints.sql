-- Hints a student asked for during an attempt (#23): how many of a question's hints were revealed, so the
-- page shows the same ones after a reload or a restart, and the teacher's results can count them. A row
-- exists only once a hint was asked for; hints are revealed in order, so a count says which ones.
CREATE TABLE quiz_hints (
    attempt_id  INTEGER NOT NULL REFERENCES quiz_attempts (id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    shown       INTEGER NOT NULL CHECK (shown > 0),
    PRIMARY KEY (attempt_id, question_id)
) STRICT;
