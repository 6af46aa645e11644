//! A question's answers as the teacher's form writes them, one per line, and back: accepted texts, numbers
//! (`42`, `3.14 ± 0.01`, `1..2`), matching pairs (`left = right`), items in their right order, and a
//! fill-in question's blanks (`a | b`, a drop-down's right choice marked `=`).
//!
//! Reading keeps what the lines cannot show: the feedback of an answer whose text is unchanged, a partly right
//! answer's share, and the answers that score nothing but carry feedback (Moodle's "anything else" `*`),
//! which stay after the accepted ones so they still match last.

use smartcourse_formats::quiz::{
    Choice, Gap, GapKind, Item, NumericAnswer, NumericValue, Pair, TextAnswer, Whitespace,
    gap_marker, text_id, text_ids,
};

use crate::error::{Error, Result};

/// At most this many lines (answers, pairs, items, blanks).
const MAX_LINES: usize = 50;
/// At most this many characters in one line.
const MAX_LINE: usize = 1_000;

/// The lines of `text`, trimmed, without empty ones: 1 to [`MAX_LINES`], each at most [`MAX_LINE`]
/// characters (422 on `field`).
fn lines(text: &str, field: &'static str, what: &str) -> Result<Vec<String>> {
    let out: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if out.is_empty() {
        return Err(Error::invalid(field, format!("write at least one {what}")));
    }
    if out.len() > MAX_LINES {
        return Err(Error::invalid(field, format!("at most {MAX_LINES} lines")));
    }
    if let Some(n) = out.iter().position(|l| l.chars().count() > MAX_LINE) {
        return Err(Error::invalid(
            field,
            format!("line {} is longer than {MAX_LINE} characters", n + 1),
        ));
    }
    Ok(out)
}

/// 422 on `field` when two of `texts` are the same.
fn distinct<'a>(texts: impl IntoIterator<Item = &'a str>, field: &'static str) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for t in texts {
        if !seen.insert(t) {
            return Err(Error::invalid(field, format!("“{t}” is written twice")));
        }
    }
    Ok(())
}

/// Accepted texts, one per line, as answers: an unchanged one keeps its share and feedback, a new one is
/// fully right; `old`'s answers worth nothing follow.
pub fn text_answers(text: &str, old: &[TextAnswer]) -> Result<Vec<TextAnswer>> {
    let lines = lines(text, "answers", "accepted answer")?;
    distinct(lines.iter().map(String::as_str), "answers")?;
    let mut out: Vec<TextAnswer> = lines
        .into_iter()
        .map(|pattern| {
            let kept = old
                .iter()
                .find(|a| a.pattern == pattern && a.fraction > 0.0);
            TextAnswer {
                fraction: kept.map_or(1.0, |a| a.fraction),
                feedback: kept.map(|a| a.feedback.clone()).unwrap_or_default(),
                pattern,
            }
        })
        .collect();
    let wrong: Vec<TextAnswer> = old
        .iter()
        .filter(|a| a.fraction <= 0.0 && !out.iter().any(|n| n.pattern == a.pattern))
        .cloned()
        .collect();
    out.extend(wrong);
    Ok(out)
}

/// The accepted texts, one per line (what [`text_answers`] reads).
pub fn text_lines(answers: &[TextAnswer]) -> String {
    let right: Vec<&str> = answers
        .iter()
        .filter(|a| a.fraction > 0.0)
        .map(|a| a.pattern.as_str())
        .collect();
    right.join("\n")
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A number line: `42`, `3.14 ± 0.01` (or `+-`), or a range `1..2`.
fn numeric_value(line: &str) -> Option<NumericValue> {
    if let Some((min, max)) = line.split_once("..") {
        let (min, max) = (number(min)?, number(max)?);
        return (min <= max).then_some(NumericValue::Range { min, max });
    }
    let (value, tolerance) = match line.split_once('±').or_else(|| line.split_once("+-")) {
        Some((v, t)) => (number(v)?, number(t)?),
        None => (number(line)?, 0.0),
    };
    (tolerance >= 0.0).then_some(NumericValue::Exact { value, tolerance })
}

/// Accepted numbers, one per line, read by [`numeric_value`] (422 on `answers` naming the line it cannot
/// read); shares and feedback kept as [`text_answers`] keeps them.
pub fn numeric_answers(text: &str, old: &[NumericAnswer]) -> Result<Vec<NumericAnswer>> {
    numbers_in(&lines(text, "answers", "accepted number")?, old, "answers")
}

fn numbers_in(
    lines: &[String],
    old: &[NumericAnswer],
    field: &'static str,
) -> Result<Vec<NumericAnswer>> {
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let value = numeric_value(line).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "line {}: “{line}” is not a number (42), a number with a margin (3.14 ± 0.01) or a range (1..2)",
                    n + 1
                ),
            )
        })?;
        let kept = old.iter().find(|a| a.value == value && a.fraction > 0.0);
        out.push(NumericAnswer {
            value,
            fraction: kept.map_or(1.0, |a| a.fraction),
            feedback: kept.map(|a| a.feedback.clone()).unwrap_or_default(),
        });
    }
    let wrong: Vec<NumericAnswer> = old
        .iter()
        .filter(|a| a.fraction <= 0.0 && !out.iter().any(|n| n.value == a.value))
        .cloned()
        .collect();
    out.extend(wrong);
    Ok(out)
}

