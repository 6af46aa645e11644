//! Answering a prepared question: retrieve the course's passages, decide whether the course covers the
//! question at all (the refusal), wait for the model's turn, stream its answer, then send the citations and
//! store the turn. Every step reports to the asker through [`TutorEvent`]s.

use std::sync::Arc;

use rusqlite::params;
use tokio::sync::mpsc;

use super::evidence::{self, Evidence};
use super::prompt::{self, Prompt, excerpt};
use super::{Citation, EvidenceItem, NOT_COVERED, Prepared, Question, TutorEvent};
use super::{classroom, followup};
use crate::App;
use crate::error::{Error, Result};
use crate::ml::{Finish, GenerateParams};
use crate::search::{self, Hit, Mode};

/// Answers a prepared question, sending events to `tx`. Stops generating when `tx` is closed.
pub async fn run(app: Arc<App>, p: Prepared, tx: mpsc::Sender<TutorEvent>) {
    if let Err(e) = answer(&app, &p.q, &tx).await {
        let (code, message) = match &e {
            Error::Internal(inner) => {
                tracing::error!(error = ?inner, "the tutor failed");
                (
                    "internal",
                    "the tutor failed; the error is in the server log".to_owned(),
                )
            }
            other => (other.code(), other.to_string()),
        };
        let _ = tx.send(TutorEvent::Error { code, message }).await;
    }
}

/// What the model wrote for a question.
struct Generated {
    text: String,
    finish: Finish,
    /// How many of the passages the prompt held (the citations are those).
    sources: usize,
}

async fn answer(app: &Arc<App>, p: &Question, tx: &mpsc::Sender<TutorEvent>) -> Result<()> {
    let _ = tx.send(TutorEvent::Status("retrieving")).await;
    let cfg = &app.config.tutor;
    // Twice the passages the model is given are searched for evidence: the sentence that answers a short
    // question is often in a passage ranked just below those about its topic.
    // A follow-up ("and a quarter?") is searched as the whole question it stands for.
    let query = followup::standalone(&p.question, &p.history);
    let hits = search::retrieve(
        app,
        vec![p.course_id],
        query.clone(),
        2 * cfg.sources,
        Mode::Hybrid,
    )
    .await?;
    let found = evidence::find(&query, &hits, EVIDENCE_SENTENCES);
    let (hits, found, abstain) = judge(hits, found, cfg.min_relevance, cfg.sources);
    // A conversation's first question, outside a quiz, may be answered from (and kept for) the class.
    // "The same evidence": the passage holding the best evidence sentence (or the best passage when there is
    // none), whatever order the rest of the retrieval came in.
    let reuse = (p.history.is_empty() && !p.quiz.any())
        .then(|| {
            found
                .sentences
                .first()
                .and_then(|s| hits.get(s.passage))
                .or(hits.first())
                .map(|h| format!("{}|{}:{}", p.mode.as_str(), h.lesson_id, h.ordinal))
        })
        .flatten();
    let mut shown = evidence_items(&hits, &found);
    // A sentence of the course that holds a hidden answer of an open quiz is not shown during it.
    shown.retain(|e| !p.quiz.reveals(&e.text));
    let _ = tx.send(TutorEvent::Evidence(shown)).await;
    let (answer, finish, citations) = if abstain {
        let answer = NOT_COVERED.to_owned();
        let _ = tx.send(TutorEvent::Token(answer.clone())).await;
        (answer, Finish::Stop, Vec::new())
    } else if let Some(kept) = match &reuse {
        Some(key) => {
            let (course, key, w) = (p.course_id, key.clone(), classroom::words(&p.question));
            app.db
                .read(move |c| classroom::find(c, course, &key, &w))
                .await?
        }
        None => None,
    } {
        // A near-duplicate first question, answered from the same passages: the class's answer, at once.
        let _ = tx
            .send(TutorEvent::Classroom {
                id: kept.id,
                pinned: kept.pinned,
            })
            .await;
        let _ = tx.send(TutorEvent::Token(kept.answer.clone())).await;
        let id = kept.id;
        app.db.write(move |t| classroom::reused(t, id)).await?;
        (kept.answer, Finish::Stop, kept.citations)
    } else {
        // Each passage as the model gets it and the asker sees it cited: its evidence sentences, or its opening.
        let short: Vec<Hit> = hits
            .iter()
            .enumerate()
            .map(|(i, h)| Hit {
                text: evidence::compact(h, i, &found, SOURCE_WORDS),
                ..h.clone()
            })
            .collect();
        let Some(g) = generate(app, p, &short, tx).await? else {
            // The asker went away while waiting for the model.
            return Ok(());
        };
        if g.finish == Finish::Cancelled {
            // The asker went away mid-answer: half an answer ("The") is not kept in their conversation.
            tracing::info!(
                course.id = p.course_id,
                "the asker left before the answer was complete"
            );
            return Ok(());
        }
        let text = if p.quiz.reveals(&g.text) {
            // During a quiz the tutor never writes one of its hidden answers, whatever the model wrote.
            let text = QUIZ_HINT_ONLY.to_owned();
            let _ = tx.send(TutorEvent::Replace(text.clone())).await;
            text
        } else if p.quiz.any() {
            // No course sentences in place of a hint during a quiz.
            g.text
        } else if shows_evidence_instead(
            &g.text,
            found.coverage,
            !found.sentences.is_empty(),
            short.iter().map(|h| h.text.as_str()),
        ) {
            let text = from_evidence(&hits, &found);
            let _ = tx.send(TutorEvent::Replace(text.clone())).await;
            text
        } else {
            g.text
        };
        let citations = prompt::citations(&p.question, &short, &hits, g.sources);
        if let Some(key) =
            reuse.filter(|_| g.finish == Finish::Stop && !refuses(&text) && text != QUIZ_HINT_ONLY)
        {
            let (course, question, answer, cited) = (
                p.course_id,
                p.question.clone(),
                text.clone(),
                citations.clone(),
            );
            app.db
                .write(move |t| classroom::remember(t, course, &question, &key, &answer, &cited))
                .await?;
        }
        (text, g.finish, citations)
    };
    let _ = tx.send(TutorEvent::Citations(citations.clone())).await;
    let html = crate::courses::math::typeset_text(&answer);
    let (conversation_id, message_id) = match p.actor.user_id() {
        Some(user) => {
            let (c, m) = store_turn(app, user, p, answer, &citations, abstain, finish).await?;
            (Some(c), Some(m))
        }
        None => (None, None),
    };
    let _ = tx
        .send(TutorEvent::Done {
            conversation_id,
            message_id,
            abstained: abstain,
            html,
        })
        .await;
    Ok(())
}

