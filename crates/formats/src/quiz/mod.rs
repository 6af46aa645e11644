//! Quizzes without a database: the model the application stores (as JSON), the student's view of it, grading,
//! Moodle's GIFT text format, and importers from the formats other platforms export.
//!
//! - [`Quiz`], [`Question`] and [`QuestionKind`] (this file) are what a teacher made: they hold the answers.
//! - [`view`] turns them into [`QuizView`]/[`QuestionView`], a separate type with no field that could carry an
//!   answer, so a handler that renders a view cannot leak one by accident. Shuffling and drawing questions are
//!   decided by a `u64` seed kept with the attempt, so an attempt renders the same after a restart.
//! - [`grade`] scores a [`Response`] by the rules of the platform the question came from (Moodle's fractions,
//!   Canvas's right-minus-wrong, Open edX's all-or-nothing checkboxes, per-part credit for matching, ordering and
//!   gaps), and a quiz by its [`PassRule`].
//! - [`gift`] reads and writes GIFT.
//! - [`import`] reads the quizzes of a package (Common Cartridge and Canvas QTI 1.2, IMS QTI 2.x, Moodle
//!   backups, Open edX problems) through the package's [`Source`](crate::Source) and its budget; what it cannot
//!   import is listed in words, never dropped silently. [`qti1`], [`qti2`], [`moodle`] and [`edx`] are the
//!   readers, which the package readers (`cc`, `moodle`, `olx`) also call to make quiz lessons. [`perseus`]
//!   reads the Perseus items of Kolibri exercises, for the `kolibri` reader.
//!
//! Texts (prompts, choices, feedback) are HTML-ish as the source had them; the application sanitises them when
//! it shows them, as it does lesson bodies. Choice, pair and item ids are made from their text ([`text_id`]),
//! never from their position, so an id shown to a student says nothing about which choice is right or where an
//! item belongs.

pub mod edx;
pub mod gift;
pub mod grade;
pub mod import;
pub mod moodle;
pub mod perseus;
pub mod qti1;
pub mod qti2;
pub mod view;

use serde::{Deserialize, Serialize};

pub use grade::{Graded, QuizResult, Response, grade, grade_quiz};
pub use import::{Imported, import};
pub use view::{QuestionView, QuizView};

/// A quiz: questions and the rules of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quiz {
    pub title: String,
    /// Shown before the questions (HTML-ish).
    #[serde(default)]
    pub intro: String,
    /// The pool, in the teacher's order.
    pub questions: Vec<Question>,
    #[serde(default)]
    pub pass: PassRule,
    /// Whether each attempt shows the questions in its own order.
    #[serde(default)]
    pub shuffle_questions: bool,
    /// Each attempt draws this many questions from the pool (all when `None` or more than the pool).
    #[serde(default)]
    pub draw: Option<usize>,
    /// Groups of the pool of which each attempt shows only some (Canvas's question groups, "pick 2 of these
    /// 3"), drawn before [`Quiz::draw`]. A question in no group is always in the pool drawn from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<DrawGroup>,
    /// `None`: unlimited.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// Questions of which an attempt shows `draw`, picked by its seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawGroup {
    /// The source's name for the group (may be empty).
    #[serde(default)]
    pub title: String,
    /// Ids of the quiz's questions; an id the quiz no longer has is ignored.
    pub questions: Vec<String>,
    pub draw: usize,
}

/// When an attempt passes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PassRule {
    /// At least this share of the points, in percent (0–100).
    Score { percent: f64 },
    /// Kolibri's mastery: at least `m` of the last `n` questions answered correctly, counting earlier attempts'
    /// answers too (see [`grade::mastered`]).
    Mastery { m: u32, n: u32 },
}

impl Default for PassRule {
    /// Half the points: what SmartCourse asks when the source sets no pass mark.
    fn default() -> Self {
        PassRule::Score { percent: 50.0 }
    }
}

