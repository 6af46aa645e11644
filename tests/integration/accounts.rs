//! Registration, login, tokens, roles and rate limits, through the real server.

use reqwest::Method;
use serde_json::{Value, json};
use smartcourse::accounts::Role;
use smartcourse::accounts::token::{AUDIENCE, Claims};

use crate::common::{PASSWORD, TestApp, assert_error};

fn signup(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "full_name": "Ana Lima"})
}

#[tokio::test]
async fn register_login_me_logout() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/api/auth/register", None, &signup("Ana@School.test"))
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ana@school.test");
    assert_eq!(body["user"]["role"], "student");
    assert!(body["user"].get("password_hash").is_none());

    let r = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": "ANA@school.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let login: Value = r.json().await.unwrap();
    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["expires_in"], 12 * 3600);
    let token = login["access_token"].as_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("smartcourse_token={token};")));

    let me: Value = app
        .send(Method::GET, "/api/users/me", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ana@school.test");
    assert_eq!(me["id"], body["user"]["id"]);
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));

    // The web UI's cookie works as well as the header.
    let r = app
        .client
        .get(app.url("/api/users/me"))
        .header("cookie", format!("theme=dark; smartcourse_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = app
        .send(Method::POST, "/api/auth/logout", Some(&token), None)
        .await;
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = app
        .send(Method::GET, "/api/users/me", Some(&token), None)
        .await;
    assert_error(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn registration_input_is_checked() {
    let app = TestApp::spawn_with(|c| c.server.max_body_bytes = 4096).await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD, "full_name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@school.test", "password": "short", "full_name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@school.test", "password": "password123", "full_name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@school.test", "password": PASSWORD, "full_name": "  "}),
            "full_name",
        ),
        (
            json!({"email": "a@school.test", "password": PASSWORD}),
            "full_name",
        ),
        (
            json!({"email": 5, "password": PASSWORD, "full_name": "A"}),
            "email",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/api/auth/register", None, &body).await;
        assert_eq!(r.status(), 422, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "invalid_input", "{body}");
        assert_eq!(e["error"]["field"], field, "{body} -> {e}");
    }

    let r = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "bad_request").await;
    let r = app
        .client
        .post(app.url("/api/auth/register"))
        .body(signup("b@school.test").to_string())
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "bad_request").await;
    let huge =
        json!({"email": "c@school.test", "password": PASSWORD, "full_name": "x".repeat(10_000)});
    assert_error(
        app.post("/api/auth/register", None, &huge).await,
        413,
        "too_large",
    )
    .await;

    // Nothing above created an account.
    let (_, total) = app
        .app
        .db
        .read(|c| {
            smartcourse::accounts::list_users(c, &smartcourse::accounts::Actor::System, None, 10, 0)
        })
        .await
        .unwrap();
    assert_eq!(total, 0);
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_the_case_and_a_role_cannot_be_chosen() {
    let app = TestApp::spawn().await;
    let mut body = signup("ana@school.test");
    body["role"] = json!("admin");
    let r = app.post("/api/auth/register", None, &body).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["user"]["role"], "student");
    let r = app
        .post("/api/auth/register", None, &signup("ANA@school.TEST"))
        .await;
    assert_error(r, 409, "email_taken").await;
}

#[tokio::test]
async fn failed_logins_look_the_same_whether_or_not_the_account_exists() {
    let app = TestApp::spawn().await;
    let known = app.user(Role::Student).await;
    let wrong_password = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": known.email, "password": "wrong-password-9"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": "nobody@school.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown.status(), 401);
    let a: Value = wrong_password.json().await.unwrap();
    let b: Value = unknown.json().await.unwrap();
    assert_eq!(a, b);
}

fn secret_of(app: &TestApp) -> Vec<u8> {
    std::fs::read(app.app.data.join("jwt-secret")).unwrap()
}

fn claims_for(user_id: i64, exp_in: i64) -> Claims {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Claims {
        sub: user_id.to_string(),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + exp_in,
        jti: "test-jti".into(),
        ver: 0,
    }
}

