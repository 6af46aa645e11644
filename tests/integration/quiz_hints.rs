//! Hints on request (#23): a student asks for a question's hints one at a time during an open attempt; they
//! are kept with the attempt (a restart shows the same), never shown unasked, never to anyone else; a hint
//! costs no points; the teacher's results count them; the quiz page asks for them with a plain button.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;
use smartcourse_formats::quiz::PassRule;

use crate::common::{TestApp, TestUser, assert_error};

const GIFT: &str = "\
::capital::What is the capital of France? {=Paris ~Lyon ~Marseille}

::sum::How much is 2 + 2? {#4}
";

const HINTS: [&str; 2] = ["Count on your fingers.", "Two pairs make a quartet."];

/// A published course with one quiz lesson made from [`GIFT`] whose `sum` question has [`HINTS`], passed by
/// mastery (both of the last two answers right), and an enrolled student.
async fn course_with_hints(app: &TestApp) -> (i64, i64, TestUser, TestUser) {
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Arithmetic").await;
    let lesson = app.lesson(&teacher, course, "Check yourself", "").await;
    app.gift_quiz(lesson, "Check yourself", GIFT, |q| {
        let sum = q.questions.iter_mut().find(|q| q.title == "sum").unwrap();
        sum.hints = HINTS.iter().map(|h| (*h).to_owned()).collect();
        q.pass = PassRule::Mastery { m: 2, n: 2 };
    })
    .await;
    app.publish_directly(course).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    (course, lesson, teacher, student)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    who: &TestUser,
    body: Option<Value>,
) -> reqwest::Response {
    app.send(method, path, Some(&who.token), body.as_ref())
        .await
}

async fn ok_json(r: reqwest::Response, status: u16) -> Value {
    let s = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(s, status, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn question_id(view: &Value, title: &str) -> String {
    view["quiz"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["title"] == title)
        .unwrap_or_else(|| panic!("{title} in {view}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn start(app: &TestApp, lesson: i64, who: &TestUser) -> Value {
    let path = format!("/api/lessons/{lesson}/quiz/attempts");
    ok_json(call(app, Method::POST, &path, who, None).await, 201).await
}

async fn ask(app: &TestApp, attempt: i64, who: &TestUser, question: &str) -> reqwest::Response {
    call(
        app,
        Method::POST,
        &format!("/api/quiz-attempts/{attempt}/hints"),
        who,
        Some(json!({ "question": question })),
    )
    .await
}

#[tokio::test]
async fn hints_come_one_at_a_time_are_kept_and_cost_no_points() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = TestApp::spawn_in(&data, |_| {}).await;
    let (_course, lesson, teacher, student) = course_with_hints(&app).await;
    let view = start(&app, lesson, &student).await;
    let attempt = view["attempt_id"].as_i64().unwrap();
    let (sum, capital) = (question_id(&view, "sum"), question_id(&view, "capital"));
    let body = view.to_string();
    assert!(
        HINTS.iter().all(|h| !body.contains(h)),
        "no hint unasked: {body}"
    );
    assert_eq!(view["revealed_hints"], json!({}));
    let shown = view["quiz"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == sum.as_str())
        .unwrap()["hints"]
        .clone();
    assert_eq!(shown, 2, "the count of hints is shown");

    let first = ok_json(ask(&app, attempt, &student, &sum).await, 200).await;
    assert_eq!(first["question_id"], sum.as_str());
    assert_eq!(first["hints"], json!([HINTS[0]]));
    assert_eq!(first["total"], 2);
    let second = ok_json(ask(&app, attempt, &student, &sum).await, 200).await;
    assert_eq!(second["hints"], json!(HINTS));
    assert_error(
        ask(&app, attempt, &student, &sum).await,
        409,
        "no_hints_left",
    )
    .await;
    assert_error(
        ask(&app, attempt, &student, &capital).await,
        409,
        "no_hints_left",
    )
    .await;
    assert_error(
        ask(&app, attempt, &student, "no-such-question").await,
        404,
        "not_found",
    )
    .await;
    for bad in [json!({ "question": sum, "all": true }), json!({})] {
        let r = call(
            &app,
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/hints"),
            &student,
            Some(bad),
        )
        .await;
        assert_error(r, 422, "invalid_input").await;
    }

    // A restart shows the same hints again, and no more.
    app.stop().await;
    let app = TestApp::spawn_in(&data, |_| {}).await;
    let resumed = start(&app, lesson, &student).await;
    assert_eq!(resumed["attempt_id"], attempt);
    assert_eq!(resumed["revealed_hints"], json!({ sum.clone(): HINTS }));

    // No penalty: the hinted question answered right earns all its points and counts as right for the mastery
    // rule, so the attempt passes.
    let paris = resumed["quiz"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == capital.as_str())
        .unwrap()["kind"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == "Paris")
        .unwrap()["id"]
        .clone();
    let result = ok_json(
        call(
            &app,
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/submit"),
            &student,
            Some(json!({ "answers": {
                capital.clone(): { "type": "choice", "choice": paris },
                sum.clone(): { "type": "number", "text": "4" },
            }})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(result["score"], result["points"], "{result}");
    assert_eq!(result["passed"], true);
    let q = result["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["question_id"] == sum.as_str())
        .unwrap();
    assert_eq!(
        (q["score"].as_f64(), q["correct"].as_bool()),
        (Some(1.0), Some(true))
    );

    // Submitted: no more hints.
    assert_error(
        ask(&app, attempt, &student, &sum).await,
        409,
        "attempt_submitted",
    )
    .await;

    // The teacher sees how many hints each attempt used, in JSON and CSV.
    let results = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/results"),
            &teacher,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(results["attempts"][0]["hints_used"], 2, "{results}");
    let report = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/report"),
            &teacher,
            None,
        )
        .await,
        200,
    )
    .await;
    let hinted = |id: &str| {
        report["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["question_id"] == id)
            .unwrap()["hinted"]
            .clone()
    };
    assert_eq!(
        (hinted(&sum), hinted(&capital)),
        (json!(1), json!(0)),
        "{report}"
    );
    let csv = call(
        &app,
        Method::GET,
        &format!("/api/lessons/{lesson}/quiz/results?format=csv"),
        &teacher,
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "hints")
        .expect("a hints column");
    assert_eq!(row[col], "2", "{csv}");
    app.stop().await;
}

#[tokio::test]
async fn no_one_else_reveals_or_sees_a_students_hints() {
    let app = TestApp::spawn().await;
    let (course, lesson, teacher, student) = course_with_hints(&app).await;
    let view = start(&app, lesson, &student).await;
    let attempt = view["attempt_id"].as_i64().unwrap();
    let sum = question_id(&view, "sum");
    let other = app.user(Role::Student).await;
    app.enroll(&other, course).await;
    let stranger = app.user(Role::Student).await;
    for who in [&other, &stranger, &teacher] {
        assert_error(ask(&app, attempt, who, &sum).await, 404, "not_found").await;
    }
    let r = app
        .send(
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/hints"),
            None,
            Some(&json!({ "question": sum })),
        )
        .await;
    assert_eq!(r.status(), 401);
    // None of those asks revealed anything: the student's first hint is still the first.
    let first = ok_json(ask(&app, attempt, &student, &sum).await, 200).await;
    assert_eq!(first["hints"], json!([HINTS[0]]));
    // The other student's own attempt shows no hint the first one asked for.
    let theirs = start(&app, lesson, &other).await;
    assert_eq!(theirs["revealed_hints"], json!({}));
    assert!(!theirs.to_string().contains(HINTS[0]));
}

#[tokio::test]
async fn the_quiz_page_shows_a_hint_on_a_button_and_keeps_the_answers() {
    let app = TestApp::spawn().await;
    let (course, lesson, _teacher, student) = course_with_hints(&app).await;
    let view = start(&app, lesson, &student).await;
    let attempt = view["attempt_id"].as_i64().unwrap();
    let questions = view["quiz"]["questions"].as_array().unwrap();
    let at = |title: &str| questions.iter().position(|q| q["title"] == title).unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let host = app.base.trim_start_matches("http://").to_owned();
    let page = || async {
        client
            .get(app.url(&format!("/lessons/{lesson}/quiz")))
            .header("cookie", format!("smartcourse_token={}", student.token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let form = page().await;
    assert!(form.contains("Show a hint (1 of 2)"), "{form}");
    assert_eq!(
        form.matches("Show a hint").count(),
        1,
        "no button for a question without hints"
    );
    assert!(!form.contains(HINTS[0]), "no hint unasked");
    let number = at("sum") + 1;
    let r = client
        .post(app.url(&format!("/quiz-attempts/{attempt}/hint")))
        .header("cookie", format!("smartcourse_token={}", student.token))
        .header("origin", format!("http://{host}"))
        .form(&[
            (format!("q{}", at("sum")), "5".to_owned()),
            ("hint".to_owned(), number.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/lessons/{lesson}/quiz#question-{number}").as_str()
    );
    let form = page().await;
    assert!(form.contains(HINTS[0]), "{form}");
    assert!(!form.contains(HINTS[1]), "one hint per press");
    assert!(form.contains("Show a hint (2 of 2)"), "{form}");
    assert!(
        form.contains(&format!("name=\"q{}\" value=\"5\"", at("sum"))),
        "the typed answer is kept: {form}"
    );
    let r = client
        .post(app.url(&format!("/quiz-attempts/{attempt}/hint")))
        .header("cookie", format!("smartcourse_token={}", student.token))
        .header("origin", format!("http://{host}"))
        .form(&[("hint", number.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let form = page().await;
    assert!(form.contains(HINTS[1]), "{form}");
    assert!(!form.contains("Show a hint"), "every hint shown: no button");

    // Bad presses: no question named, no such question, none left, another student's attempt.
    let other = app.user(Role::Student).await;
    app.enroll(&other, course).await;
    for (who, fields, status) in [
        (&student, vec![], 422),
        (&student, vec![("hint", "0".to_owned())], 422),
        (&student, vec![("hint", "99".to_owned())], 404),
        (&student, vec![("hint", number.to_string())], 409),
        (&other, vec![("hint", number.to_string())], 404),
    ] {
        let r = client
            .post(app.url(&format!("/quiz-attempts/{attempt}/hint")))
            .header("cookie", format!("smartcourse_token={}", who.token))
            .header("origin", format!("http://{host}"))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{fields:?}");
    }
}