/// A question, with its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Stable within its quiz: responses and attempts name questions by it. Importers use the source's own id.
    pub id: String,
    /// The name the teacher gave it (Moodle's question name, GIFT's `::title::`); may be empty.
    #[serde(default)]
    pub title: String,
    /// HTML-ish. A [`QuestionKind::FillBlanks`] prompt holds its gaps as `[[gap id]]`.
    pub prompt: String,
    /// What a fully right answer earns.
    pub points: f64,
    pub kind: QuestionKind,
    /// General feedback, shown after grading whatever the answer.
    #[serde(default)]
    pub feedback: String,
    /// Shown one at a time on request, never in the [`QuestionView`].
    #[serde(default)]
    pub hints: Vec<String>,
    /// Whether the choices (of a choice question or a gap) are shown in an order of the attempt's own.
    #[serde(default)]
    pub shuffle_choices: bool,
}

/// What kind of answer a question takes, with the answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QuestionKind {
    /// One choice; it earns its fraction (Moodle allows partly right choices).
    SingleChoice { choices: Vec<Choice> },
    /// Any number of choices, scored by `credit`.
    MultipleResponse {
        choices: Vec<Choice>,
        credit: Credit,
    },
    TrueFalse {
        answer: bool,
        /// Shown to whoever answered "true"; `feedback_false` likewise.
        #[serde(default)]
        feedback_true: String,
        #[serde(default)]
        feedback_false: String,
    },
    /// Typed text, compared with each answer's pattern in order; the first that matches gives its fraction.
    ShortAnswer {
        answers: Vec<TextAnswer>,
        #[serde(default)]
        case_sensitive: bool,
        #[serde(default)]
        whitespace: Whitespace,
    },
    /// A typed number; the first answer in order that it falls within gives its fraction.
    Numeric { answers: Vec<NumericAnswer> },
    /// Each prompt gets one of the answers (the pairs' and the distractors'); each right pair earns its share.
    Matching {
        pairs: Vec<Pair>,
        #[serde(default)]
        distractors: Vec<String>,
    },
    /// Items put in order; `items` is the right order. Each item in its right place earns its share.
    Ordering { items: Vec<Item> },
    /// Gaps in the prompt (cloze); each earns its weight's share.
    FillBlanks { gaps: Vec<Gap> },
    /// Free text, marked by the teacher.
    Essay {
        /// Text the answer box starts with.
        #[serde(default)]
        template: String,
        /// Notes for the marker.
        #[serde(default)]
        grader_info: String,
    },
}

/// A choice of a choice question or a gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Made from the text ([`text_id`]), so it does not reveal the choice's place in the source.
    pub id: String,
    pub text: String,
    /// Share of the points choosing it earns: 1 right, 0 wrong, between for partly right, negative for a
    /// penalty (Moodle). A choice with a fraction above 0 counts as right for [`Credit`] rules other than
    /// [`Credit::SumOfFractions`].
    pub fraction: f64,
    /// Shown to a student who chose it.
    #[serde(default)]
    pub feedback: String,
}

/// How a multiple-response question turns the choices made into a fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credit {
    /// Moodle: the sum of the chosen choices' fractions, between 0 and 1.
    SumOfFractions,
    /// QTI (Common Cartridge) and Open edX checkboxes: 1 when exactly the right choices are chosen, else 0.
    AllOrNothing,
    /// Canvas: (right chosen − wrong chosen) / right choices, at least 0.
    RightMinusWrong,
    /// Open edX's "every decision counts": choices decided rightly (chosen if right, left if wrong) / choices.
    EveryDecision,
}

/// How typed text is compared, beyond case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Whitespace {
    /// Compared as typed.
    Exact,
    /// Spaces around the answer are ignored (Moodle, Canvas, Open edX).
    #[default]
    Trim,
    /// Also, runs of spaces inside count as one.
    Collapse,
}

/// An accepted typed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextAnswer {
    /// The answer, where `*` stands for any text (Moodle's wildcard; `\*` is a star itself).
    pub pattern: String,
    pub fraction: f64,
    #[serde(default)]
    pub feedback: String,
}

/// An accepted number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericAnswer {
    pub value: NumericValue,
    pub fraction: f64,
    #[serde(default)]
    pub feedback: String,
}

/// The numbers an answer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum NumericValue {
    /// `value ± tolerance` (absolute).
    Exact { value: f64, tolerance: f64 },
    /// `min..=max`.
    Range { min: f64, max: f64 },
}

