-- Which package a course was imported from (its identity in the platform it came from), so importing the
-- same package again updates the course instead of making a second one.
ALTER TABLE courses ADD COLUMN import_key TEXT;
CREATE INDEX courses_import_key ON courses (owner_id, import_key) WHERE import_key IS NOT NULL;

-- What a workflow produced, for those that report something (an import's report: course, counts, skipped).
ALTER TABLE workflows ADD COLUMN result TEXT;

-- A deduplicated job asked for again while it runs runs once more when it finishes (a lesson changed while its
-- course was being indexed is indexed too).
ALTER TABLE jobs ADD COLUMN rerun INTEGER NOT NULL DEFAULT 0;

-- Course reports kept up to date by the analytics subscriber (one row per course, per course and day, per
-- lesson, per student and course), so a report reads a few rows instead of scanning enrollments, progress and
-- conversations. Filled here from what is already there; events before `from_event` are in that fill.
CREATE TABLE course_stats (
    course_id         INTEGER PRIMARY KEY REFERENCES courses (id) ON DELETE CASCADE,
    enrolled          INTEGER NOT NULL DEFAULT 0,
    completed         INTEGER NOT NULL DEFAULT 0,
    completion_days   REAL NOT NULL DEFAULT 0,
    tutor_questions   INTEGER NOT NULL DEFAULT 0,
    tutor_not_covered INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE course_stats_daily (
    course_id   INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    enrollments INTEGER NOT NULL,
    PRIMARY KEY (course_id, day)
) STRICT;
CREATE TABLE lesson_stats (
    lesson_id    INTEGER PRIMARY KEY REFERENCES lessons (id) ON DELETE CASCADE,
    course_id    INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    completed_by INTEGER NOT NULL DEFAULT 0,
    tutor_first  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX lesson_stats_course ON lesson_stats (course_id);
CREATE TABLE student_activity (
    course_id         INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_completed_at TEXT NOT NULL,
    PRIMARY KEY (course_id, user_id)
) STRICT;
CREATE TABLE analytics_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    from_event INTEGER NOT NULL
) STRICT;
INSERT INTO analytics_state (id, from_event) SELECT 1, coalesce(max(id), 0) + 1 FROM events;

INSERT INTO course_stats (course_id, enrolled, completed, completion_days, tutor_questions, tutor_not_covered)
SELECT c.id,
    (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id),
    (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id AND e.completed_at IS NOT NULL),
    coalesce((SELECT sum(julianday(completed_at) - julianday(enrolled_at)) FROM enrollments e
              WHERE e.course_id = c.id AND e.completed_at IS NOT NULL), 0),
    (SELECT count(*) FROM conversation_messages m JOIN conversations v ON v.id = m.conversation_id
     WHERE v.course_id = c.id AND m.role = 'assistant'),
    (SELECT coalesce(sum(m.abstained), 0) FROM conversation_messages m JOIN conversations v ON v.id = m.conversation_id
     WHERE v.course_id = c.id AND m.role = 'assistant')
FROM courses c;
INSERT INTO course_stats_daily (course_id, day, enrollments)
SELECT json_extract(payload, '$.course_id'), substr(created_at, 1, 10), count(*) FROM events
WHERE kind = 'enrollment.created' AND json_extract(payload, '$.course_id') IN (SELECT id FROM courses)
GROUP BY 1, 2;
INSERT INTO lesson_stats (lesson_id, course_id, completed_by, tutor_first)
SELECT l.id, l.course_id,
    (SELECT count(*) FROM lesson_progress p JOIN enrollments e ON e.course_id = p.course_id AND e.user_id = p.user_id
     WHERE p.lesson_id = l.id),
    (SELECT count(*) FROM conversation_messages m JOIN conversations v ON v.id = m.conversation_id,
         json_each(m.citations) j
     WHERE v.course_id = l.course_id AND m.role = 'assistant' AND json_extract(j.value, '$.n') = 1
       AND json_extract(j.value, '$.lesson_id') = l.id)
FROM lessons l;
INSERT INTO student_activity (course_id, user_id, last_completed_at)
SELECT course_id, user_id, max(completed_at) FROM lesson_progress GROUP BY course_id, user_id;
