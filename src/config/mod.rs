//! Configuration: one typed struct, filled in layers.
//!
//! Precedence, lowest first: built-in defaults < the TOML file (`--config FILE` or `SMARTCOURSE_CONFIG`) <
//! `SMARTCOURSE_*` environment variables < command-line flags. Every setting has a dotted key in the file
//! (`server.addr`) and an environment variable made from it (`SMARTCOURSE_SERVER_ADDR`); the list is derived
//! from the defaults, so a new field is configurable everywhere as soon as it exists.

mod load;

pub use load::Overrides;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Prefix of every environment variable that sets a configuration key.
pub const ENV_PREFIX: &str = "SMARTCOURSE_";

/// The default `models.llm_writing_share` (see [`ModelsConfig::llm_writing_share`]).
pub const LLM_WRITING_SHARE: f64 = 0.5;

/// Environment variables with the prefix that are not configuration keys but are still ours.
const ENV_NOT_KEYS: &[&str] = &["SMARTCOURSE_CONFIG"];

/// All of SmartCourse's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The data directory (`--data`, `SMARTCOURSE_DATA`). Relative paths are taken from the working directory.
    pub data: PathBuf,
    /// The HTTP server.
    pub server: ServerConfig,
    /// The SQLite database.
    pub database: DatabaseConfig,
    /// Logging.
    pub log: LogConfig,
    /// Sign-in tokens.
    pub auth: AuthConfig,
    /// Rate limits, per minute; 0 turns a limit off.
    pub rate_limit: RateLimitConfig,
    /// Limits on uploaded files.
    pub uploads: UploadConfig,
    /// Background jobs.
    pub jobs: JobsConfig,
    /// Outgoing email; with no host, messages are written to `data/outbox-mail/` instead.
    pub smtp: SmtpConfig,
    /// Automatic backups.
    pub backup: BackupConfig,
    /// An admin account created at start-up when none exists (for unattended installs); empty = none.
    pub admin: AdminConfig,
    /// The local models (embeddings and the tutor's language model).
    pub models: ModelsConfig,
    /// Course search.
    pub search: SearchConfig,
    /// The AI tutor.
    pub tutor: TutorConfig,
}

/// Where the models are and how they are loaded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// The folder `just models` fills (relative paths are taken from the working directory).
    pub dir: PathBuf,
    /// The embedding model's folder (`--embedding-model`); empty = `all-minilm-l6-v2` under `dir`.
    pub embedding: PathBuf,
    /// The tutor's model: a GGUF file or a folder with one (`--llm`); empty = `qwen2.5-0.5b-instruct` under `dir`.
    pub llm: PathBuf,
    /// When the models are loaded.
    pub load: ModelLoad,
    /// Use built-in stand-ins instead of real models (a word-hashing embedder and a generator that quotes its
    /// first source): for trying SmartCourse without model files, and for tests.
    pub fake: bool,
    /// Most tutor answers the model writes at once (continuous batching: one step of the model advances all of
    /// them); further questions wait in the tutor's queue. 1 writes answers one at a time.
    pub llm_batch: usize,
    /// While a prompt is read, the answers already being written get decoding steps for up to this share of
    /// each prompt chunk's time (at least one step per chunk): 0.5 (the default) keeps them streaming at a
    /// few words a second while a class's questions are read, and makes the later questions' first words
    /// come up to half as late again; 0 gives them one word per chunk (about 2 s on a 2-core laptop).
    pub llm_writing_share: f64,
    /// How a prompt meets the model's weights (`transient`, `kept` or `quantized`): see [`PromptWeights`].
    pub llm_prompt_weights: PromptWeights,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: PathBuf::from("models"),
            embedding: PathBuf::new(),
            llm: PathBuf::new(),
            load: ModelLoad::Lazy,
            fake: false,
            llm_batch: 8,
            llm_writing_share: LLM_WRITING_SHARE,
            llm_prompt_weights: PromptWeights::Transient,
        }
    }
}

/// When the real models are loaded (`models.load`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModelLoad {
    /// Each model on first use: the server starts at once, and the first search or question waits for it.
    Lazy,
    /// Both at start-up, which fails without them: a missing or broken model is found before anyone asks.
    Eager,
}