/// What replaces an answer that would give away an open quiz's answer.
pub(crate) const QUIZ_HINT_ONLY: &str = "You have a quiz open, so I can only give hints, not answers: read the lesson the sources point to, and try the question yourself. Ask me again after you submit the quiz and I can explain.";

/// Sentences of evidence shown and given to the model.
const EVIDENCE_SENTENCES: usize = 3;
/// Words of each source the model is given: its evidence sentences, or its opening.
const SOURCE_WORDS: usize = 60;

/// Decides whether the course covers the question, on both kinds of evidence: the passages' meaning (the best
/// cosine against `min_relevance`) and their words (the best sentence's share of the question's content
/// words against [`evidence::LEXICAL_MIN`]). A short question ("What is a third?") is far in meaning from the
/// table that answers it, which its words find at once; a paraphrase shares no words with its answer, which
/// its meaning finds. Refuses only when both are weak. Returns the passages worth giving the model (at most
/// `sources`: those holding evidence first, then those close enough in meaning; the others only distract a
/// small model), their evidence, and whether to refuse.
fn judge(
    hits: Vec<Hit>,
    found: Evidence,
    min_relevance: f32,
    sources: usize,
) -> (Vec<Hit>, Evidence, bool) {
    let best = hits.iter().map(|h| h.cosine).fold(f32::MIN, f32::max);
    let covered =
        !hits.is_empty() && (best >= min_relevance || found.coverage >= evidence::LEXICAL_MIN);
    if !covered {
        return (Vec::new(), Evidence::default(), true);
    }
    // The passages kept, those holding the best evidence first (the model reads source [1] first), then in
    // retrieval's order.
    let best_sentence = |i: usize| {
        found
            .sentences
            .iter()
            .position(|s| s.passage == i)
            .unwrap_or(usize::MAX)
    };
    let mut kept: Vec<(usize, Hit)> = hits
        .into_iter()
        .enumerate()
        .filter(|(i, h)| h.cosine >= 0.75 * min_relevance || best_sentence(*i) != usize::MAX)
        .collect();
    kept.sort_by_key(|(i, _)| (best_sentence(*i), *i));
    kept.truncate(sources);
    // The evidence that was judged, renumbered to the passages kept (sentences of a passage not kept go).
    let sentences = found
        .sentences
        .into_iter()
        .filter_map(|mut s| {
            s.passage = kept.iter().position(|(i, _)| *i == s.passage)?;
            Some(s)
        })
        .collect();
    let found = Evidence {
        sentences,
        coverage: found.coverage,
    };
    (kept.into_iter().map(|(_, h)| h).collect(), found, false)
}

