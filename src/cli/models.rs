//! `smartcourse models`: which models are installed, whether they match the manifest, and the device.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Config;

/// The manifest `just models` installs from, built into the binary.
const MANIFEST: &str = include_str!("../../models/models.toml");

#[derive(Deserialize)]
struct Manifest {
    model: Vec<ManifestModel>,
}

#[derive(Deserialize)]
struct ManifestModel {
    name: String,
    kind: String,
    description: String,
    licence: String,
    sets: Vec<String>,
    files: Vec<ManifestFile>,
}

#[derive(Deserialize)]
struct ManifestFile {
    name: String,
    size: u64,
    sha256: String,
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

fn check_file(path: &Path, size: u64, sha: &str, verify: bool) -> FileState {
    match std::fs::metadata(path) {
        Err(_) => FileState::Missing,
        Ok(m) if m.len() != size => {
            FileState::Corrupt(format!("{} bytes, the manifest says {size}", m.len()))
        }
        Ok(_) if !verify => FileState::Ok,
        Ok(_) => match crate::backup::sha256_file(path) {
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
    let manifest: Manifest = toml::from_str(MANIFEST).expect("the built-in manifest parses");
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

/// Prints the models: those of the manifest under `models.dir`, and the ones in use.
pub fn list(config: &Config, verify: bool) -> anyhow::Result<bool> {
    let manifest: Manifest = toml::from_str(MANIFEST)?;
    let embedding = crate::ml::embedding_dir(&config.models);
    let llm = crate::ml::llm_path(&config.models)?;
    let device = crate::ml::device();
    println!("models folder: {}", config.models.dir.display());
    println!("device:        {}", crate::ml::device_name(&device));
    if config.models.fake {
        println!("models.fake is set: the server uses the built-in stand-ins, not these files");
    }
    println!();
    let mut all_ok = true;
    for m in &manifest.model {
        let dir = config.models.dir.join(&m.name);
        let in_use = if dir == embedding || llm.starts_with(&dir) {
            " [in use]"
        } else {
            ""
        };
        println!(
            "{} ({}, for: {}){in_use}",
            m.name,
            m.kind,
            m.sets.join(", ")
        );
        println!("  {}", m.description);
        println!("  licence: {}", m.licence);
        for f in &m.files {
            let path = dir.join(&f.name);
            let state = check_file(&path, f.size, &f.sha256, verify);
            let shown = match &state {
                FileState::Ok if verify => "ok, SHA-256 matches".to_owned(),
                FileState::Ok => "ok (size; run with --verify to check SHA-256)".to_owned(),
                FileState::Missing => "missing".to_owned(),
                FileState::Corrupt(why) => format!("CORRUPT: {why}"),
            };
            if !in_use.is_empty() && state != FileState::Ok {
                all_ok = false;
            }
            println!(
                "  {:<44} {:>8.1} MB  {}  {shown}",
                f.name,
                f.size as f64 / 1e6,
                &f.sha256[..12]
            );
        }
        println!();
    }
    let custom = |p: &PathBuf| !p.starts_with(&config.models.dir);
    if custom(&embedding) {
        println!(
            "embedding model in use: {} (not from the manifest)",
            embedding.display()
        );
    }
    if custom(&llm) {
        println!(
            "language model in use: {} (not from the manifest)",
            llm.display()
        );
    }
    if !all_ok {
        println!(
            "a model in use is missing or damaged: {}",
            crate::ml::fix_hint()
        );
    }
    Ok(all_ok)
}
