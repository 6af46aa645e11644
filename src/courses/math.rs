//! TeX in course text to MathML, on the server: lesson pages, the editor's preview, search snippets and the
//! tutor's answers show formulas without a script or a font to fetch (Chromium, Firefox and Safari render
//! MathML Core).
//!
//! What counts as math: the spans pulldown-cmark marks in Markdown (`$…$`, `$$…$$`), and in other text
//! (imported HTML, an answer, a snippet) `\(…\)` and `\[…\]` as MathJax reads them by default, `$$…$$`, and,
//! where asked, `$…$` by pandoc's rule, so that "$5 and $10" stays prices. Code is never touched. TeX that
//! does not parse stays the text it was: a page never fails over a formula.
//!
//! The MathML comes from `pulldown-latex`, which escapes what it copies; as a second line its output is
//! accepted only when every element and attribute in it is on the MathML list below (nothing that links,
//! loads or runs), and otherwise the original text is shown.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pulldown_latex::config::DisplayMode;
use pulldown_latex::{Parser, RenderConfig, Storage, push_mathml};

/// Longer TeX is shown as text: no lesson needs a formula this long, and the parser's cost grows with it.
const MAX_TEX: usize = 4000;

/// Elements the converter may write (MathML Core, plus `semantics`/`annotation`), separated by spaces.
const ELEMENTS: &str = "math semantics annotation mrow mi mn mo ms mtext mspace mfrac msqrt mroot msub msup msubsup
    munder mover munderover mmultiscripts mprescripts none mtable mtr mtd mstyle mpadded mphantom menclose merror";

/// Attributes it may write. `style` carries colours and spacing: its values come from the converter's
/// own tables (a colour name that is not one fails to parse), never from the TeX as written.
const ATTRIBUTES: &str = "display displaystyle scriptlevel mathvariant stretchy symmetric largeop movablelimits accent
    accentunder linethickness width height depth lspace rspace minsize maxsize fence separator form columnalign rowalign
    columnspacing rowspacing columnlines rowlines frame notation encoding class style xmlns";

/// `tex` as MathML (`display` for a block of its own), or `None` when it does not parse, is too long, or
/// the output holds anything outside [`ELEMENTS`]/[`ATTRIBUTES`].
pub fn to_mathml(tex: &str, display: bool) -> Option<String> {
    let tex = tex.trim();
    if tex.is_empty() || tex.len() > MAX_TEX {
        return None;
    }
    // The parser is young and unfuzzed; a panic in it must cost a formula, not the page.
    let out = catch_unwind(AssertUnwindSafe(|| {
        let storage = Storage::new();
        let events = Parser::new(tex, &storage)
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let config = RenderConfig {
            display_mode: if display {
                DisplayMode::Block
            } else {
                DisplayMode::Inline
            },
            ..RenderConfig::default()
        };
        let mut out = String::new();
        push_mathml(
            &mut out,
            events.into_iter().map(Ok::<_, pulldown_latex::ParserError>),
            config,
        )
        .ok()?;
        Some(out)
    }))
    .ok()
    .flatten()?;
    let out = escape_lone_lt(&out);
    only_known_markup(&out).then_some(out)
}

/// The converter writes the operator `<` as it is (`<mo><</mo>`), which HTML would read as the start of a
/// tag: a `<` that starts no tag (no letter or `/` after it) is escaped.
fn escape_lone_lt(mathml: &str) -> String {
    let mut out = String::with_capacity(mathml.len());
    let mut rest = mathml;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let starts_tag = rest[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        out.push_str(if starts_tag { "<" } else { "&lt;" });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether every tag in `mathml` is a known element with known attributes, every quote is closed, and
/// nothing else looks like markup (comments, CDATA).
fn only_known_markup(mathml: &str) -> bool {
    let mut rest = mathml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let close = rest.starts_with('/');
        let tag = rest.trim_start_matches('/');
        let name_len = tag
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tag.len());
        if !listed(ELEMENTS, &tag[..name_len]) {
            return false;
        }
        let Some((attrs, after)) = tag_body(&tag[name_len..]) else {
            return false;
        };
        if close && !attrs.trim().is_empty() {
            return false;
        }
        if !attributes_known(attrs) {
            return false;
        }
        rest = after;
    }
    true
}

fn listed(list: &str, name: &str) -> bool {
    !name.is_empty() && list.split_whitespace().any(|n| n == name)
}