fn numeric_line(v: &NumericValue) -> String {
    match *v {
        NumericValue::Exact {
            value,
            tolerance: 0.0,
        } => value.to_string(),
        NumericValue::Exact { value, tolerance } => format!("{value} ± {tolerance}"),
        NumericValue::Range { min, max } => format!("{min}..{max}"),
    }
}

/// The accepted numbers, one per line (what [`numeric_answers`] reads).
pub fn numeric_lines(answers: &[NumericAnswer]) -> String {
    let right: Vec<String> = answers
        .iter()
        .filter(|a| a.fraction > 0.0)
        .map(|a| numeric_line(&a.value))
        .collect();
    right.join("\n")
}

/// Pairs, one per line as `left = right`; a line `= right` alone is a wrong answer offered among the
/// others. At least two pairs, each left side once (422 on `answers`).
pub fn pairs(text: &str) -> Result<(Vec<Pair>, Vec<String>)> {
    let (mut pairs, mut distractors) = (Vec::new(), Vec::new());
    for (n, line) in lines(text, "answers", "pair")?.iter().enumerate() {
        let Some((left, right)) = line.split_once('=') else {
            return Err(Error::invalid(
                "answers",
                format!("line {}: write a pair as “left = right”", n + 1),
            ));
        };
        let (left, right) = (left.trim(), right.trim());
        if right.is_empty() {
            return Err(Error::invalid(
                "answers",
                format!("line {}: the right side is empty", n + 1),
            ));
        }
        if left.is_empty() {
            distractors.push(right.to_owned());
        } else {
            pairs.push((left.to_owned(), right.to_owned()));
        }
    }
    if pairs.len() < 2 {
        return Err(Error::invalid(
            "answers",
            "a matching question has at least two pairs",
        ));
    }
    distinct(pairs.iter().map(|p| p.0.as_str()), "answers")?;
    let pairs = pairs
        .into_iter()
        .map(|(prompt, answer)| Pair {
            id: text_id(&prompt),
            prompt,
            answer,
        })
        .collect();
    Ok((pairs, distractors))
}

/// The pairs and the wrong answers, one per line (what [`pairs`] reads).
pub fn pair_lines(pairs: &[Pair], distractors: &[String]) -> String {
    let lines: Vec<String> = pairs
        .iter()
        .map(|p| format!("{} = {}", p.prompt, p.answer))
        .chain(distractors.iter().map(|d| format!("= {d}")))
        .collect();
    lines.join("\n")
}

/// Items in their right order, one per line: at least two, each once (422 on `answers`).
pub fn items(text: &str) -> Result<Vec<Item>> {
    let lines = lines(text, "answers", "item")?;
    if lines.len() < 2 {
        return Err(Error::invalid(
            "answers",
            "an ordering question has at least two items",
        ));
    }
    distinct(lines.iter().map(String::as_str), "answers")?;
    Ok(lines
        .into_iter()
        .map(|text| Item {
            id: text_id(&text),
            text,
        })
        .collect())
}

/// The items in their right order, one per line.
pub fn item_lines(items: &[Item]) -> String {
    let lines: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    lines.join("\n")
}

/// The gap ids a fill-in prompt marks (`[[id]]`), in order, each once.
pub fn gap_ids(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = prompt;
    while let Some(i) = rest.find("[[") {
        let after = &rest[i + 2..];
        let Some(end) = after.find("]]") else { break };
        // As written: the page finds a blank by its exact marker.
        let id = &after[..end];
        if !id.trim().is_empty() && !id.contains('[') && !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
        rest = &after[end + 2..];
    }
    out
}

