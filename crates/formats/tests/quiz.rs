//! Quizzes imported from the real sample packages in `../shared/samples`: counts per kind, what is listed as
//! unsupported, and the scores the source platform gives for right, partly right and wrong answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use smartcourse_formats::quiz::{self, Imported, Question, Quiz, Response};
use smartcourse_formats::{Limits, Source};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples")
        .join(name)
}

fn import(name: &str) -> Imported {
    let scratch = tempfile::tempdir().unwrap();
    let source = Source::open(&sample(name), &Limits::default(), scratch.path())
        .unwrap()
        .descend(&[
            "imsmanifest.xml",
            "moodle_backup.xml",
            "course.xml",
            "library.xml",
        ]);
    quiz::import(&source).unwrap()
}

fn counts(quizzes: &[Quiz]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for q in quizzes {
        for (k, n) in q.counts() {
            *out.entry(k).or_insert(0) += n;
        }
    }
    out
}

fn find<'q>(quizzes: &'q [Quiz], title: &str) -> &'q Question {
    quizzes
        .iter()
        .flat_map(|q| &q.questions)
        .find(|q| q.title == title)
        .unwrap_or_else(|| panic!("no question “{title}”"))
}

/// The id of the choice with this text (the first, or the `n`th of repeated texts).
fn choice(q: &Question, text: &str, n: usize) -> String {
    let choices = match &q.kind {
        quiz::QuestionKind::SingleChoice { choices }
        | quiz::QuestionKind::MultipleResponse { choices, .. } => choices,
        other => panic!("{other:?}"),
    };
    choices
        .iter()
        .filter(|c| c.text == text)
        .nth(n)
        .unwrap_or_else(|| panic!("no choice {text:?} in {choices:?}"))
        .id
        .clone()
}

fn score(q: &Question, r: Response) -> f64 {
    let g = quiz::grade(q, &r);
    (g.score * 1000.0).round() / 1000.0
}

fn picks(q: &Question, texts: &[(&str, usize)]) -> Response {
    Response::Choices {
        choices: texts.iter().map(|(t, n)| choice(q, t, *n)).collect(),
    }
}

fn kinds(pairs: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    pairs.iter().copied().collect()
}

#[test]
fn canvas_cartridges_import_every_type_canvas_grades() {
    let i = import("quizzes/qtigem_canvas_cartridge.imscc");
    let expected = kinds(&[
        ("essay", 1),
        ("fill in the blanks", 2),
        ("matching", 1),
        ("multiple choice", 1),
        ("multiple response", 1),
        ("numeric", 1),
        ("short answer", 1),
        ("true/false", 1),
    ]);
    assert_eq!(counts(&i.quizzes), expected);
    assert_eq!(
        counts(&i.banks),
        expected,
        "the bank holds the same questions"
    );
    for left_out in [
        "“Question 9” (a formula question)",
        "“Question 11” (a file upload)",
        "“Question 12” (text only",
    ] {
        assert!(
            i.unsupported.iter().any(|u| u.contains(left_out)),
            "{left_out}: {:?}",
            i.unsupported
        );
    }
    // Canvas's multiple answers: A, B and C are right; each right choice earns a third, each wrong one costs a
    // third, never below 0.
    let q5 = find(&i.quizzes, "Question 5");
    assert_eq!(score(q5, picks(q5, &[("A", 0), ("B", 0), ("C", 0)])), 1.0);
    assert_eq!(score(q5, picks(q5, &[("A", 0), ("B", 0)])), 0.667);
    assert_eq!(score(q5, picks(q5, &[("A", 0), ("B", 0), ("D", 0)])), 0.333);
    assert_eq!(score(q5, picks(q5, &[("D", 0), ("E", 0)])), 0.0);
    // Several blanks: each accepted answer (any case) earns the blank's half.
    let q4 = find(&i.quizzes, "Question 4");
    let blanks = |a: &str, b: &str| Response::Blanks {
        gaps: [
            ("Multiple".to_owned(), a.to_owned()),
            ("Blanks".to_owned(), b.to_owned()),
        ]
        .into(),
    };
    assert_eq!(score(q4, blanks("multiple", " Blanks ")), 1.0);
    assert_eq!(score(q4, blanks("MULTIPLE", "gaps")), 0.5);
    assert_eq!(score(q4, blanks("one", "two")), 0.0);
    assert!(
        q4.prompt.contains("[[Multiple]]") && q4.prompt.contains("[[Blanks]]"),
        "{}",
        q4.prompt
    );
    // Numerical: 42 exactly, or 41.5 to 42.5.
    let q8 = find(&i.quizzes, "Question 8");
    let n = |t: &str| score(q8, Response::Number { text: t.into() });
    assert_eq!((n("42"), n("41,6"), n("43")), (1.0, 1.0, 0.0));
    // Matching: A→1, B→2, per pair.
    let q7 = find(&i.quizzes, "Question 7");
    let quiz::QuestionKind::Matching { pairs, distractors } = &q7.kind else {
        panic!()
    };
    assert_eq!(distractors.len(), 7);
    let answer = |a: &str, b: &str| Response::Matching {
        pairs: [
            (pairs[0].id.clone(), a.to_owned()),
            (pairs[1].id.clone(), b.to_owned()),
        ]
        .into(),
    };
    assert_eq!(
        (
            score(q7, answer("1", "2")),
            score(q7, answer("1", "C")),
            score(q7, answer("2", "1"))
        ),
        (1.0, 0.5, 0.0)
    );
}

