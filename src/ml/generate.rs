//! Text generation: a quantized GGUF model (Qwen2 or Llama architecture) on candle, streamed token by token.
//!
//! One model instance serves everyone: [`transformer`](super::transformer) holds the read-only weights and
//! [`engine`](super::engine) writes up to `max_batch` answers at once on one thread (continuous batching: a new
//! question joins between two steps), each with its own key/value cache. The chat template comes from the GGUF
//! metadata and is rendered with minijinja; the tokenizer is rebuilt from the GGUF vocabulary.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use candle_core::Device;
use candle_core::quantized::gguf_file;
use serde::Serialize;

use super::engine;
use super::gguf_tokenizer::{self, GgufTokenizer};
use super::transformer::{PromptWeights, Transformer};

/// One turn of a conversation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

impl ChatMessage {
    /// A turn with this role and text.
    pub fn new(role: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Sampling settings of one generation.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    /// Most tokens to write.
    pub max_new_tokens: usize,
    /// 0 = greedy (always the likeliest token).
    pub temperature: f64,
    /// Nucleus sampling: keep the likeliest tokens whose probabilities add up to this (1 = all).
    pub top_p: f64,
    /// Penalty on tokens already written (1 = none).
    pub repeat_penalty: f32,
    /// How many of the last written tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the sampler, so answers are reproducible.
    pub seed: u64,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 299_792_458,
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model ended its answer.
    Stop,
    /// `max_new_tokens` or the context ran out.
    Length,
    /// The receiver went away.
    Cancelled,
}

/// What a generation cost.
#[derive(Debug, Clone, Serialize)]
pub struct GenerationStats {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Of those, the first ones taken from an earlier prompt's cache (not read again).
    pub cached_prompt_tokens: usize,
    /// Tokens written.
    pub generated_tokens: usize,
    /// Time from the call to the first written token, in milliseconds (prompt processing included).
    pub first_token_ms: f64,
    /// Time spent reading the prompt, in milliseconds (not counting a wait for a place in the model's batch).
    pub prompt_ms: f64,
    /// Time spent writing tokens after the first, in milliseconds.
    pub generate_ms: f64,
    /// Why it ended.
    pub finish: Finish,
}

impl GenerationStats {
    /// Prompt tokens read per second.
    pub fn prompt_tps(&self) -> f64 {
        (self.prompt_tokens - self.cached_prompt_tokens) as f64
            / (self.prompt_ms / 1000.0).max(1e-9)
    }
    /// Written tokens per second, after the first.
    pub fn generate_tps(&self) -> f64 {
        self.generated_tokens.saturating_sub(1) as f64 / (self.generate_ms / 1000.0).max(1e-9)
    }
}

/// Writes answers to conversations.
pub trait Generator: Send + Sync {
    /// A short name of the model.
    fn model_id(&self) -> String;
    /// Most tokens a prompt and its answer may take together.
    fn context_tokens(&self) -> anyhow::Result<usize>;
    /// Tokens `messages` take once put into the chat template (blocking).
    fn prompt_tokens(&self, messages: &[ChatMessage]) -> anyhow::Result<usize>;
    /// Writes the next assistant turn (blocking), handing each new piece of text to `on_text`; stops early
    /// when `on_text` returns false.
    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> anyhow::Result<GenerationStats>;
    /// How many answers it writes at once (more are queued); 1 for a model that writes one at a time.
    fn max_batch(&self) -> usize {
        1
    }
    /// Whether the weights are in memory (a lazy model loads on first use).
    fn is_loaded(&self) -> bool {
        true
    }
}

struct Loaded {
    tok: GgufTokenizer,
    context: usize,
    engine: engine::Engine,
}

/// A GGUF chat model, loaded on first use.
pub struct GgufGenerator {
    path: PathBuf,
    device: Device,
    options: EngineOptions,
    loaded: OnceLock<Loaded>,
    loading: Mutex<()>,
}

pub use super::engine::{PREFILL_CHUNK, WRITING_SHARE};

/// How the model is run.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Most answers written at once (continuous batching); more wait their turn.
    pub max_batch: usize,
    /// Decoding time for the answers being written, as a share of each prompt chunk's time (see
    /// [`WRITING_SHARE`]).
    pub writing_share: f64,
    /// How prompt chunks meet the weights.
    pub prompt_weights: PromptWeights,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_batch: 8,
            writing_share: WRITING_SHARE,
            prompt_weights: PromptWeights::Transient,
        }
    }
}

