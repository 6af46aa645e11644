//! Moodle backups: `questions.xml` (question categories, which are question banks; since Moodle 4.0 each
//! question a bank entry with versions, the latest taken) and each quiz activity's `quiz.xml`, whose slots
//! name questions (a bank entry, or before 4.0 a question id) with their marks.
//!
//! Read: multiple choice (one or several answers), true/false, short answer, numerical, matching, essay,
//! select missing words (`gapselect`) and embedded answers (cloze, `multianswer`). Drag and drop, calculated
//! and random questions, descriptions and other plugins are listed as unsupported.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::import::{Imported, Listed, attr, children, elem, text_of_html};
use super::{
    Gap, GapKind, NumericAnswer, NumericValue, Pair, PassRule, Question, QuestionKind, Quiz,
    TextAnswer, Whitespace, choices, gap_marker, text_ids,
};
use crate::{Result, Source};

/// Moodle writes `$@NULL@$` for a null column.
fn value(n: Node<'_, '_>, name: &str) -> Option<String> {
    let v = elem(n, name)?.text()?.trim().to_owned();
    (!v.is_empty() && v != "$@NULL@$").then_some(v)
}

fn number(n: Node<'_, '_>, name: &str) -> Option<f64> {
    value(n, name)?.parse().ok().filter(|v: &f64| v.is_finite())
}

/// The questions of a backup, by bank entry id (4.x) and by question id.
struct Bank<'a, 'i> {
    by_entry: HashMap<String, Node<'a, 'i>>,
    by_id: HashMap<String, Node<'a, 'i>>,
}

/// Reads a backup's question banks and quizzes into `out`.
pub fn read(source: &Source, out: &mut Imported) -> Result<()> {
    let quizzes = read_quizzes(source, true, out)?;
    out.quizzes.extend(quizzes.into_iter().map(|(_, q)| q));
    Ok(())
}

/// The backup's quiz activities, each with its activity directory (`activities/quiz_12`), in the backup's
/// order; what cannot be imported goes to `out.unsupported`. With `banks`, the question banks are read into
/// `out.banks` as well (the course reader, which makes lessons of quizzes only, leaves them).
pub fn read_quizzes(
    source: &Source,
    with_banks: bool,
    out: &mut Imported,
) -> Result<Vec<(String, Quiz)>> {
    let text: String = source
        .budget()
        .soft(source.read_text("questions.xml"))?
        .unwrap_or_default();
    let doc = if text.is_empty() {
        None
    } else {
        Some(source.parse_xml(&text, "questions.xml")?)
    };
    let mut bank = Bank {
        by_entry: HashMap::new(),
        by_id: HashMap::new(),
    };
    if let Some(doc) = &doc {
        if with_banks {
            banks(doc, &mut bank, out);
        } else {
            index(doc, &mut bank);
        }
    }
    let mut backup = String::new();
    let manifest = {
        backup.push_str(&source.read_text("moodle_backup.xml")?);
        source.parse_xml(&backup, "moodle_backup.xml")?
    };
    let mut found = Vec::new();
    for a in manifest.descendants().filter(|n| {
        n.tag_name().name() == "activity" && value(*n, "modulename").as_deref() == Some("quiz")
    }) {
        let Some(dir) = value(a, "directory") else {
            continue;
        };
        let path = format!("{dir}/quiz.xml");
        let Ok(text) = source.budget().soft(source.read_text(&path))? else {
            out.unsupported
                .push(format!("{path} is missing from the backup"));
            continue;
        };
        let qdoc = source.parse_xml(&text, &path)?;
        if let Some(mut quiz) = quiz(&qdoc, &bank, &mut out.unsupported) {
            // The pass grade lives in the gradebook's item for the quiz, beside quiz.xml.
            let grades = format!("{dir}/grades.xml");
            if let Ok(text) = source.budget().soft(source.read_text(&grades))? {
                let gdoc = source.parse_xml(&text, &grades)?;
                if let Some(percent) = pass_percent(&qdoc, &gdoc) {
                    quiz.pass = PassRule::Score { percent };
                }
            }
            found.push((dir, quiz));
        }
    }
    Ok(found)
}

