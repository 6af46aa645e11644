//! Moodle's GIFT text format: [`parse`] and [`write`].
//!
//! A question is a paragraph (questions are separated by blank lines): an optional `::title::`, the prompt, and
//! an answer block in braces. The block says the kind: `{}` essay, `{T}`/`{FALSE}` true/false, `{#…}` numeric
//! (`#5:0.5` tolerance, `#5..10` range, `#=%50%4:1` several answers), `{=a -> 1 =b -> 2}` matching, `~` choices
//! (single when one is marked `=`, several when none is), only `=` answers short answer. Weights are `%50%`,
//! feedback follows `#`, general feedback `####`. Text after the block makes a missing-word question (one gap,
//! at the block's place). `\~ \= \# \{ \} \: \\` are the characters themselves, `\n` a line break; lines
//! starting `//` are comments, and `$CATEGORY:` lines are skipped.
//!
//! What GIFT has no syntax for (a question's id and points, hints, case-sensitive answers, a credit rule other
//! than Moodle's) is written in comments before the question (`// points: 2`), which Moodle ignores and
//! [`parse`] reads back, so `parse(write(q)) == q` for every question `write` accepts. It refuses, naming the
//! question, what GIFT cannot say at all (ordering, several gaps) and texts with spaces at their ends (GIFT
//! trims them).

use std::fmt::Write as _;

use super::{
    Choice, Credit, Gap, GapKind, NumericAnswer, NumericValue, Pair, Question, QuestionKind,
    TextAnswer, Whitespace, choices, gap_marker, text_ids,
};
use crate::{Budget, Error, Result};

fn bad(line: usize, message: impl std::fmt::Display) -> Error {
    Error::invalid("gift", format!("line {line}: {message}"))
}

/// Reads the questions of a GIFT file. Each question and answer is charged to `budget` as one XML node would
/// be, so a file of millions of tiny questions stops at the package's limit.
pub fn parse(text: &str, budget: &Budget) -> Result<Vec<Question>> {
    let max = budget.limits().max_file_bytes;
    if text.len() as u64 > max {
        return Err(Error::TooLarge(
            "the GIFT file is larger than a file may be".into(),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(Question, bool)> = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    let mut meta: Vec<(String, String)> = Vec::new();
    let mut start = 0;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().chain(std::iter::once(&"")).enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if !block.is_empty() {
                budget.xml_nodes(1, "the GIFT file")?;
                let q = question(
                    &block.join("\n"),
                    start + 1,
                    std::mem::take(&mut meta),
                    budget,
                )?;
                out.push(q);
                block.clear();
            }
            meta.clear();
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix("//") {
            if let Some((k, v)) = comment.trim().split_once(':') {
                meta.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            continue;
        }
        if block.is_empty() && trimmed.starts_with("$CATEGORY:") {
            continue;
        }
        if block.is_empty() {
            start = i;
        }
        block.push(line);
    }
    // Questions without an id of their own get one from their title and prompt; repeats are numbered.
    let ids = text_ids(out.iter().map(|(q, _)| q.id.as_str()));
    Ok(out
        .into_iter()
        .zip(ids)
        .map(|((mut q, own), id)| {
            if !own {
                q.id = format!("gift-{id}");
            }
            q
        })
        .collect())
}

/// Finds the first unescaped `needle` in `s` from `from`.
fn find(s: &str, needle: &str, from: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = from;
    while i < s.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Splits on each unescaped `sep`.
fn split<'s>(s: &'s str, sep: &str) -> Vec<&'s str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = find(s, sep, from) {
        out.push(&s[from..i]);
        from = i + sep.len();
    }
    out.push(&s[from..]);
    out
}

/// The characters an escape stands for, trimmed.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(e @ ('~' | '=' | '#' | '{' | '}' | ':' | '\\')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out.trim().to_owned()
}

/// Text as GIFT writes it: its special characters escaped, line breaks as `\n`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '~' | '=' | '#' | '{' | '}' | ':' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

/// A metadata comment's value back to its text (`\n`, `\\`).
fn meta_unescape(s: &str) -> String {
    s.replace("\\\\", "\u{0}")
        .replace("\\n", "\n")
        .replace('\u{0}', "\\")
}

fn meta_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// One answer of a block: its marker (`=`, `~`), weight (as a fraction), text and feedback.
struct Answer {
    marker: char,
    weight: Option<f64>,
    text: String,
    feedback: String,
}

