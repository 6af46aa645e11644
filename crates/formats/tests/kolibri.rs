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

/// Writes a `.perseus` archive (a zip of `name → bytes`) into the channel's storage as `<checksum>.perseus`
/// and lists it as the exercise `node`'s file.
fn perseus(
    dir: &Path,
    db: &rusqlite::Connection,
    node: &str,
    checksum: &str,
    files: &[(&str, Vec<u8>)],
) {
    use std::io::Write;
    let path = dir.join(format!(
        "content/storage/{}/{}/{checksum}.perseus",
        &checksum[..1],
        &checksum[1..2]
    ));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    db.execute(
        "INSERT INTO content_localfile VALUES (?1, 'perseus')",
        [checksum],
    )
    .unwrap();
    db.execute(
        "INSERT INTO content_file VALUES (?1, 'exercise', 0, 0, 1, ?2, NULL, ?1)",
        [checksum, node],
    )
    .unwrap();
}

/// Kolibri's `content_assessmentmetadata` (the columns the reader uses) with one exercise's row.
fn assessment(db: &rusqlite::Connection, node: &str, ids: &[&str], mastery: &str) {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS content_assessmentmetadata (id TEXT PRIMARY KEY,
             assessment_item_ids TEXT NOT NULL, number_of_assessments INTEGER NOT NULL,
             mastery_model TEXT NOT NULL, randomize BOOL NOT NULL, is_manipulable BOOL NOT NULL,
             contentnode_id TEXT NOT NULL)",
    )
    .unwrap();
    db.execute(
        "INSERT INTO content_assessmentmetadata VALUES (?1, ?2, ?3, ?4, 1, 0, ?1)",
        rusqlite::params![
            node,
            serde_json::to_string(ids).unwrap(),
            ids.len(),
            mastery
        ],
    )
    .unwrap();
}

fn radio(content: &str, choices: &[(&str, bool)], multiple: bool) -> serde_json::Value {
    let choices: Vec<serde_json::Value> = choices
        .iter()
        .map(|(c, right)| serde_json::json!({"content": c, "correct": right}))
        .collect();
    serde_json::json!({
        "question": {"content": content, "images": {}, "widgets": {"radio 1": {
            "type": "radio", "graded": true,
            "options": {"choices": choices, "multipleSelect": multiple, "randomize": true}}}},
        "answerArea": {"calculator": false},
        "hints": [{"content": "Count on your fingers: $1+1=2$."}]
    })
}

fn numeric_input(name: &str) -> serde_json::Value {
    serde_json::json!({"type": "numeric-input", "options": {"answers": [
        {"value": 0.5, "status": "correct", "maxError": 0.01, "message": "", "simplify": "required"},
        {"value": 0.25, "status": "wrong", "maxError": null, "message": "That is **a quarter**."}
    ], "size": "normal", "coefficient": false, "labelText": name}})
}

fn widgets(content: &str, widgets: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "question": {"content": content, "images": {}, "widgets": widgets},
        "hints": []
    }))
    .unwrap()
}

