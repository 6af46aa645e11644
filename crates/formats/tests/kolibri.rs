//! Hostile Kolibri channel databases, built here with SQLite: a database is code as much as data (virtual
//! tables, generated columns), and its topic tree is a pointer graph the file itself draws (parent links, with
//! ids a crafted file may repeat). Each is refused, or walked once, within seconds.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use smartcourse_formats::{Limits, Package, Result, Source, kolibri};

const CHANNEL: &str = "0123456789abcdef0123456789abcdef";

/// The tables Kolibri's content schema has (the columns the reader uses), `node_table` standing for
/// `content_contentnode`'s definition so a test can change it; the channel's root node and one document
/// (`doc`, under `topic`) whose PDF is in storage.
fn channel(dir: &Path, node_table: &str) -> (PathBuf, rusqlite::Connection) {
    let db_path = dir.join(format!("content/databases/{CHANNEL}.sqlite3"));
    std::fs::create_dir_all(db_path.parent().unwrap()).unwrap();
    let pdf = dir.join("content/storage/a/a/aa11.pdf");
    std::fs::create_dir_all(pdf.parent().unwrap()).unwrap();
    std::fs::write(pdf, b"%PDF-1.4\n%%EOF\n").unwrap();
    let db = rusqlite::Connection::open(&db_path).unwrap();
    db.execute_batch(&format!(
        "CREATE TABLE content_channelmetadata (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT,
             version INTEGER NOT NULL, root_id TEXT NOT NULL);
         {node_table};
         CREATE TABLE content_localfile (id TEXT PRIMARY KEY, extension TEXT NOT NULL);
         CREATE TABLE content_file (id TEXT PRIMARY KEY, preset TEXT NOT NULL, supplementary BOOL NOT NULL,
             thumbnail BOOL NOT NULL, priority INTEGER, contentnode_id TEXT NOT NULL, lang_id TEXT,
             local_file_id TEXT NOT NULL);
         INSERT INTO content_channelmetadata VALUES ('{CHANNEL}', 'Hostile', '', 1, 'root');
         INSERT INTO content_localfile VALUES ('aa11', 'pdf');
         INSERT INTO content_file VALUES ('f1', 'document', 0, 0, 1, 'doc', NULL, 'aa11');"
    ))
    .unwrap();
    (db_path, db)
}

/// `content_contentnode` as Kolibri makes it, without the key: nothing in SQLite makes a crafted file keep
/// ids unique.
const NODES: &str =
    "CREATE TABLE content_contentnode (id TEXT, title TEXT NOT NULL, description TEXT,
    kind TEXT NOT NULL, sort_order REAL, lft INTEGER, parent_id TEXT)";

fn node(db: &rusqlite::Connection, id: &str, parent: Option<&str>, kind: &str) {
    db.execute(
        "INSERT INTO content_contentnode (id, title, kind, sort_order, lft, parent_id)
         VALUES (?1, ?1, ?2, 1, 1, ?3)",
        rusqlite::params![id, kind, parent],
    )
    .unwrap();
}

/// Reads the channel on a thread, failing the test if that takes more than 20 s (a debug build on a busy
/// machine; the crafted trees below took hours before).
fn read(db: PathBuf) -> Result<(Source, Package)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(kolibri::read(&db, &Limits::default()));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("still reading the channel after 20 s")
}

fn refused(out: Result<(Source, Package)>, words: &str) {
    let e = match out {
        Ok((_, p)) => panic!("read a hostile channel: {} module(s)", p.modules.len()),
        Err(e) => e,
    };
    assert_eq!(e.code(), "invalid_input", "{e}");
    assert!(e.to_string().contains(words), "{e} does not say {words:?}");
}

#[test]
fn a_plain_channel_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    node(&db, "topic", Some("root"), "topic");
    node(&db, "doc", Some("topic"), "document");
    drop(db);
    let (source, package) = read(path).unwrap();
    assert_eq!(package.modules.len(), 1);
    assert_eq!(package.modules[0].lessons[0].title, "doc");
    assert_eq!(
        package.modules[0].lessons[0].attachments,
        ["storage/a/a/aa11.pdf"]
    );
    assert!(source.contains("storage/a/a/aa11.pdf"));
}

