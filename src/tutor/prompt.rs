//! What the model is given, built without touching the model, the database or the index: the instructions for
//! the course's mode, the conversation so far, then the retrieved passages as numbered sources and the
//! question.
//!
//! The invariant that ties the prompt to the answer: passage `i` (from 0, best first) is source `[i + 1]` in
//! the prompt and citation `n = i + 1` in [`citations`], so the `[n]` a model writes names the citation sent
//! with the answer. When the prompt must shrink to fit the model's context, [`fit`] drops the oldest turns
//! first, then the weakest passages from the end, which keeps that numbering.

use super::{Citation, TutorMode};
use crate::ml::ChatMessage;
use crate::search::Hit;

/// Everything a prompt is built from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prompt<'a> {
    pub mode: TutorMode,
    pub course_title: &'a str,
    /// Retrieved passages, best first.
    pub passages: &'a [Hit],
    /// Earlier turns of the conversation, oldest first.
    pub history: &'a [ChatMessage],
    pub question: &'a str,
    /// Titles of the quizzes the student has open in this course (hints only, never an answer).
    pub open_quizzes: &'a [String],
}

/// The tutor's instructions to the model, which differ by mode. Short, because every word is prompt time on a
/// laptop's CPU, and without a refusal phrase: small models copy it even when the sources answer (whether the
/// course covers a question is decided before the model is asked, on the evidence).
fn instructions(mode: TutorMode, course: &str) -> String {
    match mode {
        TutorMode::Explain => format!(
            "You are a friendly tutor for the course \"{course}\". Answer the question from the numbered sources, \
             in one to three short, simple sentences. Cite the source you use like [1]."
        ),
        TutorMode::Hint => format!(
            "You are a patient tutor for the course \"{course}\". Do not give the answer. \
             Give one hint or ask one guiding question, and say which numbered source to read, like [1]."
        ),
    }
}

/// The messages for the model, all of `p` in: instructions (system), the earlier turns in order, then the
/// numbered sources and the question (user).
pub(crate) fn messages(p: &Prompt<'_>) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(p.history.len() + 2);
    let mut system = instructions(p.mode, p.course_title);
    if !p.open_quizzes.is_empty() {
        system.push_str(&format!(
            " The student is taking the quiz \"{}\" now: never state an answer to a quiz question, only hint.",
            p.open_quizzes.join("\", \"")
        ));
    }
    out.push(ChatMessage::new("system", system));
    out.extend(p.history.iter().cloned());
    let mut s = String::from("Sources:\n");
    for (i, h) in p.passages.iter().enumerate() {
        s.push_str(&format!(
            "[{}] ({}) {}\n",
            i + 1,
            h.lesson_title,
            h.text.replace('\n', " ")
        ));
    }
    s.push_str(&format!("\nQuestion: {}", p.question));
    out.push(ChatMessage::new("user", s));
    out
}

/// The largest prompt whose `tokens` are within `budget`, and how many passages it kept: as many passages
/// (best first) and earlier turns (latest first) as fit, giving up turns (oldest two at a time) before
/// passages, down to one passage and no turns; past that, an error.
pub(crate) fn fit(
    p: &Prompt<'_>,
    budget: usize,
    mut tokens: impl FnMut(&[ChatMessage]) -> anyhow::Result<usize>,
) -> anyhow::Result<(Vec<ChatMessage>, usize)> {
    let (mut sources, mut dropped) = (p.passages.len(), 0);
    loop {
        let messages = messages(&Prompt {
            passages: &p.passages[..sources],
            history: &p.history[dropped..],
            ..*p
        });
        if tokens(&messages)? <= budget {
            return Ok((messages, sources));
        }
        if dropped < p.history.len() {
            dropped = (dropped + 2).min(p.history.len());
        } else if sources > 1 {
            sources -= 1;
        } else {
            anyhow::bail!("the question does not fit the model's context");
        }
    }
}

/// The sources of an answer to `question` whose prompt held the first `used` passages, numbered as the prompt
/// numbers them; `full` holds the same passages whole (`passages` may be shortened), for the snippets.
pub(crate) fn citations(
    question: &str,
    passages: &[Hit],
    full: &[Hit],
    used: usize,
) -> Vec<Citation> {
    passages
        .iter()
        .take(used)
        .enumerate()
        .map(|(i, h)| Citation {
            n: i + 1,
            lesson_id: h.lesson_id,
            lesson_title: h.lesson_title.clone(),
            position: h.ordinal,
            excerpt: excerpt(&h.text, 300),
            snippet: super::snippet::snippet_html(
                question,
                &h.lesson_title,
                full.get(i).map_or(&h.text, |f| &f.text),
            ),
            score: h.cosine,
        })
        .collect()
}

