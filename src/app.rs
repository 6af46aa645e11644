//! The application: configuration plus every opened store, shared by the server, the CLI and jobs.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::datadir::DataDir;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::store::ContentStore;

/// File name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "smartcourse.db";
/// File name of the redb content store inside the data directory.
pub const CONTENT_FILE: &str = "content.redb";

/// Everything a request, a job or a command needs. Shared as `Arc<App>`.
pub struct App {
    /// The configuration it was opened with.
    pub config: Config,
    /// The locked data directory.
    pub data: DataDir,
    /// Relational data.
    pub db: Db,
    /// Content blobs.
    pub content: ContentStore,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

impl App {
    /// Opens the data directory (taking its lock), the database (running migrations) and the content store.
    pub fn open(config: Config) -> anyhow::Result<Arc<App>> {
        let data = DataDir::open(&config.data)?;
        let db = Db::open(&data.join(DB_FILE), &config.database)
            .with_context(|| format!("cannot open the database in {}", data.path().display()))?;
        let content = ContentStore::open(&data.join(CONTENT_FILE))?;
        Ok(Arc::new(App {
            config,
            data,
            db,
            content,
            metrics: Metrics::new(),
        }))
    }
}