#[test]
fn cartridge_profiles_import_and_groups_are_reported() {
    let i = import("quizzes/ccviewer_all-question-types.imscc");
    assert_eq!(
        counts(&i.quizzes),
        kinds(&[
            ("essay", 1),
            ("fill in the blanks", 1),
            ("matching", 1),
            ("multiple choice", 1),
            ("multiple response", 1),
            ("numeric", 1),
            ("true/false", 1)
        ])
    );
    assert_eq!(i.quizzes[0].max_attempts, Some(1));
    let red = find(&i.quizzes, "Question");
    assert_eq!(
        score(
            red,
            Response::Choice {
                choice: choice(red, "3", 0)
            }
        ),
        1.0
    );
    assert_eq!(
        score(
            red,
            Response::Choice {
                choice: choice(red, "4", 0)
            }
        ),
        0.0
    );
    assert_eq!(
        quiz::grade(
            red,
            &Response::Choice {
                choice: choice(red, "4", 0)
            }
        )
        .feedback,
        ["<p>subtract 1</p>", "<p>alright</p>"],
        "the choice's feedback, then the general feedback"
    );

    let g = import("quizzes/ccviewer_grouptest.imscc");
    assert_eq!(g.quizzes.len(), 3);
    assert_eq!(counts(&g.quizzes).values().sum::<usize>(), 10);
    assert_eq!(counts(&g.banks).values().sum::<usize>(), 10);
    // Canvas's question groups ("pick 2 of these 3, 3 points each") are draws of the quiz.
    let picky = g
        .quizzes
        .iter()
        .find(|q| q.groups.iter().any(|d| d.draw == 2))
        .expect("a quiz that draws 2 of a group");
    let group = picky.groups.iter().find(|d| d.draw == 2).unwrap();
    assert_eq!(
        (group.title.as_str(), group.questions.len()),
        ("Group 1", 3)
    );
    for id in &group.questions {
        let q = picky.questions.iter().find(|q| &q.id == id).unwrap();
        assert_eq!(q.points, 3.0, "the group's points per item");
    }
    for seed in 0..10 {
        let shown = picky.attempt_questions(seed);
        assert_eq!(
            shown
                .iter()
                .filter(|q| group.questions.contains(&q.id))
                .count(),
            2
        );
    }
    assert!(
        !g.unsupported.iter().any(|u| u.contains("draws")),
        "{:?}",
        g.unsupported
    );

    let odd = import("quizzes/cc2olx_corner_cases.imscc");
    assert!(odd.quizzes.iter().all(|q| q.questions.is_empty()));
    assert!(
        odd.unsupported
            .iter()
            .any(|u| u.contains("“Clusterization”")),
        "{:?}",
        odd.unsupported
    );
}

