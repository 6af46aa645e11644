//! Loading the configuration in layers: the defaults, then a TOML file, then `SMARTCOURSE_*` environment
//! variables (each parsed like the default value it replaces, and named in any error), then the command line's
//! flags. Unknown keys and variables are reported as warnings, not ignored silently.

use super::*;

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
        if !(self.models.llm_writing_share.is_finite() && self.models.llm_writing_share >= 0.0) {
            bail!("models.llm_writing_share must be a number, 0 or more");
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
        for share in ["-0.5", "NaN", "inf"] {
            let e = env(&[("SMARTCOURSE_MODELS_LLM_WRITING_SHARE", share)]);
            let err = Config::load(None, e, &Overrides::default()).unwrap_err();
            assert!(
                format!("{err:#}").contains("models.llm_writing_share"),
                "{share}: {err:#}"
            );
        }
        let e = env(&[("SMARTCOURSE_MODELS_LLM_WRITING_SHARE", "0")]);
        let (c, _) = Config::load(None, e, &Overrides::default()).unwrap();
        assert_eq!(c.models.llm_writing_share, 0.0);
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
