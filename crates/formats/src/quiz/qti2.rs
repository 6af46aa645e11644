//! IMS QTI 2.1 and 2.2 content packages: an `assessmentTest` naming its items (`assessmentItemRef`), or loose
//! `assessmentItem`s.
//!
//! An item is read when its interactions are ones SmartCourse has: one `choiceInteraction` (single or multiple
//! choice, true/false), one `extendedTextInteraction` (essay), or `inlineChoiceInteraction`s and
//! `textEntryInteraction`s in the text (gaps). Its scoring must be a standard template (`match_correct`,
//! `map_response`) or the same rule written out per response (`match` of the response with its correct value);
//! adaptive items and other response processing are listed as unsupported, as are other interactions.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::import::{Imported, Listed, attr, children, elem, inner_html, literal_pattern};
use super::{
    Credit, Gap, GapKind, Question, QuestionKind, Quiz, TextAnswer, Whitespace, choices, gap_marker,
};
use crate::{Result, Source};

/// The tests of a content package (else its loose items, as one quiz).
pub fn read_package(source: &Source, out: &mut Imported) -> Result<()> {
    let mut tests = Vec::new();
    let mut items = Vec::new();
    for path in source.files().into_iter().filter(|f| f.ends_with(".xml")) {
        if path == "imsmanifest.xml" {
            continue;
        }
        let Ok(text) = source.budget().soft(source.read_text(&path))? else {
            continue;
        };
        if text.contains("<assessmentTest") {
            tests.push((path, text));
        } else if text.contains("<assessmentItem") {
            items.push(path);
        }
    }
    if tests.is_empty() && !items.is_empty() {
        let mut questions = Vec::new();
        for path in &items {
            if let Some(q) = item_file(source, path, path, &mut out.unsupported)? {
                questions.push(q);
            }
        }
        out.quizzes.push(Quiz::new("Questions", questions));
    }
    for (path, text) in tests {
        let doc = source.parse_xml(&text, &path)?;
        out.quizzes
            .push(test(source, &doc, &path, &mut out.unsupported)?);
    }
    Ok(())
}

fn test(source: &Source, doc: &Document<'_>, path: &str, listed: &mut Listed) -> Result<Quiz> {
    let root = doc.root_element();
    let title = attr(root, "title").unwrap_or_else(|| "Test".to_owned());
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let mut questions = Vec::new();
    for r in root
        .descendants()
        .filter(|d| d.tag_name().name() == "assessmentItemRef")
    {
        let Some(href) = attr(r, "href") else {
            continue;
        };
        let full = if dir.is_empty() {
            href.clone()
        } else {
            format!("{dir}/{href}")
        };
        let id = attr(r, "identifier").unwrap_or_else(|| href.clone());
        if let Some(q) = item_file(source, &full, &id, listed)? {
            questions.push(q);
        }
    }
    let mut quiz = Quiz::new(title, questions);
    quiz.shuffle_questions = root.descendants().any(|d| {
        d.tag_name().name() == "ordering" && attr(d, "shuffle").as_deref() == Some("true")
    });
    Ok(quiz)
}

fn item_file(
    source: &Source,
    path: &str,
    id: &str,
    listed: &mut Listed,
) -> Result<Option<Question>> {
    let text = match source.budget().soft(source.read_text(path))? {
        Ok(t) => t,
        Err(e) => {
            listed.push(format!("the question {id}: {e}"));
            return Ok(None);
        }
    };
    let doc = match source.budget().soft(source.parse_xml(&text, path))? {
        Ok(d) => d,
        Err(e) => {
            listed.push(format!("the question {id}: {e}"));
            return Ok(None);
        }
    };
    let root = doc.root_element();
    match item(root, id) {
        Ok(q) => Ok(Some(q)),
        Err(why) => {
            listed.push(format!(
                "the question “{}” ({why}) is not imported",
                attr(root, "title").unwrap_or_else(|| id.to_owned())
            ));
            Ok(None)
        }
    }
}

/// A response declaration: its cardinality, correct values and mapping.
struct Declared {
    multiple: bool,
    correct: Vec<String>,
    mapping: HashMap<String, f64>,
    default: f64,
    upper: Option<f64>,
}

