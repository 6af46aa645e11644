//! Courses, lessons and attachments through the real server: who sees and changes what, safe rendering,
//! real files in and out byte for byte, limits, and no content left behind.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;

use crate::common::{TestApp, assert_error};

fn sample(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/content/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("sample {name}: {e}"))
}

#[tokio::test]
async fn only_instructors_and_admins_create_courses() {
    let app = TestApp::spawn().await;
    let student = app.user(Role::Student).await;
    let body = json!({"title": "Algebra"});
    assert_error(
        app.post("/api/courses", None, &body).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        app.post("/api/courses", Some(&student.token), &body).await,
        403,
        "forbidden",
    )
    .await;
    for role in [Role::Instructor, Role::Admin] {
        let who = app.user(role).await;
        let r = app
            .post(
                "/api/courses",
                Some(&who.token),
                &json!({"title": " Algebra ", "capacity": 10}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let c: Value = r.json().await.unwrap();
        assert_eq!(c["course"]["title"], "Algebra");
        assert_eq!(c["course"]["status"], "draft");
        assert_eq!(c["course"]["owner_id"], who.id);
        assert_eq!(c["course"]["seats_left"], 10);
    }
    let teacher = app.user(Role::Instructor).await;
    for (bad, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "ok", "capacity": -1}), "capacity"),
        (json!({"title": "ok", "colour": "red"}), "colour"),
    ] {
        let r = app.post("/api/courses", Some(&teacher.token), &bad).await;
        assert_eq!(r.status(), 422, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["field"], field, "{e}");
    }
}