/// A tag's attribute text up to its `>` (quotes respected) and what follows it.
fn tag_body(s: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return Some((&s[..i], &s[i + 1..])),
            '<' if !quoted => return None,
            _ => {}
        }
    }
    None
}

/// `name="value"` pairs (and a closing `/`), every name on the list and no `<` in a value.
fn attributes_known(attrs: &str) -> bool {
    let mut rest = attrs.trim().trim_end_matches('/').trim_end();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once("=\"") else {
            return false;
        };
        if !listed(ATTRIBUTES, name.trim()) {
            return false;
        }
        let Some((value, after)) = after.split_once('"') else {
            return false;
        };
        if value.contains('<') {
            return false;
        }
        rest = after.trim_start();
    }
    true
}

/// Typesets the math in sanitised HTML (ammonia's output, or text escaped by [`escape`]): the spans
/// pulldown-cmark left for math, and `\(…\)`, `\[…\]`, `$$…$$` (and with `dollars`, `$…$`) in text outside
/// `code` and `pre`. The result is the same HTML with formulas replaced by MathML; anything that does not
/// convert is left as it was.
pub fn typeset_html(html: &str, dollars: bool) -> String {
    if !html.contains('\\') && !html.contains('$') && !html.contains("math-") {
        return html.to_owned();
    }
    let mut out = String::with_capacity(html.len() + html.len() / 2);
    let mut code_depth = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut out, rest, code_depth == 0, dollars);
            break;
        };
        push_text(&mut out, &rest[..lt], code_depth == 0, dollars);
        rest = &rest[lt..];
        let Some((_, after)) = tag_body(&rest[1..]) else {
            // Not a tag after all (sanitised HTML has none such): the rest is text.
            out.push_str(rest);
            break;
        };
        let tag = &rest[..rest.len() - after.len()];
        let name = tag_name(tag);
        let closing = tag.starts_with("</");
        if matches!(name.as_str(), "code" | "pre") {
            if closing {
                code_depth = code_depth.saturating_sub(1);
            } else {
                code_depth += 1;
            }
        }
        if !closing && code_depth == 0 && name == "span" {
            let display = if tag.contains("math-display") {
                Some(true)
            } else if tag.contains("math-inline") {
                Some(false)
            } else {
                None
            };
            if let Some(display) = display
                && let Some(end) = after.find("</span>")
                && !after[..end].contains('<')
            {
                let escaped = &after[..end];
                match to_mathml(&unescape(escaped), display) {
                    Some(m) => out.push_str(&m),
                    // Shown as it was written, delimiters and all.
                    None => {
                        let d = if display { "$$" } else { "$" };
                        out.push_str(&format!("{tag}{d}{escaped}{d}</span>"));
                    }
                }
                rest = &after[end + "</span>".len()..];
                continue;
            }
        }
        out.push_str(tag);
        rest = after;
    }
    out
}

/// Plain text (a tutor's answer) as HTML: escaped, with its math typeset.
pub fn typeset_text(text: &str) -> String {
    typeset_html(&escape(text), true)
}

/// Where the formulas of plain text are (`\(…\)`, `\[…\]`, `$$…$$`, delimiters included), so that a caller
/// marking words can leave them whole.
pub fn formula_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some((start, open, close, _)) = next_opening(&text[at..], false) {
        let body = at + start + open.len();
        match find_closing(&text[body..], close, false) {
            Some(len) => {
                spans.push(at + start..body + len + close.len());
                at = body + len + close.len();
            }
            None => at = body,
        }
    }
    spans
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn tag_name(tag: &str) -> String {
    tag.trim_start_matches('<')
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Escaped text between tags, with its formulas typeset when `typeset`.
fn push_text(out: &mut String, text: &str, typeset: bool, dollars: bool) {
    if !typeset {
        out.push_str(text);
        return;
    }
    let mut rest = text;
    while let Some((start, open, close, display)) = next_opening(rest, dollars) {
        let body_start = start + open.len();
        let found = find_closing(&rest[body_start..], close, open == "$");
        let Some(len) = found else {
            // No closing delimiter: this one is text; look past it.
            out.push_str(&rest[..body_start]);
            rest = &rest[body_start..];
            continue;
        };
        let escaped = &rest[body_start..body_start + len];
        out.push_str(&rest[..start]);
        match to_mathml(&unescape(escaped), display) {
            Some(m) => out.push_str(&m),
            None => out.push_str(&rest[start..body_start + len + close.len()]),
        }
        rest = &rest[body_start + len + close.len()..];
    }
    out.push_str(rest);
}

/// The first opening delimiter in `s`: its offset, itself, its closing delimiter and whether it is display
/// math.
fn next_opening(s: &str, dollars: bool) -> Option<(usize, &'static str, &'static str, bool)> {
    let mut from = 0;
    while let Some(i) = s[from..].find(['\\', '$']).map(|i| i + from) {
        let after = &s[i..];
        if after.starts_with("\\(") {
            return Some((i, "\\(", "\\)", false));
        }
        if after.starts_with("\\[") {
            return Some((i, "\\[", "\\]", true));
        }
        if after.starts_with("$$") {
            return Some((i, "$$", "$$", true));
        }
        // pandoc's rule: `$` opens when a non-space follows it (and it does not stand for a price that a
        // `\$` would have escaped).
        if dollars
            && after.starts_with('$')
            && after[1..]
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace())
            && !s[..i].ends_with('\\')
        {
            return Some((i, "$", "$", false));
        }
        // Past this character (and what a backslash escapes).
        let step = if after.starts_with('\\') { 2 } else { 1 };
        from = (i + step).min(s.len());
        while !s.is_char_boundary(from) {
            from += 1;
        }
    }
    None
}