fn sign(alg: jsonwebtoken::Algorithm, secret: &[u8], claims: &Claims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Admin).await;
    let secret = secret_of(&app);
    let me = |t: String| {
        let app = &app;
        async move { app.send(Method::GET, "/api/users/me", Some(&t), None).await }
    };

    // Control: a token we sign ourselves with the right secret and claims is accepted, so the refusals
    // below are about what each one changes.
    let good = sign(
        jsonwebtoken::Algorithm::HS256,
        &secret,
        &claims_for(user.id, 600),
    );
    assert_eq!(me(good.clone()).await.status(), 200);

    // Tampered payload: a student's real token edited to name the admin, signature kept.
    let student = app.user(Role::Student).await;
    let student_token = sign(
        jsonwebtoken::Algorithm::HS256,
        &secret,
        &claims_for(student.id, 600),
    );
    assert_eq!(me(student_token.clone()).await.status(), 200);
    let parts: Vec<&str> = student_token.split('.').collect();
    let forged_payload = base64url(&serde_json::to_vec(&claims_for(user.id, 600)).unwrap());
    assert_ne!(forged_payload, parts[1]);
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_error(me(tampered).await, 401, "unauthorized").await;
    let parts: Vec<&str> = good.split('.').collect();

    // Tampered signature.
    let mut sig = parts[2].to_owned();
    let flipped = if sig.ends_with('A') { 'B' } else { 'A' };
    sig.pop();
    sig.push(flipped);
    assert_error(
        me(format!("{}.{}.{sig}", parts[0], parts[1])).await,
        401,
        "unauthorized",
    )
    .await;

    // alg: none, with and without a signature part.
    let none_header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(&serde_json::to_vec(&claims_for(user.id, 600)).unwrap());
    assert_error(
        me(format!("{none_header}.{payload}.")).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        me(format!("{none_header}.{payload}")).await,
        401,
        "unauthorized",
    )
    .await;

    // Another algorithm with the same secret: the algorithm is pinned.
    let hs512 = sign(
        jsonwebtoken::Algorithm::HS512,
        &secret,
        &claims_for(user.id, 600),
    );
    assert_error(me(hs512).await, 401, "unauthorized").await;

    // Expired.
    let expired = sign(
        jsonwebtoken::Algorithm::HS256,
        &secret,
        &claims_for(user.id, -120),
    );
    assert_error(me(expired).await, 401, "unauthorized").await;

    // Wrong audience.
    let mut aud = claims_for(user.id, 600);
    aud.aud = "another-app".into();
    assert_error(
        me(sign(jsonwebtoken::Algorithm::HS256, &secret, &aud)).await,
        401,
        "unauthorized",
    )
    .await;

    // Another installation's secret.
    let foreign = sign(
        jsonwebtoken::Algorithm::HS256,
        b"another-installation-secret-0123456789",
        &claims_for(user.id, 600),
    );
    assert_error(me(foreign).await, 401, "unauthorized").await;

    // Garbage and wrong schemes.
    assert_error(me("not.a.token".into()).await, 401, "unauthorized").await;
    let r = app
        .client
        .get(app.url("/api/users/me"))
        .header("authorization", format!("Basic {}", user.token))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthorized").await;
    assert_error(app.get("/api/users/me").await, 401, "unauthorized").await;
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn a_disabled_users_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let student = app.user(Role::Student).await;
    assert_eq!(
        app.send(Method::GET, "/api/users/me", Some(&student.token), None)
            .await
            .status(),
        200
    );

    let r = app
        .send(
            Method::PATCH,
            &format!("/api/users/{}", student.id),
            Some(&admin.token),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["disabled"], true);

    assert_error(
        app.send(Method::GET, "/api/users/me", Some(&student.token), None)
            .await,
        401,
        "unauthorized",
    )
    .await;
    let r = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": student.email, "password": PASSWORD}),
        )
        .await;
    assert_error(r, 401, "unauthorized").await;

    // Enabled again, they can log in afresh, but the old token stays dead.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/users/{}", student.id),
            Some(&admin.token),
            Some(&json!({"disabled": false})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_error(
        app.send(Method::GET, "/api/users/me", Some(&student.token), None)
            .await,
        401,
        "unauthorized",
    )
    .await;
    app.login(&student.email, PASSWORD).await;
}