/// Every question of the backup by bank entry (the latest version) and by id, without converting any.
fn index<'a, 'i>(doc: &'a Document<'i>, bank: &mut Bank<'a, 'i>) {
    for q in doc
        .descendants()
        .filter(|n| n.tag_name().name() == "question")
    {
        if let Some(id) = attr(q, "id") {
            bank.by_id.insert(id, q);
        }
    }
    for entry in doc
        .descendants()
        .filter(|n| n.tag_name().name() == "question_bank_entry")
    {
        let latest = entry
            .descendants()
            .filter(|n| n.tag_name().name() == "question_versions")
            .max_by_key(|v| number(*v, "version").unwrap_or(0.0) as i64)
            .and_then(|v| v.descendants().find(|n| n.tag_name().name() == "question"));
        if let (Some(id), Some(q)) = (attr(entry, "id"), latest) {
            bank.by_entry.insert(id, q);
        }
    }
}

fn banks<'a, 'i>(doc: &'a Document<'i>, bank: &mut Bank<'a, 'i>, out: &mut Imported) {
    for q in doc
        .descendants()
        .filter(|n| n.tag_name().name() == "question")
    {
        if let Some(id) = attr(q, "id") {
            bank.by_id.insert(id, q);
        }
    }
    for cat in children(doc.root_element(), "question_category") {
        let name = value(cat, "name").unwrap_or_else(|| "Question bank".to_owned());
        let mut nodes = Vec::new();
        if let Some(entries) = elem(cat, "question_bank_entries") {
            for entry in children(entries, "question_bank_entry") {
                let latest = entry
                    .descendants()
                    .filter(|n| n.tag_name().name() == "question_versions")
                    .max_by_key(|v| number(*v, "version").unwrap_or(0.0) as i64)
                    .and_then(|v| v.descendants().find(|n| n.tag_name().name() == "question"));
                if let (Some(id), Some(q)) = (attr(entry, "id"), latest) {
                    bank.by_entry.insert(id, q);
                    nodes.push(q);
                }
            }
        }
        if let Some(qs) = elem(cat, "questions") {
            nodes.extend(children(qs, "question"));
        }
        let mut questions = Vec::new();
        for q in nodes {
            if value(q, "parent").is_some_and(|p| p != "0") {
                continue; // a cloze question's part
            }
            if let Some(q) = convert(q, bank, &name, &mut out.unsupported) {
                questions.push(q);
            }
        }
        if !questions.is_empty() {
            out.banks.push(Quiz::new(name, questions));
        }
    }
}

fn quiz(doc: &Document<'_>, bank: &Bank<'_, '_>, listed: &mut Listed) -> Option<Quiz> {
    let node = doc.descendants().find(|n| n.tag_name().name() == "quiz")?;
    let title = value(node, "name").unwrap_or_else(|| "Quiz".to_owned());
    let mut slots: Vec<(i64, Question)> = Vec::new();
    for inst in node
        .descendants()
        .filter(|n| n.tag_name().name() == "question_instance")
    {
        let slot = number(inst, "slot").unwrap_or(0.0) as i64;
        let found = elem(inst, "question_reference")
            .and_then(|r| value(r, "questionbankentryid"))
            .and_then(|e| bank.by_entry.get(&e))
            .or_else(|| value(inst, "questionid").and_then(|id| bank.by_id.get(&id)));
        let Some(q) = found else {
            if elem(inst, "question_set_reference").is_some() {
                listed.push(format!(
                    "“{title}”: slot {slot} is a random question from a category; not imported"
                ));
            } else {
                listed.push(format!(
                    "“{title}”: the question of slot {slot} is not in the backup"
                ));
            }
            continue;
        };
        if let Some(mut q) = convert(*q, bank, &title, listed) {
            if let Some(mark) = number(inst, "maxmark") {
                q.points = mark;
            }
            slots.push((slot, q));
        }
    }
    slots.sort_by_key(|(s, _)| *s);
    let mut quiz = Quiz::new(title, slots.into_iter().map(|(_, q)| q).collect());
    quiz.intro = value(node, "intro").unwrap_or_default();
    quiz.max_attempts = number(node, "attempts_number")
        .filter(|a| *a > 0.0)
        .map(|a| a as u32);
    quiz.shuffle_questions = node
        .descendants()
        .any(|n| n.tag_name().name() == "shufflequestions" && n.text() == Some("1"));
    Some(quiz)
}