/// `text` cut to at most `chars` characters (not bytes) at the last whole word, with an ellipsis; whole when
/// it fits.
pub(crate) fn excerpt(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(chars).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(lesson_id: i64, title: &str, text: &str) -> Hit {
        Hit {
            chunk_id: lesson_id * 10,
            lesson_id,
            course_id: 1,
            lesson_title: title.into(),
            ordinal: 0,
            text: text.into(),
            score: 0.0,
            cosine: 0.5,
        }
    }

    fn turns() -> Vec<ChatMessage> {
        vec![
            ChatMessage::new("user", "first question"),
            ChatMessage::new("assistant", "first answer"),
            ChatMessage::new("user", "second question"),
            ChatMessage::new("assistant", "second answer"),
        ]
    }

    fn prompt<'a>(passages: &'a [Hit], history: &'a [ChatMessage]) -> Prompt<'a> {
        Prompt {
            mode: TutorMode::Explain,
            course_title: "Fractions",
            passages,
            history,
            question: "What is a half?",
            open_quizzes: &[],
        }
    }

    fn contents(m: &[ChatMessage]) -> Vec<&str> {
        m.iter().map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn the_history_sits_between_the_instructions_and_the_question_in_order() {
        let history = turns();
        let m = messages(&prompt(&[], &history));
        let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "user", "assistant", "user"]
        );
        assert_eq!(
            contents(&m[1..5]),
            [
                "first question",
                "first answer",
                "second question",
                "second answer"
            ]
        );
        assert!(m[5].content.ends_with("\nQuestion: What is a half?"));
    }

    #[test]
    fn passages_are_numbered_from_one_as_the_citations_number_them() {
        let passages = [
            hit(7, "Halves", "A half is\none of two."),
            hit(3, "Thirds", "A third is one of three."),
        ];
        let m = messages(&prompt(&passages, &[]));
        let user = &m.last().unwrap().content;
        assert!(user.starts_with(
            "Sources:\n[1] (Halves) A half is one of two.\n[2] (Thirds) A third is one of three.\n"
        ));
        let cited = citations("a question", &passages, &passages, 2);
        for c in &cited {
            assert!(user.contains(&format!("[{}] ({})", c.n, c.lesson_title)));
        }
        assert_eq!(
            cited.iter().map(|c| (c.n, c.lesson_id)).collect::<Vec<_>>(),
            [(1, 7), (2, 3)]
        );
        assert_eq!(citations("a question", &passages, &passages, 1).len(), 1);
    }

    #[test]
    fn the_mode_changes_the_instructions() {
        let explain = messages(&prompt(&[], &[]));
        let hint = messages(&Prompt {
            mode: TutorMode::Hint,
            ..prompt(&[], &[])
        });
        assert_ne!(explain[0].content, hint[0].content);
        let quizzes = ["Halves check".to_owned()];
        let during = messages(&Prompt {
            mode: TutorMode::Hint,
            open_quizzes: &quizzes,
            ..prompt(&[], &[])
        });
        assert!(
            during[0].content.contains("Halves check")
                && during[0].content.contains("never state an answer"),
            "{}",
            during[0].content
        );
        assert!(
            explain[0]
                .content
                .contains("Answer the question from the numbered sources")
        );
        assert!(hint[0].content.contains("Do not give the answer"));
        for m in [&explain[0], &hint[0]] {
            assert!(m.content.contains("\"Fractions\""));
            // No refusal phrase for a small model to copy: refusing is decided on the evidence.
            assert!(!m.content.contains("not cover"), "{}", m.content);
        }
    }

    /// Counts a message's words, like the stand-in model.
    fn words(m: &[ChatMessage]) -> anyhow::Result<usize> {
        Ok(m.iter().map(|m| m.content.split_whitespace().count()).sum())
    }

    #[test]
    fn fitting_drops_the_oldest_turns_before_any_passage() {
        let passages = [hit(1, "A", "alpha"), hit(2, "B", "beta")];
        let history = turns();
        let p = prompt(&passages, &history);
        let whole = words(&messages(&p)).unwrap();
        let (m, used) = fit(&p, whole, words).unwrap();
        assert_eq!((m.len(), used), (6, 2));
        // Four words short: the first question and answer go (four words), the passages stay.
        let (m, used) = fit(&p, whole - 4, words).unwrap();
        assert_eq!(used, 2);
        assert_eq!(contents(&m[1..3]), ["second question", "second answer"]);
    }

    #[test]
    fn fitting_drops_the_weakest_passages_then_gives_up() {
        let passages = [hit(1, "A", "alpha"), hit(2, "B", "beta gamma delta")];
        let p = prompt(&passages, &[]);
        let one = words(&messages(&Prompt {
            passages: &passages[..1],
            ..p
        }))
        .unwrap();
        let (m, used) = fit(&p, one, words).unwrap();
        assert_eq!(used, 1);
        assert!(m[1].content.contains("[1] (A) alpha") && !m[1].content.contains("(B)"));
        assert!(fit(&p, one - 1, words).is_err());
    }

    #[test]
    fn excerpts_cut_at_a_word_and_never_inside_a_character() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three", 9), "one two…");
        // Multi-byte characters: the count is in characters, and no cut splits one.
        assert_eq!(excerpt("ééé ééé ééé", 9), "ééé ééé…");
        assert_eq!(excerpt("日本語のテキスト", 3), "日本語…");
        assert_eq!(excerpt("½ ⅓ ¼", 5), "½ ⅓ ¼");
    }
}
