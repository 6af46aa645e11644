//! A decoder-only transformer (the Llama and Qwen2 architectures) over quantized GGUF weights, shaped for
//! serving a class: the weights are shared and read-only, each answer being written has its own key/value
//! cache ([`Sequence`]), a prompt is read in chunks whose matrix products run dense, and one decoding step
//! advances many sequences at once ([`Transformer::decode`]).
//!
//! Why not candle-transformers' own quantized models: they keep the cache inside the weights (one sequence at
//! a time) and multiply every prompt token by the quantized weights row by row, which streams each weight
//! matrix from memory once per prompt token. Here a prompt chunk of [`DENSE_ROWS`] tokens or more is multiplied
//! by the weights dequantized to f32 ([`Linear`]), which candle's blocked GEMM runs at the cores' arithmetic
//! speed; one token per sequence (decoding) keeps the quantized kernels, which read a quarter of the bytes.
//!
//! Every row of a matrix product is computed on its own, and attention runs per sequence, so an answer is the
//! same token for token whether it was written alone or beside others (greedy decoding).

use std::io::{Read, Seek};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, anyhow, bail};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::kv_cache::KvCache;
use smartcourse_kernels::{BlockMatrix, attention};

pub use crate::config::PromptWeights;

/// A prompt chunk of at least this many tokens is multiplied by dense (dequantized) weights.
pub const DENSE_ROWS: usize = 16;

/// One weight matrix (`out × in`) and its bias.
///
/// On the CPU the weights are held as quantized blocks ([`BlockMatrix`]): decoding multiplies the few rows of a step
/// by them in one pass, and a long prompt chunk by their float copy (dense GEMM). On a GPU, candle's quantized
/// kernels do both.
struct Linear {
    weights: Weights,
    dense: OnceLock<Tensor>,
    bias: Option<Tensor>,
}

enum Weights {
    Blocks(BlockMatrix),
    Quantized(QMatMul, Arc<QTensor>),
}

