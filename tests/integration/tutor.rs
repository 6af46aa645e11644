//! The tutor's evidence: the course's own sentences that answer a question, sent before the model starts, and
//! the decision to answer or refuse made on them and on the passages' meaning.

use serde_json::{Value, json};
use smartcourse::accounts::Role;

use crate::common::{TestApp, TestUser};
use crate::search::sse_events;

async fn ask(app: &TestApp, who: &TestUser, course: i64, question: &str) -> Vec<(String, Value)> {
    let r = app
        .post(
            "/api/ai/ask",
            Some(&who.token),
            &json!({"course_id": course, "question": question}),
        )
        .await;
    sse_events(r).await
}

fn evidence(events: &[(String, Value)]) -> Vec<Value> {
    events
        .iter()
        .find(|(n, _)| n == "evidence")
        .and_then(|(_, d)| d.as_array().cloned())
        .expect("an evidence event")
}

#[tokio::test]
async fn a_short_question_gets_the_table_row_that_answers_it_before_the_model_writes() {
    let app = TestApp::spawn().await;
    let (course, student) = app.demo_course().await;
    let events = ask(&app, &student, course, "What is a third?").await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let at = |name: &str| names.iter().position(|n| *n == name);
    assert!(
        at("evidence").unwrap() < at("token").unwrap(),
        "evidence before the first token: {names:?}"
    );
    let items = evidence(&events);
    assert_eq!(
        items[0]["text"], "3 equal parts — a third — 1/3",
        "{items:?}"
    );
    assert_eq!(items[0]["lesson_title"], "Halves, thirds and quarters");
    assert_eq!(events.last().unwrap().1["abstained"], false, "{events:?}");
    // The model was given the evidence, not whole passages: the stand-in model quotes its prompt.
    let answer: String = events
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, d)| d["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(answer.contains("1/3"), "{answer}");
}

#[tokio::test]
async fn a_question_the_course_does_not_cover_gets_no_evidence_and_a_refusal() {
    let app = TestApp::spawn().await;
    let (course, student) = app.demo_course().await;
    let events = ask(
        &app,
        &student,
        course,
        "Who won the 1966 football world cup?",
    )
    .await;
    assert!(evidence(&events).is_empty(), "{events:?}");
    assert_eq!(events.last().unwrap().1["abstained"], true, "{events:?}");
}

/// The evaluation of the evidence and of the answer-or-refuse decision, on the demo course and the sample
/// packages in the fixture's `packages`, with the real embedder (the answer's wording is the generator's, measured by `cargo bench --bench tutor`): every
/// answerable question gets evidence that holds its answer, every off-topic question is refused.
#[tokio::test]
async fn the_demo_course_questions_get_their_evidence_and_off_topic_ones_are_refused() {
    let models = smartcourse::ml::Models {
        embedder: std::sync::Arc::new(smartcourse::ml::embed::BertEmbedder::new(
            crate::models::minilm(),
            candle_core::Device::Cpu,
        )),
        generator: smartcourse::ml::Models::fake().generator,
    };
    let app = TestApp::spawn_with_models(|_| {}, models).await;
    let (course, student) = app.demo_course().await;
    let set: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/tutor-questions.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut results = vec![(
        "demo course".to_owned(),
        set["goal_percent"].as_u64().unwrap() as usize,
        evaluate(
            &app,
            &student,
            course,
            &set["answerable"],
            &set["off_topic"],
        )
        .await,
    )];
    for package in set["packages"].as_array().unwrap() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/samples")
            .join(package["package"].as_str().unwrap());
        let teacher = app.user(Role::Instructor).await;
        let report = smartcourse::packages::import(&app.app, &path, Some(teacher.email), true)
            .await
            .expect("the sample imports");
        app.drain_jobs().await;
        app.enroll(&student, report.course_id).await;
        results.push((
            package["package"].as_str().unwrap().to_owned(),
            // Held to the goal once it is met; until then to the measured floor (the fixture says which).
            package["floor_percent"]
                .as_u64()
                .or(package["goal_percent"].as_u64())
                .unwrap() as usize,
            evaluate(
                &app,
                &student,
                report.course_id,
                &package["answerable"],
                &package["off_topic"],
            )
            .await,
        ));
    }
    let (mut asked, mut missed) = (0, 0);
    for (name, percent, (answerable, misses, answered_off_topic)) in &results {
        println!(
            "{name}: evidence holds the answer for {}/{answerable} questions; {} off-topic question(s) answered",
            answerable - misses.len(),
            answered_off_topic.len()
        );
        // The goal the tutor is held to (issue #21): 85 % of a course's questions answered from the right
        // evidence (the demo course; a sample package below it is held to its measured floor), and no
        // off-topic question answered.
        assert!(
            (answerable - misses.len()) * 100 >= percent * answerable,
            "{name}: no or wrong evidence for {misses:?}"
        );
        assert!(
            answered_off_topic.is_empty(),
            "{name}: answered off-topic: {answered_off_topic:?}"
        );
        asked += answerable;
        missed += misses.len();
    }
    assert!(
        asked >= 40,
        "the evaluation asks at least 40 questions, not {asked}"
    );
    println!("all: {}/{asked}", asked - missed);
}

