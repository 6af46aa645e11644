//! The data directory: its layout version and the lock that keeps a second server out.
//!
//! ```text
//! data/
//!   VERSION            layout version, written atomically
//!   smartcourse.lock   held (flock) by the process using the directory; holds its pid
//!   smartcourse.db     SQLite (WAL)
//!   content.redb       lesson bodies, attachments, extracted text
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// File name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "smartcourse.db";
/// File name of the redb content store inside the data directory.
pub const CONTENT_FILE: &str = "content.redb";

/// The layout version this build writes and understands.
pub const LAYOUT_VERSION: u32 = 1;

const LOCK_FILE: &str = "smartcourse.lock";
const VERSION_FILE: &str = "VERSION";

/// An opened, locked data directory. The lock is released when this is dropped (or the process dies).
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    /// `None` for a shared opening (see [`DataDir::open_shared`]).
    _lock: Option<File>,
}

impl DataDir {
    /// Creates the directory if needed, takes the exclusive lock, and checks or writes `VERSION`.
    ///
    /// Fails with a clear message if another SmartCourse process holds the lock, or if the directory was
    /// written by a newer version.
    pub fn open(root: &Path) -> anyhow::Result<DataDir> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create data directory {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve data directory {}", root.display()))?;
        owner_only(&root);
        let lock = take_lock(&root)?;
        check_or_write_version(&root)?;
        Ok(DataDir {
            root,
            _lock: Some(lock),
        })
    }

    /// Opens the directory without its lock, for commands that only touch SQLite (which is safe to share
    /// with a running server), such as `smartcourse user`. Creates it and checks `VERSION` like [`open`].
    ///
    /// [`open`]: DataDir::open
    pub fn open_shared(root: &Path) -> anyhow::Result<DataDir> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create data directory {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve data directory {}", root.display()))?;
        check_or_write_version(&root)?;
        Ok(DataDir { root, _lock: None })
    }

    /// The directory's path (absolute).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.root.join(name)
    }

    /// Whether another process holds the lock on `root` right now (without taking it).
    pub fn is_locked(root: &Path) -> bool {
        let Ok(file) = File::open(root.join(LOCK_FILE)) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

fn take_lock(root: &Path) -> anyhow::Result<File> {
    let path = root.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another SmartCourse process".to_owned()
            } else {
                format!("another SmartCourse process (pid {holder})")
            };
            bail!(
                "the data directory {} is in use by {who}; stop it first, or use another --data directory",
                root.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    write!(file, "{}", std::process::id())?;
    file.flush()?;
    Ok(file)
}

fn check_or_write_version(root: &Path) -> anyhow::Result<()> {
    let path = root.join(VERSION_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found: u32 = text.trim().parse().with_context(|| {
                format!(
                    "{} does not hold a layout version: {text:?}",
                    path.display()
                )
            })?;
            if found > LAYOUT_VERSION {
                bail!(
                    "the data directory {} has layout version {found}, written by a newer SmartCourse; \
                     this build understands up to {LAYOUT_VERSION}. Upgrade SmartCourse to use it.",
                    root.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_atomically(&path, format!("{LAYOUT_VERSION}\n").as_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `bytes` to `path` so that a reader sees either the old file or the whole new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Makes the data directory readable by its owner only (it holds the database, every upload and the signing
/// key). A directory someone else owns is left as it is, with a warning.
fn owner_only(root: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700)) {
            tracing::warn!(dir = %root.display(), error = %e, "cannot make the data directory private");
        }
    }
    #[cfg(not(unix))]
    let _ = root;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_open_writes_version_and_second_open_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = DataDir::open(&dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("VERSION")).unwrap().trim(),
            LAYOUT_VERSION.to_string()
        );
        assert!(DataDir::is_locked(&dir));
        let err = DataDir::open(&dir).unwrap_err().to_string();
        assert!(err.contains("in use by"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        assert!(!DataDir::is_locked(&dir));
        DataDir::open(&dir).unwrap();
    }

    #[test]
    fn newer_layout_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("VERSION"), "99\n").unwrap();
        let err = DataDir::open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("newer SmartCourse"), "{err}");
    }

    #[test]
    fn garbage_version_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("VERSION"), "banana").unwrap();
        assert!(DataDir::open(tmp.path()).is_err());
    }
}