fn evidence_items(hits: &[Hit], found: &Evidence) -> Vec<EvidenceItem> {
    found
        .sentences
        .iter()
        .map(|s| {
            let h = &hits[s.passage];
            EvidenceItem {
                lesson_id: h.lesson_id,
                lesson_title: h.lesson_title.clone(),
                position: h.ordinal,
                text: s.text.clone(),
                html: crate::courses::math::typeset_text(&s.text),
            }
        })
        .collect()
}

/// Whether an answer says the course does not cover the question (the phrases small models copy).
/// Whether an answer holds fewer than three words outside brackets, and no sum or fraction: citation marks and source labels only
/// ("[1] [2] [3]", "[1] Normans, part 1"), which a small model writes when it copies the prompt's layout
/// (`cargo bench --bench tutor` showed it on a third of the demo course's questions).
fn says_nothing(answer: &str) -> bool {
    let outside = outside_marks(answer);
    let words = outside
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .count();
    // A sum or a fraction is an answer however short ("2/5").
    let math = outside.contains(['/', '=', '+']);
    words < 3 && !math
}

/// Whether the model's answer is replaced by the course's evidence sentences:
/// - when the course plainly answers (`coverage` at least [`evidence::LEXICAL_MIN`]) and the model copied
///   "not covered", or copied a source out from its start (a worksheet's first lines);
/// - whenever there are evidence sentences and the answer says nothing (only citation marks or a source's
///   label, "[1] [2] [3]"): those sentences were already shown above it, and are better than nothing.
fn shows_evidence_instead<'a>(
    answer: &str,
    coverage: f32,
    has_sentences: bool,
    sources: impl Iterator<Item = &'a str>,
) -> bool {
    (has_sentences && says_nothing(answer))
        || (coverage >= evidence::LEXICAL_MIN
            && (refuses(answer) || copies_a_source(answer, sources)))
}

/// `text` with what is inside brackets and parentheses (citation marks and source labels) blanked out.
fn outside_marks(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .map(|c| match c {
            '[' | '(' => {
                depth += 1;
                ' '
            }
            ']' | ')' => {
                depth = depth.saturating_sub(1);
                ' '
            }
            _ if depth == 0 => c,
            _ => ' ',
        })
        .collect()
}

