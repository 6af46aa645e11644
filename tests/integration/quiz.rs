//! Quizzes end to end: packages import quiz lessons (and export them again), students take them on the
//! server (start, save, submit, retry, pass → lesson complete), teachers see figures and mark essays, and no
//! response a student gets before submitting holds an answer.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;
use smartcourse::packages;
use smartcourse::quizzes;
use smartcourse_formats::quiz::{self, Question, Quiz};

use crate::common::{TestApp, TestUser, assert_error};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../shared/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

/// The quiz lessons of a course, by lesson id.
async fn quiz_lessons(app: &TestApp, course: i64) -> std::collections::BTreeMap<i64, Quiz> {
    app.app
        .db
        .read(move |c| quizzes::quizzes_of_course(c, course))
        .await
        .unwrap()
}

const GIFT: &str = "\
::capital::What is the capital of France? {=Paris ~Lyon#Lyon is not the capital. ~Marseille}

::sum::How much is 2 + 2? {#4}

::essay::Tell us about your summer. {}
";

/// A published course with one quiz lesson made from [`GIFT`] (pass at 50%, at most `max` attempts), its
/// teacher, and an enrolled student.
async fn course_with_quiz(app: &TestApp, max: Option<u32>) -> (i64, i64, TestUser, TestUser) {
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Geography").await;
    let lesson = app.lesson(&teacher, course, "Check yourself", "").await;
    app.gift_quiz(lesson, "Check yourself", GIFT, |q| q.max_attempts = max)
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

fn question<'a>(view: &'a Value, title: &str) -> &'a Value {
    view["quiz"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["title"] == title)
        .unwrap_or_else(|| panic!("{title} in {view}"))
}