/// The gaps of a fill-in question whose prompt is `prompt`: one line per blank the prompt marks, in order,
/// its answers separated by `|`. A blank the question had keeps its kind and weight (a drop-down's right
/// choices start with `=`; a number blank takes numbers as [`numeric_answers`] does); a new one is a text
/// blank worth as much as the others. 422 on `prompt` when it marks no blank, on `answers` when the lines
/// and the blanks do not pair up or a line cannot be read.
pub fn gaps(prompt: &str, text: &str, old: &[Gap]) -> Result<Vec<Gap>> {
    let ids = gap_ids(prompt);
    if ids.is_empty() {
        return Err(Error::invalid(
            "prompt",
            "mark each blank in the question's text as [[1]], [[2]], …",
        ));
    }
    let lines = lines(text, "answers", "line of answers per blank")?;
    if lines.len() != ids.len() {
        return Err(Error::invalid(
            "answers",
            format!(
                "the question has {} blank(s) and {} line(s) of answers: write one line per blank",
                ids.len(),
                lines.len()
            ),
        ));
    }
    let mut out = Vec::new();
    for (n, (id, line)) in ids.into_iter().zip(lines).enumerate() {
        let before = old.iter().find(|g| g.id == id);
        let parts: Vec<String> = line
            .split('|')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let at = |m: &str| {
            Error::invalid(
                "answers",
                format!("blank {} ({}): {m}", n + 1, gap_marker(&id)),
            )
        };
        if parts.is_empty() {
            return Err(at("write its accepted answers"));
        }
        let kind = match before.map(|g| &g.kind) {
            Some(GapKind::Choice { choices }) => {
                let rows: Vec<(String, bool)> = parts
                    .iter()
                    .map(|p| match p.strip_prefix('=') {
                        Some(right) => (right.trim().to_owned(), true),
                        None => (p.clone(), false),
                    })
                    .collect();
                if rows.len() < 2 || !rows.iter().any(|r| r.1) {
                    return Err(at(
                        "a drop-down has at least two choices, the right one starting with =",
                    ));
                }
                distinct(rows.iter().map(|r| r.0.as_str()), "answers")?;
                let ids = text_ids(rows.iter().map(|r| r.0.as_str()));
                GapKind::Choice {
                    choices: rows
                        .into_iter()
                        .zip(ids)
                        .map(|((text, right), id)| Choice {
                            id,
                            fraction: if right { 1.0 } else { 0.0 },
                            feedback: choices
                                .iter()
                                .find(|c| c.text == text)
                                .map(|c| c.feedback.clone())
                                .unwrap_or_default(),
                            text,
                        })
                        .collect(),
                }
            }
            Some(GapKind::Numeric { answers }) => GapKind::Numeric {
                answers: numbers_in(&parts, answers, "answers")
                    .map_err(|_| at("write numbers (42, 3.14 ± 0.01, 1..2) separated by |"))?,
            },
            Some(GapKind::Text {
                answers,
                case_sensitive,
                whitespace,
            }) => GapKind::Text {
                answers: text_answers(&parts.join("\n"), answers)?,
                case_sensitive: *case_sensitive,
                whitespace: *whitespace,
            },
            None => GapKind::Text {
                answers: text_answers(&parts.join("\n"), &[])?,
                case_sensitive: false,
                whitespace: Whitespace::default(),
            },
        };
        out.push(Gap {
            id,
            weight: before.map_or(1.0, |g| g.weight),
            kind,
        });
    }
    Ok(out)
}

