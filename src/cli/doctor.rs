//! `smartcourse doctor`: integrity checks of the data directory.

use std::path::Path;

use anyhow::bail;
use rusqlite::{Connection, OpenFlags};

use crate::app::{CONTENT_FILE, DB_FILE};
use crate::config::Config;
use crate::datadir::DataDir;

pub fn run(config: &Config, repair: bool) -> anyhow::Result<()> {
    let root = &config.data;
    if !root.join("VERSION").exists() {
        bail!(
            "{} is not a SmartCourse data directory (no VERSION file)",
            root.display()
        );
    }
    let mut problems = Vec::new();
    let running = DataDir::is_locked(root);
    // While a server runs it holds the content store open; SQLite can still be checked alongside it.
    let _lock = if running {
        println!(
            "note: a SmartCourse server is using {}; checking the database only",
            root.display()
        );
        None
    } else {
        Some(DataDir::open(root)?)
    };

    match check_sqlite(&root.join(DB_FILE)) {
        Ok(()) => println!("ok   database {DB_FILE}: integrity and foreign keys"),
        Err(e) => {
            println!("FAIL database {DB_FILE}: {e:#}");
            problems.push("database");
        }
    }
    if !running {
        match check_content(&root.join(CONTENT_FILE)) {
            Ok(()) => println!("ok   content store {CONTENT_FILE}"),
            Err(e) => {
                println!("FAIL content store {CONTENT_FILE}: {e:#}");
                problems.push("content store");
            }
        }
        match check_references(root, repair) {
            Ok(()) => {
                println!("ok   every lesson body and attachment is stored, and nothing else is")
            }
            Err(e) => {
                println!("FAIL content references: {e:#}");
                problems.push("content references");
            }
        }
    }
    // Models: a missing one does not damage data, so it warns (with the fix) without failing the check.
    let model_problems = crate::ml::manifest::problems(config, true);
    if model_problems.is_empty() {
        println!("ok   models in use: present, SHA-256 matches the manifest");
    }
    for p in model_problems {
        println!("WARN {p}");
    }
    if problems.is_empty() {
        println!("no problems found");
        Ok(())
    } else {
        bail!("problems found in: {}", problems.join(", "))
    }
}

fn check_sqlite(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        bail!("missing");
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let result: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if result != ["ok"] {
        bail!("integrity check: {}", result.join("; "));
    }
    let fk_violations: i64 =
        conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
    if fk_violations > 0 {
        bail!("{fk_violations} rows break foreign keys");
    }
    Ok(())
}

fn check_content(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        bail!("missing");
    }
    let mut db = redb::Database::open(path)?;
    if !db.check_integrity()? {
        bail!("the store was repaired from an unclean shutdown; run doctor again to confirm");
    }
    Ok(())
}

/// Compares what SQLite refers to with what redb holds: a referenced blob that is missing is lost content;
/// an unreferenced one is an orphan (left by a crash between the two writes), removed with `--repair`.
fn check_references(root: &Path, repair: bool) -> anyhow::Result<()> {
    use std::collections::HashSet;
    let conn = Connection::open_with_flags(root.join(DB_FILE), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let referenced: HashSet<String> = crate::courses::referenced_hashes(&conn)?
        .into_iter()
        .collect();
    let db = redb::Database::open(root.join(CONTENT_FILE))?;
    let stored: HashSet<String> = crate::courses::content::stored_hashes(&db.begin_read()?)?
        .into_iter()
        .collect();
    let missing: Vec<_> = referenced.difference(&stored).collect();
    let orphans: Vec<String> = stored.difference(&referenced).cloned().collect();
    if !orphans.is_empty() {
        if repair {
            let tx = db.begin_write()?;
            crate::courses::content::remove(&tx, &orphans)?;
            tx.commit()?;
            println!("fixed removed {} orphaned blob(s)", orphans.len());
        } else {
            println!(
                "note {} orphaned blob(s) that nothing refers to; `smartcourse doctor --repair` removes them",
                orphans.len()
            );
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} lesson bodies or attachments are missing from the content store",
            missing.len()
        );
    }
    Ok(())
}