/// The quiz's pass grade as a share of its grade, in percent: the quiz's grade item's `gradepass` over the
/// quiz's `grade` (its maximum, which the item's `grademax` repeats). `None` when Moodle sets none (0).
fn pass_percent(quiz: &Document<'_>, grades: &Document<'_>) -> Option<f64> {
    let item = grades.descendants().find(|n| {
        n.tag_name().name() == "grade_item"
            && value(*n, "itemmodule").as_deref() == Some("quiz")
            && value(*n, "itemnumber").as_deref().is_none_or(|i| i == "0")
    })?;
    let pass = number(item, "gradepass").filter(|p| *p > 0.0)?;
    let max = quiz
        .descendants()
        .find(|n| n.tag_name().name() == "quiz")
        .and_then(|q| number(q, "grade"))
        .filter(|g| *g > 0.0)
        .or_else(|| number(item, "grademax").filter(|g| *g > 0.0))?;
    Some((pass / max * 100.0).clamp(0.0, 100.0))
}

/// The answers of a question's plugin: (id, text, fraction, feedback).
fn answers(q: Node<'_, '_>) -> Vec<(String, String, f64, String)> {
    q.descendants()
        .filter(|n| n.tag_name().name() == "answer" && n.has_children() && attr(*n, "id").is_some())
        .map(|a| {
            (
                attr(a, "id").unwrap_or_default(),
                value(a, "answertext").unwrap_or_default(),
                number(a, "fraction").unwrap_or(0.0),
                value(a, "feedback").unwrap_or_default(),
            )
        })
        .collect()
}

