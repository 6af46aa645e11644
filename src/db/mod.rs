//! SQLite access: one writer, a pool of readers, every call on a blocking thread.
//!
//! SQLite allows one writer at a time; funnelling writes through a single connection (taken with an async
//! mutex, so waiting does not hold a thread) turns lock contention into a queue and makes `BEGIN IMMEDIATE`
//! transactions never fail with `SQLITE_BUSY` among our own writes. Readers run in parallel thanks to WAL.
//! Domain functions take a `&Connection` or `&Transaction`, so they are testable on an in-memory database.

mod migrations;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Semaphore, watch};

use crate::config::DatabaseConfig;
use crate::error::{Error, Result};

pub use migrations::{MIGRATIONS, Migration};

/// The database handle shared by the server, the CLI and jobs. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Arc<ReaderPool>,
    /// Set by an update hook when a write touches the `jobs` table.
    jobs_touched: Arc<AtomicBool>,
    /// Bumped after a commit that touched `jobs`, to wake the job workers.
    jobs_wake: Arc<watch::Sender<u64>>,
}

struct ReaderPool {
    /// Bounds how many readers are in use; a permit guarantees `idle` has a connection.
    permits: Semaphore,
    idle: Mutex<Vec<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, runs pending migrations, and opens the readers.
    pub fn open(path: &Path, config: &DatabaseConfig) -> anyhow::Result<Db> {
        let busy = Duration::from_millis(config.busy_timeout_ms);
        let mut writer = Connection::open(path)?;
        configure(&writer, busy)?;
        writer.pragma_update(None, "synchronous", config.synchronous.pragma())?;
        // WAL is a property of the file: set once by the writer, seen by every later connection.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "SQLite refused WAL mode (got {mode}); is the data directory on a network filesystem?"
        );
        migrations::run(&mut writer)?;
        let jobs_touched = Arc::new(AtomicBool::new(false));
        let flag = jobs_touched.clone();
        writer.update_hook(Some(
            move |_: rusqlite::hooks::Action, _: &str, table: &str, _: i64| {
                if table == "jobs" {
                    flag.store(true, Ordering::Relaxed);
                }
            },
        ));

        let mut idle = Vec::new();
        for _ in 0..config.readers {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            configure(&conn, busy)?;
            idle.push(conn);
        }
        Ok(Db {
            jobs_touched,
            jobs_wake: Arc::new(watch::channel(0).0),
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers: Arc::new(ReaderPool {
                permits: Semaphore::new(idle.len()),
                idle: Mutex::new(idle),
            }),
        })
    }

    /// Runs `f` on a read-only connection, on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.readers.clone();
        let permit = pool
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("database is closed".into()))?;
        let conn = pool
            .idle
            .lock()
            .expect("reader pool lock")
            .pop()
            .expect("a permit guarantees an idle reader");
        let back = pool.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("database reader task failed: {e}")))?;
        back.idle.lock().expect("reader pool lock").push(conn);
        drop(permit);
        result
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer, on a blocking thread. Commits if `f`
    /// returns `Ok`, rolls back otherwise.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Transaction) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut conn = self.writer.clone().lock_owned().await;
        let touched = self.jobs_touched.clone();
        let result: Result<(T, bool)> = tokio::task::spawn_blocking(move || {
            touched.store(false, Ordering::Relaxed);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok((value, touched.swap(false, Ordering::Relaxed)))
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("database writer task failed: {e}")))?;
        let (value, wake) = result?;
        if wake {
            self.jobs_wake.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(value)
    }

    /// Changes after each commit that added or changed jobs: what job workers wait on.
    pub fn job_wakeups(&self) -> watch::Receiver<u64> {
        self.jobs_wake.subscribe()
    }

    /// Runs `f` with the writer connection outside a transaction (for PRAGMAs, VACUUM, checkpoints).
    pub async fn with_writer<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut conn = self.writer.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || f(&mut conn))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("database writer task failed: {e}")))?
    }
}

impl Db {
    /// Copies the write-ahead log into the main file and empties it; done on a clean shutdown so the
    /// database is one self-contained file.
    pub async fn checkpoint(&self) -> Result<()> {
        self.with_writer(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}

fn configure(conn: &Connection, busy: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // NORMAL is durable across process crashes in WAL mode; only a power cut may lose the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Opens an in-memory database with the full schema, for unit tests of domain functions.
pub fn memory() -> anyhow::Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrations::run(&mut conn)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Db {
        Db::open(&dir.join("t.db"), &DatabaseConfig::default()).unwrap()
    }

    #[tokio::test]
    async fn writes_are_visible_to_readers_and_settings_hold() {
        let tmp = tempfile::tempdir().unwrap();
        let db = open(tmp.path());
        db.write(|tx| {
            tx.execute("INSERT INTO app_meta (key, value) VALUES ('k', 'v')", [])?;
            Ok(())
        })
        .await
        .unwrap();
        let (value, fk, mode): (String, i64, String) = db
            .read(|c| {
                let v = c.query_row("SELECT value FROM app_meta WHERE key = 'k'", [], |r| {
                    r.get(0)
                })?;
                let fk = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                let mode = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                Ok((v, fk, mode))
            })
            .await
            .unwrap();
        assert_eq!(value, "v");
        assert_eq!(fk, 1);
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn failed_write_rolls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let db = open(tmp.path());
        let r: Result<()> = db
            .write(|tx| {
                tx.execute("INSERT INTO app_meta (key, value) VALUES ('gone', 'x')", [])?;
                Err(Error::conflict("test", "abort"))
            })
            .await;
        assert!(r.is_err());
        let n: i64 = db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM app_meta WHERE key = 'gone'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let tmp = tempfile::tempdir().unwrap();
        let db = open(tmp.path());
        let r = db
            .read(|c| Ok(c.execute("INSERT INTO app_meta (key, value) VALUES ('a', 'b')", [])?))
            .await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn many_concurrent_reads_share_the_pool() {
        let tmp = tempfile::tempdir().unwrap();
        let db = open(tmp.path());
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.read(move |c| Ok(c.query_row("SELECT ?1 + 1", [i], |r| r.get::<_, i64>(0))?))
                        .await
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), i as i64 + 1);
        }
    }
}
