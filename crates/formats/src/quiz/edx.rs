//! Open edX problems (CAPA XML): multiple choice (`multiplechoiceresponse`), checkboxes (`choiceresponse`),
//! drop-downs (`optionresponse`), text input (`stringresponse`) and numerical input (`numericalresponse`, with
//! a tolerance or a range). A problem with several response parts, or with custom-graded, formula, drag and
//! drop or JavaScript responses, is listed as unsupported.
//!
//! [`problem`] reads one problem (the course reader calls it for each problem of a unit); [`read`] reads the
//! problems of a library export (`library.xml`) as a question bank, or every problem of a course export.

use roxmltree::Node;

use super::import::{Imported, attr, children, elem, inner_html, literal_pattern, text_of_html};
use super::{
    Credit, NumericAnswer, NumericValue, Question, QuestionKind, Quiz, TextAnswer, Whitespace,
    choices,
};
use crate::{Result, Source};

const RESPONSES: [&str; 5] = [
    "multiplechoiceresponse",
    "choiceresponse",
    "optionresponse",
    "stringresponse",
    "numericalresponse",
];

/// Response types Open edX has that SmartCourse does not grade.
const UNSUPPORTED: [&str; 12] = [
    "customresponse",
    "formularesponse",
    "imageresponse",
    "jsinput",
    "schematicresponse",
    "symbolicresponse",
    "coderesponse",
    "externalresponse",
    "annotationresponse",
    "choicetextresponse",
    "truefalseresponse",
    "drag_and_drop_input",
];

/// A library's problems as a bank, or a course export's problems (all of `problem/`) as one.
pub fn read(source: &Source, out: &mut Imported) -> Result<()> {
    let (title, names): (String, Vec<String>) = if source.contains("library.xml") {
        let text = source.read_text("library.xml")?;
        let doc = source.parse_xml(&text, "library.xml")?;
        let root = doc.root_element();
        (
            attr(root, "display_name").unwrap_or_else(|| "Problem bank".to_owned()),
            children(root, "problem")
                .filter_map(|p| attr(p, "url_name"))
                .collect(),
        )
    } else {
        (
            "Problems".to_owned(),
            source
                .files()
                .into_iter()
                .filter_map(|f| {
                    f.strip_prefix("problem/")?
                        .strip_suffix(".xml")
                        .map(str::to_owned)
                })
                .collect(),
        )
    };
    let mut questions = Vec::new();
    for name in names {
        let path = format!("problem/{name}.xml");
        let text = match source.budget().soft(source.read_text(&path))? {
            Ok(t) => t,
            Err(e) => {
                out.unsupported.push(e.to_string());
                continue;
            }
        };
        match source.budget().soft(source.parse_xml(&text, &path))? {
            Ok(doc) => match problem(doc.root_element(), &name) {
                Ok(q) => questions.push(q),
                Err(why) => out.unsupported.push(format!(
                    "the problem “{}” ({why}) is not imported",
                    attr(doc.root_element(), "display_name").unwrap_or(name)
                )),
            },
            Err(e) => out.unsupported.push(e.to_string()),
        }
    }
    if !questions.is_empty() {
        out.banks.push(Quiz::new(title, questions));
    }
    Ok(())
}

