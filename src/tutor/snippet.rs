//! What the tutor panel shows of a source: a sentence or two around the question's words, those words marked,
//! instead of the whole passage (which may run on into a worksheet's answer key).

use std::collections::HashSet;

use super::evidence::{content_words, is_answer_key, sentences};
use crate::courses::math;

/// A snippet longer than this many characters is cut around its first marked word.
const MAX_CHARS: usize = 180;
/// A best sentence shorter than this takes the next one with it (not a table row: rows stand alone).
const SHORT: usize = 70;

/// The part of `text` (a passage of the lesson `title`) best matching `question`, as HTML: escaped, the
/// question's content words in `<mark>`, formulas typeset.
pub(crate) fn snippet_html(question: &str, title: &str, text: &str) -> String {
    let asked: HashSet<String> = content_words(question).into_iter().collect();
    // A worksheet's answer key is not shown (evidence::find leaves it out too), unless it is all there is.
    let mut all = sentences(text);
    if all.iter().any(|s| !is_answer_key(s)) {
        all.retain(|s| !is_answer_key(s));
    }
    let hits = |s: &str| {
        content_words(s)
            .into_iter()
            .filter(|w| asked.contains(w))
            .collect::<HashSet<_>>()
            .len()
    };
    // Sentences that say something, rather than the lesson's heading, an attached file's label line
    // ("[worksheet-1.txt] ...") or a worksheet's question, win a tie.
    let says = |s: &str| !s.eq_ignore_ascii_case(title) && !s.starts_with('[') && !s.ends_with('?');
    // The first of the sentences holding the most distinct question words (the first sentence when none do).
    let best = (0..all.len())
        .rev()
        .max_by_key(|&i| (hits(&all[i]), says(&all[i])))
        .unwrap_or(0);
    let Some(first) = all.get(best) else {
        return String::new();
    };
    let mut chosen = first.clone();
    if chosen.chars().count() < SHORT
        && !chosen.contains(" — ")
        && let Some(next) = all.get(best + 1)
        && says(next)
        && next.split_whitespace().count() >= 4
    {
        chosen = format!("{chosen} {next}");
    }
    let chosen = cut_around(&chosen, &asked);
    math::typeset_html(&mark(&chosen, &asked), false)
}

/// `s` within [`MAX_CHARS`], keeping its first question word in view, with an ellipsis where cut.
fn cut_around(s: &str, asked: &HashSet<String>) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    if s.chars().count() <= MAX_CHARS {
        return words.join(" ");
    }
    let first = words
        .iter()
        .position(|w| content_words(w).iter().any(|c| asked.contains(c)))
        .unwrap_or(0);
    // A few words of lead-in, then as many as fit.
    let start = first.saturating_sub(6);
    let mut out = Vec::new();
    let mut len = 0;
    for w in &words[start..] {
        if len + w.chars().count() + 1 > MAX_CHARS {
            break;
        }
        len += w.chars().count() + 1;
        out.push(*w);
    }
    let mut text = out.join(" ");
    if start > 0 {
        text = format!("… {text}");
    }
    if start + out.len() < words.len() {
        text.push_str(" …");
    }
    text
}

/// `s` escaped, with each word whose stem the question has in `<mark>`; formulas are left whole (a mark
/// inside one would keep it from being typeset).
fn mark(s: &str, asked: &HashSet<String>) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    let mut at = 0;
    for formula in math::formula_spans(s) {
        out.push_str(&mark_words(&s[at..formula.start], asked));
        out.push_str(&math::escape(&s[formula.clone()]));
        at = formula.end;
    }
    out.push_str(&mark_words(&s[at..], asked));
    out
}

fn mark_words(s: &str, asked: &HashSet<String>) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let is_asked = content_words(word).iter().any(|w| asked.contains(w));
        if is_asked {
            out.push_str("<mark>");
        }
        out.push_str(&math::escape(word));
        if is_asked {
            out.push_str("</mark>");
        }
        word.clear();
    };
    for c in s.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '\u{2019}' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push_str(&math::escape(&c.to_string()));
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_with_the_question_words_marked() {
        let passage = "Halves and quarters\n\
                       2 equal parts | a half | 1/2 |\n\
                       3 equal parts | a third | 1/3 |\n\
                       4 equal parts | a quarter | 1/4 |\n\
                       The more parts the whole is split into, the smaller each part is.";
        let s = snippet_html("What is a third?", "Halves and quarters", passage);
        assert_eq!(s, "3 equal parts — a <mark>third</mark> — 1/3");
        let s = snippet_html(
            "why is a third smaller",
            "Cakes",
            "Cakes are nice. A third is smaller. It is one of three parts.",
        );
        assert_eq!(
            s,
            "A <mark>third</mark> is <mark>smaller</mark>. It is one of three parts."
        );
    }

    #[test]
    fn the_lesson_heading_and_a_files_label_lose_a_tie() {
        let lesson = "Halves, thirds and quarters\n\
                      2 equal parts | a half | 1/2 |\n\
                      3 equal parts | a third | 1/3 |\n\
                      The more parts the whole is split into, the smaller each part is.";
        let s = snippet_html("What is a third?", "Halves, thirds and quarters", lesson);
        assert_eq!(s, "3 equal parts — a <mark>third</mark> — 1/3");
        let worksheet = "[worksheet-1.txt] Worksheet 1: halves, thirds and quarters\n\
                         1. A rope is cut into 3 equal pieces. What is each piece called?\n\
                         9. How many thirds make a whole?";
        let s = snippet_html("What is a third?", "Halves, thirds and quarters", worksheet);
        assert_eq!(
            s,
            "[worksheet-1.txt] Worksheet 1: halves, <mark>thirds</mark> and quarters"
        );
    }

    #[test]
    fn an_answer_key_is_not_the_snippet() {
        let passage = "9. How many thirds make a whole?\n\
                       Answers: 1) a third, 1/3  2) 1/4  9) 3";
        let s = snippet_html("What is a third?", "Halves and quarters", passage);
        assert!(!s.contains("Answers"), "{s}");
    }

    #[test]
    fn a_long_passage_is_cut_to_a_short_snippet_around_the_match() {
        let filler = "Some words about nothing in particular go here again. ".repeat(6);
        let passage = format!(
            "{filler}Far into the passage, the denominator says into how many equal parts the whole was split and this sentence keeps going on and on with many more words than a snippet should hold for a student on a phone. {filler}"
        );
        let s = snippet_html("what does the denominator mean", "Parts", &passage);
        assert!(s.contains("<mark>denominator</mark>"), "{s}");
        assert!(s.chars().count() < 230 && s.ends_with('…'), "{s}");
        assert!(!s.contains("nothing in particular"), "{s}");
    }

    #[test]
    fn the_passage_text_is_escaped_and_its_math_typeset() {
        let s = snippet_html(
            "half",
            "Halves",
            "A half is \\(\\frac{1}{2}\\) <script>alert(1)</script> of a cake.",
        );
        assert!(
            s.contains("<mark>half</mark>") && s.contains("<math"),
            "{s}"
        );
        assert!(
            !s.contains("<script") && s.contains("&lt;script&gt;"),
            "{s}"
        );
        // A question word inside a formula is not marked there: the formula stays whole and typeset.
        let s = snippet_html(
            "what is frac",
            "Halves",
            "A half is \\(\\frac{1}{2}\\), the frac is one part.",
        );
        assert!(
            s.contains("<mfrac>") && s.contains("<mark>frac</mark> is"),
            "{s}"
        );
    }
}
