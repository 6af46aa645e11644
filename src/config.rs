//! Configuration: one typed struct, filled in layers.
//!
//! Precedence, lowest first: built-in defaults < the TOML file (`--config FILE` or `SMARTCOURSE_CONFIG`) <
//! `SMARTCOURSE_*` environment variables < command-line flags. Every setting has a dotted key in the file
//! (`server.addr`) and an environment variable made from it (`SMARTCOURSE_SERVER_ADDR`); the list is derived
//! from the defaults, so a new field is configurable everywhere as soon as it exists.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Prefix of every environment variable that sets a configuration key.
pub const ENV_PREFIX: &str = "SMARTCOURSE_";

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
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: PathBuf::from("models"),
            embedding: PathBuf::new(),
            llm: PathBuf::new(),
            load: ModelLoad::Lazy,
            fake: false,
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

/// What the command line says, applied last.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data`
    pub data: Option<PathBuf>,
    /// `--addr`
    pub addr: Option<SocketAddr>,
    /// `--embedding-model`
    pub embedding_model: Option<PathBuf>,
    /// `--llm`
    pub llm: Option<PathBuf>,
}

impl Config {
    /// Builds the configuration from all layers: defaults, `file`, the environment `env`, then `flags`.
    ///
    /// Returns the config and warnings for the user (e.g. an unknown `SMARTCOURSE_*` variable).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> anyhow::Result<(Config, Vec<String>)> {
        let defaults = Config::default_tree();
        let mut tree = defaults.clone();
        let leaves = leaf_keys(&defaults);

        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let from_file: toml::Table = toml::from_str(&text)
                .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
            merge(&mut tree, toml::Value::Table(from_file));
            // Check the file alone, so a wrong key or type is reported against the file.
            tree.clone()
                .try_into::<Config>()
                .with_context(|| format!("config file {}", path.display()))?;
        }

        let mut warnings = Vec::new();
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if ENV_NOT_KEYS.contains(&name.as_str()) {
                continue;
            }
            let Some(key) = leaves.iter().find(|k| env_name(k) == name) else {
                warnings.push(format!(
                    "ignoring environment variable {name}: `{}` is not a setting",
                    rest.to_lowercase()
                ));
                continue;
            };
            let default = lookup(&defaults, key).expect("leaf exists in defaults");
            let context = || format!("environment variable {name}={raw:?}");
            let value = parse_like(default, &raw).with_context(context)?;
            set(&mut tree, key, value);
            // Check each variable as it is applied, so a value of the right TOML type that the setting still
            // refuses (a word not among its choices) is reported against the variable.
            tree.clone().try_into::<Config>().with_context(context)?;
        }

        let mut config: Config = tree.try_into().context("environment variables")?;
        if let Some(data) = &flags.data {
            config.data = data.clone();
        }
        if let Some(addr) = flags.addr {
            config.server.addr = addr;
        }
        if let Some(dir) = &flags.embedding_model {
            config.models.embedding = dir.clone();
        }
        if let Some(llm) = &flags.llm {
            config.models.llm = llm.clone();
        }
        config.validate()?;
        Ok((config, warnings))
    }

    fn default_tree() -> toml::Value {
        toml::Value::try_from(Config::default()).expect("defaults serialise")
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.database.readers == 0 {
            bail!("database.readers must be at least 1");
        }
        if self.server.max_body_bytes < 1024 {
            bail!("server.max_body_bytes must be at least 1024");
        }
        if self.backup.keep == 0 {
            bail!("backup.keep must be at least 1");
        }
        if self.jobs.lease_secs == 0 || self.jobs.poll_ms == 0 {
            bail!("jobs.lease_secs and jobs.poll_ms must be above 0");
        }
        if self.auth.token_ttl_secs < 60 {
            bail!("auth.token_ttl_secs must be at least 60");
        }
        if self.admin.email.is_empty() != self.admin.password.is_empty() {
            bail!("admin.email and admin.password go together: set both or neither");
        }
        if self.search.chunk_words < 16 || self.search.chunk_overlap >= self.search.chunk_words / 2
        {
            bail!(
                "search.chunk_words must be at least 16, and search.chunk_overlap under half of it"
            );
        }
        if self.tutor.sources == 0
            || self.tutor.max_answer_tokens == 0
            || self.tutor.context_tokens < 256
        {
            bail!(
                "tutor.sources and tutor.max_answer_tokens must be above 0, tutor.context_tokens at least 256"
            );
        }
        if !(0.0..=1.0).contains(&self.tutor.top_p)
            || self.tutor.top_p == 0.0
            || self.tutor.temperature < 0.0
        {
            bail!("tutor.top_p must be in (0, 1] and tutor.temperature at least 0");
        }
        if self.data.as_os_str().is_empty() {
            bail!("data directory must not be empty");
        }
        Ok(())
    }

    /// Every setting as `(dotted key, environment variable)`, for documentation and `--help`.
    pub fn keys() -> Vec<(String, String)> {
        leaf_keys(&Config::default_tree())
            .into_iter()
            .map(|k| (k.join("."), env_name(&k)))
            .collect()
    }
}