/// An exercise of nine Perseus items, as Kolibri exports one: five SmartCourse grades (a single choice with
/// TeX, a multiple response, a numeric input with a tolerance and a wrong answer's message, an input-number, two
/// numeric boxes in one item) and four it cannot (an interactive graph, an expression, an image choice, a radio
/// beside a number), with one item listed whose file is missing. Kolibri's mastery model is 3 of the last 5.
#[test]
fn an_exercise_becomes_a_quiz_lesson_and_its_answers_are_graded_as_perseus_grades_them() {
    use smartcourse_formats::quiz::{self, PassRule, QuestionKind, Response};
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    node(&db, "topic", Some("root"), "topic");
    node(&db, "practice", Some("topic"), "exercise");
    let items = [
        "single", "multi", "num", "inum", "two", "graph", "expr", "img", "mixed", "lost",
    ];
    assessment(
        &db,
        "practice",
        &items,
        r#"{"type": "m_of_n", "m": 3, "n": 5}"#,
    );
    let item = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
    perseus(
        dir.path(),
        &db,
        "practice",
        "bb22",
        &[
            ("exercise.json", b"{}".to_vec()),
            (
                "single.json",
                item(radio(
                    "What is $2+2$?\n\n[[☃ radio 1]]",
                    &[("$4$", true), ("$5$", false), ("$22$", false)],
                    false,
                )),
            ),
            (
                "multi.json",
                item(radio(
                    "Which are even? [[☃ radio 1]]",
                    &[("2", true), ("4", true), ("5", false)],
                    true,
                )),
            ),
            (
                "num.json",
                widgets(
                    "Half of one is [[☃ numeric-input 1]]",
                    serde_json::json!({"numeric-input 1": numeric_input("half")}),
                ),
            ),
            (
                "inum.json",
                widgets(
                    "Seven quarters: [[☃ input-number 1]]",
                    serde_json::json!({"input-number 1": {"type": "input-number", "options": {
                        "value": 1.75, "inexact": true, "maxError": 0.005, "answerType": "number"}}}),
                ),
            ),
            (
                "two.json",
                widgets(
                    "Half: [[☃ numeric-input 1]] and again: [[☃ numeric-input 2]]",
                    serde_json::json!({"numeric-input 1": numeric_input("a"),
                                       "numeric-input 2": numeric_input("b")}),
                ),
            ),
            (
                "graph.json",
                widgets(
                    "Plot it [[☃ interactive-graph 1]]",
                    serde_json::json!({"interactive-graph 1": {"type": "interactive-graph", "options": {}}}),
                ),
            ),
            (
                "expr.json",
                widgets(
                    "Simplify [[☃ expression 1]]",
                    serde_json::json!({"expression 1": {"type": "expression", "options": {}}}),
                ),
            ),
            (
                "img.json",
                item(radio(
                    "Which picture? [[☃ radio 1]]",
                    &[
                        ("![a cat](${☣ LOCALPATH}/images/cat.png)", true),
                        ("dog", false),
                    ],
                    false,
                )),
            ),
            (
                "mixed.json",
                widgets(
                    "[[☃ radio 1]] and [[☃ numeric-input 1]]",
                    serde_json::json!({"radio 1": {"type": "radio", "options": {"choices": [
                        {"content": "a", "correct": true}]}},
                        "numeric-input 1": numeric_input("n")}),
                ),
            ),
        ],
    );
    drop(db);
    let (_, package) = read(path).unwrap();
    let lesson = &package.modules[0].lessons[0];
    assert_eq!(lesson.title, "practice");
    let quiz = lesson.quiz.as_ref().expect("the exercise is a quiz lesson");
    let ids: Vec<&str> = quiz.questions.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["single", "multi", "num", "inum", "two"]);
    assert_eq!(quiz.pass, PassRule::Mastery { m: 3, n: 5 });
    assert!(quiz.shuffle_questions, "randomize is kept");
    for (id, words) in [
        ("graph", "interactive-graph widget"),
        ("expr", "expression widget"),
        ("img", "a choice is an image"),
        ("mixed", "its radio widget cannot be a gap"),
        ("lost", "lost.json is missing"),
    ] {
        let expected = format!("“practice” (exercise): item {id}: ");
        assert!(
            package
                .skipped
                .iter()
                .any(|s| s.starts_with(&expected) && s.contains(words)),
            "{id} ({words}) not listed: {:#?}",
            package.skipped
        );
    }
    assert_eq!(package.skipped.len(), 5, "{:#?}", package.skipped);

    let q = |id: &str| quiz.questions.iter().find(|q| q.id == id).unwrap();
    let fraction = |id: &str, r: Response| quiz::grade(q(id), &r).fraction;
    let choice = |id: &str, text: &str| -> String {
        let (QuestionKind::SingleChoice { choices }
        | QuestionKind::MultipleResponse { choices, .. }) = &q(id).kind
        else {
            panic!("{id} is not a choice question");
        };
        choices.iter().find(|c| c.text == text).unwrap().id.clone()
    };
    // The single choice: its TeX kept for the quiz pages to typeset, its hint with it.
    assert_eq!(q("single").prompt, "What is \\(2+2\\)?");
    assert_eq!(q("single").hints, ["Count on your fingers: \\(1+1=2\\)."]);
    assert!(q("single").shuffle_choices);
    let pick = |id: &str, text: &str| Response::Choice {
        choice: choice(id, text),
    };
    assert_eq!(fraction("single", pick("single", "\\(4\\)")), 1.0);
    assert_eq!(fraction("single", pick("single", "\\(5\\)")), 0.0);
    // Multiple response, all or nothing as Perseus grades it: one right choice of two earns nothing.
    let picks = |texts: &[&str]| Response::Choices {
        choices: texts.iter().map(|t| choice("multi", t)).collect(),
    };
    assert_eq!(fraction("multi", picks(&["2", "4"])), 1.0);
    assert_eq!(fraction("multi", picks(&["2"])), 0.0);
    assert_eq!(fraction("multi", picks(&["2", "4", "5"])), 0.0);
    // Numeric input: within maxError is right; the listed wrong answer says its message.
    let number = |t: &str| Response::Number { text: t.into() };
    assert_eq!(fraction("num", number("0.505")), 1.0);
    assert_eq!(fraction("num", number("0.52")), 0.0);
    let wrong = quiz::grade(q("num"), &number("0.25"));
    assert!(!wrong.correct);
    assert!(
        wrong
            .feedback
            .iter()
            .any(|f| f == "That is <strong>a quarter</strong>."),
        "{:?}",
        wrong.feedback
    );
    // Input-number, inexact within its maxError.
    assert_eq!(fraction("inum", number("1.751")), 1.0);
    assert_eq!(fraction("inum", number("1.8")), 0.0);
    // Two boxes: a gap each; one right of two is half the point, and not right for mastery.
    let QuestionKind::FillBlanks { gaps } = &q("two").kind else {
        panic!("two boxes make a fill-in question");
    };
    assert_eq!(gaps.len(), 2);
    assert_eq!(q("two").prompt, "Half: [[g1]] and again: [[g2]]");
    let blanks = |a: &str, b: &str| Response::Blanks {
        gaps: [
            ("g1".to_owned(), a.to_owned()),
            ("g2".to_owned(), b.to_owned()),
        ]
        .into(),
    };
    assert_eq!(fraction("two", blanks("0.5", "0.5")), 1.0);
    let partly = quiz::grade(q("two"), &blanks("0.5", "7"));
    assert_eq!((partly.fraction, partly.correct), (0.5, false));
    assert_eq!(fraction("two", blanks("1", "7")), 0.0);
}

