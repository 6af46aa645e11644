//! The pure half of importing a package over a course imported before: what has to change, decided from the
//! stored outline and the package alone (no database, no files), so the rules can be tested on their own.
//! [`super::sync`] reads the outline, calls [`diff`], and applies the [`Plan`].
//!
//! The rules:
//! - Modules are matched by title, in order: a package module takes the first stored module of the same title
//!   not yet taken. Within a matched module, a package lesson takes the first stored lesson of that title. A
//!   lesson is never matched across modules: one the package moved to another module is removed and added
//!   there. A renamed lesson is likewise a new lesson (students' progress follows the lesson, so a lesson
//!   kept is one the teacher would recognise by name).
//! - Whatever is not matched is removed; whatever matches nothing is added.
//! - Moves are not a change of their own: the plan lists modules and lessons in the package's order, and
//!   applying it writes that order in one step. A course with no modules yet (a new one) is already in the
//!   package's order, so [`Plan::reorder`] is false for it.
//! - A kept lesson's text counts as changed by [`lesson_changed`], which ignores links: the stored body has
//!   URLs where the package has `sc-file:` and `sc-lesson:` placeholders.
//!
//! Files are not compared here: whether a lesson's files changed needs their bytes (hashes), which `sync`
//! reads from the package as it applies the plan.

use crate::courses::Attachment;

use super::PackageModule;

/// A module of the course as stored before the import.
#[derive(Debug, Clone)]
pub(crate) struct StoredModule {
    pub id: i64,
    pub title: String,
    /// In order.
    pub lessons: Vec<StoredLesson>,
}

/// A lesson of the course as stored before the import.
#[derive(Debug, Clone)]
pub(crate) struct StoredLesson {
    pub id: i64,
    pub title: String,
    /// The Markdown, with links to stored files and lessons where the package has placeholders.
    pub body: String,
    /// The launch page (`lessons.launch_path`) of an interactive page; `None` for a text lesson.
    pub launch: Option<String>,
    /// Its quiz, for a quiz lesson.
    pub quiz: Option<smartcourse_formats::quiz::Quiz>,
    /// Its files; applying the plan keeps those the package has with the same name and bytes.
    pub attachments: Vec<Attachment>,
}

/// What importing a package over a stored course changes.
#[derive(Debug)]
pub(crate) struct Plan {
    /// One step per package module, in the package's order (which is the order written).
    pub modules: Vec<ModuleStep>,
    /// Stored modules no package module matched, with how many lessons each held: removed with them.
    pub removed_modules: Vec<(i64, usize)>,
    /// Whether the course had modules already, so the package's order must be written over theirs.
    pub reorder: bool,
}

/// What happens to one package module.
#[derive(Debug)]
pub(crate) struct ModuleStep {
    /// The stored module it updates; `None`: a module to create.
    pub existing: Option<i64>,
    /// One step per lesson of the package module, in its order.
    pub lessons: Vec<LessonStep>,
    /// Lessons of the stored module that no package lesson matched: removed.
    pub removed_lessons: Vec<i64>,
}

/// What happens to one package lesson.
#[derive(Debug)]
pub(crate) struct LessonStep {
    /// The stored lesson it updates; `None`: a lesson to create.
    pub existing: Option<StoredLesson>,
    /// Whether the stored text differs from the package's, links aside (false for a new lesson).
    pub body_changed: bool,
    /// Whether the launch page must be written: it differs from the stored one, or a new lesson has one.
    pub launch_changed: bool,
    /// Whether the quiz must be written: it differs from the stored one (a new lesson's, when it has one).
    pub quiz_changed: bool,
}

impl LessonStep {
    /// Whether a kept lesson changed by what the plan can see (text or launch page); its files may still
    /// change it when applied. False for a new lesson, which counts as added instead.
    pub fn changed(&self) -> bool {
        self.existing.is_some() && (self.body_changed || self.launch_changed || self.quiz_changed)
    }
}

/// What bringing the course `stored` (its modules in order) in line with the package's `modules` changes.
pub(crate) fn diff(stored: Vec<StoredModule>, modules: &[PackageModule]) -> Plan {
    let reorder = !stored.is_empty();
    let mut unmatched = stored;
    let modules = modules
        .iter()
        .map(|module| {
            let (existing, mut old_lessons) =
                match unmatched.iter().position(|m| m.title == module.title) {
                    Some(i) => {
                        let m = unmatched.remove(i);
                        (Some(m.id), m.lessons)
                    }
                    None => (None, Vec::new()),
                };
            let lessons = module
                .lessons
                .iter()
                .map(|lesson| {
                    let existing = old_lessons
                        .iter()
                        .position(|l| l.title == lesson.title)
                        .map(|i| old_lessons.remove(i));
                    let stored_launch = existing.as_ref().and_then(|l| l.launch.as_ref());
                    let stored_quiz = existing.as_ref().and_then(|l| l.quiz.as_ref());
                    LessonStep {
                        quiz_changed: stored_quiz != lesson.quiz.as_ref(),
                        body_changed: existing
                            .as_ref()
                            .is_some_and(|l| lesson_changed(&l.body, &lesson.body)),
                        launch_changed: stored_launch != lesson.launch.as_ref(),
                        existing,
                    }
                })
                .collect();
            ModuleStep {
                existing,
                lessons,
                removed_lessons: old_lessons.into_iter().map(|l| l.id).collect(),
            }
        })
        .collect();
    Plan {
        modules,
        removed_modules: unmatched
            .into_iter()
            .map(|m| (m.id, m.lessons.len()))
            .collect(),
        reorder,
    }
}