/// One line per blank, as [`gaps`] reads them.
pub fn gap_lines(gaps: &[Gap]) -> String {
    let lines: Vec<String> = gaps
        .iter()
        .map(|g| match &g.kind {
            GapKind::Text { answers, .. } => text_lines(answers).replace('\n', " | "),
            GapKind::Numeric { answers } => numeric_lines(answers).replace('\n', " | "),
            GapKind::Choice { choices } => {
                let parts: Vec<String> = choices
                    .iter()
                    .map(|c| {
                        if c.fraction > 0.0 {
                            format!("={}", c.text)
                        } else {
                            c.text.clone()
                        }
                    })
                    .collect();
                parts.join(" | ")
            }
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: Error) -> String {
        match e {
            Error::Invalid { field, .. } => field.into_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn texts_keep_shares_and_feedback_and_wrong_answers_stay_last() {
        let old = vec![
            TextAnswer {
                pattern: "Paris".into(),
                fraction: 0.5,
                feedback: "close".into(),
            },
            TextAnswer {
                pattern: "*".into(),
                fraction: 0.0,
                feedback: "no".into(),
            },
        ];
        assert_eq!(text_lines(&old), "Paris");
        let new = text_answers(" Lutetia\n\nParis \n", &old).unwrap();
        let got: Vec<(&str, f64, &str)> = new
            .iter()
            .map(|a| (a.pattern.as_str(), a.fraction, a.feedback.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Lutetia", 1.0, ""),
                ("Paris", 0.5, "close"),
                ("*", 0.0, "no")
            ]
        );
        assert_eq!(field(text_answers(" \n ", &old).unwrap_err()), "answers");
        assert_eq!(field(text_answers("a\na", &old).unwrap_err()), "answers");
    }

    #[test]
    fn numbers_read_values_margins_and_ranges_and_write_them_back() {
        let got = numeric_answers("42\n3.25 ± 0.01\n2 +- 1\n-1..2.5", &[]).unwrap();
        let values: Vec<NumericValue> = got.iter().map(|a| a.value).collect();
        assert_eq!(
            values,
            [
                NumericValue::Exact {
                    value: 42.0,
                    tolerance: 0.0
                },
                NumericValue::Exact {
                    value: 3.25,
                    tolerance: 0.01
                },
                NumericValue::Exact {
                    value: 2.0,
                    tolerance: 1.0
                },
                NumericValue::Range {
                    min: -1.0,
                    max: 2.5
                },
            ]
        );
        let back = numeric_lines(&got);
        assert_eq!(back, "42\n3.25 ± 0.01\n2 ± 1\n-1..2.5");
        assert_eq!(numeric_answers(&back, &got).unwrap(), got);
        for bad in ["forty", "2..1", "1 ± -1", "NaN", "inf"] {
            assert_eq!(
                field(numeric_answers(bad, &[]).unwrap_err()),
                "answers",
                "{bad}"
            );
        }
    }

    #[test]
    fn pairs_and_items_need_two_and_no_repeats() {
        let (p, d) = pairs("France = Paris\nSpain=Madrid\n= Rome").unwrap();
        assert_eq!(p[1].prompt, "Spain");
        assert_eq!(p[1].answer, "Madrid");
        assert_eq!(p[0].id, text_id("France"));
        assert_eq!(d, ["Rome"]);
        assert_eq!(pair_lines(&p, &d), "France = Paris\nSpain = Madrid\n= Rome");
        for bad in [
            "France = Paris",
            "France Paris\nSpain = Madrid",
            "a = b\na = c",
            "a = \nb = c",
        ] {
            assert_eq!(field(pairs(bad).unwrap_err()), "answers", "{bad}");
        }
        let i = items("one\ntwo\nthree").unwrap();
        assert_eq!(item_lines(&i), "one\ntwo\nthree");
        assert!(items("one").is_err() && items("a\na").is_err());
    }

    #[test]
    fn blanks_follow_the_prompt_and_keep_their_kind() {
        let old = vec![Gap {
            id: "c".into(),
            weight: 2.0,
            kind: GapKind::Choice {
                choices: smartcourse_formats::quiz::choices(vec![
                    ("red".into(), 1.0, String::new()),
                    ("blue".into(), 0.0, String::new()),
                ]),
            },
        }];
        assert_eq!(gap_lines(&old), "=red | blue");
        let prompt = "Roses are [[c]], the sky is [[sky]], again [[c]].";
        assert_eq!(gap_ids(prompt), ["c", "sky"]);
        assert_eq!(gap_ids("[[ a ]] [[]] [[b"), [" a "]);
        let new = gaps(prompt, "red | =blue | green\nblue | azure", &old).unwrap();
        assert_eq!(new[0].weight, 2.0);
        let GapKind::Choice { choices } = &new[0].kind else {
            panic!()
        };
        assert_eq!(choices.iter().filter(|c| c.fraction > 0.0).count(), 1);
        assert_eq!(choices[1].text, "blue");
        assert!(matches!(&new[1].kind, GapKind::Text { answers, .. } if answers.len() == 2));
        assert_eq!(gap_lines(&new), "red | =blue | green\nblue | azure");
        assert_eq!(field(gaps("No blank", "a", &old).unwrap_err()), "prompt");
        assert_eq!(
            field(gaps(prompt, "=red | blue", &old).unwrap_err()),
            "answers"
        );
        assert_eq!(
            field(gaps(prompt, "red | blue\nx", &old).unwrap_err()),
            "answers"
        );
    }
}