/// How the tutor's model multiplies a prompt by its weights (`models.llm_prompt_weights`).
///
/// Prompts are read in chunks of up to 256 tokens; a chunk of 16 tokens or more is multiplied by the weights
/// converted to 32-bit floats, which the cores compute several times faster than the compressed (quantized)
/// weights row by row. Writing the answer, one token at a time, always uses the quantized weights.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PromptWeights {
    /// Convert each weight matrix when a chunk needs it and free it after: no extra memory, one pass over the
    /// weights per chunk (the default).
    Transient,
    /// Keep the converted weights after the first prompt: the fastest prompts, at 4 bytes per weight (about
    /// 1.5 GB more for the default 0.5B model).
    Kept,
    /// Never convert: the least memory and the slowest prompts.
    Quantized,
}

/// Course search settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Below this many chunks in scope, vectors are compared exactly; above it the HNSW index answers.
    pub exact_below: usize,
    /// Words per chunk of lesson text (about 1.3 tokens each; the embedding model reads 256 tokens).
    pub chunk_words: usize,
    /// Words shared by neighbouring chunks.
    pub chunk_overlap: usize,
    /// Weight of the BM25 ranking in the fusion (reciprocal rank fusion, weighted).
    pub text_weight: f64,
    /// Weight of the vector ranking in the fusion.
    pub vector_weight: f64,
    /// Cosine a passage needs to be found by meaning alone (without sharing a word with the query); nearest
    /// neighbours always exist, so without a floor every query would find something.
    pub min_similarity: f32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            exact_below: 5_000,
            chunk_words: 160,
            chunk_overlap: 32,
            // Tuned on the SQuAD 2.0 sample (BENCHMARKS.md): nDCG@10 0.883 at 1/1, 0.897 at 1/0.5.
            text_weight: 1.0,
            vector_weight: 0.5,
            min_similarity: 0.25,
        }
    }
}

/// The AI tutor's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TutorConfig {
    /// Most tokens in one answer.
    pub max_answer_tokens: usize,
    /// Sampling temperature; 0 = always the likeliest word (reproducible answers).
    pub temperature: f64,
    /// Nucleus sampling threshold (1 = off).
    pub top_p: f64,
    /// Penalty on repeating recent tokens (1 = off).
    pub repeat_penalty: f32,
    /// Tokens of prompt plus answer the tutor may use (capped by the model's own context).
    pub context_tokens: usize,
    /// Course passages retrieved for each question.
    pub sources: usize,
    /// Relevance (cosine, 0–1) the best passage needs for the tutor to answer; below it the tutor says the course
    /// does not cover the question. Other passages need three quarters of it to be given to the model as sources.
    pub min_relevance: f32,
    /// Longest question, in characters.
    pub max_question_chars: usize,
    /// Questions that may wait for the model while another is answered; more get 429.
    pub max_waiting: usize,
    /// Questions one user may have waiting or being answered at once, so one pupil cannot take every place
    /// in the queue; more get 429.
    pub max_per_user: usize,
}

impl Default for TutorConfig {
    fn default() -> Self {
        TutorConfig {
            max_answer_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            repeat_penalty: 1.1,
            context_tokens: 2048,
            sources: 3,
            // Calibrated on the SQuAD 2.0 sample (BENCHMARKS.md): about 6 % of answerable questions refused.
            min_relevance: 0.35,
            max_question_chars: 1000,
            max_waiting: 8,
            max_per_user: 2,
        }
    }
}

/// Sign-in token settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a login lasts, in seconds (default 12 hours: a school day).
    pub token_ttl_secs: i64,
    /// Mark the web UI's cookie `Secure` (only when served over HTTPS, e.g. behind a TLS proxy).
    pub cookie_secure: bool,
}

/// Automatic backup settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Hours between automatic backups; 0 turns them off.
    pub every_hours: u64,
    /// How many automatic backups to keep (older ones are deleted).
    pub keep: u32,
    /// Where to write them; empty means `backups/` in the data directory (better: a USB stick).
    pub dir: PathBuf,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            every_hours: 24,
            keep: 7,
            dir: PathBuf::new(),
        }
    }
}

/// Outgoing email settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// SMTP server; empty writes `.eml` files under `data/outbox-mail/` instead of sending.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection to `host` is encrypted.
    pub tls: SmtpTls,
    /// The sender, e.g. `SmartCourse <smartcourse@school.example>`.
    pub from: String,
    /// Login, if the server wants one.
    pub user: String,
    /// Password for `user`.
    pub password: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 25,
            tls: SmtpTls::None,
            from: "SmartCourse <smartcourse@localhost>".into(),
            user: String::new(),
            password: String::new(),
        }
    }
}

