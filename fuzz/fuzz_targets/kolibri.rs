//! The Kolibri reader on any database file. The input is written as a channel's database, beside a storage
//! folder holding one document, and read as an import would: an error is fine, a panic is a bug, and so is
//! going past the fuzzer's memory or time limits (`FUZZ_LIMITS` in the justfile).
//!
//! Random bytes are rarely an SQLite file, so `just fuzz` seeds the corpus with small channels written by
//! `scripts/fuzz_seeds.py` (a plain one, one with a cycle of parent links); libFuzzer mutates their pages.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smartcourse_formats::{Limits, kolibri};

/// A folder laid out as Kolibri exports a channel; the database is rewritten for each input.
fn channel() -> &'static (tempfile::TempDir, PathBuf) {
    static ONCE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let pdf = dir.path().join("content/storage/a/a/aa11.pdf");
        std::fs::create_dir_all(pdf.parent().unwrap()).unwrap();
        std::fs::write(pdf, b"%PDF-1.4\n%%EOF\n").unwrap();
        let db = dir
            .path()
            .join("content/databases/0123456789abcdef0123456789abcdef.sqlite3");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        (dir, db)
    })
}

fuzz_target!(|data: &[u8]| {
    let (_, db) = channel();
    std::fs::write(db, data).unwrap();
    // Only these kinds are the file's fault; anything else (an internal error) is a bug in the reader.
    if let Err(e) = kolibri::read(db, &Limits::default()) {
        assert!(matches!(e.code(), "invalid_input" | "too_large"), "{e}");
    }
});
