//! SCORM lessons run their own pages: the package's files kept, served from the package server (another port,
//! so another origin) under a capability, and every way across that boundary tried.

use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;
use smartcourse::accounts::Role;
use smartcourse::packages;

use crate::common::{TestApp, TestUser, assert_error};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../shared/samples/scorm/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

const RUNTIME_2004: &str = "golf_RuntimeBasicCalls_SCORM20043rdEdition.zip";
const ONE_FILE_PER_SCO_12: &str = "golf_ContentPackagingOneFilePerSCO_SCORM12.zip";

/// A file of a sample package, from the zip itself.
fn zipped(name: &str, path: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(sample(name)).unwrap()).unwrap();
    let mut out = Vec::new();
    zip.by_name(path).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// The first lesson of a course, as `user` gets it from the API.
async fn first_lesson(app: &TestApp, user: &TestUser, course: i64) -> Value {
    let detail: Value = app
        .send(
            reqwest::Method::GET,
            &format!("/api/courses/{course}"),
            Some(&user.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let id = &detail["modules"][0]["lessons"][0]["id"];
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/api/lessons/{id}"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Deletes a course through the API.
async fn delete_course(app: &TestApp, admin: &TestUser, course: i64) {
    let r = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/courses/{course}"),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
}

/// The package path in a launch URL (after the capability).
fn launch_path_of(url: &str) -> String {
    url.splitn(6, '/').nth(5).unwrap().to_owned()
}

async fn package_files(app: &TestApp, course: i64) -> i64 {
    app.app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM package_files WHERE course_id = ?1",
                [course],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_scorm_lesson_runs_its_launch_page_from_the_package_server_and_nowhere_else() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let r = packages::import(
        &app.app,
        &sample(RUNTIME_2004),
        Some(teacher.email.clone()),
        false,
    )
    .await
    .unwrap();
    let zip_files = zip::ZipArchive::new(std::fs::File::open(sample(RUNTIME_2004)).unwrap())
        .unwrap()
        .file_names()
        .filter(|n| !n.ends_with('/'))
        .count();
    assert_eq!(r.format, "SCORM 2004 3rd Edition");
    assert_eq!(r.package_files, zip_files);
    assert_eq!(package_files(&app, r.course_id).await, zip_files as i64);
    app.publish(&teacher, r.course_id).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, r.course_id).await;

    let lesson = first_lesson(&app, &student, r.course_id).await;
    let url = lesson["launch_url"]
        .as_str()
        .expect("a launch URL")
        .to_owned();
    let port = *app.app.packages_port.get().unwrap();
    let main_port = app.base.rsplit(':').next().unwrap().to_owned();
    assert_ne!(port.to_string(), main_port);
    let prefix = format!("http://127.0.0.1:{port}/packages/");
    assert!(
        url.starts_with(&prefix) && url.ends_with("/shared/launchpage.html"),
        "{url}"
    );
    // What text the page has is still the lesson's body, for search and the tutor (this one is an app).
    assert!(!lesson["body_html"].as_str().unwrap().trim().is_empty());

    // The launch page, with no cookie: the capability opens it. It carries the SCORM API ahead of the page's
    // own scripts, and is framed only by this host's pages.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("frame-ancestors 'self' http://127.0.0.1:*"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let api = html.find("API_1484_11=").expect("the SCORM API");
    assert!(api < html.find("scormfunctions.js").unwrap());
    let original = String::from_utf8(zipped(RUNTIME_2004, "shared/launchpage.html")).unwrap();
    assert_eq!(
        html.replacen(smartcourse::courses::launch::SCORM_API, "", 1),
        original,
        "the page as the package has it, with the API added"
    );

    // Its scripts and images, byte for byte, with their types; ranges for media.
    let base = url.trim_end_matches("shared/launchpage.html");
    let js = client
        .get(format!("{base}shared/scormfunctions.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript");
    assert_eq!(
        js.bytes().await.unwrap().to_vec(),
        zipped(RUNTIME_2004, "shared/scormfunctions.js")
    );
    let jpg = client
        .get(format!("{base}Etiquette/course.jpg"))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(jpg.status(), 206);
    assert_eq!(jpg.headers()["content-type"], "image/jpeg");
    assert_eq!(
        jpg.bytes().await.unwrap().to_vec(),
        zipped(RUNTIME_2004, "Etiquette/course.jpg")[..10].to_vec()
    );
    // Links that differ from the file only in case still find it (packages made on Windows).
    let css = client
        .get(format!("{base}SHARED/Style.CSS"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css");

    // Package files are not served from SmartCourse's own origin, where their scripts would run as it.
    let on_main = app
        .get(url.trim_start_matches(&format!("http://127.0.0.1:{port}")))
        .await;
    assert_eq!(on_main.status(), 404);
    // The package server serves packages and nothing else.
    let api_there = client
        .get(format!("http://127.0.0.1:{port}/api/courses"))
        .send()
        .await
        .unwrap();
    assert_eq!(api_there.status(), 404);
    // SmartCourse's pages may not be framed by it.
    let page = app.get("/login").await;
    assert_eq!(page.headers()["x-frame-options"], "SAMEORIGIN");

    // A capability altered, or none, opens nothing; a path outside the package finds nothing.
    let capability = url[prefix.len()..].split('/').next().unwrap().to_owned();
    let mut altered = capability.clone().into_bytes();
    let i = altered.len() - 2;
    altered[i] = if altered[i] == b'x' { b'y' } else { b'x' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [
        format!("{prefix}{altered}/shared/launchpage.html"),
        format!("{prefix}{}/shared/launchpage.html", student.token),
        format!("{prefix}nothing/shared/launchpage.html"),
    ] {
        assert_error(client.get(&bad).send().await.unwrap(), 403, "forbidden").await;
    }
    for missing in [
        "%2e%2e/%2e%2e/content.redb",
        "..%2F..%2Fjwt-secret",
        "shared/none.html",
    ] {
        let r = client
            .get(format!("{prefix}{capability}/{missing}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{missing}");
    }

    // A capability opens its own course's files only: another SCORM course's page is not found with it.
    let other = packages::import(
        &app.app,
        &sample(ONE_FILE_PER_SCO_12),
        Some(teacher.email.clone()),
        false,
    )
    .await
    .unwrap();
    assert_eq!(other.format, "SCORM 1.2");
    let other_lesson = first_lesson(&app, &teacher, other.course_id).await;
    let other_url = other_lesson["launch_url"].as_str().unwrap();
    // A file only the other package has (the packages share their pages).
    let other_path = "adlcp_rootv1p2.xsd";
    let other_base = &other_url[..other_url.find(&launch_path_of(other_url)).unwrap()];
    assert_eq!(
        client
            .get(format!("{other_base}{other_path}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let crossed = client
        .get(format!("{prefix}{capability}/{other_path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(crossed.status(), 404, "{other_path}");

    // A student of another course gets no lesson, so no capability.
    let outsider = app.user(Role::Student).await;
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/api/lessons/{}", lesson["id"]),
            Some(&outsider.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 403);

    // The sign-in cookie reaches every port of the host; a write sent with it from the package server's
    // origin does not count, the same write from SmartCourse's own pages does.
    let complete = app.url(&format!("/api/lessons/{}/complete", lesson["id"]));
    let cookie = format!("smartcourse_token={}", student.token);
    let from_package = client
        .post(&complete)
        .header("cookie", &cookie)
        .header("origin", format!("http://127.0.0.1:{port}"))
        .send()
        .await
        .unwrap();
    assert_error(from_package, 401, "unauthorized").await;
    let sandboxed = client
        .post(&complete)
        .header("cookie", &cookie)
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_error(sandboxed, 401, "unauthorized").await;
    let from_us = client
        .post(&complete)
        .header("cookie", &cookie)
        .header("origin", app.base.clone())
        .send()
        .await
        .unwrap();
    assert!(from_us.status().is_success(), "{}", from_us.status());
}

#[tokio::test]
async fn reimporting_keeps_unchanged_files_and_deleting_the_course_removes_them() {
    let app = TestApp::spawn().await;
    let first = packages::import(&app.app, &sample(RUNTIME_2004), None, false)
        .await
        .unwrap();
    let stored = app.stored_hashes().await.len();
    let again = packages::import(&app.app, &sample(RUNTIME_2004), None, false)
        .await
        .unwrap();
    assert_eq!(again.course_id, first.course_id);
    assert!(again.updated);
    assert_eq!(again.changes.changed, 0, "{:?}", again.changes);
    assert_eq!(again.package_files, first.package_files);
    assert_eq!(first.package_files_changed, first.package_files);
    assert_eq!(again.package_files_changed, 0);
    assert_eq!(
        app.stored_hashes().await.len(),
        stored,
        "the same files are stored once"
    );

    // An admin edits the lesson's text: the page still runs from the kept files.
    let admin = app.user(Role::Admin).await;
    let lesson = first_lesson(&app, &admin, first.course_id).await;
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/lessons/{}", lesson["id"]),
            Some(&admin.token),
            Some(&serde_json::json!({"body_markdown": "Play the game, then read the rules."})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let edited = first_lesson(&app, &admin, first.course_id).await;
    assert!(
        edited["body_html"]
            .as_str()
            .unwrap()
            .contains("read the rules")
    );
    let url = edited["launch_url"].as_str().unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(client.get(url).send().await.unwrap().status(), 200);

    delete_course(&app, &admin, first.course_id).await;
    assert_eq!(package_files(&app, first.course_id).await, 0);
    // Nothing else was stored: every body and file of the course is collected.
    assert_eq!(app.stored_hashes().await.len(), 0, "of {stored}");
}

#[tokio::test]
async fn an_exported_scorm_course_imports_with_its_pages_running() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let first = packages::import(&app.app, &sample(RUNTIME_2004), None, false)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("golf.zip");
    packages::native::export(
        &app.app,
        smartcourse::accounts::Actor::System,
        first.course_id,
        &out,
    )
    .await
    .unwrap();
    let again = packages::import(&app.app, &out, None, false).await.unwrap();
    assert_ne!(again.course_id, first.course_id);
    assert_eq!(again.package_files, first.package_files);
    assert_eq!(
        crate::packages::snapshot(&app, again.course_id).await,
        crate::packages::snapshot(&app, first.course_id).await
    );
    let (a, b) = (
        first_lesson(&app, &admin, first.course_id).await,
        first_lesson(&app, &admin, again.course_id).await,
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = |v: &Value| {
        let url = v["launch_url"].as_str().unwrap().to_owned();
        let client = client.clone();
        async move {
            assert_eq!(launch_path_of(&url), "shared/launchpage.html");
            client
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    assert_eq!(page(&a).await, page(&b).await);
}

#[tokio::test]
async fn a_planted_second_sign_in_cookie_signs_nobody_in_and_is_cleared() {
    // A package page on the package server's port can set cookies for this host, which SmartCourse's port
    // receives too: one named like the sign-in cookie, with a longer path, would be sent first.
    let app = TestApp::spawn().await;
    let student = app.user(Role::Student).await;
    let author = app.user(Role::Instructor).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let me = |cookie: String| {
        let client = client.clone();
        let url = app.url("/api/users/me");
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let own = me(format!("smartcourse_token={}", student.token)).await;
    assert_eq!(own.status(), 200);
    assert!(own.headers().get("set-cookie").is_none());
    // The author's own valid token planted before the student's: neither counts.
    let planted = me(format!(
        "smartcourse_token={}; smartcourse_token={}",
        author.token, student.token
    ))
    .await;
    assert_eq!(planted.status(), 401);
    let clears: Vec<String> = planted
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    for path in ["/", "/api", "/api/users", "/api/users/me"] {
        assert!(
            clears.iter().any(|c| c.starts_with("smartcourse_token=;")
                && c.contains(&format!("Path={path};"))
                && c.contains("Max-Age=0")),
            "{path}: {clears:?}"
        );
    }
    // The web UI treats the reader as signed out too, rather than as the author.
    let page = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/my"))
        .header(
            "cookie",
            format!(
                "smartcourse_token={}; smartcourse_token={}",
                author.token, student.token
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
}

#[tokio::test]
async fn a_capability_does_not_outlive_its_course_when_the_id_is_used_again() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let first = packages::import(&app.app, &sample(RUNTIME_2004), None, false)
        .await
        .unwrap();
    let url = first_lesson(&app, &admin, first.course_id).await["launch_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    delete_course(&app, &admin, first.course_id).await;
    // The newest course's id is free again: the next course (the same package, even) gets it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = packages::import(&app.app, &sample(RUNTIME_2004), None, false)
        .await
        .unwrap();
    assert_eq!(
        second.course_id, first.course_id,
        "SQLite used the id again"
    );
    assert_error(client.get(&url).send().await.unwrap(), 403, "forbidden").await;
    let fresh = first_lesson(&app, &admin, second.course_id).await["launch_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(client.get(&fresh).send().await.unwrap().status(), 200);
}
