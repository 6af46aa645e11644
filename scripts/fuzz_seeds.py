#!/usr/bin/env python3
"""Seeds the cargo-fuzz corpora (fuzz/corpus/) with the real manifests and subtitle files of ../shared/samples,
so a short fuzzing run starts from valid inputs instead of having to find XML by chance.

The manifests target's first byte picks the package (fuzz/fuzz_targets/manifests.rs, CASES); the rest is the
manifest. Run by `just fuzz`; the corpus folder is not committed.
"""
import io
import os
import sqlite3
import sys
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.environ.get("SMARTCOURSE_SAMPLES", os.path.join(ROOT, "..", "shared", "samples"))
# The same order as CASES in fuzz/fuzz_targets/manifests.rs.
CASES = [
    ("common-cartridge/canvas_cc_gem_course.imscc", "imsmanifest.xml"),
    ("scorm/golf_RuntimeBasicCalls_SCORM20043rdEdition.zip", "imsmanifest.xml"),
    ("moodle/backup-moodle2-course-with-studentquiz-m400.mbz", "moodle_backup.xml"),
    ("olx/openedx-test-course.tar.gz", "course.xml"),
    ("olx/openedx-test-course.tar.gz", "course/1.xml"),
    ("", "course.toml"),
]


def member(package, name):
    """The bytes of the file `name` (a path ending, the shallowest match) in a sample package."""
    path = os.path.join(SAMPLES, package)
    matches = lambda n: n == name or n.endswith("/" + name)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = sorted((n for n in z.namelist() if matches(n)), key=lambda n: n.count("/"))
            return z.read(names[0])
    with tarfile.open(path) as t:
        members = sorted((m for m in t.getmembers() if matches(m.name)), key=lambda m: m.name.count("/"))
        return t.extractfile(members[0]).read()


def main():
    manifests = os.path.join(ROOT, "fuzz", "corpus", "manifests")
    subtitles = os.path.join(ROOT, "fuzz", "corpus", "subtitles")
    os.makedirs(manifests, exist_ok=True)
    os.makedirs(subtitles, exist_ok=True)
    for i, (package, name) in enumerate(CASES):
        if package:
            data = member(package, name)
        else:
            with open(os.path.join(ROOT, "assets", "demo-course", name), "rb") as f:
                data = f.read()
        with open(os.path.join(manifests, f"seed-{i}"), "wb") as f:
            f.write(bytes([i]) + data)
    content = os.path.join(SAMPLES, "content")
    n = 0
    for entry in sorted(os.listdir(content)):
        if entry.endswith((".srt", ".vtt")):
            with open(os.path.join(content, entry), "rb") as f, open(os.path.join(subtitles, entry), "wb") as out:
                out.write(f.read()[:20000])
            n += 1
    kolibri = os.path.join(ROOT, "fuzz", "corpus", "kolibri")
    os.makedirs(kolibri, exist_ok=True)
    kolibri_channel(os.path.join(kolibri, "seed-plain"), cycle=False)
    kolibri_channel(os.path.join(kolibri, "seed-cycle"), cycle=True)
    print(f"fuzz corpus seeded: {len(CASES)} manifests, {n} subtitle files, 2 Kolibri channels")


def kolibri_channel(path, cycle):
    """A small Kolibri channel database (the tables and columns the reader uses), with 512-byte pages so the
    fuzzer mutates a few kilobytes; `cycle` adds parent links that loop, with repeated ids."""
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA page_size = 512;
        CREATE TABLE content_channelmetadata (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT,
            version INTEGER NOT NULL, root_id TEXT NOT NULL);
        CREATE TABLE content_contentnode (id TEXT, title TEXT NOT NULL, description TEXT, kind TEXT NOT NULL,
            sort_order REAL, lft INTEGER, parent_id TEXT);
        CREATE INDEX content_contentnode_parent ON content_contentnode (parent_id);
        CREATE TABLE content_localfile (id TEXT PRIMARY KEY, extension TEXT NOT NULL);
        CREATE TABLE content_file (id TEXT PRIMARY KEY, preset TEXT NOT NULL, supplementary BOOL NOT NULL,
            thumbnail BOOL NOT NULL, priority INTEGER, contentnode_id TEXT NOT NULL, lang_id TEXT,
            local_file_id TEXT NOT NULL);
        CREATE INDEX content_file_node ON content_file (contentnode_id);
        INSERT INTO content_channelmetadata VALUES ('0123456789abcdef0123456789abcdef', 'Seed', 'A seed', 1, 'root');
        INSERT INTO content_contentnode VALUES ('root', 'Seed', '', 'topic', 1, 1, NULL);
        INSERT INTO content_contentnode VALUES ('t', 'Topic', '', 'topic', 1, 2, 'root');
        INSERT INTO content_contentnode VALUES ('doc', 'Notes', 'Read this.', 'document', 1, 3, 't');
        INSERT INTO content_contentnode VALUES ('v', 'Film', '', 'video', 2, 4, 't');
        INSERT INTO content_localfile VALUES ('aa11', 'pdf');
        INSERT INTO content_file VALUES ('f1', 'document', 0, 0, 1, 'doc', NULL, 'aa11');
        INSERT INTO content_file VALUES ('f2', 'video_subtitle', 1, 0, 2, 'v', 'en', 'aa11');
        """
    )
    if cycle:
        db.executescript(
            """
            INSERT INTO content_contentnode VALUES ('root', 'Loop', '', 'topic', 1, 5, 't');
            INSERT INTO content_contentnode VALUES ('t', 'Again', '', 'topic', 1, 6, 't');
            INSERT INTO content_contentnode VALUES ('t', 'Again', '', 'topic', 1, 7, 'doc');
            """
        )
    db.commit()
    db.close()


if __name__ == "__main__":
    sys.exit(main())
