//! The content store: redb, beside the SQLite database.
//!
//! Lesson bodies, attachments and extracted text are values here, keyed by ids whose metadata lives in
//! SQLite. redb calls block, so they run on blocking threads like SQLite's. redb allows one process to open a
//! file at a time, which the data-directory lock already guarantees.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, ReadTransaction, StorageError, WriteTransaction};

use crate::error::{Error, Result};

/// Handle to `content.redb`. Cheap to clone.
///
/// After an I/O error (a full disk) redb refuses every later operation until the file is opened again; the
/// store notices and reopens it before the next operation, so once space returns everything works again
/// without a restart.
#[derive(Clone)]
pub struct ContentStore {
    db: Arc<RwLock<Option<Arc<Database>>>>,
    path: Arc<PathBuf>,
    broken: Arc<AtomicBool>,
    /// Held while storing content and referencing it from SQLite, and while collecting garbage, so a blob
    /// is never deleted between being stored and being referenced.
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// Whether redb needs the file opened again after this error.
fn needs_reopen(e: &StorageError) -> bool {
    matches!(e, StorageError::Io(_) | StorageError::PreviousIo)
}

impl ContentStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<ContentStore> {
        let db = Database::create(path)
            .map_err(|e| anyhow::anyhow!("cannot open content store {}: {e}", path.display()))?;
        Ok(ContentStore {
            db: Arc::new(RwLock::new(Some(Arc::new(db)))),
            path: Arc::new(path.to_path_buf()),
            broken: Arc::new(AtomicBool::new(false)),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The content lock (see the field's doc).
    pub async fn content_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    /// The open database, reopened first if an I/O error left it unusable. Runs on a blocking thread.
    #[expect(
        clippy::disallowed_methods,
        reason = "on a blocking thread: waits for operations still using the old handle"
    )]
    fn handle(&self) -> Result<Arc<Database>> {
        if self.broken.load(Ordering::Acquire) {
            let mut slot = self
                .db
                .write()
                .map_err(|_| anyhow::anyhow!("content store lock poisoned"))?;
            if self.broken.load(Ordering::Acquire) {
                // redb allows one open handle per file: let the operations still using it finish.
                if let Some(old) = slot.take() {
                    let started = Instant::now();
                    while Arc::strong_count(&old) > 1 && started.elapsed() < Duration::from_secs(30)
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    drop(old);
                }
                let db = Database::create(self.path.as_ref()).map_err(|e| {
                    tracing::warn!(error = %e, "the content store cannot be opened again yet");
                    // Still full (507), or not yet: the next operation tries again (503, not a bug's 500).
                    match Error::from(e) {
                        Error::StorageFull => Error::StorageFull,
                        _ => Error::Unavailable(
                            "the content store cannot be opened again yet; try again".into(),
                        ),
                    }
                })?;
                tracing::info!("content store opened again after an I/O error");
                *slot = Some(Arc::new(db));
                self.broken.store(false, Ordering::Release);
            }
        }
        let slot = self
            .db
            .read()
            .map_err(|_| anyhow::anyhow!("content store lock poisoned"))?;
        slot.clone().ok_or_else(|| {
            // A moment's state, not a bug: the client may try again.
            Error::Unavailable("the content store is being opened again; try again".into())
        })
    }

    fn mark_broken(&self) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                "content store I/O error: it will be opened again before the next operation"
            );
        }
    }

    /// Runs `f` in a read transaction on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let db = store.handle()?;
            let tx = db.begin_read().inspect_err(|e| {
                if let redb::TransactionError::Storage(s) = e
                    && needs_reopen(s)
                {
                    store.mark_broken();
                }
            })?;
            f(&tx)
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("content store task failed: {e}")))?
    }

    /// Runs `f` in a write transaction on a blocking thread; commits if it returns `Ok`, aborts otherwise.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let db = store.handle()?;
            let tx = db.begin_write().inspect_err(|e| {
                if let redb::TransactionError::Storage(s) = e
                    && needs_reopen(s)
                {
                    store.mark_broken();
                }
            })?;
            match f(&tx) {
                Ok(v) => {
                    tx.commit().inspect_err(|e| {
                        if let redb::CommitError::Storage(s) = e
                            && needs_reopen(s)
                        {
                            store.mark_broken();
                        }
                    })?;
                    Ok(v)
                }
                Err(e) => {
                    // A full disk met while writing pages leaves redb wanting a fresh open.
                    if matches!(e, Error::StorageFull) {
                        store.mark_broken();
                    }
                    if let Err(abort) = tx.abort()
                        && needs_reopen(&abort)
                    {
                        store.mark_broken();
                    }
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("content store task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;

    const T: TableDefinition<&str, &[u8]> = TableDefinition::new("test");

    #[tokio::test]
    async fn committed_writes_survive_reopen_and_aborted_ones_do_not() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("c.redb");
        {
            let s = ContentStore::open(&path).unwrap();
            s.write(|tx| {
                tx.open_table(T)?.insert("kept", b"yes".as_slice())?;
                Ok(())
            })
            .await
            .unwrap();
            let r: Result<()> = s
                .write(|tx| {
                    tx.open_table(T)?.insert("dropped", b"no".as_slice())?;
                    Err(Error::NotFound)
                })
                .await;
            assert!(r.is_err());
        }
        let s = ContentStore::open(&path).unwrap();
        let (kept, dropped) = s
            .read(|tx| {
                let t = tx.open_table(T)?;
                Ok((
                    t.get("kept")?.map(|v| v.value().to_vec()),
                    t.get("dropped")?.is_some(),
                ))
            })
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some(b"yes".as_slice()));
        assert!(!dropped);
    }
}