#[test]
fn qti_2_packages_import_choices_and_gaps_and_refuse_adaptive_items() {
    let w = import("quizzes/qtiworks_WebDeveloperTest1.zip");
    assert_eq!(w.quizzes[0].title, "Web Developer Website");
    assert_eq!(
        counts(&w.quizzes),
        kinds(&[
            ("fill in the blanks", 1),
            ("multiple choice", 6),
            ("multiple response", 2)
        ])
    );
    // map_response: B and E are worth 1 each of an upper bound of 2; any other choice costs 2.
    let q5 = &w.quizzes[0].questions[4];
    let vpn = "Using a Virtual Private Network connection to the server";
    let ftp = "Using the File Transfer Protocol (FTP)";
    let lan = "Using a Local Area Network connection to the server";
    assert_eq!(score(q5, picks(q5, &[(vpn, 0), (ftp, 0)])), 1.0);
    assert_eq!(score(q5, picks(q5, &[(vpn, 0)])), 0.5);
    assert_eq!(score(q5, picks(q5, &[(vpn, 0), (lan, 0)])), 0.0);
    let q3 = &w.quizzes[0].questions[2];
    assert_eq!(
        score(
            q3,
            Response::Choice {
                choice: choice(q3, "&lt;img src = \"myimage.jpg\" /&gt;", 0)
            }
        ),
        1.0
    );

    let g = import("quizzes/qtigem_test_qti_2.2.zip");
    assert_eq!(
        counts(&g.quizzes),
        kinds(&[
            ("essay", 1),
            ("multiple choice", 1),
            ("multiple response", 1),
            ("true/false", 1)
        ])
    );
    assert!(
        g.unsupported.iter().any(|u| u.contains("adaptive")),
        "{:?}",
        g.unsupported
    );
    let essay = g.quizzes[0]
        .questions
        .iter()
        .find(|q| q.kind_name() == "essay")
        .unwrap();
    assert_eq!(essay.points, 25.0);
    let graded = quiz::grade(
        essay,
        &Response::Essay {
            text: "Dr King…".into(),
        },
    );
    assert!(graded.needs_marking && graded.score == 0.0);
}

#[test]
fn moodle_backups_import_quizzes_banks_and_moodle_fractions() {
    let m = import("quizzes/quizarchiver_course-qa-ref_m43_course.mbz");
    assert_eq!(m.quizzes.len(), 5);
    let reference = &m.quizzes[0];
    assert_eq!(reference.title, "Reference Quiz (standard question types)");
    assert_eq!(
        reference.counts(),
        kinds(&[
            ("essay", 1),
            ("fill in the blanks", 2),
            ("matching", 1),
            ("multiple response", 2),
            ("numeric", 1),
            ("short answer", 1),
            ("true/false", 1)
        ])
    );
    for left_out in [
        "“Calculated” (a calculated question)",
        "“Drag and Drop into Text” (drag and drop)",
        "“Description” (a description",
    ] {
        assert!(
            m.unsupported.iter().any(|u| u.contains(left_out)),
            "{left_out}"
        );
    }
    let sa = find(&m.quizzes, "Short Answer");
    let t = |s: &str| score(sa, Response::Text { text: s.into() });
    assert_eq!(
        (t("Short Answer "), t("shortanswer"), t("long answer")),
        (1.0, 0.75, 0.0)
    );
    let mc = find(&m.quizzes, "Multiple Choice");
    assert_eq!(
        score(
            mc,
            picks(mc, &[("<p>Correct</p>", 0), ("<p>Correct</p>", 1)])
        ),
        1.0
    );
    assert_eq!(score(mc, picks(mc, &[("<p>Correct</p>", 1)])), 0.5);
    assert_eq!(score(mc, picks(mc, &[("<p>False</p>", 0)])), 0.0);
    let num = find(&m.quizzes, "Numerical");
    assert_eq!(score(num, Response::Number { text: "42".into() }), 1.0);
    assert_eq!(score(num, Response::Number { text: "41".into() }), 0.0);
    let cloze = find(&m.quizzes, "Embedded Answers (Cloze)");
    assert!(
        cloze.prompt.contains("[[1]]") && cloze.prompt.contains("[[2]]"),
        "{}",
        cloze.prompt
    );

    let sq = import("quizzes/studentquiz_course_m40_qbank.mbz");
    assert!(sq.quizzes.is_empty(), "a StudentQuiz is not a core quiz");
    // 15 bank entries (26 question versions: the latest of each is taken).
    assert_eq!(
        counts(&sq.banks),
        kinds(&[
            ("matching", 1),
            ("multiple choice", 1),
            ("numeric", 1),
            ("short answer", 4),
            ("true/false", 8)
        ])
    );
}

