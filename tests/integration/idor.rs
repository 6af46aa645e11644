//! Every route with an object id in the OpenAPI document, tried by people who must not reach the object:
//! nothing answers 2xx, reads answer 404 (403 where the route is for admins only), and nothing changes.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;

use crate::common::TestApp;

#[tokio::test]
async fn no_route_with_an_id_lets_an_outsider_read_or_change_someone_elses_object() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let classmate = app.user(Role::Student).await;
    let outsider_student = app.user(Role::Student).await;
    let outsider_teacher = app.user(Role::Instructor).await;

    // A draft course of `owner` with a module, a lesson and a file; a published one with `classmate` enrolled
    // (so there is a notification and a workflow).
    let draft = app.course(&owner, "Private draft").await;
    let lesson = app
        .lesson(&owner, draft, "Secret lesson", "secret text")
        .await;
    let module: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{draft}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let module = module["modules"][0]["id"].as_i64().unwrap();
    let attachment: Value = app
        .upload(&owner, lesson, "notes.txt", b"secret notes\n".to_vec())
        .await
        .json()
        .await
        .unwrap();
    let attachment = attachment["id"].as_i64().unwrap();
    let open = app.course(&owner, "Open").await;
    let open_lesson = app.lesson(&owner, open, "Open lesson", "x").await;
    // The open lesson is a quiz, so the classmate has an attempt of their own.
    app.gift_quiz(
        open_lesson,
        "Open lesson",
        "::Sum:: What is 2 + 2? {=four ~five}",
        |_| {},
    )
    .await;
    let started: Value = app
        .send(
            Method::POST,
            &format!("/api/courses/{open}/publish"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let workflow = started["workflow_id"].as_i64().unwrap();
    app.drain_jobs().await;
    app.enroll(&classmate, open).await;
    app.drain_jobs().await;
    let inbox: Value = app
        .send(
            Method::GET,
            "/api/notifications",
            Some(&classmate.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let notification = inbox["items"][0]["id"].as_i64().unwrap();
    let job = app.drain_jobs().await[0].id;
    let attempt: Value = app
        .post(
            &format!("/api/lessons/{open_lesson}/quiz/attempts"),
            Some(&classmate.token),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let attempt = attempt["attempt_id"].as_i64().unwrap();
    // The classmate's conversation with the tutor.
    let asked = app
        .post(
            "/api/ai/ask",
            Some(&classmate.token),
            &json!({"course_id": open, "question": "What is in the open lesson?"}),
        )
        .await;
    let events = crate::search::sse_events(asked).await;
    let conversation = events.last().unwrap().1["conversation_id"]
        .as_i64()
        .unwrap();

    let id_for = |path: &str| -> i64 {
        match path.split('/').nth(2).unwrap() {
            "courses" => draft,
            "modules" => module,
            "lessons" => lesson,
            "attachments" => attachment,
            "workflows" => workflow,
            "notifications" => notification,
            "jobs" => job,
            "users" => classmate.id,
            "ai" => conversation,
            "quiz-attempts" => attempt,
            other => panic!("no object for /api/{other}: add one to this test"),
        }
    };
    let admin_only =
        |path: &str| path.starts_with("/api/jobs/") || path.starts_with("/api/users/{id}");
    let body = json!({"title": "Taken over", "body_markdown": "pwned", "role": "admin", "disabled": true, "modules": []});

    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{id}") {
            continue;
        }
        let concrete = path.replace("{id}", &id_for(path).to_string());
        for method in ["get", "put", "post", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            for who in [&outsider_student, &outsider_teacher] {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let has_body = matches!(method, "put" | "post" | "patch");
                let r = app
                    .send(
                        m.clone(),
                        &concrete,
                        Some(&who.token),
                        has_body.then_some(&body),
                    )
                    .await;
                let status = r.status().as_u16();
                tried += 1;
                assert!(
                    !(200..300).contains(&status),
                    "{method} {concrete} answered {status} to an outsider"
                );
                assert!(status < 500, "{method} {concrete} answered {status}");
                if !has_body && status != 422 {
                    let expected = if admin_only(path) { 403 } else { 404 };
                    assert_eq!(status, expected, "{method} {concrete}");
                }
            }
        }
    }
    assert!(
        tried >= 30,
        "only {tried} requests: did the document lose its routes?"
    );

    // Nothing changed.
    let c: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{draft}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["title"], "Private draft");
    let l: Value = app
        .send(
            Method::GET,
            &format!("/api/lessons/{lesson}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["body_markdown"], "secret text");
    assert_eq!(l["attachments"].as_array().unwrap().len(), 1);
    let me: Value = app
        .send(Method::GET, "/api/users/me", Some(&classmate.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["role"].as_str(), me["disabled"].as_bool()),
        (Some("student"), Some(false))
    );
    let inbox: Value = app
        .send(
            Method::GET,
            "/api/notifications",
            Some(&classmate.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["unread"], 1, "nobody else marked it read");
}
