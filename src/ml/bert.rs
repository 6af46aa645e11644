//! A BERT encoder's forward pass on the CPU, the way the embedder runs it there.
//!
//! Why not candle-transformers' `BertModel`: its element-wise steps (bias adds, GELU, the attention scaling and
//! softmax, the layer norms) each run as their own single-threaded pass over a newly allocated tensor, which
//! took as long as the matrix products and held candle at half PyTorch's speed (BENCHMARKS.md). Here the
//! matrix products still go through candle (its blocked, multi-threaded GEMM) and everything between them is
//! one fused, multi-threaded pass over plain slices ([`smartcourse_kernels::rows`]). Several texts are packed
//! one after another into one pass, without padding: the products that work token by token run over all of
//! them at once, attention text by text, so there is no attention mask.
//!
//! Weights are the sentence-transformers checkpoint's own (`model.safetensors`, f32), laid out once at load
//! so every product multiplies by a contiguous `in × out` matrix. The query, key and value projections are one
//! product.

use anyhow::{Context, anyhow, bail};
use candle_core::{DType, Device, Tensor};
use smartcourse_kernels::rows::{self, Norm};

/// What the forward pass needs of `config.json`.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub hidden: usize,
    pub heads: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub eps: f32,
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl LayerNorm {
    fn norm(&self, eps: f32) -> Norm<'_> {
        Norm {
            gamma: &self.gamma,
            beta: &self.beta,
            eps,
        }
    }
}

/// `in × out` weights (contiguous) and the bias.
struct Dense {
    w: Tensor,
    b: Vec<f32>,
}

impl Dense {
    /// `x · W` for `rows` rows of `x` (the bias is added by the fused step after).
    fn apply(&self, x: Vec<f32>, rows: usize) -> candle_core::Result<Vec<f32>> {
        let cols = x.len() / rows.max(1);
        let x = Tensor::from_vec(x, (rows, cols), &Device::Cpu)?;
        x.matmul(&self.w)?.flatten_all()?.to_vec1::<f32>()
    }
}

struct Layer {
    qkv: Dense,
    out: Dense,
    attn_norm: LayerNorm,
    up: Dense,
    down: Dense,
    ffn_norm: LayerNorm,
}

