//! What a student sees of a quiz: [`QuizView`] and [`QuestionView`], types with no field for a right answer,
//! a fraction or an answer's feedback, so the server can hand a view to a template or to JSON without leaking
//! one. Matching answers and ordering items are always shown in an order of their own (the teacher's order
//! would give the answer away); questions, choices and the draw from the pool follow the quiz's settings.
//!
//! Every order is decided by the attempt's seed: the same quiz and seed give the same view, after a restart
//! too, so the application stores the seed with the attempt and nothing else about what was shown.

use serde::{Deserialize, Serialize};

use super::{GapKind, Question, QuestionKind, Quiz};

/// A quiz as an attempt shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuizView {
    pub title: String,
    pub intro: String,
    /// The questions of this attempt, in its order.
    pub questions: Vec<QuestionView>,
    /// What the attempt's questions are worth together.
    pub points: f64,
    pub max_attempts: Option<u32>,
}

/// A question as a student sees it: nothing in it says which answer is right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionView {
    pub id: String,
    pub title: String,
    pub prompt: String,
    pub points: f64,
    /// How many hints can be asked for ([`Question::hints`] gives them one at a time).
    pub hints: usize,
    pub kind: KindView,
}

/// A choice, a matching prompt or an ordering item: its id and text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionView {
    pub id: String,
    pub text: String,
}

/// What the student answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KindView {
    SingleChoice {
        choices: Vec<OptionView>,
    },
    MultipleResponse {
        choices: Vec<OptionView>,
    },
    TrueFalse,
    ShortAnswer,
    Numeric,
    /// Each prompt takes one of `answers` (texts).
    Matching {
        prompts: Vec<OptionView>,
        answers: Vec<String>,
    },
    /// To be put in order; shown in an order of the attempt's own.
    Ordering {
        items: Vec<OptionView>,
    },
    /// The gaps marked in the prompt.
    FillBlanks {
        gaps: Vec<GapView>,
    },
    Essay {
        template: String,
    },
}

/// A gap as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapView {
    pub id: String,
    pub kind: GapKindView,
}

/// What a gap takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GapKindView {
    Text,
    Numeric,
    Choice { choices: Vec<OptionView> },
}

/// SplitMix64: a small, well-mixed generator; quality is ample for shuffling, and it is ours, so a seed keeps
/// meaning the same order whatever crate versions change.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, salt: &str) -> Rng {
        Rng(seed ^ super::fnv1a(salt.as_bytes()))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// `items` in the seed's order; when `never_as_given`, an order that happens to be the given one (which would
/// be the answer) is turned by one place.
fn shuffled<T: Clone + PartialEq>(
    items: &[T],
    seed: u64,
    salt: &str,
    never_as_given: bool,
) -> Vec<T> {
    let mut out = items.to_vec();
    Rng::new(seed, salt).shuffle(&mut out);
    if never_as_given && out.len() > 1 && out == items {
        out.rotate_left(1);
    }
    out
}

fn option(id: &str, text: &str) -> OptionView {
    OptionView {
        id: id.to_owned(),
        text: text.to_owned(),
    }
}

fn choice_views(choices: &[super::Choice], q: &Question, seed: u64, salt: &str) -> Vec<OptionView> {
    let views: Vec<OptionView> = choices.iter().map(|c| option(&c.id, &c.text)).collect();
    if q.shuffle_choices {
        shuffled(&views, seed, salt, false)
    } else {
        views
    }
}

