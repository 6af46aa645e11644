//! Grading: a [`Response`] against its [`Question`], by the rules of the platform the question came from, and
//! a whole attempt against its quiz's [`PassRule`].
//!
//! A question's fraction is between 0 and 1 (a Moodle penalty can make a choice negative; the question never
//! goes below nothing), its score the fraction of its points. A response of the wrong kind, or one naming
//! choices the question does not have, earns nothing rather than an error: it is what a tampered form sends.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    Choice, Credit, GapKind, NumericAnswer, NumericValue, PassRule, Question, QuestionKind, Quiz,
    TextAnswer, Whitespace,
};

/// A student's answer to one question, of the question's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The id of the choice made (single choice).
    Choice {
        choice: String,
    },
    /// The ids of the choices made (multiple response).
    Choices {
        choices: Vec<String>,
    },
    TrueFalse {
        value: bool,
    },
    /// Short answer.
    Text {
        text: String,
    },
    /// As typed: `3.5`, `3,5`, `-2e3`.
    Number {
        text: String,
    },
    /// Matching: prompt (pair) id → the answer text chosen for it.
    Matching {
        pairs: BTreeMap<String, String>,
    },
    /// Ordering: item ids in the order the student put them.
    Ordering {
        items: Vec<String>,
    },
    /// Fill in the blanks: gap id → the text typed, or the id of the choice made.
    Blanks {
        gaps: BTreeMap<String, String>,
    },
    Essay {
        text: String,
    },
}

/// One question graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graded {
    /// Between 0 and the question's points.
    pub score: f64,
    /// Between 0 and 1.
    pub fraction: f64,
    /// Fully right.
    pub correct: bool,
    /// The feedback of what was answered, then the question's general feedback.
    pub feedback: Vec<String>,
    /// An essay: the teacher marks it; `score` is 0 until then.
    pub needs_marking: bool,
}

/// A whole attempt graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuizResult {
    pub score: f64,
    /// What the attempt's questions are worth.
    pub points: f64,
    /// `score / points` in percent (0 when the questions are worth nothing).
    pub percent: f64,
    pub passed: bool,
    /// Some answer waits for the teacher: `passed` may still change.
    pub needs_marking: bool,
    /// Each question of the attempt, in its order: (question id, grade).
    pub questions: Vec<(String, Graded)>,
}

const EPSILON: f64 = 1e-9;

/// Grades `response` to `question`.
pub fn grade(question: &Question, response: &Response) -> Graded {
    let mut feedback = Vec::new();
    let mut needs_marking = false;
    let fraction = match (&question.kind, response) {
        (QuestionKind::SingleChoice { choices }, Response::Choice { choice }) => {
            single(choices, choice, &mut feedback)
        }
        (
            QuestionKind::MultipleResponse { choices, credit },
            Response::Choices { choices: chosen },
        ) => multiple(choices, *credit, chosen, &mut feedback),
        (
            QuestionKind::TrueFalse {
                answer,
                feedback_true,
                feedback_false,
            },
            Response::TrueFalse { value },
        ) => {
            push(
                &mut feedback,
                if *value {
                    feedback_true
                } else {
                    feedback_false
                },
            );
            f64::from(value == answer)
        }
        (
            QuestionKind::ShortAnswer {
                answers,
                case_sensitive,
                whitespace,
            },
            Response::Text { text },
        ) => text_answer(answers, *case_sensitive, *whitespace, text, &mut feedback),
        (QuestionKind::Numeric { answers }, Response::Number { text }) => {
            numeric(answers, text, &mut feedback)
        }
        (QuestionKind::Matching { pairs, .. }, Response::Matching { pairs: given }) => {
            let right = pairs
                .iter()
                .filter(|p| {
                    given
                        .get(&p.id)
                        .is_some_and(|a| a.trim() == p.answer.trim())
                })
                .count();
            share(right, pairs.len())
        }
        (QuestionKind::Ordering { items }, Response::Ordering { items: given }) => {
            let right = items
                .iter()
                .zip(given)
                .filter(|(item, id)| &item.id == *id)
                .count();
            share(right, items.len())
        }
        (QuestionKind::FillBlanks { gaps }, Response::Blanks { gaps: given }) => {
            let total: f64 = gaps.iter().map(|g| g.weight.max(0.0)).sum();
            let earned: f64 = gaps
                .iter()
                .map(|g| {
                    let answer = given.get(&g.id).map(String::as_str).unwrap_or("");
                    let f = match &g.kind {
                        GapKind::Text {
                            answers,
                            case_sensitive,
                            whitespace,
                        } => text_answer(
                            answers,
                            *case_sensitive,
                            *whitespace,
                            answer,
                            &mut feedback,
                        ),
                        GapKind::Choice { choices } => single(choices, answer, &mut feedback),
                        GapKind::Numeric { answers } => numeric(answers, answer, &mut feedback),
                    };
                    f * g.weight.max(0.0)
                })
                .sum();
            if total > 0.0 { earned / total } else { 0.0 }
        }
        (QuestionKind::Essay { .. }, Response::Essay { .. }) => {
            needs_marking = true;
            0.0
        }
        _ => 0.0,
    };
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    push(&mut feedback, &question.feedback);
    Graded {
        score: fraction * question.points.max(0.0),
        fraction,
        correct: !needs_marking && fraction >= 1.0 - EPSILON,
        feedback,
        needs_marking,
    }
}