/// Encryption of the connection to the SMTP server (`smtp.tls`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Unencrypted: a relay on the school's own network.
    None,
    /// Plain text upgraded with `STARTTLS` (usually port 587); refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// Background job settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs the `default` queue runs at once.
    pub default_workers: u32,
    /// A running job's lease, renewed by heartbeat; a job whose worker stops is taken back after it.
    pub lease_secs: u64,
    /// How often idle workers look for jobs they were not woken for (delayed jobs, other processes).
    pub poll_ms: u64,
    /// First retry delay; doubles per attempt up to `retry_max_ms`, with ±25 % jitter.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// How long finished jobs are kept before they are pruned.
    pub keep_finished_hours: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            default_workers: 2,
            lease_secs: 30,
            poll_ms: 1000,
            retry_base_ms: 1000,
            retry_max_ms: 300_000,
            keep_finished_hours: 24 * 7,
        }
    }
}

/// Limits on uploaded files (and on the files of imported packages, whose readers take them as they are).
pub use smartcourse_formats::Limits as UploadConfig;

/// Rate limits, in requests per minute per key; 0 = no limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Login attempts per client address.
    pub login_per_client: u32,
    /// Login attempts per account (email), from anywhere.
    pub login_per_account: u32,
    /// Registrations per client address.
    pub register_per_client: u32,
    /// API requests per client address, all routes together.
    pub api_per_client: u32,
}

/// The admin account to create at start-up if there is no active admin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Email of the admin to create.
    pub email: String,
    /// Their password (prefer the environment variable to a file).
    pub password: String,
    /// Their name.
    pub name: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl_secs: 12 * 3600,
            cookie_secure: false,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            login_per_client: 10,
            login_per_account: 5,
            register_per_client: 10,
            api_per_client: 1200,
        }
    }
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on. `0.0.0.0` reaches every device on the classroom network.
    pub addr: SocketAddr,
    /// Largest request body accepted by JSON endpoints, in bytes (uploads have their own limits).
    pub max_body_bytes: u64,
    /// Requests running longer than this are answered 503 (streamed answers are exempt once they start, and
    /// file uploads are exempt: their size is limited instead).
    pub request_timeout_secs: u64,
    /// An upload that sends no data for this many seconds is stopped (408 `upload_stalled`) and its partial
    /// file removed.
    pub upload_stall_secs: u64,
    /// Most bytes one user may have in uploads being received at once (409 `uploads_in_progress` beyond).
    pub max_staged_bytes_per_user: u64,
    /// On Ctrl-C or SIGTERM, how long in-flight requests get to finish before the server stops anyway.
    pub shutdown_grace_secs: u64,
    /// Port of the second listener, on `addr`'s address, that serves the pages of course packages (SCORM):
    /// their own origin, so the package author's scripts cannot act as SmartCourse. 0: the port after
    /// `addr`'s (8001 by default), or any free port when `addr`'s is 0.
    pub packages_port: u16,
}

impl ServerConfig {
    /// The port to listen on for package pages ([`ServerConfig::packages_port`]).
    pub fn packages_port(&self) -> u16 {
        match (self.packages_port, self.addr.port()) {
            (0, 0) => 0,
            (0, port) => port.checked_add(1).unwrap_or(port - 1),
            (set, _) => set,
        }
    }
}

/// Settings of the SQLite database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Number of read-only connections (there is always exactly one writer).
    pub readers: u32,
    /// How long a statement waits for a lock held by another connection before failing, in milliseconds.
    pub busy_timeout_ms: u64,
    /// SQLite's `synchronous` setting for the writer.
    pub synchronous: Synchronous,
}

/// SQLite's `synchronous` pragma (`database.synchronous`): what a commit waits for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// In WAL mode a commit survives a crash of the process; a power cut may lose the last commits.
    Normal,
    /// Every commit is fsynced: it survives a power cut too, at a disk flush per commit.
    Full,
}

impl Synchronous {
    /// The pragma's value, as `PRAGMA synchronous = ...` takes it.
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `smartcourse=debug,tower_http=info`. `RUST_LOG` wins if set.
    pub level: String,
    /// `text` for people, `json` for machines.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("./data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            uploads: UploadConfig::default(),
            jobs: JobsConfig::default(),
            smtp: SmtpConfig::default(),
            backup: BackupConfig::default(),
            admin: AdminConfig::default(),
            models: ModelsConfig::default(),
            search: SearchConfig::default(),
            tutor: TutorConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([0, 0, 0, 0], 8000)),
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 60,
            upload_stall_secs: 30,
            max_staged_bytes_per_user: 1024 * 1024 * 1024,
            shutdown_grace_secs: 20,
            packages_port: 0,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            readers: 4,
            busy_timeout_ms: 5_000,
            synchronous: Synchronous::Normal,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}