impl Question {
    /// The question as shown in the attempt with `seed`.
    pub fn view(&self, seed: u64) -> QuestionView {
        let salt = |part: &str| format!("{}\u{0}{part}", self.id);
        let kind = match &self.kind {
            QuestionKind::SingleChoice { choices } => KindView::SingleChoice {
                choices: choice_views(choices, self, seed, &salt("choices")),
            },
            QuestionKind::MultipleResponse { choices, .. } => KindView::MultipleResponse {
                choices: choice_views(choices, self, seed, &salt("choices")),
            },
            QuestionKind::TrueFalse { .. } => KindView::TrueFalse,
            QuestionKind::ShortAnswer { .. } => KindView::ShortAnswer,
            QuestionKind::Numeric { .. } => KindView::Numeric,
            QuestionKind::Matching { pairs, distractors } => {
                let mut answers: Vec<String> = Vec::new();
                for a in pairs.iter().map(|p| &p.answer).chain(distractors) {
                    if !answers.contains(a) {
                        answers.push(a.clone());
                    }
                }
                let prompts: Vec<OptionView> =
                    pairs.iter().map(|p| option(&p.id, &p.prompt)).collect();
                KindView::Matching {
                    prompts: if self.shuffle_choices {
                        shuffled(&prompts, seed, &salt("prompts"), false)
                    } else {
                        prompts
                    },
                    answers: shuffled(&answers, seed, &salt("answers"), false),
                }
            }
            QuestionKind::Ordering { items } => {
                let views: Vec<OptionView> = items.iter().map(|i| option(&i.id, &i.text)).collect();
                KindView::Ordering {
                    items: shuffled(&views, seed, &salt("items"), true),
                }
            }
            QuestionKind::FillBlanks { gaps } => KindView::FillBlanks {
                gaps: gaps
                    .iter()
                    .map(|g| GapView {
                        id: g.id.clone(),
                        kind: match &g.kind {
                            GapKind::Text { .. } => GapKindView::Text,
                            GapKind::Numeric { .. } => GapKindView::Numeric,
                            GapKind::Choice { choices } => GapKindView::Choice {
                                choices: choice_views(
                                    choices,
                                    self,
                                    seed,
                                    &salt(&format!("gap {}", g.id)),
                                ),
                            },
                        },
                    })
                    .collect(),
            },
            QuestionKind::Essay { template, .. } => KindView::Essay {
                template: template.clone(),
            },
        };
        QuestionView {
            id: self.id.clone(),
            title: self.title.clone(),
            prompt: self.prompt.clone(),
            points: self.points,
            hints: self.hints.len(),
            kind,
        }
    }

    /// Hint `n` (from 0), if the question has that many.
    pub fn hint(&self, n: usize) -> Option<&str> {
        self.hints.get(n).map(String::as_str)
    }
}