fn push(feedback: &mut Vec<String>, text: &str) {
    if !text.trim().is_empty() {
        feedback.push(text.to_owned());
    }
}

fn share(right: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        right as f64 / of as f64
    }
}

fn single(choices: &[Choice], chosen: &str, feedback: &mut Vec<String>) -> f64 {
    match choices.iter().find(|c| c.id == chosen) {
        Some(c) => {
            push(feedback, &c.feedback);
            c.fraction
        }
        None => 0.0,
    }
}

fn multiple(
    choices: &[Choice],
    credit: Credit,
    chosen: &[String],
    feedback: &mut Vec<String>,
) -> f64 {
    let chosen: BTreeSet<&str> = chosen.iter().map(String::as_str).collect();
    let picked: Vec<&Choice> = choices
        .iter()
        .filter(|c| chosen.contains(c.id.as_str()))
        .collect();
    for c in &picked {
        push(feedback, &c.feedback);
    }
    let right = |c: &Choice| c.fraction > EPSILON;
    let rights = choices.iter().filter(|c| right(c)).count();
    match credit {
        Credit::SumOfFractions => picked.iter().map(|c| c.fraction).sum(),
        Credit::AllOrNothing => {
            let exact = choices
                .iter()
                .all(|c| right(c) == chosen.contains(c.id.as_str()));
            f64::from(exact && rights > 0)
        }
        Credit::RightMinusWrong => {
            let good = picked.iter().filter(|c| right(c)).count() as f64;
            let bad = picked.iter().filter(|c| !right(c)).count() as f64;
            if rights == 0 {
                0.0
            } else {
                (good - bad) / rights as f64
            }
        }
        Credit::EveryDecision => {
            let decided = choices
                .iter()
                .filter(|c| right(c) == chosen.contains(c.id.as_str()))
                .count();
            share(decided, choices.len())
        }
    }
}

fn text_answer(
    answers: &[TextAnswer],
    case_sensitive: bool,
    whitespace: Whitespace,
    text: &str,
    feedback: &mut Vec<String>,
) -> f64 {
    let given = normalise(text, whitespace);
    match answers
        .iter()
        .find(|a| wildcard_match(&a.pattern, &given, case_sensitive))
    {
        Some(a) => {
            push(feedback, &a.feedback);
            a.fraction
        }
        None => 0.0,
    }
}

