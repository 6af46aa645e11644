//! The evidence for an answer: the few sentences of the retrieved passages that best answer the question,
//! found by their words alone (no model), so they can be shown the moment retrieval is done and given to the
//! model as short, focused sources.
//!
//! A passage is cut into sentences (a table row counts as one: "3 equal parts — a third — 1/3"), each scored
//! by the share of the question's content words it holds, weighted by how rare each word is among the
//! retrieved sentences (a word every sentence has tells little; a question word no sentence has counts fully
//! against them all). That share, the best sentence's, is the lexical half of the "does the course cover this"
//! decision; the embedding cosine is the semantic half.

use std::collections::{HashMap, HashSet};

use crate::search::Hit;

/// A sentence that answers (part of) the question.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sentence {
    /// Which retrieved passage it is from (index into the hits, best first).
    pub passage: usize,
    pub text: String,
    /// Share of the question's content words (weighted by rarity) it holds, 0 to 1.
    pub score: f32,
}

/// The best sentences, best first, and how well the best one covers the question.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evidence {
    pub sentences: Vec<Sentence>,
    /// The best sentence's score: 1 when it holds every content word of the question, 0 when none.
    pub coverage: f32,
}

/// Below this share of the question's (weighted) content words, the best sentence is weak lexical evidence.
/// Checked on the demo course's questions and off-topic ones (`tests/fixtures/tutor-questions.json`, run by
/// `tests/integration/tutor.rs`).
pub(crate) const LEXICAL_MIN: f32 = 0.5;

/// Words that carry no topic in a question.
const STOP: &[&str] = &[
    "a", "about", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could", "did", "do",
    "does", "explain", "for", "from", "give", "has", "have", "how", "i", "if", "in", "into", "is",
    "it", "its", "he", "her", "his", "me", "mean", "means", "much", "my", "she", "of", "on", "or",
    "please", "say", "so", "tell", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "to", "us", "was", "we", "what", "whats", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your",
];

/// The content words of `text`: lower case, letters and digits, stop words dropped, each reduced to a crude
/// stem ([`stem`]).
pub(crate) fn content_words(text: &str) -> Vec<String> {
    // Contractions are one word ("what's" is "whats", a stop word, not "what" and a content word "s"), and a
    // lone letter carries no topic (a lone digit does: "1/5 + 2/5").
    text.replace(['\'', '\u{2019}'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 1 || w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// A crude English stem, enough to match "walked", "walks" and "walk", or "thirds" and "third": one ending of
/// `ing`, `ed`, `es`, `s` (not `ss`) or `e` comes off while three letters remain.
fn stem(word: &str) -> String {
    for ending in ["ing", "ed", "es", "s", "e"] {
        if let Some(rest) = word.strip_suffix(ending)
            && rest.chars().count() >= 3
            && !(ending == "s" && rest.ends_with('s'))
        {
            return rest.to_owned();
        }
    }
    word.to_owned()
}

/// `text` cut into sentences: at line breaks and after `.`, `?` or `!` followed by a space. A table row
/// (cells joined by `|`) is one sentence, its cells joined by dashes.
pub(crate) fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.contains(" | ") || line.ends_with(" |") {
            let cells: Vec<&str> = line
                .split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            if !cells.is_empty() {
                out.push(cells.join(" — "));
            }
            continue;
        }
        let mut start = 0;
        let bytes = line.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            let end_mark = matches!(b, b'.' | b'?' | b'!');
            if end_mark && bytes.get(i + 1).is_some_and(|n| *n == b' ') {
                push_sentence(&mut out, &line[start..=i]);
                start = i + 2;
            }
        }
        if start < line.len() {
            push_sentence(&mut out, &line[start..]);
        }
    }
    out
}

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s.to_owned());
    }
}

