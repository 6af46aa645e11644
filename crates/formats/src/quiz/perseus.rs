//! Khan Academy's Perseus items, the questions of Kolibri exercises: each item is a JSON file in the
//! exercise's `.perseus` archive, its question a Markdown text (TeX between dollars) in which `[[☃ name]]`
//! marks where a widget (an answer box) sits, the widgets described beside it.
//!
//! An item becomes one [`Question`] when its widgets fit one of SmartCourse's kinds:
//!
//! - one `radio` widget: a single choice, or with `multipleSelect` a multiple response graded all or nothing,
//!   as Perseus grades it (right only when exactly the right choices are chosen);
//! - one `numeric-input` (its answers in order, each right or wrong, with its `maxError` as the tolerance) or
//!   `input-number` (one value, with `maxError` when `inexact`): a numeric question;
//! - one `dropdown`: a single choice;
//! - several widgets that are each a number or a drop-down: a fill-in-the-blanks question, one gap per widget.
//!   SmartCourse gives each gap its share of the point, where Perseus counts the item right only when every
//!   box is; a mastery rule still counts it right only when every gap is.
//!
//! Anything else (an `expression`, an `interactive-graph`, images, a radio beside other widgets) is refused
//! with a sentence naming it, which the caller lists; nothing is dropped silently. The JSON comes from anyone:
//! every field is read as optional and of the wrong type at worst, so a crafted item is refused, never a panic.

use serde_json::Value;

use super::import::html_of_text;
use super::{
    Credit, Gap, GapKind, NumericAnswer, NumericValue, Question, QuestionKind, choices, gap_marker,
};

/// How a widget's place is marked in an item's Markdown: `[[☃ radio 1]]`.
const MARKER_OPEN: &str = "[[\u{2603} ";

/// Most widgets one item may name: a real item has one to a handful.
const MAX_WIDGETS: usize = 32;

/// Markdown, with TeX between single or double dollars, as HTML with the TeX as `\(…\)` and `\[…\]`, which is
/// how SmartCourse's quiz texts hold formulas (single dollars there are prices). A text of one paragraph
/// loses its `<p>`, so a choice or a hint stays inline.
pub fn markdown_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, html};
    let events =
        Parser::new_ext(markdown, Options::ENABLE_MATH | Options::ENABLE_TABLES).map(|e| match e {
            Event::InlineMath(tex) => {
                Event::InlineHtml(format!("\\({}\\)", html_of_text(&tex)).into())
            }
            Event::DisplayMath(tex) => {
                Event::InlineHtml(format!("\\[{}\\]", html_of_text(&tex)).into())
            }
            other => other,
        });
    let mut out = String::new();
    html::push_html(&mut out, events);
    let out = out.trim();
    match out.strip_prefix("<p>").and_then(|o| o.strip_suffix("</p>")) {
        Some(inner) if !inner.contains("<p>") => inner.to_owned(),
        _ => out.to_owned(),
    }
}

/// Whether a Perseus text shows an image: Markdown images, Khan's graphie pictures, or the files of the
/// archive (`${☣ LOCALPATH}/images/…`), none of which an imported quiz can show.
fn has_image(text: &str) -> bool {
    text.contains("![") || text.contains("web+graphie:") || text.contains("\u{2623} LOCALPATH")
}

