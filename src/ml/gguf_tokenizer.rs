//! A Hugging Face tokenizer rebuilt from the vocabulary a GGUF file carries in its metadata.
//!
//! GGUF models ship their tokenizer as arrays (`tokenizer.ggml.tokens`, `.merges`, `.token_type`) rather
//! than a `tokenizer.json`. For byte-level BPE models (`tokenizer.ggml.model = "gpt2"`: Qwen2, SmolLM, GPT-2
//! and their kin) this writes the equivalent `tokenizer.json` document and loads it, so encoding and decoding
//! match the model's own tokenizer. The pre-tokenizer depends on `tokenizer.ggml.pre`.

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::json;
use tokenizers::Tokenizer;

/// Qwen2's split pattern (its `tokenizer.json` pre-tokenizer).
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split pattern.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;

/// The tokenizer and the special tokens generation needs.
pub struct GgufTokenizer {
    /// The rebuilt tokenizer.
    pub tokenizer: Tokenizer,
    /// Tokens that end an answer: the end-of-sequence token and the chat turn ends.
    pub stop_ids: Vec<u32>,
    /// The chat template (Jinja), when the file has one.
    pub chat_template: Option<String>,
}

fn meta<'a>(content: &'a Content, key: &str) -> Option<&'a Value> {
    content.metadata.get(key)
}

/// Builds the tokenizer described by `content`'s metadata.
pub fn from_gguf(content: &Content) -> anyhow::Result<GgufTokenizer> {
    let model = meta(content, "tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("");
    if model != "gpt2" {
        bail!(
            "this GGUF uses a `{model}` tokenizer; SmartCourse reads byte-level BPE (`gpt2`) models such as Qwen2, SmolLM or Llama 3"
        );
    }
    let tokens: Vec<String> = meta(content, "tokenizer.ggml.tokens")
        .context("the GGUF has no tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<_>>()?;
    let merges: Vec<String> = match meta(content, "tokenizer.ggml.merges") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<candle_core::Result<_>>()?,
        None => Vec::new(),
    };
    let types: Vec<i32> = match meta(content, "tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|v| v.to_i32())
            .collect::<candle_core::Result<_>>()?,
        None => vec![1; tokens.len()],
    };
    let pre = meta(content, "tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("gpt2");

    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, ty))| **ty == TOKEN_CONTROL || **ty == TOKEN_USER_DEFINED)
        .map(|(i, (t, ty))| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": *ty == TOKEN_CONTROL})
        })
        .collect();
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": use_regex});
    let split = |pattern: &str| json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false});
    let pre_tokenizer = match pre {
        "qwen2" | "deepseek-r1-qwen" => {
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_PATTERN), byte_level(false)]})
        }
        "llama-bpe" | "llama3" => {
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_PATTERN), byte_level(false)]})
        }
        "smollm" | "starcoder" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        other => {
            if other != "gpt2" && other != "default" {
                tracing::warn!(
                    pre = other,
                    "unknown GGUF pre-tokenizer; using GPT-2's, answers may be tokenized slightly differently"
                );
            }
            byte_level(true)
        }
    };
    let document = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    let tokenizer = Tokenizer::from_str(&document.to_string())
        .map_err(|e| anyhow!("cannot rebuild the tokenizer from the GGUF: {e}"))?;

    let index: HashMap<&str, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    let mut stop_ids = Vec::new();
    if let Some(eos) = meta(content, "tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok()) {
        stop_ids.push(eos);
    }
    for t in [
        "<|im_end|>",
        "<|endoftext|>",
        "<|eot_id|>",
        "<|end_of_text|>",
    ] {
        if let Some(&id) = index.get(t)
            && !stop_ids.contains(&id)
        {
            stop_ids.push(id);
        }
    }
    let chat_template = meta(content, "tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
        .cloned();
    Ok(GgufTokenizer {
        tokenizer,
        stop_ids,
        chat_template,
    })
}
