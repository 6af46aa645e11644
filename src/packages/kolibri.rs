//! Kolibri channels: a channel database (`content/databases/<channel id>.sqlite3`) and its files
//! (`content/storage/<a>/<b>/<checksum>.<ext>`), as Kolibri keeps them and as `kolibri manage exportchannel` /
//! `exportcontent` copy them to a drive.
//!
//! The topic tree, ordered by `sort_order`: each topic under the channel's root becomes a module (content
//! directly under the root goes to a first module named after the channel); every resource below it, depth
//! first, a lesson. Documents (PDF, EPUB), videos and audio are attached; a video's subtitles are attached
//! too (so the lesson plays it with them) and their text becomes the lesson's transcript, so search and the
//! tutor find it. Exercises, HTML5 apps, slideshows and other kinds are reported as skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{Package, PackageLesson, PackageModule, Source};
use crate::courses::subtitles;
use crate::error::{Error, Result};

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

/// The file kinds a lesson can hold (see `courses::upload::detect`).
const ACCEPTED: &[&str] = &["pdf", "mp4", "webm", "mp3", "ogg", "vtt", "srt"];

struct Node {
    id: String,
    title: String,
    description: String,
    kind: String,
}

struct File {
    checksum: String,
    extension: String,
    preset: String,
    lang: Option<String>,
}

/// Reads a channel: the package outline, and the folder its files are read from.
pub fn read(path: &Path) -> Result<(Source, Package)> {
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
    let conn = Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| bad(format!("{}: cannot open the database: {e}", db.display())))?;
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
    let sql = |e: rusqlite::Error| bad(format!("{}: {e}", db.display()));
    let (channel, name, description, version, root): (String, String, String, i64, String) = conn
        .query_row(
            "SELECT id, name, description, version, root_id FROM content_channelmetadata LIMIT 1",
            [],
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
    let root_dir = content_root(&db);
    let mut reader = Reader {
        conn: &conn,
        root_dir: root_dir.clone(),
        skipped: Vec::new(),
        file_names: BTreeMap::new(),
    };
    if root_dir.is_none() {
        reader.skipped.push(format!(
            "no storage/ folder beside {}: lessons are imported without their files",
            db.display()
        ));
    }
    let mut modules = Vec::new();
    let mut loose = Vec::new();
    for node in reader.children(&root).map_err(sql)? {
        if node.kind == "topic" {
            let mut lessons = Vec::new();
            reader.collect(&node, &mut lessons, 0).map_err(sql)?;
            modules.push(PackageModule {
                title: node.title,
                lessons,
            });
        } else if let Some(l) = reader.lesson(&node).map_err(sql)? {
            loose.push(l);
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
    let source = Source::Dir(
        root_dir.unwrap_or_else(|| db.parent().unwrap_or(Path::new(".")).to_path_buf()),
    );
    Ok((
        source,
        Package {
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
        },
    ))
}

struct Reader<'c> {
    conn: &'c Connection,
    root_dir: Option<PathBuf>,
    skipped: Vec<String>,
    file_names: BTreeMap<String, String>,
}

impl Reader<'_> {
    fn children(&self, parent: &str) -> rusqlite::Result<Vec<Node>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, title, coalesce(description, ''), kind FROM content_contentnode
             WHERE parent_id = ?1 AND id != ?1 ORDER BY sort_order, lft, title",
        )?;
        stmt.query_map([parent], |r| {
            Ok(Node {
                id: r.get(0)?,
                title: r.get(1)?,
                description: r.get(2)?,
                kind: r.get(3)?,
            })
        })?
        .collect()
    }

    /// Every resource under `topic`, depth first, in order.
    fn collect(
        &mut self,
        topic: &Node,
        out: &mut Vec<PackageLesson>,
        depth: usize,
    ) -> rusqlite::Result<()> {
        if depth > 32 {
            self.skipped
                .push(format!("“{}”: topics nest too deep", topic.title));
            return Ok(());
        }
        for node in self.children(&topic.id)? {
            if node.kind == "topic" {
                self.collect(&node, out, depth + 1)?;
            } else if let Some(l) = self.lesson(&node)? {
                out.push(l);
            }
        }
        Ok(())
    }

    fn files(&self, node: &str) -> rusqlite::Result<Vec<File>> {
        let mut stmt = self.conn.prepare(
            "SELECT l.id, l.extension, f.preset, f.lang_id FROM content_file f
             JOIN content_localfile l ON l.id = f.local_file_id
             WHERE f.contentnode_id = ?1 AND NOT f.thumbnail ORDER BY f.supplementary, f.priority, f.preset",
        )?;
        stmt.query_map([node], |r| {
            Ok(File {
                checksum: r.get(0)?,
                extension: r.get(1)?,
                preset: r.get(2)?,
                lang: r.get(3)?,
            })
        })?
        .collect()
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
        self.file_names.insert(path.clone(), shown);
        Some(path)
    }

    fn lesson(&mut self, node: &Node) -> rusqlite::Result<Option<PackageLesson>> {
        let kind = node.kind.as_str();
        if !matches!(kind, "video" | "audio" | "document") {
            let why = match kind {
                "exercise" => "exercises are not imported",
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
        if !node.description.trim().is_empty() {
            body.push_str(node.description.trim());
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
            if !transcript_done
                && let Some(root) = &self.root_dir
                && let Ok(text) = std::fs::read_to_string(root.join(&p))
            {
                let cues = subtitles::parse(&text);
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