/// A prompt of a matching question and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Made from the prompt ([`text_id`]).
    pub id: String,
    pub prompt: String,
    pub answer: String,
}

/// An item of an ordering question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Made from the text ([`text_id`]), so it does not reveal the item's place.
    pub id: String,
    pub text: String,
}

/// A gap of a fill-in question, marked `[[id]]` in its prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub id: String,
    /// Relative to the other gaps' (Moodle cloze: each sub-question's mark).
    pub weight: f64,
    pub kind: GapKind,
}

/// What a gap takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GapKind {
    Text {
        answers: Vec<TextAnswer>,
        #[serde(default)]
        case_sensitive: bool,
        #[serde(default)]
        whitespace: Whitespace,
    },
    /// One of the choices (a drop-down).
    Choice {
        choices: Vec<Choice>,
    },
    Numeric {
        answers: Vec<NumericAnswer>,
    },
}

/// The marker of gap `id` in a fill-in prompt.
pub fn gap_marker(id: &str) -> String {
    format!("[[{id}]]")
}

/// An id made from a text: the first 16 hex digits of its 64-bit FNV-1a hash. Choices, pairs and items get
/// theirs from their text so that the id shown to a student carries no information the text does not.
pub fn text_id(text: &str) -> String {
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// [`text_id`] for each text, a repeated text getting `-2`, `-3`… after its id, in order.
pub fn text_ids<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    texts
        .into_iter()
        .map(|t| {
            let id = text_id(t);
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { id } else { format!("{id}-{n}") }
        })
        .collect()
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Choices from (text, fraction, feedback), with ids from their texts.
pub fn choices(parts: Vec<(String, f64, String)>) -> Vec<Choice> {
    let ids = text_ids(parts.iter().map(|p| p.0.as_str()));
    parts
        .into_iter()
        .zip(ids)
        .map(|((text, fraction, feedback), id)| Choice {
            id,
            text,
            fraction,
            feedback,
        })
        .collect()
}

impl Question {
    /// A question of `kind` worth one point, with nothing else set.
    pub fn new(id: impl Into<String>, prompt: impl Into<String>, kind: QuestionKind) -> Question {
        Question {
            id: id.into(),
            title: String::new(),
            prompt: prompt.into(),
            points: 1.0,
            kind,
            feedback: String::new(),
            hints: Vec::new(),
            shuffle_choices: false,
        }
    }

    /// The kind's name in words, for reports (`multiple choice`, `essay`).
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }
}

impl QuestionKind {
    /// The kind's name in words (`multiple choice`, `fill in the blanks`).
    pub fn name(&self) -> &'static str {
        match self {
            QuestionKind::SingleChoice { .. } => "multiple choice",
            QuestionKind::MultipleResponse { .. } => "multiple response",
            QuestionKind::TrueFalse { .. } => "true/false",
            QuestionKind::ShortAnswer { .. } => "short answer",
            QuestionKind::Numeric { .. } => "numeric",
            QuestionKind::Matching { .. } => "matching",
            QuestionKind::Ordering { .. } => "ordering",
            QuestionKind::FillBlanks { .. } => "fill in the blanks",
            QuestionKind::Essay { .. } => "essay",
        }
    }
}

impl Quiz {
    /// A quiz of these questions with the default rules (all questions, in order, pass at half the points).
    pub fn new(title: impl Into<String>, questions: Vec<Question>) -> Quiz {
        Quiz {
            title: title.into(),
            intro: String::new(),
            questions,
            pass: PassRule::default(),
            shuffle_questions: false,
            draw: None,
            groups: Vec::new(),
            max_attempts: None,
        }
    }

    /// How many questions of each kind, by [`QuestionKind::name`]: what an import report says.
    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut out = std::collections::BTreeMap::new();
        for q in &self.questions {
            *out.entry(q.kind_name()).or_insert(0) += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_texts_and_repeats_are_numbered() {
        let ids = text_ids(["a", "b", "a"]);
        assert_eq!(ids[0], text_id("a"));
        assert_eq!(ids[2], format!("{}-2", text_id("a")));
        assert_ne!(ids[0], ids[1]);
        assert_eq!(text_id("a").len(), 16);
    }
}