#[test]
fn an_open_edx_library_imports_as_a_bank_graded_as_open_edx_does() {
    let e = import("quizzes/openedx-test-problem-bank.tar.gz");
    assert_eq!(e.banks[0].title, "Open edX Test Problem Bank");
    assert_eq!(
        counts(&e.banks),
        kinds(&[("multiple choice", 8), ("multiple response", 4)])
    );
    // Checkboxes are all or nothing.
    let checks = find(&e.banks, "Checks I");
    assert_eq!(
        score(
            checks,
            picks(checks, &[("a correct answer", 0), ("a correct answer", 1)])
        ),
        1.0
    );
    assert_eq!(
        score(checks, picks(checks, &[("a correct answer", 0)])),
        0.0
    );
    let dropdown = find(&e.banks, "Dropdown II");
    assert_eq!(
        score(
            dropdown,
            Response::Choice {
                choice: choice(dropdown, "the correct answer", 0)
            }
        ),
        1.0
    );
    assert_eq!(
        score(
            dropdown,
            Response::Choice {
                choice: choice(dropdown, "an incorrect answer", 2)
            }
        ),
        0.0
    );
}

/// Every string in a JSON value, and every key.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

/// What a student must not see: answers typed or matched, feedback, fractions and correct flags.
fn secrets(q: &Question) -> Vec<String> {
    use quiz::{GapKind, QuestionKind as K};
    let mut out: Vec<String> = Vec::new();
    let choice_fb = |cs: &[quiz::Choice], out: &mut Vec<String>| {
        out.extend(cs.iter().map(|c| c.feedback.clone()))
    };
    let texts = |a: &[quiz::TextAnswer], out: &mut Vec<String>| {
        out.extend(
            a.iter()
                .flat_map(|a| [a.pattern.clone(), a.feedback.clone()]),
        )
    };
    match &q.kind {
        K::SingleChoice { choices } | K::MultipleResponse { choices, .. } => {
            choice_fb(choices, &mut out)
        }
        K::TrueFalse {
            feedback_true,
            feedback_false,
            ..
        } => out.extend([feedback_true.clone(), feedback_false.clone()]),
        K::ShortAnswer { answers, .. } => texts(answers, &mut out),
        K::Numeric { answers } => out.extend(answers.iter().map(|a| a.feedback.clone())),
        K::Matching { .. } | K::Ordering { .. } => {}
        K::FillBlanks { gaps } => {
            for g in gaps {
                match &g.kind {
                    GapKind::Text { answers, .. } => texts(answers, &mut out),
                    GapKind::Choice { choices } => choice_fb(choices, &mut out),
                    GapKind::Numeric { answers } => {
                        out.extend(answers.iter().map(|a| a.feedback.clone()))
                    }
                }
            }
        }
        K::Essay { grader_info, .. } => out.push(grader_info.clone()),
    }
    out.push(q.feedback.clone());
    out.extend(q.hints.iter().cloned());
    out.extend(
        [
            "fraction",
            "correct",
            "feedback",
            "answer",
            "pattern",
            "tolerance",
            "hints_text",
        ]
        .map(String::from),
    );
    out.retain(|s| s.trim().chars().count() > 2 && !q.prompt.contains(s.as_str()));
    out
}