#[test]
fn a_channel_with_a_virtual_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    node(&db, "doc", Some("root"), "document");
    db.execute_batch("CREATE VIRTUAL TABLE search USING fts5(body)")
        .unwrap();
    drop(db);
    refused(
        read(path),
        "search is a virtual table or a generated column",
    );
}

#[test]
fn a_channel_whose_nodes_are_a_virtual_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(
        dir.path(),
        "CREATE VIRTUAL TABLE content_contentnode USING fts5(id, title, description, kind, sort_order, lft,
         parent_id)",
    );
    node(&db, "root", None, "topic");
    node(&db, "doc", Some("root"), "document");
    drop(db);
    refused(read(path), "content_contentnode is a virtual table");
}

#[test]
fn a_channel_with_a_generated_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A description computed on every read: here a gigabyte of zeros for each row.
    let (path, db) = channel(
        dir.path(),
        "CREATE TABLE content_contentnode (id TEXT, title TEXT NOT NULL, kind TEXT NOT NULL, sort_order REAL,
         lft INTEGER, parent_id TEXT, description TEXT GENERATED ALWAYS AS (zeroblob(1000000000)) VIRTUAL)",
    );
    node(&db, "root", None, "topic");
    node(&db, "doc", Some("root"), "document");
    drop(db);
    refused(
        read(path),
        "content_contentnode.description is a virtual table or a generated column",
    );
}

/// Parent links drawn by the file: `a` under the root, `b` under `a`, and repeated rows putting `a` under
/// `b` and `b` under `a` again, three times each. Followed without a visited set (as before), every level
/// multiplies the walk by nine, until the depth limit: 9³² nodes. Walked once, the channel's one document
/// is read once.
#[test]
fn parent_link_cycles_and_repeated_ids_are_walked_once() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    node(&db, "a", Some("root"), "topic");
    node(&db, "root", Some("a"), "topic");
    for _ in 0..3 {
        node(&db, "b", Some("a"), "topic");
        node(&db, "a", Some("b"), "topic");
    }
    node(&db, "doc", Some("b"), "document");
    node(&db, "doc", Some("a"), "document");
    drop(db);
    let (_, package) = read(path).unwrap();
    let lessons: Vec<&str> = package
        .modules
        .iter()
        .flat_map(|m| &m.lessons)
        .map(|l| l.title.as_str())
        .collect();
    assert_eq!(lessons, ["doc"], "{package:#?}");
}

#[test]
fn a_database_is_opened_read_only_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    node(&db, "doc", Some("root"), "document");
    // A trigger that would write if anything wrote; nothing does, and triggers are off anyway.
    db.execute_batch(
        "CREATE TABLE log (x); CREATE TRIGGER t AFTER INSERT ON content_file BEGIN INSERT INTO log VALUES (1); END;",
    )
    .unwrap();
    drop(db);
    let before = std::fs::read(&path).unwrap();
    read(path.clone()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// A channel without Kolibri's indexes, so each lesson's files are found by a scan of every file: the work
/// grows with the square of the channel, 3,000 documents costing SQLite more than 10⁷ instructions. With its
/// work capped there, the read stops, naming the cap (the default cap, 200 times higher, is reached the same
/// way by a database some 15 times larger); the same channel reads under the default.
#[test]
fn a_channel_that_makes_sqlite_work_past_its_cap_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    db.execute_batch("BEGIN").unwrap();
    for i in 0..3_000 {
        let id = format!("doc{i}");
        node(&db, &id, Some("root"), "document");
        db.execute(
            "INSERT INTO content_file VALUES (?1, 'document', 0, 0, 1, ?1, NULL, 'aa11')",
            [&id],
        )
        .unwrap();
    }
    db.execute_batch("COMMIT").unwrap();
    drop(db);
    let Err(e) = kolibri::read_metered(&path, &Limits::default(), 10_000) else {
        panic!("read a channel past the cap on SQLite's work");
    };
    assert_eq!(e.code(), "too_large", "{e}");
    assert!(
        e.to_string().contains("more than 10000 thousand steps"),
        "{e}"
    );
    let (_, package) = read(path).unwrap();
    assert_eq!(package.modules[0].lessons.len(), 3_000);
}
