-- Quizzes (#23). A lesson with a row in `quizzes` is a quiz lesson; the quiz (questions, answers, rules) is the
-- JSON of smartcourse_formats::quiz::Quiz. An attempt keeps its seed, so it shows the same questions in the
-- same order after a restart; its answers are saved as the student goes and graded on submission.
CREATE TABLE quizzes (
    lesson_id  INTEGER PRIMARY KEY REFERENCES lessons (id) ON DELETE CASCADE,
    course_id  INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    quiz_json  TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX quizzes_course ON quizzes (course_id);

CREATE TABLE quiz_attempts (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson_id    INTEGER NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
    course_id    INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    -- The u64 seed's bits as a signed integer.
    seed         INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    submitted_at TEXT,
    -- Set on submission (and again when an essay is marked).
    score        REAL,
    points       REAL,
    passed       INTEGER
) STRICT;
CREATE INDEX quiz_attempts_lesson ON quiz_attempts (lesson_id, user_id);
-- At most one open attempt per student and quiz: starting again resumes it.
CREATE UNIQUE INDEX quiz_attempts_open ON quiz_attempts (user_id, lesson_id) WHERE submitted_at IS NULL;

CREATE TABLE quiz_answers (
    attempt_id    INTEGER NOT NULL REFERENCES quiz_attempts (id) ON DELETE CASCADE,
    question_id   TEXT NOT NULL,
    -- smartcourse_formats::quiz::Response as JSON.
    response_json TEXT NOT NULL,
    -- Set on submission.
    score         REAL,
    correct       INTEGER,
    needs_marking INTEGER NOT NULL DEFAULT 0,
    -- The grader's feedback sentences, as a JSON array.
    feedback_json TEXT NOT NULL DEFAULT '[]',
    marked_by     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (attempt_id, question_id)
) STRICT;
