//! Kolibri channels: a channel database (`content/databases/<channel id>.sqlite3`) and its files
//! (`content/storage/<a>/<b>/<checksum>.<ext>`), as Kolibri keeps them and as `kolibri manage exportchannel` /
//! `exportcontent` copy them to a drive.
//!
//! The topic tree, ordered by `sort_order`: each topic under the channel's root becomes a module (content
//! directly under the root goes to a first module named after the channel); every resource below it, depth
//! first, a lesson. Documents (PDF, EPUB), videos and audio are attached; a video's subtitles are attached
//! too (so the lesson plays it with them) and their text becomes the lesson's transcript, so search and the
//! tutor find it. An exercise becomes a quiz lesson: its `.perseus` archive holds one Perseus item per question
//! ([`crate::quiz::perseus`]), read in the order `content_assessmentmetadata` lists them, and its mastery
//! model becomes the quiz's pass rule ([`mastery`]); items SmartCourse cannot grade are listed by id with the
//! reason. HTML5 apps, slideshows and other kinds are reported as skipped.
//!
//! A `.perseus` archive is opened with the channel's budget ([`Source::archive`]): what it inflates, each item
//! read (at most a lesson's size each) and each item id listed count against the same limits as the rest.
//!
//! A channel database comes from anywhere, and an SQLite file is a program as much as data: its schema can
//! hold virtual tables, generated columns, views and triggers, all evaluated by whoever reads it. So the file
//! is opened read-only in SQLite's defensive mode with `trusted_schema` off and views and triggers disabled;
//! a database with a virtual table or a generated column is refused before any query reads a row; every row
//! read is charged to the package's budget, each value is cut to what a lesson can use, and SQLite's own work
//! is metered ([`MAX_SQL_STEPS`]), so a database without the indexes Kolibri makes (every lookup a full scan)
//! stops with an error instead of running for hours. The topic tree is a pointer graph (parent links): it is
//! walked with a visited set, so duplicated ids and cycles cannot make it loop or grow.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::quiz::{PassRule, Quiz, perseus};
use crate::subtitles;
use crate::{Error, Limits, Package, PackageLesson, PackageModule, Result, Source};

/// How much work SQLite may do for one channel, in thousands of its virtual machine's instructions: about a
/// minute on a laptop at worst. A real channel of 50,000 nodes, read through Kolibri's indexes, takes a few
/// hundred thousand instructions per thousand nodes; a crafted database that makes every lookup a full scan
/// reaches this instead of running for hours.
pub const MAX_SQL_STEPS: u64 = 2_000_000;

/// Longest title or content kind read from a node; longer ones are cut (a lesson title is far shorter).
const MAX_TITLE_CHARS: i64 = 1_000;

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// The channel databases in a folder: `databases/`, `content/databases/`, or the folder itself.
fn databases_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in [
        dir.join("content/databases"),
        dir.join("databases"),
        dir.to_path_buf(),
    ] {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "sqlite3") && p.is_file() {
                out.push(p);
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out.sort();
    out
}

/// Whether `path` is a Kolibri channel: a `.sqlite3` file, or a folder with channel databases.
pub fn is_channel(path: &Path) -> bool {
    if path.is_file() {
        return path.extension().is_some_and(|e| e == "sqlite3");
    }
    path.is_dir() && !databases_in(path).is_empty()
}

/// Where the channel's `storage/` folder is: beside `databases/`, or beside the database file.
fn content_root(db: &Path) -> Option<PathBuf> {
    let parent = db.parent()?;
    [
        parent.parent().map(Path::to_path_buf),
        Some(parent.to_path_buf()),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.join("storage").is_dir())
}

/// Most items listed as not imported for one exercise; the rest are counted.
const MAX_LISTED_ITEMS: usize = 20;

/// Longest mastery model or list of item ids read from an exercise's metadata, in characters (a real one
/// lists a few hundred ids of 32 characters).
const MAX_METADATA_CHARS: i64 = 1_000_000;

