//! Local models: sentence embeddings for search and an instruct LLM for the tutor.
//!
//! Both sit behind small traits ([`Embedder`], [`Generator`]) so most tests use the deterministic stand-ins in
//! [`fake`], while the real-model tests load what `just models` fetched. Real models run on candle: BERT
//! sentence embeddings ([`embed::BertEmbedder`]) and quantized GGUF generation ([`generate::GgufGenerator`]).
//! Everything is read from local files; nothing here opens a network connection.

pub mod bert;
pub mod embed;
mod engine;
pub mod fake;
pub mod generate;
mod gguf_tokenizer;
pub mod manifest;
pub mod transformer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;

use crate::config::{ModelLoad, ModelsConfig};

pub use embed::Embedder;
pub use generate::{ChatMessage, Finish, GenerateParams, GenerationStats, Generator};

/// Name of the default embedding model's folder under `models.dir`.
pub const DEFAULT_EMBEDDING: &str = "all-minilm-l6-v2";
/// Name of the default tutor model's folder under `models.dir`.
pub const DEFAULT_LLM: &str = "qwen2.5-0.5b-instruct";

/// The models of a running installation.
#[derive(Clone)]
pub struct Models {
    /// Turns texts into unit vectors.
    pub embedder: Arc<dyn Embedder>,
    /// Writes the tutor's answers.
    pub generator: Arc<dyn Generator>,
}

impl Models {
    /// The models the configuration names: stand-ins when `models.fake` is set, otherwise the real ones
    /// (loaded on first use, or now when `models.load = "eager"`).
    pub fn from_config(config: &ModelsConfig) -> anyhow::Result<Models> {
        if config.fake {
            return Ok(Models::fake());
        }
        let device = device();
        let embedder = Arc::new(embed::BertEmbedder::new(
            embedding_dir(config),
            device.clone(),
        ));
        let generator = Arc::new(generate::GgufGenerator::with_options(
            llm_path(config)?,
            device,
            generate::EngineOptions {
                max_batch: config.llm_batch.max(1),
                writing_share: config.llm_writing_share,
                prompt_weights: config.llm_prompt_weights,
            },
        ));
        if config.load == ModelLoad::Eager {
            embedder.ensure_loaded()?;
            generator.ensure_loaded()?;
        }
        Ok(Models {
            embedder,
            generator,
        })
    }

    /// Deterministic stand-ins: a hashing embedder and a generator that quotes its sources.
    pub fn fake() -> Models {
        Models {
            embedder: Arc::new(fake::HashEmbedder::default()),
            generator: Arc::new(fake::EchoGenerator),
        }
    }
}

/// The device models run on: the first CUDA or Metal GPU when built with that feature and one is present,
/// the CPU otherwise.
pub fn device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    #[cfg(feature = "metal")]
    if let Ok(d) = Device::new_metal(0) {
        return d;
    }
    Device::Cpu
}

/// A device in words, with the CPU features the quantized kernels were compiled for.
pub fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => {
            let mut features: Vec<&str> = Vec::new();
            if cfg!(target_feature = "avx") {
                features.push("avx");
            }
            if cfg!(target_feature = "avx2") {
                features.push("avx2");
            }
            if cfg!(target_feature = "fma") {
                features.push("fma");
            }
            if cfg!(target_feature = "f16c") {
                features.push("f16c");
            }
            if cfg!(target_feature = "neon") {
                features.push("neon");
            }
            let threads = candle_core::utils::get_num_threads();
            if features.is_empty() {
                format!("cpu ({threads} threads, no SIMD: built without -C target-cpu)")
            } else {
                format!("cpu ({threads} threads, {})", features.join("+"))
            }
        }
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal:0".into(),
    }
}

/// The embedding model's folder: `models.embedding`, or the default model under `models.dir`.
pub fn embedding_dir(config: &ModelsConfig) -> PathBuf {
    if config.embedding.as_os_str().is_empty() {
        config.dir.join(DEFAULT_EMBEDDING)
    } else {
        config.embedding.clone()
    }
}

/// The LLM's GGUF file: `models.llm` (a file, or a folder holding exactly one `.gguf`), or the default model.
pub fn llm_path(config: &ModelsConfig) -> anyhow::Result<PathBuf> {
    let given = if config.llm.as_os_str().is_empty() {
        config.dir.join(DEFAULT_LLM)
    } else {
        config.llm.clone()
    };
    resolve_gguf(&given)
}

/// A GGUF file itself, or the one `.gguf` inside a folder. A missing path is returned as it is (the error
/// comes when the model is loaded, with the command that fixes it).
pub fn resolve_gguf(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
        })
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(path.join("model.gguf")),
        1 => Ok(found.remove(0)),
        _ => anyhow::bail!(
            "{} holds several .gguf files; name one with --llm FILE",
            path.display()
        ),
    }
}

/// The hint printed with a missing model.
pub fn fix_hint() -> &'static str {
    "run `just models` (or `python3 scripts/models.py fetch`) in the source folder, or point --embedding-model / --llm at a model"
}