fn declarations(root: Node<'_, '_>) -> HashMap<String, Declared> {
    children(root, "responseDeclaration")
        .filter_map(|d| {
            let values = |n: Option<Node>| -> Vec<String> {
                n.into_iter()
                    .flat_map(|c| children(c, "value"))
                    .filter_map(|v| Some(v.text()?.trim().to_owned()))
                    .collect()
            };
            let mapping = elem(d, "mapping");
            Some((
                attr(d, "identifier")?,
                Declared {
                    multiple: attr(d, "cardinality").is_some_and(|c| c != "single"),
                    correct: values(elem(d, "correctResponse")),
                    mapping: mapping
                        .into_iter()
                        .flat_map(|m| children(m, "mapEntry"))
                        .filter_map(|e| {
                            Some((attr(e, "mapKey")?, attr(e, "mappedValue")?.parse().ok()?))
                        })
                        .collect(),
                    default: mapping
                        .and_then(|m| attr(m, "defaultValue"))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0),
                    upper: mapping
                        .and_then(|m| attr(m, "upperBound"))
                        .and_then(|v| v.parse().ok()),
                },
            ))
        })
        .collect()
}

/// How the item scores: by mapping, or by matching the correct response (per response when written out).
#[derive(PartialEq)]
enum Scoring {
    Match,
    Map,
}

fn scoring(root: Node<'_, '_>) -> std::result::Result<Scoring, String> {
    if attr(root, "adaptive").as_deref() == Some("true") {
        return Err("an adaptive item, scored in steps".into());
    }
    let Some(rp) = elem(root, "responseProcessing") else {
        return Ok(Scoring::Match);
    };
    if let Some(t) = attr(rp, "template") {
        return if t.ends_with("match_correct") {
            Ok(Scoring::Match)
        } else if t.ends_with("map_response") {
            Ok(Scoring::Map)
        } else {
            Err(format!(
                "its scoring template {t} is not one SmartCourse has"
            ))
        };
    }
    // Written out: each condition must be `match(variable X, correct X)` setting the score.
    let per_response = children(rp, "responseCondition").all(|c| {
        c.descendants().any(|d| d.tag_name().name() == "match")
            && c.descendants().any(|d| d.tag_name().name() == "correct")
    });
    if per_response {
        Ok(Scoring::Match)
    } else {
        Err("its response processing is written for it".into())
    }
}