/// Whether a stored body differs from the package's, ignoring the attachment links (whose placeholders the
/// stored body has replaced with URLs).
pub(crate) fn lesson_changed(stored: &str, from_package: &str) -> bool {
    /// The text with each link (from a marker to the next quote, space, bracket or `>`) replaced by `@`.
    /// Where each marker next occurs is kept and looked for again only once the reading has passed it, so
    /// each marker's search moves through the text once: looking for every marker again after each link
    /// cost links × text (a page linking thousands of files, imported again).
    fn without_links(s: &str) -> String {
        const MARKS: [&str; 4] = ["sc-file:", "/api/attachments/", "sc-lesson:", "/lessons/"];
        let mut out = String::with_capacity(s.len());
        let mut next: [Option<usize>; 4] = MARKS.map(|m| s.find(m));
        let mut at = 0;
        loop {
            for (found, mark) in next.iter_mut().zip(MARKS) {
                if found.is_some_and(|p| p < at) {
                    *found = s[at..].find(mark).map(|i| at + i);
                }
            }
            let first = next
                .iter()
                .zip(MARKS)
                .filter_map(|(p, m)| p.map(|p| (p, m.len())))
                .min();
            let Some((i, len)) = first else {
                out.push_str(&s[at..]);
                return out;
            };
            out.push_str(&s[at..i]);
            out.push('@');
            let after = &s[i + len..];
            let end = after
                .find(['"', '\'', ' ', ')', '>'])
                .unwrap_or(after.len());
            at = i + len + end;
        }
    }
    without_links(stored) != without_links(from_package)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::PackageLesson;

    fn stored(id: i64, title: &str, lessons: &[(i64, &str, &str)]) -> StoredModule {
        StoredModule {
            id,
            title: title.into(),
            lessons: lessons
                .iter()
                .map(|&(id, title, body)| StoredLesson {
                    id,
                    title: title.into(),
                    body: body.into(),
                    launch: None,
                    quiz: None,
                    attachments: Vec::new(),
                })
                .collect(),
        }
    }

    fn module(title: &str, lessons: &[(&str, &str)]) -> PackageModule {
        PackageModule {
            title: title.into(),
            lessons: lessons
                .iter()
                .map(|&(title, body)| PackageLesson {
                    title: title.into(),
                    body: body.into(),
                    attachments: Vec::new(),
                    refs: Vec::new(),
                    launch: None,
                    quiz: None,
                })
                .collect(),
        }
    }

    /// The stored lesson ids each module step keeps, `None` for a lesson to create.
    fn kept(plan: &Plan) -> Vec<(Option<i64>, Vec<Option<i64>>)> {
        plan.modules
            .iter()
            .map(|m| {
                let lessons = m
                    .lessons
                    .iter()
                    .map(|l| l.existing.as_ref().map(|s| s.id))
                    .collect();
                (m.existing, lessons)
            })
            .collect()
    }

    #[test]
    fn a_new_course_adds_everything_and_keeps_the_package_order() {
        let plan = diff(Vec::new(), &[module("One", &[("A", "a"), ("B", "b")])]);
        assert_eq!(kept(&plan), vec![(None, vec![None, None])]);
        assert!(!plan.reorder);
        assert!(plan.removed_modules.is_empty());
        assert!(plan.modules[0].lessons.iter().all(|l| !l.changed()));
    }

    /// 20,000 links, as a page linking that many files has: told apart by one pass over each body.
    #[test]
    fn bodies_of_thousands_of_links_are_compared_by_their_text() {
        let package: String = (0..20_000)
            .map(|i| format!("![{i}](sc-file:files/{i}.png)\n"))
            .collect();
        let stored: String = (0..20_000)
            .map(|i| format!("![{i}](/api/attachments/{i})\n"))
            .collect();
        assert!(!lesson_changed(&stored, &package));
        let edited = stored.replacen("![7]", "![seven]", 1);
        assert!(lesson_changed(&edited, &package));
    }

    #[test]
    fn unchanged_and_changed_bodies_are_told_apart() {
        let old = vec![stored(1, "One", &[(10, "A", "same"), (11, "B", "before")])];
        let plan = diff(old, &[module("One", &[("A", "same"), ("B", "after")])]);
        assert_eq!(kept(&plan), vec![(Some(1), vec![Some(10), Some(11)])]);
        let steps = &plan.modules[0].lessons;
        assert!(!steps[0].body_changed && !steps[0].changed());
        assert!(steps[1].body_changed && steps[1].changed());
        assert!(plan.reorder);
    }

    #[test]
    fn a_body_whose_only_difference_is_its_links_is_unchanged() {
        let old = vec![stored(
            1,
            "One",
            &[(
                10,
                "A",
                "See [it](/api/attachments/7/x.pdf) and [B](/lessons/11).",
            )],
        )];
        let plan = diff(
            old,
            &[module(
                "One",
                &[("A", "See [it](sc-file:x.pdf) and [B](sc-lesson:b).")],
            )],
        );
        assert!(!plan.modules[0].lessons[0].body_changed);
    }

    #[test]
    fn a_renamed_lesson_is_removed_and_added() {
        let old = vec![stored(1, "One", &[(10, "Old name", "text")])];
        let plan = diff(old, &[module("One", &[("New name", "text")])]);
        assert_eq!(kept(&plan), vec![(Some(1), vec![None])]);
        assert_eq!(plan.modules[0].removed_lessons, vec![10]);
    }

    #[test]
    fn a_lesson_no_longer_in_the_package_is_removed() {
        let old = vec![stored(
            1,
            "One",
            &[(10, "A", "a"), (11, "B", "b"), (12, "C", "c")],
        )];
        let plan = diff(old, &[module("One", &[("A", "a"), ("C", "c")])]);
        assert_eq!(kept(&plan), vec![(Some(1), vec![Some(10), Some(12)])]);
        assert_eq!(plan.modules[0].removed_lessons, vec![11]);
        assert!(plan.removed_modules.is_empty());
    }

    #[test]
    fn reordered_modules_and_lessons_are_kept_in_the_package_order() {
        let old = vec![
            stored(1, "One", &[(10, "A", "a"), (11, "B", "b")]),
            stored(2, "Two", &[(20, "C", "c")]),
        ];
        let plan = diff(
            old,
            &[
                module("Two", &[("C", "c")]),
                module("One", &[("B", "b"), ("A", "a")]),
            ],
        );
        assert_eq!(
            kept(&plan),
            vec![
                (Some(2), vec![Some(20)]),
                (Some(1), vec![Some(11), Some(10)])
            ]
        );
        assert!(plan.reorder);
        assert!(plan.modules.iter().all(|m| m.removed_lessons.is_empty()));
        assert!(
            plan.modules
                .iter()
                .flat_map(|m| &m.lessons)
                .all(|l| !l.changed())
        );
    }

    #[test]
    fn a_new_module_is_added_and_a_vanished_one_removed_with_its_lessons() {
        let old = vec![
            stored(1, "One", &[(10, "A", "a")]),
            stored(2, "Gone", &[(20, "X", "x"), (21, "Y", "y")]),
        ];
        let plan = diff(
            old,
            &[module("One", &[("A", "a")]), module("New", &[("Z", "z")])],
        );
        assert_eq!(
            kept(&plan),
            vec![(Some(1), vec![Some(10)]), (None, vec![None])]
        );
        assert_eq!(plan.removed_modules, vec![(2, 2)]);
    }

    #[test]
    fn a_lesson_moved_to_another_module_is_not_matched_there() {
        let old = vec![stored(1, "One", &[(10, "A", "a")]), stored(2, "Two", &[])];
        let plan = diff(old, &[module("One", &[]), module("Two", &[("A", "a")])]);
        assert_eq!(kept(&plan), vec![(Some(1), vec![]), (Some(2), vec![None])]);
        assert_eq!(plan.modules[0].removed_lessons, vec![10]);
    }

    #[test]
    fn modules_and_lessons_of_the_same_title_are_matched_in_order() {
        let old = vec![
            stored(1, "Part", &[(10, "Quiz", "first"), (11, "Quiz", "second")]),
            stored(2, "Part", &[]),
        ];
        let plan = diff(
            old,
            &[
                module("Part", &[("Quiz", "first"), ("Quiz", "second")]),
                module("Part", &[]),
            ],
        );
        assert_eq!(
            kept(&plan),
            vec![(Some(1), vec![Some(10), Some(11)]), (Some(2), vec![])]
        );
        assert!(plan.modules[0].lessons.iter().all(|l| !l.body_changed));
    }

    #[test]
    fn a_changed_launch_page_changes_the_lesson_and_a_new_lesson_with_one_writes_it() {
        let mut old = vec![stored(
            1,
            "One",
            &[(10, "Page", "text"), (11, "Same", "text")],
        )];
        old[0].lessons[0].launch = Some("a.html".into());
        old[0].lessons[1].launch = Some("b.html".into());
        let mut package = module(
            "One",
            &[("Page", "text"), ("Same", "text"), ("New", "text")],
        );
        package.lessons[0].launch = Some("a.html?v=2".into());
        package.lessons[1].launch = Some("b.html".into());
        package.lessons[2].launch = Some("c.html".into());
        let plan = diff(old, &[package]);
        let steps = &plan.modules[0].lessons;
        assert!(steps[0].launch_changed && steps[0].changed());
        assert!(!steps[1].launch_changed && !steps[1].changed());
        assert!(steps[2].existing.is_none() && steps[2].launch_changed && !steps[2].changed());
    }
}
