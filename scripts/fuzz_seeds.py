#!/usr/bin/env python3
"""Seeds the cargo-fuzz corpora (fuzz/corpus/) with the real manifests and subtitle files of ../shared/samples,
so a short fuzzing run starts from valid inputs instead of having to find XML by chance.

The manifests target's first byte picks the package (fuzz/fuzz_targets/manifests.rs, CASES); the rest is the
manifest. Run by `just fuzz`; the corpus folder is not committed.
"""
import io
import os
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
    print(f"fuzz corpus seeded: {len(CASES)} manifests, {n} subtitle files")


if __name__ == "__main__":
    sys.exit(main())