impl GgufGenerator {
    /// A generator for the GGUF file at `path`; nothing is read until it is first used.
    pub fn new(path: PathBuf, device: Device) -> GgufGenerator {
        GgufGenerator::with_options(path, device, EngineOptions::default())
    }

    /// A generator with these engine options.
    pub fn with_options(path: PathBuf, device: Device, options: EngineOptions) -> GgufGenerator {
        GgufGenerator {
            path,
            device,
            options,
            loaded: OnceLock::new(),
            loading: Mutex::new(()),
        }
    }

    /// The GGUF file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the model now if it is not loaded yet.
    pub fn ensure_loaded(&self) -> anyhow::Result<()> {
        self.get().map(|_| ())
    }

    /// The token ids of `messages` put into the chat template (what the model reads).
    pub fn encode(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<u32>> {
        self.get()?.encode(messages)
    }

    fn get(&self) -> anyhow::Result<&Loaded> {
        if let Some(l) = self.loaded.get() {
            return Ok(l);
        }
        // One load at a time: the weights are large.
        let _guard = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = self.loaded.get() {
            return Ok(l);
        }
        let started = Instant::now();
        let loaded = load(&self.path, &self.device, self.options).with_context(|| {
            format!(
                "cannot load the language model {}: {}",
                self.path.display(),
                super::fix_hint()
            )
        })?;
        tracing::info!(
            model = %self.path.display(),
            device = %super::device_name(&self.device),
            ms = started.elapsed().as_millis() as u64,
            "language model loaded"
        );
        Ok(self.loaded.get_or_init(|| loaded))
    }
}

/// The GGUF file at `path`, its metadata read.
fn open(path: &Path) -> anyhow::Result<(std::fs::File, gguf_file::Content)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| anyhow!("{} is not a GGUF file: {e}", path.display()))?;
    Ok((file, content))
}

/// The model at `path` alone, with no tokenizer and no engine thread (benchmarks and tests of decoding steps).
pub fn open_transformer(
    path: &Path,
    device: &Device,
    prompt_weights: PromptWeights,
) -> anyhow::Result<Transformer> {
    let (mut file, content) = open(path)?;
    Transformer::from_gguf(&content, &mut file, device, prompt_weights)
}

/// The token ids of `messages` put into the chat template of the model at `path`, reading its tokenizer and
/// not its weights.
pub fn encode_for(path: &Path, messages: &[ChatMessage]) -> anyhow::Result<Vec<u32>> {
    let (_, content) = open(path)?;
    encode(&gguf_tokenizer::from_gguf(&content)?, messages)
}

fn load(path: &Path, device: &Device, options: EngineOptions) -> anyhow::Result<Loaded> {
    let (mut file, content) = open(path)?;
    let tok = gguf_tokenizer::from_gguf(&content)?;
    let model = Transformer::from_gguf(&content, &mut file, device, options.prompt_weights)?;
    let context = model.shape().context;
    let engine = engine::Engine::start(
        model,
        tok.stop_ids.clone(),
        options.max_batch,
        options.writing_share,
    )?;
    Ok(Loaded {
        tok,
        context,
        engine,
    })
}

/// Renders `messages` with the model's chat template, or ChatML when it has none (or it fails).
fn render_prompt(template: Option<&str>, messages: &[ChatMessage]) -> String {
    if let Some(t) = template {
        let mut env = minijinja::Environment::new();
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => "",
            eos_token => "",
        };
        match env.render_str(t, ctx) {
            Ok(s) => return s,
            Err(e) => tracing::warn!(error = %e, "the model's chat template failed; using ChatML"),
        }
    }
    let mut s = String::new();
    for m in messages {
        s.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            m.role, m.content
        ));
    }
    s.push_str("<|im_start|>assistant\n");
    s
}