#[tokio::test]
async fn only_admins_list_and_change_users() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let teacher = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let target = format!("/api/users/{}", student.id);

    // Anonymous: 401 on both.
    assert_error(app.get("/api/users").await, 401, "unauthorized").await;
    assert_error(
        app.send(
            Method::PATCH,
            &target,
            None,
            Some(&json!({"role": "admin"})),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;

    // Students and instructors: 403, and nothing changes — including promoting themselves.
    for who in [&student, &teacher] {
        assert_error(
            app.send(Method::GET, "/api/users", Some(&who.token), None)
                .await,
            403,
            "forbidden",
        )
        .await;
        for id in [student.id, who.id] {
            let r = app
                .send(
                    Method::PATCH,
                    &format!("/api/users/{id}"),
                    Some(&who.token),
                    Some(&json!({"role": "admin"})),
                )
                .await;
            assert_error(r, 403, "forbidden").await;
        }
    }
    let me: Value = app
        .send(Method::GET, "/api/users/me", Some(&student.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "student");

    // Admin: list with paging and search.
    let page: Value = app
        .send(Method::GET, "/api/users?limit=2", Some(&admin.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let found: Value = app
        .send(
            Method::GET,
            &format!("/api/users?q={}", teacher.email),
            Some(&admin.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], teacher.id);
    for bad in [
        "/api/users?limit=0",
        "/api/users?limit=500",
        "/api/users?offset=-1",
        "/api/users?limit=x",
    ] {
        assert_error(
            app.send(Method::GET, bad, Some(&admin.token), None).await,
            422,
            "invalid_input",
        )
        .await;
    }

    // Admin: change a role.
    let r = app
        .send(
            Method::PATCH,
            &target,
            Some(&admin.token),
            Some(&json!({"role": "instructor"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let me: Value = app
        .send(Method::GET, "/api/users/me", Some(&student.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["role"], "instructor",
        "the new role applies to the existing session"
    );

    // Bad changes.
    assert_error(
        app.send(
            Method::PATCH,
            &target,
            Some(&admin.token),
            Some(&json!({"role": "king"})),
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    assert_error(
        app.send(Method::PATCH, &target, Some(&admin.token), Some(&json!({})))
            .await,
        422,
        "invalid_input",
    )
    .await;
    assert_error(
        app.send(
            Method::PATCH,
            &target,
            Some(&admin.token),
            Some(&json!({"rol": "admin"})),
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    assert_error(
        app.send(
            Method::PATCH,
            "/api/users/999999",
            Some(&admin.token),
            Some(&json!({"role": "admin"})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.send(
            Method::PATCH,
            "/api/users/abc",
            Some(&admin.token),
            Some(&json!({"role": "admin"})),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // The only admin cannot demote or disable themselves.
    let own = format!("/api/users/{}", admin.id);
    assert_error(
        app.send(
            Method::PATCH,
            &own,
            Some(&admin.token),
            Some(&json!({"role": "student"})),
        )
        .await,
        409,
        "last_admin",
    )
    .await;
    assert_error(
        app.send(
            Method::PATCH,
            &own,
            Some(&admin.token),
            Some(&json!({"disabled": true})),
        )
        .await,
        409,
        "last_admin",
    )
    .await;
}

#[tokio::test]
async fn brute_forcing_a_login_is_stopped_with_429_and_retry_after() {
    let app = TestApp::spawn_with(|c| {
        let defaults = smartcourse::config::RateLimitConfig::default();
        c.rate_limit.login_per_account = defaults.login_per_account;
        c.rate_limit.login_per_client = defaults.login_per_client;
    })
    .await;
    let victim = app.user(Role::Student).await;
    let mut limited_at = None;
    for attempt in 1..=20 {
        let r = app
            .post(
                "/api/auth/login",
                None,
                &json!({"email": victim.email, "password": format!("guess-number-{attempt}")}),
            )
            .await;
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            assert_error(r, 429, "rate_limited").await;
            limited_at = Some(attempt);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let at = limited_at.expect("no 429 within 20 attempts");
    assert!(at < 20, "limited only at attempt {at}");

    // Spraying many accounts from one address is limited per client too.
    let mut sprayed = None;
    for attempt in 1..=20 {
        let r = app
            .post("/api/auth/login", None, &json!({"email": format!("user{attempt}@school.test"), "password": "guess-number-1"}))
            .await;
        if r.status() == 429 {
            sprayed = Some(attempt);
            break;
        }
    }
    assert!(
        sprayed.is_some_and(|n| n < 20),
        "per-client login limit did not trigger"
    );
}

/// Guessing a teacher's password from one machine gets that machine 429s, but cannot lock the teacher out:
/// from their own machine (another address) they still sign in.
#[tokio::test]
async fn someone_elses_guessing_does_not_lock_the_owner_out() {
    let app = TestApp::spawn_with(|c| {
        let defaults = smartcourse::config::RateLimitConfig::default();
        c.rate_limit.login_per_account = defaults.login_per_account;
        c.rate_limit.login_per_client = defaults.login_per_client;
    })
    .await;
    let teacher = app.user(Role::Instructor).await;
    let mut limited = false;
    for attempt in 1..=20 {
        let r = app
            .post(
                "/api/auth/login",
                None,
                &json!({"email": teacher.email, "password": format!("guess-number-{attempt}")}),
            )
            .await;
        if r.status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the guessing machine was never limited");
    // The teacher's own machine: another loopback address.
    let own = reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let r = own
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": teacher.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn registration_and_the_whole_api_are_limited_per_client() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit.register_per_client = 3;
        c.rate_limit.api_per_client = 30;
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(
            app.post(
                "/api/auth/register",
                None,
                &signup(&format!("r{n}@school.test")),
            )
            .await
            .status()
            .as_u16(),
        );
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);

    let mut limited = false;
    for _ in 0..40 {
        let r = app.get("/api/openapi.json").await;
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            limited = true;
            break;
        }
    }
    assert!(limited, "the general API limit did not trigger");
    // The health check stays available for monitoring.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// Password checks take CPU, not a database connection: while four logins with an expensive hash are being
/// verified (as many as there are reader connections), other signed-in requests still get through. Before
/// the hash ran outside the reader connection, every request's token check queued behind the logins.
#[tokio::test]
async fn logins_in_flight_do_not_hold_up_other_requests() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let app = TestApp::spawn().await;
    let reader = app.user(Role::Student).await;
    // A hash with a high cost (64 MiB, 8 passes): each check takes a good part of a second here.
    let params = argon2::Params::new(64 * 1024, 8, 1, None).unwrap();
    let hash = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(
            PASSWORD.as_bytes(),
            &SaltString::from_b64("c2xvd2hhc2hzbG93aGFzaA").unwrap(),
        )
        .unwrap()
        .to_string();
    app.app
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO users (email, full_name, role, password_hash, created_at, updated_at)
                 VALUES ('slow@school.test', 'Slow Hash', 'student', ?1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                [hash],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let logins: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, finished) = (
                app.client.clone(),
                app.url("/api/auth/login"),
                finished.clone(),
            );
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({"email": "slow@school.test", "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r.status()
            })
        })
        .collect();
    // Let the logins reach their password checks.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for _ in 0..20 {
        let r = app
            .send(Method::GET, "/api/users/me", Some(&reader.token), None)
            .await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        finished.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a login finished before 20 other requests: they waited for the password checks"
    );
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
}
