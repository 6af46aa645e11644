//! Lesson text for search: Markdown to plain text, and plain text to overlapping chunks that fit the
//! embedding model.

use pulldown_cmark::{Event, Options, Parser, TagEnd};

/// The readable text of a Markdown lesson: paragraphs separated by blank lines, markup and HTML tags dropped.
pub fn plain_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_MATH);
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            // Formulas keep their delimiters, so a search snippet or a source quoted by the tutor can typeset
            // them again (courses::math).
            Event::InlineMath(t) => out.push_str(&format!("\\({t}\\)")),
            Event::DisplayMath(t) => out.push_str(&format!("\\[{t}\\]")),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Html(h) | Event::InlineHtml(h) => {
                // Keep the words of inline HTML (imported packages are often HTML), not the tags.
                let mut in_tag = false;
                for c in h.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => {
                            in_tag = false;
                            out.push(' ');
                        }
                        c if !in_tag => out.push(c),
                        _ => {}
                    }
                }
            }
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableRow
                | TagEnd::BlockQuote(_),
            ) => out.push_str("\n\n"),
            Event::End(TagEnd::TableCell) => out.push_str(" | "),
            _ => {}
        }
    }
    // Decode the few entities HTML-heavy packages leave behind.
    let out = out
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    let paragraphs: Vec<String> = out
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    paragraphs.join("\n\n")
}

/// Splits `text` into chunks of at most `size` words, neighbours sharing `overlap` words. A chunk ends at a
/// paragraph or sentence end when one falls in its second half. Within a chunk, words are joined by spaces and
/// paragraphs by a line break, so a table row or a list item stays a line of its own (the tutor's evidence
/// reads sentences and rows from them); whitespace is all the same to the indexes.
pub fn chunks(text: &str, size: usize, overlap: usize) -> Vec<String> {
    // Words, each marked when a sentence ends after it, and when a paragraph does.
    let mut words: Vec<(&str, bool, bool)> = Vec::new();
    for para in text.split("\n\n") {
        let start = words.len();
        for w in para.split_whitespace() {
            let ends_sentence = w.ends_with(['.', '?', '!', ':']);
            words.push((w, ends_sentence, false));
        }
        if words.len() > start
            && let Some(last) = words.last_mut()
        {
            (last.1, last.2) = (true, true);
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let mut end = (start + size).min(words.len());
        if end < words.len()
            && let Some(cut) = (start + size / 2..end).rev().find(|&i| words[i - 1].1)
        {
            end = cut;
        }
        let mut chunk = String::new();
        for (i, (w, _, _)) in words[start..end].iter().enumerate() {
            if i > 0 {
                chunk.push(if words[start + i - 1].2 { '\n' } else { ' ' });
            }
            chunk.push_str(w);
        }
        out.push(chunk);
        if end == words.len() {
            break;
        }
        start = (end.saturating_sub(overlap)).max(start + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_paragraphs_of_words() {
        let md =
            "# Title\n\nSome *emphasis* and `code`.\n\n- one\n- two\n\n<p>Inline <b>html</b></p>\n";
        let t = plain_text(md);
        assert_eq!(
            t,
            "Title\n\nSome emphasis and code.\n\none\n\ntwo\n\nInline html"
        );
    }

    #[test]
    fn formulas_keep_delimiters_a_snippet_can_typeset() {
        let t = plain_text("Half is $\\frac{1}{2}$.\n\n$$x^2$$\n");
        assert_eq!(t, "Half is \\(\\frac{1}{2}\\).\n\n\\[x^2\\]");
    }

    #[test]
    fn chunks_cover_every_word_with_overlap_and_respect_the_size() {
        let text: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        let text = text.join(" ");
        let cs = chunks(&text, 100, 20);
        assert!(cs.iter().all(|c| c.split(' ').count() <= 100));
        assert!(cs[0].starts_with("w0 ") && cs.last().unwrap().ends_with("w499"));
        // Neighbours share exactly the overlap when no sentence end is near.
        assert!(cs[1].starts_with("w80 "), "{}", &cs[1][..20]);
        assert_eq!(chunks("", 100, 20), Vec::<String>::new());
    }

    #[test]
    fn a_chunk_ends_at_a_sentence_end_in_its_second_half() {
        let mut text = String::new();
        for i in 0..70 {
            text.push_str(&format!("w{i} "));
        }
        text.push_str("end. ");
        for i in 0..100 {
            text.push_str(&format!("x{i} "));
        }
        let cs = chunks(&text, 100, 10);
        assert!(cs[0].ends_with("end."), "{}", cs[0]);
    }
}