/// A Kolibri mastery model (`content_assessmentmetadata.mastery_model`, JSON) as a pass rule: `m_of_n` is
/// `m` right of the last `n` answers; `num_correct_in_a_row_N` is N of the last N; `do_all` is every one of
/// the exercise's `items` questions. Kolibri counts answers across tries, as SmartCourse's mastery rule does.
/// `Err` names a model SmartCourse has no rule for.
pub fn mastery(model: &str, items: usize) -> std::result::Result<PassRule, String> {
    let value: serde_json::Value =
        serde_json::from_str(model).unwrap_or(serde_json::Value::String(model.to_owned()));
    let kind = value
        .get("type")
        .and_then(serde_json::Value::as_str)
        .or(value.as_str())
        .unwrap_or("")
        .trim();
    let count = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let all = u32::try_from(items.max(1)).unwrap_or(u32::MAX);
    let (m, n) = match kind {
        "do_all" => (all, all),
        "m_of_n" => match (count("m"), count("n")) {
            (Some(m), Some(n)) if 0 < m && m <= n => (m, n),
            _ => return Err(format!("its mastery model {model} has no valid m and n")),
        },
        _ => match kind
            .strip_prefix("num_correct_in_a_row_")
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(n) if n > 0 => (n, n),
            _ => {
                return Err(format!(
                    "its mastery model {kind:?} is not one SmartCourse has"
                ));
            }
        },
    };
    Ok(PassRule::Mastery { m, n })
}

/// The file kinds a lesson can hold (see `courses::upload::detect`).
const ACCEPTED: &[&str] = &["pdf", "mp4", "webm", "mp3", "ogg", "vtt", "srt"];

struct Node {
    id: String,
    title: String,
    /// Where the node's row is, to read its description only when it becomes a lesson.
    row: i64,
    kind: String,
}

/// An SQLite error while reading the channel: the file's fault (damaged, or not what Kolibri writes), or the
/// step meter stopping it (turned into the budget's error by [`read`]).
fn sql(e: rusqlite::Error) -> Error {
    bad(format!("the channel database cannot be read: {e}"))
}

struct File {
    checksum: String,
    extension: String,
    preset: String,
    lang: Option<String>,
}

/// Reads a channel within `limits`: the package outline, and the folder its files are read from (with the
/// budget this reading started).
pub fn read(path: &Path, limits: &Limits) -> Result<(Source, Package)> {
    read_metered(path, limits, MAX_SQL_STEPS)
}

/// [`read`] with SQLite's work capped at `max_sql_steps` thousand instructions instead of [`MAX_SQL_STEPS`]
/// (a test reaches a lower cap with a small database).
pub fn read_metered(path: &Path, limits: &Limits, max_sql_steps: u64) -> Result<(Source, Package)> {
    let db = if path.is_dir() {
        let found = databases_in(path);
        match found.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(bad(format!(
                    "{} has no Kolibri channel database",
                    path.display()
                )));
            }
            many => {
                let names: Vec<String> = many
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                return Err(bad(format!(
                    "{} holds {} channels ({}); import one database file at a time",
                    path.display(),
                    many.len(),
                    names.join(", ")
                )));
            }
        }
    } else {
        path.to_path_buf()
    };
    let root_dir = content_root(&db);
    // The files are read from this folder with the same budget as the database's rows.
    let source = Source::dir(
        root_dir
            .clone()
            .unwrap_or_else(|| db.parent().unwrap_or(Path::new(".")).to_path_buf()),
        limits,
    );
    let (conn, steps) = open(&db, max_sql_steps)?;
    let package = read_channel(&conn, &db, root_dir, &source).map_err(|e| {
        if steps.load(Ordering::Relaxed) > max_sql_steps {
            Error::TooLarge(
                format!(
                    "this channel's database takes more than {max_sql_steps} thousand steps to read \
                     (a channel exported by Kolibri takes far fewer: its indexes may be missing)"
                )
                .into(),
            )
        } else {
            e
        }
    })?;
    Ok((source, package))
}

