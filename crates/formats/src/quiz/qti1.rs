//! IMS QTI 1.2 as Common Cartridge profiles it (`cc.multiple_choice.v0p1`, `cc.multiple_response.v0p1`,
//! `cc.true_false.v0p1`, `cc.fib.v0p1`, `cc.pattern_match.v0p1`, `cc.essay.v0p1`) and as Canvas extends it
//! (`question_type` metadata: matching, numerical, dropdowns, several blanks…, in `non_cc_assessments/`).
//!
//! QTI 1.2 says what is right only through its response processing: conditions on the response
//! (`varequal`, `varsubstring`, `vargte`…) that set or add to `SCORE`. Each kind reads the conditions it can
//! expect and turns them into fractions of the item's maximum (`decvar maxvalue`, 100 by default). An item of a
//! kind it does not read (Canvas's formula and file-upload questions, an unknown profile) is listed as
//! unsupported with its title.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::import::{Listed, attr, children, elem, html_of_text, named};
use super::{
    Credit, DrawGroup, Gap, GapKind, NumericAnswer, NumericValue, Pair, Question, QuestionKind,
    Quiz, TextAnswer, Whitespace, choices, gap_marker, text_ids,
};
use crate::{Result, Source};

/// Conditions nest (`and`, `or`, `not`); deeper than this is not a real item.
const MAX_DEPTH: usize = 16;

/// Reads the QTI 1.2 file `path` of `source`: an assessment as a quiz, or an object bank (Canvas's question
/// banks) as a quiz of its questions. `None` when the file holds neither (listed).
pub fn read(source: &Source, path: &str, listed: &mut Listed) -> Result<Option<(Quiz, bool)>> {
    let text = source.read_text(path)?;
    let doc = source.parse_xml(&text, path)?;
    Ok(from_doc(&doc, path, listed))
}

/// The quiz of a parsed QTI 1.2 document, and whether it is a question bank rather than an assessment.
pub fn from_doc(doc: &Document<'_>, path: &str, listed: &mut Listed) -> Option<(Quiz, bool)> {
    let root = doc.root_element();
    let (top, bank) = if let Some(a) = elem(root, "assessment") {
        (a, false)
    } else if let Some(b) = elem(root, "objectbank") {
        (b, true)
    } else {
        listed.push(format!("{path}: no assessment or question bank in it"));
        return None;
    };
    let meta = metadata(top);
    let title = attr(top, "title")
        .or_else(|| meta.get("bank_title").cloned())
        .unwrap_or_else(|| "Quiz".to_owned());
    let mut questions = Vec::new();
    let mut groups = Vec::new();
    collect(top, &title, 0, &mut questions, &mut groups, listed);
    let mut quiz = Quiz::new(title, questions);
    quiz.groups = groups;
    quiz.max_attempts = meta
        .get("cc_maxattempts")
        .and_then(|m| m.parse::<u32>().ok());
    Some((quiz, bank))
}

/// The `qtimetadatafield`s directly under `n`'s `qtimetadata` (or its `itemmetadata`'s).
fn metadata(n: Node<'_, '_>) -> HashMap<String, String> {
    let holder = elem(n, "itemmetadata").unwrap_or(n);
    elem(holder, "qtimetadata")
        .into_iter()
        .flat_map(|m| children(m, "qtimetadatafield"))
        .filter_map(|f| {
            Some((
                named(f, "fieldlabel")?,
                named(f, "fieldentry").unwrap_or_default(),
            ))
        })
        .collect()
}

