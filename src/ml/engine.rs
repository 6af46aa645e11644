//! The model's one thread: writes up to `max_batch` answers at once (continuous batching).
//!
//! Each loop turn reads one chunk of a waiting prompt (at most [`PREFILL_CHUNK`] tokens, so answers already
//! being written pause for one chunk, not a whole prompt) and then advances every answer being written, one
//! token each per [`Transformer::decode`] step, for as many steps as fit in a share of the chunk's time
//! ([`WRITING_SHARE`] by default, at least one step). A question that arrives while others are answered joins at
//! the next turn; nobody waits for the whole queue. Prompts that begin alike (the tutor's instructions) share
//! work: the cache of a read prompt is kept ([`PREFIX_SLOTS`] of them) and a later prompt starting with the
//! same tokens starts from it, in whole chunks so that an answer does not depend on what was asked before it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::anyhow;
use candle_core::{DType, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

use super::generate::{Finish, GenerateParams};
use super::transformer::{Sequence, Snapshot, Transformer};

/// Most prompt tokens read in one loop turn; prompts are read in chunks that start at multiples of it.
pub const PREFILL_CHUNK: usize = 256;
/// After a prompt chunk, the answers being written get decoding steps for up to this share of the chunk's
/// time (at least one step): with a class's questions arriving together, the first answers stream at a few
/// words a second while the later prompts are read (one word per chunk, about 2 s on a 2-core laptop, was
/// the pace before), and the later questions' first words come later by up to this share.
pub const WRITING_SHARE: f64 = crate::config::LLM_WRITING_SHARE;
/// Prompt caches kept for reuse.
pub const PREFIX_SLOTS: usize = 4;

/// What the engine tells the asker.
#[derive(Debug)]
pub enum Step {
    /// The prompt is read (sent once, before the first token).
    Read {
        /// Milliseconds spent reading it (not waiting).
        ms: f64,
        /// Its first tokens that were taken from an earlier prompt's cache instead of read.
        reused: usize,
    },
    /// The next token.
    Token(u32),
    /// The answer ended (a stop token or the length limit).
    End(Finish),
    /// The model failed.
    Failed(String),
}

struct Job {
    prompt: Vec<u32>,
    max_new: usize,
    params: GenerateParams,
    out: mpsc::Sender<Step>,
    cancelled: Arc<AtomicBool>,
}

/// An answer being written, as its asker sees it: the steps, and leaving (drop) cancels it.
pub struct Answer {
    steps: mpsc::Receiver<Step>,
    cancelled: Arc<AtomicBool>,
}

impl Answer {
    /// The next step; `None` when the engine is gone.
    pub fn next(&self) -> Option<Step> {
        self.steps.recv().ok()
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

/// The handle on the engine's thread.
pub struct Engine {
    jobs: mpsc::Sender<Job>,
}

impl Engine {
    /// Starts the thread for `model`.
    pub fn start(
        model: Transformer,
        stop_ids: Vec<u32>,
        max_batch: usize,
        writing_share: f64,
    ) -> anyhow::Result<Engine> {
        let (jobs, rx) = mpsc::channel();
        // The configuration refuses a share that is not a number or negative; for other callers such a share
        // is the default, and more than 8 chunks' time is as good as "all".
        let share = if writing_share.is_finite() && writing_share >= 0.0 {
            writing_share.min(8.0)
        } else {
            WRITING_SHARE
        };
        std::thread::Builder::new()
            .name("smartcourse-llm".into())
            .spawn(move || run(model, stop_ids, max_batch.max(1), share, rx))?;
        Ok(Engine { jobs })
    }

    /// Queues a prompt; the answer's steps come through the returned [`Answer`].
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        max_new: usize,
        params: GenerateParams,
    ) -> anyhow::Result<Answer> {
        let (out, steps) = mpsc::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        self.jobs
            .send(Job {
                prompt,
                max_new,
                params,
                out,
                cancelled: cancelled.clone(),
            })
            .map_err(|_| anyhow!("the model engine stopped"))?;
        Ok(Answer { steps, cancelled })
    }
}

struct Active {
    job: Job,
    seq: Sequence,
    read: usize,
    reused: usize,
    reading_ms: f64,
    next: Option<u32>,
    generated: Vec<u32>,
    sampler: LogitsProcessor,
    done: bool,
}

impl Active {
    fn new(job: Job, model: &Transformer, prefixes: &mut Prefixes) -> anyhow::Result<Active> {
        let capacity = job.prompt.len() + job.max_new;
        let (seq, read) = match prefixes.best(&job.prompt) {
            Some((snap, n)) => (model.sequence_from(&snap.truncated(n)?, capacity)?, n),
            None => (model.sequence(capacity), 0),
        };
        let p = &job.params;
        let sampling = if p.temperature <= 0.0 {
            Sampling::ArgMax
        } else if p.top_p < 1.0 {
            Sampling::TopP {
                p: p.top_p,
                temperature: p.temperature,
            }
        } else {
            Sampling::All {
                temperature: p.temperature,
            }
        };
        let sampler = LogitsProcessor::from_sampling(p.seed, sampling);
        Ok(Active {
            job,
            seq,
            read,
            reused: read,
            reading_ms: 0.0,
            next: None,
            generated: Vec::new(),
            sampler,
            done: false,
        })
    }

    fn reading(&self) -> bool {
        self.read < self.job.prompt.len()
    }

    /// Samples from `logits` and tells the asker.
    fn take(&mut self, logits: &Tensor, stop_ids: &[u32]) -> anyhow::Result<()> {
        let mut l = logits.to_dtype(DType::F32)?;
        let p = &self.job.params;
        if p.repeat_penalty != 1.0 && !self.generated.is_empty() {
            let from = self.generated.len().saturating_sub(p.repeat_last_n);
            l = candle_transformers::utils::apply_repeat_penalty(
                &l,
                p.repeat_penalty,
                &self.generated[from..],
            )?;
        }
        let id = self.sampler.sample(&l)?;
        self.next = None;
        if self.generated.is_empty() {
            let read = Step::Read {
                ms: self.reading_ms,
                reused: self.reused,
            };
            if self.job.out.send(read).is_err() {
                self.done = true;
                return Ok(());
            }
        }
        if stop_ids.contains(&id) {
            self.finish(Finish::Stop);
            return Ok(());
        }
        self.generated.push(id);
        if self.job.out.send(Step::Token(id)).is_err() {
            self.done = true;
            return Ok(());
        }
        if self.generated.len() >= self.job.max_new {
            self.finish(Finish::Length);
        } else {
            self.next = Some(id);
        }
        Ok(())
    }

    fn finish(&mut self, how: Finish) {
        let _ = self.job.out.send(Step::End(how));
        self.done = true;
    }

    fn fail(&mut self, e: &anyhow::Error) {
        let _ = self.job.out.send(Step::Failed(format!("{e:#}")));
        self.done = true;
    }
}

/// Caches of prompts read, most recent first.
struct Prefixes {
    slots: VecDeque<(Vec<u32>, Arc<Snapshot>)>,
}

impl Prefixes {
    /// The longest reusable start of `prompt`: a cache and how many of its tokens to take (whole chunks,
    /// leaving at least one token to read).
    fn best(&mut self, prompt: &[u32]) -> Option<(Arc<Snapshot>, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for (i, (tokens, snap)) in self.slots.iter().enumerate() {
            let common = tokens
                .iter()
                .zip(prompt)
                .take_while(|(a, b)| a == b)
                .count()
                .min(snap.len())
                .min(prompt.len().saturating_sub(1));
            let usable = common / PREFILL_CHUNK * PREFILL_CHUNK;
            if usable > 0 && best.is_none_or(|(_, n)| usable > n) {
                best = Some((i, usable));
            }
        }
        let (i, n) = best?;
        let slot = self.slots.remove(i)?;
        let snap = slot.1.clone();
        self.slots.push_front(slot);
        Some((snap, n))
    }

    fn keep(&mut self, prompt: &[u32], snap: Snapshot) {
        let kept = &prompt[..snap.len()];
        // A cache of a shorter start of the same prompt is no longer needed.
        self.slots.retain(|(t, _)| !kept.starts_with(t));
        self.slots.push_front((kept.to_vec(), Arc::new(snap)));
        self.slots.truncate(PREFIX_SLOTS);
    }
}

/// Runs one model step, turning a panic inside it into an error for the answers of that step, so that one
/// bad step does not stop the engine's thread (and with it the tutor) for everyone after.
fn guarded<T>(step: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        tracing::error!(panic = %what, "a model step panicked; its answers fail, the engine goes on");
        Err(anyhow!("the model failed: {what}"))
    })
}

