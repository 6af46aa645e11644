//! The models the binary knows (`models/models.toml`, built in): which files each has, with sizes and
//! SHA-256, and what is wrong with the ones a configuration uses. `smartcourse models` and `doctor` print it,
//! the admin page shows it.

use std::path::Path;

use serde::Deserialize;

use crate::config::Config;

/// The manifest `just models` installs from, built into the binary.
pub(crate) const MANIFEST: &str = include_str!("../../models/models.toml");

#[derive(Deserialize)]
pub(crate) struct Manifest {
    pub(crate) model: Vec<ManifestModel>,
}

#[derive(Deserialize)]
pub(crate) struct ManifestModel {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) description: String,
    pub(crate) licence: String,
    pub(crate) sets: Vec<String>,
    pub(crate) files: Vec<ManifestFile>,
}

#[derive(Deserialize)]
pub(crate) struct ManifestFile {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

/// The state of one model file.
#[derive(Debug, PartialEq, Eq)]
pub enum FileState {
    /// Present, right size and checksum.
    Ok,
    /// Not there.
    Missing,
    /// Wrong size or checksum.
    Corrupt(String),
}

pub(crate) fn check_file(path: &Path, size: u64, sha: &str, verify: bool) -> FileState {
    match std::fs::metadata(path) {
        Err(_) => FileState::Missing,
        Ok(m) if m.len() != size => {
            FileState::Corrupt(format!("{} bytes, the manifest says {size}", m.len()))
        }
        Ok(_) if !verify => FileState::Ok,
        Ok(_) => match crate::util::sha256_file(path) {
            Ok((_, got)) if got == sha => FileState::Ok,
            Ok((_, got)) => FileState::Corrupt(format!("SHA-256 {got}, the manifest pins {sha}")),
            Err(e) => FileState::Corrupt(format!("unreadable: {e}")),
        },
    }
}

/// Problems with the models this configuration uses, each with the fix (for `doctor`); empty when all is well.
/// `verify` also checks every file's SHA-256 (reads all the weights), else sizes only.
pub fn problems(config: &Config, verify: bool) -> Vec<String> {
    if config.models.fake {
        return Vec::new();
    }
    let mut out = Vec::new();
    let manifest = load();
    let embedding = crate::ml::embedding_dir(&config.models);
    let llm = crate::ml::llm_path(&config.models).unwrap_or_default();
    for m in &manifest.model {
        let dir = config.models.dir.join(&m.name);
        // Only the models in use: the configured ones when they are the manifest's.
        let in_use = dir == embedding || llm.starts_with(&dir);
        if !in_use {
            continue;
        }
        for f in &m.files {
            match check_file(&dir.join(&f.name), f.size, &f.sha256, verify) {
                FileState::Ok => {}
                FileState::Missing => out.push(format!(
                    "model {}: {} is missing; {}",
                    m.name,
                    dir.join(&f.name).display(),
                    crate::ml::fix_hint()
                )),
                FileState::Corrupt(why) => out.push(format!(
                    "model {}: {} is corrupt ({why}); delete it and {}",
                    m.name,
                    dir.join(&f.name).display(),
                    crate::ml::fix_hint()
                )),
            }
        }
    }
    if !embedding.join("config.json").is_file() {
        out.push(format!(
            "the embedding model folder {} has no config.json; {}",
            embedding.display(),
            crate::ml::fix_hint()
        ));
    }
    if !llm.is_file() {
        out.push(format!(
            "the language model {} does not exist; {}",
            llm.display(),
            crate::ml::fix_hint()
        ));
    }
    out.dedup();
    out
}

/// The manifest built into the binary (`models/models.toml`).
pub(crate) fn load() -> Manifest {
    toml::from_str(MANIFEST).expect("the built-in manifest parses")
}