/// Items of `n` and of its sections, in order. A Canvas question group that draws fewer than it holds
/// (`selection_ordering`) becomes a [`DrawGroup`] of its questions, worth its `points_per_item` each.
fn collect(
    n: Node<'_, '_>,
    quiz: &str,
    depth: usize,
    out: &mut Vec<Question>,
    groups: &mut Vec<DrawGroup>,
    listed: &mut Listed,
) {
    if depth > MAX_DEPTH {
        listed.push(format!("“{quiz}”: sections nest too deep"));
        return;
    }
    for c in n.children().filter(Node::is_element) {
        match c.tag_name().name() {
            "section" => {
                let items = c
                    .descendants()
                    .filter(|d| d.tag_name().name() == "item")
                    .count();
                let selection = elem(c, "selection_ordering");
                let found = |name: &str| {
                    selection
                        .and_then(|o| o.descendants().find(|d| d.tag_name().name() == name))
                        .and_then(|s| s.text())
                        .map(str::trim)
                };
                let draws = found("selection_number").and_then(|s| s.parse::<usize>().ok());
                let points = found("points_per_item")
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|p| p.is_finite() && *p > 0.0);
                if items == 0
                    && c.descendants()
                        .any(|d| d.tag_name().name() == "sourcebank_ref")
                {
                    listed.push(format!(
                        "“{quiz}”: the question group “{}” draws from a question bank that is not in the package",
                        attr(c, "title").unwrap_or_default()
                    ));
                }
                let first = out.len();
                collect(c, quiz, depth + 1, out, groups, listed);
                if let Some(points) = points {
                    out[first..].iter_mut().for_each(|q| q.points = points);
                }
                let held = out.len() - first;
                if let Some(draw) = draws.filter(|d| *d > 0 && *d < held) {
                    groups.push(DrawGroup {
                        title: attr(c, "title").unwrap_or_default(),
                        questions: out[first..].iter().map(|q| q.id.clone()).collect(),
                        draw,
                    });
                }
            }
            "item" => match item(c) {
                Ok(q) => out.push(q),
                Err(why) => listed.push(format!(
                    "“{quiz}”: the question “{}” ({why}) is not imported",
                    attr(c, "title")
                        .or_else(|| attr(c, "ident"))
                        .unwrap_or_default()
                )),
            },
            _ => {}
        }
    }
}

/// A condition of the response processing, as far as grading needs it.
#[derive(Debug)]
enum Cond {
    /// `varequal respident=… case=…`: the response is (or includes) this value.
    Equal {
        resp: String,
        value: String,
        case: bool,
    },
    Substring {
        value: String,
        case: bool,
    },
    /// `vargte`/`vargt` (min) and `varlte`/`varlt` (max).
    Min(f64),
    Max(f64),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// Values that must not be there: right answers never come from them.
    Not,
    Other,
}

fn condition(n: Node<'_, '_>, depth: usize) -> Cond {
    if depth > MAX_DEPTH {
        return Cond::Other;
    }
    let resp = attr(n, "respident").unwrap_or_default();
    let value = n.text().unwrap_or("").trim().to_owned();
    let case = attr(n, "case").is_some_and(|c| c.eq_ignore_ascii_case("yes"));
    let kids = || {
        n.children()
            .filter(Node::is_element)
            .map(|c| condition(c, depth + 1))
            .collect::<Vec<_>>()
    };
    match n.tag_name().name() {
        "varequal" => Cond::Equal { resp, value, case },
        "varsubstring" => Cond::Substring { value, case },
        "vargte" | "vargt" => value.parse().map_or(Cond::Other, Cond::Min),
        "varlte" | "varlt" => value.parse().map_or(Cond::Other, Cond::Max),
        "and" | "conditionvar" => Cond::And(kids()),
        "or" => Cond::Or(kids()),
        "not" => Cond::Not,
        _ => Cond::Other,
    }
}

impl Cond {
    /// The values this condition asks to be there (not under a `not`), with their response and case.
    fn positives<'c>(&'c self, out: &mut Vec<&'c Cond>) {
        match self {
            Cond::Equal { .. } | Cond::Substring { .. } => out.push(self),
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.positives(out)),
            _ => {}
        }
    }

    fn bounds(&self, min: &mut Option<f64>, max: &mut Option<f64>) {
        match self {
            Cond::Min(v) => *min = Some(*v),
            Cond::Max(v) => *max = Some(*v),
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.bounds(min, max)),
            _ => {}
        }
    }
}

/// One `respcondition`: its condition, the score it sets or adds (as a fraction of the maximum), and the
/// feedback it shows.
struct Rule {
    cond: Cond,
    score: Option<f64>,
    feedback: Vec<String>,
}