/// Asks every question of a set; returns how many were answerable, those whose evidence missed (or that
/// were refused), and the off-topic questions that were answered.
async fn evaluate(
    app: &TestApp,
    student: &TestUser,
    course: i64,
    answerable: &Value,
    off_topic: &Value,
) -> (usize, Vec<String>, Vec<String>) {
    let mut misses = Vec::new();
    let answerable = answerable.as_array().unwrap();
    for item in answerable {
        let q = item["q"].as_str().unwrap();
        let events = ask(app, student, course, q).await;
        let shown: Vec<String> = evidence(&events)
            .iter()
            .map(|e| e["text"].as_str().unwrap().to_lowercase())
            .collect();
        let refused = events.last().unwrap().1["abstained"] == true;
        let holds = item["expect"].as_array().unwrap().iter().any(|p| {
            let p = p.as_str().unwrap().to_lowercase();
            shown.iter().any(|s| s.contains(&p))
        });
        println!("{q:60} refused={refused:5} evidence={shown:?}");
        if refused || !holds {
            misses.push(q.to_owned());
        }
    }
    let mut answered_off_topic = Vec::new();
    for q in off_topic.as_array().unwrap() {
        let q = q.as_str().unwrap();
        let events = ask(app, student, course, q).await;
        if events.last().unwrap().1["abstained"] != true {
            answered_off_topic.push(q.to_owned());
        }
    }
    (answerable.len(), misses, answered_off_topic)
}

/// An answer the asker leaves before it is complete is not kept in their conversation as a fragment.
#[tokio::test]
async fn an_answer_left_halfway_is_not_kept() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Long answers").await;
    // A long passage with the question's words in every sentence: the stand-in model quotes it word by word.
    let body = "Photosynthesis uses light to make sugar in the leaf. ".repeat(30);
    app.lesson(&teacher, course, "Light", &body).await;
    app.publish(&teacher, course).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    let mut r = app
        .post(
            "/api/ai/ask",
            Some(&student.token),
            &json!({"course_id": course, "question": "How does photosynthesis use light in the leaf?"}),
        )
        .await;
    let mut seen = String::new();
    while !seen.contains("event: token") {
        let chunk = r.chunk().await.unwrap().expect("a token");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(r); // The pupil leaves the page.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let kept: i64 = app
        .app
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM conversation_messages WHERE role = 'assistant'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(kept, 0, "a fragment of an answer was kept");
}

