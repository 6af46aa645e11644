-- The files of a package whose lessons are interactive pages (SCORM): kept as the package had them, by path,
-- so a lesson's launch page runs in the lesson view with its scripts, styles and images. The bytes are in the
-- content store by SHA-256, like attachments.
CREATE TABLE package_files (
    course_id    INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    path         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (course_id, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX package_files_sha256 ON package_files (sha256);

-- A lesson that is such a page: its launch page's path among the course's package files (with the query
-- string the package gives it).
ALTER TABLE lessons ADD COLUMN launch_path TEXT;