/// Kolibri's mastery models as pass rules.
#[test]
fn mastery_models_map_onto_the_mastery_rule() {
    use smartcourse_formats::quiz::PassRule;
    let rule = |m: &str, items| kolibri::mastery(m, items);
    assert_eq!(
        rule(r#"{"type": "m_of_n", "m": 3, "n": 5}"#, 9),
        Ok(PassRule::Mastery { m: 3, n: 5 })
    );
    assert_eq!(
        rule(r#"{"type": "do_all"}"#, 4),
        Ok(PassRule::Mastery { m: 4, n: 4 })
    );
    assert_eq!(
        rule(
            r#"{"type": "num_correct_in_a_row_10", "m": 10, "n": 10}"#,
            4
        ),
        Ok(PassRule::Mastery { m: 10, n: 10 })
    );
    assert_eq!(
        rule("num_correct_in_a_row_3", 4),
        Ok(PassRule::Mastery { m: 3, n: 3 })
    );
    for bad in [
        r#"{"type": "m_of_n", "m": 6, "n": 5}"#,
        r#"{"type": "m_of_n", "m": 0, "n": 5}"#,
        r#"{"type": "skill_check"}"#,
        "[[[",
    ] {
        assert!(rule(bad, 4).is_err(), "{bad}");
    }
}

/// Hostile `.perseus` archives: one that is not a zip, an item that is not JSON, an id that climbs out and an
/// item of 64 MiB (cut at a lesson's size) are listed, and the rest of the channel reads; archives whose items
/// together inflate past the package's budget stop the read with the budget's error.
#[test]
fn hostile_exercise_archives_are_listed_or_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    node(&db, "doc", Some("root"), "document");
    node(&db, "notzip", Some("root"), "exercise");
    node(&db, "garbled", Some("root"), "exercise");
    node(&db, "bomb", Some("root"), "exercise");
    assessment(&db, "notzip", &["a"], "do_all");
    assessment(&db, "garbled", &["a", "../../etc/passwd"], "do_all");
    assessment(&db, "bomb", &["a"], "do_all");
    for (big, checksum) in [("big1", "ab12"), ("big2", "ac12")] {
        node(&db, big, Some("root"), "exercise");
        assessment(&db, big, &["a"], "do_all");
        perseus(
            dir.path(),
            &db,
            big,
            checksum,
            &[("a.json", vec![b' '; 600 << 10])],
        );
    }
    let fake = dir.path().join("content/storage/c/c/cc33.perseus");
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    std::fs::write(&fake, b"PK\x03\x04 not really a zip").unwrap();
    db.execute(
        "INSERT INTO content_localfile VALUES ('cc33', 'perseus')",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO content_file VALUES ('cc33', 'exercise', 0, 0, 1, 'notzip', NULL, 'cc33')",
        [],
    )
    .unwrap();
    perseus(
        dir.path(),
        &db,
        "garbled",
        "dd44",
        &[("a.json", b"{\"question\": [[[[".to_vec())],
    );
    // 64 MiB of spaces: a few dozen KiB deflated.
    perseus(
        dir.path(),
        &db,
        "bomb",
        "ee55",
        &[("a.json", vec![b' '; 64 << 20])],
    );
    drop(db);
    // Under the default budget, the bomb's item stops at a lesson's size and is listed.
    let (_, package) = read(path.clone()).unwrap();
    assert_eq!(package.modules[0].lessons.len(), 1, "{package:#?}");
    for words in [
        "“notzip” (exercise): its storage/c/c/cc33.perseus cannot be read",
        "“garbled” (exercise): item a: a.json is not valid JSON",
        "“garbled” (exercise): item ../../etc/passwd: its id is not one Kolibri makes",
        "“bomb” (exercise): item a: ",
    ] {
        assert!(
            package.skipped.iter().any(|s| s.starts_with(words)),
            "{words}: {:#?}",
            package.skipped
        );
    }
    // A budget of 1 MiB: each archive is within it, the two big ones together are not.
    let limits = Limits {
        max_package_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let Err(e) = kolibri::read(&path, &limits) else {
        panic!("read past the package budget");
    };
    assert_eq!(e.code(), "too_large", "{e}");
    assert!(e.to_string().contains("unpacks to more than 1 MiB"), "{e}");
}

/// A database copied without its storage folder: the exercise is named in the report, not dropped silently.
#[test]
fn an_exercise_without_storage_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = channel(dir.path(), NODES);
    node(&db, "root", None, "topic");
    node(&db, "doc", Some("root"), "document");
    node(&db, "practice", Some("root"), "exercise");
    assessment(&db, "practice", &["a"], "do_all");
    perseus(
        dir.path(),
        &db,
        "practice",
        "bb22",
        &[("a.json", b"{}".to_vec())],
    );
    drop(db);
    std::fs::remove_dir_all(dir.path().join("content/storage")).unwrap();
    let (_, package) = read(path).unwrap();
    assert!(
        package
            .skipped
            .iter()
            .any(|s| s
                == "“practice” (exercise): its .perseus file is not here (no storage/ folder)"),
        "{:#?}",
        package.skipped
    );
}
