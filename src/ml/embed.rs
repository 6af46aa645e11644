//! Sentence embeddings: a BERT-family model (all-MiniLM-L6-v2 by default) on candle, with mean pooling over
//! the attention mask and L2 normalisation, as sentence-transformers computes them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use super::bert::{CpuBert, Shape};
use anyhow::{Context, anyhow};
use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig, HiddenAct};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Turns texts into unit-length vectors whose dot product is their cosine similarity.
pub trait Embedder: Send + Sync {
    /// A short name of the model, stored with each vector so a model change is noticed.
    fn model_id(&self) -> String;
    /// Length of every vector.
    fn dim(&self) -> usize;
    /// Embeds `texts` (blocking: call it from a blocking thread). One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>>;
    /// Whether the weights are in memory (a lazy model loads on first use).
    fn is_loaded(&self) -> bool {
        true
    }
}

/// Texts per forward pass on a GPU (candle-transformers' BERT, padded to the longest).
pub const GPU_BATCH: usize = 32;

/// Texts packed into one forward pass on the CPU ([`CpuBert`]: no padding, so packing only pays): 16 chunks of
/// a course are about 2,000 tokens, whose products keep both cores busy; the largest pass (16 × 256 tokens)
/// holds about 25 MB of activations.
pub const CPU_PACK: usize = 16;

struct Loaded {
    model: Model,
    tokenizer: Tokenizer,
    dim: usize,
}

enum Model {
    /// One text per pass with fused element-wise steps ([`CpuBert`]): the CPU's path.
    Own(CpuBert),
    /// candle-transformers' BERT: batches, on a GPU (and for the benchmark's comparison).
    Candle(BertModel),
}

/// A BERT sentence-embedding model read from a folder with `config.json`, `tokenizer.json` and
/// `model.safetensors` (the sentence-transformers layout), loaded on first use.
pub struct BertEmbedder {
    dir: PathBuf,
    device: Device,
    batch: usize,
    exact_gelu: bool,
    own_forward: bool,
    loaded: OnceLock<Loaded>,
    loading: std::sync::Mutex<()>,
}

impl BertEmbedder {
    /// An embedder for the model in `dir`; nothing is read until it is first used.
    pub fn new(dir: PathBuf, device: Device) -> BertEmbedder {
        let batch = if device.is_cpu() { CPU_PACK } else { GPU_BATCH };
        BertEmbedder {
            dir,
            own_forward: device.is_cpu(),
            device,
            batch,
            exact_gelu: true,
            loaded: OnceLock::new(),
            loading: std::sync::Mutex::new(()),
        }
    }

    /// Embeds `n` texts per forward pass (for the benchmark's comparison; call before first use).
    pub fn with_batch(mut self, n: usize) -> BertEmbedder {
        self.batch = n.max(1);
        self
    }

    /// Uses candle-transformers' BERT where the CPU would run SmartCourse's own forward pass, one text per pass
    /// there as it runs fastest (for the benchmark's and the tests' comparison; call before first use).
    pub fn with_candle_transformers(mut self) -> BertEmbedder {
        if self.own_forward {
            self.own_forward = false;
            self.batch = 1;
        }
        self
    }

    /// Uses the tanh approximation of GELU instead of the model's exact (erf) one, in candle-transformers'
    /// BERT (for the benchmark's comparison; call before first use).
    pub fn with_approximate_gelu(mut self) -> BertEmbedder {
        self.exact_gelu = false;
        self.with_candle_transformers()
    }

    /// The model folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the model now if it is not loaded yet.
    pub fn ensure_loaded(&self) -> anyhow::Result<()> {
        self.get().map(|_| ())
    }