#[tokio::test]
async fn drafts_are_invisible_and_courses_change_only_by_owner_or_admin() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let other = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let admin = app.user(Role::Admin).await;
    let course = app.course(&owner, "Draft course").await;
    let lesson = app.lesson(&owner, course, "One", "Secret draft text").await;
    let path = format!("/api/courses/{course}");

    // A draft: 404 for everyone but owner and admin, and absent from their catalog.
    for who in [Some(&student), Some(&other), None] {
        let token = who.map(|u| u.token.as_str());
        assert_error(
            app.send(Method::GET, &path, token, None).await,
            404,
            "not_found",
        )
        .await;
        let page: Value = app
            .send(Method::GET, "/api/courses", token, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], 0, "{page}");
    }
    for who in [&student, &other] {
        let r = app
            .send(
                Method::GET,
                &format!("/api/lessons/{lesson}"),
                Some(&who.token),
                None,
            )
            .await;
        assert_error(r, 404, "not_found").await;
        let r = app
            .send(
                Method::PUT,
                &path,
                Some(&who.token),
                Some(&json!({"title": "Mine now"})),
            )
            .await;
        assert_error(r, 404, "not_found").await;
    }
    for who in [&owner, &admin] {
        assert_eq!(
            app.send(Method::GET, &path, Some(&who.token), None)
                .await
                .status(),
            200
        );
        let page: Value = app
            .send(Method::GET, "/api/courses", Some(&who.token), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], 1);
    }

    // Published: everyone sees it, still only owner and admin change it (403 now, since it is visible).
    app.publish_directly(course).await;
    let anon: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(anon["modules"][0]["lessons"][0]["title"], "One");
    for who in [&student, &other] {
        for (method, target, body) in [
            (
                Method::PUT,
                path.clone(),
                Some(json!({"title": "Mine now"})),
            ),
            (Method::DELETE, path.clone(), None),
            (
                Method::POST,
                format!("{path}/lessons"),
                Some(json!({"title": "Extra"})),
            ),
            (
                Method::PUT,
                format!("/api/lessons/{lesson}"),
                Some(json!({"title": "Changed"})),
            ),
            (Method::DELETE, format!("/api/lessons/{lesson}"), None),
            (Method::POST, format!("{path}/archive"), None),
        ] {
            let r = app
                .send(method.clone(), &target, Some(&who.token), body.as_ref())
                .await;
            assert_eq!(r.status(), 403, "{method} {target}");
        }
    }
    // A student who is not enrolled sees the outline but not the lesson.
    assert_error(
        app.send(
            Method::GET,
            &format!("/api/lessons/{lesson}"),
            Some(&student.token),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(after["title"], "Draft course");
    assert_eq!(after["lesson_count"], 1);

    // The admin may change anyone's course.
    let r = app
        .send(
            Method::PUT,
            &path,
            Some(&admin.token),
            Some(&json!({"title": "Renamed", "capacity": null})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["title"], "Renamed");
    assert!(c["capacity"].is_null());
}

#[tokio::test]
async fn lessons_render_without_anything_that_could_run() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let course = app.course(&owner, "Safe").await;
    let body = "# Hello\n\n<script>steal()</script>\n\n[x](javascript:steal()) <img src=x onerror=steal()> <a href=\"https://example.org\" onmouseover=\"steal()\">ok</a>\n\n$x^2$";
    let lesson = app.lesson(&owner, course, "Hostile", body).await;
    app.publish_directly(course).await;
    app.enroll(&student, course).await;

    let r = app
        .send(
            Method::GET,
            &format!("/api/lessons/{lesson}"),
            Some(&student.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let l: Value = r.json().await.unwrap();
    let html = l["body_html"].as_str().unwrap().to_lowercase();
    assert!(html.contains("<h1>hello</h1>"), "{html}");
    for bad in [
        "<script",
        "steal()",
        "javascript:",
        "onerror",
        "onmouseover",
    ] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    // The formula is MathML, typeset by the server.
    assert!(html.contains("<math") && html.contains("<msup>"), "{html}");
    assert!(
        l.get("body_markdown").is_none(),
        "students do not get the source"
    );

    let own: Value = app
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
    assert_eq!(own["body_markdown"], body);
}

#[tokio::test]
async fn real_files_upload_and_download_byte_identical_with_ranges() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let outsider = app.user(Role::Student).await;
    let course = app.course(&owner, "Files").await;
    let lesson = app
        .lesson(&owner, course, "With files", "See the attachments.")
        .await;
    app.publish_directly(course).await;
    app.enroll(&student, course).await;

    for (name, expected_type) in [
        ("openedx-demo-Reach_Transcript.pdf", "application/pdf"),
        ("cc-viewer-sample-document.pdf", "application/pdf"),
        (
            "openedx-demo-video-en.srt",
            "application/x-subrip; charset=utf-8",
        ),
    ] {
        let bytes = sample(name);
        let r = app.upload(&owner, lesson, name, bytes.clone()).await;
        assert_eq!(
            r.status(),
            201,
            "{name}: {}",
            r.text().await.unwrap_or_default()
        );
        let a: Value = r.json().await.unwrap();
        assert_eq!(a["content_type"], expected_type);
        assert_eq!(a["size"], bytes.len());
        assert_eq!(a["filename"], name);
        let url = a["url"].as_str().unwrap().to_owned();

        let r = app
            .send(Method::GET, &url, Some(&student.token), None)
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], expected_type);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(name)
        );
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            bytes.as_slice(),
            "{name} differs"
        );

        let r = app
            .client
            .get(app.url(&url))
            .bearer_auth(&student.token)
            .header("range", "bytes=100-1099")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes 100-1099/{}", bytes.len())
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[100..1100]);
        let r = app
            .client
            .get(app.url(&url))
            .bearer_auth(&student.token)
            .header("range", "bytes=-10")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            &bytes[bytes.len() - 10..]
        );
        let r = app
            .client
            .get(app.url(&url))
            .bearer_auth(&student.token)
            .header("range", format!("bytes={}-", bytes.len()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 416);
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes */{}", bytes.len())
        );
        let r = app
            .client
            .get(app.url(&url))
            .bearer_auth(&student.token)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);

        // Not enrolled: no download.
        assert_error(
            app.send(Method::GET, &url, Some(&outsider.token), None)
                .await,
            403,
            "forbidden",
        )
        .await;
    }
    // Students do not upload.
    let r = app
        .upload(&student, lesson, "notes.txt", b"hello".to_vec())
        .await;
    assert_error(r, 403, "forbidden").await;
    let l: Value = app
        .send(
            Method::GET,
            &format!("/api/lessons/{lesson}"),
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["attachments"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_file_over_20_mib_crosses_many_chunks_intact() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Big").await;
    let lesson = app.lesson(&owner, course, "Big file", "").await;
    // A PDF header, then 3.5 chunks of patterned bytes.
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend((0..(3 * 1024 * 1024 + 512 * 1024)).map(|i: u32| (i % 251) as u8));
    let r = app.upload(&owner, lesson, "big.pdf", bytes.clone()).await;
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    let url = a["url"].as_str().unwrap();
    let got = app
        .send(Method::GET, url, Some(&owner.token), None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len(), bytes.len());
    assert!(got.as_ref() == bytes.as_slice());
    let edge = 1024 * 1024;
    let r = app
        .client
        .get(app.url(url))
        .bearer_auth(&owner.token)
        .header("range", format!("bytes={}-{}", edge - 5, edge + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &bytes[edge - 5..=edge + 5]
    );
}

#[tokio::test]
async fn oversized_and_disguised_uploads_are_refused_and_leave_nothing_behind() {
    let app = TestApp::spawn_with(|c| {
        c.uploads.max_file_bytes = 1024 * 1024;
        c.uploads.max_course_bytes = 1536 * 1024;
    })
    .await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Limits").await;
    let lesson = app.lesson(&owner, course, "L", "").await;
    let before = app.stored_hashes().await;

    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(2 * 1024 * 1024, b'x');
    assert_error(
        app.upload(&owner, lesson, "big.pdf", big).await,
        413,
        "too_large",
    )
    .await;

    // An executable and a zip named like documents are judged by their bytes.
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0".to_vec();
    assert_error(
        app.upload(&owner, lesson, "notes.pdf", elf).await,
        415,
        "unsupported_media_type",
    )
    .await;
    let zip = b"PK\x03\x04\x14\0\0\0\x08\0".to_vec();
    assert_error(
        app.upload(&owner, lesson, "slides.txt", zip).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        app.upload(&owner, lesson, "empty.txt", Vec::new()).await,
        422,
        "invalid_input",
    )
    .await;

    // Within the file limit but over the course's total.
    let mut part = b"%PDF-1.4\n".to_vec();
    part.resize(1000 * 1024, b'a');
    assert_eq!(
        app.upload(&owner, lesson, "a.pdf", part.clone())
            .await
            .status(),
        201
    );
    part.resize(1000 * 1024, b'b');
    part[500] = b'c';
    assert_error(
        app.upload(&owner, lesson, "b.pdf", part).await,
        413,
        "too_large",
    )
    .await;

    // Only the one accepted file is stored; the staging area is empty.
    let after = app.stored_hashes().await;
    assert_eq!(after.len(), before.len() + 1, "{before:?} -> {after:?}");
    let staging = app.app.data.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging not empty: {left:?}");

    // A text file with a .pdf name is stored as what it is.
    let r = app
        .upload(&owner, lesson, "readme.pdf", b"Plain words.\n".to_vec())
        .await;
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["content_type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn deleting_lessons_and_courses_removes_their_content() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Temporary").await;
    let keep = app.lesson(&owner, course, "Keep", "kept body").await;
    let gone = app.lesson(&owner, course, "Gone", "body to delete").await;
    let r = app
        .upload(&owner, gone, "t.srt", sample("openedx-demo-video-en.srt"))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.stored_hashes().await.len(), 3);

    let r = app
        .send(
            Method::DELETE,
            &format!("/api/lessons/{gone}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.stored_hashes().await.len(),
        1,
        "lesson body and attachment removed"
    );
    assert_error(
        app.send(
            Method::GET,
            &format!("/api/lessons/{gone}"),
            Some(&owner.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/lessons/{keep}"),
            Some(&owner.token),
            None
        )
        .await
        .status(),
        200
    );

    // Editing a body replaces the stored one.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/lessons/{keep}"),
            Some(&owner.token),
            Some(&json!({"body_markdown": "new body"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.stored_hashes().await.len(), 1);

    let r = app
        .send(
            Method::DELETE,
            &format!("/api/courses/{course}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert!(app.stored_hashes().await.is_empty());
    assert_error(
        app.send(
            Method::GET,
            &format!("/api/courses/{course}"),
            Some(&owner.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn modules_and_lessons_keep_and_change_their_order() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Ordered").await;
    let m1: Value = app
        .post(
            &format!("/api/courses/{course}/modules"),
            Some(&owner.token),
            &json!({"title": "Week 1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let m2: Value = app
        .post(
            &format!("/api/courses/{course}/modules"),
            Some(&owner.token),
            &json!({"title": "Week 2"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let (m1, m2) = (m1["id"].as_i64().unwrap(), m2["id"].as_i64().unwrap());
    let mut ids = Vec::new();
    for (title, module) in [("a", m1), ("b", m1), ("c", m2)] {
        let r = app
            .post(
                &format!("/api/courses/{course}/lessons"),
                Some(&owner.token),
                &json!({"title": title, "module": module}),
            )
            .await;
        let l: Value = r.json().await.unwrap();
        ids.push(l["lesson"]["id"].as_i64().unwrap());
    }
    let titles = |c: &Value| -> Vec<Vec<String>> {
        c["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["lessons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["title"].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    };
    let c: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{course}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&c), [vec!["a", "b"], vec!["c"]]);

    // Week 2 first; c moves into week 1 before a; b moves to week 2.
    let structure = json!({"modules": [{"id": m2, "lessons": [ids[1]]}, {"id": m1, "lessons": [ids[2], ids[0]]}]});
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{course}/structure"),
            Some(&owner.token),
            Some(&structure),
        )
        .await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["modules"][0]["title"], "Week 2");
    assert_eq!(titles(&c), [vec!["b"], vec!["c", "a"]]);

    // A structure that forgets a lesson or invents one is refused and changes nothing.
    for bad in [
        json!({"modules": [{"id": m2, "lessons": [ids[1]]}, {"id": m1, "lessons": [ids[2]]}]}),
        json!({"modules": [{"id": m2, "lessons": [ids[1], 99999]}, {"id": m1, "lessons": [ids[2], ids[0]]}]}),
        json!({"modules": [{"id": m2, "lessons": [ids[1], ids[1]]}, {"id": m1, "lessons": [ids[2], ids[0]]}]}),
    ] {
        let r = app
            .send(
                Method::PUT,
                &format!("/api/courses/{course}/structure"),
                Some(&owner.token),
                Some(&bad),
            )
            .await;
        assert_error(r, 422, "invalid_input").await;
    }
    let c: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{course}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&c), [vec!["b"], vec!["c", "a"]]);

    // Moving one lesson by position.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/lessons/{}", ids[0]),
            Some(&owner.token),
            Some(&json!({"position": 0})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let c: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{course}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&c), [vec!["b"], vec!["a", "c"]]);
    // A lesson cannot be moved into another course's module.
    let other = app.course(&owner, "Other").await;
    let foreign: Value = app
        .post(
            &format!("/api/courses/{other}/modules"),
            Some(&owner.token),
            &json!({"title": "X"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .send(
            Method::PUT,
            &format!("/api/lessons/{}", ids[0]),
            Some(&owner.token),
            Some(&json!({"module": foreign["id"]})),
        )
        .await;
    assert_error(r, 422, "invalid_input").await;
}

#[tokio::test]
async fn catalog_searches_pages_orders_and_counts() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let mut ids = Vec::new();
    for title in [
        "Algebra basics",
        "Geometry",
        "Linear algebra",
        "History 100%",
    ] {
        let id = app.course(&owner, title).await;
        app.publish_directly(id).await;
        ids.push(id);
    }
    app.lesson(&owner, ids[0], "L1", "x").await;
    app.lesson(&owner, ids[0], "L2", "y").await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{}", ids[0]),
            Some(&owner.token),
            Some(&json!({"capacity": 5})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let student = app.user(Role::Student).await;
    app.enroll(&student, ids[0]).await;

    let page: Value = app
        .get("/api/courses?q=ALGEBRA&order=title")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2);
    let titles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Algebra basics", "Linear algebra"]);
    let first = &page["items"][0];
    assert_eq!(first["lesson_count"], 2);
    assert_eq!(first["enrolled_count"], 1);
    assert_eq!(first["seats_left"], 4);
    assert_eq!(
        first["owner_name"],
        format!(
            "Test instructor {}",
            owner
                .email
                .trim_start_matches("instructor")
                .trim_end_matches("@school.test")
        )
    );

    // LIKE wildcards in the query are literal.
    let page: Value = app.get("/api/courses?q=100%25").await.json().await.unwrap();
    assert_eq!(page["total"], 1);
    let page: Value = app.get("/api/courses?q=%25").await.json().await.unwrap();
    assert_eq!(page["total"], 1);

    let page: Value = app
        .get("/api/courses?limit=2&offset=1&order=oldest")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 4);
    let got: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [ids[1], ids[2]]);
    let popular: Value = app
        .get("/api/courses?order=popular&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(popular["items"][0]["id"], ids[0]);
    assert_error(
        app.get("/api/courses?order=random").await,
        422,
        "invalid_input",
    )
    .await;
}

#[tokio::test]
async fn doctor_finds_orphaned_and_missing_content_and_repairs_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = TestApp::spawn_in(&data, |c| {
        c.rate_limit = smartcourse::config::RateLimitConfig {
            login_per_client: 0,
            login_per_account: 0,
            register_per_client: 0,
            api_per_client: 0,
        }
    })
    .await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Crashy").await;
    let lesson = app
        .lesson(&owner, course, "L", "a body that will be orphaned")
        .await;
    // What a crash between the two stores leaves: the row gone, the body still stored.
    app.app
        .db
        .write(move |tx| {
            tx.execute("DELETE FROM lessons WHERE id = ?1", [lesson])?;
            Ok(())
        })
        .await
        .unwrap();
    app.stop().await;

    let doctor = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_smartcourse"))
            .arg("doctor")
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap()
    };
    let o = doctor(&[]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}");
    assert!(out.contains("1 orphaned blob"), "{out}");
    let o = doctor(&["--repair"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("removed 1 orphaned"));
    let o = doctor(&[]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("orphaned"));

    // A row whose content is gone is a failure.
    let conn = rusqlite::Connection::open(data.join("smartcourse.db")).unwrap();
    conn.execute(
        "INSERT INTO modules (course_id, title, position) VALUES (?1, 'M', 0)",
        [course],
    )
    .unwrap();
    let module = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO lessons (course_id, module_id, title, position, body_sha256, body_bytes, created_at, updated_at)
         VALUES (?1, ?2, 'Lost', 0, 'deadbeef', 10, 'x', 'x')",
        [course, module],
    )
    .unwrap();
    drop(conn);
    let o = doctor(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("missing from the content store"));
}

#[tokio::test]
async fn a_slow_upload_is_not_cut_off_by_the_request_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|c| c.server.request_timeout_secs = 1).await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Slow Wi-Fi").await;
    let lesson = app.lesson(&owner, course, "L", "").await;
    let body = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\nwritten slowly\r\n--XYZ--\r\n";
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/lessons/{lesson}/attachments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        owner.token,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    s.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    s.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

#[tokio::test]
async fn videos_play_in_the_lesson_with_their_subtitles_as_webvtt_and_a_transcript() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let outsider = app.user(Role::Student).await;
    let course = app.course(&owner, "Video").await;
    let lesson = app
        .lesson(&owner, course, "The state of Open edX", "Watch the talk.")
        .await;
    app.publish_directly(course).await;
    app.enroll(&student, course).await;

    // An MP4 is recognised by its first box (`ftyp`); the browser plays it, the server only stores it.
    let mut mp4 = vec![0, 0, 0, 0x18];
    mp4.extend_from_slice(b"ftypmp42\0\0\0\0mp42isom");
    mp4.extend_from_slice(&[0u8; 64]);
    let r = app.upload(&owner, lesson, "talk.mp4", mp4.clone()).await;
    assert_eq!(r.status(), 201);
    let video: Value = r.json().await.unwrap();
    assert_eq!(video["content_type"], "video/mp4");
    let srt_bytes = sample("openedx-demo-video-en.srt");
    let r = app
        .upload(&owner, lesson, "talk-en.srt", srt_bytes.clone())
        .await;
    assert_eq!(r.status(), 201);
    let srt: Value = r.json().await.unwrap();

    // Played inline (a download would not play in <video>).
    let r = app
        .send(
            Method::GET,
            video["url"].as_str().unwrap(),
            Some(&student.token),
            None,
        )
        .await;
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), mp4.as_slice());

    // The SubRip file as WebVTT: every cue, times with a dot, entities decoded.
    let vtt_url = format!("/api/attachments/{}/vtt", srt["id"]);
    let r = app
        .send(Method::GET, &vtt_url, Some(&student.token), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/vtt; charset=utf-8");
    let vtt = r.text().await.unwrap();
    let srt_text = String::from_utf8(srt_bytes).unwrap();
    assert!(
        vtt.starts_with(
            "WEBVTT\n\n00:00:01.199 --> 00:00:04.380\num next up we're going to be hearing\n"
        ),
        "{}",
        &vtt[..200]
    );
    assert_eq!(
        vtt.matches(" --> ").count(),
        srt_text.matches(" --> ").count()
    );
    assert!(!vtt.contains("&#39;"));

    // The lesson page plays the video with the track, and shows the transcript with times.
    let page = app
        .client
        .get(app.url(&format!("/lessons/{lesson}")))
        .header("cookie", format!("smartcourse_token={}", student.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/"); // minijinja escapes slashes in attributes
    assert!(
        page.contains(&format!(
            "<source src=\"{}\" type=\"video/mp4\">",
            video["url"].as_str().unwrap()
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<track kind=\"subtitles\" src=\"{vtt_url}\" srclang=\"en\" label=\"English\" default>"
        )),
        "{page}"
    );
    assert!(page.contains("Transcript (talk-en.srt)"), "{page}");
    assert!(page.contains("data-t=\"1\""), "{page}");
    assert!(page.contains("the state of open edx from Ed"), "{page}");

    // Only subtitle files convert; only readers of the lesson get them.
    assert_error(
        app.send(
            Method::GET,
            &format!("/api/attachments/{}/vtt", video["id"]),
            Some(&student.token),
            None,
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    assert_error(
        app.send(Method::GET, &vtt_url, Some(&outsider.token), None)
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.send(Method::GET, &vtt_url, None, None).await,
        401,
        "unauthorized",
    )
    .await;
}

/// An upload that starts and then sends nothing is stopped after `server.upload_stall_secs` with 408
/// `upload_stalled`, and its partial file is removed; the server goes on serving.
#[tokio::test]
async fn an_upload_that_stalls_is_stopped_and_leaves_nothing_behind() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|c| c.server.upload_stall_secs = 1).await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Stalls").await;
    let lesson = app.lesson(&owner, course, "L", "x").await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let part = "--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nThe start of a file, and then nothing more.\n";
    let request = format!(
        "POST /api/lessons/{lesson}/attachments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=XB\r\nContent-Length: 1000000\r\n\r\n{part}",
        owner.token
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 8192];
    let n = tokio::time::timeout(std::time::Duration::from_secs(20), s.read(&mut answer))
        .await
        .expect("an answer before the test's own timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("upload_stalled"), "{answer}");
    let staging = app.app.data.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", staging.display());
    let r = app
        .send(
            Method::GET,
            &format!("/api/lessons/{lesson}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let l: Value = r.json().await.unwrap();
    assert_eq!(l["attachments"].as_array().unwrap().len(), 0);
}

/// A user's uploads being received at once are capped together (`server.max_staged_bytes_per_user`): past it
/// the upload is refused with 409 `uploads_in_progress` and leaves nothing; the share is given back when an
/// upload ends, and other users have their own.
#[tokio::test]
async fn a_users_uploads_in_progress_are_capped_together() {
    let app = TestApp::spawn_with(|c| c.server.max_staged_bytes_per_user = 64 * 1024).await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Quota").await;
    let lesson = app.lesson(&owner, course, "L", "x").await;
    let big = "a line of plain text that fills the upload\n"
        .repeat(3000)
        .into_bytes();
    let r = app.upload(&owner, lesson, "big.txt", big.clone()).await;
    assert_error(r, 409, "uploads_in_progress").await;
    assert_eq!(app.app.staging.used(owner.id), 0, "the share is given back");
    let small = b"a small file\n".to_vec();
    let r = app.upload(&owner, lesson, "small.txt", small.clone()).await;
    assert_eq!(r.status(), 201);
    // Two uploads at once that fit one by one but not together: one held open (sent 40 KiB, then waiting)
    // keeps its share, so the second is refused; once the first connection goes, the share is back.
    use tokio::io::AsyncWriteExt;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut open = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/lessons/{lesson}/attachments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=XB\r\nContent-Length: 1000000\r\n\r\n--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"held.txt\"\r\nContent-Type: text/plain\r\n\r\n",
        owner.token
    );
    open.write_all(head.as_bytes()).await.unwrap();
    open.write_all(&"held open, plain text\n".repeat(1900).into_bytes())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    while app.app.staging.used(owner.id) < 40 * 1024 {
        assert!(
            started.elapsed().as_secs() < 10,
            "the held upload is received"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let half = "half of the share, as plain text\n"
        .repeat(1200)
        .into_bytes();
    let r = app.upload(&owner, lesson, "half.txt", half.clone()).await;
    assert_error(r, 409, "uploads_in_progress").await;
    let other = app.user(Role::Instructor).await;
    let theirs = app.course(&other, "Theirs").await;
    let their_lesson = app.lesson(&other, theirs, "L", "x").await;
    let r = app
        .upload(&other, their_lesson, "half.txt", half.clone())
        .await;
    assert_eq!(r.status(), 201, "another user's share is their own");
    drop(open);
    let started = std::time::Instant::now();
    while app.app.staging.used(owner.id) > 0 {
        assert!(
            started.elapsed().as_secs() < 10,
            "the share comes back when the upload ends"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = app.upload(&owner, lesson, "half.txt", half).await;
    assert_eq!(r.status(), 201);
    let staging = app.app.data.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", staging.display());
}
