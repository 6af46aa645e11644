//! A teacher's work on a quiz beyond importing packages: questions from GIFT files (the command line and the
//! quiz page), essays marked in the browser, and each student's results as CSV.

use std::path::Path;
use std::process::Output;

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;
use smartcourse::quizzes;
use smartcourse_formats::quiz::{self, Item, Question, QuestionKind, Quiz};

use crate::common::{TestApp, TestUser, assert_error};

pub(crate) const GIFT: &str = "\
// A quiz for the command line.
::capital::What is the capital of France? {=Paris ~Lyon#Lyon is not the capital. ~Marseille}

::sum::How much is 2 + 2? {#4}

::essay::Tell us about your summer. {}
";

/// Runs `smartcourse` with `args` on the data directory of `app` (beside its running server, as the `user`
/// commands run), off the runtime that serves it.
async fn cli(app: &TestApp, args: &[&str]) -> Output {
    let data = app.app.config.data.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_smartcourse"));
        for (k, _) in std::env::vars() {
            if k.starts_with("SMARTCOURSE_") || k == "RUST_LOG" {
                c.env_remove(k);
            }
        }
        c.env("SMARTCOURSE_MODELS_FAKE", "true")
            .args(&args)
            .arg("--data")
            .arg(&data)
            .output()
            .expect("run smartcourse")
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) async fn quiz_of(app: &TestApp, lesson: i64) -> Option<Quiz> {
    app.app
        .db
        .read(move |c| quizzes::quiz_of(c, lesson))
        .await
        .unwrap()
}

/// A published course with a plain lesson, its teacher and an enrolled student.
pub(crate) async fn course(app: &TestApp) -> (i64, i64, TestUser, TestUser) {
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Geography").await;
    let lesson = app.lesson(&teacher, course, "Check yourself", "").await;
    app.publish_directly(course).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    (course, lesson, teacher, student)
}

pub(crate) async fn json_of(r: reqwest::Response, status: u16) -> Value {
    let s = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(s, status, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The right answers to [`GIFT`] (the essay aside) for the attempt `view` shows.
fn right_answers(view: &Value) -> Value {
    let mut answers = serde_json::Map::new();
    for q in view["quiz"]["questions"].as_array().unwrap() {
        let id = q["id"].as_str().unwrap().to_owned();
        let answer = match q["title"].as_str().unwrap() {
            "capital" => {
                let paris = q["kind"]["choices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["text"] == "Paris")
                    .unwrap()["id"]
                    .clone();
                json!({"type": "choice", "choice": paris})
            }
            "sum" => json!({"type": "number", "text": "4"}),
            _ => json!({"type": "essay", "text": "Sea & <sand>."}),
        };
        answers.insert(id, answer);
    }
    json!({ "answers": answers })
}

/// Starts and submits an attempt with the right answers; returns the result.
async fn take(app: &TestApp, lesson: i64, student: &TestUser) -> Value {
    let view = json_of(
        app.send(
            Method::POST,
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            Some(&student.token),
            None,
        )
        .await,
        201,
    )
    .await;
    let attempt = view["attempt_id"].as_i64().unwrap();
    json_of(
        app.send(
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/submit"),
            Some(&student.token),
            Some(&right_answers(&view)),
        )
        .await,
        200,
    )
    .await
}

#[tokio::test]
async fn gift_files_from_the_command_line_make_a_quiz_that_exports_and_imports_the_same() {
    let app = TestApp::spawn().await;
    let (_course, lesson, _teacher, student) = course(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quiz.gift");
    let lesson_arg = lesson.to_string();
    let import = |file: &Path, force: bool| {
        let mut args = vec!["quiz", "import-gift", "--lesson", &lesson_arg];
        args.push(file.to_str().unwrap());
        if force {
            args.push("--force");
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let app = &app;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(app, &args).await
        }
    };

    // A mistake is reported with its file and line, and nothing changes.
    std::fs::write(&file, "::a::Fine {T}\n\n// a comment\n::b::Broken {=x ~y\n").unwrap();
    let o = run(import(&file, false)).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("quiz.gift: line 4") && err.starts_with("error: "),
        "{err}"
    );
    assert!(quiz_of(&app, lesson).await.is_none());
    std::fs::write(&file, "// only a comment\n").unwrap();
    let o = run(import(&file, false)).await;
    assert!(
        text(&o.stderr).contains("no question"),
        "{}",
        text(&o.stderr)
    );
    let o = run(vec![
        "quiz".into(),
        "import-gift".into(),
        "--lesson".into(),
        "999".into(),
        file.to_str().unwrap().into(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));

    // A good file makes the lesson a quiz lesson, named after it, with the default rules.
    std::fs::write(&file, GIFT).unwrap();
    let o = run(import(&file, false)).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("lesson {lesson} is now a quiz of 3 question(s)")),
        "{}",
        text(&o.stdout)
    );
    let mut made = quiz_of(&app, lesson).await.unwrap();
    assert_eq!(made.title, "Check yourself");
    assert_eq!(made.questions.len(), 3);
    // A quiz already there keeps its settings when its questions are replaced.
    made.max_attempts = Some(4);
    let kept = made.clone();
    app.app
        .db
        .write(move |tx| quizzes::set_quiz(tx, lesson, Some(&kept)))
        .await
        .unwrap();

    // Students take it through the API, graded on the server.
    let result = take(&app, lesson, &student).await;
    assert_eq!(result["score"], 2.0, "{result}");
    assert_eq!(result["passed"], true, "{result}");

    // Export: the questions to the file, the settings GIFT cannot hold named on stderr.
    let out = dir.path().join("out.gift");
    let o = cli(
        &app,
        &[
            "quiz",
            "export-gift",
            "--lesson",
            &lesson_arg,
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("wrote 3 question(s)"));
    let err = text(&o.stderr);
    assert!(
        err.contains("not in the file")
            && err.contains("at most 4 attempt(s)")
            && err.contains("pass at 50% of the points"),
        "{err}"
    );
    let exported = std::fs::read_to_string(&out).unwrap();
    let budget = smartcourse_formats::Budget::new(&smartcourse_formats::Limits::default());
    assert_eq!(
        quiz::gift::parse(&exported, &budget).unwrap(),
        made.questions
    );
    // Standard output is the default.
    let o = cli(&app, &["quiz", "export-gift", "--lesson", &lesson_arg]).await;
    assert_eq!(text(&o.stdout), exported);

    // Students attempted it: replacing the questions is refused unless forced, and then changes nothing else.
    let o = run(import(&out, false)).await;
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("1 attempt(s)") && err.contains("--force"),
        "{err}"
    );
    let o = run(import(&out, true)).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("1 earlier attempt(s) keep their scores"));
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), made, "the same quiz");
    let mine = json_of(
        app.send(
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            Some(&student.token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(mine["passed"], true, "{mine}");

    // A question GIFT cannot express is named, and nothing is written unless the rest is asked for.
    let mut odd = made.clone();
    odd.questions.push(Question::new(
        "order-it",
        "Put them in order",
        QuestionKind::Ordering {
            items: vec![
                Item {
                    id: "a".into(),
                    text: "one".into(),
                },
                Item {
                    id: "b".into(),
                    text: "two".into(),
                },
            ],
        },
    ));
    app.app
        .db
        .write(move |tx| quizzes::set_quiz(tx, lesson, Some(&odd)))
        .await
        .unwrap();
    let partial = dir.path().join("partial.gift");
    let args = [
        "quiz",
        "export-gift",
        "--lesson",
        &lesson_arg,
        partial.to_str().unwrap(),
    ];
    let o = cli(&app, &args).await;
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("“order-it”")
            && err.contains("ordering")
            && err.contains("--skip-unsupported"),
        "{err}"
    );
    assert!(!partial.exists(), "nothing written");
    let mut args = args.to_vec();
    args.push("--skip-unsupported");
    let o = cli(&app, &args).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("left out: "));
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), exported);
}

