//! `smartcourse models`: which models are installed, whether they match the manifest, and the device.

use std::path::PathBuf;

use crate::config::Config;
use crate::ml::manifest::{FileState, check_file};

/// Prints the models: those of the manifest under `models.dir`, and the ones in use.
pub fn list(config: &Config, verify: bool) -> anyhow::Result<bool> {
    let manifest = crate::ml::manifest::load();
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