fn rules(item: Node<'_, '_>) -> (Vec<Rule>, f64) {
    let Some(rp) = elem(item, "resprocessing") else {
        return (Vec::new(), 100.0);
    };
    let max = elem(rp, "outcomes")
        .and_then(|o| elem(o, "decvar"))
        .and_then(|d| attr(d, "maxvalue"))
        .and_then(|m| m.parse::<f64>().ok())
        .filter(|m| *m > 0.0)
        .unwrap_or(100.0);
    let rules = children(rp, "respcondition")
        .map(|rc| Rule {
            cond: elem(rc, "conditionvar").map_or(Cond::Other, |c| condition(c, 0)),
            score: children(rc, "setvar")
                .filter(|s| attr(*s, "varname").is_none_or(|v| v.eq_ignore_ascii_case("SCORE")))
                .filter_map(|s| s.text()?.trim().parse::<f64>().ok())
                .next()
                .map(|s| s / max),
            feedback: children(rc, "displayfeedback")
                .filter_map(|d| attr(d, "linkrefid"))
                .collect(),
        })
        .collect();
    (rules, max)
}

/// The text of a `material`'s `mattext` (HTML-ish; plain text escaped).
fn material(n: Node<'_, '_>) -> String {
    let Some(m) = n.descendants().find(|d| d.tag_name().name() == "mattext") else {
        return String::new();
    };
    let text = m.text().unwrap_or("").trim();
    if attr(m, "texttype").is_some_and(|t| t.contains("html")) {
        text.to_owned()
    } else {
        html_of_text(text)
    }
}

/// A response's labels: (ident, text).
fn labels(resp: Node<'_, '_>) -> Vec<(String, String)> {
    resp.descendants()
        .filter(|d| d.tag_name().name() == "response_label")
        .map(|l| (attr(l, "ident").unwrap_or_default(), material(l)))
        .collect()
}

const GENERAL: [&str; 3] = ["general_fb", "correct_fb", "general_incorrect_fb"];