/// A problem as a question; the reason in words when it cannot be one.
pub fn problem(root: Node<'_, '_>, id: &str) -> std::result::Result<Question, String> {
    if let Some(u) = root
        .descendants()
        .find(|n| UNSUPPORTED.contains(&n.tag_name().name()))
    {
        return Err(format!(
            "a {} part, graded by Open edX itself",
            u.tag_name().name()
        ));
    }
    let parts: Vec<Node> = root
        .descendants()
        .filter(|n| RESPONSES.contains(&n.tag_name().name()))
        .collect();
    let response = match parts.as_slice() {
        [one] => *one,
        [] => return Err("no answer to give".into()),
        _ => return Err(format!("{} parts in one problem", parts.len())),
    };
    let mut hints = Vec::new();
    let mut solution = String::new();
    let prompt = inner_html(root, 0, &mut |n| match n.tag_name().name() {
        "solution" => {
            solution = inner_html(n, 0, &mut |_| None).trim().to_owned();
            Some(String::new())
        }
        "demandhint" => {
            hints.extend(
                children(n, "hint").map(|h| inner_html(h, 0, &mut |_| None).trim().to_owned()),
            );
            Some(String::new())
        }
        name if RESPONSES.contains(&name) => Some(inner_html(n, 0, &mut |c| {
            matches!(
                c.tag_name().name(),
                "choicegroup"
                    | "checkboxgroup"
                    | "optioninput"
                    | "textline"
                    | "formulaequationinput"
                    | "responseparam"
                    | "additional_answer"
                    | "correcthint"
                    | "stringequalhint"
                    | "solution"
            )
            .then(String::new)
        })),
        _ => None,
    })
    .trim()
    .to_owned();
    let html = |n: Node<'_, '_>| {
        inner_html(n, 0, &mut |c| {
            matches!(c.tag_name().name(), "choicehint" | "optionhint").then(String::new)
        })
        .trim()
        .to_owned()
    };
    let hint_of = |n: Node<'_, '_>, tag: &str| {
        n.children()
            .find(|c| c.tag_name().name() == tag)
            .map(|h| inner_html(h, 0, &mut |_| None).trim().to_owned())
            .unwrap_or_default()
    };
    let correct =
        |n: Node<'_, '_>| attr(n, "correct").is_some_and(|c| c.eq_ignore_ascii_case("true"));
    let kind = match response.tag_name().name() {
        "multiplechoiceresponse" => QuestionKind::SingleChoice {
            choices: choices(
                response
                    .descendants()
                    .filter(|n| n.tag_name().name() == "choice")
                    .map(|c| (html(c), f64::from(correct(c)), hint_of(c, "choicehint")))
                    .collect(),
            ),
        },
        "choiceresponse" => {
            let list: Vec<Node> = response
                .descendants()
                .filter(|n| n.tag_name().name() == "choice")
                .collect();
            let right = list.iter().filter(|c| correct(**c)).count().max(1) as f64;
            let credit = match attr(response, "partial_credit").as_deref() {
                Some(p) if p.contains("EDC") => Credit::EveryDecision,
                Some(p) if !p.trim().is_empty() => {
                    return Err(format!("the partial credit rule {p}"));
                }
                _ => Credit::AllOrNothing,
            };
            QuestionKind::MultipleResponse {
                choices: choices(
                    list.iter()
                        .map(|c| {
                            let f = if correct(*c) { 1.0 / right } else { 0.0 };
                            (html(*c), f, String::new())
                        })
                        .collect(),
                ),
                credit,
            }
        }
        "optionresponse" => {
            let input = elem(response, "optioninput").ok_or("no drop-down in it")?;
            let options: Vec<Node> = children(input, "option").collect();
            let parts: Vec<(String, f64, String)> = if options.is_empty() {
                // The old form: options="('a','b')" correct="a".
                let right = attr(input, "correct").unwrap_or_default();
                attr(input, "options")
                    .unwrap_or_default()
                    .trim_matches(|c| c == '(' || c == ')')
                    .split(',')
                    .map(|o| o.trim().trim_matches('\'').to_owned())
                    .filter(|o| !o.is_empty())
                    .map(|o| {
                        let f = f64::from(o == right);
                        (o, f, String::new())
                    })
                    .collect()
            } else {
                options
                    .iter()
                    .map(|o| (html(*o), f64::from(correct(*o)), hint_of(*o, "optionhint")))
                    .collect()
            };
            QuestionKind::SingleChoice {
                choices: choices(parts),
            }
        }
        "stringresponse" => {
            let kind = attr(response, "type").unwrap_or_default();
            if kind.contains("regexp") {
                return Err("a regular-expression answer".into());
            }
            let mut answers = vec![TextAnswer {
                pattern: literal_pattern(&attr(response, "answer").unwrap_or_default()),
                fraction: 1.0,
                feedback: hint_of(response, "correcthint"),
            }];
            for a in children(response, "additional_answer") {
                let text = attr(a, "answer").unwrap_or_else(|| text_of_html(&html(a)));
                answers.push(TextAnswer {
                    pattern: literal_pattern(&text),
                    fraction: 1.0,
                    feedback: hint_of(a, "correcthint"),
                });
            }
            QuestionKind::ShortAnswer {
                answers,
                case_sensitive: !kind.contains("ci"),
                whitespace: Whitespace::Trim,
            }
        }
        _ => {
            let answer = attr(response, "answer").unwrap_or_default();
            let answer = answer.trim();
            let value = if answer.starts_with(['[', '(']) {
                let inner = answer.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')'));
                let (a, b) = inner.split_once(',').ok_or("a range without two ends")?;
                let (min, max) = (number(a)?, number(b)?);
                NumericValue::Range { min, max }
            } else {
                let value = number(answer)?;
                let tolerance = children(response, "responseparam")
                    .find(|p| attr(*p, "type").as_deref() == Some("tolerance"))
                    .and_then(|p| attr(p, "default"))
                    .map(|t| match t.trim().strip_suffix('%') {
                        Some(pct) => number(pct).map(|p| value.abs() * p / 100.0),
                        None => number(&t),
                    })
                    .transpose()?
                    .unwrap_or(0.0);
                NumericValue::Exact {
                    value,
                    tolerance: tolerance.abs(),
                }
            };
            QuestionKind::Numeric {
                answers: vec![NumericAnswer {
                    value,
                    fraction: 1.0,
                    feedback: String::new(),
                }],
            }
        }
    };
    let mut q = Question::new(id, prompt, kind);
    q.title = attr(root, "display_name").unwrap_or_default();
    q.points = attr(root, "weight")
        .and_then(|w| w.parse::<f64>().ok())
        .filter(|w| w.is_finite() && *w >= 0.0)
        .unwrap_or(1.0);
    q.feedback = solution;
    q.hints = hints;
    q.shuffle_choices = response
        .descendants()
        .any(|n| attr(n, "shuffle").as_deref() == Some("true"));
    Ok(q)
}

fn number(s: &str) -> std::result::Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("the answer {:?} is not a number", s.trim()))
}