/// Length of the math before `close` in `s`, if it closes. A single `$` closes (pandoc's rule) only after
/// a non-space and when no digit follows it.
fn find_closing(s: &str, close: &str, single_dollar: bool) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(close).map(|i| i + from) {
        let ok = i > 0
            && (!single_dollar
                || (!s[..i].ends_with(char::is_whitespace)
                    && !s[..i].ends_with('\\')
                    && !s[i + 1..].starts_with(|c: char| c.is_ascii_digit())));
        if ok {
            return Some(i);
        }
        if single_dollar && s[..i].ends_with(char::is_whitespace) {
            // "$5 and $": the second `$` opens no formula either; "costs $5" is text.
            return None;
        }
        from = i + close.len();
    }
    None
}

/// Decodes the entities an HTML serialiser writes in text (and numeric ones), so the TeX is as written.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &rest[1..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                .ok()
                .and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tag in `html` with its attributes, for checking that nothing runnable came through.
    fn tags(html: &str) -> Vec<String> {
        html.split('<')
            .skip(1)
            .map(|t| t.split('>').next().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn a_fraction_becomes_mathml() {
        let m = to_mathml(r"\frac{1}{2}", false).unwrap();
        assert!(m.starts_with("<math") && m.contains("<mfrac>"), "{m}");
        assert!(!m.contains("display=\"block\""), "{m}");
        let block = to_mathml(r"x^2", true).unwrap();
        assert!(block.contains("display=\"block\""), "{block}");
    }

    #[test]
    fn delimiters_in_text_are_typeset_and_code_is_not() {
        let h = typeset_html(
            r"<p>We know \(f(10)\) and</p><div>\[\frac{a}{b}\]</div><p>$$x+1$$</p><p><code>\(x\)</code></p><pre><code>$$y$$ \[z\]</code></pre>",
            false,
        );
        assert_eq!(h.matches("<math").count(), 3, "{h}");
        assert!(!h.contains(r"\(f(10)\)") && !h.contains(r"\frac"), "{h}");
        assert!(h.contains(r"<code>\(x\)</code>"), "{h}");
        assert!(h.contains(r"<pre><code>$$y$$ \[z\]</code></pre>"), "{h}");
    }

    #[test]
    fn the_spans_markdown_marks_are_typeset() {
        let h = typeset_html(
            r#"<p>Half: <span class="math math-inline">\frac{1}{2}</span></p><span class="math math-display">a &lt; b</span>"#,
            false,
        );
        assert_eq!(h.matches("<math").count(), 2, "{h}");
        assert!(
            !h.contains("math-inline") && h.contains("<mo>&lt;</mo>"),
            "{h}"
        );
        // No backslash or dollar anywhere in the page.
        let plain = typeset_html(r#"<p><span class="math math-inline">x^2</span></p>"#, false);
        assert!(
            plain.starts_with("<p><math") && plain.contains("<msup>"),
            "{plain}"
        );
    }

    #[test]
    fn malformed_tex_stays_the_text_it_was() {
        let text =
            r"<p>Broken \(\frac{1}{\) and \(\unknowncommand{x}\) and \(\left( x\) and \(x^\)</p>";
        assert_eq!(typeset_html(text, false), text);
        let span = r#"<span class="math math-inline">\frac{</span>"#;
        assert_eq!(
            typeset_html(span, false),
            r#"<span class="math math-inline">$\frac{$</span>"#
        );
        assert!(to_mathml(&"x+".repeat(MAX_TEX), false).is_none());
    }

    #[test]
    fn odd_input_never_panics() {
        for s in [
            "",
            "\\",
            "$",
            "$$",
            "\\(",
            "\\[",
            "\\)",
            "$$$",
            "\\(\\)",
            "$ $",
            "é\\(é",
            "é$$é",
            "\\(é\\)",
            "&",
            "&#xFFFFFFFF;",
            "&#99999999999;",
            "&amp",
            "<",
            "<p",
            "<span class=\"math math-inline\">x",
            "<code>\\(x\\)",
            "</code>\\(",
            "\\\\(x\\\\)",
            "$5$",
            "a$b$c$d",
        ] {
            let _ = typeset_html(s, true);
            let _ = typeset_html(s, false);
            let _ = typeset_text(s);
            let _ = formula_spans(s);
        }
    }

    #[test]
    fn formula_spans_cover_whole_formulas_only() {
        let t = r"A \(rac{1}{2}\) and $$x$$ but \(open and $5.";
        let spans: Vec<&str> = formula_spans(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(spans, [r"\(rac{1}{2}\)", "$$x$$"]);
    }

    #[test]
    fn nothing_runnable_comes_through_tex() {
        let hostile = [
            r"\text{<script>alert(1)</script>}",
            r#"x" onmouseover="alert(1)"#,
            r#"\text{" onclick="alert(2)}"#,
            r"\href{javascript:alert(3)}{x}",
            r"\color{red;background:url(javascript:alert(4))}{x}",
            r"\mathrm{<img src=x onerror=alert(5)>}",
            r"\operatorname{<svg onload=alert(6)>}",
        ];
        for tex in hostile {
            // As escaped text reaches it from the sanitiser, and as an answer's plain text.
            for html in [
                typeset_html(&format!(r"<p>\({}\)</p>", escape(tex)), false),
                typeset_text(&format!("${tex}$ and \\[{tex}\\]")),
            ] {
                for t in tags(&html) {
                    let name = t.trim_start_matches('/').split([' ', '/']).next().unwrap();
                    assert!(
                        name == "p" || listed(ELEMENTS, name),
                        "<{t}> from {tex}: {html}"
                    );
                    let lower = t.to_lowercase();
                    for bad in [" on", "href", "src", "javascript", "url("] {
                        assert!(!lower.contains(bad), "<{t}> from {tex}: {html}");
                    }
                }
                assert!(
                    !html.contains("<script") && !html.contains("<img"),
                    "{html}"
                );
            }
        }
        // Markup in TeX is shown as text inside the formula, escaped.
        let shown = typeset_text(r"$\text{<script>alert(1)</script>}$");
        assert!(
            shown.contains("<mtext>&lt;script&gt;alert(1)&lt;/script&gt;</mtext>"),
            "{shown}"
        );
        // The converter writes the operator `<` raw: escaped before it reaches a page.
        assert!(to_mathml("a < b", false).unwrap().contains("<mo>&lt;</mo>"));
        // A converter that wrote anything off the list would be refused.
        assert!(!only_known_markup(r#"<math><mi href="x">a</mi></math>"#));
        assert!(!only_known_markup(r#"<math><script>a</script></math>"#));
        assert!(!only_known_markup(r#"<math><mi onclick="x">a</mi></math>"#));
        assert!(only_known_markup(
            &to_mathml(r"\sqrt{x} + \sum_{i=1}^n i^2", true).unwrap()
        ));
    }

    #[test]
    fn single_dollars_follow_pandocs_rule_and_only_when_asked() {
        assert_eq!(
            typeset_text("It costs $5 and $10, or $20,000."),
            "It costs $5 and $10, or $20,000."
        );
        let h = typeset_text("So $x^2$ grows; a third is $\\frac{1}{3}$.");
        assert_eq!(h.matches("<math").count(), 2, "{h}");
        assert_eq!(typeset_html("<p>$x^2$</p>", false), "<p>$x^2$</p>");
        // An answer's own markup is text.
        assert_eq!(typeset_text("<b>bold</b>"), "&lt;b&gt;bold&lt;/b&gt;");
    }
}