fn option(q: Node<'_, '_>, name: &str) -> Option<String> {
    q.descendants()
        .find(|n| n.tag_name().name() == name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
}

fn convert(
    q: Node<'_, '_>,
    bank: &Bank<'_, '_>,
    within: &str,
    listed: &mut Listed,
) -> Option<Question> {
    let name = value(q, "name").unwrap_or_default();
    match kind(q, bank) {
        Ok((kind, prompt)) => {
            let mut out = Question::new(
                format!("moodle-{}", attr(q, "id").unwrap_or_default()),
                prompt,
                kind,
            );
            out.title = name;
            out.points = number(q, "defaultmark").unwrap_or(1.0).max(0.0);
            out.feedback = value(q, "generalfeedback").unwrap_or_default();
            out.hints = q
                .descendants()
                .filter(|n| n.tag_name().name() == "question_hint")
                .filter_map(|h| value(h, "hint"))
                .collect();
            out.shuffle_choices = option(q, "shuffleanswers").as_deref() != Some("0");
            Some(out)
        }
        Err(why) => {
            listed.push(format!(
                "“{within}”: the question “{name}” ({why}) is not imported"
            ));
            None
        }
    }
}

fn kind(
    q: Node<'_, '_>,
    bank: &Bank<'_, '_>,
) -> std::result::Result<(QuestionKind, String), String> {
    let qtype = value(q, "qtype").unwrap_or_default();
    let prompt = value(q, "questiontext").unwrap_or_default();
    let list = answers(q);
    let parts = || {
        list.iter()
            .map(|(_, t, f, fb)| (t.clone(), *f, fb.clone()))
            .collect::<Vec<_>>()
    };
    let text_answers = || {
        list.iter()
            .map(|(_, t, f, fb)| TextAnswer {
                pattern: t.clone(),
                fraction: *f,
                feedback: fb.clone(),
            })
            .collect::<Vec<_>>()
    };
    let kind = match qtype.as_str() {
        "multichoice" if option(q, "single").as_deref() == Some("0") => {
            QuestionKind::MultipleResponse {
                choices: choices(parts()),
                credit: super::Credit::SumOfFractions,
            }
        }
        "multichoice" => QuestionKind::SingleChoice {
            choices: choices(parts()),
        },
        "truefalse" => {
            let true_id = option(q, "trueanswer").unwrap_or_default();
            let t = list
                .iter()
                .find(|a| a.0 == true_id)
                .ok_or("it has no true answer")?;
            let f = list.iter().find(|a| a.0 != true_id);
            QuestionKind::TrueFalse {
                answer: t.2 > 0.0,
                feedback_true: t.3.clone(),
                feedback_false: f.map(|f| f.3.clone()).unwrap_or_default(),
            }
        }
        "shortanswer" => QuestionKind::ShortAnswer {
            answers: text_answers(),
            case_sensitive: option(q, "usecase").as_deref() == Some("1"),
            whitespace: Whitespace::Trim,
        },
        "numerical" => QuestionKind::Numeric {
            answers: numeric(q, &list),
        },
        "match" => {
            let mut pairs = Vec::new();
            let mut distractors = Vec::new();
            for m in q.descendants().filter(|n| n.tag_name().name() == "match") {
                let answer = value(m, "answertext").unwrap_or_default();
                match value(m, "questiontext") {
                    Some(p) if !text_of_html(&p).is_empty() => pairs.push((p, answer)),
                    _ => distractors.push(answer),
                }
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
        }
        "essay" => QuestionKind::Essay {
            template: option(q, "responsetemplate").unwrap_or_default(),
            grader_info: option(q, "graderinfo").unwrap_or_default(),
        },
        "gapselect" => {
            let mut gaps = Vec::new();
            let mut n = 1;
            while prompt.contains(&gap_marker(&n.to_string())) {
                let (_, text, _, group) = list.get(n - 1).ok_or("a gap has no answer")?;
                let options: Vec<(String, f64, String)> = list
                    .iter()
                    .filter(|a| &a.3 == group)
                    .map(|a| (a.1.clone(), f64::from(&a.1 == text), String::new()))
                    .collect();
                gaps.push(Gap {
                    id: n.to_string(),
                    weight: 1.0,
                    kind: GapKind::Choice {
                        choices: choices(options),
                    },
                });
                n += 1;
            }
            QuestionKind::FillBlanks { gaps }
        }
        "multianswer" => return cloze(q, bank, prompt),
        "ddwtos" | "ddimageortext" | "ddmarker" => return Err("drag and drop".into()),
        "calculated" | "calculatedmulti" | "calculatedsimple" => {
            return Err("a calculated question".into());
        }
        "description" => return Err("a description, with no answer".into()),
        "random" | "randomsamatch" => return Err("a random question".into()),
        other => return Err(format!("the Moodle question type {other}")),
    };
    Ok((kind, prompt))
}

fn numeric(q: Node<'_, '_>, list: &[(String, String, f64, String)]) -> Vec<NumericAnswer> {
    let tolerances: HashMap<String, f64> = q
        .descendants()
        .filter(|n| n.tag_name().name() == "numerical_record")
        .filter_map(|r| Some((value(r, "answer")?, number(r, "tolerance").unwrap_or(0.0))))
        .collect();
    list.iter()
        .filter_map(|(id, text, fraction, feedback)| {
            let value = if text.trim() == "*" {
                // Moodle's "any other answer".
                NumericValue::Range {
                    min: f64::MIN,
                    max: f64::MAX,
                }
            } else {
                NumericValue::Exact {
                    value: text.trim().parse().ok()?,
                    tolerance: tolerances.get(id).copied().unwrap_or(0.0).abs(),
                }
            };
            Some(NumericAnswer {
                value,
                fraction: *fraction,
                feedback: feedback.clone(),
            })
        })
        .collect()
}

/// Embedded answers: `{#n}` in the text is part n of the `sequence`, a question of its own (short answer,
/// multiple choice as a drop-down, or numerical) whose mark is the gap's weight.
fn cloze(
    q: Node<'_, '_>,
    bank: &Bank<'_, '_>,
    prompt: String,
) -> std::result::Result<(QuestionKind, String), String> {
    let sequence = option(q, "sequence").unwrap_or_default();
    let mut prompt = prompt;
    let mut gaps = Vec::new();
    for (i, id) in sequence
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let n = (i + 1).to_string();
        let sub = bank
            .by_id
            .get(id)
            .ok_or(format!("its part {n} is not in the backup"))?;
        let list = answers(*sub);
        let kind = match value(*sub, "qtype").as_deref() {
            Some("shortanswer") => GapKind::Text {
                answers: list
                    .iter()
                    .map(|(_, t, f, fb)| TextAnswer {
                        pattern: t.clone(),
                        fraction: *f,
                        feedback: fb.clone(),
                    })
                    .collect(),
                case_sensitive: option(*sub, "usecase").as_deref() == Some("1"),
                whitespace: Whitespace::Trim,
            },
            Some("multichoice") if option(*sub, "single").as_deref() != Some("0") => {
                GapKind::Choice {
                    choices: choices(
                        list.iter()
                            .map(|(_, t, f, fb)| (t.clone(), *f, fb.clone()))
                            .collect(),
                    ),
                }
            }
            Some("numerical") => GapKind::Numeric {
                answers: numeric(*sub, &list),
            },
            other => return Err(format!("its part {n} is a {}", other.unwrap_or("?"))),
        };
        prompt = prompt.replace(&format!("{{#{n}}}"), &gap_marker(&n));
        gaps.push(Gap {
            id: n,
            weight: number(*sub, "defaultmark").unwrap_or(1.0),
            kind,
        });
    }
    if gaps.is_empty() {
        return Err("it has no parts".into());
    }
    Ok((QuestionKind::FillBlanks { gaps }, prompt))
}