fn choice_id(q: &Value, text: &str) -> String {
    q["kind"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == text)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_student_fails_retries_passes_and_the_lesson_is_complete() {
    let app = TestApp::spawn().await;
    let (course, lesson, teacher, student) = course_with_quiz(&app, Some(3)).await;
    let start = format!("/api/lessons/{lesson}/quiz/attempts");
    let view = ok_json(call(&app, Method::POST, &start, &student, None).await, 201).await;
    let attempt = view["attempt_id"].as_i64().unwrap();
    assert_eq!(view["quiz"]["questions"].as_array().unwrap().len(), 3);
    // Starting again resumes the open attempt, with what was saved: a restart loses nothing.
    let capital = question(&view, "capital");
    let lyon = choice_id(capital, "Lyon");
    let paris = choice_id(capital, "Paris");
    let capital_id = capital["id"].as_str().unwrap().to_owned();
    let save = format!("/api/quiz-attempts/{attempt}/answers");
    let saved = json!({"answers": {capital_id.clone(): {"type": "choice", "choice": lyon}}});
    ok_json(
        call(&app, Method::PUT, &save, &student, Some(saved)).await,
        200,
    )
    .await;
    let again = ok_json(call(&app, Method::POST, &start, &student, None).await, 201).await;
    assert_eq!(again["attempt_id"], attempt);
    assert_eq!(
        again["quiz"], view["quiz"],
        "the same seed shows the same attempt"
    );
    assert_eq!(again["saved"][&capital_id]["choice"], lyon);
    // No result before submitting.
    let result = format!("/api/quiz-attempts/{attempt}");
    assert_error(
        call(&app, Method::GET, &result, &student, None).await,
        409,
        "attempt_open",
    )
    .await;
    // An answer to a question the attempt does not have is refused, naming it.
    let bad = json!({"answers": {"nope": {"type": "text", "text": "x"}}});
    let msg = assert_error(
        call(&app, Method::PUT, &save, &student, Some(bad)).await,
        422,
        "invalid_input",
    )
    .await;
    assert!(msg.contains("nope"), "{msg}");
    let garbage = json!({"answers": {capital_id.clone(): {"type": "telepathy"}}});
    assert_error(
        call(&app, Method::PUT, &save, &student, Some(garbage)).await,
        422,
        "invalid_input",
    )
    .await;

    // Submitting the wrong choice and an essay fails, with the choice's feedback; the essay waits.
    let submit = format!("/api/quiz-attempts/{attempt}/submit");
    let essay_id = question(&view, "essay")["id"].as_str().unwrap().to_owned();
    let last =
        json!({"answers": {essay_id.clone(): {"type": "essay", "text": "I went to the sea."}}});
    let r = ok_json(
        call(&app, Method::POST, &submit, &student, Some(last)).await,
        200,
    )
    .await;
    assert_eq!(r["passed"], false);
    assert_eq!(r["score"], 0.0);
    let q = r["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["question_id"] == capital_id.as_str())
        .unwrap();
    assert_eq!(q["correct"], false);
    assert!(
        q["feedback"]
            .to_string()
            .contains("Lyon is not the capital"),
        "{q}"
    );
    assert_eq!(r["needs_marking"], true, "the essay waits for its mark");
    assert_error(
        call(&app, Method::POST, &submit, &student, Some(json!({}))).await,
        409,
        "attempt_submitted",
    )
    .await;
    app.drain_jobs().await;
    let progress = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/api/courses/{course}/progress"),
            &student,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        progress["students"][0]["completed"],
        json!([]),
        "failing completes nothing"
    );

    // The second attempt: right answers pass, and the lesson is complete.
    let view = ok_json(call(&app, Method::POST, &start, &student, None).await, 201).await;
    let second = view["attempt_id"].as_i64().unwrap();
    assert_ne!(second, attempt);
    let sum_id = question(&view, "sum")["id"].as_str().unwrap().to_owned();
    let answers = json!({"answers": {
        capital_id.clone(): {"type": "choice", "choice": paris},
        sum_id: {"type": "number", "text": "4"},
    }});
    let r = ok_json(
        call(
            &app,
            Method::POST,
            &format!("/api/quiz-attempts/{second}/submit"),
            &student,
            Some(answers),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["passed"], true, "{r}");
    assert_eq!(r["score"], 2.0);
    app.drain_jobs().await;
    let progress = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/api/courses/{course}/progress"),
            &student,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        progress["students"][0]["completed"][0]["lesson_id"], lesson,
        "{progress}"
    );
    let kinds: Vec<String> = app
        .app
        .db
        .read(|c| {
            Ok(
                c.prepare("SELECT kind FROM events WHERE kind LIKE 'quiz.%' ORDER BY id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?,
            )
        })
        .await
        .unwrap();
    assert_eq!(kinds, ["quiz.attempted", "quiz.attempted", "quiz.passed"]);

    let mine = ok_json(call(&app, Method::GET, &start, &student, None).await, 200).await;
    assert_eq!(mine["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(mine["passed"], true);
    assert_eq!(mine["can_attempt"], true, "one attempt of three is left");

    // The teacher's figures: one of two got the capital right, and Lyon is the common wrong answer.
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
    assert_eq!(report["attempts"], 2);
    assert_eq!(report["students"], 1);
    let cap = report["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["title"] == "capital")
        .unwrap();
    assert_eq!(cap["shown"], 2);
    assert_eq!(cap["right"], 1);
    assert_eq!(cap["most_common_wrong"], "Lyon");
    // The first attempt's essay waits for its mark (the second left it empty: nothing to mark).
    let essay = report["to_mark"].as_array().unwrap();
    assert_eq!(essay.len(), 1, "{report}");
    assert_eq!(essay[0]["text"], "I went to the sea.");
    assert_eq!(essay[0]["attempt_id"], attempt);
    let mark = format!("/api/quiz-attempts/{attempt}/answers/{essay_id}/mark");
    assert_error(
        call(
            &app,
            Method::PUT,
            &mark,
            &teacher,
            Some(json!({"score": 5})),
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    assert_error(
        call(
            &app,
            Method::PUT,
            &format!("/api/quiz-attempts/{attempt}/answers/{capital_id}/mark"),
            &teacher,
            Some(json!({"score": 1})),
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    let marked = ok_json(
        call(
            &app,
            Method::PUT,
            &mark,
            &teacher,
            Some(json!({"score": 1})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(marked["score"], 1.0);
    assert_eq!(marked["needs_marking"], false);
}

#[tokio::test]
async fn attempts_are_limited_and_private() {
    let app = TestApp::spawn().await;
    let (course, lesson, teacher, student) = course_with_quiz(&app, Some(1)).await;
    let start = format!("/api/lessons/{lesson}/quiz/attempts");
    let view = ok_json(call(&app, Method::POST, &start, &student, None).await, 201).await;
    let attempt = view["attempt_id"].as_i64().unwrap();

    // Another student, enrolled too, cannot see, save to, or submit this attempt.
    let other = app.user(Role::Student).await;
    app.enroll(&other, course).await;
    let save = format!("/api/quiz-attempts/{attempt}/answers");
    let submit = format!("/api/quiz-attempts/{attempt}/submit");
    assert_error(
        call(
            &app,
            Method::PUT,
            &save,
            &other,
            Some(json!({"answers": {}})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        call(&app, Method::POST, &submit, &other, Some(json!({}))).await,
        404,
        "not_found",
    )
    .await;
    // A student cannot read the figures or mark.
    assert_error(
        call(
            &app,
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/report"),
            &student,
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    ok_json(
        call(&app, Method::POST, &submit, &student, Some(json!({}))).await,
        200,
    )
    .await;
    assert_error(
        call(
            &app,
            Method::GET,
            &format!("/api/quiz-attempts/{attempt}"),
            &other,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let essay = question(&view, "essay")["id"].as_str().unwrap().to_owned();
    let mark = format!("/api/quiz-attempts/{attempt}/answers/{essay}/mark");
    assert_error(
        call(
            &app,
            Method::PUT,
            &mark,
            &student,
            Some(json!({"score": 1})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        call(&app, Method::PUT, &mark, &other, Some(json!({"score": 1}))).await,
        403,
        "forbidden",
    )
    .await;
    // The owner reads it.
    ok_json(
        call(
            &app,
            Method::GET,
            &format!("/api/quiz-attempts/{attempt}"),
            &teacher,
            None,
        )
        .await,
        200,
    )
    .await;

    // One attempt allowed: a second is refused with a stable code.
    assert_error(
        call(&app, Method::POST, &start, &student, None).await,
        409,
        "no_attempts_left",
    )
    .await;
    let mine = ok_json(call(&app, Method::GET, &start, &student, None).await, 200).await;
    assert_eq!(mine["can_attempt"], false);

    // Not enrolled: no attempt. Another teacher's course is not theirs to see either.
    let stranger = app.user(Role::Student).await;
    assert_error(
        call(&app, Method::POST, &start, &stranger, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        call(&app, Method::POST, &start, &teacher, None).await,
        403,
        "forbidden",
    )
    .await;
    let plain = app.lesson(&teacher, course, "Not a quiz", "text").await;
    assert_error(
        call(
            &app,
            Method::POST,
            &format!("/api/lessons/{plain}/quiz/attempts"),
            &student,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let r = app.send(Method::POST, &start, None, None).await;
    assert_eq!(r.status(), 401);
}

/// Every string in a JSON value, and every key.
fn walk(v: &Value, strings: &mut Vec<String>, keys: &mut Vec<String>) {
    match v {
        Value::String(s) => strings.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| walk(x, strings, keys)),
        Value::Object(o) => {
            for (k, x) in o {
                keys.push(k.clone());
                walk(x, strings, keys);
            }
        }
        _ => {}
    }
}

/// What a student must not see of a question before submitting: typed answers, numbers, feedback, hints.
fn secrets(q: &Question) -> Vec<String> {
    use quiz::{GapKind, NumericValue, QuestionKind as K};
    let mut out = vec![q.feedback.clone()];
    out.extend(q.hints.iter().cloned());
    let num = |a: &[quiz::NumericAnswer], out: &mut Vec<String>| {
        for a in a {
            out.push(a.feedback.clone());
            if let NumericValue::Exact { value, .. } = a.value {
                out.push(value.to_string());
            }
        }
    };
    let texts = |a: &[quiz::TextAnswer], out: &mut Vec<String>| {
        out.extend(
            a.iter()
                .flat_map(|a| [a.pattern.clone(), a.feedback.clone()]),
        )
    };
    match &q.kind {
        K::SingleChoice { choices } | K::MultipleResponse { choices, .. } => {
            out.extend(choices.iter().map(|c| c.feedback.clone()))
        }
        K::TrueFalse {
            feedback_true,
            feedback_false,
            ..
        } => out.extend([feedback_true.clone(), feedback_false.clone()]),
        K::ShortAnswer { answers, .. } => texts(answers, &mut out),
        K::Numeric { answers } => num(answers, &mut out),
        K::FillBlanks { gaps } => {
            for g in gaps {
                match &g.kind {
                    GapKind::Text { answers, .. } => texts(answers, &mut out),
                    GapKind::Choice { choices } => {
                        out.extend(choices.iter().map(|c| c.feedback.clone()))
                    }
                    GapKind::Numeric { answers } => num(answers, &mut out),
                }
            }
        }
        K::Essay { grader_info, .. } => out.push(grader_info.clone()),
        K::Matching { .. } | K::Ordering { .. } => {}
    }
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| s.chars().count() > 3)
        .collect()
}

/// Fails if a response holds an answer key, or (per question shown) one of the question's secrets that its
/// own prompt and options do not also hold.
fn assert_no_answers(what: &str, body: &Value, quiz: &Quiz) {
    let mut strings = Vec::new();
    let mut keys = Vec::new();
    walk(body, &mut strings, &mut keys);
    for k in [
        "correct",
        "fraction",
        "pattern",
        "feedback",
        "grader_info",
        "distractors",
        "pairs",
    ] {
        assert!(
            !keys.iter().any(|x| x == k),
            "{what}: the key {k} in {body}"
        );
    }
    for shown in body["quiz"]["questions"].as_array().into_iter().flatten() {
        let q = quiz.questions.iter().find(|q| q.id == shown["id"]).unwrap();
        let mut own = Vec::new();
        walk(shown, &mut own, &mut Vec::new());
        let visible = |s: &str| own.iter().any(|o| o.contains(s)) && !own.is_empty();
        for secret in secrets(q) {
            let cleaned = smartcourse::courses::render::clean_html(&secret);
            // A secret that the prompt itself says (a choice's text, words of the question) is no leak.
            let said = visible(&q.prompt) && q.prompt.contains(&secret);
            if said {
                continue;
            }
            for s in &own {
                assert!(
                    !(s == &secret
                        || s == &cleaned
                        || (secret.len() > 8 && (s.contains(&secret) || s.contains(&cleaned)))),
                    "{what}: “{}” shows {secret:?}",
                    q.title
                );
            }
        }
    }
}

#[tokio::test]
async fn no_response_a_student_gets_before_submitting_holds_an_answer() {
    let app = TestApp::spawn().await;
    let mut checked = 0;
    for name in [
        "quizzes/ccviewer_all-question-types.imscc",
        "quizzes/ccviewer_grouptest.imscc",
        "quizzes/qtigem_canvas_cartridge.imscc",
        "quizzes/quizarchiver_course-qa-ref_m43_course.mbz",
        "olx/openedx-test-course.tar.gz",
    ] {
        let report = packages::import(&app.app, &sample(name), None, true)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        app.drain_jobs().await;
        let quizzes = quiz_lessons(&app, report.course_id).await;
        assert!(
            !quizzes.is_empty(),
            "{name} has quiz lessons: {:?}",
            report.skipped
        );
        let student = app.user(Role::Student).await;
        app.enroll(&student, report.course_id).await;
        for (lesson, quiz) in &quizzes {
            let start = format!("/api/lessons/{lesson}/quiz/attempts");
            let view = ok_json(call(&app, Method::POST, &start, &student, None).await, 201).await;
            assert_no_answers(&format!("{name} start"), &view, quiz);
            let attempt = view["attempt_id"].as_i64().unwrap();
            // Save a response to every question, then look again.
            let mut answers = serde_json::Map::new();
            for q in view["quiz"]["questions"].as_array().unwrap() {
                answers.insert(
                    q["id"].as_str().unwrap().to_owned(),
                    json!({"type": "text", "text": "guess"}),
                );
            }
            let saved = ok_json(
                call(
                    &app,
                    Method::PUT,
                    &format!("/api/quiz-attempts/{attempt}/answers"),
                    &student,
                    Some(json!({"answers": answers})),
                )
                .await,
                200,
            )
            .await;
            assert_no_answers(&format!("{name} save"), &saved, quiz);
            let mine = ok_json(call(&app, Method::GET, &start, &student, None).await, 200).await;
            assert_no_answers(&format!("{name} attempts"), &mine, quiz);
            let page = ok_json(
                call(
                    &app,
                    Method::GET,
                    &format!("/api/lessons/{lesson}"),
                    &student,
                    None,
                )
                .await,
                200,
            )
            .await;
            assert_no_answers(&format!("{name} lesson"), &page, quiz);
            checked += view["quiz"]["questions"].as_array().unwrap().len();
        }
    }
    assert!(checked > 30, "{checked} questions checked");
}

#[tokio::test]
async fn packages_import_quiz_lessons_and_the_native_export_keeps_them() {
    let app = TestApp::spawn().await;
    // Common Cartridge: each assessment is a quiz lesson; what cannot be imported is still listed.
    let r = packages::import(
        &app.app,
        &sample("quizzes/ccviewer_all-question-types.imscc"),
        None,
        false,
    )
    .await
    .unwrap();
    let quizzes = quiz_lessons(&app, r.course_id).await;
    assert!(!quizzes.is_empty());
    assert!(quizzes.values().all(|q| !q.questions.is_empty()));
    // Moodle: the quiz activity, with its questions; unsupported question types are listed, not dropped.
    let m = packages::import(
        &app.app,
        &sample("quizzes/quizarchiver_course-qa-ref_m43_course.mbz"),
        None,
        false,
    )
    .await
    .unwrap();
    let moodle = quiz_lessons(&app, m.course_id).await;
    assert!(!moodle.is_empty(), "{:?}", m.skipped);
    // Open edX: a unit's problems are that lesson's quiz; problems it cannot grade are listed.
    let o = packages::import(
        &app.app,
        &sample("olx/openedx-test-course.tar.gz"),
        None,
        false,
    )
    .await
    .unwrap();
    assert!(
        !quiz_lessons(&app, o.course_id).await.is_empty(),
        "{:?}",
        o.skipped
    );
    assert!(
        !o.skipped.iter().any(|s| s.contains("problem")),
        "{:?}",
        o.skipped
    );

    // Export, import: the same quizzes on the same lessons.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("course.zip");
    packages::native::export(
        &app.app,
        smartcourse::accounts::Actor::System,
        r.course_id,
        &out,
    )
    .await
    .unwrap();
    let again = packages::import(&app.app, &out, None, false).await.unwrap();
    assert_ne!(again.course_id, r.course_id);
    let before: Vec<&Quiz> = quizzes.values().collect();
    let after_map = quiz_lessons(&app, again.course_id).await;
    let after: Vec<&Quiz> = after_map.values().collect();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_student_takes_a_quiz_in_the_pages_and_the_teacher_sees_the_figures() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course_with_quiz(&app, None).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let host = app.base.trim_start_matches("http://").to_owned();
    let page = |path: String, who: &TestUser| {
        client
            .get(app.url(&path))
            .header("cookie", format!("smartcourse_token={}", who.token))
            .send()
    };
    let lesson_page = page(format!("/lessons/{lesson}"), &student)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        lesson_page.contains(&format!("/lessons/{lesson}/quiz")),
        "{lesson_page}"
    );
    let r = client
        .post(app.url(&format!("/lessons/{lesson}/quiz")))
        .header("cookie", format!("smartcourse_token={}", student.token))
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let form = page(format!("/lessons/{lesson}/quiz"), &student)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("What is the capital of France?"), "{form}");
    assert!(
        !form.contains("Lyon is not the capital"),
        "no feedback before submitting"
    );
    // The form's controls: the capital's choices are radios named for its place in the attempt.
    let view = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            &student,
            None,
        )
        .await,
        200,
    )
    .await;
    let attempt = view["attempts"][0]["attempt_id"].as_i64().unwrap();
    let open = ok_json(
        call(
            &app,
            Method::POST,
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            &student,
            None,
        )
        .await,
        201,
    )
    .await;
    let questions = open["quiz"]["questions"].as_array().unwrap();
    let at = |title: &str| questions.iter().position(|q| q["title"] == title).unwrap();
    let paris = choice_id(&questions[at("capital")], "Paris");
    assert!(
        form.contains(&format!("name=\"q{}\" value=\"{paris}\"", at("capital"))),
        "{form}"
    );
    let fields = [
        (format!("q{}", at("capital")), paris),
        (format!("q{}", at("sum")), "4".to_owned()),
        (format!("q{}", at("essay")), "Sea and sand.".to_owned()),
    ];
    let r = client
        .post(app.url(&format!("/quiz-attempts/{attempt}")))
        .header("cookie", format!("smartcourse_token={}", student.token))
        .header("origin", format!("http://{host}"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let result = page(format!("/quiz-attempts/{attempt}"), &student)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(result.contains("Passed"), "{result}");
    assert!(result.contains("waits for your teacher"), "{result}");
    app.drain_jobs().await;
    let lesson_page = page(format!("/lessons/{lesson}"), &student)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        lesson_page.contains("Completed"),
        "passing completed the lesson"
    );
    // The teacher's page: figures and the essay to mark; a student may not see it.
    let report = page(format!("/teach/lessons/{lesson}/quiz"), &teacher)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("1 of 1"), "{report}");
    assert!(report.contains("Sea and sand."), "{report}");
    let r = page(format!("/teach/lessons/{lesson}/quiz"), &student)
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// An odd lesson title (line breaks, markup, over 200 characters) is cleaned, not a failed course, and the
/// dry run shows exactly what the import makes: both take one path.
#[tokio::test]
async fn odd_titles_are_cleaned_the_same_in_a_dry_run_and_an_import() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let long = "A very long title ".repeat(15);
    let odd = format!("<b>Fractions</b>\\n  and\\tdecimals: {long}");
    std::fs::create_dir(dir.path().join("lessons")).unwrap();
    std::fs::write(dir.path().join("lessons/a.md"), "The lesson.\n").unwrap();
    std::fs::write(
        dir.path().join("course.toml"),
        format!(
            "format = 1\ntitle = \"Odd\"\n[[module]]\ntitle = \"Line\\nbreak\"\n[[module.lesson]]\ntitle = \"{odd}\"\nfile = \"lessons/a.md\"\n"
        ),
    )
    .unwrap();
    let preview = packages::inspect(
        dir.path(),
        &app.app.config.uploads,
        &app.app.data.join("tmp"),
    )
    .unwrap();
    let title = preview.modules[0].lessons[0].title.clone();
    assert_eq!(preview.modules[0].title, "Line break");
    assert!(
        title.starts_with("Fractions and decimals: A very long"),
        "{title}"
    );
    assert!(
        title.ends_with('…') && title.chars().count() <= 200,
        "{title}"
    );
    let r = packages::import(&app.app, dir.path(), None, false)
        .await
        .unwrap();
    let lessons: Vec<(String, String)> = app
        .app
        .db
        .read(move |c| {
            Ok(c.prepare("SELECT l.title, m.title FROM lessons l JOIN modules m ON m.id = l.module_id WHERE l.course_id = ?1")?
                .query_map([r.course_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
        .unwrap();
    assert_eq!(
        lessons,
        [(title, "Line break".to_owned())],
        "the import made what the dry run showed"
    );
    let id: i64 = app
        .app
        .db
        .read(|c| Ok(c.query_row("SELECT max(id) FROM lessons", [], |r| r.get(0))?))
        .await
        .unwrap();
    let admin = app.user(Role::Admin).await;
    let lesson = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/api/lessons/{id}"),
            &admin,
            None,
        )
        .await,
        200,
    )
    .await;
    let body = lesson["body_markdown"].as_str().unwrap();
    assert!(
        body.contains(long.trim()),
        "the full title is kept in the body: {body}"
    );
}