fn env_name(key: &[String]) -> String {
    format!("{ENV_PREFIX}{}", key.join("_").to_uppercase())
}

fn leaf_keys(v: &toml::Value) -> Vec<Vec<String>> {
    fn walk(v: &toml::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            toml::Value::Table(t) => {
                for (k, child) in t {
                    prefix.push(k.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => out.push(prefix.clone()),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn lookup<'a>(v: &'a toml::Value, key: &[String]) -> Option<&'a toml::Value> {
    key.iter().try_fold(v, |v, k| v.get(k))
}

fn set(tree: &mut toml::Value, key: &[String], value: toml::Value) {
    let mut node = tree;
    for k in &key[..key.len() - 1] {
        node = node
            .as_table_mut()
            .expect("parent of a leaf is a table")
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    node.as_table_mut()
        .expect("parent of a leaf is a table")
        .insert(key[key.len() - 1].clone(), value);
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Reads an environment string as a value of the same TOML type as the default.
fn parse_like(default: &toml::Value, raw: &str) -> anyhow::Result<toml::Value> {
    Ok(match default {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("expected a whole number"))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("expected a number"))?,
        ),
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => bail!("expected true or false"),
        },
        other => {
            let wrapped: toml::Table = toml::from_str(&format!("v = {raw}"))
                .map_err(|_| anyhow::anyhow!("expected a TOML value like the default {other}"))?;
            wrapped["v"].clone()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn layers_apply_in_order() {
        let f = file(
            "data = \"/from/file\"\n[server]\naddr = \"127.0.0.1:9000\"\n[database]\nreaders = 7\n",
        );
        let (c, _) = Config::load(Some(f.path()), vec![], &Overrides::default()).unwrap();
        assert_eq!(c.data, PathBuf::from("/from/file"));
        assert_eq!(c.server.addr.port(), 9000);
        assert_eq!(c.database.readers, 7);
        // Untouched keys keep their defaults.
        assert_eq!(c.database.busy_timeout_ms, 5_000);

        let e = env(&[
            ("SMARTCOURSE_DATABASE_READERS", "3"),
            ("SMARTCOURSE_DATA", "/from/env"),
        ]);
        let (c, _) = Config::load(Some(f.path()), e.clone(), &Overrides::default()).unwrap();
        assert_eq!(c.database.readers, 3);
        assert_eq!(c.data, PathBuf::from("/from/env"));
        assert_eq!(c.server.addr.port(), 9000);

        let flags = Overrides {
            data: Some("/from/flag".into()),
            addr: Some("127.0.0.1:9100".parse().unwrap()),
            embedding_model: None,
            llm: Some("/models/other.gguf".into()),
        };
        let (c, _) = Config::load(Some(f.path()), e, &flags).unwrap();
        assert_eq!(c.models.llm, PathBuf::from("/models/other.gguf"));
        assert_eq!(c.data, PathBuf::from("/from/flag"));
        assert_eq!(c.server.addr.port(), 9100);
        assert_eq!(c.database.readers, 3);
    }

    #[test]
    fn unknown_file_key_is_an_error_naming_it() {
        let f = file("[server]\nport = 80\n");
        let err = Config::load(Some(f.path()), vec![], &Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("port"), "{err:#}");
    }

    #[test]
    fn wrong_env_type_is_an_error_naming_the_variable() {
        let e = env(&[("SMARTCOURSE_DATABASE_READERS", "many")]);
        let err = Config::load(None, e, &Overrides::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("SMARTCOURSE_DATABASE_READERS"),
            "{err:#}"
        );
    }

    #[test]
    fn unknown_env_variable_is_a_warning() {
        let e = env(&[("SMARTCOURSE_NO_SUCH", "1"), ("SMARTCOURSE_CONFIG", "x")]);
        let (_, warnings) = Config::load(None, e, &Overrides::default()).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("SMARTCOURSE_NO_SUCH"));
    }

    #[test]
    fn invalid_values_are_refused() {
        let e = env(&[("SMARTCOURSE_DATABASE_READERS", "0")]);
        assert!(Config::load(None, e, &Overrides::default()).is_err());
        let e = env(&[("SMARTCOURSE_LOG_FORMAT", "xml")]);
        assert!(Config::load(None, e, &Overrides::default()).is_err());
    }

    #[test]
    fn fixed_choice_settings_parse_each_of_their_words() {
        let from_file = |text: &str| {
            let f = file(text);
            Config::load(Some(f.path()), vec![], &Overrides::default()).map(|(c, _)| c)
        };
        let from_env = |name: &str, value: &str| {
            Config::load(None, env(&[(name, value)]), &Overrides::default()).map(|(c, _)| c)
        };
        for (word, want) in [("normal", Synchronous::Normal), ("full", Synchronous::Full)] {
            let c = from_file(&format!("[database]\nsynchronous = \"{word}\"\n")).unwrap();
            assert_eq!(c.database.synchronous, want);
            let c = from_env("SMARTCOURSE_DATABASE_SYNCHRONOUS", word).unwrap();
            assert_eq!(c.database.synchronous, want);
        }
        for (word, want) in [
            ("none", SmtpTls::None),
            ("starttls", SmtpTls::StartTls),
            ("tls", SmtpTls::Tls),
        ] {
            let c = from_file(&format!("[smtp]\ntls = \"{word}\"\n")).unwrap();
            assert_eq!(c.smtp.tls, want);
            let c = from_env("SMARTCOURSE_SMTP_TLS", word).unwrap();
            assert_eq!(c.smtp.tls, want);
        }
        for (word, want) in [("lazy", ModelLoad::Lazy), ("eager", ModelLoad::Eager)] {
            let c = from_file(&format!("[models]\nload = \"{word}\"\n")).unwrap();
            assert_eq!(c.models.load, want);
            let c = from_env("SMARTCOURSE_MODELS_LOAD", word).unwrap();
            assert_eq!(c.models.load, want);
        }
        // `smartcourse config` prints them as they are written.
        let shown = toml::to_string(&Config::default()).unwrap();
        for line in [
            "synchronous = \"normal\"",
            "tls = \"none\"",
            "load = \"lazy\"",
        ] {
            assert!(shown.contains(line), "{shown}");
        }
    }

    #[test]
    fn an_unknown_choice_is_refused_naming_the_setting_and_the_choices() {
        let cases = [
            ("database.synchronous", "fsync", &["normal", "full"][..]),
            ("database.synchronous", "FULL", &["normal", "full"]),
            ("smtp.tls", "ssl", &["none", "starttls", "tls"]),
            ("models.load", "later", &["lazy", "eager"]),
        ];
        for (key, value, words) in cases {
            let (section, leaf) = key.split_once('.').unwrap();
            let name = format!("{ENV_PREFIX}{}_{}", section, leaf).to_uppercase();
            let from_env = Config::load(None, env(&[(&name, value)]), &Overrides::default());
            let f = file(&format!("[{section}]\n{leaf} = \"{value}\"\n"));
            let from_file = Config::load(Some(f.path()), vec![], &Overrides::default());
            for (err, source) in [
                (from_env.unwrap_err(), name.as_str()),
                (from_file.unwrap_err(), "config file"),
            ] {
                let message = format!("{err:#}");
                assert!(message.contains(source), "{message}");
                assert!(
                    message.contains(key) && message.contains(value),
                    "{message}"
                );
                for word in words {
                    assert!(message.contains(&format!("`{word}`")), "{message}");
                }
            }
        }
    }

    #[test]
    fn package_pages_get_the_next_port_unless_one_is_set() {
        let at = |addr: &str, set: u16| {
            ServerConfig {
                addr: addr.parse().unwrap(),
                packages_port: set,
                ..ServerConfig::default()
            }
            .packages_port()
        };
        assert_eq!(at("0.0.0.0:8000", 0), 8001);
        assert_eq!(at("127.0.0.1:0", 0), 0, "a free port beside a free port");
        assert_eq!(at("0.0.0.0:65535", 0), 65534, "no port after the last");
        assert_eq!(at("0.0.0.0:8000", 9100), 9100);
    }

    #[test]
    fn every_key_has_an_env_name() {
        let keys = Config::keys();
        assert!(keys.contains(&("server.addr".into(), "SMARTCOURSE_SERVER_ADDR".into())));
        assert!(keys.contains(&("data".into(), "SMARTCOURSE_DATA".into())));
    }
}