/// Answers whose asker went away are done (their caches go at the end of the turn).
fn end_cancelled(active: &mut [Active]) {
    for a in active {
        if a.job.cancelled.load(Ordering::SeqCst) {
            a.done = true;
        }
    }
}

fn run(
    model: Transformer,
    stop_ids: Vec<u32>,
    max_batch: usize,
    writing_share: f64,
    jobs: mpsc::Receiver<Job>,
) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut active: Vec<Active> = Vec::new();
    let mut prefixes = Prefixes {
        slots: VecDeque::new(),
    };
    loop {
        if active.is_empty() && waiting.is_empty() {
            match jobs.recv() {
                Ok(j) => waiting.push_back(j),
                Err(_) => return,
            }
        }
        while let Ok(j) = jobs.try_recv() {
            waiting.push_back(j);
        }
        waiting.retain(|j| !j.cancelled.load(Ordering::SeqCst));
        while active.len() < max_batch {
            let Some(job) = waiting.pop_front() else {
                break;
            };
            match Active::new(job, &model, &mut prefixes) {
                Ok(a) => active.push(a),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot start an answer"),
            }
        }
        end_cancelled(&mut active);

        // One chunk of the first prompt still being read.
        let mut reading = std::time::Duration::ZERO;
        if let Some(a) = active.iter_mut().find(|a| !a.done && a.reading()) {
            let started = Instant::now();
            let end = ((a.read / PREFILL_CHUNK + 1) * PREFILL_CHUNK).min(a.job.prompt.len());
            let result = guarded(|| model.prefill(&mut a.seq, &a.job.prompt[a.read..end]));
            reading = started.elapsed();
            a.reading_ms += reading.as_secs_f64() * 1000.0;
            tracing::trace!(
                from = a.read,
                to = end,
                ms = started.elapsed().as_millis() as u64,
                "prompt chunk read"
            );
            a.read = end;
            match result {
                Ok(logits) if !a.reading() => {
                    let whole = a.job.prompt.len() / PREFILL_CHUNK * PREFILL_CHUNK;
                    if whole > 0 {
                        match a.seq.snapshot(whole) {
                            Ok(s) => prefixes.keep(&a.job.prompt, s),
                            Err(e) => tracing::warn!(error = %e, "cannot keep a prompt cache"),
                        }
                    }
                    if let Err(e) = a.take(&logits, &stop_ids) {
                        a.fail(&e);
                    }
                }
                Ok(_) => {}
                Err(e) => a.fail(&e),
            }
        }

        // Every answer being written advances: one token each per step, and after a prompt chunk as many steps
        // as fit in `writing_share` of the chunk's time (at least one), so answers already streaming keep a
        // steady pace while a class's questions are read, instead of one word per chunk.
        let writing_until = Instant::now() + reading.mul_f64(writing_share);
        loop {
            end_cancelled(&mut active);
            let mut writing: Vec<&mut Active> = active
                .iter_mut()
                .filter(|a| !a.done && a.next.is_some())
                .collect();
            if !writing.is_empty() {
                let tokens: Vec<u32> = writing.iter().filter_map(|a| a.next).collect();
                let t0 = Instant::now();
                let result = {
                    let mut seqs: Vec<&mut Sequence> =
                        writing.iter_mut().map(|a| &mut a.seq).collect();
                    guarded(|| model.decode(&mut seqs, &tokens))
                };
                tracing::trace!(
                    answers = tokens.len(),
                    ms = t0.elapsed().as_millis() as u64,
                    "decoding step"
                );
                match result {
                    Ok(logits) => {
                        for (i, a) in writing.iter_mut().enumerate() {
                            let row = logits.get(i);
                            if let Err(e) = row
                                .map_err(anyhow::Error::from)
                                .and_then(|r| a.take(&r, &stop_ids))
                            {
                                a.fail(&e);
                            }
                        }
                    }
                    Err(e) => {
                        for a in writing.iter_mut() {
                            a.fail(&e);
                        }
                    }
                }
            }
            let more = active.iter().any(|a| !a.done && a.next.is_some());
            if !more || Instant::now() >= writing_until {
                break;
            }
        }
        active.retain(|a| !a.done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_step_becomes_an_error_and_the_next_step_runs() {
        let failed = guarded::<u32>(|| panic!("index out of range"));
        let e = format!("{:#}", failed.unwrap_err());
        assert!(e.contains("index out of range"), "{e}");
        assert_eq!(guarded(|| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn a_prompt_reuses_only_whole_chunks_of_a_kept_start() {
        let prompt: Vec<u32> = (0..700).collect();
        let snap = || Snapshot::empty_for_tests(600);
        let mut p = Prefixes {
            slots: VecDeque::new(),
        };
        p.keep(&prompt, snap());
        // Shares 650 tokens: two whole chunks (512) are reused.
        let mut other: Vec<u32> = (0..650).collect();
        other.extend([9999; 100]);
        assert_eq!(p.best(&other).map(|(_, n)| n), Some(512));
        // Shares 200 tokens: less than a chunk, nothing reused.
        let mut short: Vec<u32> = (0..200).collect();
        short.extend([9999; 500]);
        assert!(p.best(&short).is_none());
        // A prompt that is the kept start itself leaves its last token to read.
        assert_eq!(p.best(&prompt[..512]).map(|(_, n)| n), Some(256));
    }
}