fn normalise(text: &str, whitespace: Whitespace) -> String {
    match whitespace {
        Whitespace::Exact => text.to_owned(),
        Whitespace::Trim => text.trim().to_owned(),
        Whitespace::Collapse => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Moodle's short-answer match: the whole text against `pattern`, where a run of `*` stands for any text and
/// `\*` for a star. Greedy matching with one saved backtrack point: linear in practice, never exponential.
pub fn wildcard_match(pattern: &str, text: &str, case_sensitive: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if case_sensitive {
            s.chars().collect()
        } else {
            s.chars().flat_map(char::to_lowercase).collect()
        }
    };
    // The pattern as literal characters and stars (None).
    let raw = fold(pattern);
    let mut pat: Vec<Option<char>> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match (raw[i], raw.get(i + 1)) {
            ('\\', Some('*')) => {
                pat.push(Some('*'));
                i += 2;
            }
            ('*', _) => {
                if pat.last() != Some(&None) {
                    pat.push(None);
                }
                i += 1;
            }
            (c, _) => {
                pat.push(Some(c));
                i += 1;
            }
        }
    }
    let text = fold(text);
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(Some(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(None) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(Option::is_none)
}

/// A typed number: `3.5`, `3,5` (a decimal comma), `-2e3`, with spaces around; `None` if it is not one.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = if t.contains(',') && !t.contains('.') {
        t.replace(',', ".")
    } else {
        t.to_owned()
    };
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn numeric(answers: &[NumericAnswer], text: &str, feedback: &mut Vec<String>) -> f64 {
    let Some(v) = parse_number(text) else {
        return 0.0;
    };
    match answers.iter().find(|a| a.value.accepts(v)) {
        Some(a) => {
            push(feedback, &a.feedback);
            a.fraction
        }
        None => 0.0,
    }
}

impl NumericValue {
    /// Whether `v` is within this answer (tolerances allow for the float's rounding).
    pub fn accepts(&self, v: f64) -> bool {
        let slack = |x: f64| x.abs() * 1e-12 + 1e-12;
        match *self {
            NumericValue::Exact { value, tolerance } => {
                (v - value).abs() <= tolerance.abs() + slack(value)
            }
            NumericValue::Range { min, max } => v >= min - slack(min) && v <= max + slack(max),
        }
    }
}

/// Kolibri's mastery: at least `m` of the last `n` answers right. `history` is oldest first; fewer than `m`
/// answers never master.
pub fn mastered(history: &[bool], m: u32, n: u32) -> bool {
    let n = n as usize;
    let last = &history[history.len().saturating_sub(n)..];
    last.iter().filter(|r| **r).count() >= m as usize
}

impl PassRule {
    /// Whether an attempt passes: by its percent, or (mastery) by `history` of right and wrong answers, oldest
    /// first, which ends with this attempt's.
    pub fn passed(&self, percent: f64, history: &[bool]) -> bool {
        match *self {
            PassRule::Score { percent: needed } => percent + EPSILON >= needed,
            PassRule::Mastery { m, n } => mastered(history, m, n),
        }
    }
}

/// Grades the attempt with `seed` (the questions [`Quiz::attempt_questions`] gives for it): `responses` by
/// question id, a missing one earning nothing. `earlier` is the student's right/wrong history before this
/// attempt, oldest first, for a mastery rule.
pub fn grade_quiz(
    quiz: &Quiz,
    seed: u64,
    responses: &BTreeMap<String, Response>,
    earlier: &[bool],
) -> QuizResult {
    let mut questions = Vec::new();
    for q in quiz.attempt_questions(seed) {
        let graded = match responses.get(&q.id) {
            Some(r) => grade(q, r),
            None => Graded {
                score: 0.0,
                fraction: 0.0,
                correct: false,
                feedback: Vec::new(),
                needs_marking: false,
            },
        };
        questions.push((q.id.clone(), graded));
    }
    let points: f64 = quiz
        .attempt_questions(seed)
        .iter()
        .map(|q| q.points.max(0.0))
        .sum();
    let score: f64 = questions.iter().map(|(_, g)| g.score).sum();
    let percent = if points > 0.0 {
        score / points * 100.0
    } else {
        0.0
    };
    let mut history = earlier.to_vec();
    history.extend(
        questions
            .iter()
            .filter(|(_, g)| !g.needs_marking)
            .map(|(_, g)| g.correct),
    );
    QuizResult {
        score,
        points,
        percent,
        passed: quiz.pass.passed(percent, &history),
        needs_marking: questions.iter().any(|(_, g)| g.needs_marking),
        questions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quiz::{Pair, choices, text_id};

    #[test]
    fn wildcards_match_as_in_moodle() {
        assert!(wildcard_match(
            "short*answer",
            "short and long answer",
            false
        ));
        assert!(wildcard_match("Paris", "paris", false));
        assert!(!wildcard_match("Paris", "paris", true));
        assert!(!wildcard_match("Paris", "Paris, France", false));
        assert!(wildcard_match("a\\*b", "a*b", true));
        assert!(!wildcard_match("a\\*b", "axb", true));
        assert!(wildcard_match("*", "", true));
        assert!(wildcard_match("**x**", "yyxyy", true));
        assert!(!wildcard_match("a*a*a*a*a*b", &"a".repeat(5000), true));
    }

    #[test]
    fn numbers_read_with_a_decimal_comma_and_ranges_include_their_ends() {
        assert_eq!(parse_number(" 3,5 "), Some(3.5));
        assert_eq!(parse_number("1,000.5"), None);
        assert_eq!(parse_number("nan"), None);
        assert!(
            NumericValue::Range {
                min: 5.0,
                max: 10.0
            }
            .accepts(10.0)
        );
        assert!(
            NumericValue::Exact {
                value: 0.3,
                tolerance: 0.0
            }
            .accepts(0.1 + 0.2)
        );
        assert!(
            !NumericValue::Exact {
                value: 5.0,
                tolerance: 0.5
            }
            .accepts(5.6)
        );
    }

    fn mr(credit: Credit) -> Question {
        Question::new(
            "m",
            "Pick",
            QuestionKind::MultipleResponse {
                choices: choices(vec![
                    ("A".into(), 0.5, "a!".into()),
                    ("B".into(), 0.5, String::new()),
                    ("C".into(), -1.0, String::new()),
                    ("D".into(), 0.0, String::new()),
                ]),
                credit,
            },
        )
    }

    fn pick(ids: &[&str]) -> Response {
        Response::Choices {
            choices: ids.iter().map(|t| text_id(t)).collect(),
        }
    }

    #[test]
    fn multiple_response_credit_follows_each_platform() {
        let sum = mr(Credit::SumOfFractions);
        assert_eq!(grade(&sum, &pick(&["A", "B"])).fraction, 1.0);
        assert_eq!(grade(&sum, &pick(&["A"])).fraction, 0.5);
        assert_eq!(
            grade(&sum, &pick(&["A", "C"])).fraction,
            0.0,
            "clamped at 0"
        );
        assert_eq!(grade(&sum, &pick(&["A"])).feedback, ["a!"]);
        let all = mr(Credit::AllOrNothing);
        assert_eq!(grade(&all, &pick(&["A", "B"])).score, 1.0);
        assert_eq!(grade(&all, &pick(&["A"])).score, 0.0);
        let canvas = mr(Credit::RightMinusWrong);
        assert_eq!(grade(&canvas, &pick(&["A", "D"])).fraction, 0.0);
        assert_eq!(grade(&canvas, &pick(&["A"])).fraction, 0.5);
        let edc = mr(Credit::EveryDecision);
        assert_eq!(grade(&edc, &pick(&["A"])).fraction, 0.75);
        assert_eq!(grade(&edc, &pick(&["A", "A", "B"])).fraction, 1.0);
        assert_eq!(grade(&edc, &Response::Text { text: "A".into() }).score, 0.0);
    }

    #[test]
    fn matching_earns_per_pair_and_mastery_counts_the_last_answers() {
        let mut q = Question::new(
            "p",
            "Match",
            QuestionKind::Matching {
                pairs: ["x", "y", "z"]
                    .iter()
                    .map(|p| Pair {
                        id: text_id(p),
                        prompt: (*p).into(),
                        answer: p.to_uppercase(),
                    })
                    .collect(),
                distractors: vec!["W".into()],
            },
        );
        q.points = 3.0;
        let r = Response::Matching {
            pairs: [(text_id("x"), "X".into()), (text_id("y"), "W".into())].into(),
        };
        assert_eq!(grade(&q, &r).score, 1.0);
        assert!(mastered(&[false, true, true, false, true], 3, 4));
        assert!(!mastered(&[true, true, false, false, true], 3, 4));
        assert!(!mastered(&[true], 2, 5));
    }

    #[test]
    fn a_quiz_passes_by_its_rule() {
        let tf = |id: &str, answer| {
            Question::new(
                id,
                "?",
                QuestionKind::TrueFalse {
                    answer,
                    feedback_true: String::new(),
                    feedback_false: String::new(),
                },
            )
        };
        let mut quiz = Quiz::new("Q", vec![tf("a", true), tf("b", false), tf("c", true)]);
        let responses: BTreeMap<String, Response> = [
            ("a".to_owned(), Response::TrueFalse { value: true }),
            ("b".to_owned(), Response::TrueFalse { value: false }),
        ]
        .into();
        let r = grade_quiz(&quiz, 0, &responses, &[]);
        assert_eq!((r.score, r.points), (2.0, 3.0));
        assert!((r.percent - 66.666).abs() < 0.01 && r.passed);
        quiz.pass = PassRule::Score { percent: 70.0 };
        assert!(!grade_quiz(&quiz, 0, &responses, &[]).passed);
        quiz.pass = PassRule::Mastery { m: 3, n: 4 };
        assert!(!grade_quiz(&quiz, 0, &responses, &[]).passed);
        assert!(grade_quiz(&quiz, 0, &responses, &[true]).passed);
    }
}