/// Opens a channel database read-only and defensively (see the module's docs), its work capped at `max_steps`;
/// the counter is SQLite's work so far, in thousands of instructions.
fn open(db: &Path, max_steps: u64) -> Result<(Connection, Arc<AtomicU64>)> {
    let cannot =
        |e: rusqlite::Error| bad(format!("{}: cannot open the database: {e}", db.display()));
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(cannot)?;
    for (option, on) in [
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false),
    ] {
        conn.set_db_config(option, on).map_err(cannot)?;
    }
    let steps = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&steps);
    conn.progress_handler(
        1000,
        Some(move || counted.fetch_add(1, Ordering::Relaxed) >= max_steps),
    );
    // Virtual tables run a module's code on every read; generated columns compute on every read. Kolibri
    // makes neither, so a database with one is not a channel export.
    let refused: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'
             UNION ALL
             SELECT m.name || '.' || x.name FROM sqlite_schema m, pragma_table_xinfo(m.name) x
             WHERE m.type = 'table' AND x.hidden IN (2, 3)
             LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| bad(format!("{} is not an SQLite database: {e}", db.display())))?;
    if let Some(what) = refused {
        return Err(bad(format!(
            "{}: {what} is a virtual table or a generated column, which a Kolibri channel does not have; \
             the database is not read",
            db.display()
        )));
    }
    Ok((conn, steps))
}

/// The channel's outline, its rows and files charged to `source`'s budget.
fn read_channel(
    conn: &Connection,
    db: &Path,
    root_dir: Option<PathBuf>,
    source: &Source,
) -> Result<Package> {
    let schema_ok: bool = conn
        .query_row(
            "SELECT count(*) = 4 FROM sqlite_master WHERE type = 'table' AND name IN
             ('content_contentnode', 'content_file', 'content_localfile', 'content_channelmetadata')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| bad(format!("{} is not an SQLite database: {e}", db.display())))?;
    if !schema_ok {
        return Err(bad(format!(
            "{} is an SQLite database but not a Kolibri channel (no content_contentnode/content_file tables)",
            db.display()
        )));
    }
    let (channel, name, description, version, root): (String, String, String, i64, String) = conn
        .query_row(
            "SELECT substr(id, 1, 64), substr(name, 1, ?1), substr(description, 1, ?2), version,
                    substr(root_id, 1, 64)
             FROM content_channelmetadata LIMIT 1",
            rusqlite::params![MAX_TITLE_CHARS, source.budget().max_lesson_bytes()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    r.get(3)?,
                    r.get(4)?,
                ))
            },
        )
        .optional()
        .map_err(sql)?
        .ok_or_else(|| bad(format!("{}: the channel has no metadata row", db.display())))?;
    let mut reader = Reader {
        conn,
        source,
        root_dir: root_dir.clone(),
        skipped: Vec::new(),
        file_names: BTreeMap::new(),
        visited: HashSet::from([root.clone()]),
        assessments: has_table(conn, "content_assessmentmetadata")?,
    };
    if root_dir.is_none() {
        reader.skipped.push(format!(
            "no storage/ folder beside {}: lessons are imported without their files",
            db.display()
        ));
    }
    let mut modules = Vec::new();
    let mut loose = Vec::new();
    for node in reader.children(&root)? {
        if node.kind == "topic" {
            let mut lessons = Vec::new();
            reader.collect(&node, &mut lessons, 0)?;
            modules.push(PackageModule {
                title: node.title,
                lessons,
            });
        } else if let Some(l) = reader.lesson(&node)? {
            loose.push(source.budget().keep(l)?);
        }
    }
    if !loose.is_empty() {
        modules.insert(
            0,
            PackageModule {
                title: name.clone(),
                lessons: loose,
            },
        );
    }
    modules.retain(|m| !m.lessons.is_empty());
    Ok(Package {
        kept_files: None,
        format: format!("Kolibri channel (version {version})"),
        key: Some(format!("kolibri:{channel}")),
        title: name,
        description,
        capacity: None,
        modules,
        skipped: reader.skipped,
        file_names: reader.file_names,
        skip_unsupported_files: true,
    })
}

fn has_table(conn: &Connection, name: &str) -> Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get(0),
    )
    .map_err(sql)
}

struct Reader<'c> {
    conn: &'c Connection,
    source: &'c Source,
    root_dir: Option<PathBuf>,
    skipped: Vec<String>,
    file_names: BTreeMap<String, String>,
    /// Nodes met so far, by id: parent links come from the file, so one id may appear under several parents
    /// (duplicated rows: the table's key is not enforced by a crafted file) or under itself; each is walked once.
    visited: HashSet<String>,
    /// Whether the channel has exercises' metadata (item ids and mastery models).
    assessments: bool,
}

