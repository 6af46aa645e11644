//! Enrollment within capacity, progress, resume, completion, and the notifications they cause.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;

use crate::common::{TestApp, assert_error};

#[tokio::test]
async fn two_hundred_students_racing_for_ten_seats_get_exactly_ten() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Popular").await;
    app.lesson(&owner, course, "Only lesson", "x").await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/courses/{course}"),
            Some(&owner.token),
            Some(&json!({"capacity": 10})),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.publish(&owner, course).await;

    let students = app.quick_students(200).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(students.len()));
    let tasks: Vec<_> = students
        .into_iter()
        .map(|s| {
            let client = app.client.clone();
            let url = app.url(&format!("/api/courses/{course}/enroll"));
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let r = client.post(url).bearer_auth(&s.token).send().await.unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut created = 0;
    let mut full = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => created += 1,
            (409, body) if body["error"]["code"] == "course_full" => full += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((created, full), (10, 190));
    let c: Value = app
        .get(&format!("/api/courses/{course}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (c["enrolled_count"].as_i64(), c["seats_left"].as_i64()),
        (Some(10), Some(0))
    );
    let jobs = app.drain_jobs().await;
    let created_events: i64 = app
        .app
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM events WHERE kind = 'enrollment.created'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(
        created_events, 10,
        "one event per enrollment, none for refusals"
    );
    // Every job the enrolments caused ran; the recurring jobs the start-up schedules are for later.
    assert!(
        jobs.iter()
            .filter(|j| !crate::common::SCHEDULED.contains(&j.kind.as_str()))
            .all(|j| j.state == "done"),
        "{jobs:?}"
    );
}

#[tokio::test]
async fn enrollment_rules() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let draft = app.course(&owner, "Draft").await;
    let open = app.course(&owner, "Open").await;
    app.lesson(&owner, open, "L", "x").await;
    app.publish(&owner, open).await;
    let enroll = |c: i64| format!("/api/courses/{c}/enroll");

    assert_error(
        app.send(Method::POST, &enroll(open), None, None).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        app.send(Method::POST, &enroll(draft), Some(&student.token), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.send(Method::POST, &enroll(999_999), Some(&student.token), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.send(Method::POST, &enroll(open), Some(&owner.token), None)
            .await,
        403,
        "forbidden",
    )
    .await;

    let r = app
        .send(Method::POST, &enroll(open), Some(&student.token), None)
        .await;
    assert_eq!(r.status(), 201);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["course_id"], open);
    assert!(e["enrollment_id"].is_i64() && e["enrolled_at"].is_string());
    assert_error(
        app.send(Method::POST, &enroll(open), Some(&student.token), None)
            .await,
        409,
        "already_enrolled",
    )
    .await;

    // Leave and come back.
    assert_eq!(
        app.send(Method::DELETE, &enroll(open), Some(&student.token), None)
            .await
            .status(),
        204
    );
    assert_error(
        app.send(Method::DELETE, &enroll(open), Some(&student.token), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.send(Method::POST, &enroll(open), Some(&student.token), None)
            .await
            .status(),
        201
    );
    let mine: Value = app
        .send(
            Method::GET,
            "/api/enrollments/me",
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["course"]["id"], open);

    // Archived: no new students; the enrolled one keeps reading.
    let late = app.user(Role::Student).await;
    assert_eq!(
        app.send(
            Method::POST,
            &format!("/api/courses/{open}/archive"),
            Some(&owner.token),
            None
        )
        .await
        .status(),
        200
    );
    assert_error(
        app.send(Method::POST, &enroll(open), Some(&late.token), None)
            .await,
        404,
        "not_found",
    )
    .await;
    let outline: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{open}"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let lesson = outline["modules"][0]["lessons"][0]["id"].as_i64().unwrap();
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/lessons/{lesson}"),
            Some(&student.token),
            None
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn progress_completion_resume_and_notifications() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let classmate = app.user(Role::Student).await;
    let outsider = app.user(Role::Student).await;
    let course = app.course(&owner, "Progress").await;
    let lessons = [
        app.lesson(&owner, course, "One", "1").await,
        app.lesson(&owner, course, "Two", "2").await,
        app.lesson(&owner, course, "Three", "3").await,
    ];
    app.publish(&owner, course).await;
    for s in [&student, &classmate] {
        assert_eq!(
            app.send(
                Method::POST,
                &format!("/api/courses/{course}/enroll"),
                Some(&s.token),
                None
            )
            .await
            .status(),
            201
        );
    }
    app.drain_jobs().await;

    // Progress starts at the first lesson; a welcome note arrives.
    let mine: Value = app
        .send(
            Method::GET,
            "/api/enrollments/me",
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["last_lesson_id"], lessons[0]);
    assert_eq!(mine[0]["progress_percent"], 0);
    let inbox: Value = app
        .send(
            Method::GET,
            "/api/notifications",
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["unread"], 1);
    assert_eq!(inbox["items"][0]["title"], "Welcome to Progress");

    // Not enrolled: 404 on completing, and on progress.
    let complete = |l: i64| format!("/api/lessons/{l}/complete");
    assert_error(
        app.send(
            Method::POST,
            &complete(lessons[0]),
            Some(&outsider.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.send(
            Method::GET,
            &format!("/api/courses/{course}/progress"),
            Some(&outsider.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;

    let first: Value = app
        .send(
            Method::POST,
            &complete(lessons[0]),
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["course_progress"], 33);
    let again: Value = app
        .send(
            Method::POST,
            &complete(lessons[0]),
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["completed_at"], first["completed_at"],
        "completing again changes nothing"
    );

    // Opening a lesson is where to resume.
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/lessons/{}", lessons[2]),
            Some(&student.token),
            None
        )
        .await
        .status(),
        200
    );
    let mine: Value = app
        .send(
            Method::GET,
            "/api/enrollments/me",
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["last_lesson_id"], lessons[2]);

    for l in &lessons[1..] {
        app.send(Method::POST, &complete(*l), Some(&student.token), None)
            .await;
    }
    let last: Value = app
        .send(
            Method::POST,
            &complete(lessons[2]),
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["course_progress"], 100);
    app.drain_jobs().await;
    let mine: Value = app
        .send(
            Method::GET,
            "/api/enrollments/me",
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["progress_percent"], 100);
    assert!(mine[0]["completed_at"].is_string());
    let (completed_events, lesson_events): (i64, i64) = app
        .app
        .db
        .read(|c| {
            Ok((
                c.query_row(
                    "SELECT count(*) FROM events WHERE kind = 'course.completed'",
                    [],
                    |r| r.get(0),
                )?,
                c.query_row(
                    "SELECT count(*) FROM events WHERE kind = 'lesson.completed'",
                    [],
                    |r| r.get(0),
                )?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((completed_events, lesson_events), (1, 3));
    let inbox: Value = app
        .send(
            Method::GET,
            "/api/notifications",
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["items"][0]["title"], "You completed Progress");

    // A student sees only themselves; the owner sees everyone.
    let own: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{course}/progress"),
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["students"].as_array().unwrap().len(), 1);
    assert_eq!(own["students"][0]["user_id"], student.id);
    assert_eq!(own["lesson_count"], 3);
    let all: Value = app
        .send(
            Method::GET,
            &format!("/api/courses/{course}/progress"),
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let percents: Vec<(i64, i64)> = all["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["user_id"].as_i64().unwrap(),
                s["percent"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        percents.contains(&(student.id, 100)) && percents.contains(&(classmate.id, 0)),
        "{percents:?}"
    );

    // Notifications are private.
    let note = inbox["items"][0]["id"].as_i64().unwrap();
    assert_error(
        app.send(
            Method::POST,
            &format!("/api/notifications/{note}/read"),
            Some(&classmate.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.send(
            Method::POST,
            &format!("/api/notifications/{note}/read"),
            Some(&student.token),
            None
        )
        .await
        .status(),
        204
    );
    let inbox: Value = app
        .send(
            Method::GET,
            "/api/notifications",
            Some(&student.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["unread"], 1);
}

#[tokio::test]
async fn reports_count_enrollments_per_day_and_completion_for_the_right_people() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let other = app.user(Role::Instructor).await;
    let admin = app.user(Role::Admin).await;
    let course = app.course(&owner, "Reported, with \"quotes\"").await;
    let lesson = app.lesson(&owner, course, "Only", "x").await;
    app.publish(&owner, course).await;
    let theirs = app.course(&other, "Someone else's").await;
    let students = app.quick_students(3).await;
    for s in &students {
        app.enroll(s, course).await;
    }
    app.send(
        Method::POST,
        &format!("/api/lessons/{lesson}/complete"),
        Some(&students[0].token),
        None,
    )
    .await;
    // One leaves: still counted on the day they joined, not as enrolled now.
    app.send(
        Method::DELETE,
        &format!("/api/courses/{course}/enroll"),
        Some(&students[2].token),
        None,
    )
    .await;
    // The figures are kept by the analytics subscriber: once the events are delivered, they are there.
    app.drain_jobs().await;

    let r: Value = app
        .send(
            Method::GET,
            "/api/reports/enrollments",
            Some(&owner.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let courses = r["courses"].as_array().unwrap();
    assert_eq!(courses.len(), 1, "only the instructor's own courses");
    assert_eq!(courses[0]["course_id"], course);
    assert_eq!(
        (
            courses[0]["enrolled"].as_i64(),
            courses[0]["completed"].as_i64(),
            courses[0]["completion_rate"].as_i64()
        ),
        (Some(2), Some(1), Some(50))
    );
    let daily = courses[0]["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 1);
    assert_eq!(daily[0]["enrollments"], 3);

    let all: Value = app
        .send(
            Method::GET,
            "/api/reports/enrollments",
            Some(&admin.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = all["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["course_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [course, theirs]);

    let r = app
        .send(
            Method::GET,
            "/api/reports/enrollments?format=csv",
            Some(&owner.token),
            None,
        )
        .await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    // The CSV holds exactly the figures of the JSON (and of the students page), one per row.
    let prefix = format!("{course},\"Reported, with \"\"quotes\"\"\",");
    let lines: Vec<&str> = csv.lines().collect();
    for (figure, key, value) in [
        ("enrolled_now", String::new(), "2".to_owned()),
        ("completed", String::new(), "1".to_owned()),
        ("completion_rate_percent", String::new(), "50".to_owned()),
        ("active_students_7d", String::new(), "1".to_owned()),
        (
            "avg_days_to_complete",
            String::new(),
            courses[0]["avg_days_to_complete"].to_string(),
        ),
        (
            "enrollments_on_day",
            daily[0]["day"].as_str().unwrap().to_owned(),
            "3".to_owned(),
        ),
        ("lesson_completed_by", "Only".to_owned(), "1".to_owned()),
    ] {
        let line = format!("{prefix}{figure},{key},{value}");
        assert!(lines.contains(&line.as_str()), "{line} missing from\n{csv}");
    }
    assert_eq!(courses[0]["active_7d"], 1);
    assert_eq!(courses[0]["funnel"][0]["title"], "Only");
    assert_eq!(courses[0]["funnel"][0]["completed"], 1);
    assert!(
        courses[0]["avg_days_to_complete"].as_f64().unwrap() < 0.1,
        "completed the same minute"
    );

    assert_error(
        app.send(
            Method::GET,
            "/api/reports/enrollments",
            Some(&students[0].token),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.send(
            Method::GET,
            "/api/reports/enrollments?format=pdf",
            Some(&owner.token),
            None,
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
}

#[tokio::test]
async fn kept_report_figures_equal_a_full_recount_after_a_busy_term() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Busy term").await;
    let mut lessons = Vec::new();
    for (title, body) in [
        (
            "Photosynthesis",
            "Plants turn sunlight, water and carbon dioxide into sugar.",
        ),
        ("Roots", "Roots take water and minerals from the soil."),
        (
            "Leaves",
            "Leaves hold the chlorophyll that catches sunlight.",
        ),
    ] {
        lessons.push(app.lesson(&owner, course, title, body).await);
    }
    app.publish(&owner, course).await;
    let students = app.quick_students(5).await;
    let complete = |s: usize, l: usize| {
        let (token, lesson) = (students[s].token.clone(), lessons[l]);
        let app = &app;
        async move {
            let r = app
                .send(
                    Method::POST,
                    &format!("/api/lessons/{lesson}/complete"),
                    Some(&token),
                    None,
                )
                .await;
            assert!(r.status().is_success());
        }
    };
    for s in &students {
        app.enroll(s, course).await;
    }
    for l in 0..3 {
        complete(0, l).await; // finishes the course
        complete(1, l).await; // finishes, then leaves
    }
    complete(2, 0).await;
    complete(3, 0).await;
    complete(3, 1).await; // leaves, then comes back
    for s in [1, 3] {
        let r = app
            .send(
                Method::DELETE,
                &format!("/api/courses/{course}/enroll"),
                Some(&students[s].token),
                None,
            )
            .await;
        assert_eq!(r.status(), 204);
    }
    app.enroll(&students[3], course).await;
    complete(3, 2).await; // and finishes
    // Questions to the tutor: one the course covers, one it does not.
    for (s, q) in [
        (0, "How do plants turn sunlight into sugar?"),
        (2, "Who won the football match?"),
    ] {
        let r = app
            .send(
                Method::POST,
                "/api/ai/ask",
                Some(&students[s].token),
                Some(&json!({ "course_id": course, "question": q })),
            )
            .await;
        assert_eq!(r.status(), 200);
        let _ = r.text().await;
    }
    app.drain_jobs().await;
    let kept = app
        .app
        .db
        .read(|c| smartcourse::analytics::enrollments(c, &smartcourse::accounts::Actor::System))
        .await
        .unwrap();
    let counted = app
        .app
        .db
        .read(|c| smartcourse::analytics::recompute(c, &smartcourse::accounts::Actor::System))
        .await
        .unwrap();
    let (kept, counted) = (
        serde_json::to_value(&kept).unwrap(),
        serde_json::to_value(&counted).unwrap(),
    );
    assert_eq!(kept, counted);
    let r = &kept[0];
    assert_eq!(
        (r["enrolled"].as_i64(), r["completed"].as_i64()),
        (Some(4), Some(2)),
        "{r}"
    );
    assert_eq!(r["tutor_questions"], 2, "{r}");
    let funnel: Vec<i64> = r["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["completed"].as_i64().unwrap())
        .collect();
    assert_eq!(funnel, vec![3, 2, 2], "{r}");

    // The report reads the kept figures, not the tables: a change behind the subscriber's back (no event) does
    // not show, while a full recount sees it.
    let first = lessons[0];
    app.app
        .db
        .write(move |tx| {
            Ok(tx.execute("DELETE FROM lesson_progress WHERE lesson_id = ?1", [first])?)
        })
        .await
        .unwrap();
    let after = app
        .app
        .db
        .read(|c| smartcourse::analytics::enrollments(c, &smartcourse::accounts::Actor::System))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&after).unwrap(), kept);
    let recount = app
        .app
        .db
        .read(|c| smartcourse::analytics::recompute(c, &smartcourse::accounts::Actor::System))
        .await
        .unwrap();
    assert_eq!(recount[0].funnel[0].completed, 0);
}