/// The answers of a block body (after any leading `#` of a numeric block).
fn answers(body: &str, line: usize) -> Result<Vec<Answer>> {
    let body = body.trim();
    let mut starts = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < body.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'=' | b'~' => starts.push(i),
            _ => {}
        }
        i += 1;
    }
    if starts.first() != Some(&0) {
        return Err(bad(
            line,
            "an answer must start with = (right) or ~ (wrong)",
        ));
    }
    let mut out = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(body.len());
        let marker = body[s..].chars().next().unwrap_or('=');
        let mut rest = body[s + 1..end].trim_start();
        let mut weight = None;
        if let Some(after) = rest.strip_prefix('%') {
            let close = after
                .find('%')
                .ok_or_else(|| bad(line, "a weight opened with % is not closed with %"))?;
            let w: f64 = fraction(&after[..close])
                .filter(|f| f.is_finite())
                .map(|f| f * 100.0)
                .ok_or_else(|| {
                    bad(
                        line,
                        format!("the weight %{}% is not a number", &after[..close]),
                    )
                })?;
            if !(-100.0..=100.0).contains(&w) {
                return Err(bad(
                    line,
                    format!("the weight {w}% is not between -100 and 100"),
                ));
            }
            weight = fraction(&after[..close]);
            rest = &after[close + 1..];
        }
        let (text, feedback) = match find(rest, "#", 0) {
            Some(h) => (&rest[..h], unescape(&rest[h + 1..])),
            None => (rest, String::new()),
        };
        out.push(Answer {
            marker,
            weight,
            text: text.to_owned(),
            feedback,
        });
    }
    Ok(out)
}

fn numeric_value(text: &str, line: usize) -> Result<NumericValue> {
    let t = text.trim();
    let num = |s: &str| -> Result<f64> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(line, format!("{:?} is not a number", s.trim())))
    };
    if let Some((a, b)) = t.split_once("..") {
        let (min, max) = (num(a)?, num(b)?);
        if min > max {
            return Err(bad(line, format!("the range {min}..{max} is empty")));
        }
        return Ok(NumericValue::Range { min, max });
    }
    if let Some((v, tol)) = t.split_once(':') {
        return Ok(NumericValue::Exact {
            value: num(v)?,
            tolerance: num(tol)?.abs(),
        });
    }
    Ok(NumericValue::Exact {
        value: num(t)?,
        tolerance: 0.0,
    })
}

