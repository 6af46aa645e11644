//! The content store: redb, beside the SQLite database.
//!
//! Lesson bodies, attachments and extracted text are values here, keyed by ids whose metadata lives in
//! SQLite. redb calls block, so they run on blocking threads like SQLite's. redb allows one process to open a
//! file at a time, which the data-directory lock already guarantees.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadTransaction, WriteTransaction};

use crate::error::{Error, Result};

/// Handle to `content.redb`. Cheap to clone.
#[derive(Clone)]
pub struct ContentStore {
    db: Arc<Database>,
    /// Held while storing content and referencing it from SQLite, and while collecting garbage, so a blob
    /// is never deleted between being stored and being referenced.
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl ContentStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<ContentStore> {
        let db = Database::create(path)
            .map_err(|e| anyhow::anyhow!("cannot open content store {}: {e}", path.display()))?;
        Ok(ContentStore {
            db: Arc::new(db),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The content lock (see the field's doc).
    pub async fn content_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    /// Runs `f` in a read transaction on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_read()?;
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
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_write()?;
            match f(&tx) {
                Ok(v) => {
                    tx.commit()?;
                    Ok(v)
                }
                Err(e) => {
                    tx.abort()?;
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