/// A GGUF matrix as blocks for the CPU kernels: Q5_0 and Q8_0 blocks are kept exactly as stored (Q5_0 is
/// multiplied in its own form, two-thirds of the bytes of int8 blocks); the other formats are dequantized and
/// quantized again as int8 blocks.
fn blocks(weight: &QTensor) -> anyhow::Result<BlockMatrix> {
    let (rows, cols) = weight.shape().dims2()?;
    let exact = match weight.dtype() {
        GgmlDType::Q5_0 => Some(BlockMatrix::from_q5_0(&weight.data()?, rows, cols)?),
        GgmlDType::Q8_0 => Some(BlockMatrix::from_q8_0(&weight.data()?, rows, cols)?),
        _ => None,
    };
    Ok(match exact {
        Some(m) => m,
        None => {
            let w = weight
                .dequantize(&Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            BlockMatrix::quantize(&w, rows, cols)
        }
    })
}

impl Linear {
    fn new(weight: QTensor, bias: Option<Tensor>) -> anyhow::Result<Linear> {
        let weights = if weight.device().is_cpu() {
            Weights::Blocks(blocks(&weight)?)
        } else {
            let weight = Arc::new(weight);
            Weights::Quantized(QMatMul::from_arc(weight.clone())?, weight)
        };
        Ok(Linear {
            weights,
            dense: OnceLock::new(),
            bias,
        })
    }

    fn dense_weights(&self, device: &Device) -> candle_core::Result<Tensor> {
        match &self.weights {
            Weights::Blocks(m) => Tensor::from_vec(m.dequantize(), (m.rows(), m.cols()), device),
            Weights::Quantized(_, q) => q.dequantize(device),
        }
    }

    /// `x` (rows × in) times the weights' transpose, plus the bias.
    fn forward(&self, x: &Tensor, how: PromptWeights) -> candle_core::Result<Tensor> {
        let rows = x.dim(0)?;
        let y = if rows < DENSE_ROWS || how == PromptWeights::Quantized {
            match &self.weights {
                Weights::Blocks(m) => {
                    let input = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                    let mut out = vec![0f32; rows * m.rows()];
                    m.matmul(&input, rows, &mut out);
                    Tensor::from_vec(out, (rows, m.rows()), x.device())?
                }
                Weights::Quantized(q, _) => q.forward(x)?,
            }
        } else if how == PromptWeights::Kept {
            let w = match self.dense.get() {
                Some(w) => w,
                None => {
                    let w = self.dense_weights(x.device())?;
                    self.dense.get_or_init(|| w)
                }
            };
            x.matmul(&w.t()?)?
        } else {
            x.matmul(&self.dense_weights(x.device())?.t()?)?
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// Products of one input by several matrices (queries, keys and values; the feed-forward's gate and up). On
/// the CPU their rows are one block matrix: one pass over the weights, the input quantized once, one hand-off
/// to the thread pool instead of three; elsewhere they run apart.
enum Fused {
    One(Linear, Vec<usize>),
    Apart(Vec<Linear>),
}

impl Fused {
    fn new(parts: Vec<Linear>) -> candle_core::Result<Fused> {
        let mats: Vec<&BlockMatrix> = parts
            .iter()
            .filter_map(|p| match &p.weights {
                Weights::Blocks(m) => Some(m),
                Weights::Quantized(..) => None,
            })
            .collect();
        let biases: Vec<&Tensor> = parts.iter().filter_map(|p| p.bias.as_ref()).collect();
        let same_width = mats.windows(2).all(|w| w[0].cols() == w[1].cols());
        if mats.len() != parts.len()
            || !same_width
            || !(biases.is_empty() || biases.len() == parts.len())
        {
            return Ok(Fused::Apart(parts));
        }
        let widths = mats.iter().map(|m| m.rows()).collect();
        let bias = if biases.is_empty() {
            None
        } else {
            Some(Tensor::cat(&biases, 0)?)
        };
        let one = Linear {
            weights: Weights::Blocks(BlockMatrix::stack(&mats)),
            dense: OnceLock::new(),
            bias,
        };
        Ok(Fused::One(one, widths))
    }

    /// One result per matrix, in order.
    fn forward(&self, x: &Tensor, how: PromptWeights) -> candle_core::Result<Vec<Tensor>> {
        match self {
            Fused::One(l, widths) => {
                let y = l.forward(x, how)?;
                let mut at = 0;
                widths
                    .iter()
                    .map(|&w| {
                        at += w;
                        y.narrow(1, at - w, w)
                    })
                    .collect()
            }
            Fused::Apart(ls) => ls.iter().map(|l| l.forward(x, how)).collect(),
        }
    }
}

/// The token embeddings: quantized blocks on the CPU (a quarter of the floats' memory or less), floats elsewhere.
enum Embeddings {
    Blocks(BlockMatrix),
    Dense(Tensor),
}

impl Embeddings {
    fn lookup(&self, tokens: &[u32], device: &Device) -> candle_core::Result<Tensor> {
        match self {
            Embeddings::Blocks(m) => {
                let mut rows = Vec::with_capacity(tokens.len() * m.cols());
                for &t in tokens {
                    if t as usize >= m.rows() {
                        candle_core::bail!("token {t} is outside the vocabulary of {}", m.rows());
                    }
                    rows.extend(m.row(t as usize));
                }
                Tensor::from_vec(rows, (tokens.len(), m.cols()), device)
            }
            Embeddings::Dense(e) => e.index_select(&Tensor::new(tokens, device)?, 0),
        }
    }
}

struct Layer {
    attn_norm: Tensor,
    /// Queries, keys and values.
    qkv: Fused,
    o: Linear,
    ffn_norm: Tensor,
    /// The feed-forward's gate and up projections.
    gate_up: Fused,
    down: Linear,
}

/// The shape of a model, from its GGUF metadata.
#[derive(Debug, Clone)]
pub struct Shape {
    /// `llama` or `qwen2`.
    pub arch: String,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (fewer than `heads` with grouped-query attention).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Width of the hidden state.
    pub hidden: usize,
    /// Most tokens a prompt and its answer may take together.
    pub context: usize,
    rms_eps: f32,
    /// Llama GGUF files store rotary pairs interleaved; Qwen2 splits them in halves.
    rope_interleaved: bool,
}

/// A loaded model: read-only after loading, so any number of sequences can use it.
pub struct Transformer {
    shape: Shape,
    embed: Embeddings,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
    prompt_weights: PromptWeights,
}

/// One answer being written: its key/value cache and how many tokens it holds.
pub struct Sequence {
    caches: Vec<KvCache>,
    len: usize,
}

impl Sequence {
    /// Tokens read so far (prompt and answer).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been read yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the cache of the first `tokens` tokens, to start other sequences from (a prompt prefix).
    pub fn snapshot(&self, tokens: usize) -> candle_core::Result<Snapshot> {
        let tokens = tokens.min(self.len);
        let mut layers = Vec::with_capacity(self.caches.len());
        for c in &self.caches {
            let (k, v) = match (c.k()?, c.v()?) {
                (Some(k), Some(v)) => (k, v),
                _ => {
                    return Ok(Snapshot {
                        layers: Vec::new(),
                        len: 0,
                    });
                }
            };
            layers.push((
                k.narrow(2, 0, tokens)?.copy()?,
                v.narrow(2, 0, tokens)?.copy()?,
            ));
        }
        Ok(Snapshot {
            layers,
            len: tokens,
        })
    }
}

/// A saved key/value cache of a prompt's first tokens.
pub struct Snapshot {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl Snapshot {
    /// Tokens it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A snapshot that claims `len` tokens and holds no tensors, for tests of the prefix bookkeeping.
    #[cfg(test)]
    pub(crate) fn empty_for_tests(len: usize) -> Snapshot {
        Snapshot {
            layers: Vec::new(),
            len,
        }
    }

    /// Its first `tokens` tokens.
    pub fn truncated(&self, tokens: usize) -> candle_core::Result<Snapshot> {
        let len = tokens.min(self.len);
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.narrow(2, 0, len)?, v.narrow(2, 0, len)?)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Snapshot { layers, len })
    }
}

fn metadata<'a>(
    content: &'a gguf_file::Content,
    key: &str,
) -> anyhow::Result<&'a gguf_file::Value> {
    content
        .metadata
        .get(key)
        .with_context(|| format!("the GGUF metadata has no {key}"))
}

fn meta_usize(content: &gguf_file::Content, key: &str) -> anyhow::Result<usize> {
    Ok(metadata(content, key)?
        .to_u32()
        .map_err(|e| anyhow!("{key}: {e}"))? as usize)
}

fn meta_f32(content: &gguf_file::Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|v| v.to_f32().ok())
}