/// What the budget calls the rows it is charged for.
const ROWS: &str = "the channel database";

impl Reader<'_> {
    /// The nodes under `parent` not met before, in order; each row read is charged to the budget.
    fn children(&mut self, parent: &str) -> Result<Vec<Node>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT substr(id, 1, 64), substr(title, 1, ?2), rowid, substr(kind, 1, 32)
                 FROM content_contentnode WHERE parent_id = ?1 ORDER BY sort_order, lft, title",
            )
            .map_err(sql)?;
        let mut rows = stmt
            .query(rusqlite::params![parent, MAX_TITLE_CHARS])
            .map_err(sql)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql)? {
            self.source.budget().rows(1, ROWS)?;
            let id: String = r.get(0).map_err(sql)?;
            if !self.visited.insert(id.clone()) {
                continue;
            }
            out.push(Node {
                id,
                title: r
                    .get::<_, Option<String>>(1)
                    .map_err(sql)?
                    .unwrap_or_default(),
                row: r.get(2).map_err(sql)?,
                kind: r
                    .get::<_, Option<String>>(3)
                    .map_err(sql)?
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Every resource under `topic`, depth first, in order, each charged to the budget.
    fn collect(&mut self, topic: &Node, out: &mut Vec<PackageLesson>, depth: usize) -> Result<()> {
        if depth > 32 {
            self.skipped
                .push(format!("“{}”: topics nest too deep", topic.title));
            return Ok(());
        }
        for node in self.children(&topic.id)? {
            if node.kind == "topic" {
                self.collect(&node, out, depth + 1)?;
            } else if let Some(l) = self.lesson(&node)? {
                out.push(self.source.budget().keep(l)?);
            }
        }
        Ok(())
    }

    /// A node's description, cut at the longest lesson body.
    fn description(&self, node: &Node) -> Result<String> {
        let max = self.source.budget().max_lesson_bytes();
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT substr(description, 1, ?2) FROM content_contentnode WHERE rowid = ?1",
                rusqlite::params![node.row, max],
                |r| r.get(0),
            )
            .map_err(sql)?;
        Ok(text.unwrap_or_default())
    }

    fn files(&self, node: &str) -> Result<Vec<File>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT substr(l.id, 1, 64), substr(l.extension, 1, 16), substr(f.preset, 1, 64),
                        substr(f.lang_id, 1, 16)
                 FROM content_file f JOIN content_localfile l ON l.id = f.local_file_id
                 WHERE f.contentnode_id = ?1 AND NOT f.thumbnail
                 ORDER BY f.supplementary, f.priority, f.preset",
            )
            .map_err(sql)?;
        let mut rows = stmt.query([node]).map_err(sql)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql)? {
            self.source.budget().rows(1, ROWS)?;
            out.push(File {
                checksum: r
                    .get::<_, Option<String>>(0)
                    .map_err(sql)?
                    .unwrap_or_default(),
                extension: r
                    .get::<_, Option<String>>(1)
                    .map_err(sql)?
                    .unwrap_or_default(),
                preset: r
                    .get::<_, Option<String>>(2)
                    .map_err(sql)?
                    .unwrap_or_default(),
                lang: r.get(3).map_err(sql)?,
            });
        }
        Ok(out)
    }

    /// The file's path under the content root, if the file is there and of a kind lessons take (else
    /// reported).
    fn stored(&mut self, node: &Node, file: &File, shown: String) -> Option<String> {
        if !ACCEPTED.contains(&file.extension.to_ascii_lowercase().as_str()) {
            self.skipped.push(format!(
                "“{}”: its .{} file ({}) is not a kind of file lessons take",
                node.title, file.extension, file.preset
            ));
            return None;
        }
        let path = self.path_of(node, file)?;
        self.file_names.insert(path.clone(), shown);
        Some(path)
    }

    /// Where `file` is under the content root, if it is there (else reported).
    fn path_of(&mut self, node: &Node, file: &File) -> Option<String> {
        let c = &file.checksum;
        if c.len() < 2 || !c.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            self.skipped
                .push(format!("“{}”: a file has a malformed checksum", node.title));
            return None;
        }
        let ext: String = file
            .extension
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let path = format!("storage/{}/{}/{c}.{ext}", &c[..1], &c[1..2]);
        if !self
            .root_dir
            .as_ref()
            .is_some_and(|r| r.join(&path).is_file())
        {
            if self.root_dir.is_some() {
                self.skipped.push(format!(
                    "“{}”: {path} ({}) is missing from storage",
                    node.title, file.preset
                ));
            }
            return None;
        }
        Some(path)
    }

    /// An exercise's item ids, mastery model and whether its questions are shuffled, from
    /// `content_assessmentmetadata`; `None` when the channel has no row for it.
    fn assessment(&self, node: &Node) -> Result<Option<(String, String, bool)>> {
        if !self.assessments {
            return Ok(None);
        }
        let row = self
            .conn
            .query_row(
                "SELECT substr(assessment_item_ids, 1, ?2), substr(mastery_model, 1, ?2), randomize
                 FROM content_assessmentmetadata WHERE contentnode_id = ?1 LIMIT 1",
                rusqlite::params![node.id, MAX_METADATA_CHARS],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        r.get::<_, Option<bool>>(2)?.unwrap_or(false),
                    ))
                },
            )
            .optional()
            .map_err(sql)?;
        if row.is_some() {
            self.source.budget().rows(1, ROWS)?;
        }
        Ok(row)
    }

    /// An exercise as a quiz lesson (see the module's docs); `None`, listed, when it has no `.perseus`
    /// archive, the archive cannot be read, or none of its items can be imported.
    fn exercise(&mut self, node: &Node) -> Result<Option<PackageLesson>> {
        let title = node.title.clone();
        let skip = |reader: &mut Self, why: String| {
            reader.skipped.push(format!("“{title}” (exercise): {why}"));
            Ok(None)
        };
        let files = self.files(&node.id)?;
        let Some(file) = files
            .iter()
            .find(|f| f.extension.eq_ignore_ascii_case("perseus"))
        else {
            return skip(
                self,
                "it has no .perseus file (only Perseus exercises are imported)".into(),
            );
        };
        let Some(path) = self.path_of(node, file) else {
            // A missing file is listed by `path_of` when there is a storage folder to miss it from.
            if self.root_dir.is_none() {
                return skip(
                    self,
                    "its .perseus file is not here (no storage/ folder)".into(),
                );
            }
            return Ok(None);
        };
        let archive = match self.source.budget().soft(self.source.archive(&path))? {
            Ok(a) => a,
            Err(e) => return skip(self, format!("its {path} cannot be read: {e}")),
        };
        let (ids, model, randomize) = match self.assessment(node)? {
            Some((ids, model, randomize)) => (ids, model, randomize),
            // Without the channel's metadata, the archive's own list (what Kolibri Studio writes there).
            None => {
                let listed = match self
                    .source
                    .budget()
                    .soft(archive.read_lesson("exercise.json"))?
                {
                    Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v.get("all_assessment_items").cloned())
                        .map(|v| v.to_string()),
                    Err(_) => None,
                };
                let Some(ids) = listed else {
                    return skip(
                        self,
                        "neither the channel nor its .perseus file lists its questions".into(),
                    );
                };
                (ids, String::new(), false)
            }
        };
        let Ok(ids) = serde_json::from_str::<Vec<String>>(&ids) else {
            return skip(
                self,
                "its list of questions is not a JSON list of ids".into(),
            );
        };
        let mut questions = Vec::new();
        let mut refused = Vec::new();
        for id in &ids {
            self.source.budget().rows(1, ROWS)?;
            match self.item(&archive, id)? {
                Ok(q) => questions.push(q),
                Err(why) => refused.push(format!("item {id}: {why}")),
            }
        }
        let total = refused.len();
        for why in refused.into_iter().take(MAX_LISTED_ITEMS) {
            self.skipped.push(format!("“{title}” (exercise): {why}"));
        }
        if total > MAX_LISTED_ITEMS {
            self.skipped.push(format!(
                "“{title}” (exercise): {} more items not imported",
                total - MAX_LISTED_ITEMS
            ));
        }
        if questions.is_empty() {
            return skip(
                self,
                format!("none of its {} questions could be imported", ids.len()),
            );
        }
        let mut quiz = Quiz::new(title.clone(), questions);
        quiz.shuffle_questions = randomize;
        if !model.trim().is_empty() {
            match mastery(&model, quiz.questions.len()) {
                Ok(rule) => quiz.pass = rule,
                Err(why) => self.skipped.push(format!(
                    "“{title}” (exercise): {why}; it passes at half the points instead"
                )),
            }
        }
        let description = self.description(node)?;
        Ok(Some(PackageLesson {
            launch: None,
            quiz: Some(quiz),
            refs: Vec::new(),
            title,
            body: description.trim().to_owned(),
            attachments: Vec::new(),
        }))
    }

    /// The Perseus item `id` of an exercise's archive as a question; the inner `Err` says why it is not one.
    /// An item file is read up to a lesson's size.
    fn item(
        &self,
        archive: &Source,
        id: &str,
    ) -> Result<std::result::Result<crate::quiz::Question, String>> {
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Ok(Err("its id is not one Kolibri makes".into()));
        }
        let bytes = match self
            .source
            .budget()
            .soft(archive.read_lesson(&format!("{id}.json")))?
        {
            Ok(b) => b,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let json: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return Ok(Err(format!("{id}.json is not valid JSON: {e}"))),
        };
        Ok(perseus::item(id, &json))
    }

    fn lesson(&mut self, node: &Node) -> Result<Option<PackageLesson>> {
        let kind = node.kind.as_str();
        if kind == "exercise" {
            return self.exercise(node);
        }
        if !matches!(kind, "video" | "audio" | "document") {
            let why = match kind {
                "html5" | "h5p" | "zim" => "interactive apps are not imported",
                _ => "this Kolibri content kind is not imported",
            };
            self.skipped
                .push(format!("“{}” ({kind}): {why}", node.title));
            return Ok(None);
        }
        let files = self.files(&node.id)?;
        let safe_title: String = node
            .title
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == ' ' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .trim()
            .to_owned();
        let mut attachments = Vec::new();
        let mut body = String::new();
        let description = self.description(node)?;
        if !description.trim().is_empty() {
            body.push_str(description.trim());
            body.push_str("\n\n");
        }
        // One main file (the first by priority), and for videos every subtitle track.
        let main = files
            .iter()
            .find(|f| !f.preset.contains("subtitle") && !f.preset.contains("thumbnail"));
        if let Some(f) = main
            && let Some(p) = self.stored(node, f, format!("{safe_title}.{}", f.extension))
        {
            attachments.push(p);
        }
        let mut transcript_done = false;
        for f in files.iter().filter(|f| f.preset.contains("subtitle")) {
            let lang = f.lang.clone().unwrap_or_else(|| "und".into());
            let Some(p) = self.stored(node, f, format!("{safe_title}-{lang}.{}", f.extension))
            else {
                continue;
            };
            // The subtitle file is read within the lesson limit (its text becomes the lesson's) and charged.
            let text = if transcript_done {
                None
            } else {
                self.source.budget().soft(self.source.read_lesson(&p))?.ok()
            };
            if let Some(text) = text {
                let cues = subtitles::parse(&String::from_utf8_lossy(&text));
                if !cues.is_empty() {
                    body.push_str("### Transcript\n\n");
                    body.push_str(&subtitles::to_transcript(&cues));
                    transcript_done = true;
                }
            }
            attachments.push(p);
        }
        if attachments.is_empty() {
            self.skipped.push(format!(
                "“{}” ({kind}): none of its files are in storage",
                node.title
            ));
            return Ok(None);
        }
        if body.trim().is_empty() {
            body = match kind {
                "video" => "Watch the video above.\n".into(),
                "audio" => "Listen to the recording above.\n".into(),
                _ => "Open the attached document.\n".into(),
            };
        }
        Ok(Some(PackageLesson {
            launch: None,
            quiz: None,
            refs: Vec::new(),
            title: node.title.clone(),
            body,
            attachments,
        }))
    }
}
