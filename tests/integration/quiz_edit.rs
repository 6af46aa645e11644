//! The browser's quiz editor beyond choice questions (#23): every kind's answers as plain form fields, new
//! questions of every kind, deleting and moving questions, the quiz's settings, and the confirmation a
//! grading change asks for once students have attempted the quiz. Real server, real SQLite, plain form posts
//! as a browser without script sends them.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse_formats::quiz::{
    GapKind, NumericValue, PassRule, QuestionKind, TextAnswer, Whitespace,
};

use crate::common::{TestApp, TestUser, assert_error};
use crate::quiz_teach::{GIFT, course, json_of, page, post_form, post_gift, quiz_of};

/// Starts an attempt as `student` (201) and returns its view.
async fn start(app: &TestApp, lesson: i64, student: &TestUser) -> Value {
    json_of(
        app.send(
            Method::POST,
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            Some(&student.token),
            None,
        )
        .await,
        201,
    )
    .await
}

async fn submit(app: &TestApp, student: &TestUser, view: &Value, answers: Value) -> Value {
    let attempt = view["attempt_id"].as_i64().unwrap();
    json_of(
        app.send(
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/submit"),
            Some(&student.token),
            Some(&json!({ "answers": answers })),
        )
        .await,
        200,
    )
    .await
}

/// The question of the attempt `view` whose prompt starts with `start`.
fn shown<'a>(view: &'a Value, start: &str) -> &'a Value {
    view["quiz"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["prompt"].as_str().unwrap().starts_with(start))
        .unwrap_or_else(|| panic!("no question {start:?} in {view}"))
}

