//! Deterministic stand-ins for the models, for tests and for trying SmartCourse without model files
//! (`models.fake = true`). They are not clever, but they are honest about it: the embedder only sees shared
//! words, and the generator only quotes the first source it was given.

use std::time::{Duration, Instant};

use super::embed::Embedder;
use super::generate::{ChatMessage, Finish, GenerateParams, GenerationStats, Generator};

/// Hashes each lower-cased word (and each pair of neighbouring words) into one of `dim` signed buckets, then
/// normalises: texts that share words point the same way.
pub struct HashEmbedder {
    dim: usize,
}

impl Default for HashEmbedder {
    fn default() -> Self {
        HashEmbedder { dim: 384 }
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The lower-cased words of `text` (letters and digits).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> String {
        "fake-hash".into()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dim];
                let ws = words(t);
                let mut add = |key: &str, weight: f32| {
                    let h = fnv(key);
                    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                    v[(h % self.dim as u64) as usize] += sign * weight;
                };
                for w in &ws {
                    add(w, 1.0);
                }
                for pair in ws.windows(2) {
                    add(&format!("{} {}", pair[0], pair[1]), 0.5);
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                v
            })
            .collect())
    }
}

/// Answers by quoting the first numbered source (`[1] ...`) in the conversation, a word at a time, or says it
/// has no source. Each word takes a few milliseconds, like a (very fast) real model.
pub struct EchoGenerator;

impl EchoGenerator {
    fn answer(messages: &[ChatMessage]) -> String {
        // The sources are in the last user turn, one per line: `[1] ...`.
        let last = messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map_or("", |m| m.content.as_str());
        match last
            .find("\n[1]")
            .map(|i| i + 1)
            .or_else(|| last.starts_with("[1]").then_some(0))
        {
            Some(at) => {
                let rest = last[at + 3..].trim_start();
                let rest = rest.split_once('\n').map_or(rest, |(first, _)| first);
                format!("According to source [1]: {rest}")
            }
            None => "I have no course material to answer from.".into(),
        }
    }
}

impl Generator for EchoGenerator {
    fn model_id(&self) -> String {
        "fake-echo".into()
    }

    fn context_tokens(&self) -> anyhow::Result<usize> {
        Ok(4096)
    }

    fn prompt_tokens(&self, messages: &[ChatMessage]) -> anyhow::Result<usize> {
        Ok(messages.iter().map(|m| words(&m.content).len() + 4).sum())
    }

    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> anyhow::Result<GenerationStats> {
        let started = Instant::now();
        let answer = Self::answer(messages);
        let mut n = 0;
        let mut finish = Finish::Stop;
        for (i, w) in answer.split(' ').enumerate() {
            if n >= params.max_new_tokens {
                finish = Finish::Length;
                break;
            }
            #[expect(
                clippy::disallowed_methods,
                reason = "generation is synchronous and runs on a blocking thread"
            )]
            std::thread::sleep(Duration::from_millis(3));
            let piece = if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            };
            n += 1;
            if !on_text(&piece) {
                finish = Finish::Cancelled;
                break;
            }
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(GenerationStats {
            prompt_tokens: self.prompt_tokens(messages)?,
            cached_prompt_tokens: 0,
            generated_tokens: n,
            first_token_ms: 3.0,
            prompt_ms: 0.0,
            generate_ms: ms,
            finish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::embed::dot;

    #[test]
    fn shared_words_score_higher_than_unrelated_text() {
        let e = HashEmbedder::default();
        let v = e
            .embed(&[
                "photosynthesis in green plants",
                "green plants use photosynthesis",
                "the French revolution",
            ])
            .unwrap();
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-5);
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.3);
    }

    #[test]
    fn the_echo_generator_quotes_its_first_source_and_stops_when_told() {
        let msgs = [ChatMessage::new(
            "user",
            "Sources:\n[1] Plants make sugar from light.\n[2] Other.\nQuestion: how?",
        )];
        let system = ChatMessage::new("system", "Cite sources like [1].");
        let mut out = String::new();
        let with_system = [system, msgs[0].clone()];
        let stats = EchoGenerator
            .generate(&with_system, &GenerateParams::default(), &mut |t| {
                out.push_str(t);
                true
            })
            .unwrap();
        assert_eq!(
            out,
            "According to source [1]: Plants make sugar from light."
        );
        assert_eq!(stats.finish, Finish::Stop);
        let mut pieces = 0;
        let stats = EchoGenerator
            .generate(&msgs, &GenerateParams::default(), &mut |_| {
                pieces += 1;
                pieces < 2
            })
            .unwrap();
        assert_eq!(stats.finish, Finish::Cancelled);
        assert_eq!(pieces, 2);
    }
}
