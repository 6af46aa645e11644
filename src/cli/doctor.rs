//! `smartcourse doctor`: integrity checks of the data directory.

use std::path::Path;

use anyhow::bail;
use rusqlite::{Connection, OpenFlags};

use crate::app::{CONTENT_FILE, DB_FILE};
use crate::config::Config;
use crate::datadir::DataDir;

pub fn run(config: &Config) -> anyhow::Result<()> {
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