/// One question, and whether its id was written in a comment (else it is to be made from its texts).
fn question(
    block: &str,
    line: usize,
    meta: Vec<(String, String)>,
    budget: &Budget,
) -> Result<(Question, bool)> {
    let mut rest = block.trim();
    let mut title = String::new();
    if let Some(after) = rest.strip_prefix("::") {
        let close = find(after, "::", 0)
            .ok_or_else(|| bad(line, "the title opened with :: is not closed with ::"))?;
        title = unescape(&after[..close]);
        rest = after[close + 2..].trim_start();
    }
    for format in ["[html]", "[moodle]", "[plain]", "[markdown]"] {
        if let Some(r) = rest.strip_prefix(format) {
            rest = r;
            break;
        }
    }
    let open = find(rest, "{", 0).ok_or_else(|| {
        bad(
            line,
            "this question has no answer block in braces (descriptions without answers are not questions)",
        )
    })?;
    let close = find(rest, "}", open + 1)
        .ok_or_else(|| bad(line, "the answer block opened with { is not closed with }"))?;
    if find(&rest[open + 1..close], "{", 0).is_some() {
        return Err(bad(line, "an answer block cannot hold another {"));
    }
    let before = unescape(&rest[..open]);
    let after = unescape(&rest[close + 1..]);
    if find(&rest[close + 1..], "{", 0).is_some() {
        return Err(bad(
            line,
            "a question has one answer block; escape other braces as \\{",
        ));
    }
    let raw = &rest[open + 1..close];
    // The last `####`: a feedback just before it may end in `#` (true/false's empty right-answer feedback).
    let mut last = None;
    let mut from = 0;
    while let Some(i) = find(raw, "####", from) {
        last = Some(i);
        from = i + 1;
    }
    let (body, general) = match last {
        Some(i) => (&raw[..i], unescape(&raw[i + 4..])),
        None => (raw, String::new()),
    };
    let body = body.trim();
    let missing_word = !after.is_empty();
    let prompt = if missing_word {
        format!("{before} {} {after}", gap_marker("1"))
            .trim()
            .to_owned()
    } else {
        before
    };
    let mut case_sensitive = false;
    let mut whitespace = Whitespace::Trim;
    let mut credit = Credit::SumOfFractions;
    let mut q = Question::new(
        "gift-",
        prompt,
        QuestionKind::Essay {
            template: String::new(),
            grader_info: String::new(),
        },
    );
    q.title = title;
    q.feedback = general;
    q.shuffle_choices = true;
    let mut template = String::new();
    let mut grader_info = String::new();
    let mut id = None;
    for (k, v) in meta {
        let v = meta_unescape(&v);
        match k.as_str() {
            // Moodle's own export writes `// question: 12  name: Title`.
            "question" => id = Some(v.split("  name").next().unwrap_or("").trim().to_owned()),
            "points" => {
                q.points = v
                    .parse()
                    .ok()
                    .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| bad(line, format!("points: {v} is not a number of points")))?;
            }
            "shuffle" => q.shuffle_choices = v != "no",
            "hint" => q.hints.push(v),
            "case" => case_sensitive = v == "sensitive",
            "whitespace" => {
                whitespace = match v.as_str() {
                    "exact" => Whitespace::Exact,
                    "collapse" => Whitespace::Collapse,
                    _ => Whitespace::Trim,
                }
            }
            "credit" => {
                credit = match v.as_str() {
                    "all-or-nothing" => Credit::AllOrNothing,
                    "right-minus-wrong" => Credit::RightMinusWrong,
                    "every-decision" => Credit::EveryDecision,
                    _ => Credit::SumOfFractions,
                }
            }
            "template" => template = v,
            "grader info" => grader_info = v,
            _ => {}
        }
    }
    let own = id.as_ref().is_some_and(|i| !i.is_empty());
    q.id = match id {
        Some(i) if own => i,
        _ => format!("{}\u{0}{}", q.title, q.prompt),
    };
    let upper = body.to_ascii_uppercase();
    let tf_word = upper
        .split('#')
        .next()
        .map(str::trim)
        .filter(|w| ["T", "TRUE", "F", "FALSE"].contains(w));
    q.kind = if body.is_empty() {
        if missing_word {
            return Err(bad(
                line,
                "an empty answer block {} (an essay) cannot sit inside a sentence",
            ));
        }
        QuestionKind::Essay {
            template,
            grader_info,
        }
    } else if let Some(word) = tf_word {
        let answer = word.starts_with('T');
        let parts = split(body, "#");
        let wrong = parts.get(1).map(|s| unescape(s)).unwrap_or_default();
        let right = parts.get(2).map(|s| unescape(s)).unwrap_or_default();
        let (feedback_true, feedback_false) = if answer {
            (right, wrong)
        } else {
            (wrong, right)
        };
        QuestionKind::TrueFalse {
            answer,
            feedback_true,
            feedback_false,
        }
    } else if let Some(num) = body.strip_prefix('#') {
        let num = num.trim();
        let list = if num.starts_with('=') {
            answers(num, line)?
        } else {
            let (text, feedback) = match find(num, "#", 0) {
                Some(h) => (&num[..h], unescape(&num[h + 1..])),
                None => (num, String::new()),
            };
            vec![Answer {
                marker: '=',
                weight: None,
                text: text.to_owned(),
                feedback,
            }]
        };
        let mut out = Vec::new();
        for a in list {
            budget.xml_nodes(1, "the GIFT file")?;
            if a.marker != '=' {
                return Err(bad(line, "numeric answers are marked with ="));
            }
            out.push(NumericAnswer {
                value: numeric_value(&a.text, line)?,
                fraction: a.weight.unwrap_or(1.0),
                feedback: a.feedback,
            });
        }
        if missing_word {
            return Err(bad(
                line,
                "a numeric answer block cannot sit inside a sentence",
            ));
        }
        QuestionKind::Numeric { answers: out }
    } else if find(body, "->", 0).is_some() {
        let mut pairs = Vec::new();
        let mut distractors = Vec::new();
        for a in answers(body, line)? {
            budget.xml_nodes(1, "the GIFT file")?;
            let arrow = find(&a.text, "->", 0)
                .ok_or_else(|| bad(line, "each matching answer is =prompt -> answer"))?;
            let (prompt, answer) = (unescape(&a.text[..arrow]), unescape(&a.text[arrow + 2..]));
            if answer.is_empty() {
                return Err(bad(
                    line,
                    "each matching answer is =prompt -> answer, with an answer",
                ));
            }
            if prompt.is_empty() {
                distractors.push(answer);
            } else {
                pairs.push((prompt, answer));
            }
        }
        if missing_word || pairs.is_empty() {
            return Err(bad(
                line,
                "a matching question needs pairs, and no text after its block",
            ));
        }
        let ids = text_ids(pairs.iter().map(|p| p.0.as_str()));
        QuestionKind::Matching {
            pairs: pairs
                .into_iter()
                .zip(ids)
                .map(|((prompt, answer), id)| Pair { id, prompt, answer })
                .collect(),
            distractors,
        }
    } else if find(body, "~", 0).is_some() {
        let list = answers(body, line)?;
        budget.xml_nodes(list.len() as u64, "the GIFT file")?;
        let single = list.iter().any(|a| a.marker == '=');
        let parts = list
            .into_iter()
            .map(|a| {
                let f = a.weight.unwrap_or(if a.marker == '=' { 1.0 } else { 0.0 });
                (unescape(&a.text), f, a.feedback)
            })
            .collect();
        let choices = choices(parts);
        match (single, missing_word) {
            (true, false) => QuestionKind::SingleChoice { choices },
            (true, true) => QuestionKind::FillBlanks {
                gaps: vec![Gap {
                    id: "1".into(),
                    weight: 1.0,
                    kind: GapKind::Choice { choices },
                }],
            },
            (false, false) => QuestionKind::MultipleResponse { choices, credit },
            (false, true) => {
                return Err(bad(
                    line,
                    "a missing word takes one choice: mark the right one with =",
                ));
            }
        }
    } else {
        let list = answers(body, line)?;
        budget.xml_nodes(list.len() as u64, "the GIFT file")?;
        let answers: Vec<TextAnswer> = list
            .into_iter()
            .map(|a| TextAnswer {
                pattern: unescape(&a.text),
                fraction: a.weight.unwrap_or(1.0),
                feedback: a.feedback,
            })
            .collect();
        if missing_word {
            QuestionKind::FillBlanks {
                gaps: vec![Gap {
                    id: "1".into(),
                    weight: 1.0,
                    kind: GapKind::Text {
                        answers,
                        case_sensitive,
                        whitespace,
                    },
                }],
            }
        } else {
            QuestionKind::ShortAnswer {
                answers,
                case_sensitive,
                whitespace,
            }
        }
    };
    Ok((q, own))
}

