//! Follow-up questions made whole for retrieval. In a conversation a pupil asks "What is a half?", then "and a
//! quarter?": the second, searched as it is, finds nothing about what was asked. When a question looks like a
//! follow-up (it starts with "and", "what about", …, or it is two words or fewer), its subject takes the place
//! of the matching words of the previous question ("What is a quarter?"), which is what is searched and
//! scored; the model still gets the conversation as it was said.

use super::evidence::content_words;
use crate::ml::ChatMessage;

/// How a follow-up may open; what follows is its subject.
const OPENINGS: &[&str] = &[
    "and what about ",
    "and how about ",
    "what about ",
    "how about ",
    "and ",
    "also ",
    "or ",
];

/// The question to search for: `question` itself, or, when it follows up the previous question of
/// `history`, that question with `question`'s subject in place of the words it replaces.
pub(crate) fn standalone(question: &str, history: &[ChatMessage]) -> String {
    let Some(previous) = history.iter().rev().find(|m| m.role == "user") else {
        return question.to_owned();
    };
    let q = question.trim();
    let lower = q.to_lowercase();
    let opening = OPENINGS.iter().find(|o| lower.starts_with(**o));
    let short = content_words(q).len() <= 2 && q.split_whitespace().count() <= 4;
    if opening.is_none() && !short {
        return question.to_owned();
    }
    let subject = opening
        .map_or(q, |o| &q[o.len()..])
        .trim()
        .trim_end_matches(['?', '.', '!'])
        .trim();
    if subject.is_empty() {
        return question.to_owned();
    }
    replace_subject(&previous.content, subject)
        .unwrap_or_else(|| format!("{} {}", previous.content.trim(), question.trim()))
}

/// `previous` with its word that plays `subject`'s part replaced by `subject`: the last content word of the
/// same number (a plural for a plural), with its article when `subject` brings one. `None` when `previous`
/// has no content word.
fn replace_subject(previous: &str, subject: &str) -> Option<String> {
    const ARTICLES: &[&str] = &["a", "an", "the"];
    let words: Vec<&str> = previous.split_whitespace().collect();
    let bare = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
    };
    let is_content = |w: &str| !content_words(w).is_empty();
    let plural = |w: &str| w.len() > 3 && w.ends_with('s') && !w.ends_with("ss");
    let head = subject
        .split_whitespace()
        .last()
        .map(bare)
        .unwrap_or_default();
    let candidates: Vec<usize> = (0..words.len()).filter(|&i| is_content(words[i])).collect();
    let at = candidates
        .iter()
        .rev()
        .find(|&&i| plural(&bare(words[i])) == plural(&head))
        .or(candidates.last())
        .copied()?;
    let subject_has_article = subject
        .split_whitespace()
        .next()
        .is_some_and(|w| ARTICLES.contains(&w.to_lowercase().as_str()));
    let from = if subject_has_article && at > 0 && ARTICLES.contains(&bare(words[at - 1]).as_str())
    {
        at - 1
    } else {
        at
    };
    // Keep what closed the replaced word ("half?" → "quarter?").
    let tail: String = words[at]
        .chars()
        .rev()
        .take_while(|c| !c.is_alphanumeric())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut out: Vec<String> = words[..from].iter().map(|w| (*w).to_owned()).collect();
    out.push(format!("{subject}{tail}"));
    out.extend(words[at + 1..].iter().map(|w| (*w).to_owned()));
    Some(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(q: &str) -> Vec<ChatMessage> {
        vec![
            ChatMessage::new("user", q),
            ChatMessage::new("assistant", "An answer."),
        ]
    }

    #[test]
    fn the_subject_of_a_follow_up_takes_the_place_of_the_previous_one() {
        assert_eq!(
            standalone("and a quarter?", &asked("What is a half?")),
            "What is a quarter?"
        );
        assert_eq!(
            standalone("And thirds?", &asked("How many halves make a whole?")),
            "How many thirds make a whole?"
        );
        assert_eq!(
            standalone(
                "what about the radio?",
                &asked("Who invented the telephone?")
            ),
            "Who invented the radio?"
        );
    }

    #[test]
    fn a_whole_question_or_a_first_question_is_left_as_it_is() {
        let q = "How do you add fractions with the same denominator?";
        assert_eq!(standalone(q, &asked("What is a half?")), q);
        assert_eq!(standalone("and a quarter?", &[]), "and a quarter?");
    }
}