/// The best (at most `max`) sentences of `hits` for `question`. Sentences scoring under 0.4 of the best are
/// left out; of equal scores, the one most about the question's words, then the one from the better passage,
/// then the shorter, comes first.
pub(crate) fn find(question: &str, hits: &[Hit], max: usize) -> Evidence {
    let asked: HashSet<String> = content_words(question).into_iter().collect();
    let candidates: Vec<(usize, String, HashSet<String>)> = hits
        .iter()
        .enumerate()
        .flat_map(|(i, h)| {
            sentences(&h.text)
                .into_iter()
                // A lesson's heading repeats its title (shown with the evidence anyway), an attached file's
                // first line is its label ("[worksheet-1.txt] Worksheet 1: ..."), a question (a worksheet's
                // "How many quarters make a whole?") asks rather than answers, and an answer key gives a
                // worksheet away.
                .filter(|s| {
                    !s.eq_ignore_ascii_case(&h.lesson_title)
                        && !s.starts_with('[')
                        && !s.ends_with('?')
                        && !is_answer_key(s)
                })
                .map(move |s| {
                    let words = content_words(&s).into_iter().collect();
                    (i, s, words)
                })
        })
        .collect();
    if asked.is_empty() || candidates.is_empty() {
        return Evidence::default();
    }
    let n = candidates.len() as f32;
    let mut df: HashMap<String, usize> = HashMap::new();
    for (_, _, words) in &candidates {
        for w in words {
            *df.entry(w.clone()).or_default() += 1;
        }
    }
    let weight = |w: &str| (1.0 + n / (1.0 + df.get(w).copied().unwrap_or(0) as f32)).ln();
    let total: f32 = asked.iter().map(|w| weight(w)).sum();
    // Each sentence with its score and two tie-breakers toward the sentence that is about the question rather
    // than one that mentions it: whether it defines a word the question asks about ("the denominator, says
    // how many ...", for "What is the denominator?"), and its density (the share of its words that were asked).
    let defining = is_definition_question(question);
    let mut scored: Vec<(Sentence, bool, f32)> = candidates
        .into_iter()
        .map(|(passage, text, words)| {
            let held: Vec<&String> = asked.iter().filter(|w| words.contains(*w)).collect();
            let weight_held: f32 = held.iter().map(|w| weight(w)).sum();
            let density = held.len() as f32 / words.len().max(1) as f32;
            let defines = defining && defines_one_of(&text, &asked);
            let score = if total > 0.0 {
                weight_held / total
            } else {
                0.0
            };
            (
                Sentence {
                    passage,
                    text,
                    score,
                },
                defines,
                density,
            )
        })
        .filter(|(s, _, _)| s.score > 0.0)
        .collect();
    scored.sort_by(|(a, fa, da), (b, fb, db)| {
        b.score
            .total_cmp(&a.score)
            .then(fb.cmp(fa))
            .then(db.total_cmp(da))
            .then(a.passage.cmp(&b.passage))
            .then(a.text.len().cmp(&b.text.len()))
    });
    let coverage = scored.first().map_or(0.0, |(s, _, _)| s.score);
    let mut seen = HashSet::new();
    let sentences = scored
        .into_iter()
        .map(|(s, _, _)| s)
        .filter(|s| s.score >= 0.4 * coverage)
        .filter(|s| seen.insert(s.text.to_lowercase()))
        .take(max)
        .collect();
    Evidence {
        sentences,
        coverage,
    }
}

/// Whether a sentence is a worksheet's answer key ("Answers: 1) a third, 1/3  2) 1/4 ...").
pub(crate) fn is_answer_key(sentence: &str) -> bool {
    let s = sentence.trim_start().to_lowercase();
    ["answers:", "answer key", "answers to", "solutions:", "key:"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Whether a question asks what something is or means ("What is a third?", "What does the top number mean?").
fn is_definition_question(question: &str) -> bool {
    let q = question.trim().to_lowercase();
    [
        "what is ",
        "what are ",
        "what's ",
        "what does ",
        "what do ",
        "define ",
    ]
    .iter()
    .any(|p| q.starts_with(p))
}

/// Whether `sentence` defines one of the `asked` words: the word followed, within two words, by a verb that
/// introduces a definition ("the denominator, says ...", "a fraction names ...", "one part is called ...").
fn defines_one_of(sentence: &str, asked: &HashSet<String>) -> bool {
    const VERBS: &[&str] = &[
        "is", "are", "says", "say", "means", "mean", "names", "name", "tells", "called",
    ];
    let words: Vec<String> = sentence
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        asked.contains(&stem(w))
            && words[i + 1..]
                .iter()
                .take(2)
                .any(|next| VERBS.contains(&next.as_str()))
    })
}

