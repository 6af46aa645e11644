//! Search and the tutor over HTTP, with the stand-in models (deterministic): scoping, snippets, SSE shape,
//! abstention, conversations and who may read them, limits.

use serde_json::{Value, json};
use smartcourse::accounts::Role;

use crate::common::{TestApp, assert_error};

/// Reads a whole SSE response into `(event, data)` pairs.
pub async fn sse_events(r: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = r.text().await.unwrap();
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(n) = line
                .strip_prefix("event: ")
                .or_else(|| line.strip_prefix("event:"))
            {
                name = n.trim().to_owned();
            } else if let Some(d) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                data.push_str(d);
            }
        }
        if !name.is_empty() {
            out.push((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
        }
    }
    out
}

struct World {
    app: TestApp,
    owner: crate::common::TestUser,
    course: i64,
    plants: i64,
    rome: i64,
    other_course: i64,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Biology and history").await;
    let plants = app
        .lesson(
            &owner,
            course,
            "Photosynthesis",
            "# Photosynthesis\n\nGreen plants capture sunlight with chlorophyll and turn carbon dioxide and water into glucose and oxygen.",
        )
        .await;
    let rome = app
        .lesson(
            &owner,
            course,
            "Ancient Rome",
            "Rome was founded on the Tiber river. The Roman republic was governed by two consuls elected every year.",
        )
        .await;
    app.publish(&owner, course).await;
    let other_owner = app.user(Role::Instructor).await;
    let other_course = app.course(&other_owner, "Secret course").await;
    app.lesson(
        &other_owner,
        other_course,
        "Hidden chlorophyll notes",
        "Chlorophyll secrets that only enrolled students may read.",
    )
    .await;
    app.publish(&other_owner, other_course).await;
    World {
        app,
        owner,
        course,
        plants,
        rome,
        other_course,
    }
}

#[tokio::test]
async fn search_finds_lessons_the_caller_may_read_with_highlighted_snippets() {
    let w = world().await;
    let student = w.app.user(Role::Student).await;
    // Not enrolled anywhere: nothing to see.
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            "/api/search?q=chlorophyll",
            Some(&student.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let none: Vec<Value> = r.json().await.unwrap();
    assert!(none.is_empty(), "{none:?}");

    w.app.enroll(&student, w.course).await;
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            "/api/search?q=chlorophyll%20sunlight",
            Some(&student.token),
            None,
        )
        .await;
    let hits: Vec<Value> = r.json().await.unwrap();
    assert_eq!(hits[0]["lesson_id"], w.plants, "{hits:?}");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<b>chlorophyll</b>"),
        "{hits:?}"
    );
    // The other course's lesson mentions chlorophyll too, but the student is not enrolled there.
    assert!(hits.iter().all(|h| h["course_id"] == w.course), "{hits:?}");

    // Asking for the other course explicitly is refused.
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!("/api/search?q=chlorophyll&course_id={}", w.other_course),
            Some(&student.token),
            None,
        )
        .await;
    assert_error(r, 403, "forbidden").await;

    // The course filter and the ranking: a Rome question finds Rome first.
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!(
                "/api/search?q=consuls%20of%20the%20republic&course_id={}",
                w.course
            ),
            Some(&student.token),
            None,
        )
        .await;
    let hits: Vec<Value> = r.json().await.unwrap();
    assert_eq!(hits[0]["lesson_id"], w.rome, "{hits:?}");

    // Snippets escape the lesson's HTML-special characters.
    for bad in ["", "%20%20", &"x".repeat(501)] {
        let r = w
            .app
            .send(
                reqwest::Method::GET,
                &format!("/api/search?q={bad}"),
                Some(&student.token),
                None,
            )
            .await;
        assert_error(r, 422, "invalid_input").await;
    }
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            "/api/search?q=x&limit=0",
            Some(&student.token),
            None,
        )
        .await;
    assert_error(r, 422, "invalid_input").await;
    let r = w.app.get("/api/search?q=chlorophyll").await;
    assert_error(r, 401, "unauthorized").await;
    // Query syntax a student might type is not an error.
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            "/api/search?q=%22unclosed%20AND%20(",
            Some(&student.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn editing_and_deleting_lessons_updates_the_index() {
    let w = world().await;
    let find = |q: &'static str| {
        let app = &w.app;
        let token = w.owner.token.clone();
        async move {
            let r = app
                .send(
                    reqwest::Method::GET,
                    &format!("/api/search?q={q}"),
                    Some(&token),
                    None,
                )
                .await;
            r.json::<Vec<Value>>().await.unwrap()
        }
    };
    assert!(find("aqueducts").await.is_empty());
    let r = w
        .app
        .send(
            reqwest::Method::PUT,
            &format!("/api/lessons/{}", w.rome),
            Some(&w.owner.token),
            Some(&json!({"body_markdown": "Roman aqueducts carried water into the city."})),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    w.app.drain_jobs().await;
    let hits = find("aqueducts").await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["lesson_id"], w.rome);
    // The old text is gone from the index.
    assert!(find("consuls").await.is_empty());

    let r = w
        .app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/lessons/{}", w.rome),
            Some(&w.owner.token),
            None,
        )
        .await;
    assert!(r.status().is_success());
    w.app.drain_jobs().await;
    assert!(find("aqueducts").await.is_empty());
}

