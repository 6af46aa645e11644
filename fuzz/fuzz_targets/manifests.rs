//! The package readers' manifest parsers on any bytes. Each real sample package (Common Cartridge, SCORM,
//! Moodle, Open edX, SmartCourse) is unpacked once into a scratch folder; an input's first byte picks one, the
//! rest replaces its manifest, and the package is read again: an error is fine, a panic is a bug.
//!
//! The samples are `../shared/samples` beside the repository (`SMARTCOURSE_SAMPLES` to point elsewhere);
//! `just fuzz` seeds the corpus with their manifests (`scripts/fuzz_seeds.py`).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smartcourse_formats::{Limits, Source, cc, moodle, native, olx, scorm};

/// The packages, in the order of the format byte, with the manifest each one's reader parses.
const CASES: [(&str, &str); 6] = [
    (
        "common-cartridge/canvas_cc_gem_course.imscc",
        "imsmanifest.xml",
    ),
    (
        "scorm/golf_RuntimeBasicCalls_SCORM20043rdEdition.zip",
        "imsmanifest.xml",
    ),
    (
        "moodle/backup-moodle2-course-with-studentquiz-m400.mbz",
        "moodle_backup.xml",
    ),
    ("olx/openedx-test-course.tar.gz", "course.xml"),
    // An Open edX course's tree (chapters, sequentials) is in the file course.xml points to.
    ("olx/openedx-test-course.tar.gz", "course/1.xml"),
    ("", "course.toml"),
];

struct Unpacked {
    _scratch: tempfile::TempDir,
    dirs: Vec<PathBuf>,
}

fn samples() -> PathBuf {
    std::env::var_os("SMARTCOURSE_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples"))
}

/// Each case's package unpacked into a folder of its own (the SmartCourse case: the demo course).
fn unpacked() -> &'static Unpacked {
    static ONCE: OnceLock<Unpacked> = OnceLock::new();
    ONCE.get_or_init(|| {
        let scratch = tempfile::tempdir().expect("a scratch folder");
        let limits = Limits::default();
        let mut dirs = Vec::new();
        for (i, (package, _)) in CASES.iter().enumerate() {
            let from = if package.is_empty() {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo-course")
            } else {
                samples().join(package)
            };
            let source = Source::open(&from, &limits, scratch.path())
                .unwrap_or_else(|e| panic!("{}: {e}", from.display()))
                .descend(&[
                    "imsmanifest.xml",
                    "moodle_backup.xml",
                    "course.xml",
                    "course.toml",
                ]);
            let dir = scratch.path().join(format!("case-{i}"));
            for name in source.files() {
                let target = dir.join(&name);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, source.read(&name).unwrap()).unwrap();
            }
            dirs.push(dir);
        }
        Unpacked {
            _scratch: scratch,
            dirs,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, manifest)) = data.split_first() else {
        return;
    };
    let case = usize::from(which) % CASES.len();
    let dir = &unpacked().dirs[case];
    std::fs::write(dir.join(CASES[case].1), manifest).unwrap();
    let scratch = dir.with_extension("scratch");
    let Ok(source) = Source::open(dir, &Limits::default(), &scratch) else {
        return;
    };
    let text = String::from_utf8_lossy(manifest);
    let read = match case {
        0 => cc::read(&source, &text).map(drop),
        1 => scorm::read(&source, &text).map(drop),
        2 => moodle::read(&source).map(drop),
        3 | 4 => olx::read(&source).map(drop),
        _ => native::read(&source).map(drop),
    };
    // Errors name what is wrong; only these kinds are the package's fault.
    if let Err(e) = read {
        assert!(matches!(e.code(), "invalid_input" | "too_large"), "{e}");
    }
});