pub(crate) fn page_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts a multipart form as `who`'s browser would, from `origin`.
pub(crate) async fn post_gift(
    app: &TestApp,
    lesson: i64,
    who: &TestUser,
    origin: &str,
    gift: &str,
    force: bool,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part(
        "gift",
        reqwest::multipart::Part::bytes(gift.as_bytes().to_vec()).file_name("quiz.gift"),
    );
    if force {
        form = form.text("force", "on");
    }
    page_client()
        .post(app.url(&format!("/teach/lessons/{lesson}/quiz/gift")))
        .header("cookie", format!("smartcourse_token={}", who.token))
        .header("origin", origin)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn page(app: &TestApp, path: &str, who: &TestUser) -> (u16, String) {
    let r = page_client()
        .get(app.url(path))
        .header("cookie", format!("smartcourse_token={}", who.token))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    who: &TestUser,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    page_client()
        .post(app.url(path))
        .header("cookie", format!("smartcourse_token={}", who.token))
        .header("origin", app.base.clone())
        .form(fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_quiz_page_takes_gift_files_from_the_course_teacher_only() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course(&app).await;
    let other_teacher = app.user(Role::Instructor).await;
    let origin = app.base.clone();

    // The upload: only the course's teacher, only from its own pages, and a mistake names its line.
    let r = post_gift(&app, lesson, &student, &origin, GIFT, false).await;
    assert_eq!(r.status(), 403);
    let r = post_gift(&app, lesson, &other_teacher, &origin, GIFT, false).await;
    assert_eq!(r.status(), 403);
    let r = post_gift(&app, lesson, &teacher, "http://evil.example", GIFT, false).await;
    assert_eq!(r.status(), 403, "another site's form");
    let r = post_gift(&app, lesson, &teacher, &origin, "::x::Broken {=a", false).await;
    assert_eq!(r.status(), 422);
    // The error page shows the message as a sentence, without the field's machine name.
    let shown = r.text().await.unwrap();
    assert!(
        shown.contains("Line 1:") && !shown.contains("gift: "),
        "{shown}"
    );
    assert!(quiz_of(&app, lesson).await.is_none());
    let r = post_gift(&app, lesson, &teacher, &origin, GIFT, false).await;
    assert_eq!(r.status(), 303);
    assert_eq!(quiz_of(&app, lesson).await.unwrap().questions.len(), 3);
    let (status, edit) = page(&app, &format!("/teach/lessons/{lesson}"), &teacher).await;
    assert_eq!(status, 200);
    assert!(edit.contains(&format!("/teach/lessons/{lesson}/quiz/gift")));

    // Students attempted it: a new file is refused unless the teacher ticks the box.
    take(&app, lesson, &student).await;
    let (_, html) = page(&app, &format!("/teach/lessons/{lesson}/quiz"), &teacher).await;
    assert!(html.contains("name=\"force\""), "{html}");
    let other = GIFT.replace("2 + 2", "3 + 3").replace("{#4}", "{#6}");
    let r = post_gift(&app, lesson, &teacher, &origin, &other, false).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("1 attempt(s)"));
    assert_eq!(
        quiz_of(&app, lesson).await.unwrap().questions[1].prompt,
        "How much is 2 + 2?"
    );
    let r = post_gift(&app, lesson, &teacher, &origin, &other, true).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        quiz_of(&app, lesson).await.unwrap().questions[1].prompt,
        "How much is 3 + 3?"
    );
}

