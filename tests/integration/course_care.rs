//! Looking after courses: deleting a course (and only it) after a confirmation that offers its export,
//! handing a course over, moving lessons and modules, and what a new course says to do next.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;

use crate::common::{PASSWORD, TestApp, TestUser, assert_error};

/// Checks a 422 `invalid_input` that names `field`.
pub(crate) async fn invalid(r: reqwest::Response, field: &str) {
    assert_eq!(r.status(), 422, "{}", r.url());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_input", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
}

/// A client that shows a form's redirect (303) instead of following it.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn json(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

/// Tables with a `course_id` column, and whether the course built by [`full_course`] has rows in them.
const COURSE_TABLES: &[(&str, bool)] = &[
    ("modules", true),
    ("lessons", true),
    ("attachments", true),
    ("enrollments", true),
    ("lesson_progress", true),
    ("quizzes", true),
    ("quiz_attempts", true),
    ("conversations", true),
    ("chunks", true),
    ("classroom_answers", false),
    ("course_stats", true),
    ("lesson_stats", true),
    ("student_activity", true),
    ("package_files", false),
];

async fn rows(app: &TestApp, table: &'static str, course: i64) -> i64 {
    app.app
        .db
        .read(move |c| {
            Ok(c.query_row(
                &format!("SELECT count(*) FROM {table} WHERE course_id = ?1"),
                [course],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

/// A published course of `owner` with a lesson whose file and text are its own (`word`), a quiz lesson, and
/// `student` enrolled, who completed the first lesson, started the quiz and asked the tutor.
async fn full_course(
    app: &TestApp,
    owner: &TestUser,
    student: &TestUser,
    word: &str,
) -> (i64, i64) {
    let course = app.course(owner, &format!("Course {word}")).await;
    let lesson = app
        .lesson(
            owner,
            course,
            "Reading",
            &format!("The {word} is explained here: a {word} has three sides."),
        )
        .await;
    let r = app
        .upload(
            owner,
            lesson,
            "notes.txt",
            format!("notes about the {word}\n").into_bytes(),
        )
        .await;
    assert_eq!(r.status(), 201);
    let quiz = app.lesson(owner, course, "Check", "x").await;
    app.gift_quiz(
        quiz,
        "Check",
        "::Sum:: What is 2 + 2? {=four ~five}",
        |_| {},
    )
    .await;
    app.publish(owner, course).await;
    app.enroll(student, course).await;
    let r = app
        .post(
            &format!("/api/lessons/{lesson}/complete"),
            Some(&student.token),
            &json!({}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = app
        .post(
            &format!("/api/lessons/{quiz}/quiz/attempts"),
            Some(&student.token),
            &json!({}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let asked = app
        .post(
            "/api/ai/ask",
            Some(&student.token),
            &json!({"course_id": course, "question": format!("How many sides has a {word}?")}),
        )
        .await;
    crate::search::sse_events(asked).await;
    app.drain_jobs().await;
    (course, lesson)
}

#[tokio::test]
async fn deleting_a_course_removes_all_of_it_and_leaves_the_other_course_whole() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let (gone, gone_lesson) = full_course(&app, &owner, &student, "triangle").await;
    let (kept, kept_lesson) = full_course(&app, &owner, &student, "hexagon").await;
    for (table, filled) in COURSE_TABLES {
        if *filled {
            assert!(
                rows(&app, table, gone).await > 0,
                "{table} has no rows to delete: the test proves nothing"
            );
        }
    }
    let gone_files: Value = json(
        app.send(
            Method::GET,
            &format!("/api/lessons/{gone_lesson}"),
            Some(&owner.token),
            None,
        )
        .await,
    )
    .await;
    let gone_file = gone_files["attachments"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(app.stored_hashes().await.contains(&gone_file));
    let kept_before: Vec<i64> = {
        let mut v = Vec::new();
        for (table, _) in COURSE_TABLES {
            v.push(rows(&app, table, kept).await);
        }
        v
    };
    let documents_before = app.app.search.text_documents();

    let r = app
        .send(
            Method::DELETE,
            &format!("/api/courses/{gone}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    app.drain_jobs().await;

    for (table, _) in COURSE_TABLES {
        assert_eq!(
            rows(&app, table, gone).await,
            0,
            "{table} kept rows of the deleted course"
        );
    }
    assert!(
        !app.stored_hashes().await.contains(&gone_file),
        "the deleted course's file is still stored"
    );
    assert_eq!(
        app.app.search.text_documents() as i64,
        rows(&app, "chunks", kept).await,
        "the text index still holds the deleted course's passages"
    );
    assert!(app.app.search.text_documents() < documents_before);
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/courses/{gone}"),
            Some(&owner.token),
            None
        )
        .await
        .status(),
        404
    );

    // The other course, its student and their work are as they were.
    let mut kept_after = Vec::new();
    for (table, _) in COURSE_TABLES {
        kept_after.push(rows(&app, table, kept).await);
    }
    assert_eq!(kept_after, kept_before);
    let lesson: Value = json(
        app.send(
            Method::GET,
            &format!("/api/lessons/{kept_lesson}"),
            Some(&student.token),
            None,
        )
        .await,
    )
    .await;
    assert!(lesson["body_html"].as_str().unwrap().contains("hexagon"));
    let file = lesson["attachments"][0]["url"].as_str().unwrap().to_owned();
    let r = app
        .send(Method::GET, &file, Some(&student.token), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "notes about the hexagon\n");
    let found: Value = json(
        app.send(
            Method::GET,
            &format!("/api/search?q=hexagon&course_id={kept}"),
            Some(&student.token),
            None,
        )
        .await,
    )
    .await;
    assert!(found.to_string().contains("hexagon"), "{found}");
    let me = app
        .send(Method::GET, "/api/users/me", Some(&student.token), None)
        .await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn only_the_owner_or_an_admin_deletes_a_course_and_not_while_it_is_published() {
    let app = TestApp::spawn().await;
    let web = browser();
    let owner = app.user(Role::Instructor).await;
    let other = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let admin = app.user(Role::Admin).await;
    let draft = app.course(&owner, "Draft").await;
    let open = app.course(&owner, "Open").await;
    app.lesson(&owner, open, "One", "text").await;
    app.publish(&owner, open).await;
    app.enroll(&student, open).await;

    // The API: a course one may not see is not there (404); one only seen is not one's to delete (403).
    for (who, course, status) in [
        (&other, draft, 404),
        (&student, draft, 404),
        (&other, open, 403),
        (&student, open, 403),
    ] {
        let r = app
            .send(
                Method::DELETE,
                &format!("/api/courses/{course}"),
                Some(&who.token),
                None,
            )
            .await;
        assert_eq!(r.status(), status, "{} deleting {course}", who.email);
        let r = app
            .send(
                Method::GET,
                &format!("/api/courses/{course}/export"),
                Some(&who.token),
                None,
            )
            .await;
        assert_eq!(r.status(), status, "{} exporting {course}", who.email);
    }
    // The pages: the confirmation and the delete itself.
    let page = |token: &str, method: Method, path: String| {
        web.request(method, app.url(&path))
            .header("cookie", format!("smartcourse_token={token}"))
    };
    for (who, course, status) in [(&other, draft, 404), (&student, open, 403)] {
        let r = page(
            &who.token,
            Method::GET,
            format!("/teach/courses/{course}/delete"),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), status);
        let r = page(
            &who.token,
            Method::POST,
            format!("/teach/courses/{course}/delete"),
        )
        .form(&[("confirm", "yes")])
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), status);
    }
    // Without the confirmation, nothing happens.
    let r = page(
        &owner.token,
        Method::POST,
        format!("/teach/courses/{draft}/delete"),
    )
    .form(&[("confirm", "")])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    for course in [draft, open] {
        let r = app
            .send(
                Method::GET,
                &format!("/api/courses/{course}"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status(), 200, "course {course} survived");
    }
    assert_eq!(rows(&app, "enrollments", open).await, 1);

    // While publishing runs, the course stays (the workflow's steps need it).
    let r = app
        .send(
            Method::POST,
            &format!("/api/courses/{open}/publish"),
            Some(&owner.token),
            None,
        )
        .await;
    assert!(r.status().is_success());
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/courses/{open}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_error(r, 409, "course_busy").await;
    app.drain_jobs().await;

    // The owner exports the course, then deletes it from the page; an admin deletes another's draft.
    let r = page(
        &owner.token,
        Method::GET,
        format!("/teach/courses/{open}/export"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let zip = r.bytes().await.unwrap();
    assert!(zip.starts_with(b"PK"));
    let r = page(
        &owner.token,
        Method::POST,
        format!("/teach/courses/{open}/delete"),
    )
    .form(&[("confirm", "yes")])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(rows(&app, "enrollments", open).await, 0);
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/courses/{draft}"),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    app.drain_jobs().await;

    // The export brings the course back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.zip");
    std::fs::write(&path, &zip).unwrap();
    let report = smartcourse::packages::import(&app.app, &path, Some(owner.email.clone()), false)
        .await
        .unwrap();
    let back: Value = json(
        app.send(
            Method::GET,
            &format!("/api/courses/{}", report.course_id),
            Some(&owner.token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(back["title"], "Open");
    assert_eq!(back["lesson_count"], 1);
    app.drain_jobs().await;
}

#[tokio::test]
async fn an_admin_edits_and_hands_over_any_course_and_nobody_else_can() {
    let app = TestApp::spawn().await;
    let web = browser();
    // The demo course as a fresh install has it (no admin yet): owned by the built-in account nobody logs in to.
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo-course");
    let demo = smartcourse::packages::import(&app.app, &package, None, true)
        .await
        .unwrap()
        .course_id;
    app.drain_jobs().await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, demo).await;
    let builtin = json(
        app.send(Method::GET, &format!("/api/courses/{demo}"), None, None)
            .await,
    )
    .await;
    assert_eq!(builtin["owner_name"], "SmartCourse");
    let teacher = app.user(Role::Instructor).await;
    let other = app.user(Role::Instructor).await;
    let admin = app.user(Role::Admin).await;
    let hand = |_course: i64, owner: i64| json!({ "owner_id": owner });

    // Neither a teacher nor a student may hand it over or edit it.
    for who in [&teacher, &student] {
        let r = app
            .send(
                Method::PUT,
                &format!("/api/courses/{demo}/owner"),
                Some(&who.token),
                Some(&hand(demo, who.id)),
            )
            .await;
        assert_eq!(r.status(), 403, "{}", who.email);
        let r = app
            .send(
                Method::PUT,
                &format!("/api/courses/{demo}"),
                Some(&who.token),
                Some(&json!({"title": "Mine"})),
            )
            .await;
        assert_eq!(r.status(), 403, "{}", who.email);
    }
    // The admin edits it and hands it to the teacher; a student or a disabled account cannot receive it.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}"),
            Some(&admin.token),
            Some(&json!({"title": "Fractions (demo)"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}/owner"),
            Some(&admin.token),
            Some(&hand(demo, student.id)),
        )
        .await;
    invalid(r, "owner_id").await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}/owner"),
            Some(&admin.token),
            Some(&hand(demo, 999_999)),
        )
        .await;
    invalid(r, "owner_id").await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}/owner"),
            Some(&admin.token),
            Some(&hand(demo, teacher.id)),
        )
        .await;
    assert_eq!(r.status(), 200);
    let course = json(r).await;
    assert_eq!(course["course"]["owner_id"], teacher.id);
    assert_eq!(course["course"]["title"], "Fractions (demo)");

    // Now the teacher edits it; the owner still may not give it away, and another teacher may not take it.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}"),
            Some(&teacher.token),
            Some(&json!({"description": "Ours now"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}/owner"),
            Some(&teacher.token),
            Some(&hand(demo, other.id)),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}/owner"),
            Some(&other.token),
            Some(&hand(demo, other.id)),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{demo}"),
            Some(&other.token),
            Some(&json!({"title": "Taken"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let draft = app.course(&teacher, "Draft").await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{draft}/owner"),
            Some(&other.token),
            Some(&hand(draft, other.id)),
        )
        .await;
    assert_eq!(r.status(), 404, "another's draft is not there");
    let detail = json(
        app.send(Method::GET, &format!("/api/courses/{demo}"), None, None)
            .await,
    )
    .await;
    assert_eq!(detail["owner_id"], teacher.id);
    assert_eq!(detail["title"], "Fractions (demo)");

    // The pages: an admin's Teach page lists every course, and the course page offers the hand-over.
    let page = |token: &str, path: &str| {
        web.get(app.url(path))
            .header("cookie", format!("smartcourse_token={token}"))
    };
    let html = page(&admin.token, "/teach")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("/teach/courses/{demo}"))
            && html.contains(&format!("/teach/courses/{draft}"))
    );
    let html = page(&admin.token, &format!("/teach/courses/{demo}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("action=\"/teach/courses/{demo}/owner\"")));
    assert!(
        html.contains(&format!("({})</option>", other.email)),
        "instructors are offered"
    );
    assert!(
        !html.contains(&format!("({})</option>", student.email)),
        "students are not"
    );
    let html = page(&teacher.token, &format!("/teach/courses/{demo}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("/owner\""), "only admins hand courses over");
    let r = web
        .post(app.url(&format!("/teach/courses/{demo}/owner")))
        .header("cookie", format!("smartcourse_token={}", teacher.token))
        .form(&[("owner_id", other.id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = web
        .post(app.url(&format!("/teach/courses/{demo}/owner")))
        .header("cookie", format!("smartcourse_token={}", admin.token))
        .form(&[("owner_id", other.id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let detail = json(
        app.send(Method::GET, &format!("/api/courses/{demo}"), None, None)
            .await,
    )
    .await;
    assert_eq!(detail["owner_id"], other.id);
}

/// The lesson titles of each module, in order.
async fn outline(app: &TestApp, owner: &TestUser, course: i64) -> Vec<(String, Vec<String>)> {
    let d = json(
        app.send(
            Method::GET,
            &format!("/api/courses/{course}"),
            Some(&owner.token),
            None,
        )
        .await,
    )
    .await;
    d["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["title"].as_str().unwrap().to_owned(),
                m["lessons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["title"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn lessons_and_modules_move_up_and_down_with_plain_forms() {
    let app = TestApp::spawn().await;
    let web = browser();
    let owner = app.user(Role::Instructor).await;
    let other = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let course = app.course(&owner, "Order").await;
    let a = app.lesson(&owner, course, "A", "a").await;
    let b = app.lesson(&owner, course, "B", "b").await;
    let second: Value = json(
        app.post(
            &format!("/api/courses/{course}/modules"),
            Some(&owner.token),
            &json!({"title": "Second"}),
        )
        .await,
    )
    .await;
    let second = second["id"].as_i64().unwrap();
    let c: Value = json(
        app.post(
            &format!("/api/courses/{course}/lessons"),
            Some(&owner.token),
            &json!({"title": "C", "body_markdown": "c", "module": second}),
        )
        .await,
    )
    .await;
    let c = c["lesson"]["id"].as_i64().unwrap();
    let first = outline(&app, &owner, course).await[0].0.clone();
    let form = |token: &str, path: String, direction: &str| {
        web.post(app.url(&path))
            .header("cookie", format!("smartcourse_token={token}"))
            .form(&[("direction", direction.to_owned())])
            .send()
    };
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // The page offers the buttons.
    let html = web
        .get(app.url(&format!("/teach/courses/{course}")))
        .header("cookie", format!("smartcourse_token={}", owner.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("action=\"/teach/lessons/{b}/move\"")));
    assert!(html.contains(&format!("action=\"/teach/modules/{second}/move\"")));

    // B up within its module; then A down past the end of the first module, into the second.
    assert_eq!(
        form(&owner.token, format!("/teach/lessons/{b}/move"), "up")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        outline(&app, &owner, course).await,
        vec![
            (first.clone(), names(&["B", "A"])),
            ("Second".into(), names(&["C"]))
        ]
    );
    assert_eq!(
        form(&owner.token, format!("/teach/lessons/{a}/move"), "down")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        outline(&app, &owner, course).await,
        vec![
            (first.clone(), names(&["B"])),
            ("Second".into(), names(&["A", "C"]))
        ]
    );
    // A back up, to the end of the first module; the second module up, above the first.
    assert_eq!(
        form(&owner.token, format!("/teach/lessons/{a}/move"), "up")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        form(&owner.token, format!("/teach/modules/{second}/move"), "up")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        outline(&app, &owner, course).await,
        vec![
            ("Second".into(), names(&["C"])),
            (first.clone(), names(&["B", "A"]))
        ]
    );
    // The API route the forms use: a lesson to a place in its module.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/lessons/{a}"),
            Some(&owner.token),
            Some(&json!({"position": 0})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(outline(&app, &owner, course).await[1].1, names(&["A", "B"]));
    let after = outline(&app, &owner, course).await;

    // A bad direction, and people who may not change the course; nothing moves.
    let r = form(&owner.token, format!("/teach/lessons/{a}/move"), "sideways")
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    for who in [&other, &student] {
        let r = form(&who.token, format!("/teach/lessons/{c}/move"), "down")
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{}", who.email);
        let r = form(&who.token, format!("/teach/modules/{second}/move"), "down")
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{}", who.email);
        let r = app
            .send(
                Method::PUT,
                &format!("/api/lessons/{c}"),
                Some(&who.token),
                Some(&json!({"position": 5})),
            )
            .await;
        assert_eq!(r.status(), 404, "{}", who.email);
    }
    assert_eq!(outline(&app, &owner, course).await, after);
}

#[tokio::test]
async fn a_new_course_says_what_to_do_next_until_it_has_a_lesson() {
    let app = TestApp::spawn().await;
    let web = browser();
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Empty").await;
    let page = || async {
        web.get(app.url(&format!("/teach/courses/{course}")))
            .header("cookie", format!("smartcourse_token={}", owner.token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let html = page().await;
    assert!(html.contains("id=\"next-steps\""), "{html}");
    assert!(
        html.contains("Add a lesson") && html.contains("Import a package") && html.contains("GIFT")
    );
    app.lesson(&owner, course, "First", "x").await;
    assert!(!page().await.contains("id=\"next-steps\""));
}

#[tokio::test]
async fn a_teacher_deletes_a_course_in_the_browser_after_confirming() {
    use crate::browser::{browser, click, fill, go, start_driver, text};
    use fantoccini::Locator;

    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Old course").await;
    app.lesson(&teacher, course, "Lesson", "text").await;
    let kept = app.course(&teacher, "Kept course").await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &teacher.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/teach/courses/{course}")))
            .await
            .unwrap();
        go(&c, "a[href$='/delete']").await;
        assert!(text(&c, "h1").await.contains("Old course"));
        // The export is offered before anything is deleted.
        let export = c
            .find(Locator::Css("main a[href$='/export']"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(export, format!("/teach/courses/{course}/export"));
        // Unconfirmed, the browser does not send the form.
        click(&c, "form button.danger").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(c.current_url().await.unwrap().path().ends_with("/delete"));
        assert_eq!(
            app.send(
                Method::GET,
                &format!("/api/courses/{course}"),
                Some(&teacher.token),
                None
            )
            .await
            .status(),
            200
        );
        click(&c, "input[name='confirm']").await;
        go(&c, "form button.danger").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/teach");
        assert!(text(&c, "main .notice").await.contains("deleted"));
        let list = text(&c, "main table").await;
        assert!(
            !list.contains("Old course") && list.contains("Kept course"),
            "{list}"
        );
    }
    .await;
    c.close().await.unwrap();
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/courses/{course}"),
            Some(&teacher.token),
            None
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/courses/{kept}"),
            Some(&teacher.token),
            None
        )
        .await
        .status(),
        200
    );
}
