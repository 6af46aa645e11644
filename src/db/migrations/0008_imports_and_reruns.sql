-- Which package a course was imported from (its identity in the platform it came from), so importing the
-- same package again updates the course instead of making a second one.
ALTER TABLE courses ADD COLUMN import_key TEXT;
CREATE INDEX courses_import_key ON courses (owner_id, import_key) WHERE import_key IS NOT NULL;

-- What a workflow produced, for those that report something (an import's report: course, counts, skipped).
ALTER TABLE workflows ADD COLUMN result TEXT;

-- A deduplicated job asked for again while it runs runs once more when it finishes (a lesson changed while its
-- course was being indexed is indexed too).
ALTER TABLE jobs ADD COLUMN rerun INTEGER NOT NULL DEFAULT 0;