/// While a student has a quiz open the tutor only hints: the course's sentences and the model's words that
/// hold one of the quiz's hidden answers are held back (the stand-in model quotes its sources, so it would
/// write the answer); after the attempt is submitted the same question is answered.
#[tokio::test]
async fn during_an_open_quiz_the_tutor_never_writes_its_hidden_answers() {
    let app = TestApp::spawn().await;
    let (course, student) = app.demo_course().await;
    let outline: Value = app
        .send(
            reqwest::Method::GET,
            &format!("/api/courses/{course}"),
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let lesson = outline["modules"][0]["lessons"][0]["id"].as_i64().unwrap();
    app.gift_quiz(
        lesson,
        "Fractions check",
        "::Third:: Write a third as a fraction. {=1/3}",
        |_| {},
    )
    .await;
    let attempt: Value = app
        .post(
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            Some(&student.token),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let attempt = attempt["attempt_id"].as_i64().unwrap();
    let during = ask(&app, &student, course, "What is a third?").await;
    let written = said(&during);
    assert!(!written.contains("1/3"), "{written}");
    assert!(written.contains("quiz"), "{written}");
    assert!(
        evidence(&during)
            .iter()
            .all(|e| !e["text"].as_str().unwrap().contains("1/3")),
        "{during:?}"
    );

    let r = app
        .post(
            &format!("/api/quiz-attempts/{attempt}/submit"),
            Some(&student.token),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let after = ask(&app, &student, course, "What is a third?").await;
    assert!(said(&after).contains("1/3"), "{after:?}");
    assert!(
        evidence(&after)
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("1/3")),
        "{after:?}"
    );
}

fn said(events: &[(String, Value)]) -> String {
    match events.iter().rev().find(|(n, _)| n == "replace") {
        Some((_, d)) => d["text"].as_str().unwrap().to_owned(),
        None => events
            .iter()
            .filter(|(n, _)| n == "token")
            .map(|(_, d)| d["text"].as_str().unwrap().to_owned())
            .collect(),
    }
}

fn classroom(events: &[(String, Value)]) -> Option<Value> {
    events
        .iter()
        .find(|(n, _)| n == "classroom")
        .map(|(_, d)| d.clone())
}

/// A class asks the same thing: the second asker of a near-duplicate first question gets the first answer at
/// once (marked), a different question does not; only the course's teacher (here an admin) sees, pins and
/// clears the kept answers.
#[tokio::test]
async fn a_repeated_question_gets_the_class_answer_and_the_teacher_can_pin_or_clear_it() {
    let app = TestApp::spawn().await;
    let (course, first) = app.demo_course().await;
    let second = app.user(Role::Student).await;
    app.enroll(&second, course).await;
    let admin = app.user(Role::Admin).await;
    let asked = ask(&app, &first, course, "What is a third?").await;
    assert!(classroom(&asked).is_none(), "{asked:?}");
    let answer = said(&asked);
    assert!(answer.contains("1/3"), "{answer}");

    let again = ask(&app, &second, course, "Can you tell me what a third is?").await;
    let names: Vec<&str> = again.iter().map(|(n, _)| n.as_str()).collect();
    let mark = classroom(&again).unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(mark["pinned"], false);
    assert!(
        names.iter().position(|n| *n == "classroom") < names.iter().position(|n| *n == "token"),
        "{names:?}"
    );
    assert_eq!(said(&again), answer);
    let other = ask(&app, &second, course, "What is a half?").await;
    assert!(classroom(&other).is_none(), "{other:?}");

    let path = format!("/api/courses/{course}/tutor/answers");
    let r = app
        .send(reqwest::Method::GET, &path, Some(&second.token), None)
        .await;
    assert_eq!(r.status(), 403);
    let kept: Value = app
        .send(reqwest::Method::GET, &path, Some(&admin.token), None)
        .await
        .json()
        .await
        .unwrap();
    let third = kept
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["question"] == "What is a third?")
        .unwrap_or_else(|| panic!("{kept}"))
        .clone();
    assert_eq!(third["reused"], 1);
    let one = format!("{path}/{}", third["id"]);
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let r = app
            .send(
                method.clone(),
                &one,
                Some(&second.token),
                Some(&json!({"pinned": true})),
            )
            .await;
        assert_eq!(r.status(), 403, "{method} by a student");
    }
    let r = app
        .send(
            reqwest::Method::PUT,
            &one,
            Some(&admin.token),
            Some(&json!({"answer": ""})),
        )
        .await;
    assert_eq!(r.status(), 422);

    let reviewed = "A third is one of three equal parts of a whole: 1/3.";
    let r = app
        .send(
            reqwest::Method::PUT,
            &one,
            Some(&admin.token),
            Some(&json!({"answer": reviewed, "pinned": true})),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let pinned = ask(&app, &first, course, "What is a third?").await;
    assert_eq!(classroom(&pinned).unwrap()["pinned"], true);
    assert_eq!(said(&pinned), reviewed);

    let r = app
        .send(reqwest::Method::DELETE, &one, Some(&admin.token), None)
        .await;
    assert_eq!(r.status(), 204);
    let fresh = ask(&app, &second, course, "What is a third?").await;
    assert!(classroom(&fresh).is_none(), "{fresh:?}");
}