/// `fraction` as a percent, by moving its decimal point (not by multiplying, which may round): [`fraction`]
/// moves it back, so every fraction reads back exactly.
fn percent(fraction: f64) -> String {
    let s = format!("{fraction}");
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = format!("{frac:0<2}");
    let int = format!("{int}{}", &frac[..2]);
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let rest = frac[2..].trim_end_matches('0');
    if rest.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{rest}")
    }
}

/// A weight written in percent as a fraction, moving the decimal point as [`percent`] does.
fn fraction(percent: &str) -> Option<f64> {
    let p = percent.trim();
    if p.contains(['e', 'E']) {
        return p.parse::<f64>().ok().map(|v| v / 100.0);
    }
    let (sign, digits) = p.strip_prefix('-').map_or(("", p), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let int = format!("{int:0>3}");
    let (whole, moved) = int.split_at(int.len() - 2);
    format!("{sign}{whole}.{moved}{frac}").parse().ok()
}

fn refuse(q: &Question, why: &str) -> Error {
    let name = if q.title.is_empty() { &q.id } else { &q.title };
    Error::invalid(
        "gift",
        format!("the question “{name}” cannot be written as GIFT: {why}"),
    )
}

/// Writes questions as GIFT, refusing (naming the question) one it cannot write so that it reads back the same.
pub fn write(questions: &[Question]) -> Result<String> {
    let mut out = String::new();
    for q in questions {
        write_one(q, &mut out)?;
        out.push('\n');
    }
    Ok(out)
}

fn checked<'t>(q: &Question, text: &'t str) -> Result<&'t str> {
    if text.trim() != text {
        return Err(refuse(
            q,
            &format!("the text {text:?} has spaces at its ends, which GIFT drops"),
        ));
    }
    Ok(text)
}