impl Loaded {
    fn encode(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<u32>> {
        encode(&self.tok, messages)
    }
}

fn encode(
    tok: &gguf_tokenizer::GgufTokenizer,
    messages: &[ChatMessage],
) -> anyhow::Result<Vec<u32>> {
    let prompt = render_prompt(tok.chat_template.as_deref(), messages);
    let enc = tok
        .tokenizer
        .encode(prompt, false)
        .map_err(|e| anyhow!("tokenizing the prompt: {e}"))?;
    Ok(enc.get_ids().to_vec())
}

impl Generator for GgufGenerator {
    fn model_id(&self) -> String {
        self.path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "gguf".into())
    }

    fn context_tokens(&self) -> anyhow::Result<usize> {
        Ok(self.get()?.context)
    }

    fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    fn prompt_tokens(&self, messages: &[ChatMessage]) -> anyhow::Result<usize> {
        Ok(self.get()?.encode(messages)?.len())
    }

    fn max_batch(&self) -> usize {
        self.options.max_batch.max(1)
    }

    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> anyhow::Result<GenerationStats> {
        let loaded = self.get()?;
        let started = Instant::now();
        let prompt = loaded.encode(messages)?;
        if prompt.len() >= loaded.context {
            bail!(
                "the prompt takes {} tokens; the model's context holds {}",
                prompt.len(),
                loaded.context
            );
        }
        let max_new = params.max_new_tokens.min(loaded.context - prompt.len());
        let prompt_tokens = prompt.len();
        let answer = loaded.engine.submit(prompt, max_new, params.clone())?;
        let mut generated: Vec<u32> = Vec::new();
        let mut shown = 0usize;
        let (mut first_token_ms, mut prompt_ms, mut cached) = (0.0, 0.0, 0);
        let mut writing_started = Instant::now();
        let finish = loop {
            match answer.next() {
                Some(engine::Step::Read { ms, reused }) => {
                    prompt_ms = ms;
                    cached = reused;
                }
                Some(engine::Step::Token(id)) => {
                    if generated.is_empty() {
                        first_token_ms = started.elapsed().as_secs_f64() * 1000.0;
                        writing_started = Instant::now();
                    }
                    generated.push(id);
                    let text = loaded
                        .tok
                        .tokenizer
                        .decode(&generated, true)
                        .map_err(|e| anyhow!("decoding: {e}"))?;
                    // Hold back a piece that ends inside a multi-byte character until it is complete.
                    if text.len() > shown
                        && !text.ends_with('\u{FFFD}')
                        && text.is_char_boundary(shown)
                    {
                        if !on_text(&text[shown..]) {
                            break Finish::Cancelled;
                        }
                        shown = text.len();
                    }
                }
                Some(engine::Step::End(finish)) => {
                    if generated.is_empty() {
                        first_token_ms = started.elapsed().as_secs_f64() * 1000.0;
                        writing_started = Instant::now();
                    }
                    break finish;
                }
                Some(engine::Step::Failed(e)) => bail!("the model failed: {e}"),
                None => bail!("the model engine stopped"),
            }
        };
        Ok(GenerationStats {
            prompt_tokens,
            cached_prompt_tokens: cached,
            generated_tokens: generated.len(),
            first_token_ms,
            prompt_ms,
            generate_ms: writing_started.elapsed().as_secs_f64() * 1000.0,
            finish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_fallback_ends_with_the_assistant_turn() {
        let p = render_prompt(None, &[ChatMessage::new("user", "Hi")]);
        assert_eq!(p, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn a_jinja_template_is_rendered_with_the_messages() {
        let t = "{% for m in messages %}[{{ m.role }}:{{ m['content'] }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}";
        let p = render_prompt(
            Some(t),
            &[
                ChatMessage::new("system", "S"),
                ChatMessage::new("user", "Q"),
            ],
        );
        assert_eq!(p, "[system:S][user:Q]>");
    }

    #[test]
    fn a_broken_template_falls_back_to_chatml() {
        let p = render_prompt(Some("{% for %}"), &[ChatMessage::new("user", "Q")]);
        assert!(p.starts_with("<|im_start|>user\nQ"), "{p}");
    }
}