/// The words of `text` outside brackets and parentheses, lowercased.
fn words_outside_marks(text: &str) -> Vec<String> {
    outside_marks(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Words of a source's opening that, found in a row in an answer, mean the model copied the source out
/// rather than answering (a sentence that answers is rarely a passage's first ten words verbatim).
const COPIED_OPENING: usize = 10;

/// Whether `answer` holds the opening of one of `sources` word for word: the model copied a source out from
/// its start (what a small model does with a worksheet it cannot make sense of).
fn copies_a_source<'a>(answer: &str, sources: impl Iterator<Item = &'a str>) -> bool {
    let said = words_outside_marks(answer);
    sources.into_iter().any(|source| {
        let opening = words_outside_marks(source);
        opening.len() >= COPIED_OPENING
            && said
                .windows(COPIED_OPENING)
                .any(|w| w == &opening[..COPIED_OPENING])
    })
}

fn refuses(answer: &str) -> bool {
    let a = answer.to_lowercase();
    [
        "does not cover",
        "doesn't cover",
        "not covered",
        "could not find",
        "couldn't find",
        "cannot answer",
        "can't answer",
        "no information",
    ]
    .iter()
    .any(|p| a.contains(p))
}

/// An answer made of the evidence: "In *lesson* [n]: sentence" for each sentence.
fn from_evidence(hits: &[Hit], found: &Evidence) -> String {
    let mut out = String::from("The course says:");
    for s in &found.sentences {
        out.push_str(&format!(
            "\n- In \"{}\" [{}]: {}",
            hits[s.passage].lesson_title,
            s.passage + 1,
            s.text
        ));
    }
    out
}

/// Waits for the model's turn and streams its answer from `sources` to `tx`; `None` when the asker went away
/// before the turn came.
async fn generate(
    app: &Arc<App>,
    p: &Question,
    sources: &[Hit],
    tx: &mpsc::Sender<TutorEvent>,
) -> Result<Option<Generated>> {
    let cfg = &app.config.tutor;
    let _ = tx.send(TutorEvent::Status("waiting")).await;
    // Wait for a seat at the model, telling the asker their place in the line whenever it changes.
    let line = app.tutor.join();
    let seat = app.tutor.turn.acquire();
    tokio::pin!(seat);
    let mut told = None;
    let mut every = tokio::time::interval(std::time::Duration::from_millis(500));
    let _turn = loop {
        tokio::select! {
            got = &mut seat => {
                break got.map_err(|_| Error::Unavailable("the tutor is shutting down".into()))?;
            }
            _ = every.tick() => {
                let ahead = line.ahead();
                if told != Some(ahead) {
                    told = Some(ahead);
                    if tx.send(TutorEvent::Queue { ahead }).await.is_err() {
                        return Ok(None);
                    }
                }
            }
        }
    };
    drop(line);
    if tx.is_closed() {
        return Ok(None);
    }
    let _ = tx.send(TutorEvent::Status("generating")).await;
    let params = GenerateParams {
        max_new_tokens: cfg.max_answer_tokens,
        temperature: cfg.temperature,
        top_p: cfg.top_p,
        repeat_penalty: cfg.repeat_penalty,
        repeat_last_n: 64,
        seed: 299_792_458,
    };
    let a = app.clone();
    let sink = tx.clone();
    let (messages_hits, prepared_budget) = (sources.to_vec(), cfg.context_tokens);
    let prepared = p.clone();
    let (text, stats, used) = tokio::task::spawn_blocking(move || {
        let generator = a.models.generator.clone();
        let context = generator.context_tokens()?.min(prepared_budget);
        let budget = context.saturating_sub(params.max_new_tokens).max(64);
        let prompt = Prompt {
            mode: prepared.mode,
            course_title: &prepared.course_title,
            passages: &messages_hits,
            history: &prepared.history,
            question: &prepared.question,
            open_quizzes: &prepared.quiz.titles,
        };
        let (messages, used) = prompt::fit(&prompt, budget, |m| generator.prompt_tokens(m))?;
        let mut text = String::new();
        let stats = generator.generate(&messages, &params, &mut |piece| {
            text.push_str(piece);
            sink.blocking_send(TutorEvent::Token(piece.to_owned()))
                .is_ok()
        })?;
        anyhow::Ok((text, stats, used))
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?
    .map_err(|e| {
        Error::Unavailable(format!("the language model is not available: {e:#}").into())
    })?;
    tracing::info!(
        course.id = p.course_id,
        prompt_tokens = stats.prompt_tokens,
        tokens = stats.generated_tokens,
        first_token_ms = stats.first_token_ms as u64,
        tps = format!("{:.1}", stats.generate_tps()),
        finish = ?stats.finish,
        "tutor answered"
    );
    Ok(Some(Generated {
        text,
        finish: stats.finish,
        sources: used,
    }))
}

/// Stores the question and its answer in the asker's conversation (a new one, titled by the question, unless
/// it continues one), and records the `tutor.answered` event in the same transaction. Returns the
/// conversation's and the answer's ids.
async fn store_turn(
    app: &Arc<App>,
    user: i64,
    p: &Question,
    answer: String,
    citations: &[Citation],
    abstain: bool,
    finish: Finish,
) -> Result<(i64, i64)> {
    let (course_id, question, existing) = (p.course_id, p.question.clone(), p.conversation_id);
    let cites = serde_json::to_string(&citations).map_err(anyhow::Error::from)?;
    let first_lesson = citations.first().map(|c| c.lesson_id);
    let finish = serde_json::to_value(finish)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    app.db
        .write(move |tx| {
            let now = crate::util::now_rfc3339();
            let conv = match existing {
                Some(id) => {
                    tx.execute("UPDATE conversations SET updated_at = ?1 WHERE id = ?2", params![now, id])?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO conversations (user_id, course_id, title, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                        params![user, course_id, excerpt(&question, 80), now],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            tx.execute(
                "INSERT INTO conversation_messages (conversation_id, role, content, created_at) VALUES (?1, 'user', ?2, ?3)",
                params![conv, question, now],
            )?;
            tx.execute(
                "INSERT INTO conversation_messages (conversation_id, role, content, citations, abstained, finish, created_at)
                 VALUES (?1, 'assistant', ?2, ?3, ?4, ?5, ?6)",
                params![conv, answer, cites, abstain, finish, now],
            )?;
            let message = tx.last_insert_rowid();
            crate::events::emit(
                tx,
                &crate::events::Event::TutorAnswered {
                    course_id,
                    abstained: abstain,
                    lesson_id: first_lesson,
                },
            )?;
            Ok((conv, message))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tutor::evidence::Sentence;

    #[test]
    fn a_copied_refusal_is_recognised_and_a_real_answer_is_not() {
        assert!(refuses("The course material does not cover it."));
        assert!(refuses("I could not find this in the sources."));
        assert!(!refuses("A third is one of 3 equal parts [1]."));
    }

    #[test]
    fn an_empty_answer_gives_way_to_any_evidence_a_refusal_only_to_strong_evidence() {
        let none = || std::iter::empty::<&str>();
        let weak = evidence::LEXICAL_MIN / 2.0;
        // "[1] [2] [3]" is never shown as an answer when there is a sentence to show instead.
        assert!(shows_evidence_instead("[1] [2] [3]", weak, true, none()));
        assert!(!shows_evidence_instead("[1] [2] [3]", weak, false, none()));
        // A refusal stands when the course barely touches the question, and gives way when it answers it.
        let refusal = "The course material does not cover it.";
        assert!(!shows_evidence_instead(refusal, weak, true, none()));
        assert!(shows_evidence_instead(
            refusal,
            evidence::LEXICAL_MIN,
            true,
            none()
        ));
        // An answer in words is kept either way.
        assert!(!shows_evidence_instead(
            "Four quarters make a whole [1].",
            1.0,
            true,
            none()
        ));
    }

    #[test]
    fn an_answer_that_copies_a_source_from_its_start_is_caught() {
        let worksheet = "[worksheet-1.txt] Worksheet 1: halves, thirds and quarters 1. A rope is cut into 3 \
                         equal pieces. What is each piece called? 2. Write one quarter as a fraction.";
        let table = "A third is one of 3 equal parts of a whole. Cut a cake into 3 equal parts and each is a third.";
        let sources = || [worksheet, table].into_iter();
        // Copied out, with or without the source's number and label around it.
        assert!(copies_a_source(
            "[1] [worksheet-1.txt] Worksheet 1: halves, thirds and quarters 1. A rope is cut into 3 equal \
             pieces. What is each piece called?",
            sources()
        ));
        assert!(copies_a_source(
            "[1] Halves, thirds and quarters [worksheet-1.txt] Worksheet 1: halves, thirds and quarters 1. \
             A rope is cut into 3 equal pieces.",
            sources()
        ));
        // An answer in its own words, or quoting a sentence from the middle, is kept.
        assert!(!copies_a_source(
            "A third is one of three equal parts: cut a cake into 3 equal parts [2].",
            sources()
        ));
        assert!(!copies_a_source(
            "Each is a third: cut a cake into 3 equal parts and each is a third [2].",
            sources()
        ));
        // A source shorter than the opening that counts is never taken as copied.
        assert!(!copies_a_source(
            "Halves and thirds.",
            ["Halves and thirds."].into_iter()
        ));
    }

    #[test]
    fn an_answer_of_citation_marks_or_a_label_says_nothing() {
        assert!(says_nothing("[1] [2] [3]"));
        assert!(says_nothing("[1] Normans, part 1"));
        assert!(says_nothing(""));
        assert!(says_nothing(
            "[1] (Taking Care of the Course) practice swing."
        ));
        assert!(!says_nothing("A quarter is a fraction. [1]"));
        assert!(!says_nothing("The denominator is 6."));
        assert!(!says_nothing("1/5 + 2/5 = 3/5 [1]"));
        assert!(!says_nothing("2/5"));
    }

    #[test]
    fn an_answer_from_the_evidence_names_each_lesson_and_source() {
        let hit = Hit {
            chunk_id: 1,
            lesson_id: 2,
            course_id: 1,
            lesson_title: "Halves, thirds and quarters".into(),
            ordinal: 0,
            text: String::new(),
            score: 0.0,
            cosine: 0.0,
        };
        let found = Evidence {
            sentences: vec![Sentence {
                passage: 0,
                text: "3 equal parts — a third — 1/3".into(),
                score: 1.0,
            }],
            coverage: 1.0,
        };
        assert_eq!(
            from_evidence(&[hit], &found),
            "The course says:\n- In \"Halves, thirds and quarters\" [1]: 3 equal parts — a third — 1/3"
        );
    }
}
