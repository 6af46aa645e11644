//! Lesson Markdown to safe HTML.
//!
//! pulldown-cmark renders (tables, footnotes, strikethrough, task lists, math), then ammonia removes everything
//! that could run in a student's browser: scripts, event-handler attributes, `javascript:` and other non-web URL
//! schemes, styles, forms and frames. Last, the formulas are typeset as MathML (`super::math`), after the
//! sanitiser, from text it has already cleaned.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{CowStr, Event, Options, Parser, html};

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.add_tag_attributes("code", ["class"])
        .add_tag_attributes("span", ["class"])
        .add_tag_attributes("div", ["class"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tags(["input"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer"));
    b
});

/// Renders lesson Markdown to sanitised HTML.
pub fn markdown_to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_MATH;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    let source = markdown.as_bytes();
    // Markdown reads `\(` as an escaped `(`, which would lose the TeX delimiters `\(…\)` and `\[…\]` that
    // teachers paste from elsewhere: keep the backslash of those four escapes (code is not escaped, so it is
    // not affected), and `super::math` finds them in the text.
    let events = Parser::new_ext(markdown, options)
        .into_offset_iter()
        .map(|(event, range)| match event {
            Event::Text(t)
                if t.starts_with(['(', ')', '[', ']'])
                    && range.start >= 1
                    && source[range.start - 1] == b'\\'
                    && (range.start < 2 || source[range.start - 2] != b'\\') =>
            {
                Event::Text(CowStr::from(format!("\\{t}")))
            }
            other => other,
        });
    html::push_html(&mut raw, events);
    super::math::typeset_html(&SANITIZER.clean(&raw).to_string(), false)
}

/// Sanitises an HTML fragment from a package or a teacher (a quiz's prompt, choice or feedback) as lesson
/// bodies are.
pub fn clean_html(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::markdown_to_html;

    #[test]
    fn keeps_the_teaching_markup() {
        let h = markdown_to_html(
            "# Loops\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nfor i in range(3):\n    print(i)\n```\n\nEuler: $e^{i\\pi}+1=0$ and[^1]\n\n[^1]: A footnote.\n\n- [x] done\n",
        );
        assert!(h.contains("<h1>Loops</h1>"), "{h}");
        assert!(h.contains("<table>") && h.contains("<td>1</td>"), "{h}");
        assert!(h.contains(r#"<code class="language-python">"#), "{h}");
        assert!(h.contains("<math") && !h.contains("e^{i\\pi}+1=0"), "{h}");
        assert!(h.contains("footnote"), "{h}");
        assert!(h.contains("checkbox"), "{h}");
    }

    #[test]
    fn formulas_are_mathml_in_every_form_a_lesson_writes_them() {
        let h = markdown_to_html(concat!(
            "Half is $\\frac{1}{2}$, and \\(f(10)\\) too.\n\n",
            "$$\\frac{1 \\times 3}{2 \\times 3} = \\frac{3}{6}$$\n\n",
            "\\[x^2\\]\n\n",
            "<div class=\"imported\">\n<p>Imported: \\(\\sqrt{2}\\) and \\[a_1\\]</p>\n</div>\n",
        ));
        assert_eq!(h.matches("<math").count(), 6, "{h}");
        assert_eq!(h.matches("display=\"block\"").count(), 3, "{h}");
        assert!(!h.contains("\\frac") && !h.contains("\\("), "{h}");
    }

    #[test]
    fn code_and_plain_brackets_stay_as_written() {
        let h = markdown_to_html(
            "Code `\\(x\\)` and `$y$`.\n\n```\n$$z$$ \\(w\\)\n```\n\nA (note) [here] and \\(escaped\n\nBroken: $\\frac{1}{$\n",
        );
        assert!(!h.contains("<math"), "{h}");
        assert!(
            h.contains("<code>\\(x\\)</code>") && h.contains("<code>$y$</code>"),
            "{h}"
        );
        assert!(h.contains("$$z$$ \\(w\\)"), "{h}");
        assert!(h.contains("A (note) [here]"), "{h}");
        assert!(h.contains("$\\frac{1}{$"), "{h}");
    }

    #[test]
    fn removes_everything_that_could_run() {
        let h = markdown_to_html(concat!(
            "<script>alert(1)</script>\n\n",
            "[click](javascript:alert(2)) [data](data:text/html,<b>x</b>) [vb](vbscript:x)\n\n",
            "<img src=x onerror=\"alert(3)\"> <a href=\"https://ok.example\" onclick=\"alert(4)\">ok</a>\n\n",
            "<iframe src=\"https://evil.example\"></iframe><object data=x></object>",
            "<svg onload=alert(5)></svg><style>body{display:none}</style>",
            "<form action=/x><input name=q></form><div style=\"background:url(javascript:alert(6))\">s</div>\n",
        ));
        let lower = h.to_lowercase();
        for bad in [
            "<script",
            "javascript:",
            "vbscript:",
            "data:text",
            "onerror",
            "onclick",
            "onload",
            "<iframe",
            "<object",
            "<svg",
            "<style",
            "style=",
            "<form",
            "alert(1)",
        ] {
            assert!(!lower.contains(bad), "{bad} survived in {h}");
        }
        assert!(h.contains(r#"href="https://ok.example""#), "{h}");
        assert!(h.contains("noopener"), "{h}");
    }
}