#[tokio::test]
async fn teachers_mark_essays_and_download_results_others_may_not() {
    let app = TestApp::spawn().await;
    let (course, lesson, teacher, student) = course(&app).await;
    let other_teacher = app.user(Role::Instructor).await;
    let r = post_gift(&app, lesson, &teacher, &app.base, GIFT, false).await;
    assert_eq!(r.status(), 303);

    // Two students submit; the essays wait for a mark.
    let second = app.user(Role::Student).await;
    app.enroll(&second, course).await;
    let first_result = take(&app, lesson, &student).await;
    take(&app, lesson, &second).await;
    let attempt = first_result["attempt_id"].as_i64().unwrap();
    assert_eq!(first_result["needs_marking"], true);
    let essay = first_result["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["needs_marking"] == true)
        .unwrap()["question_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The teacher's page: a form per essay, each student's attempts, the CSV link.
    let quiz_page = format!("/teach/lessons/{lesson}/quiz");
    let (status, html) = page(&app, &quiz_page, &teacher).await;
    assert_eq!(status, 200);
    assert!(html.contains("student-results") && html.contains("an essay to mark"));
    assert!(html.contains(&format!("/api/lessons/{lesson}/quiz/results?format=csv")));
    let mark_path = format!("/teach/quiz-attempts/{attempt}/mark");
    assert!(html.contains(&mark_path), "{html}");
    assert!(html.contains("Sea &amp; &lt;sand&gt;."), "escaped: {html}");

    // Marking: neither a student nor another teacher may; a mark out of range is refused; nothing changes.
    let fields = [
        ("question", essay.as_str()),
        ("score", "1"),
        ("comment", "Lovely <b>beach</b>."),
    ];
    for who in [&student, &other_teacher] {
        let r = post_form(&app, &mark_path, who, &fields).await;
        assert_eq!(r.status(), 403);
    }
    let outsider = app.user(Role::Student).await;
    let r = post_form(&app, &mark_path, &outsider, &fields).await;
    assert!([403, 404].contains(&r.status().as_u16()));
    let r = post_form(&app, "/teach/quiz-attempts/999999/mark", &teacher, &fields).await;
    assert_eq!(r.status(), 404);
    let r = post_form(
        &app,
        &mark_path,
        &teacher,
        &[("question", &essay), ("score", "7")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = post_form(
        &app,
        &mark_path,
        &teacher,
        &[("question", &essay), ("score", "lots")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let long = "x".repeat(2001);
    let r = post_form(
        &app,
        &mark_path,
        &teacher,
        &[("question", &essay), ("score", "1"), ("comment", &long)],
    )
    .await;
    assert_eq!(r.status(), 422);
    let api_mark = format!("/api/quiz-attempts/{attempt}/answers/{essay}/mark");
    let r = app
        .send(
            Method::PUT,
            &api_mark,
            Some(&teacher.token),
            Some(&json!({"score": 1, "comment": long})),
        )
        .await;
    let msg = assert_error(r, 422, "invalid_input").await;
    assert!(msg.contains("comment"), "{msg}");
    let api_result = format!("/api/quiz-attempts/{attempt}");
    let before = json_of(
        app.send(Method::GET, &api_result, Some(&student.token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(before["needs_marking"], true, "no mark was kept");
    let r = post_form(&app, &mark_path, &teacher, &fields).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        quiz_page.as_str()
    );
    let after = json_of(
        app.send(Method::GET, &api_result, Some(&student.token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(after["needs_marking"], false);
    assert_eq!(after["score"], 3.0);
    let (_, result_page) = page(&app, &format!("/quiz-attempts/{attempt}"), &student).await;
    assert!(
        result_page.contains("Lovely &lt;b&gt;beach&lt;/b&gt;."),
        "the comment, as text: {result_page}"
    );

    // The results: JSON and CSV for the teacher, for nobody else.
    let results = format!("/api/lessons/{lesson}/quiz/results");
    let csv_path = format!("{results}?format=csv");
    for who in [&student, &other_teacher] {
        let r = app
            .send(Method::GET, &csv_path, Some(&who.token), None)
            .await;
        assert_error(r, 403, "forbidden").await;
    }
    let r = app
        .send(
            Method::GET,
            &format!("{results}?format=xml"),
            Some(&teacher.token),
            None,
        )
        .await;
    assert_error(r, 422, "invalid_input").await;
    let json = json_of(
        app.send(Method::GET, &results, Some(&teacher.token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(json["attempts"].as_array().unwrap().len(), 2);
    let r = app
        .send(Method::GET, &csv_path, Some(&teacher.token), None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let rows = parse_csv(&r.text().await.unwrap());
    assert_eq!(rows.len(), 3, "a header and one row per attempt: {rows:?}");
    let header = &rows[0];
    assert_eq!(
        header[..11],
        [
            "student",
            "email",
            "attempt",
            "started",
            "submitted",
            "score",
            "points",
            "percent",
            "passed",
            "needs_marking",
            "hints"
        ]
    );
    assert_eq!(
        header[11..],
        ["Q1 capital", "Q2 sum", "Q3 essay"],
        "a column per question, in the teacher's order"
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = rows
        .iter()
        .find(|r| r[col("email")] == student.email)
        .unwrap();
    assert_eq!(row[col("attempt")], attempt.to_string());
    assert_eq!(row[col("score")], "3");
    assert_eq!(row[col("points")], "3");
    assert_eq!(row[col("percent")], "100");
    assert_eq!(row[col("passed")], "yes");
    assert_eq!(row[col("needs_marking")], "no");
    assert_eq!(
        [&row[11], &row[12], &row[13]],
        ["1", "1", "1"],
        "each question's score"
    );
    assert!(!row[col("started")].is_empty() && !row[col("submitted")].is_empty());
    let other = rows
        .iter()
        .find(|r| r[col("email")] == second.email)
        .unwrap();
    assert_eq!(other[col("needs_marking")], "yes");
    assert_eq!(other[col("percent")], "66.7");
    assert_eq!(other[13], "0", "an essay waiting for its mark scores 0");
}

/// Parses CSV as RFC 4180 writes it: fields quoted when they hold `,`, `"` or a line break, `""` a quote.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the CSV ends with a line break"
    );
    rows
}

/// An attempt is graded, shown and reported against the quiz it was started on: a teacher's forced new GIFT
/// file while it is open changes nothing for it, and the next attempt gets the new questions.
#[tokio::test]
async fn an_open_attempt_keeps_the_quiz_it_was_started_on() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course(&app).await;
    let origin = app.base.clone();
    let r = post_gift(&app, lesson, &teacher, &origin, GIFT, false).await;
    assert_eq!(r.status(), 303);
    let start = || async {
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
    };
    let view = start().await;
    let attempt = view["attempt_id"].as_i64().unwrap();

    // Mid-attempt, the teacher replaces the questions: 2 + 2 becomes 3 + 3, Paris is no longer right.
    let edited = GIFT
        .replace("2 + 2", "3 + 3")
        .replace("{#4}", "{#6}")
        .replace("=Paris ~Lyon", "~Paris =Lyon");
    let r = post_gift(&app, lesson, &teacher, &origin, &edited, true).await;
    assert_eq!(r.status(), 303);

    // Resuming shows the old questions; submitting the old right answers scores them right.
    let resumed = start().await;
    assert_eq!(resumed["attempt_id"], attempt);
    assert!(resumed.to_string().contains("2 + 2"), "{resumed}");
    assert!(!resumed.to_string().contains("3 + 3"), "{resumed}");
    let result = json_of(
        app.send(
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/submit"),
            Some(&student.token),
            Some(&right_answers(&view)),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(result["score"], 2.0, "{result}");
    let sum = result["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["prompt"].as_str().unwrap().contains("How much"))
        .unwrap();
    assert_eq!(sum["prompt"], "How much is 2 + 2?");
    assert_eq!(sum["correct"], true);

    // Its result page, and the teacher's figures, read the same version.
    let (status, html) = page(&app, &format!("/quiz-attempts/{attempt}"), &student).await;
    assert_eq!(status, 200);
    assert!(html.contains("2 + 2") && !html.contains("3 + 3"), "{html}");
    // Scores read as a person writes them ("2 of 3 points", not "2.0 of 3.0 point(s)").
    assert!(html.contains("2 of 3 points"), "{html}");
    assert!(html.contains("<small>1 / 1,"), "{html}");
    let report = json_of(
        app.send(
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/report"),
            Some(&teacher.token),
            None,
        )
        .await,
        200,
    )
    .await;
    let capital = report["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["title"] == "capital")
        .unwrap();
    assert_eq!(capital["right"], 1, "{report}");

    // A new attempt gets the new version.
    let next = start().await;
    assert_ne!(next["attempt_id"], attempt);
    assert!(next.to_string().contains("3 + 3"), "{next}");
    assert!(!next.to_string().contains("2 + 2"), "{next}");
    let (_, html) = page(&app, &format!("/lessons/{lesson}/quiz"), &student).await;
    assert!(
        html.contains("· 3 points") && html.contains("(1 point)"),
        "{html}"
    );
    assert!(!html.contains(".0 point"), "{html}");
}

/// After a teacher edits a quiz, an earlier attempt is reported under the questions as it asked them: its
/// score for "2 + 2" sits in a column headed with that question and its version, not under "3 + 3", and the
/// per-question figures count it there; the question left as it was keeps one column for both attempts.
#[tokio::test]
async fn results_and_figures_report_each_attempt_under_its_own_version() {
    let app = TestApp::spawn().await;
    let (course, lesson, teacher, first) = course(&app).await;
    let second = app.user(Role::Student).await;
    app.enroll(&second, course).await;
    let origin = app.base.clone();
    // A titled question keeps its id when edited; an untitled one's id is made from its text, so editing it
    // makes a new question, the old one removed.
    let before =
        "::capital::What is the capital of France? {=Paris ~Lyon}\n\nHow much is 2 + 2? {#4}\n";
    let r = post_gift(&app, lesson, &teacher, &origin, before, false).await;
    assert_eq!(r.status(), 303);
    let answer = |view: &Value, sum: &str| {
        let mut answers = serde_json::Map::new();
        for q in view["quiz"]["questions"].as_array().unwrap() {
            let id = q["id"].as_str().unwrap().to_owned();
            let a = if q["prompt"].as_str().unwrap().contains("capital") {
                let paris = q["kind"]["choices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["text"] == "Paris")
                    .unwrap()["id"]
                    .clone();
                json!({"type": "choice", "choice": paris})
            } else {
                json!({"type": "number", "text": sum})
            };
            answers.insert(id, a);
        }
        json!({ "answers": answers })
    };
    let take = |who: &TestUser, sum: &'static str| {
        let (app, token) = (&app, who.token.clone());
        async move {
            let view = json_of(
                app.send(
                    Method::POST,
                    &format!("/api/lessons/{lesson}/quiz/attempts"),
                    Some(&token),
                    None,
                )
                .await,
                201,
            )
            .await;
            let attempt = view["attempt_id"].as_i64().unwrap();
            json_of(
                app.send(
                    Method::POST,
                    &format!("/api/quiz-attempts/{attempt}/submit"),
                    Some(&token),
                    Some(&answer(&view, sum)),
                )
                .await,
                200,
            )
            .await
        }
    };
    // The first student answers Paris and 4, rightly; then the teacher makes Lyon the capital and 2 + 2 into
    // 3 + 3, and the second student answers Paris and 5, wrongly.
    let r = take(&first, "4").await;
    assert_eq!(r["score"], 2.0, "{r}");
    let after = before
        .replace("{=Paris ~Lyon}", "{~Paris =Lyon}")
        .replace("2 + 2? {#4}", "3 + 3? {#6}");
    let r = post_gift(&app, lesson, &teacher, &origin, &after, true).await;
    assert_eq!(r.status(), 303);
    let r = take(&second, "5").await;
    assert_eq!(r["score"], 0.0, "{r}");

    let r = app
        .send(
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/results?format=csv"),
            Some(&teacher.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let rows = parse_csv(&r.text().await.unwrap());
    let header = &rows[0];
    assert_eq!(
        header[11..],
        [
            "Q1 as in version 1: capital",
            "Q1 capital",
            "Q2 How much is 3 + 3?",
            "removed, as in version 1: How much is 2 + 2?"
        ],
        "{rows:?}"
    );
    let row = |who: &TestUser| {
        rows.iter()
            .find(|r| r[1] == who.email)
            .unwrap_or_else(|| panic!("{rows:?}"))[11..]
            .to_vec()
    };
    assert_eq!(row(&first), ["1", "", "", "1"], "Paris and 2 + 2, rightly");
    assert_eq!(
        row(&second),
        ["", "0", "0", ""],
        "Paris for Lyon and 5 for 3 + 3, wrongly"
    );

    let report = json_of(
        app.send(
            Method::GET,
            &format!("/api/lessons/{lesson}/quiz/report"),
            Some(&teacher.token),
            None,
        )
        .await,
        200,
    )
    .await;
    let figures: Vec<(String, Value, Value, u64, u64, Value)> = report["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["prompt"].as_str().unwrap().to_owned(),
                q["number"].clone(),
                q["version"].clone(),
                q["shown"].as_u64().unwrap(),
                q["right"].as_u64().unwrap(),
                q["most_common_wrong"].clone(),
            )
        })
        .collect();
    let capital = "What is the capital of France?".to_owned();
    let (two, three) = (
        "How much is 2 + 2?".to_owned(),
        "How much is 3 + 3?".to_owned(),
    );
    assert_eq!(
        figures,
        [
            (capital.clone(), json!(1), json!(1), 1, 1, Value::Null),
            (capital, json!(1), Value::Null, 1, 0, json!("Paris")),
            (three, json!(2), Value::Null, 1, 0, json!("5")),
            (two, Value::Null, json!(1), 1, 1, Value::Null),
        ],
        "{report}"
    );
    // The teacher's page: the earlier form says so and has no edit link; the question now links to its editor.
    let (status, html) = page(&app, &format!("/teach/lessons/{lesson}/quiz"), &teacher).await;
    assert_eq!(status, 200);
    for shown in [
        "capital <small>(as in version 1)</small>",
        "How much is 2 + 2? <small>(as in version 1, removed)</small>",
    ] {
        assert!(html.contains(shown), "{shown}: {html}");
    }
    for n in [1, 2] {
        let link = format!("/teach/lessons/{lesson}/quiz/questions/{n}\"");
        assert_eq!(html.matches(&link).count(), 1, "{link}: {html}");
    }
}

/// TeX in a quiz is typeset as MathML as in lessons, in the prompt, the choices and (after submitting) the
/// feedback, on the pages as in the API; and a hidden answer stays hidden.
#[tokio::test]
async fn formulas_in_quizzes_are_mathml_and_hide_no_answer() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course(&app).await;
    let gift = r"::half::What is \(\frac\{1\}\{2\} + \frac\{1\}\{2\}\)? {=\(1\) ~\(2\)#Not \(2\).}

::pi::What is the constant \(\pi\) in \(A = \pi r^2\) called? {=Archimedes' constant#\(\pi\) is Archimedes' constant.}
";
    let r = post_gift(&app, lesson, &teacher, &app.base, gift, false).await;
    assert_eq!(r.status(), 303);
    let view = json_of(
        app.send(
            Method::POST,
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            Some(&student.token),
            None,
        )
        .await,
        201,
    )
    .await;
    let text = view.to_string();
    assert!(
        !text.contains("\\\\frac") && !text.contains("\\\\("),
        "{text}"
    );
    assert!(text.contains("<mfrac>"), "{text}");
    assert!(!text.contains("Archimedes"), "{text}");
    let half = view["quiz"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["title"] == "half")
        .unwrap()
        .clone();
    let choices = half["kind"]["choices"].as_array().unwrap();
    assert!(
        choices
            .iter()
            .all(|c| c["text"].as_str().unwrap().contains("<math")),
        "{half}"
    );

    // The page shows the same MathML, with no answer in it.
    let (status, html) = page(&app, &format!("/lessons/{lesson}/quiz"), &student).await;
    assert_eq!(status, 200);
    assert!(html.contains("<mfrac>") && html.contains("<math"), "{html}");
    assert!(
        !html.contains("\\frac") && !html.contains("Archimedes"),
        "{html}"
    );

    // After submitting, the feedback's formulas are typeset too.
    let wrong = choices
        .iter()
        .find(|c| c["text"].as_str().unwrap().contains("<mn>2</mn>"))
        .unwrap()["id"]
        .clone();
    let attempt = view["attempt_id"].as_i64().unwrap();
    let answers =
        json!({"answers": {half["id"].as_str().unwrap(): {"type": "choice", "choice": wrong}}});
    let result = json_of(
        app.send(
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/submit"),
            Some(&student.token),
            Some(&answers),
        )
        .await,
        200,
    )
    .await;
    let fb = result["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["question_id"] == half["id"])
        .unwrap()["feedback"]
        .to_string();
    assert!(fb.contains("Not <math"), "{fb}");
    let (_, html) = page(&app, &format!("/quiz-attempts/{attempt}"), &student).await;
    assert!(
        html.contains("<mfrac>") && html.contains("Not <math"),
        "{html}"
    );
}

/// The teacher edits a question's text, choices and right answer, and adds a single-choice question, in the
/// browser; students and other teachers cannot, and bad forms change nothing.
#[tokio::test]
async fn teachers_edit_and_add_questions_in_the_browser_students_cannot() {
    let app = TestApp::spawn().await;
    let (_course, lesson, teacher, student) = course(&app).await;
    let other_teacher = app.user(Role::Instructor).await;
    let r = post_gift(&app, lesson, &teacher, &app.base, GIFT, false).await;
    assert_eq!(r.status(), 303);
    let before = quiz_of(&app, lesson).await.unwrap();
    let edit = format!("/teach/lessons/{lesson}/quiz/questions/1");
    let add = format!("/teach/lessons/{lesson}/quiz/questions");
    let good = [
        ("prompt", "Which city is the capital of France?"),
        ("choice", "Paris"),
        ("choice", "Lyon"),
        ("choice", ""),
        ("choice", "Nice"),
        ("right", "1"),
    ];
    let new = [
        ("prompt", "How much is 2 + 3?"),
        ("choice", "4"),
        ("choice", "5"),
        ("right", "1"),
    ];

    // Crossing the boundary: a student, another teacher, another site's form.
    for who in [&student, &other_teacher] {
        assert_eq!(page(&app, &edit, who).await.0, 403);
        let (status, _) = page(&app, &format!("{add}/new"), who).await;
        assert_eq!(status, 403);
        assert_eq!(post_form(&app, &edit, who, &good).await.status(), 403);
        assert_eq!(post_form(&app, &add, who, &new).await.status(), 403);
    }
    // The editor's other pages and actions: settings, deleting, moving, a question of another kind. A form
    // that is wrong as well is refused for who sends it, not for what it says.
    let settings = format!("/teach/lessons/{lesson}/quiz/settings");
    let delete = format!("{edit}/delete");
    let moving = format!("{edit}/move");
    let numeric = [("kind", "numeric"), ("prompt", "1 + 1?"), ("answers", "2")];
    let rules = [("pass", "score"), ("percent", "0"), ("max_attempts", "")];
    for who in [&student, &other_teacher] {
        for path in [&settings, &delete, &format!("{add}/new?kind=numeric")] {
            assert_eq!(page(&app, path, who).await.0, 403, "{path}");
        }
        for (path, form) in [
            (&settings, &rules[..]),
            (&settings, &[("pass", "luck")][..]),
            (&delete, &[("confirm", "yes")][..]),
            (&moving, &[("direction", "down")][..]),
            (&moving, &[("direction", "sideways")][..]),
            (&add, &numeric[..]),
            (&add, &odd_right_form()[..]),
            (&edit, &odd_right_form()[..]),
        ] {
            let r = post_form(&app, path, who, form).await;
            assert_eq!(r.status(), 403, "{path} {form:?}");
        }
    }
    for (path, form) in [
        (&settings, &rules[..]),
        (&delete, &[("confirm", "yes")][..]),
        (&moving, &[("direction", "down")][..]),
        (&add, &numeric[..]),
    ] {
        let forged = page_client()
            .post(app.url(path))
            .header("cookie", format!("smartcourse_token={}", teacher.token))
            .header("origin", "http://evil.example")
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "{path}");
    }
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);
    let foreign = page_client()
        .post(app.url(&edit))
        .header("cookie", format!("smartcourse_token={}", teacher.token))
        .header("origin", "http://evil.example")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);

    // Bad forms: 422 (404 for no such question), and nothing changes.
    let no_right = &good[..5];
    let one_choice = [("prompt", "x"), ("choice", "Paris"), ("right", "0")];
    let two_right = [
        ("prompt", "x"),
        ("choice", "Paris"),
        ("choice", "Lyon"),
        ("right", "0"),
        ("right", "1"),
    ];
    let same = [
        ("prompt", "x"),
        ("choice", "Paris"),
        ("choice", "Paris"),
        ("right", "0"),
    ];
    let no_prompt = [
        ("prompt", "  "),
        ("choice", "a"),
        ("choice", "b"),
        ("right", "0"),
    ];
    let odd_right = [
        ("prompt", "x"),
        ("choice", "a"),
        ("choice", "b"),
        ("right", "first"),
    ];
    for form in [
        no_right,
        &one_choice,
        &two_right,
        &same,
        &no_prompt,
        &odd_right,
    ] {
        let r = post_form(&app, &edit, &teacher, form).await;
        assert_eq!(r.status(), 422, "{form:?}");
        let r = post_form(&app, &add, &teacher, form).await;
        assert_eq!(r.status(), 422, "{form:?}");
    }
    for n in ["0", "4", "x"] {
        let path = format!("/teach/lessons/{lesson}/quiz/questions/{n}");
        assert_eq!(
            post_form(&app, &path, &teacher, &good).await.status(),
            404,
            "{n}"
        );
    }
    assert_eq!(quiz_of(&app, lesson).await.unwrap(), before);

    // The teacher's form shows the question; saving changes text, choices and the right one.
    let (status, html) = page(&app, &edit, &teacher).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("What is the capital of France?") && html.contains("value=\"Marseille\"")
    );
    assert_eq!(post_form(&app, &edit, &teacher, &good).await.status(), 303);
    let quiz = quiz_of(&app, lesson).await.unwrap();
    let q = &quiz.questions[0];
    assert_eq!(q.prompt, "Which city is the capital of France?");
    let QuestionKind::SingleChoice { choices } = &q.kind else {
        panic!("{q:?}")
    };
    let texts: Vec<(&str, f64)> = choices
        .iter()
        .map(|c| (c.text.as_str(), c.fraction))
        .collect();
    assert_eq!(texts, [("Paris", 0.0), ("Lyon", 1.0), ("Nice", 0.0)]);
    assert_eq!(
        choices[1].feedback, "Lyon is not the capital.",
        "kept with its text"
    );
    assert_eq!(quiz.questions[1..], before.questions[1..]);

    // A new single-choice question, which the next attempt grades.
    assert_eq!(post_form(&app, &add, &teacher, &new).await.status(), 303);
    let quiz = quiz_of(&app, lesson).await.unwrap();
    assert_eq!(quiz.questions.len(), 4);
    let view = json_of(
        app.send(
            Method::POST,
            &format!("/api/lessons/{lesson}/quiz/attempts"),
            Some(&student.token),
            None,
        )
        .await,
        201,
    )
    .await;
    let shown = view["quiz"]["questions"].as_array().unwrap();
    let added = shown
        .iter()
        .find(|q| q["prompt"] == "How much is 2 + 3?")
        .unwrap();
    let capital = shown.iter().find(|q| q["title"] == "capital").unwrap();
    let pick = |q: &Value, text: &str| {
        q["kind"]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["text"] == text)
            .unwrap()["id"]
            .clone()
    };
    let answers = json!({"answers": {
        added["id"].as_str().unwrap(): {"type": "choice", "choice": pick(added, "5")},
        capital["id"].as_str().unwrap(): {"type": "choice", "choice": pick(capital, "Lyon")},
    }});
    let attempt = view["attempt_id"].as_i64().unwrap();
    let result = json_of(
        app.send(
            Method::POST,
            &format!("/api/quiz-attempts/{attempt}/submit"),
            Some(&student.token),
            Some(&answers),
        )
        .await,
        200,
    )
    .await;
    let right: Vec<bool> = result["questions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["question_id"] == added["id"] || q["question_id"] == capital["id"])
        .map(|q| q["correct"].as_bool().unwrap())
        .collect();
    assert_eq!(right, [true, true], "{result}");
}

/// A question form whose `right` is not a row's place.
fn odd_right_form() -> [(&'static str, &'static str); 4] {
    [
        ("prompt", "x"),
        ("choice", "a"),
        ("choice", "b"),
        ("right", "first"),
    ]
}
