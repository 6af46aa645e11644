//! Accounts an admin makes or opens again: one-time password links, and nobody else may make them.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;

use crate::common::{PASSWORD, TestApp, assert_error};
use crate::course_care::{browser, invalid, json};

/// The token in a password link's path.
fn token_of(link: &Value) -> String {
    let path = link["reset_path"].as_str().unwrap();
    assert!(path.starts_with("/reset-password?token="), "{path}");
    path.trim_start_matches("/reset-password?token=").to_owned()
}

#[tokio::test]
async fn an_admin_adds_a_user_who_chooses_a_password_with_a_one_time_link() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let teacher = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let new = json!({"email": "Nia@School.test", "full_name": "Nia Otieno", "role": "instructor"});

    for who in [&teacher, &student] {
        let r = app.post("/api/users", Some(&who.token), &new).await;
        assert_error(r, 403, "forbidden").await;
    }
    let r = app
        .post(
            "/api/users",
            Some(&admin.token),
            &json!({"email": "nope", "full_name": "X", "role": "student"}),
        )
        .await;
    invalid(r, "email").await;
    let r = app.post("/api/users", Some(&admin.token), &new).await;
    assert_eq!(r.status(), 201);
    let link = json(r).await;
    assert_eq!(link["user"]["email"], "nia@school.test");
    assert_eq!(link["user"]["role"], "instructor");
    let r = app.post("/api/users", Some(&admin.token), &new).await;
    assert_error(r, 409, "email_taken").await;
    let token = token_of(&link);
    assert_eq!(link["token"], token.as_str());

    // No password works until the owner chooses one; the policy applies; the link works once.
    let app = &app;
    let login = |password: &'static str| async move {
        app.post(
            "/api/auth/login",
            None,
            &json!({"email": "nia@school.test", "password": password}),
        )
        .await
    };
    let r = app
        .post(
            "/api/auth/password",
            None,
            &json!({"token": token, "password": "password"}),
        )
        .await;
    invalid(r, "password").await;
    let r = app
        .post(
            "/api/auth/password",
            None,
            &json!({"token": "forged.token.here", "password": "a-fine-long-password"}),
        )
        .await;
    invalid(r, "token").await;
    let r = app
        .post(
            "/api/auth/password",
            None,
            &json!({"token": token, "password": "a-fine-long-password"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(login("a-fine-long-password").await.status(), 200);
    let r = app
        .post(
            "/api/auth/password",
            None,
            &json!({"token": token, "password": "another-long-password"}),
        )
        .await;
    invalid(r, "token").await;
    assert_eq!(login("another-long-password").await.status(), 401);
    // A sign-in token is not a password link.
    let r = app
        .post(
            "/api/auth/password",
            None,
            &json!({"token": admin.token, "password": "another-long-password"}),
        )
        .await;
    invalid(r, "token").await;
}

#[tokio::test]
async fn an_admin_resets_a_password_and_nobody_else_can() {
    let app = TestApp::spawn().await;
    let web = browser();
    let admin = app.user(Role::Admin).await;
    let teacher = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;

    for who in [&teacher, &student] {
        let target = if who.id == teacher.id {
            &student
        } else {
            &teacher
        };
        let r = app
            .post(
                &format!("/api/users/{}/password-reset", target.id),
                Some(&who.token),
                &json!({}),
            )
            .await;
        assert_error(r, 403, "forbidden").await;
        let r = web
            .post(app.url(&format!("/admin/users/{}/reset", target.id)))
            .header("cookie", format!("smartcourse_token={}", who.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = web
            .post(app.url("/admin/users"))
            .header("cookie", format!("smartcourse_token={}", who.token))
            .form(&[
                ("email", "x@school.test"),
                ("full_name", "X"),
                ("role", "admin"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    // Nothing changed: both still sign in, with their sessions.
    assert_eq!(
        app.send(Method::GET, "/api/users/me", Some(&student.token), None)
            .await
            .status(),
        200
    );
    app.login(&student.email, PASSWORD).await;
    let r = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": "x@school.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 401);

    // The admin page: a reset shows the link once; the student's password and sessions end at once.
    let r = web
        .post(app.url(&format!("/admin/users/{}/reset", student.id)))
        .header("cookie", format!("smartcourse_token={}", admin.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let start = html
        .find("reset-password?token=")
        .unwrap_or_else(|| panic!("no link on {html}"));
    let token: String = html[start + "reset-password?token=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    assert_eq!(
        app.send(Method::GET, "/api/users/me", Some(&student.token), None)
            .await
            .status(),
        401
    );
    let r = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": student.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 401);
    let again = web
        .get(app.url("/admin"))
        .header("cookie", format!("smartcourse_token={}", admin.token))
        .send()
        .await
        .unwrap();
    let again = again.text().await.unwrap();
    assert!(!again.contains(&token), "the link is shown once");
    assert!(
        again.contains(&format!("/admin/users/{}/reset", student.id))
            && !again.contains(&format!("/admin/users/{}/reset", admin.id)),
        "a reset for others, none on one's own row (it would end one's session)"
    );

    // A newer link ends the older one.
    let newer = json(
        app.post(
            &format!("/api/users/{}/password-reset", student.id),
            Some(&admin.token),
            &json!({}),
        )
        .await,
    )
    .await;
    let r = web
        .get(app.url(&format!("/reset-password?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let newer = token_of(&newer);

    // The student's page: the form, then signed in with the new password.
    let r = web
        .get(app.url(&format!("/reset-password?token={newer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.text().await.unwrap().contains(&student.email));
    let r = web
        .post(app.url("/reset-password"))
        .form(&[("token", newer.as_str()), ("password", "12345678")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a common password is refused");
    let r = web
        .post(app.url("/reset-password"))
        .form(&[("token", newer.as_str()), ("password", "my-own-new-secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("smartcourse_token=")
    );
    app.login(&student.email, "my-own-new-secret").await;

    // The admin page adds a user and shows their link.
    let r = web
        .post(app.url("/admin/users"))
        .header("cookie", format!("smartcourse_token={}", admin.token))
        .form(&[
            ("email", "ode@school.test"),
            ("full_name", "Ode"),
            ("role", "student"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.text().await.unwrap().contains("reset-password?token="));
    let r = web
        .post(app.url("/admin/users"))
        .header("cookie", format!("smartcourse_token={}", admin.token))
        .form(&[
            ("email", "ode@school.test"),
            ("full_name", "Ode"),
            ("role", "student"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already exists"));
}