    fn get(&self) -> anyhow::Result<&Loaded> {
        if let Some(l) = self.loaded.get() {
            return Ok(l);
        }
        // One load at a time (a publish and an index job may both start it): the second waits and reuses.
        let _guard = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = self.loaded.get() {
            return Ok(l);
        }
        let started = Instant::now();
        let loaded = load(&self.dir, &self.device, self.exact_gelu, self.own_forward)
            .with_context(|| {
                format!(
                    "cannot load the embedding model in {}: {}",
                    self.dir.display(),
                    super::fix_hint()
                )
            })?;
        tracing::info!(
            model = %self.dir.display(),
            device = %super::device_name(&self.device),
            ms = started.elapsed().as_millis() as u64,
            "embedding model loaded"
        );
        Ok(self.loaded.get_or_init(|| loaded))
    }
}

fn load(
    dir: &Path,
    device: &Device,
    exact_gelu: bool,
    own_forward: bool,
) -> anyhow::Result<Loaded> {
    let config_text = std::fs::read_to_string(dir.join("config.json"))
        .with_context(|| format!("{}", dir.join("config.json").display()))?;
    let mut config: BertConfig = serde_json::from_str(&config_text).context("config.json")?;
    if !exact_gelu && config.hidden_act == HiddenAct::Gelu {
        config.hidden_act = HiddenAct::GeluApproximate;
    }
    let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| anyhow!("tokenizer.json: {e}"))?;
    // sentence-transformers truncates at max_seq_length (256 for all-MiniLM-L6-v2), whatever tokenizer.json says.
    let max_len = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["max_seq_length"].as_u64())
        .map(|n| n as usize)
        .unwrap_or(256)
        .min(config.max_position_embeddings);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| anyhow!("tokenizer: {e}"))?;
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        pad_id: config.pad_token_id as u32,
        ..Default::default()
    }));
    let weights = std::fs::read(dir.join("model.safetensors"))
        .with_context(|| format!("{}", dir.join("model.safetensors").display()))?;
    let model = if own_forward && config.hidden_act == HiddenAct::Gelu {
        let shape = Shape {
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            layers: config.num_hidden_layers,
            intermediate: config.intermediate_size,
            max_positions: config.max_position_embeddings,
            eps: config.layer_norm_eps as f32,
        };
        Model::Own(
            CpuBert::load(&weights, shape)
                .context("model.safetensors does not hold a BERT model")?,
        )
    } else {
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, device)?;
        // Some exports prefix every tensor with `bert.`.
        Model::Candle(
            BertModel::load(vb.clone(), &config)
                .or_else(|_| BertModel::load(vb.pp("bert"), &config))
                .context("model.safetensors does not hold a BERT model")?,
        )
    };
    Ok(Loaded {
        model,
        tokenizer,
        dim: config.hidden_size,
    })
}

impl Embedder for BertEmbedder {
    fn model_id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bert".into())
    }

    fn dim(&self) -> usize {
        self.get().map(|l| l.dim).unwrap_or(384)
    }

    fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let loaded = self.get()?;
        // Batches of similar length pad less: sort by length, embed, put back in order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(self.batch) {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let vectors = embed_batch(loaded, &self.device, &inputs)?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

fn embed_batch(loaded: &Loaded, device: &Device, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
    let model = match &loaded.model {
        Model::Own(bert) => {
            let encodings = texts
                .iter()
                .map(|t| loaded.tokenizer.encode(*t, true))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!("tokenizing: {e}"))?;
            let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
            return bert.embed(&ids);
        }
        Model::Candle(m) => m,
    };
    let encodings = loaded
        .tokenizer
        .encode_batch(texts.to_vec(), true)
        .map_err(|e| anyhow!("tokenizing: {e}"))?;
    let rows = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<u32>| -> candle_core::Result<Tensor> {
        let rows = encodings
            .iter()
            .map(|e| Tensor::new(f(e).as_slice(), device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::stack(&rows, 0)
    };
    let ids = rows(&|e| e.get_ids().to_vec())?;
    let types = rows(&|e| e.get_type_ids().to_vec())?;
    let mask = rows(&|e| e.get_attention_mask().to_vec())?;
    let hidden = model.forward(&ids, &types, Some(&mask))?; // (n, len, dim)
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (n, dim)
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?; // (n, 1)
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    let unit = mean.broadcast_div(&norm)?;
    Ok(unit.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}

/// Dot product of two vectors of the same length (their cosine when both are unit length).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