#[test]
fn no_student_view_of_an_imported_question_holds_an_answer() {
    let mut checked = 0;
    for name in [
        "quizzes/ccviewer_grouptest.imscc",
        "quizzes/ccviewer_all-question-types.imscc",
        "quizzes/qtigem_canvas_cartridge.imscc",
        "quizzes/qtiworks_WebDeveloperTest1.zip",
        "quizzes/qtigem_test_qti_2.2.zip",
        "quizzes/quizarchiver_course-qa-ref_m43_course.mbz",
        "quizzes/studentquiz_course_m40_qbank.mbz",
        "quizzes/openedx-test-problem-bank.tar.gz",
    ] {
        let i = import(name);
        for q in i.quizzes.iter().chain(&i.banks).flat_map(|q| &q.questions) {
            let mut seen = Vec::new();
            for seed in [0, 1, 99] {
                strings(&serde_json::to_value(q.view(seed)).unwrap(), &mut seen);
            }
            let choice_texts: Vec<String> = match &q.kind {
                quiz::QuestionKind::SingleChoice { choices }
                | quiz::QuestionKind::MultipleResponse { choices, .. } => {
                    choices.iter().map(|c| c.text.clone()).collect()
                }
                _ => Vec::new(),
            };
            for secret in secrets(q) {
                if choice_texts.contains(&secret) {
                    continue;
                }
                assert!(
                    !seen
                        .iter()
                        .any(|s| s == &secret || s.contains(&secret) && secret.len() > 8),
                    "{name}: the view of “{}” shows {secret:?}",
                    q.title
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

/// Hostile quiz files stay within the package budget and end quickly, whatever they claim.
#[test]
fn hostile_gift_and_qti_are_stopped_by_the_budget() {
    use smartcourse_formats::Budget;
    let small = Limits {
        max_package_xml_nodes: 10_000,
        ..Limits::default()
    };
    // A hundred thousand tiny questions: refused at the budget, naming it.
    let many = "Q {T}\n\n".repeat(100_000);
    let started = std::time::Instant::now();
    let e = quiz::gift::parse(&many, &Budget::new(&small)).unwrap_err();
    assert_eq!(e.code(), "too_large", "{e}");
    assert!(e.to_string().contains("GIFT file"), "{e}");
    // One question of a million answers, the same.
    let wide = format!("Q {{={}}}", "a ~".repeat(1_000_000));
    assert_eq!(
        quiz::gift::parse(&wide, &Budget::new(&small))
            .unwrap_err()
            .code(),
        "too_large"
    );
    // Unclosed braces and runs of escapes are errors, not hangs.
    assert!(quiz::gift::parse(&"{\\".repeat(200_000), &Budget::new(&Limits::default())).is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    // QTI: conditions nested ten thousand deep, in a cartridge; and a breadth of items past the budget.
    let dir = tempfile::tempdir().unwrap();
    let manifest = r#"<manifest xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"><metadata><schema>IMS Common Cartridge</schema></metadata><resources><resource identifier="a" type="imsqti_xmlv1p2/imscc_xmlv1p1/assessment"><file href="a.xml"/></resource></resources></manifest>"#;
    let deep = format!(
        r#"<questestinterop><assessment title="Deep"><section><item ident="i" title="Deep"><presentation><response_lid ident="r"><render_choice><response_label ident="x"><material><mattext>x</mattext></material></response_label></render_choice></response_lid></presentation><resprocessing><respcondition><conditionvar>{}<varequal respident="r">x</varequal>{}</conditionvar><setvar>100</setvar></respcondition></resprocessing></item></section></assessment></questestinterop>"#,
        "<and>".repeat(10_000),
        "</and>".repeat(10_000)
    );
    std::fs::write(dir.path().join("imsmanifest.xml"), manifest).unwrap();
    std::fs::write(dir.path().join("a.xml"), &deep).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let source = Source::open(dir.path(), &Limits::default(), scratch.path()).unwrap();
    // Conditions are followed 16 levels down and no further: no stack overflow, and nothing below counts.
    let i = quiz::import(&source).unwrap();
    let q = &i.quizzes[0].questions[0];
    assert_eq!(
        score(
            q,
            Response::Choice {
                choice: quiz::text_id("x")
            }
        ),
        0.0
    );
    let items = format!(
        r#"<questestinterop><assessment title="Wide"><section>{}</section></assessment></questestinterop>"#,
        r#"<item ident="i"><presentation><response_str ident="r"/></presentation></item>"#
            .repeat(5_000)
    );
    std::fs::write(dir.path().join("a.xml"), items).unwrap();
    let source = Source::open(dir.path(), &small, scratch.path()).unwrap();
    let e = quiz::import(&source).unwrap_err();
    assert_eq!(e.code(), "too_large", "{e}");
}

/// A cartridge written here: a question group that draws 1 of its 2 questions at 2 points each, beside a
/// question outside any group.
#[test]
fn a_canvas_question_group_draws_its_number_of_questions_at_its_points() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = r#"<manifest xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"><metadata><schema>IMS Common Cartridge</schema></metadata><resources><resource identifier="a" type="imsqti_xmlv1p2/imscc_xmlv1p1/assessment"><file href="a.xml"/></resource></resources></manifest>"#;
    let item = |id: &str| {
        format!(
            r#"<item ident="{id}" title="{id}"><presentation><response_lid ident="r"><render_choice><response_label ident="x"><material><mattext>x</mattext></material></response_label><response_label ident="y"><material><mattext>y</mattext></material></response_label></render_choice></response_lid></presentation><resprocessing><respcondition><conditionvar><varequal respident="r">x</varequal></conditionvar><setvar>100</setvar></respcondition></resprocessing></item>"#
        )
    };
    let qti = format!(
        r#"<questestinterop><assessment title="Draws"><section ident="root"><section ident="g" title="Pick one"><selection_ordering><selection><selection_number>1</selection_number><selection_extension><points_per_item>2.0</points_per_item></selection_extension></selection></selection_ordering>{}{}</section>{}</section></assessment></questestinterop>"#,
        item("a"),
        item("b"),
        item("c")
    );
    std::fs::write(dir.path().join("imsmanifest.xml"), manifest).unwrap();
    std::fs::write(dir.path().join("a.xml"), qti).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let source = Source::open(dir.path(), &Limits::default(), scratch.path()).unwrap();
    let i = quiz::import(&source).unwrap();
    let q = &i.quizzes[0];
    assert_eq!(q.questions.len(), 3, "every question of the pool is kept");
    assert_eq!(q.groups.len(), 1);
    assert_eq!(q.groups[0].draw, 1);
    assert_eq!(q.groups[0].questions, ["a", "b"]);
    let points: Vec<f64> = q.questions.iter().map(|q| q.points).collect();
    assert_eq!(points, [2.0, 2.0, 1.0]);
    let mut drawn = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let ids: Vec<&str> = q
            .attempt_questions(seed)
            .iter()
            .map(|q| q.id.as_str())
            .collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(ids[1], "c");
        drawn.insert(ids[0].to_owned());
    }
    assert_eq!(drawn.len(), 2, "either question of the group may be drawn");
}

/// Extracts the Moodle sample `name` (a `.mbz`, gzipped tar) into a directory.
fn unpacked(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::open(sample(name)).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dir.path())
        .unwrap();
    dir
}

#[test]
fn a_moodle_quiz_passes_at_its_pass_grade_relative_to_its_grade() {
    // The samples set no pass grade (0): SmartCourse's default stays.
    let m = import("quizzes/quizarchiver_course-qa-ref_m43_course.mbz");
    assert!(
        m.quizzes
            .iter()
            .all(|q| q.pass == quiz::PassRule::Score { percent: 50.0 })
    );

    // The same backup with a pass grade of 6.5 on a quiz graded out of 10: 65%.
    let dir = unpacked("quizzes/quizarchiver_course-qa-ref_m43_course.mbz");
    let activity = dir.path().join("activities/quiz_23");
    let edit = |file: &str, from: &str, to: &str| {
        let path = activity.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "grades.xml",
        "<gradepass>0.00000</gradepass>",
        "<gradepass>6.50000</gradepass>",
    );
    edit(
        "grades.xml",
        "<grademax>100.00000</grademax>",
        "<grademax>10.00000</grademax>",
    );
    edit(
        "quiz.xml",
        "<grade>100.00000</grade>",
        "<grade>10.00000</grade>",
    );
    let scratch = tempfile::tempdir().unwrap();
    let source = Source::open(dir.path(), &Limits::default(), scratch.path()).unwrap();
    let i = quiz::import(&source).unwrap();
    let reference = i
        .quizzes
        .iter()
        .find(|q| q.title == "Reference Quiz (standard question types)")
        .unwrap();
    assert_eq!(reference.pass, quiz::PassRule::Score { percent: 65.0 });
    let others = i.quizzes.iter().filter(|q| q.title != reference.title);
    assert!(
        others
            .into_iter()
            .all(|q| q.pass == quiz::PassRule::Score { percent: 50.0 })
    );
}