impl Transformer {
    /// Reads the weights named in `content` from `reader` onto `device`.
    pub fn from_gguf<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        prompt_weights: PromptWeights,
    ) -> anyhow::Result<Transformer> {
        let arch = metadata(content, "general.architecture")?
            .to_string()
            .map_err(|e| anyhow!("general.architecture: {e}"))?
            .clone();
        if arch != "llama" && arch != "qwen2" {
            bail!("the {arch:?} architecture is not supported (qwen2 and llama are)");
        }
        let heads = meta_usize(content, &format!("{arch}.attention.head_count"))?;
        let kv_heads =
            meta_usize(content, &format!("{arch}.attention.head_count_kv")).unwrap_or(heads);
        let hidden = meta_usize(content, &format!("{arch}.embedding_length"))?;
        let layers = meta_usize(content, &format!("{arch}.block_count"))?;
        let context = meta_usize(content, &format!("{arch}.context_length")).unwrap_or(2048);
        if heads == 0 || kv_heads == 0 || hidden % heads != 0 || heads % kv_heads != 0 {
            bail!(
                "inconsistent attention shape: {heads} heads, {kv_heads} key/value heads, width {hidden}"
            );
        }
        let head_dim = hidden / heads;
        let rope_dim =
            meta_usize(content, &format!("{arch}.rope.dimension_count")).unwrap_or(head_dim);
        if rope_dim != head_dim {
            bail!("partial rotary embeddings ({rope_dim} of {head_dim}) are not supported");
        }
        let rope_base = meta_f32(content, &format!("{arch}.rope.freq_base")).unwrap_or(10_000.0);
        let rms_eps =
            meta_f32(content, &format!("{arch}.attention.layer_norm_rms_epsilon")).unwrap_or(1e-5);
        // The rotary tables cover the whole context; keep them to a size a laptop holds (32k × head_dim).
        let context = context.min(32_768);

        let mut tensor = |name: &str| -> anyhow::Result<QTensor> {
            content
                .tensor(reader, name, device)
                .map_err(|e| anyhow!("tensor {name}: {e}"))
        };
        let embed = {
            let e = tensor("token_embd.weight")?;
            if device.is_cpu() {
                Embeddings::Blocks(blocks(&e)?)
            } else {
                Embeddings::Dense(e.dequantize(device)?)
            }
        };
        let norm = tensor("output_norm.weight")?.dequantize(device)?;
        let output = match tensor("output.weight") {
            Ok(w) => Linear::new(w, None)?,
            Err(_) => Linear::new(tensor("token_embd.weight")?, None)?,
        };
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("blk.{i}");
            let mut linear = |name: &str| -> anyhow::Result<Linear> {
                let w = tensor(&format!("{p}.{name}.weight"))?;
                let b = match tensor(&format!("{p}.{name}.bias")) {
                    Ok(b) => Some(b.dequantize(device)?),
                    Err(_) => None,
                };
                Linear::new(w, b)
            };
            let (q, k, v, o) = (
                linear("attn_q")?,
                linear("attn_k")?,
                linear("attn_v")?,
                linear("attn_output")?,
            );
            let (gate, up, down) = (linear("ffn_gate")?, linear("ffn_up")?, linear("ffn_down")?);
            blocks.push(Layer {
                attn_norm: tensor(&format!("{p}.attn_norm.weight"))?.dequantize(device)?,
                qkv: Fused::new(vec![q, k, v])?,
                o,
                ffn_norm: tensor(&format!("{p}.ffn_norm.weight"))?.dequantize(device)?,
                gate_up: Fused::new(vec![gate, up])?,
                down,
            });
        }
        let inv: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / rope_base.powf(i as f32 / head_dim as f32))
            .collect();
        let inv = Tensor::new(inv.as_slice(), device)?.reshape((1, head_dim / 2))?;
        let positions = Tensor::arange(0u32, context as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((context, 1))?;
        let angles = positions.broadcast_mul(&inv)?;
        Ok(Transformer {
            shape: Shape {
                rope_interleaved: arch == "llama",
                arch,
                layers,
                heads,
                kv_heads,
                head_dim,
                hidden,
                context,
                rms_eps,
            },
            embed,
            layers: blocks,
            norm,
            output,
            cos: angles.cos()?,
            sin: angles.sin()?,
            device: device.clone(),
            prompt_weights,
        })
    }

    /// The model's shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// An empty sequence with room for `capacity` tokens (it grows if it needs more).
    pub fn sequence(&self, capacity: usize) -> Sequence {
        Sequence {
            caches: (0..self.shape.layers)
                .map(|_| KvCache::new(2, capacity.clamp(16, self.shape.context)))
                .collect(),
            len: 0,
        }
    }

    /// A sequence starting from a saved prefix.
    pub fn sequence_from(
        &self,
        prefix: &Snapshot,
        capacity: usize,
    ) -> candle_core::Result<Sequence> {
        let mut s = self.sequence(capacity.max(prefix.len));
        if prefix.is_empty() {
            return Ok(s);
        }
        for (cache, (k, v)) in s.caches.iter_mut().zip(&prefix.layers) {
            cache.append(&k.contiguous()?, &v.contiguous()?)?;
        }
        s.len = prefix.len;
        Ok(s)
    }

    fn rope(&self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        let t = x.dim(2)?;
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        if self.shape.rope_interleaved {
            candle_nn::rotary_emb::rope_i(&x.contiguous()?, &cos, &sin)
        } else {
            candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)
        }
    }

    /// Attention of `t` new tokens of one sequence (rows of `q`, `k`, `v`) over everything it has read.
    fn attend(
        &self,
        seq: &mut Sequence,
        layer: usize,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let s = &self.shape;
        let t = q.dim(0)?;
        let pos = seq.len;
        let heads = |x: &Tensor, n: usize| x.reshape((1, t, n, s.head_dim))?.transpose(1, 2);
        let q = self.rope(&heads(q, s.heads)?, pos)?;
        let k = self.rope(&heads(k, s.kv_heads)?, pos)?;
        let v = heads(v, s.kv_heads)?.contiguous()?;
        let (k, v) = seq.caches[layer].append(&k, &v)?;
        let total = pos + t;
        if t == 1 && self.device.is_cpu() {
            return attend_one(&q, &k, &v, s, total);
        }
        let rep = s.heads / s.kv_heads;
        // Query heads sharing a key/value head are neighbours: group them instead of copying the cache.
        let q = q.reshape((s.kv_heads, rep * t, s.head_dim))?;
        let k = k.squeeze(0)?;
        let v = v.squeeze(0)?;
        let scale = 1.0 / (s.head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if t > 1 {
            let mask: Vec<f32> = (0..t)
                .flat_map(|i| {
                    (0..total).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 })
                })
                .collect();
            let mask = Tensor::from_vec(mask, (t, total), &self.device)?;
            scores = scores
                .reshape((s.kv_heads, rep, t, total))?
                .broadcast_add(&mask)?
                .reshape((s.kv_heads, rep * t, total))?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        probs
            .matmul(&v.contiguous()?)?
            .reshape((s.heads, t, s.head_dim))?
            .transpose(0, 1)?
            .reshape((t, s.hidden))
    }

    /// Reads `tokens` into `seq` and returns the logits (vocabulary-sized) of the token after the last.
    pub fn prefill(&self, seq: &mut Sequence, tokens: &[u32]) -> anyhow::Result<Tensor> {
        if tokens.is_empty() {
            bail!("nothing to read");
        }
        if seq.len + tokens.len() > self.shape.context {
            bail!(
                "{} tokens do not fit the model's context of {}",
                seq.len + tokens.len(),
                self.shape.context
            );
        }
        let t = tokens.len();
        let how = self.prompt_weights;
        let mut x = self.embed.lookup(tokens, &self.device)?;
        for (i, l) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &l.attn_norm, self.shape.rms_eps)?;
            let [q, k, v] = qkv(l, &h, how)?;
            let a = self.attend(seq, i, &q, &k, &v)?;
            x = (x + l.o.forward(&a, how)?)?;
            x = (&x + self.mlp(l, &x, how)?)?;
        }
        seq.len += t;
        let last = x.narrow(0, t - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, self.shape.rms_eps)?;
        Ok(self
            .output
            .forward(&last, PromptWeights::Quantized)?
            .squeeze(0)?)
    }

    fn mlp(&self, l: &Layer, x: &Tensor, how: PromptWeights) -> candle_core::Result<Tensor> {
        let h = candle_nn::ops::rms_norm(x, &l.ffn_norm, self.shape.rms_eps)?;
        let [gate, up]: [Tensor; 2] = l
            .gate_up
            .forward(&h, how)?
            .try_into()
            .map_err(|_| candle_core::Error::Msg("gate and up".into()))?;
        let g = candle_nn::ops::silu(&gate)?;
        l.down.forward(&(g * up)?, how)
    }

    /// One decoding step for several sequences at once: `tokens[i]` is read into `seqs[i]`. Returns the
    /// logits, one row per sequence. The matrix products run once for all the rows.
    pub fn decode(&self, seqs: &mut [&mut Sequence], tokens: &[u32]) -> anyhow::Result<Tensor> {
        if seqs.len() != tokens.len() || tokens.is_empty() {
            bail!("one token per sequence");
        }
        if let Some(full) = seqs.iter().find(|s| s.len + 1 > self.shape.context) {
            bail!(
                "{} tokens do not fit the model's context of {}",
                full.len + 1,
                self.shape.context
            );
        }
        // One row per sequence: the quantized kernels, whatever the batch (a row's result must not depend
        // on how many others share its step).
        let how = PromptWeights::Quantized;
        let mut x = self.embed.lookup(tokens, &self.device)?;
        // On the CPU every sequence's attention runs on plain slices, all in one hand-off to the thread pool:
        // each sequence's rotation angles are taken once for all layers.
        let angles = if self.device.is_cpu() {
            let half = self.shape.head_dim / 2;
            let cos = self.cos.flatten_all()?;
            let sin = self.sin.flatten_all()?;
            Some(
                seqs.iter()
                    .map(|seq| {
                        Ok((
                            cos.narrow(0, seq.len * half, half)?.to_vec1::<f32>()?,
                            sin.narrow(0, seq.len * half, half)?.to_vec1::<f32>()?,
                        ))
                    })
                    .collect::<candle_core::Result<Vec<_>>>()?,
            )
        } else {
            None
        };
        for (i, l) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &l.attn_norm, self.shape.rms_eps)?;
            let [q, k, v] = qkv(l, &h, how)?;
            let a = if let Some(angles) = &angles {
                self.attend_step(seqs, i, [&q, &k, &v], angles)?
            } else {
                let mut rows = Vec::with_capacity(seqs.len());
                for (b, seq) in seqs.iter_mut().enumerate() {
                    rows.push(self.attend(
                        seq,
                        i,
                        &q.narrow(0, b, 1)?,
                        &k.narrow(0, b, 1)?,
                        &v.narrow(0, b, 1)?,
                    )?);
                }
                Tensor::cat(&rows, 0)?
            };
            x = (x + l.o.forward(&a, how)?)?;
            x = (&x + self.mlp(l, &x, how)?)?;
        }
        for s in seqs.iter_mut() {
            s.len += 1;
        }
        let x = candle_nn::ops::rms_norm(&x, &self.norm, self.shape.rms_eps)?;
        Ok(self.output.forward(&x, how)?)
    }
}