#[tokio::test]
async fn the_tutor_streams_an_answer_with_citations_and_keeps_the_conversation() {
    let w = world().await;
    let student = w.app.user(Role::Student).await;
    let ask = |token: String, body: Value| {
        let app = &w.app;
        async move { app.post("/api/ai/ask", Some(&token), &body).await }
    };
    // Not enrolled: forbidden; unknown course: 404.
    let r = ask(
        student.token.clone(),
        json!({"course_id": w.course, "question": "What is chlorophyll?"}),
    )
    .await;
    assert_error(r, 403, "forbidden").await;
    let r = ask(
        student.token.clone(),
        json!({"course_id": 999_999, "question": "What?"}),
    )
    .await;
    assert_error(r, 404, "not_found").await;

    w.app.enroll(&student, w.course).await;
    let r = ask(student.token.clone(), json!({"course_id": w.course, "question": "How do green plants use sunlight and chlorophyll?"})).await;
    let events = sse_events(r).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"status"), "{names:?}");
    let tokens: String = events
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, d)| d["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        events.iter().filter(|(n, _)| n == "token").count() > 3,
        "streamed in pieces: {names:?}"
    );
    // The stand-in generator quotes source [1]: the photosynthesis lesson must be it.
    assert!(tokens.contains("chlorophyll"), "{tokens}");
    let citations = &events
        .iter()
        .find(|(n, _)| n == "citations")
        .expect("citations")
        .1;
    assert_eq!(citations[0]["n"], 1);
    assert_eq!(citations[0]["lesson_id"], w.plants, "{citations}");
    assert_eq!(citations[0]["lesson_title"], "Photosynthesis");
    assert!(
        citations[0]["excerpt"]
            .as_str()
            .unwrap()
            .contains("chlorophyll")
    );
    let done = &events.last().unwrap();
    assert_eq!(done.0, "done");
    assert_eq!(done.1["abstained"], false);
    let conversation = done.1["conversation_id"].as_i64().unwrap();

    // A follow-up in the same conversation.
    let r = ask(student.token.clone(), json!({"course_id": w.course, "question": "Who governed the Roman republic?", "conversation_id": conversation})).await;
    let events = sse_events(r).await;
    assert_eq!(events.last().unwrap().1["conversation_id"], conversation);

    // The student reads it back; the course owner too; another student and another instructor do not.
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!("/api/ai/conversations/{conversation}"),
            Some(&student.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let conv: Value = r.json().await.unwrap();
    let messages = conv["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["citations"][0]["lesson_id"], w.plants);
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!("/api/ai/conversations/{conversation}"),
            Some(&w.owner.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!("/api/ai/conversations?course_id={}", w.course),
            Some(&w.owner.token),
            None,
        )
        .await;
    let list: Vec<Value> = r.json().await.unwrap();
    assert_eq!(list.len(), 1);
    let intruder = w.app.user(Role::Student).await;
    w.app.enroll(&intruder, w.course).await;
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!("/api/ai/conversations/{conversation}"),
            Some(&intruder.token),
            None,
        )
        .await;
    assert_error(r, 404, "not_found").await;
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!("/api/ai/conversations?course_id={}", w.course),
            Some(&intruder.token),
            None,
        )
        .await;
    let list: Vec<Value> = r.json().await.unwrap();
    assert!(list.is_empty(), "{list:?}");
    let other_teacher = w.app.user(Role::Instructor).await;
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            &format!("/api/ai/conversations/{conversation}"),
            Some(&other_teacher.token),
            None,
        )
        .await;
    assert_error(r, 404, "not_found").await;
    // Nor may another student continue someone else's conversation.
    let r = ask(
        intruder.token.clone(),
        json!({"course_id": w.course, "question": "More?", "conversation_id": conversation}),
    )
    .await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn the_tutor_says_when_the_course_does_not_cover_a_question() {
    let w = world().await;
    let r = w
        .app
        .post(
            "/api/ai/ask",
            Some(&w.owner.token),
            &json!({"course_id": w.course, "question": "zebra quantum saxophone"}),
        )
        .await;
    let events = sse_events(r).await;
    let tokens: String = events
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, d)| d["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tokens, smartcourse::tutor::NOT_COVERED);
    let citations = &events.iter().find(|(n, _)| n == "citations").unwrap().1;
    assert_eq!(citations, &json!([]));
    assert_eq!(events.last().unwrap().1["abstained"], true);
}