/// A short source for the model from passage `passage`: its evidence sentences in the order the passage has
/// them, or (when none of them was chosen) its first words, at most `words` words in all.
pub(crate) fn compact(hit: &Hit, passage: usize, evidence: &Evidence, words: usize) -> String {
    let all = sentences(&hit.text);
    let chosen: Vec<&String> = all
        .iter()
        .filter(|s| {
            evidence
                .sentences
                .iter()
                .any(|e| e.passage == passage && &e.text == *s)
        })
        .collect();
    let text = if chosen.is_empty() {
        all.join(" ")
    } else {
        chosen
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut cut: Vec<&str> = text.split_whitespace().take(words + 1).collect();
    if cut.len() > words {
        cut.truncate(words);
        format!("{} …", cut.join(" "))
    } else {
        cut.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(text: &str) -> Hit {
        Hit {
            chunk_id: 0,
            lesson_id: 1,
            course_id: 1,
            lesson_title: "Lesson".into(),
            ordinal: 0,
            text: text.into(),
            score: 0.0,
            cosine: 0.0,
        }
    }

    fn demo_lesson() -> String {
        crate::search::chunk::plain_text(
            "# Halves, thirds and quarters\n\n| split into | one part is called | written |\n|---|---|---|\n\
             | 2 equal parts | a half | 1/2 |\n| 3 equal parts | a third | 1/3 |\n| 4 equal parts | a quarter | 1/4 |\n\n\
             The more parts the whole is split into, the **smaller** each part is: a third of a cake is smaller than a\n\
             half of the same cake, because 3 > 2.\n",
        )
    }

    #[test]
    fn a_table_row_is_one_sentence_and_answers_a_short_question() {
        let hits = [Hit {
            lesson_title: "Halves, thirds and quarters".into(),
            ..hit(&demo_lesson())
        }];
        let e = find("What is a third?", &hits, 3);
        assert_eq!(e.sentences[0].text, "3 equal parts — a third — 1/3");
        assert!((e.coverage - 1.0).abs() < 1e-6);
        assert!(e.sentences.len() >= 2, "{e:?}");
    }

    #[test]
    fn a_worksheets_answer_key_is_never_evidence() {
        let worksheet = "Worksheet 1\n9. How many thirds make a whole?\n\
                         Answers: 1) a third, 1/3  2) 1/4  9) 3";
        let hits = [hit(&demo_lesson()), hit(worksheet)];
        let e = find("What is a third?", &hits, 3);
        assert!(!e.sentences.is_empty(), "{e:?}");
        assert!(
            e.sentences.iter().all(|s| !s.text.contains("Answers")),
            "{e:?}"
        );
    }

    #[test]
    fn off_topic_questions_find_no_evidence() {
        let hits = [hit(&demo_lesson())];
        let e = find("Who won the 1966 football world cup?", &hits, 3);
        assert!(e.sentences.is_empty(), "{e:?}");
        assert_eq!(e.coverage, 0.0);
    }

    #[test]
    fn rare_question_words_weigh_more_than_common_ones() {
        let hits = [hit(
            "A part of a whole is a fraction. The numerator counts the parts you take.",
        )];
        let e = find("What does the numerator of a fraction count?", &hits, 3);
        assert!(e.sentences[0].text.starts_with("The numerator"), "{e:?}");
        assert!(e.coverage > LEXICAL_MIN && e.coverage < 1.0, "{e:?}");
    }

    #[test]
    fn sentences_split_at_ends_and_keep_numbers() {
        assert_eq!(
            sentences("One half is 1/2. Is 0.5 the same? Yes!\nNext line"),
            ["One half is 1/2.", "Is 0.5 the same?", "Yes!", "Next line"]
        );
    }

    #[test]
    fn plurals_and_stop_words_do_not_count() {
        assert_eq!(
            content_words("How many Quarters make a whole?"),
            ["many", "quarter", "mak", "whol"]
        );
        assert_eq!(
            content_words("walked walks walking"),
            ["walk", "walk", "walk"]
        );
        assert_eq!(content_words("What is it?"), Vec::<String>::new());
        // Contractions and lone letters: a child's spelling asks the same question.
        assert_eq!(content_words("what's a third"), ["third"]);
        assert_eq!(content_words("What’s 1/5 + 2/5?"), ["1", "5", "2", "5"]);
        assert_eq!(content_words("don't add the tops"), ["dont", "add", "top"]);
    }

    #[test]
    fn a_compact_source_keeps_the_chosen_sentences_in_passage_order() {
        let text = "First sentence here. A third is one of three equal parts. Filler words follow. Thirds are small.";
        let hits = [hit(text)];
        let e = find("What are thirds?", &hits, 3);
        assert_eq!(
            compact(&hits[0], 0, &e, 60),
            "A third is one of three equal parts. Thirds are small."
        );
        assert_eq!(
            compact(&hits[0], 0, &Evidence::default(), 3),
            "First sentence here. …"
        );
    }
}
