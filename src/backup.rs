//! Backups: one archive with a consistent copy of the database and the content store, a manifest and
//! checksums; and restoring one into an empty data directory.
//!
//! An online backup takes the content lock (uploads and deletions wait; reading goes on), copies SQLite with
//! `VACUUM INTO` (a consistent snapshot that also compacts), then the content store from one read
//! transaction. Content is written before the rows that refer to it, so with the lock held every blob a copied
//! row refers to is in the copied store.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::courses::content::{BODIES, CHUNKS};
use crate::datadir::{CONTENT_FILE, DB_FILE};
use crate::datadir::{LAYOUT_VERSION, write_atomically};
use crate::error::{Error, Result};

/// Marks an archive as ours, with the archive format's version.
const MAGIC: &str = "smartcourse-backup";
const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SECRET: &str = "jwt-secret";

/// The manifest at the start of every backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `smartcourse-backup`.
    pub magic: String,
    /// Archive format.
    pub format: u32,
    /// Data-directory layout of the files inside.
    pub layout: u32,
    /// SmartCourse version that wrote it.
    pub version: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Every file with its size and SHA-256.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    /// Name inside the data directory.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

fn copy_table<K, V>(
    from: &redb::ReadTransaction,
    to: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<()>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
    for<'a> K::SelfType<'a>: std::borrow::Borrow<K::SelfType<'a>>,
{
    let source = match from.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut target = to.open_table(def)?;
    for entry in source.iter()? {
        let (k, v) = entry?;
        target.insert(k.value(), v.value())?;
    }
    Ok(())
}

/// Writes a backup of the running application to `out` (a zip archive). Returns the manifest.
pub async fn create(app: &App, out: &Path) -> Result<Manifest> {
    let work = app
        .data
        .join("tmp")
        .join(format!("backup-{}", crate::util::random_hex(8)?));
    std::fs::create_dir_all(&work).map_err(|e| Error::Internal(e.into()))?;
    let result = snapshot_and_pack(app, &work, out).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn snapshot_and_pack(app: &App, work: &Path, out: &Path) -> Result<Manifest> {
    let db_copy = work.join(DB_FILE);
    let content_copy = work.join(CONTENT_FILE);
    {
        let _guard = app.content.content_lock().await;
        let target = db_copy.to_string_lossy().into_owned();
        app.db
            .with_writer(move |c| {
                c.execute("VACUUM INTO ?1", [&target])?;
                Ok(())
            })
            .await?;
        let target = content_copy.clone();
        app.content
            .read(move |tx| {
                let copy = redb::Database::create(&target)?;
                let w = copy.begin_write()?;
                copy_table(tx, &w, BODIES)?;
                copy_table(tx, &w, CHUNKS)?;
                w.commit()?;
                Ok(())
            })
            .await?;
    }
    let secret = app.data.join(SECRET);
    let out = out.to_path_buf();
    crate::blocking(move || {
        pack(
            &[
                (DB_FILE, db_copy),
                (CONTENT_FILE, content_copy),
                (SECRET, secret),
            ],
            &out,
        )
        .map_err(Error::Internal)
    })
    .await
}

fn pack(files: &[(&str, PathBuf)], out: &Path) -> anyhow::Result<Manifest> {
    let mut entries = Vec::new();
    for (name, path) in files {
        let (size, sha256) = crate::util::sha256_file(path)
            .with_context(|| format!("reading {}", path.display()))?;
        entries.push(FileEntry {
            name: (*name).to_owned(),
            size,
            sha256,
        });
    }
    let manifest = Manifest {
        magic: MAGIC.into(),
        format: FORMAT,
        layout: LAYOUT_VERSION,
        version: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::util::now_rfc3339(),
        files: entries,
    };
    let partial = out.with_extension("partial");
    // A backup holds every password hash and the token signing key: its owner alone may read it.
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = open
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    // Stored, not compressed: the database pages and files compress poorly and the laptop is slow.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    zip.start_file(MANIFEST, options)?;
    zip.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    for (name, path) in files {
        zip.start_file(*name, options)?;
        std::io::copy(&mut std::fs::File::open(path)?, &mut zip)?;
    }
    zip.finish()?.sync_all()?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(manifest)
}

/// Restores `archive` into `data`, which must be empty or not exist. Refuses archives that are not ours,
/// are from a newer SmartCourse, or whose files do not match their checksums; nothing is left in `data`
/// when it refuses.
pub fn restore(archive: &Path, data: &Path) -> anyhow::Result<Manifest> {
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        bail!(
            "{} is not empty; restore into a new, empty data directory",
            data.display()
        );
    }
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot open {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| anyhow::anyhow!("{} is not a SmartCourse backup: {e}", archive.display()))?;
    let manifest: Manifest = {
        let mut entry = zip.by_name(MANIFEST).map_err(|_| {
            anyhow::anyhow!(
                "{} is not a SmartCourse backup (it has no manifest)",
                archive.display()
            )
        })?;
        let mut text = String::new();
        entry.by_ref().take(1 << 20).read_to_string(&mut text)?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("the backup's manifest is damaged: {e}"))?
    };
    if manifest.magic != MAGIC {
        bail!("{} is not a SmartCourse backup", archive.display());
    }
    if manifest.format > FORMAT || manifest.layout > LAYOUT_VERSION {
        bail!(
            "this backup was written by a newer SmartCourse ({}); upgrade to restore it",
            manifest.version
        );
    }
    for required in [DB_FILE, CONTENT_FILE] {
        if !manifest.files.iter().any(|f| f.name == required) {
            bail!("the backup has no {required}");
        }
    }
    let staging = data.with_file_name(format!(
        ".{}.restoring",
        data.file_name().and_then(|n| n.to_str()).unwrap_or("data")
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let result = (|| -> anyhow::Result<()> {
        for f in &manifest.files {
            if f.name.contains('/') || f.name.contains('\\') || f.name.starts_with('.') {
                bail!(
                    "the backup names a file outside the data directory: {}",
                    f.name
                );
            }
            let mut entry = zip.by_name(&f.name).map_err(|_| {
                anyhow::anyhow!("the backup lacks {} listed in its manifest", f.name)
            })?;
            let target = staging.join(&f.name);
            let mut out = std::fs::File::create(&target)?;
            std::io::copy(&mut entry.by_ref().take(f.size + 1), &mut out)?;
            out.sync_all()?;
            let (size, sha) = crate::util::sha256_file(&target)?;
            if size != f.size || sha != f.sha256 {
                bail!(
                    "the backup is damaged: {} does not match its checksum",
                    f.name
                );
            }
        }
        write_atomically(
            &staging.join("VERSION"),
            format!("{}\n", manifest.layout).as_bytes(),
        )?;
        #[cfg(unix)]
        if staging.join(SECRET).exists() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(staging.join(SECRET), std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if data.exists() {
        std::fs::remove_dir(data)?;
    }
    std::fs::rename(&staging, data)
        .with_context(|| format!("cannot move the restored files to {}", data.display()))?;
    Ok(manifest)
}

/// Writes an automatic backup into `backup.dir`, keeps the newest `backup.keep`, and schedules the next.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScheduledBackup {}

/// Automatic backups are named `smartcourse-auto-<unix ms>.backup`; only those are ever pruned.
const AUTO_PREFIX: &str = "smartcourse-auto-";

impl crate::jobs::Job for ScheduledBackup {
    const KIND: &'static str = "backup.scheduled";
    const QUEUE: &'static str = "content";

    async fn run(self, ctx: crate::jobs::JobContext) -> anyhow::Result<()> {
        let config = &ctx.app.config.backup;
        let dir = if config.dir.as_os_str().is_empty() {
            ctx.app.data.join("backups")
        } else {
            config.dir.clone()
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{AUTO_PREFIX}{}.backup", crate::jobs::now_ms()));
        create(&ctx.app, &path).await?;
        let mut existing: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(AUTO_PREFIX) && n.ends_with(".backup"))
            })
            .collect();
        existing.sort();
        let excess = existing.len().saturating_sub(config.keep as usize);
        for old in &existing[..excess] {
            std::fs::remove_file(old)
                .with_context(|| format!("cannot remove {}", old.display()))?;
        }
        tracing::info!(path = %path.display(), removed = excess, "automatic backup written");
        let every = config.every_hours;
        if every > 0 {
            ctx.app
                .db
                .write(move |tx| {
                    crate::jobs::enqueue_with(
                        tx,
                        &ScheduledBackup {},
                        crate::jobs::EnqueueOptions {
                            delay_ms: every as i64 * 3_600_000,
                            ..Default::default()
                        },
                    )
                    .map(drop)
                })
                .await?;
        }
        Ok(())
    }
}

/// Makes sure the next automatic backup is scheduled (at start-up), unless they are turned off.
pub fn schedule(tx: &rusqlite::Transaction, every_hours: u64) -> Result<()> {
    if every_hours == 0 {
        return Ok(());
    }
    let queued: i64 = tx.query_row(
        "SELECT count(*) FROM jobs WHERE kind = ?1 AND state IN ('queued', 'running')",
        [<ScheduledBackup as crate::jobs::Job>::KIND],
        |r| r.get(0),
    )?;
    if queued == 0 {
        crate::jobs::enqueue_with(
            tx,
            &ScheduledBackup {},
            crate::jobs::EnqueueOptions {
                delay_ms: every_hours as i64 * 3_600_000,
                ..Default::default()
            },
        )?;
    }
    Ok(())
}