fn item(item: Node<'_, '_>) -> std::result::Result<Question, String> {
    let meta = metadata(item);
    let profile = meta
        .get("question_type")
        .or_else(|| meta.get("cc_profile"))
        .cloned()
        .unwrap_or_default();
    let presentation = elem(item, "presentation").ok_or("it has no presentation")?;
    let prompt = elem(presentation, "material")
        .map(material)
        .unwrap_or_default();
    let responses: Vec<Node> = presentation
        .descendants()
        .filter(|d| {
            matches!(
                d.tag_name().name(),
                "response_lid" | "response_str" | "response_num"
            )
        })
        .collect();
    let (rules, _) = rules(item);
    let feedbacks: HashMap<String, String> = children(item, "itemfeedback")
        .filter_map(|f| Some((attr(f, "ident")?, material(f))))
        .collect();
    let fb = |ids: &[String]| -> String {
        ids.iter()
            .filter(|i| !GENERAL.contains(&i.as_str()))
            .filter_map(|i| feedbacks.get(i))
            .find(|t| !t.is_empty())
            .cloned()
            .unwrap_or_default()
    };
    // A choice's fraction: the best score of a rule whose positive values name it; its feedback: the rule that
    // names it alone.
    let choice_parts = |resp: &str, labels: &[(String, String)]| -> Vec<(String, f64, String)> {
        labels
            .iter()
            .map(|(ident, text)| {
                let mut fraction: f64 = 0.0;
                let mut feedback = String::new();
                for r in &rules {
                    let mut pos = Vec::new();
                    r.cond.positives(&mut pos);
                    let names = pos.iter().any(|c| matches!(c, Cond::Equal { resp: r2, value, .. } if r2 == resp && value == ident));
                    if names && let Some(s) = r.score {
                        fraction = fraction.max(s);
                    }
                    if names && pos.len() == 1 && feedback.is_empty() {
                        feedback = fb(&r.feedback);
                    }
                }
                (text.clone(), fraction, feedback)
            })
            .collect()
    };
    let first = responses.first().copied();
    let resp_id = first.and_then(|r| attr(r, "ident")).unwrap_or_default();
    let kind_of = |p: &str| -> &'static str {
        match p {
            "cc.multiple_choice.v0p1" | "multiple_choice_question" => "single",
            "cc.true_false.v0p1" | "true_false_question" => "tf",
            "cc.multiple_response.v0p1" | "multiple_answers_question" => "multiple",
            "cc.fib.v0p1" | "short_answer_question" => "text",
            "cc.pattern_match.v0p1" => "text",
            "cc.essay.v0p1" | "essay_question" => "essay",
            "numerical_question" => "numeric",
            "multiple_dropdowns_question" => "dropdowns",
            "fill_in_multiple_blanks_question" => "blanks",
            "matching_question" => "matching",
            "calculated_question" => "unsupported: a formula question",
            "file_upload_question" => "unsupported: a file upload",
            "text_only_question" => "unsupported: text only, no answer",
            "" => match first.map(|r| (r.tag_name().name(), attr(r, "rcardinality"))) {
                Some(("response_lid", Some(c))) if c.eq_ignore_ascii_case("multiple") => "multiple",
                Some(("response_lid", _)) => "single",
                Some(("response_str", _))
                    if rules.iter().any(|r| r.score.is_some_and(|s| s > 0.0)) =>
                {
                    "text"
                }
                Some(("response_str", _)) => "essay",
                _ => "unsupported: no response it can read",
            },
            _ => "unknown",
        }
    };
    let canvas = meta.contains_key("question_type");
    let kind = match kind_of(&profile) {
        "single" | "tf" => {
            let labels = first.map(labels).unwrap_or_default();
            let parts = choice_parts(&resp_id, &labels);
            let is_tf = parts.len() == 2
                && parts[0].0.eq_ignore_ascii_case("true")
                && parts[1].0.eq_ignore_ascii_case("false");
            if is_tf {
                QuestionKind::TrueFalse {
                    answer: parts[0].1 > parts[1].1,
                    feedback_true: parts[0].2.clone(),
                    feedback_false: parts[1].2.clone(),
                }
            } else {
                QuestionKind::SingleChoice {
                    choices: choices(parts),
                }
            }
        }
        "multiple" => {
            let labels = first.map(labels).unwrap_or_default();
            let mut parts = choice_parts(&resp_id, &labels);
            let right = parts.iter().filter(|p| p.1 > 0.0).count().max(1) as f64;
            for p in &mut parts {
                p.1 = if p.1 > 0.0 { 1.0 / right } else { 0.0 };
            }
            QuestionKind::MultipleResponse {
                choices: choices(parts),
                credit: if canvas {
                    Credit::RightMinusWrong
                } else {
                    Credit::AllOrNothing
                },
            }
        }
        "text" => QuestionKind::ShortAnswer {
            case_sensitive: rules.iter().any(|r| {
                let mut pos = Vec::new();
                r.cond.positives(&mut pos);
                pos.iter().any(|c| {
                    matches!(
                        c,
                        Cond::Equal { case: true, .. } | Cond::Substring { case: true, .. }
                    )
                })
            }),
            answers: text_answers(&rules, &fb),
            whitespace: Whitespace::Trim,
        },
        "essay" => QuestionKind::Essay {
            template: String::new(),
            grader_info: String::new(),
        },
        "numeric" => {
            let mut answers = Vec::new();
            for r in rules.iter().filter(|r| r.score.is_some_and(|s| s > 0.0)) {
                let (mut min, mut max) = (None, None);
                r.cond.bounds(&mut min, &mut max);
                let mut pos = Vec::new();
                r.cond.positives(&mut pos);
                let exact = pos.iter().find_map(|c| match c {
                    Cond::Equal { value, .. } => value.parse::<f64>().ok(),
                    _ => None,
                });
                let value = match (min, max, exact) {
                    (Some(min), Some(max), _) if min <= max => NumericValue::Range { min, max },
                    (_, _, Some(value)) => NumericValue::Exact {
                        value,
                        tolerance: 0.0,
                    },
                    _ => continue,
                };
                answers.push(NumericAnswer {
                    value,
                    fraction: r.score.unwrap_or(0.0).min(1.0),
                    feedback: fb(&r.feedback),
                });
            }
            QuestionKind::Numeric { answers }
        }
        "dropdowns" | "blanks" => {
            let mut gaps = Vec::new();
            let mut prompt_gaps = prompt.clone();
            for r in &responses {
                let ident = attr(*r, "ident").unwrap_or_default();
                let name = elem(*r, "material")
                    .and_then(|m| m.descendants().find(|d| d.tag_name().name() == "mattext"))
                    .and_then(|m| m.text())
                    .map(|t| t.trim().to_owned())
                    .unwrap_or_else(|| ident.trim_start_matches("response_").to_owned());
                let labels = labels(*r);
                let parts = choice_parts(&ident, &labels);
                let weight = parts.iter().map(|p| p.1).fold(0.0, f64::max);
                let kind = if kind_of(&profile) == "dropdowns" {
                    GapKind::Choice {
                        choices: choices(parts),
                    }
                } else {
                    // Canvas lists every accepted answer of a blank as a label.
                    GapKind::Text {
                        answers: labels
                            .iter()
                            .map(|(_, t)| TextAnswer {
                                pattern: super::import::literal_pattern(
                                    &super::import::text_of_html(t),
                                ),
                                fraction: 1.0,
                                feedback: String::new(),
                            })
                            .collect(),
                        case_sensitive: false,
                        whitespace: Whitespace::Trim,
                    }
                };
                prompt_gaps = prompt_gaps.replace(&format!("[{name}]"), &gap_marker(&name));
                gaps.push(Gap {
                    id: name,
                    weight: if weight > 0.0 { weight } else { 1.0 },
                    kind,
                });
            }
            if gaps.is_empty() {
                return Err("it has no blanks".into());
            }
            return Ok(finish(
                item,
                &meta,
                prompt_gaps,
                QuestionKind::FillBlanks { gaps },
                &feedbacks,
            ));
        }
        "matching" => {
            let mut pairs = Vec::new();
            let mut used = Vec::new();
            let mut all: Vec<String> = Vec::new();
            for r in &responses {
                let ident = attr(*r, "ident").unwrap_or_default();
                let labels = labels(*r);
                for (_, t) in &labels {
                    if !all.contains(t) {
                        all.push(t.clone());
                    }
                }
                let parts = choice_parts(&ident, &labels);
                let Some(answer) = parts.iter().find(|p| p.1 > 0.0).map(|p| p.0.clone()) else {
                    return Err("a prompt has no right answer".into());
                };
                used.push(answer.clone());
                pairs.push((
                    elem(*r, "material").map(material).unwrap_or_default(),
                    answer,
                ));
            }
            let ids = text_ids(pairs.iter().map(|p| p.0.as_str()));
            QuestionKind::Matching {
                pairs: pairs
                    .into_iter()
                    .zip(ids)
                    .map(|((prompt, answer), id)| Pair { id, prompt, answer })
                    .collect(),
                distractors: all.into_iter().filter(|a| !used.contains(a)).collect(),
            }
        }
        "unknown" => return Err(format!("the kind {profile} is not one SmartCourse reads")),
        other => return Err(other.trim_start_matches("unsupported: ").to_owned()),
    };
    Ok(finish(item, &meta, prompt, kind, &feedbacks))
}