fn item(root: Node<'_, '_>, id: &str) -> std::result::Result<Question, String> {
    let scoring = scoring(root)?;
    let declared = declarations(root);
    let body = elem(root, "itemBody").ok_or("it has no body")?;
    let interactions: Vec<Node> = body
        .descendants()
        .filter(|d| d.tag_name().name().ends_with("Interaction"))
        .collect();
    let inline = |n: &Node| {
        matches!(
            n.tag_name().name(),
            "inlineChoiceInteraction" | "textEntryInteraction"
        )
    };
    if let Some(other) = interactions.iter().find(|n| {
        !inline(n)
            && !matches!(
                n.tag_name().name(),
                "choiceInteraction" | "extendedTextInteraction"
            )
    }) {
        return Err(format!(
            "a {} is not an interaction SmartCourse has",
            other.tag_name().name()
        ));
    }
    let blocks = interactions.iter().filter(|n| !inline(n)).count();
    if blocks > 1 || blocks == 1 && interactions.len() > 1 {
        return Err("several interactions in one item".into());
    }
    if interactions.is_empty() {
        return Err("no interaction".into());
    }
    let prompt = inner_html(body, 0, &mut |n| match n.tag_name().name() {
        "choiceInteraction" | "extendedTextInteraction" => Some(
            elem(n, "prompt")
                .map(|p| inner_html(p, 0, &mut |_| None))
                .unwrap_or_default(),
        ),
        "inlineChoiceInteraction" | "textEntryInteraction" => Some(gap_marker(
            &attr(n, "responseIdentifier").unwrap_or_default(),
        )),
        "feedbackInline" | "feedbackBlock" | "modalFeedback" | "rubricBlock" => Some(String::new()),
        _ => None,
    })
    .trim()
    .to_owned();
    let resp = |n: &Node| -> std::result::Result<&Declared, String> {
        let rid = attr(*n, "responseIdentifier").unwrap_or_default();
        declared
            .get(&rid)
            .ok_or_else(|| format!("its response {rid} is not declared"))
    };
    // A choice's fraction: by the mapping (of its upper bound, or of the best total), or 1 when correct.
    let fraction = |d: &Declared, key: &str| -> f64 {
        if scoring == Scoring::Map && !d.mapping.is_empty() {
            let best: f64 = d.mapping.values().filter(|v| **v > 0.0).sum();
            let of = d.upper.filter(|u| *u > 0.0).unwrap_or(best.max(1.0));
            d.mapping.get(key).copied().unwrap_or(d.default) / of
        } else {
            f64::from(d.correct.iter().any(|c| c == key))
        }
    };
    let first = interactions[0];
    let kind = match first.tag_name().name() {
        "extendedTextInteraction" => QuestionKind::Essay {
            template: String::new(),
            grader_info: String::new(),
        },
        "choiceInteraction" => {
            let d = resp(&first)?;
            let parts: Vec<(String, f64, String)> = children(first, "simpleChoice")
                .map(|c| {
                    let key = attr(c, "identifier").unwrap_or_default();
                    let text = inner_html(c, 0, &mut |n| {
                        matches!(n.tag_name().name(), "feedbackInline").then(String::new)
                    });
                    (text.trim().to_owned(), fraction(d, &key), String::new())
                })
                .collect();
            let tf = parts.len() == 2
                && parts[0].0.eq_ignore_ascii_case("true")
                && parts[1].0.eq_ignore_ascii_case("false");
            if d.multiple {
                let mut parts = parts;
                let credit = if scoring == Scoring::Map {
                    Credit::SumOfFractions
                } else {
                    let right = parts.iter().filter(|p| p.1 > 0.0).count().max(1) as f64;
                    parts
                        .iter_mut()
                        .for_each(|p| p.1 = if p.1 > 0.0 { 1.0 / right } else { 0.0 });
                    Credit::AllOrNothing
                };
                QuestionKind::MultipleResponse {
                    choices: choices(parts),
                    credit,
                }
            } else if tf {
                QuestionKind::TrueFalse {
                    answer: parts[0].1 > parts[1].1,
                    feedback_true: String::new(),
                    feedback_false: String::new(),
                }
            } else {
                QuestionKind::SingleChoice {
                    choices: choices(parts),
                }
            }
        }
        _ => {
            let mut gaps = Vec::new();
            for n in &interactions {
                let d = resp(n)?;
                let gid = attr(*n, "responseIdentifier").unwrap_or_default();
                let kind = if n.tag_name().name() == "inlineChoiceInteraction" {
                    GapKind::Choice {
                        choices: choices(
                            children(*n, "inlineChoice")
                                .map(|c| {
                                    let key = attr(c, "identifier").unwrap_or_default();
                                    let text = inner_html(c, 0, &mut |_| None).trim().to_owned();
                                    (text, fraction(d, &key), String::new())
                                })
                                .collect(),
                        ),
                    }
                } else {
                    let mut answers: Vec<TextAnswer> = d
                        .correct
                        .iter()
                        .map(|c| TextAnswer {
                            pattern: literal_pattern(c),
                            fraction: 1.0,
                            feedback: String::new(),
                        })
                        .collect();
                    if scoring == Scoring::Map {
                        let mut keys: Vec<&String> = d.mapping.keys().collect();
                        keys.sort();
                        for k in keys {
                            if !d.correct.contains(k) {
                                answers.push(TextAnswer {
                                    pattern: literal_pattern(k),
                                    fraction: fraction(d, k).clamp(0.0, 1.0),
                                    feedback: String::new(),
                                });
                            }
                        }
                    }
                    GapKind::Text {
                        answers,
                        case_sensitive: true,
                        whitespace: Whitespace::Trim,
                    }
                };
                gaps.push(Gap {
                    id: gid,
                    weight: 1.0,
                    kind,
                });
            }
            QuestionKind::FillBlanks { gaps }
        }
    };
    let mut q = Question::new(id, prompt, kind);
    q.title = attr(root, "title").unwrap_or_default();
    q.shuffle_choices = interactions
        .iter()
        .any(|i| attr(*i, "shuffle").as_deref() == Some("true"));
    q.points = root
        .children()
        .filter(|c| c.tag_name().name() == "outcomeDeclaration")
        .find(|o| attr(*o, "identifier").as_deref() == Some("SCORE"))
        .and_then(|o| attr(o, "normalMaximum"))
        .and_then(|m| m.parse::<f64>().ok())
        .filter(|m| m.is_finite() && *m > 0.0)
        .unwrap_or(1.0);
    Ok(q)
}