#[tokio::test]
async fn bad_questions_get_clear_errors_and_the_mode_is_the_owners_to_set() {
    let w = world().await;
    for body in [
        json!({"course_id": w.course, "question": ""}),
        json!({"course_id": w.course, "question": "x".repeat(1001)}),
    ] {
        let r = w.app.post("/api/ai/ask", Some(&w.owner.token), &body).await;
        assert_error(r, 422, "invalid_input").await;
    }
    let r = w
        .app
        .post(
            "/api/ai/ask",
            Some(&w.owner.token),
            &json!({"course_id": w.course}),
        )
        .await;
    assert!(matches!(r.status().as_u16(), 400 | 422), "{}", r.status());
    let r = w
        .app
        .post(
            "/api/ai/ask",
            None,
            &json!({"course_id": w.course, "question": "hi"}),
        )
        .await;
    assert_error(r, 401, "unauthorized").await;

    let path = format!("/api/courses/{}/tutor", w.course);
    let student = w.app.user(Role::Student).await;
    w.app.enroll(&student, w.course).await;
    let r = w
        .app
        .send(
            reqwest::Method::PUT,
            &path,
            Some(&student.token),
            Some(&json!({"mode": "hint"})),
        )
        .await;
    assert_error(r, 403, "forbidden").await;
    let r = w
        .app
        .send(
            reqwest::Method::PUT,
            &path,
            Some(&w.owner.token),
            Some(&json!({"mode": "cheat"})),
        )
        .await;
    assert!(matches!(r.status().as_u16(), 400 | 422));
    let r = w
        .app
        .send(
            reqwest::Method::PUT,
            &path,
            Some(&w.owner.token),
            Some(&json!({"mode": "hint"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = w
        .app
        .send(reqwest::Method::GET, &path, Some(&student.token), None)
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["mode"], "hint");
}

#[tokio::test]
async fn a_full_queue_answers_429_and_frees_its_places() {
    let w = TestApp::spawn_with(|c| c.tutor.max_waiting = 0).await;
    let owner = w.user(Role::Instructor).await;
    let course = w.course(&owner, "Queue").await;
    w.lesson(
        &owner,
        course,
        "Long",
        &"Photosynthesis needs light. ".repeat(200),
    )
    .await;
    w.publish(&owner, course).await;
    let body = json!({"course_id": course, "question": "photosynthesis light"});
    // The first question holds the only place while its (slow, streamed) answer is open.
    let first = w.post("/api/ai/ask", Some(&owner.token), &body).await;
    assert_eq!(first.status(), 200);
    let r = w.post("/api/ai/ask", Some(&owner.token), &body).await;
    assert_error(r, 429, "rate_limited").await;
    let _ = sse_events(first).await;
    // Finished: the place is free again.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let again = w.post("/api/ai/ask", Some(&owner.token), &body).await;
    assert_eq!(again.status(), 200);
}

/// One user's questions take at most `tutor.max_per_user` places in the queue: a second question from the
/// same pupil while the first is still open gets 429, while another pupil is served.
#[tokio::test]
async fn one_user_cannot_take_every_place_in_the_queue() {
    let w = TestApp::spawn_with(|c| {
        c.tutor.max_waiting = 8;
        c.tutor.max_per_user = 1;
    })
    .await;
    let owner = w.user(Role::Instructor).await;
    let course = w.course(&owner, "Queue").await;
    w.lesson(
        &owner,
        course,
        "Long",
        &"Photosynthesis needs light. ".repeat(200),
    )
    .await;
    w.publish(&owner, course).await;
    let admin = w.user(Role::Admin).await;
    let body = json!({"course_id": course, "question": "photosynthesis light"});
    let first = w.post("/api/ai/ask", Some(&owner.token), &body).await;
    assert_eq!(first.status(), 200);
    let r = w.post("/api/ai/ask", Some(&owner.token), &body).await;
    assert_error(r, 429, "rate_limited").await;
    // Someone else still gets a place (an admin may ask about any course).
    let theirs = w.post("/api/ai/ask", Some(&admin.token), &body).await;
    assert_eq!(theirs.status(), 200);
    let _ = (sse_events(first).await, sse_events(theirs).await);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let again = w.post("/api/ai/ask", Some(&owner.token), &body).await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn the_reports_count_tutor_questions_and_the_most_asked_topics() {
    let w = world().await;
    let student = w.app.user(Role::Student).await;
    w.app.enroll(&student, w.course).await;
    for q in [
        "How do green plants use sunlight and chlorophyll?",
        "Green plants, chlorophyll and sunlight: what happens?",
        "Who governed the Roman republic, consuls?",
        "zebra quantum saxophone",
    ] {
        let r = w
            .app
            .post(
                "/api/ai/ask",
                Some(&student.token),
                &json!({"course_id": w.course, "question": q}),
            )
            .await;
        sse_events(r).await;
    }
    let r = w
        .app
        .send(
            reqwest::Method::GET,
            "/api/reports/enrollments",
            Some(&w.owner.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let report = body["courses"]
        .as_array()
        .or_else(|| body.as_array())
        .unwrap()
        .iter()
        .find(|c| c["course_id"] == w.course)
        .unwrap_or_else(|| panic!("{body}"))
        .clone();
    assert_eq!(report["tutor_questions"], 4, "{report}");
    assert_eq!(report["tutor_not_covered"], 1, "{report}");
    assert_eq!(report["tutor_topics"][0]["lesson_id"], w.plants, "{report}");
    assert_eq!(report["tutor_topics"][0]["completed"], 2, "{report}");
    assert_eq!(report["tutor_topics"][1]["lesson_id"], w.rome, "{report}");
    let csv = w
        .app
        .send(
            reqwest::Method::GET,
            "/api/reports/enrollments?format=csv",
            Some(&w.owner.token),
            None,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains(&format!(
            "{},Biology and history,tutor_questions,,4",
            w.course
        )),
        "{csv}"
    );
    assert!(
        csv.contains("tutor_questions_on_lesson,Photosynthesis,2"),
        "{csv}"
    );
}

#[tokio::test]
async fn without_javascript_the_tutor_form_posts_and_the_page_shows_the_answer() {
    let w = world().await;
    let student = w.app.user(Role::Student).await;
    w.app.enroll(&student, w.course).await;
    let cookie = |t: &str| format!("smartcourse_token={t}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(w.app.url(&format!("/courses/{}/tutor", w.course)))
        .header("cookie", cookie(&student.token))
        .form(&[
            (
                "question",
                "How do green plants use sunlight and chlorophyll?",
            ),
            ("conversation_id", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&format!("/courses/{}/tutor?conversation=", w.course)),
        "{to}"
    );
    let page = client
        .get(w.app.url(&to))
        .header("cookie", cookie(&student.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("How do green plants use sunlight")
            && page.contains(&format!("/lessons/{}#:~:text=", w.plants)),
        "{page}"
    );

    // An empty question is answered on the page with the reason, not an error page.
    let r = client
        .post(w.app.url(&format!("/courses/{}/tutor", w.course)))
        .header("cookie", cookie(&student.token))
        .form(&[("question", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("a question needs"));

    // Only the owner switches the mode from the page.
    let r = client
        .post(
            w.app
                .url(&format!("/teach/courses/{}/tutor-mode", w.course)),
        )
        .header("cookie", cookie(&student.token))
        .form(&[("mode", "hint")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(
            w.app
                .url(&format!("/teach/courses/{}/tutor-mode", w.course)),
        )
        .header("cookie", cookie(&w.owner.token))
        .form(&[("mode", "hint")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = client
        .get(w.app.url(&format!("/courses/{}/tutor", w.course)))
        .header("cookie", cookie(&student.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("gives <strong>hints</strong>"), "{page}");
}

#[tokio::test]
async fn words_in_attached_pdfs_and_subtitles_are_found_with_their_page_or_time() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let course = app.course(&owner, "Open edX").await;
    let lesson = app
        .lesson(
            &owner,
            course,
            "The talk",
            "Watch the talk, read the transcript.",
        )
        .await;
    app.publish_directly(course).await;
    app.enroll(&student, course).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/content/");
    let mut ids = Vec::new();
    for name in [
        "openedx-demo-Reach_Transcript.pdf",
        "openedx-demo-video-en.srt",
    ] {
        let bytes = std::fs::read(format!("{dir}{name}")).unwrap();
        let r = app.upload(&owner, lesson, name, bytes).await;
        assert_eq!(r.status(), 201);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let jobs = app.drain_jobs().await;
    assert!(
        jobs.iter().all(|j| j.state != "failed" && j.attempts <= 1),
        "{jobs:?}"
    );
    let search = |q: &str| {
        let url = format!("/api/search?q={}", q.replace(' ', "%20"));
        let token = student.token.clone();
        let app = &app;
        async move {
            let r = app
                .send(reqwest::Method::GET, &url, Some(&token), None)
                .await;
            assert_eq!(r.status(), 200);
            r.json::<Vec<Value>>().await.unwrap()
        }
    };
    // Words only in the PDF (the speaker's name as written; the subtitles misheard it) find the lesson,
    // saying which page.
    let hits = search("Zarecor").await;
    assert_eq!(
        hits.first().map(|h| h["lesson_id"].as_i64()),
        Some(Some(lesson)),
        "{hits:?}"
    );
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("openedx-demo-Reach_Transcript.pdf, page 1"),
        "{hits:?}"
    );
    // Words said in the video, with the time.
    let hits = search("Center for reimagining Learning").await;
    assert!(
        hits.iter().any(|h| h["snippet"]
            .as_str()
            .unwrap()
            .contains("openedx-demo-video-en.srt at 0:")),
        "{hits:?}"
    );
    // A file taken away takes its words with it.
    for id in ids {
        let r = app
            .send(
                reqwest::Method::DELETE,
                &format!("/api/attachments/{id}"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status(), 204);
    }
    app.drain_jobs().await;
    assert!(search("Zarecor").await.is_empty());
    assert!(search("reimagining").await.is_empty());
}

/// The lessons a search finds, best first.
async fn lesson_hits(app: &TestApp, token: &str, q: &str) -> Vec<i64> {
    let hits: Vec<Value> = app
        .send(
            reqwest::Method::GET,
            &format!("/api/search?q={q}"),
            Some(token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    hits.iter()
        .map(|h| h["lesson_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_hnsw_index_is_saved_loaded_after_a_restart_and_rebuilt_when_chunks_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Every search in scope goes through the HNSW index.
    let hnsw = |c: &mut smartcourse::config::Config| c.search.exact_below = 0;
    let app = TestApp::spawn_in(&data, hnsw).await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Botany").await;
    app.lesson(
        &owner,
        course,
        "Photosynthesis",
        "Green plants capture sunlight with chlorophyll and make glucose.",
    )
    .await;
    let roots = app
        .lesson(
            &owner,
            course,
            "Roots",
            "Roots take water and minerals from the soil.",
        )
        .await;
    app.publish(&owner, course).await;
    let before = lesson_hits(&app, &owner.token, "chlorophyll").await;
    assert!(!before.is_empty());
    let (index, stamp) = (
        data.join("index/vectors.usearch"),
        data.join("index/vectors.stamp"),
    );
    let saved = std::fs::metadata(&index)
        .expect("the HNSW index is saved")
        .modified()
        .unwrap();
    let stamped = std::fs::read_to_string(&stamp).unwrap();
    app.stop().await;

    // After a restart the saved index is loaded, not built and saved again, and answers the same.
    let app = TestApp::spawn_in(&data, hnsw).await;
    assert_eq!(lesson_hits(&app, &owner.token, "chlorophyll").await, before);
    assert_eq!(
        std::fs::metadata(&index).unwrap().modified().unwrap(),
        saved
    );
    assert_eq!(std::fs::read_to_string(&stamp).unwrap(), stamped);

    // A deleted lesson takes its chunks with it (a cascade, not the indexer): the saved index is no longer
    // theirs, and the next search builds and saves a new one without them.
    let r = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/lessons/{roots}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert!(r.status().is_success());
    app.drain_jobs().await;
    assert!(lesson_hits(&app, &owner.token, "minerals").await.is_empty());
    assert_eq!(lesson_hits(&app, &owner.token, "chlorophyll").await, before);
    assert_ne!(std::fs::read_to_string(&stamp).unwrap(), stamped);

    // A stamp that does not match (an index from another state of the chunks) is not trusted.
    std::fs::write(&stamp, "v1 0 0 0 0 0").unwrap();
    app.stop().await;
    let app = TestApp::spawn_in(&data, hnsw).await;
    assert_eq!(lesson_hits(&app, &owner.token, "chlorophyll").await, before);
    assert_ne!(std::fs::read_to_string(&stamp).unwrap(), "v1 0 0 0 0 0");
}