/// [`checked`], for an answer: `->` in it would make the block read as matching.
fn answer_text<'t>(q: &Question, text: &'t str) -> Result<&'t str> {
    if text.contains("->") {
        return Err(refuse(
            q,
            &format!("the answer {text:?} holds ->, which GIFT reads as matching"),
        ));
    }
    checked(q, text)
}

fn write_one(q: &Question, out: &mut String) -> Result<()> {
    let meta = |out: &mut String, k: &str, v: &str| {
        let _ = writeln!(out, "// {k}: {}", meta_escape(v));
    };
    if q.id.trim() != q.id || q.id.is_empty() {
        return Err(refuse(q, "its id is empty or has spaces at its ends"));
    }
    meta(out, "question", &q.id);
    if q.points != 1.0 {
        meta(out, "points", &format!("{}", q.points));
    }
    if !q.shuffle_choices {
        meta(out, "shuffle", "no");
    }
    for h in &q.hints {
        checked(q, h)?;
        meta(out, "hint", h);
    }
    let text_rules = |out: &mut String, case_sensitive: bool, whitespace: Whitespace| {
        if case_sensitive {
            meta(out, "case", "sensitive");
        }
        match whitespace {
            Whitespace::Trim => {}
            Whitespace::Exact => meta(out, "whitespace", "exact"),
            Whitespace::Collapse => meta(out, "whitespace", "collapse"),
        }
    };
    match &q.kind {
        QuestionKind::MultipleResponse { credit, .. } => match credit {
            Credit::SumOfFractions => {}
            Credit::AllOrNothing => meta(out, "credit", "all-or-nothing"),
            Credit::RightMinusWrong => meta(out, "credit", "right-minus-wrong"),
            Credit::EveryDecision => meta(out, "credit", "every-decision"),
        },
        QuestionKind::ShortAnswer {
            case_sensitive,
            whitespace,
            ..
        } => text_rules(out, *case_sensitive, *whitespace),
        QuestionKind::FillBlanks { gaps } => {
            if let [
                Gap {
                    kind:
                        GapKind::Text {
                            case_sensitive,
                            whitespace,
                            ..
                        },
                    ..
                },
            ] = gaps.as_slice()
            {
                text_rules(out, *case_sensitive, *whitespace);
            }
        }
        QuestionKind::Essay {
            template,
            grader_info,
        } => {
            if !template.is_empty() {
                meta(out, "template", checked(q, template)?);
            }
            if !grader_info.is_empty() {
                meta(out, "grader info", checked(q, grader_info)?);
            }
        }
        _ => {}
    }
    if !q.title.is_empty() {
        let _ = write!(out, "::{}::", escape(checked(q, &q.title)?));
    }
    out.push_str("[html]");
    let feedback = |text: &str| -> Result<String> {
        Ok(if text.is_empty() {
            String::new()
        } else {
            format!("#{}", escape(checked(q, text)?))
        })
    };
    let choice_list = |choices: &[Choice], single: bool| -> Result<String> {
        let ids = text_ids(choices.iter().map(|c| c.text.as_str()));
        let mut s = String::new();
        for (c, id) in choices.iter().zip(ids) {
            if c.id != id {
                return Err(refuse(q, "a choice's id is not made from its text"));
            }
            let marker = if single && c.fraction > 0.0 { '=' } else { '~' };
            let plain = if marker == '=' { 1.0 } else { 0.0 };
            let weight = if c.fraction == plain {
                String::new()
            } else {
                format!("%{}%", percent(c.fraction))
            };
            let _ = write!(
                s,
                " {marker}{weight}{}{}",
                escape(answer_text(q, &c.text)?),
                feedback(&c.feedback)?
            );
        }
        if single && !choices.iter().any(|c| c.fraction > 0.0) {
            return Err(refuse(
                q,
                "a single-choice question needs a choice worth something",
            ));
        }
        Ok(s)
    };
    let text_list = |answers: &[TextAnswer]| -> Result<String> {
        let mut s = String::new();
        for a in answers {
            let weight = if a.fraction == 1.0 {
                String::new()
            } else {
                format!("%{}%", percent(a.fraction))
            };
            let _ = write!(
                s,
                " ={weight}{}{}",
                escape(answer_text(q, &a.pattern)?),
                feedback(&a.feedback)?
            );
        }
        if answers.is_empty() {
            return Err(refuse(q, "it has no answers"));
        }
        Ok(s)
    };
    let prompt = checked(q, &q.prompt)?;
    let block = match &q.kind {
        QuestionKind::SingleChoice { choices } => choice_list(choices, true)?,
        QuestionKind::MultipleResponse { choices, .. } => {
            if choices.len() < 2 {
                return Err(refuse(q, "a multiple-response question needs two choices"));
            }
            choice_list(choices, false)?
        }
        QuestionKind::TrueFalse {
            answer,
            feedback_true,
            feedback_false,
        } => {
            let (right, wrong) = if *answer {
                (feedback_true, feedback_false)
            } else {
                (feedback_false, feedback_true)
            };
            let mut s = if *answer { "TRUE" } else { "FALSE" }.to_owned();
            if !right.is_empty() || !wrong.is_empty() {
                let _ = write!(
                    s,
                    "{}",
                    if wrong.is_empty() {
                        "#".to_owned()
                    } else {
                        feedback(wrong)?
                    }
                );
                let _ = write!(
                    s,
                    "{}",
                    if right.is_empty() {
                        "#".to_owned()
                    } else {
                        feedback(right)?
                    }
                );
            }
            s
        }
        QuestionKind::ShortAnswer { answers, .. } => text_list(answers)?,
        QuestionKind::Numeric { answers } => {
            let value = |v: &NumericValue| match *v {
                NumericValue::Exact {
                    value,
                    tolerance: 0.0,
                } => format!("{value}"),
                NumericValue::Exact { value, tolerance } => format!("{value}:{tolerance}"),
                NumericValue::Range { min, max } => format!("{min}..{max}"),
            };
            if let [a] = answers.as_slice()
                && a.fraction == 1.0
            {
                if let NumericValue::Exact { tolerance, .. } = a.value
                    && tolerance < 0.0
                {
                    return Err(refuse(q, "a tolerance is never negative"));
                }
                format!("#{}{}", value(&a.value), feedback(&a.feedback)?)
            } else {
                let mut s = "#".to_owned();
                for a in answers {
                    let weight = if a.fraction == 1.0 {
                        String::new()
                    } else {
                        format!("%{}%", percent(a.fraction))
                    };
                    let _ = write!(s, " ={weight}{}{}", value(&a.value), feedback(&a.feedback)?);
                }
                if answers.is_empty() {
                    return Err(refuse(q, "it has no answers"));
                }
                s
            }
        }
        QuestionKind::Matching { pairs, distractors } => {
            let ids = text_ids(pairs.iter().map(|p| p.prompt.as_str()));
            let mut s = String::new();
            for (p, id) in pairs.iter().zip(ids) {
                if p.id != id || p.prompt.contains("->") || p.prompt.is_empty() {
                    return Err(refuse(
                        q,
                        "a pair's prompt is empty, holds ->, or its id is not made from it",
                    ));
                }
                let _ = write!(
                    s,
                    " ={} -> {}",
                    escape(checked(q, &p.prompt)?),
                    escape(checked(q, &p.answer)?)
                );
            }
            for d in distractors {
                let _ = write!(s, " = -> {}", escape(checked(q, d)?));
            }
            if pairs.is_empty() {
                return Err(refuse(q, "it has no pairs"));
            }
            s
        }
        QuestionKind::Ordering { .. } => return Err(refuse(q, "GIFT has no ordering questions")),
        QuestionKind::FillBlanks { gaps } => {
            let [gap] = gaps.as_slice() else {
                return Err(refuse(
                    q,
                    "GIFT has one gap a question (use Moodle's cloze for more)",
                ));
            };
            let marker = gap_marker("1");
            let (before, after) = match (gap.id.as_str(), gap.weight, prompt.split_once(&marker)) {
                ("1", 1.0, Some(parts))
                    if !parts.1.trim().is_empty() && !parts.1.contains(&marker) =>
                {
                    parts
                }
                _ => {
                    return Err(refuse(
                        q,
                        "a missing word is gap 1 of weight 1, with text after it",
                    ));
                }
            };
            // GIFT puts the block where the gap is, with one space on each side as `parse` reads it back.
            let (before, after) = (before.trim_end(), after.trim_start());
            if format!("{before} {marker} {after}").trim() != prompt {
                return Err(refuse(q, "the gap needs one space on each side"));
            }
            let block = match &gap.kind {
                GapKind::Choice { choices } => choice_list(choices, true)?,
                GapKind::Text { answers, .. } => text_list(answers)?,
                GapKind::Numeric { .. } => {
                    return Err(refuse(q, "GIFT has no numeric missing words"));
                }
            };
            let general = if q.feedback.is_empty() {
                String::new()
            } else {
                format!("####{}", escape(checked(q, &q.feedback)?))
            };
            let _ = writeln!(
                out,
                "{} {{{block}{general}}} {}",
                escape(before),
                escape(after)
            );
            return Ok(());
        }
        QuestionKind::Essay { .. } => String::new(),
    };
    if prompt.contains(&gap_marker("1")) {
        return Err(refuse(q, "its prompt holds a gap marker"));
    }
    let general = if q.feedback.is_empty() {
        String::new()
    } else {
        format!("####{}", escape(checked(q, &q.feedback)?))
    };
    let _ = writeln!(out, "{} {{{block}{general}}}", escape(prompt));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn read(text: &str) -> Result<Vec<Question>> {
        parse(text, &Budget::new(&Limits::default()))
    }

    const SAMPLE: &str = r#"// A comment.
$CATEGORY: $course$/Geography

::Capital::What is the capital of France? {=Paris#Right. ~Lyon#No, that is Lyon. ~%-50%Berlin}

::Rivers::Which are rivers? {~%50%Rhine ~%50%Danube ~%-100%Alps####Two are rivers.}

1+1=2 \{really\} {T#No#Yes}

Grant is buried in Grant's tomb. {FALSE}

Two plus two is {=four =%50%4#Digits work too} in words.

::Half::Five halves? {#2.5:0.005}

Between five and ten? {#5..10}

Several {#=4:0 =%50%3..5#close}

Match {=cat -> meow =dog -> woof = -> moo}

Write about a time you learned something. {}

Which word? {=short*answer =%75%shortanswer}

Mahatma Gandhi's birthday is an {~Independence =Oct 2 ~New year} holiday.
"#;

    #[test]
    fn every_kind_gift_can_say_is_read() {
        let qs = read(SAMPLE).unwrap();
        let kinds: Vec<&str> = qs.iter().map(|q| q.kind_name()).collect();
        assert_eq!(
            kinds,
            [
                "multiple choice",
                "multiple response",
                "true/false",
                "true/false",
                "fill in the blanks",
                "numeric",
                "numeric",
                "numeric",
                "matching",
                "essay",
                "short answer",
                "fill in the blanks"
            ]
        );
        assert_eq!(qs[0].title, "Capital");
        assert_eq!(qs[5].title, "Half");
        assert_eq!(qs[0].prompt, "What is the capital of France?");
        let QuestionKind::SingleChoice { choices } = &qs[0].kind else {
            panic!()
        };
        assert_eq!(
            choices.iter().map(|c| c.fraction).collect::<Vec<_>>(),
            [1.0, 0.0, -0.5]
        );
        assert_eq!(choices[1].feedback, "No, that is Lyon.");
        assert_eq!(qs[1].feedback, "Two are rivers.");
        assert_eq!(qs[2].prompt, "1+1=2 {really}");
        assert_eq!(
            qs[2].kind,
            QuestionKind::TrueFalse {
                answer: true,
                feedback_true: "Yes".into(),
                feedback_false: "No".into()
            }
        );
        assert_eq!(qs[4].prompt, "Two plus two is [[1]] in words.");
        assert_eq!(
            qs[5].kind,
            QuestionKind::Numeric {
                answers: vec![NumericAnswer {
                    value: NumericValue::Exact {
                        value: 2.5,
                        tolerance: 0.005
                    },
                    fraction: 1.0,
                    feedback: String::new()
                }]
            }
        );
        let QuestionKind::Numeric { answers } = &qs[7].kind else {
            panic!()
        };
        assert_eq!(answers[1].value, NumericValue::Range { min: 3.0, max: 5.0 });
        assert_eq!(answers[1].fraction, 0.5);
        let QuestionKind::Matching { pairs, distractors } = &qs[8].kind else {
            panic!()
        };
        assert_eq!(
            (pairs[1].prompt.as_str(), pairs[1].answer.as_str()),
            ("dog", "woof")
        );
        assert_eq!(distractors, &["moo"]);
        assert_eq!(
            qs[11].prompt,
            "Mahatma Gandhi's birthday is an [[1]] holiday."
        );
        assert_ne!(qs[0].id, qs[1].id);
        assert_eq!(qs, read(SAMPLE).unwrap(), "ids are stable");
    }

    #[test]
    fn what_gift_writes_reads_back_the_same() {
        let mut qs = read(SAMPLE).unwrap();
        qs[0].points = 2.5;
        qs[0].shuffle_choices = false;
        qs[0].hints = vec![
            "Think of the Eiffel tower.".into(),
            "Two\nlines\nand a \\".into(),
        ];
        if let QuestionKind::MultipleResponse { credit, .. } = &mut qs[1].kind {
            *credit = Credit::RightMinusWrong;
        }
        if let QuestionKind::ShortAnswer {
            case_sensitive,
            whitespace,
            answers,
        } = &mut qs[10].kind
        {
            *case_sensitive = true;
            *whitespace = Whitespace::Collapse;
            answers[1].fraction = 1.0 / 3.0;
        }
        if let QuestionKind::Essay { template, .. } = &mut qs[9].kind {
            *template = "<p>Once, I…</p>\n<p>Then: {x} #1 ~ = \\</p>".into();
        }
        qs[3].id = "gift-kept".into();
        let written = write(&qs).unwrap();
        assert_eq!(read(&written).unwrap(), qs, "{written}");
        // And again: writing what was read writes the same text.
        assert_eq!(write(&read(&written).unwrap()).unwrap(), written);
    }

    #[test]
    fn what_gift_cannot_say_is_refused_by_name() {
        let ordering = Question::new("o", "Order", QuestionKind::Ordering { items: Vec::new() });
        let e = write(&[ordering]).unwrap_err().to_string();
        assert!(e.contains("“o”") && e.contains("ordering"), "{e}");
        let mut padded = read("Q {T}").unwrap().remove(0);
        padded.prompt = " Q".into();
        assert!(
            write(&[padded])
                .unwrap_err()
                .to_string()
                .contains("spaces at its ends")
        );
        let mut arrow = read("Q {=a ~b}").unwrap().remove(0);
        arrow.kind = QuestionKind::ShortAnswer {
            answers: vec![TextAnswer {
                pattern: "a->b".into(),
                fraction: 1.0,
                feedback: String::new(),
            }],
            case_sensitive: false,
            whitespace: Whitespace::Trim,
        };
        assert!(write(&[arrow]).unwrap_err().to_string().contains("->"));
    }

    #[test]
    fn bad_gift_is_refused_with_its_line() {
        for (text, line, words) in [
            ("// c\n\nQ1 {T}\n\nQ2 {=a ~b", 5, "not closed"),
            ("Q1 {T}\n\n\nNo block here", 4, "no answer block"),
            ("::Title without end {T}", 1, "title"),
            ("Q {=a ~%abc%b}", 1, "not a number"),
            ("Q {=a ~%150%b}", 1, "between -100 and 100"),
            ("Q {#abc}", 1, "\"abc\" is not a number"),
            ("Q {#10..5}", 1, "empty"),
            ("Q {a}", 1, "must start with"),
            ("Q {=a -> }", 1, "matching"),
            ("Q {T} and {F}", 1, "one answer block"),
            ("It is {} here", 1, "essay"),
            ("Q {~a ~b} more", 1, "missing word"),
            ("// points: lots\nQ {T}", 2, "points"),
        ] {
            let text = text.replace("\\n", "\n");
            let e = read(&text).unwrap_err();
            assert_eq!(e.code(), "invalid_input");
            let m = e.to_string();
            assert!(
                m.contains(&format!("line {line}:")) && m.contains(words),
                "{text:?}: {m}"
            );
        }
    }

    #[test]
    fn percents_move_the_decimal_point_both_ways() {
        for f in [
            1.0 / 3.0,
            0.5,
            -0.25,
            1.0,
            0.0,
            0.05,
            0.123456789,
            -1.0,
            1e-7,
        ] {
            assert_eq!(fraction(&percent(f)), Some(f), "{f} as {}", percent(f));
        }
        assert_eq!(percent(0.5), "50");
        assert_eq!(percent(-0.333), "-33.3");
        assert_eq!(fraction("33.33333"), Some(0.3333333));
        assert_eq!(fraction("x"), None);
    }

    #[test]
    fn unescape_and_escape_are_inverse() {
        let s = "a ~ b = c # d { e } f : g \\ h\nnext";
        assert_eq!(unescape(&escape(s)), s);
    }
}