/// The id of the option (choice, matching prompt, item) of `list` whose text is `text`.
fn option(list: &Value, text: &str) -> String {
    list.as_array()
        .unwrap()
        .iter()
        .find(|o| o["text"] == text)
        .unwrap_or_else(|| panic!("no {text:?} in {list}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A form's fields, in order.
type Form<'a> = &'a [(&'a str, &'a str)];

/// New questions of each kind, as the "Add a question" form sends them.
const NEW: &[&[(&str, &str)]] = &[
    &[
        ("kind", "multiple_response"),
        ("prompt", "Which are primes?"),
        ("choice", "2"),
        ("choice", "3"),
        ("choice", "4"),
        ("right", "0"),
        ("right", "1"),
        ("points", "1"),
        ("feedback", ""),
    ],
    &[
        ("kind", "true_false"),
        ("prompt", "The Earth is flat."),
        ("truth", "false"),
        ("points", "1"),
        ("feedback", "It is round."),
    ],
    &[
        ("kind", "short_answer"),
        ("prompt", "Name the largest ocean."),
        ("answers", "Pacific\r\nPacific Ocean\r\n"),
        ("points", "2"),
        ("feedback", ""),
    ],
    &[
        ("kind", "numeric"),
        ("prompt", "What is 13 / 4?"),
        ("answers", "3.25 ± 0.005"),
        ("points", "1"),
    ],
    &[
        ("kind", "matching"),
        ("prompt", "Match each country with its capital."),
        ("answers", "France = Paris\nSpain = Madrid\n= Rome"),
    ],
    &[
        ("kind", "ordering"),
        ("prompt", "Put them in order."),
        ("answers", "one\ntwo\nthree"),
    ],
    &[
        ("kind", "fill_blanks"),
        ("prompt", "Roses are [[1]], violets are [[2]]."),
        ("answers", "red\nblue | indigo"),
    ],
    &[
        ("kind", "essay"),
        ("prompt", "Describe your school."),
        ("points", "3"),
    ],
];

/// A teacher adds a question of every kind in the browser and edits the answers of several; a student's
/// attempt never sees an answer and is graded by what the teacher wrote.
#[tokio::test]
async fn every_kind_is_added_and_edited_in_the_browser_and_graded_as_written() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course(&app).await;
    assert_eq!(
        post_gift(&app, lesson, &teacher, &app.base, GIFT, false)
            .await
            .status(),
        303
    );
    let add = format!("/teach/lessons/{lesson}/quiz/questions");
    for kind in [
        "multiple_response",
        "true_false",
        "short_answer",
        "numeric",
        "matching",
        "ordering",
        "fill_blanks",
        "essay",
    ] {
        let (status, html) = page(&app, &format!("{add}/new?kind={kind}"), &teacher).await;
        assert_eq!(status, 200, "{kind}");
        assert!(html.contains(&format!("value=\"{kind}\"")), "{html}");
    }
    for form in NEW {
        let r = post_form(&app, &add, &teacher, form).await;
        assert_eq!(r.status(), 303, "{form:?}: {}", r.text().await.unwrap());
    }
    let quiz = quiz_of(&app, lesson).await.unwrap();
    assert_eq!(quiz.questions.len(), 3 + NEW.len());
    let kinds: Vec<&str> = quiz.questions[3..].iter().map(|q| q.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "multiple response",
            "true/false",
            "short answer",
            "numeric",
            "matching",
            "ordering",
            "fill in the blanks",
            "essay"
        ]
    );
    let q = |n: usize| &quiz.questions[3 + n];
    assert!(matches!(
        q(1).kind,
        QuestionKind::TrueFalse { answer: false, .. }
    ));
    assert_eq!(q(1).feedback, "It is round.");
    assert_eq!(q(2).points, 2.0);
    assert_eq!(q(7).points, 3.0);
    let QuestionKind::ShortAnswer {
        answers,
        case_sensitive,
        ..
    } = &q(2).kind
    else {
        panic!("{:?}", q(2))
    };
    let patterns: Vec<&str> = answers.iter().map(|a| a.pattern.as_str()).collect();
    assert_eq!(patterns, ["Pacific", "Pacific Ocean"]);
    assert!(!case_sensitive);
    let QuestionKind::Numeric { answers } = &q(3).kind else {
        panic!()
    };
    assert_eq!(
        answers[0].value,
        NumericValue::Exact {
            value: 3.25,
            tolerance: 0.005
        }
    );
    let QuestionKind::Matching { pairs, distractors } = &q(4).kind else {
        panic!()
    };
    assert_eq!(
        (pairs.len(), distractors.as_slice()),
        (2, &["Rome".to_owned()][..])
    );
    let QuestionKind::FillBlanks { gaps } = &q(6).kind else {
        panic!()
    };
    let ids: Vec<&str> = gaps.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["1", "2"]);
    assert!(matches!(&gaps[1].kind, GapKind::Text { answers, .. } if answers.len() == 2));

    // Each question's form shows its answers as the teacher wrote them.
    for (n, shows) in [
        (4, "value=\"false\" checked"),
        (6, "3.25 ± 0.005"),
        (7, "Spain = Madrid\n= Rome"),
        (8, "one\ntwo\nthree"),
        (9, "red\nblue | indigo"),
    ] {
        let (status, html) = page(
            &app,
            &format!("/teach/lessons/{lesson}/quiz/questions/{}", n + 1),
            &teacher,
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            html.contains(shows),
            "question {}: {shows:?} in {html}",
            n + 1
        );
    }

    // Edits: the short answer becomes case-sensitive with a new alternative, the number a range, true/false
    // flips; the other questions stay as they were.
    let edit = |n: usize| format!("/teach/lessons/{lesson}/quiz/questions/{n}");
    let before = quiz_of(&app, lesson).await.unwrap();
    for (n, form) in [
        (
            6,
            &[
                ("prompt", "Name the largest ocean."),
                ("answers", "Pacific\nThe Pacific"),
                ("case_sensitive", "on"),
                ("points", "2"),
                ("feedback", ""),
            ][..],
        ),
        (
            7,
            &[("prompt", "What is 13 / 4?"), ("answers", "3.24..3.26")][..],
        ),
        (
            5,
            &[("prompt", "The Earth is round."), ("truth", "true")][..],
        ),
    ] {
        let r = post_form(&app, &edit(n), &teacher, form).await;
        assert_eq!(r.status(), 303, "{n}: {}", r.text().await.unwrap());
    }
    let quiz = quiz_of(&app, lesson).await.unwrap();
    assert_eq!(
        quiz.questions[4].kind,
        QuestionKind::TrueFalse {
            answer: true,
            feedback_true: String::new(),
            feedback_false: String::new()
        }
    );
    assert_eq!(
        quiz.questions[4].feedback, "It is round.",
        "kept when the form leaves it out"
    );
    assert_eq!(
        quiz.questions[4].id, before.questions[4].id,
        "an edit keeps the question's id"
    );
    assert_eq!(
        quiz.questions[5].kind,
        QuestionKind::ShortAnswer {
            answers: vec![
                TextAnswer {
                    pattern: "Pacific".into(),
                    fraction: 1.0,
                    feedback: String::new()
                },
                TextAnswer {
                    pattern: "The Pacific".into(),
                    fraction: 1.0,
                    feedback: String::new()
                },
            ],
            case_sensitive: true,
            whitespace: Whitespace::Trim,
        }
    );
    let QuestionKind::Numeric { answers } = &quiz.questions[6].kind else {
        panic!()
    };
    assert_eq!(
        answers[0].value,
        NumericValue::Range {
            min: 3.24,
            max: 3.26
        }
    );
    for n in [0, 1, 2, 3, 7, 8, 9, 10] {
        assert_eq!(quiz.questions[n], before.questions[n], "question {}", n + 1);
    }

    // The student's attempt shows no answer, on the API as on the page.
    let view = start(&app, lesson, &student).await;
    let (_, html) = page(&app, &format!("/lessons/{lesson}/quiz"), &student).await;
    for secret in ["Pacific", "3.24", "indigo", "It is round"] {
        assert!(!view.to_string().contains(secret), "{secret} in {view}");
        assert!(!html.contains(secret), "{secret} in {html}");
    }

    // Right answers to the new kinds are graded right, as the teacher wrote them; a wrong case is wrong.
    let primes = shown(&view, "Which are primes");
    let matching = shown(&view, "Match each");
    let ordering = shown(&view, "Put them");
    let blanks = shown(&view, "Roses");
    let ids = |q: &Value| q["id"].as_str().unwrap().to_owned();
    let mut answers = serde_json::Map::new();
    answers.insert(
        ids(primes),
        json!({"type": "choices", "choices": [option(&primes["kind"]["choices"], "2"), option(&primes["kind"]["choices"], "3")]}),
    );
    answers.insert(
        ids(shown(&view, "The Earth")),
        json!({"type": "true_false", "value": true}),
    );
    answers.insert(
        ids(shown(&view, "Name the largest")),
        json!({"type": "text", "text": "The Pacific"}),
    );
    answers.insert(
        ids(shown(&view, "What is 13")),
        json!({"type": "number", "text": "3.255"}),
    );
    answers.insert(
        ids(matching),
        json!({"type": "matching", "pairs": {
            option(&matching["kind"]["prompts"], "France"): "Paris",
            option(&matching["kind"]["prompts"], "Spain"): "Madrid",
        }}),
    );
    let items = &ordering["kind"]["items"];
    answers.insert(
        ids(ordering),
        json!({"type": "ordering", "items": [option(items, "one"), option(items, "two"), option(items, "three")]}),
    );
    answers.insert(
        ids(blanks),
        json!({"type": "blanks", "gaps": {"1": "red", "2": "indigo"}}),
    );
    let result = submit(&app, &student, &view, Value::Object(answers.clone())).await;
    let graded: Vec<(String, bool, f64)> = result["questions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| answers.contains_key(q["question_id"].as_str().unwrap()))
        .map(|q| {
            (
                q["prompt"].as_str().unwrap().to_owned(),
                q["correct"].as_bool().unwrap(),
                q["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(graded.len(), 7, "{result}");
    assert!(graded.iter().all(|g| g.1), "{graded:?}");
    assert!(
        graded.iter().any(|g| g.0.starts_with("Name") && g.2 == 2.0),
        "{graded:?}"
    );

    let view = start(&app, lesson, &student).await;
    let result = submit(
        &app,
        &student,
        &view,
        json!({ ids(shown(&view, "Name the largest")): {"type": "text", "text": "the pacific"} }),
    )
    .await;
    let sa = result["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["prompt"].as_str().unwrap().starts_with("Name"))
        .unwrap();
    assert_eq!(sa["correct"], false, "capitals count now: {sa}");
}

/// Bad forms of each kind come back as typed with the mistake under its field (422), never a 500, and
/// change nothing.
#[tokio::test]
async fn bad_question_forms_come_back_with_the_mistake_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, _student) = course(&app).await;
    post_gift(&app, lesson, &teacher, &app.base, GIFT, false).await;
    let before = quiz_of(&app, lesson).await.unwrap();
    let add = format!("/teach/lessons/{lesson}/quiz/questions");
    let sum = format!("{add}/2");
    let cases: &[(&str, Form, &str, &str)] = &[
        (
            &add,
            &[
                ("kind", "numeric"),
                ("prompt", "How far?"),
                ("answers", "forty"),
            ],
            "answers",
            "forty",
        ),
        (
            &add,
            &[
                ("kind", "numeric"),
                ("prompt", "How far?"),
                ("answers", "5..1"),
            ],
            "answers",
            "5..1",
        ),
        (
            &add,
            &[
                ("kind", "short_answer"),
                ("prompt", "Say it"),
                ("answers", " \n "),
            ],
            "answers",
            "Say it",
        ),
        (
            &add,
            &[("kind", "true_false"), ("prompt", "Is it?")],
            "truth",
            "Is it?",
        ),
        (
            &add,
            &[
                ("kind", "matching"),
                ("prompt", "Match"),
                ("answers", "a = 1\nb 2"),
            ],
            "answers",
            "b 2",
        ),
        (
            &add,
            &[
                ("kind", "matching"),
                ("prompt", "Match"),
                ("answers", "a = 1"),
            ],
            "answers",
            "a = 1",
        ),
        (
            &add,
            &[
                ("kind", "ordering"),
                ("prompt", "Order"),
                ("answers", "x\nx"),
            ],
            "answers",
            "Order",
        ),
        (
            &add,
            &[
                ("kind", "fill_blanks"),
                ("prompt", "No blank here"),
                ("answers", "a"),
            ],
            "prompt",
            "No blank here",
        ),
        (
            &add,
            &[
                ("kind", "fill_blanks"),
                ("prompt", "[[a]] and [[b]]"),
                ("answers", "x"),
            ],
            "answers",
            "[[a]] and [[b]]",
        ),
        (
            &add,
            &[("kind", "essay"), ("prompt", "Write"), ("points", "-1")],
            "points",
            "Write",
        ),
        (
            &add,
            &[("kind", "essay"), ("prompt", "Write"), ("points", "lots")],
            "points",
            "lots",
        ),
        (
            &add,
            &[("kind", "riddle"), ("prompt", "Guess")],
            "kind",
            "Guess",
        ),
        (
            &sum,
            &[("prompt", "How much is 2 + 2?"), ("answers", "four")],
            "answers",
            "four",
        ),
        (&sum, &[("prompt", ""), ("answers", "4")], "prompt", ""),
    ];
    for (path, form, field, kept) in cases {
        let r = post_form(&app, path, &teacher, form).await;
        assert_eq!(r.status(), 422, "{form:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("id=\"{field}-error\""))
                || (*field == "kind" && html.contains("class=\"error\"")),
            "{form:?}: no message under {field}: {html}"
        );
        assert!(html.contains(kept), "{form:?}: the form lost {kept:?}");
        assert!(html.contains("<form"), "the form is shown again");
    }
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);
    let (status, _) = page(&app, &format!("{add}/new?kind=riddle"), &teacher).await;
    assert_eq!(status, 422);
}

/// Deleting asks first and keeps the last question; moving goes one place and stops at the ends; settings
/// are checked and rule the next attempt; grading changes on an attempted quiz are confirmed first, and the
/// attempts made keep the version they were graded on.
#[tokio::test]
async fn delete_move_settings_and_confirming_changes_to_an_attempted_quiz() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course(&app).await;
    post_gift(&app, lesson, &teacher, &app.base, GIFT, false).await;
    let base = format!("/teach/lessons/{lesson}/quiz");
    let prompts = || async {
        quiz_of(&app, lesson)
            .await
            .unwrap()
            .questions
            .iter()
            .map(|q| q.prompt.chars().take(8).collect::<String>())
            .collect::<Vec<_>>()
    };
    assert_eq!(prompts().await, ["What is ", "How much", "Tell us "]);

    // Moving: one place, nothing past the ends, and only up or down.
    let moving = |n: usize, d: &'static str| {
        let path = format!("{base}/questions/{n}/move");
        let app = &app;
        let teacher = &teacher;
        async move { post_form(app, &path, teacher, &[("direction", d)]).await }
    };
    let r = moving(1, "down").await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("#question-2")
    );
    assert_eq!(prompts().await, ["How much", "What is ", "Tell us "]);
    assert_eq!(moving(1, "up").await.status(), 303);
    assert_eq!(moving(3, "down").await.status(), 303);
    assert_eq!(prompts().await, ["How much", "What is ", "Tell us "]);
    assert_eq!(moving(3, "up").await.status(), 303);
    assert_eq!(prompts().await, ["How much", "Tell us ", "What is "]);
    assert_eq!(moving(2, "sideways").await.status(), 422);
    assert_eq!(moving(9, "up").await.status(), 404);

    // The quiz's page offers all of it.
    let (_, html) = page(&app, &base, &teacher).await;
    for link in [
        "/quiz/settings",
        "/questions/2/delete",
        "/questions/2/move",
        "name=\"kind\"",
    ] {
        assert!(html.contains(link), "{link}");
    }

    // Settings: mistakes come back under their field; good ones rule the next attempt.
    let settings = format!("{base}/settings");
    let (status, html) = page(&app, &settings, &teacher).await;
    assert_eq!(status, 200);
    assert!(html.contains("value=\"50\""), "{html}");
    for (form, field) in [
        (&[("pass", "score"), ("percent", "150")][..], "percent"),
        (&[("pass", "mastery"), ("m", "5"), ("n", "3")][..], "m"),
        (
            &[("pass", "score"), ("percent", "60"), ("max_attempts", "0")][..],
            "max_attempts",
        ),
        (
            &[("pass", "score"), ("percent", "60"), ("draw", "4")][..],
            "draw",
        ),
        (&[("pass", "chance")][..], "pass"),
    ] {
        let r = post_form(&app, &settings, &teacher, form).await;
        assert_eq!(r.status(), 422, "{form:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("id=\"{field}-error\"")),
            "{form:?}: {html}"
        );
    }
    let rules = [
        ("intro", "Good luck."),
        ("pass", "score"),
        ("percent", "60"),
        ("max_attempts", "2"),
        ("draw", "2"),
        ("shuffle_questions", "on"),
    ];
    assert_eq!(
        post_form(&app, &settings, &teacher, &rules).await.status(),
        303
    );
    let quiz = quiz_of(&app, lesson).await.unwrap();
    assert_eq!(
        (
            quiz.pass,
            quiz.max_attempts,
            quiz.draw,
            quiz.shuffle_questions,
            quiz.intro.as_str()
        ),
        (
            PassRule::Score { percent: 60.0 },
            Some(2),
            Some(2),
            true,
            "Good luck."
        )
    );
    let (_, html) = page(&app, &base, &teacher).await;
    assert!(
        html.contains("Passes at 60% of the points.")
            && html.contains("At most 2 attempts.")
            && html.contains("2 of 3 questions drawn for each attempt."),
        "{html}"
    );
    let view = start(&app, lesson, &student).await;
    assert_eq!(
        view["quiz"]["questions"].as_array().unwrap().len(),
        2,
        "{view}"
    );
    assert_eq!(view["max_attempts"], 2);
    let first = submit(&app, &student, &view, json!({})).await;
    let attempt = first["attempt_id"].as_i64().unwrap();

    // Now a student has attempted the quiz: changing the grading asks first, and saves nothing until then.
    let before = quiz_of(&app, lesson).await.unwrap();
    let r = post_form(
        &app,
        &settings,
        &teacher,
        &[
            ("pass", "mastery"),
            ("m", "2"),
            ("n", "3"),
            ("max_attempts", "2"),
            ("draw", "2"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("1 student attempted this quiz"), "{html}");
    assert!(html.contains("name=\"confirm\" value=\"yes\""), "{html}");
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);
    let sum = format!("{base}/questions/1");
    let r = post_form(
        &app,
        &sum,
        &teacher,
        &[("prompt", "How much is 2 + 2?"), ("answers", "5")],
    )
    .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(">5</textarea>") && html.contains("Save anyway"),
        "{html}"
    );
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);
    // What grades nothing (the text, the attempts limit, shuffling) needs no confirmation.
    let r = post_form(
        &app,
        &sum,
        &teacher,
        &[("prompt", "How much are 2 and 2?"), ("answers", "4")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post_form(
        &app,
        &settings,
        &teacher,
        &[
            ("pass", "score"),
            ("percent", "60"),
            ("max_attempts", "3"),
            ("draw", "2"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    // A new question changes the grading too.
    let essay = [("kind", "essay"), ("prompt", "Why?")];
    let add = format!("{base}/questions");
    assert_eq!(post_form(&app, &add, &teacher, &essay).await.status(), 409);
    assert_eq!(quiz_of(&app, lesson).await.unwrap().questions.len(), 3);
    // Confirmed, the change is saved; the attempt made keeps its result and its version.
    let r = post_form(
        &app,
        &sum,
        &teacher,
        &[
            ("prompt", "How much are 2 and 2?"),
            ("answers", "5"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let QuestionKind::Numeric { answers } = &quiz_of(&app, lesson).await.unwrap().questions[0].kind
    else {
        panic!()
    };
    assert_eq!(
        answers[0].value,
        NumericValue::Exact {
            value: 5.0,
            tolerance: 0.0
        }
    );
    let again = json_of(
        app.send(
            Method::GET,
            &format!("/api/quiz-attempts/{attempt}"),
            Some(&student.token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again["score"], first["score"]);
    assert_eq!(
        again["questions"], first["questions"],
        "graded and shown as the version it took"
    );

    // Deleting: a page that asks, says what attempts keep, and needs the confirmation.
    let delete = format!("{base}/questions/2/delete");
    let (status, html) = page(&app, &delete, &teacher).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<blockquote>essay</blockquote>") && html.contains("1 student attempted"),
        "{html}"
    );
    assert_eq!(post_form(&app, &delete, &teacher, &[]).await.status(), 422);
    assert_eq!(quiz_of(&app, lesson).await.unwrap().questions.len(), 3);
    assert_eq!(
        post_form(&app, &delete, &teacher, &[("confirm", "yes")])
            .await
            .status(),
        303
    );
    assert_eq!(prompts().await, ["How much", "What is "]);
    assert_eq!(
        post_form(&app, &delete, &teacher, &[("confirm", "yes")])
            .await
            .status(),
        303
    );
    let last = format!("{base}/questions/1/delete");
    let r = post_form(&app, &last, &teacher, &[("confirm", "yes")]).await;
    assert_eq!(r.status(), 409);
    assert_eq!(quiz_of(&app, lesson).await.unwrap().questions.len(), 1);
}

/// The same editor over the JSON API: stable error codes for every refusal, the same rules as the pages.
#[tokio::test]
async fn the_api_edits_quizzes_with_stable_error_codes() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course(&app).await;
    let other_teacher = app.user(smartcourse::accounts::Role::Instructor).await;
    post_gift(&app, lesson, &teacher, &app.base, GIFT, false).await;
    let questions = format!("/api/lessons/{lesson}/quiz/questions");
    let settings = format!("/api/lessons/{lesson}/quiz/settings");
    let send = |m: Method, path: String, who: &TestUser, body: Option<Value>| {
        let token = who.token.clone();
        let app = &app;
        async move { app.send(m, &path, Some(&token), body.as_ref()).await }
    };
    let numeric =
        json!({"kind": "numeric", "prompt": "How much is 6 / 4?", "answers": "1.5", "points": 2});
    let rules = json!({"pass": {"rule": "mastery", "m": 2, "n": 3}, "max_attempts": 3});

    // Only the course's teacher.
    let before = quiz_of(&app, lesson).await.unwrap();
    for who in [&student, &other_teacher] {
        for (m, path, body) in [
            (Method::POST, questions.clone(), Some(numeric.clone())),
            (Method::PUT, format!("{questions}/2"), Some(numeric.clone())),
            (Method::DELETE, format!("{questions}/2"), None),
            (
                Method::POST,
                format!("{questions}/2/move"),
                Some(json!({"direction": "up"})),
            ),
            (Method::PUT, settings.clone(), Some(rules.clone())),
        ] {
            let r = send(m, path.clone(), who, body).await;
            assert_error(r, 403, "forbidden").await;
        }
    }
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);

    // Bad input: 422 naming the field; no such question: 404.
    for (body, field) in [
        (
            json!({"kind": "numeric", "prompt": "x", "answers": "many"}),
            "answers",
        ),
        (
            json!({"kind": "numeric", "prompt": "x", "answers": "1", "points": 0}),
            "points",
        ),
        (json!({"kind": "true_false", "prompt": "x"}), "truth"),
        (json!({"kind": "riddle", "prompt": "x"}), "kind"),
        (json!({"kind": "essay", "prompt": " "}), "prompt"),
    ] {
        let r = send(
            Method::POST,
            questions.clone(),
            &teacher,
            Some(body.clone()),
        )
        .await;
        let message = assert_error(r, 422, "invalid_input").await;
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    let r = send(
        Method::PUT,
        settings.clone(),
        &teacher,
        Some(json!({"pass": {"rule": "score", "percent": 120}})),
    )
    .await;
    assert!(
        assert_error(r, 422, "invalid_input")
            .await
            .starts_with("percent:")
    );
    let r = send(
        Method::POST,
        format!("{questions}/1/move"),
        &teacher,
        Some(json!({"direction": "left"})),
    )
    .await;
    assert_error(r, 422, "invalid_input").await;
    let r = send(
        Method::PUT,
        format!("{questions}/9"),
        &teacher,
        Some(numeric.clone()),
    )
    .await;
    assert_error(r, 404, "not_found").await;
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);

    // Good input.
    let r = send(
        Method::POST,
        questions.clone(),
        &teacher,
        Some(numeric.clone()),
    )
    .await;
    assert_eq!(json_of(r, 201).await["number"], 4);
    let r = send(
        Method::POST,
        format!("{questions}/4/move"),
        &teacher,
        Some(json!({"direction": "up"})),
    )
    .await;
    assert_eq!(json_of(r, 200).await["number"], 3);
    let r = send(Method::PUT, settings.clone(), &teacher, Some(rules.clone())).await;
    assert_eq!(r.status(), 204);
    let quiz = quiz_of(&app, lesson).await.unwrap();
    assert_eq!(quiz.questions[2].prompt, "How much is 6 / 4?");
    assert_eq!(quiz.questions[2].points, 2.0);
    assert_eq!(
        (quiz.pass, quiz.max_attempts),
        (PassRule::Mastery { m: 2, n: 3 }, Some(3))
    );

    // Attempted: a grading change needs `confirm`; deleting the last question is refused.
    let view = start(&app, lesson, &student).await;
    submit(&app, &student, &view, json!({})).await;
    let changed = json!({"prompt": "How much is 6 / 4?", "answers": "1.5 ± 0.1"});
    let r = send(
        Method::PUT,
        format!("{questions}/3"),
        &teacher,
        Some(changed.clone()),
    )
    .await;
    assert_error(r, 409, "confirm_quiz_change").await;
    let mut confirmed = changed.clone();
    confirmed["confirm"] = json!(true);
    let r = send(
        Method::PUT,
        format!("{questions}/3"),
        &teacher,
        Some(confirmed),
    )
    .await;
    assert_eq!(r.status(), 204);
    for n in [4, 3, 2] {
        let r = send(Method::DELETE, format!("{questions}/{n}"), &teacher, None).await;
        assert_eq!(r.status(), 204);
    }
    let r = send(Method::DELETE, format!("{questions}/1"), &teacher, None).await;
    assert_error(r, 409, "last_question").await;
    assert_eq!(quiz_of(&app, lesson).await.unwrap().questions.len(), 1);
}