fn text_answers(rules: &[Rule], fb: &dyn Fn(&[String]) -> String) -> Vec<TextAnswer> {
    let mut out: Vec<TextAnswer> = Vec::new();
    for r in rules {
        let Some(score) = r.score.filter(|s| *s > 0.0) else {
            continue;
        };
        let mut pos = Vec::new();
        r.cond.positives(&mut pos);
        for c in pos {
            let pattern = match c {
                Cond::Equal { value, .. } => super::import::literal_pattern(value),
                Cond::Substring { value, .. } => {
                    format!("*{}*", super::import::literal_pattern(value))
                }
                _ => continue,
            };
            match out.iter_mut().find(|a| a.pattern == pattern) {
                Some(a) => a.fraction = a.fraction.max(score.min(1.0)),
                None => out.push(TextAnswer {
                    pattern,
                    fraction: score.min(1.0),
                    feedback: fb(&r.feedback),
                }),
            }
        }
    }
    out
}

fn finish(
    item: Node<'_, '_>,
    meta: &HashMap<String, String>,
    prompt: String,
    kind: QuestionKind,
    feedbacks: &HashMap<String, String>,
) -> Question {
    let mut q = Question::new(attr(item, "ident").unwrap_or_default(), prompt, kind);
    q.title = attr(item, "title").unwrap_or_default();
    q.points = meta
        .get("points_possible")
        .or_else(|| meta.get("cc_weighting"))
        .and_then(|p| p.parse::<f64>().ok())
        .filter(|p| p.is_finite() && *p >= 0.0)
        .unwrap_or(1.0);
    q.feedback = feedbacks.get("general_fb").cloned().unwrap_or_default();
    q.shuffle_choices = true;
    q
}