impl Quiz {
    /// The questions of the attempt with `seed`: each group's draw, then drawn from what is left when the quiz
    /// draws (kept in the pool's order unless the quiz shuffles), then shuffled when it shuffles.
    pub fn attempt_questions(&self, seed: u64) -> Vec<&Question> {
        let mut left_out: Vec<&str> = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let members: Vec<&str> = g
                .questions
                .iter()
                .map(String::as_str)
                .filter(|id| self.questions.iter().any(|q| q.id == *id))
                .collect();
            if g.draw < members.len() {
                let mut order: Vec<usize> = (0..members.len()).collect();
                Rng::new(seed, &format!("group {i}")).shuffle(&mut order);
                left_out.extend(order[g.draw..].iter().map(|&k| members[k]));
            }
        }
        let all: Vec<&Question> = self
            .questions
            .iter()
            .filter(|q| !left_out.contains(&q.id.as_str()))
            .collect();
        let mut picked = match self.draw {
            Some(n) if n < all.len() => {
                let mut order: Vec<usize> = (0..all.len()).collect();
                Rng::new(seed, "draw").shuffle(&mut order);
                let mut kept: Vec<usize> = order.into_iter().take(n).collect();
                kept.sort_unstable();
                kept.into_iter().map(|i| all[i]).collect()
            }
            _ => all,
        };
        if self.shuffle_questions {
            Rng::new(seed, "questions").shuffle(&mut picked);
        }
        picked
    }

    /// The quiz as shown in the attempt with `seed`.
    pub fn view(&self, seed: u64) -> QuizView {
        let questions: Vec<QuestionView> = self
            .attempt_questions(seed)
            .into_iter()
            .map(|q| q.view(seed))
            .collect();
        QuizView {
            title: self.title.clone(),
            intro: self.intro.clone(),
            points: questions.iter().map(|q| q.points).sum(),
            questions,
            max_attempts: self.max_attempts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::KindView;

    fn pool(n: usize) -> Quiz {
        let questions = (0..n)
            .map(|i| {
                let mut q = Question::new(
                    format!("q{i}"),
                    format!("Question {i}"),
                    QuestionKind::SingleChoice {
                        choices: choices(
                            (0..5)
                                .map(|c| (format!("choice {c}"), f64::from(c == 0), String::new()))
                                .collect(),
                        ),
                    },
                );
                q.shuffle_choices = true;
                q
            })
            .collect();
        Quiz::new("Pool", questions)
    }

    #[test]
    fn each_group_gives_its_draw_and_questions_outside_groups_are_always_shown() {
        let mut quiz = pool(6);
        quiz.groups = vec![
            DrawGroup {
                title: "A".into(),
                questions: vec!["q0".into(), "q1".into(), "q2".into()],
                draw: 2,
            },
            DrawGroup {
                title: "B".into(),
                // An id the quiz no longer has is not drawn.
                questions: vec!["q3".into(), "gone".into()],
                draw: 1,
            },
        ];
        let mut seen_a = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let ids: Vec<&str> = quiz
                .attempt_questions(seed)
                .iter()
                .map(|q| q.id.as_str())
                .collect();
            assert_eq!(ids.len(), 5, "{ids:?}");
            let a: Vec<&str> = ids.iter().copied().filter(|i| *i < "q3").collect();
            assert_eq!(a.len(), 2, "{ids:?}");
            assert!(ids.ends_with(&["q3", "q4", "q5"]), "{ids:?}");
            assert_eq!(quiz.attempt_questions(seed), quiz.attempt_questions(seed));
            seen_a.extend(a.iter().map(|s| s.to_string()));
        }
        assert_eq!(
            seen_a.len(),
            3,
            "every question of a group is drawn by some seed"
        );
    }

    #[test]
    fn a_seed_decides_the_draw_and_the_orders_and_gives_them_again() {
        let mut quiz = pool(10);
        quiz.draw = Some(4);
        quiz.shuffle_questions = true;
        let a = quiz.view(7);
        assert_eq!(a, quiz.view(7), "the same seed renders the same attempt");
        assert_eq!(a.questions.len(), 4);
        assert_eq!(a.points, 4.0);
        let views: Vec<_> = (0..20).map(|s| quiz.view(s)).collect();
        assert!(
            views.iter().any(|v| v.questions[0].id != a.questions[0].id),
            "other seeds draw other questions"
        );
        let first_choices = |v: &QuizView| match &v.questions[0].kind {
            KindView::SingleChoice { choices } => choices[0].text.clone(),
            other => panic!("{other:?}"),
        };
        assert!(
            views.iter().any(|v| first_choices(v) != "choice 0"),
            "choices are shuffled"
        );
        // Without drawing or shuffling, the pool in order.
        let plain = pool(3).view(1);
        let ids: Vec<&str> = plain.questions.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["q0", "q1", "q2"]);
    }

    #[test]
    fn ordering_items_are_never_shown_in_the_right_order() {
        let texts = ["one", "two"];
        let ids = text_ids(texts);
        let q = Question::new(
            "o",
            "Order",
            QuestionKind::Ordering {
                items: texts
                    .iter()
                    .zip(ids)
                    .map(|(t, id)| Item {
                        id,
                        text: (*t).to_owned(),
                    })
                    .collect(),
            },
        );
        for seed in 0..20 {
            match q.view(seed).kind {
                KindView::Ordering { items } => assert_eq!(items[0].text, "two"),
                other => panic!("{other:?}"),
            }
        }
    }
}