/// The widget names marked in `content`, in order, each once.
fn markers(content: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = content;
    while let Some(at) = rest.find(MARKER_OPEN) {
        let after = &rest[at + MARKER_OPEN.len()..];
        let Some(end) = after.find("]]") else {
            break;
        };
        let name = after[..end].to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

/// The string at `key`, or empty.
fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A finite number at `key`: JSON numbers, and numbers written as strings (older items).
fn number(v: &Value, key: &str) -> Option<f64> {
    let n = match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The item `id` (its JSON) as a question, or why it cannot be one.
pub fn item(id: &str, json: &Value) -> Result<Question, String> {
    let question = json
        .get("question")
        .filter(|q| q.is_object())
        .ok_or("it has no question")?;
    let content = text(question, "content");
    if has_image(content) {
        return Err("its question shows an image, which is not imported".into());
    }
    let names = markers(content);
    if names.is_empty() {
        return Err("it has no answer box (no widget in its question)".into());
    }
    if names.len() > MAX_WIDGETS {
        return Err(format!("it has {} widgets", names.len()));
    }
    let widgets = question.get("widgets");
    let mut found = Vec::new();
    for name in &names {
        let w = widgets
            .and_then(|ws| ws.get(name.as_str()))
            .ok_or_else(|| format!("its widget “{name}” is not described"))?;
        let kind = text(w, "type");
        let options = w.get("options").unwrap_or(&Value::Null);
        found.push((name.as_str(), kind, options));
    }
    let (kind, shuffle, prompt) = if let [(name, kind, options)] = found.as_slice() {
        let (kind, shuffle) = match *kind {
            "radio" => radio(options)?,
            "dropdown" => (
                QuestionKind::SingleChoice {
                    choices: dropdown(options)?,
                },
                false,
            ),
            "numeric-input" | "input-number" => (
                QuestionKind::Numeric {
                    answers: numeric(kind, options)?,
                },
                false,
            ),
            other => return Err(unsupported(name, other)),
        };
        let prompt = content.replace(&format!("{MARKER_OPEN}{name}]]"), "");
        (kind, shuffle, markdown_html(&prompt))
    } else {
        let mut gaps = Vec::new();
        let mut prompt = content.to_owned();
        for (i, (name, kind, options)) in found.iter().enumerate() {
            let gap = match *kind {
                "dropdown" => GapKind::Choice {
                    choices: dropdown(options)?,
                },
                "numeric-input" | "input-number" => GapKind::Numeric {
                    answers: numeric(kind, options)?,
                },
                other => {
                    let kinds: Vec<&str> = found.iter().map(|f| f.1).collect();
                    return Err(format!(
                        "it has several answer boxes ({}), and its {other} widget cannot be a gap (only numbers \
                         and drop-downs can)",
                        kinds.join(", ")
                    ));
                }
            };
            let gap_id = format!("g{}", i + 1);
            prompt = prompt.replace(&format!("{MARKER_OPEN}{name}]]"), &gap_marker(&gap_id));
            gaps.push(Gap {
                id: gap_id,
                weight: 1.0,
                kind: gap,
            });
        }
        (
            QuestionKind::FillBlanks { gaps },
            false,
            markdown_html(&prompt),
        )
    };
    let hints = json
        .get("hints")
        .and_then(Value::as_array)
        .map(|hs| {
            hs.iter()
                .map(|h| text(h, "content"))
                .filter(|h| !h.trim().is_empty() && !has_image(h))
                .map(markdown_html)
                .collect()
        })
        .unwrap_or_default();
    let mut q = Question::new(id, prompt, kind);
    q.hints = hints;
    q.shuffle_choices = shuffle;
    Ok(q)
}

fn unsupported(name: &str, kind: &str) -> String {
    if kind.is_empty() {
        format!("its widget “{name}” has no type")
    } else {
        format!("its {kind} widget (“{name}”) is not a kind of question SmartCourse grades")
    }
}

/// A choice's text as HTML, or why it cannot be shown.
fn choice_text(c: &Value) -> Result<String, String> {
    if flag(c, "isNoneOfTheAbove") {
        return Ok("None of the above".into());
    }
    let content = text(c, "content");
    if has_image(content) {
        return Err("a choice is an image, which is not imported".into());
    }
    if content.trim().is_empty() {
        return Err("a choice has no text".into());
    }
    Ok(markdown_html(content))
}

/// A radio widget: its kind and whether its choices are shuffled.
fn radio(options: &Value) -> Result<(QuestionKind, bool), String> {
    let list = options
        .get("choices")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("its radio widget has no choices")?;
    let mut parts = Vec::new();
    for c in list {
        let right = flag(c, "correct");
        parts.push((
            choice_text(c)?,
            f64::from(u8::from(right)),
            markdown_html(text(c, "clue")),
        ));
    }
    if !parts.iter().any(|p| p.1 > 0.0) {
        return Err("none of its choices is marked right".into());
    }
    let choices = choices(parts);
    let kind = if flag(options, "multipleSelect") {
        QuestionKind::MultipleResponse {
            choices,
            credit: Credit::AllOrNothing,
        }
    } else {
        QuestionKind::SingleChoice { choices }
    };
    Ok((kind, flag(options, "randomize")))
}

/// A dropdown widget's choices.
fn dropdown(options: &Value) -> Result<Vec<super::Choice>, String> {
    let list = options
        .get("choices")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("its dropdown widget has no choices")?;
    let mut parts = Vec::new();
    for c in list {
        parts.push((
            choice_text(c)?,
            f64::from(u8::from(flag(c, "correct"))),
            String::new(),
        ));
    }
    if !parts.iter().any(|p| p.1 > 0.0) {
        return Err("none of its drop-down's choices is marked right".into());
    }
    Ok(choices(parts))
}

/// A `numeric-input` or `input-number` widget's accepted numbers, in order.
fn numeric(kind: &str, options: &Value) -> Result<Vec<NumericAnswer>, String> {
    let answer =
        |value: f64, max_error: Option<f64>, fraction: f64, feedback: String| NumericAnswer {
            value: NumericValue::Exact {
                value,
                tolerance: max_error.map_or(0.0, f64::abs),
            },
            fraction,
            feedback,
        };
    let answers: Vec<NumericAnswer> = if kind == "input-number" {
        // Answers given as a multiple of pi, a percent or a logarithm are typed in forms SmartCourse does
        // not read.
        let form = text(options, "answerType");
        if !matches!(
            form,
            "" | "number" | "decimal" | "integer" | "rational" | "improper" | "mixed"
        ) {
            return Err(format!(
                "its input-number widget takes answers as {form}, which SmartCourse does not read"
            ));
        }
        let inexact = flag(options, "inexact");
        number(options, "value")
            .map(|v| {
                answer(
                    v,
                    number(options, "maxError").filter(|_| inexact),
                    1.0,
                    String::new(),
                )
            })
            .into_iter()
            .collect()
    } else {
        options
            .get("answers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|a| {
                        let right = text(a, "status") == "correct";
                        Some(answer(
                            number(a, "value")?,
                            number(a, "maxError"),
                            f64::from(u8::from(right)),
                            markdown_html(text(a, "message")),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if !answers.iter().any(|a| a.fraction > 0.0) {
        return Err(format!("its {kind} widget has no right answer"));
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_tex_for_the_quiz_pages_to_typeset() {
        assert_eq!(
            markdown_html("What is $\\frac{1}{2} < x$?"),
            "What is \\(\\frac{1}{2} &lt; x\\)?"
        );
        assert_eq!(
            markdown_html("One.\n\nTwo **bold**."),
            "<p>One.</p>\n<p>Two <strong>bold</strong>.</p>"
        );
    }

    /// Every value of real-shaped items (each widget kind) replaced in turn by each JSON type: an item from a
    /// crafted archive is refused or read, never a panic.
    #[test]
    fn any_field_of_any_type_is_refused_or_read_never_a_panic() {
        fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
            out.push(at.clone());
            let children: Vec<(String, &Value)> = match v {
                Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v))
                    .collect(),
                _ => Vec::new(),
            };
            for (k, c) in children {
                let mut next = at.clone();
                next.push(k);
                paths(c, next, out);
            }
        }
        fn at<'v>(v: &'v mut Value, path: &[String]) -> &'v mut Value {
            path.iter().fold(v, |v, k| match v {
                Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
                other => &mut other[k.as_str()],
            })
        }
        let numeric = serde_json::json!({"type": "numeric-input", "options": {"answers": [
            {"value": 0.5, "status": "correct", "maxError": 0.1, "message": "m"}]}});
        let item = serde_json::json!({
            "question": {"content": "$x$ [[☃ radio 1]] [[☃ numeric-input 1]] [[☃ input-number 1]] [[☃ dropdown 1]]",
                "widgets": {
                    "radio 1": {"type": "radio", "options": {"choices": [
                        {"content": "a", "correct": true, "clue": "c"}, {"isNoneOfTheAbove": true}],
                        "multipleSelect": true, "randomize": true}},
                    "numeric-input 1": numeric,
                    "input-number 1": {"type": "input-number", "options": {
                        "value": 2, "inexact": true, "maxError": 0.5, "answerType": "number"}},
                    "dropdown 1": {"type": "dropdown", "options": {"choices": [
                        {"content": "x", "correct": true}]}}}},
            "hints": [{"content": "h"}]
        });
        let mut all = Vec::new();
        paths(&item, Vec::new(), &mut all);
        let types = [
            Value::Null,
            serde_json::json!(-1e308),
            serde_json::json!("[[☃ radio 1]]"),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!(true),
        ];
        // Each widget alone (the single-widget kinds), and all four (gaps, refused for the radio).
        let contents = [
            "[[☃ radio 1]]",
            "[[☃ numeric-input 1]]",
            "[[☃ input-number 1]]",
            "[[☃ dropdown 1]]",
            "[[☃ numeric-input 1]] [[☃ input-number 1]] [[☃ dropdown 1]]",
        ];
        let mut read = 0;
        for content in contents {
            let mut base = item.clone();
            base["question"]["content"] = content.into();
            read += usize::from(super::item("i", &base).is_ok());
            for path in &all {
                for t in &types {
                    let mut v = base.clone();
                    *at(&mut v, path) = t.clone();
                    let _ = super::item("i", &v);
                }
            }
        }
        assert_eq!(read, contents.len(), "each unmutated item reads");
        assert!(all.len() > 40, "{}", all.len());
    }

    #[test]
    fn markers_are_found_in_order_once() {
        assert_eq!(
            markers("a [[☃ radio 1]] b [[☃ numeric-input 2]] [[☃ radio 1]] [[☃ broken"),
            ["radio 1", "numeric-input 2"]
        );
    }
}
