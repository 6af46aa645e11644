//! Lesson Markdown to safe HTML.
//!
//! pulldown-cmark renders (tables, footnotes, strikethrough, task lists, math kept as TeX for the browser to
//! typeset), then ammonia removes everything that could run in a student's browser: scripts, event-handler
//! attributes, `javascript:` and other non-web URL schemes, styles, forms and frames.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser, html};

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
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    SANITIZER.clean(&raw).to_string()
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
        assert!(
            h.contains(r#"class="math math-inline""#) && h.contains("e^{i\\pi}+1=0"),
            "{h}"
        );
        assert!(h.contains("footnote"), "{h}");
        assert!(h.contains("checkbox"), "{h}");
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
