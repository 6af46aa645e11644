//! The application: configuration plus every opened store, shared by the server, the CLI and jobs.

use std::sync::Arc;

use anyhow::Context;

use crate::accounts::token::TokenKeys;
use crate::config::{Config, RateLimitConfig};
use crate::datadir::DataDir;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::ContentStore;

pub use crate::datadir::{CONTENT_FILE, DB_FILE};

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
    /// Signs and checks sign-in tokens with this installation's secret.
    pub tokens: Arc<TokenKeys>,
    /// Rate limiters.
    pub limits: Limits,
    /// The embedding model and the tutor's language model.
    pub models: crate::ml::Models,
    /// The search indexes.
    pub search: crate::search::SearchIndex,
    /// The tutor's queue in front of the model.
    pub tutor: crate::tutor::Gate,
    /// Each user's bytes in uploads being received.
    pub staging: crate::courses::upload::StagingShares,
    /// The port package pages are served on, once the server listens there (`courses::launch`).
    pub packages_port: std::sync::OnceLock<u16>,
    /// The job and workflow kinds this process runs (`server::wiring`).
    pub jobs: Arc<crate::jobs::Registry>,
    /// Who hears events (`server::wiring`).
    pub subscribers: crate::events::Subscribers,
}

/// The rate limiters of the running server.
pub struct Limits {
    /// Login attempts per client address.
    pub login_client: RateLimiter,
    /// Login attempts per account from one client address: refused beyond it.
    pub login_account: RateLimiter,
    /// Login attempts per account from every address together: slowed beyond it, never refused, so someone
    /// else's guessing cannot keep the account's owner out.
    pub login_account_any: RateLimiter,
    /// Registrations per client address.
    pub register: RateLimiter,
    /// All API requests per client address.
    pub api: RateLimiter,
}

impl Limits {
    fn new(c: &RateLimitConfig) -> Limits {
        Limits {
            login_client: RateLimiter::per_minute(c.login_per_client),
            login_account: RateLimiter::per_minute(c.login_per_account),
            login_account_any: RateLimiter::per_minute(c.login_per_account.saturating_mul(4)),
            register: RateLimiter::per_minute(c.register_per_client),
            api: RateLimiter::per_minute(c.api_per_client),
        }
    }
}

impl App {
    /// How long an upload may send nothing before it is stopped (`server.upload_stall_secs`).
    pub fn upload_stall(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.server.upload_stall_secs.max(1))
    }

    /// A share of `user`'s staging bytes for one upload (`server.max_staged_bytes_per_user`).
    pub fn upload_quota(&self, user: Option<i64>) -> crate::courses::upload::Quota<'_> {
        self.staging
            .quota(user, self.config.server.max_staged_bytes_per_user)
    }

    /// Opens the data directory (taking its lock), the database (running migrations) and the content store.
    pub fn open(config: Config) -> anyhow::Result<Arc<App>> {
        let models = crate::ml::Models::from_config(&config.models)?;
        App::open_with(config, models)
    }

    /// Like [`App::open`], with these models (tests pass stand-ins).
    pub fn open_with(config: Config, models: crate::ml::Models) -> anyhow::Result<Arc<App>> {
        App::open_wired(config, models, crate::server::wiring())
    }

    /// Like [`App::open_with`], running these jobs and subscribers (tests add their own to the application's).
    pub fn open_wired(
        config: Config,
        models: crate::ml::Models,
        wiring: crate::server::Wiring,
    ) -> anyhow::Result<Arc<App>> {
        let data = DataDir::open(&config.data)?;
        // Uploads and backups half-written when a previous process died; nobody else uses them (we hold the
        // lock).
        let _ = std::fs::remove_dir_all(data.join("tmp"));
        let db = Db::open(&data.join(DB_FILE), &config.database)
            .with_context(|| format!("cannot open the database in {}", data.path().display()))?;
        let content = ContentStore::open(&data.join(CONTENT_FILE))?;
        let tokens = Arc::new(TokenKeys::load_or_create(data.path())?);
        let search = crate::search::SearchIndex::open(&data.join("index"))?;
        let tutor = crate::tutor::Gate::new(models.generator.max_batch());
        Ok(Arc::new(App {
            limits: Limits::new(&config.rate_limit),
            config,
            data,
            db,
            content,
            metrics: Metrics::new(),
            tokens,
            models,
            search,
            tutor,
            staging: Default::default(),
            packages_port: std::sync::OnceLock::new(),
            jobs: Arc::new(wiring.jobs),
            subscribers: wiring.subscribers,
        }))
    }
}