impl Transformer {
    /// One decoding token of every sequence through layer `layer`'s attention, on the CPU: rows `b` of the
    /// queries, keys and values are sequence `b`'s; each is rotated to its position (`angles[b]`), its key and
    /// value join its cache, and all the sequences attend together. Returns `(sequences, hidden)`.
    fn attend_step(
        &self,
        seqs: &mut [&mut Sequence],
        layer: usize,
        [q, k, v]: [&Tensor; 3],
        angles: &[(Vec<f32>, Vec<f32>)],
    ) -> candle_core::Result<Tensor> {
        let s = &self.shape;
        let rows = |t: &Tensor| t.contiguous()?.flatten_all()?.to_vec1::<f32>();
        let (mut q, mut k, v) = (rows(q)?, rows(k)?, rows(v)?);
        let (qw, kw) = (s.heads * s.head_dim, s.kv_heads * s.head_dim);
        let mut caches = Vec::with_capacity(seqs.len());
        for (b, seq) in seqs.iter_mut().enumerate() {
            let (cos, sin) = &angles[b];
            let qb = &mut q[b * qw..(b + 1) * qw];
            attention::rope(qb, s.head_dim, cos, sin, s.rope_interleaved);
            let kb = &mut k[b * kw..(b + 1) * kw];
            attention::rope(kb, s.head_dim, cos, sin, s.rope_interleaved);
            let shape = (1, s.kv_heads, 1, s.head_dim);
            let kt = Tensor::from_slice(kb, shape, &self.device)?;
            let vt = Tensor::from_slice(&v[b * kw..(b + 1) * kw], shape, &self.device)?;
            caches.push(seq.caches[layer].append(&kt, &vt)?);
        }
        let held: Vec<_> = caches
            .iter()
            .map(|(k, v)| (k.storage_and_layout(), v.storage_and_layout()))
            .collect();
        let queries = held
            .iter()
            .zip(&caches)
            .enumerate()
            .map(|(b, (((ks, kl), (vs, vl)), (kt, _)))| {
                Ok(attention::Query {
                    q: &q[b * qw..(b + 1) * qw],
                    keys: cache(ks, kl)?,
                    values: cache(vs, vl)?,
                    len: kt.dim(2)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut out = vec![0f32; seqs.len() * s.hidden];
        attention::attend_many(
            &queries,
            attention::Heads {
                heads: s.heads,
                kv_heads: s.kv_heads,
                d: s.head_dim,
            },
            &mut out,
        );
        Tensor::from_vec(out, (seqs.len(), s.hidden), &self.device)
    }
}

/// One token's attention on the CPU when a prompt chunk holds a single token (decoding steps go through
/// [`Transformer::attend_step`]): `q` is `(1, heads, 1, d)`, `k` and `v` the layer's cache
/// `(1, kv_heads, total, d)` as the cache holds it (a view into a longer buffer), read in place by the fused
/// kernel instead of a dozen tensor operations.
fn attend_one(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    s: &Shape,
    total: usize,
) -> candle_core::Result<Tensor> {
    let q = q.flatten_all()?.to_vec1::<f32>()?;
    let (k_storage, k_layout) = k.storage_and_layout();
    let (v_storage, v_layout) = v.storage_and_layout();
    let k = cache(&k_storage, k_layout)?;
    let v = cache(&v_storage, v_layout)?;
    let mut out = vec![0f32; s.heads * s.head_dim];
    attention::attend_one(
        &q,
        k,
        v,
        attention::Heads {
            heads: s.heads,
            kv_heads: s.kv_heads,
            d: s.head_dim,
        },
        total,
        &mut out,
    );
    Tensor::from_vec(out, (1, s.hidden), &Device::Cpu)
}

/// A cache tensor's rows in place: `(1, kv_heads, len, d)` f32 on the CPU, rows contiguous.
fn cache<'a>(
    storage: &'a candle_core::Storage,
    layout: &candle_core::Layout,
) -> candle_core::Result<attention::Cache<'a>> {
    let stride = layout.stride();
    match storage {
        candle_core::Storage::Cpu(cpu) if stride.len() == 4 && stride[3] == 1 => {
            Ok(attention::Cache {
                data: cpu.as_slice::<f32>()?,
                offset: layout.start_offset(),
                head_stride: stride[1],
                row_stride: stride[2],
            })
        }
        _ => candle_core::bail!("a key/value cache of f32 rows on the CPU"),
    }
}

/// A layer's queries, keys and values for `h`.
fn qkv(l: &Layer, h: &Tensor, how: PromptWeights) -> candle_core::Result<[Tensor; 3]> {
    l.qkv
        .forward(h, how)?
        .try_into()
        .map_err(|_| candle_core::Error::Msg("queries, keys and values".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q5_0_and_q8_0_weights_are_kept_exactly_as_candle_reads_them() -> anyhow::Result<()> {
        let (rows, cols) = (8, 96);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let t = Tensor::from_vec(w, (rows, cols), &Device::Cpu)?;
        for dtype in [GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4_1] {
            let q = QTensor::quantize(&t, dtype)?;
            let m = blocks(&q)?;
            assert_eq!(m.is_five_bit(), dtype == GgmlDType::Q5_0, "{dtype:?}");
            let want = q
                .dequantize(&Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let got = m.dequantize();
            if dtype == GgmlDType::Q4_1 {
                // Quantized again as int8: close, not exact.
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 0.01, "{dtype:?}: {g} vs {w}");
                }
            } else {
                assert_eq!(got, want, "{dtype:?}");
            }
        }
        Ok(())
    }
}