/// The encoder's weights, ready for [`CpuBert::forward`].
pub struct CpuBert {
    shape: Shape,
    words: Vec<f32>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl CpuBert {
    /// Reads the weights from a safetensors file's bytes. `prefix` is `""` or `"bert."` (some exports prefix
    /// every name).
    pub fn load(bytes: &[u8], shape: Shape) -> anyhow::Result<CpuBert> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
        let prefix = if tensors.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else {
            "bert."
        };
        let get = |name: &str| -> anyhow::Result<Tensor> {
            let t = tensors
                .get(&format!("{prefix}{name}"))
                .ok_or_else(|| anyhow!("model.safetensors has no tensor {prefix}{name}"))?;
            Ok(t.to_dtype(DType::F32)?)
        };
        let vector = |name: &str, len: usize| -> anyhow::Result<Vec<f32>> {
            let v = get(name)?.flatten_all()?.to_vec1::<f32>()?;
            if v.len() != len {
                bail!("{name} has {} values, expected {len}", v.len());
            }
            Ok(v)
        };
        let norm = |name: &str| -> anyhow::Result<LayerNorm> {
            // Older checkpoints call them gamma and beta.
            let pick = |a: &str, b: &str| {
                vector(&format!("{name}.{a}"), shape.hidden)
                    .or_else(|_| vector(&format!("{name}.{b}"), shape.hidden))
            };
            Ok(LayerNorm {
                gamma: pick("weight", "gamma")?,
                beta: pick("bias", "beta")?,
            })
        };
        // A linear layer's weight is stored `out × in`; the product wants `in × out`.
        let dense = |names: &[&str], inputs: usize| -> anyhow::Result<Dense> {
            let mut ws = Vec::new();
            let mut b = Vec::new();
            for n in names {
                let w = get(&format!("{n}.weight"))?;
                let (_, cols) = w.dims2().with_context(|| format!("{n}.weight"))?;
                if cols != inputs {
                    bail!("{n}.weight has {cols} inputs, expected {inputs}");
                }
                b.extend(get(&format!("{n}.bias"))?.flatten_all()?.to_vec1::<f32>()?);
                ws.push(w);
            }
            let w = Tensor::cat(&ws, 0)?.t()?.contiguous()?;
            Ok(Dense { w, b })
        };
        let h = shape.hidden;
        let table = |name: &str, rows: usize| -> anyhow::Result<Vec<f32>> {
            let t = get(name)?;
            let (r, c) = t.dims2()?;
            if c != h || r < rows {
                bail!("{name} is {r} × {c}, expected at least {rows} × {h}");
            }
            Ok(t.flatten_all()?.to_vec1::<f32>()?)
        };
        let layers = (0..shape.layers)
            .map(|i| -> anyhow::Result<Layer> {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    qkv: dense(
                        &[
                            &format!("{p}.attention.self.query"),
                            &format!("{p}.attention.self.key"),
                            &format!("{p}.attention.self.value"),
                        ],
                        h,
                    )?,
                    out: dense(&[&format!("{p}.attention.output.dense")], h)?,
                    attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    up: dense(&[&format!("{p}.intermediate.dense")], h)?,
                    down: dense(&[&format!("{p}.output.dense")], shape.intermediate)?,
                    ffn_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if shape.heads == 0 || !h.is_multiple_of(shape.heads) {
            bail!("{h} hidden values do not split into {} heads", shape.heads);
        }
        Ok(CpuBert {
            words: table("embeddings.word_embeddings.weight", 1)?,
            positions: table("embeddings.position_embeddings.weight", shape.max_positions)?,
            // One segment: every token has type 0.
            token_type: table("embeddings.token_type_embeddings.weight", 1)?[..h].to_vec(),
            embed_norm: norm("embeddings.LayerNorm")?,
            layers,
            shape,
        })
    }

    /// The last layer's hidden states for several texts' token ids, one `len × hidden` matrix (row-major) per
    /// text. The texts are packed one after another, with no padding: every product but attention's runs once
    /// over all their tokens (bigger matrices keep the cores busier), attention runs per text.
    pub fn forward(&self, texts: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        let Shape {
            hidden: h,
            heads,
            eps,
            ..
        } = self.shape;
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let vocab = self.words.len() / h;
        let mut x = Vec::with_capacity(total * h);
        for ids in texts {
            if ids.len() > self.shape.max_positions {
                bail!(
                    "{} tokens, the model takes {}",
                    ids.len(),
                    self.shape.max_positions
                );
            }
            for (pos, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= vocab {
                    bail!("token id {id} outside the vocabulary of {vocab}");
                }
                let word = &self.words[id * h..(id + 1) * h];
                let position = &self.positions[pos * h..(pos + 1) * h];
                x.extend(
                    word.iter()
                        .zip(position)
                        .zip(&self.token_type)
                        .map(|((w, p), t)| w + p + t),
                );
            }
        }
        if total == 0 {
            return Ok(texts.iter().map(|_| Vec::new()).collect());
        }
        rows::layer_norm(&mut x, self.embed_norm.norm(eps));

        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let cpu = Device::Cpu;
        for layer in &self.layers {
            let qkv = layer.qkv.apply(x.clone(), total)?;
            // Attention, text by text: queries, keys and values split per head with the bias added and the
            // queries scaled; keys laid out transposed, so both products are plain `a · b`.
            let mut merged = Vec::with_capacity(total * h);
            let mut at = 0;
            for ids in texts {
                let n = ids.len();
                if n == 0 {
                    continue;
                }
                let rows_of = &qkv[at * 3 * h..(at + n) * 3 * h];
                at += n;
                let (q, kt, v) = rows::split_heads(rows_of, &layer.qkv.b, heads, scale);
                let q = Tensor::from_vec(q, (heads, n, d), &cpu)?;
                let kt = Tensor::from_vec(kt, (heads, d, n), &cpu)?;
                let mut scores = q.matmul(&kt)?.flatten_all()?.to_vec1::<f32>()?;
                rows::softmax(&mut scores, n);
                let probs = Tensor::from_vec(scores, (heads, n, n), &cpu)?;
                let v = Tensor::from_vec(v, (heads, n, d), &cpu)?;
                let ctx = probs.matmul(&v)?.flatten_all()?.to_vec1::<f32>()?;
                merged.extend(rows::merge_heads(&ctx, heads, n));
            }
            let mut attended = layer.out.apply(merged, total)?;
            rows::residual_norm(&mut attended, &x, &layer.out.b, layer.attn_norm.norm(eps));
            x = attended;

            let mut up = layer.up.apply(x.clone(), total)?;
            rows::bias_gelu(&mut up, &layer.up.b);
            let mut down = layer.down.apply(up, total)?;
            rows::residual_norm(&mut down, &x, &layer.down.b, layer.ffn_norm.norm(eps));
            x = down;
        }
        let mut out = Vec::with_capacity(texts.len());
        let mut at = 0;
        for ids in texts {
            out.push(x[at * h..(at + ids.len()) * h].to_vec());
            at += ids.len();
        }
        Ok(out)
    }

    /// Sentence vectors: the mean of each text's token states, scaled to unit length (sentence-transformers'
    /// mean pooling and normalisation).
    pub fn embed(&self, texts: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        let h = self.shape.hidden;
        Ok(self
            .forward(texts)?
            .into_iter()
            .map(|states| {
                let mean = rows::column_sums(&states, h);
                let n = (states.len() / h).max(1) as f32;
                let norm = mean.iter().map(|v| (v / n) * (v / n)).sum::<f32>().sqrt();
                let scale = 1.0 / (n * norm.max(1e-12));
                mean.into_iter().map(|v| v * scale).collect()
            })
            .collect())
    }
}
