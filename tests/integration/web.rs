//! The web UI over plain HTTP: pages, assets and their caching, compression, and the cross-site check.

use crate::common::TestApp;
use smartcourse::accounts::Role;

#[tokio::test]
async fn pages_are_html_compressed_and_assets_cached() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["content-encoding"], "gzip");

    let css = app.url(&format!(
        "/assets/{}/app.css",
        smartcourse::web::ASSET_VERSION
    ));
    let r = app.client.get(&css).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = app
        .client
        .get(&css)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(
        app.get("/assets/0.0.1/app.js").await.status(),
        200,
        "old pages still get a script"
    );
    assert_eq!(app.get("/assets/x/../../etc/passwd").await.status(), 404);
}

#[tokio::test]
async fn missing_pages_and_missing_api_routes_answer_in_their_own_format() {
    let app = TestApp::spawn().await;
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = app.get("/api/no/such/route").await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn pages_that_need_a_login_send_to_the_login_page() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/teach", "/my", "/notifications", "/admin"] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(r.headers()["location"], "/login", "{path}");
    }
}

#[tokio::test]
async fn form_posts_from_another_site_are_refused() {
    let app = TestApp::spawn().await;
    let teacher = app.user(smartcourse::accounts::Role::Instructor).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = format!("smartcourse_token={}", teacher.token);
    let r = client
        .post(app.url("/teach/courses"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .form(&[("title", "Planted")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Another port of the same host (where course packages' pages run), or an opaque (sandboxed) page.
    let port = app.app.packages_port.get().unwrap();
    for origin in [format!("http://127.0.0.1:{port}"), "null".to_owned()] {
        let r = client
            .post(app.url("/teach/courses"))
            .header("cookie", &cookie)
            .header("origin", &origin)
            .form(&[("title", "Planted")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
    }
    // The same post from the page itself works.
    let host = app.base.trim_start_matches("http://").to_owned();
    let r = client
        .post(app.url("/teach/courses"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{host}"))
        .form(&[("title", "Mine")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page: serde_json::Value = app
        .send(
            reqwest::Method::GET,
            "/api/courses",
            Some(&teacher.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Mine"]);
}

#[tokio::test]
async fn the_students_page_charts_enrollments_for_the_owner_only() {
    let app = TestApp::spawn().await;
    let owner = app.user(smartcourse::accounts::Role::Instructor).await;
    let other = app.user(smartcourse::accounts::Role::Instructor).await;
    let course = app.course(&owner, "Charted").await;
    app.lesson(&owner, course, "L", "x").await;
    app.publish(&owner, course).await;
    for s in app.quick_students(4).await {
        app.enroll(&s, course).await;
    }
    app.drain_jobs().await;
    let page = |token: String| {
        let client = app.client.clone();
        let url = app.url(&format!("/teach/courses/{course}/students"));
        async move {
            client
                .get(url)
                .header("cookie", format!("smartcourse_token={token}"))
                .send()
                .await
                .unwrap()
        }
    };
    let r = page(owner.token.clone()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("New enrollments per day") && html.contains("<rect"),
        "{html}"
    );
    assert!(html.contains("4 enrolled"), "{html}");
    assert_eq!(
        page(other.token.clone()).await.status(),
        403,
        "another teacher may not see these students"
    );
}

#[tokio::test]
async fn instructors_import_packages_from_the_teach_page_and_students_cannot() {
    let app = TestApp::spawn().await;
    let teacher = app.user(smartcourse::accounts::Role::Instructor).await;
    let student = app.user(smartcourse::accounts::Role::Student).await;
    let cartridge = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/common-cartridge/latex.imscc"
    ))
    .unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let upload = |token: String, bytes: Vec<u8>, name: &str, publish: bool| {
        let mut form = reqwest::multipart::Form::new().part(
            "package",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
        if publish {
            form = form.text("publish", "on");
        }
        client
            .post(app.url("/teach/import"))
            .header("cookie", format!("smartcourse_token={token}"))
            .multipart(form)
            .send()
    };
    let read_page = |location: String| {
        let request = client
            .get(app.url(&location))
            .header("cookie", format!("smartcourse_token={}", teacher.token));
        async move {
            request
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .replace("&#x2f;", "/")
        }
    };
    let post = |token: String| upload(token, cartridge.clone(), "latex.imscc", true);
    let r = post(student.token.clone()).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = post(teacher.token.clone()).await.unwrap();
    assert_eq!(r.status(), 303);
    // The import runs as a workflow; the page follows it, then links the course.
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/teach/workflows/"), "{location}");
    app.drain_jobs().await;
    let status: serde_json::Value = client
        .get(app.url(&format!(
            "/api/workflows/{}/status",
            location.trim_start_matches("/teach/workflows/")
        )))
        .bearer_auth(&teacher.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "COMPLETED", "{status}");
    let id = status["course_id"].as_i64().unwrap();
    let page = read_page(location).await;
    assert!(
        page.contains(&format!("href=\"/teach/courses/{id}\" data-course-link>")),
        "{page}"
    );
    assert!(
        page.contains("IMS Common Cartridge 1.1"),
        "the report: {page}"
    );
    let course: serde_json::Value = app
        .get(&format!("/api/courses/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(course["title"], "LaTeX Equations");
    assert_eq!(course["status"], "published");
    assert_eq!(course["owner_id"], teacher.id);
    // An Open edX export (.tar.gz) through the same form.
    let olx = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/olx/openedx-test-course.tar.gz"
    ))
    .unwrap();
    let r = upload(
        teacher.token.clone(),
        olx,
        "openedx-test-course.tar.gz",
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    app.drain_jobs().await;
    let page = read_page(location).await;
    assert!(page.contains("Open edX Test Course"), "{page}");
    assert!(
        page.contains("LTI tools need the internet"),
        "the skipped items are listed: {page}"
    );
    assert!(
        !page.contains("problems are not imported"),
        "problems are imported as quizzes: {page}"
    );
    for dir in ["tmp", "imports"] {
        let left = std::fs::read_dir(app.app.data.join(dir))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(
            left, 0,
            "{dir}: neither the uploaded package nor its unpacked files are kept"
        );
    }
}

#[tokio::test]
async fn admins_see_storage_and_download_a_backup_that_restores() {
    let app = TestApp::spawn().await;
    let admin = app.user(smartcourse::accounts::Role::Admin).await;
    let teacher = app.user(smartcourse::accounts::Role::Instructor).await;
    let course = app.course(&teacher, "Kept safe").await;
    app.lesson(&teacher, course, "L", "text").await;
    let cookie = |t: &str| format!("smartcourse_token={t}");
    let page = app
        .client
        .get(app.url("/admin"))
        .header("cookie", cookie(&admin.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Storage") && page.contains("1 course ·"),
        "{page}"
    );
    // The model and search status: the stand-ins are named as such, the lesson's passage is counted once the
    // index job ran.
    app.drain_jobs().await;
    let page = app
        .client
        .get(app.url("/admin"))
        .header("cookie", cookie(&admin.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Models and search")
            && page.contains("stand-in models")
            && page.contains("fake-echo"),
        "{page}"
    );
    assert!(
        page.contains("1 passages indexed (1 in the text index)"),
        "{page}"
    );
    // No lock-out from the admin's own row: other users' rows have the role and disable forms, theirs not.
    assert!(
        page.contains(&format!("action=\"/admin/users/{}\"", teacher.id)),
        "{page}"
    );
    assert!(
        !page.contains(&format!("action=\"/admin/users/{}\"", admin.id)),
        "{page}"
    );
    // Changing a user says so on the next page.
    let r = plain_client()
        .post(app.url(&format!("/admin/users/{}", teacher.id)))
        .header("cookie", cookie(&admin.token))
        .form(&[("role", "instructor")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let flash = set_cookie(&r, "sc_flash").expect("a change to a user sets a message");
    let page = app
        .client
        .get(app.url("/admin"))
        .header(
            "cookie",
            format!("{}; sc_flash={flash}", cookie(&admin.token)),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("The account is changed."), "{page}");

    let r = app
        .client
        .post(app.url("/admin/backup"))
        .header("cookie", cookie(&teacher.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(app.url("/admin/backup"))
        .header("cookie", cookie(&admin.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".backup")
    );
    let bytes = r.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("download.backup");
    std::fs::write(&archive, &bytes).unwrap();
    let restored = dir.path().join("restored");
    smartcourse::backup::restore(&archive, &restored).unwrap();
    let conn = rusqlite::Connection::open(restored.join("smartcourse.db")).unwrap();
    let title: String = conn
        .query_row("SELECT title FROM courses", [], |r| r.get(0))
        .unwrap();
    assert_eq!(title, "Kept safe");
    assert_eq!(
        std::fs::read_dir(app.app.data.join("tmp")).unwrap().count(),
        0,
        "no copy left on the server"
    );
}

/// The Teach page's file form refuses someone who may not change the lesson before it reads the file: the
/// answer comes while the upload is still being sent, and nothing is staged. (It used to stage the whole file,
/// up to the upload limit, for any signed-in user before asking.)
#[tokio::test]
async fn a_student_posting_to_the_teach_upload_form_is_refused_before_a_byte_is_staged() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let teacher = app.user(smartcourse::accounts::Role::Instructor).await;
    let student = app.user(smartcourse::accounts::Role::Student).await;
    let course = app.course(&teacher, "Staging").await;
    let lesson = app.lesson(&teacher, course, "One", "Text.").await;
    app.publish_directly(course).await;
    app.enroll(&student, course).await;

    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let preamble = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n\
                    Content-Type: application/pdf\r\n\r\n";
    // The request says 9 MiB are coming; only the first one is sent, then the client waits for an answer.
    let declared = preamble.len() + 9 * 1024 * 1024 + "\r\n--XyZ--\r\n".len();
    let head = format!(
        "POST /teach/lessons/{lesson}/attachments HTTP/1.1\r\nHost: {}\r\nCookie: smartcourse_token={}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {declared}\r\n\r\n",
        app.base.trim_start_matches("http://"),
        student.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(preamble.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'%'; 1024 * 1024]).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut answer))
        .await
        .expect("an answer before the rest of the upload")
        .unwrap();
    let status = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(status.starts_with("HTTP/1.1 403"), "{status}");
    let staged: Vec<_> = std::fs::read_dir(app.app.data.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(staged.is_empty(), "staged: {staged:?}");
}

/// A client that does not follow redirects, so a test sees what each response sets.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value a response's `Set-Cookie` gives `name`, if it sets it.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

#[tokio::test]
async fn an_action_leaves_a_message_for_the_next_page_only_and_a_planted_one_is_not_shown() {
    let app = TestApp::spawn().await;
    let teacher = app.user(smartcourse::accounts::Role::Instructor).await;
    let student = app.user(smartcourse::accounts::Role::Student).await;
    let course = app.course(&teacher, "Rivers").await;
    app.lesson(&teacher, course, "Deltas", "Where rivers meet the sea.")
        .await;
    app.publish(&teacher, course).await;
    let client = plain_client();
    let login = format!("smartcourse_token={}", student.token);
    let r = client
        .post(app.url(&format!("/courses/{course}/enroll")))
        .header("cookie", &login)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let flash = set_cookie(&r, "sc_flash").expect("enrolling sets a message");
    let page = |cookie: String| {
        let client = client.clone();
        let url = app.url(&format!("/courses/{course}"));
        async move {
            let r = client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            let cleared = set_cookie(&r, "sc_flash");
            (cleared, r.text().await.unwrap())
        }
    };
    let (cleared, html) = page(format!("{login}; sc_flash={flash}")).await;
    assert!(html.contains("You are enrolled."), "{html}");
    assert!(
        html.contains("<div class=\"flash-region\" role=\"status\"><p class=\"flash\">"),
        "in the page's status region: {html}"
    );
    assert_eq!(
        cleared.as_deref(),
        Some(""),
        "the page that shows it removes it"
    );
    let (_, again) = page(login.clone()).await;
    assert!(!again.contains("You are enrolled."), "shown once");
    // A cookie planted by a package page (the browser sends this host's cookies to every port) is not ours.
    let (_, planted) = page(format!(
        "{login}; sc_flash=Your%20password%20expired%3A%20go%20to%20evil.example"
    ))
    .await;
    assert!(!planted.contains("evil.example"), "{planted}");

    // A course's end page is its students' own: 404 for one who is not enrolled.
    let other = app.user(smartcourse::accounts::Role::Student).await;
    let r = client
        .get(app.url(&format!("/courses/{course}/finished")))
        .header("cookie", format!("smartcourse_token={}", other.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn sign_up_errors_are_words_beside_their_field() {
    let app = TestApp::spawn().await;
    let taken = app.user(smartcourse::accounts::Role::Student).await;
    let client = plain_client();
    let post = |form: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = app.url("/register");
        async move {
            let r = client.post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = post(vec![
        ("full_name", "Ana".into()),
        ("email", "ana@school.test".into()),
        ("password", "short".into()),
    ])
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(!html.contains("password: "), "machine words: {html}");
    assert!(
        html.contains(
            "id=\"password-error\" role=\"alert\">The password must have at least 8 characters.</p>"
        ),
        "{html}"
    );
    assert!(
        html.contains("aria-invalid=\"true\" aria-describedby=\"password-error\">"),
        "the field names its error: {html}"
    );
    let (status, html) = post(vec![
        ("full_name", "Ana".into()),
        ("email", taken.email.clone()),
        ("password", "a-good-long-password".into()),
    ])
    .await;
    assert_eq!(status, 409, "{html}");
    assert!(
        html.contains("aria-describedby=\"email-error\"") && html.contains("id=\"email-error\""),
        "{html}"
    );
}

/// The visible text of an HTML page: what is outside its tags.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether `text` holds an RFC 3339 time such as `2026-11-30T17:45:46Z`.
fn has_raw_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(10).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b'T'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
            && w[5] == b':'
            && w[6].is_ascii_digit()
            && w[7].is_ascii_digit()
            && w[8] == b':'
    })
}

#[tokio::test]
async fn pages_say_times_in_words_marks_in_text_and_have_one_search_box_and_an_icon() {
    let app = TestApp::spawn().await;
    let teacher = app.user(smartcourse::accounts::Role::Instructor).await;
    let student = app.user(smartcourse::accounts::Role::Student).await;
    let course = app.course(&teacher, "Rivers").await;
    let lesson = app
        .lesson(&teacher, course, "Deltas", "Where rivers meet the sea.")
        .await;
    app.lesson(&teacher, course, "Sources", "Where rivers start.")
        .await;
    app.publish(&teacher, course).await;
    app.enroll(&student, course).await;
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/api/lessons/{lesson}/complete"),
            Some(&student.token),
            None,
        )
        .await;
    assert!(r.status().is_success());
    app.drain_jobs().await;
    let page = |path: String, token: String| {
        let client = plain_client();
        let url = app.url(&path);
        async move {
            let r = client
                .get(url)
                .header("cookie", format!("smartcourse_token={token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    // Notifications and the teacher's table of students: times in words, the exact time kept in `datetime`.
    let notes = page("/notifications".into(), student.token.clone()).await;
    assert!(notes.contains("<time datetime=\""), "{notes}");
    assert!(!has_raw_time(&visible_text(&notes)), "{notes}");
    let students = page(
        format!("/teach/courses/{course}/students"),
        teacher.token.clone(),
    )
    .await;
    assert!(!has_raw_time(&visible_text(&students)), "{students}");
    assert!(!students.contains("(s)"), "{students}");

    // The ✓ beside a completed lesson says so in words to a screen reader.
    let outline = page(format!("/courses/{course}"), student.token.clone()).await;
    assert!(
        outline.contains(
            "<span aria-hidden=\"true\">✓</span><span class=\"visually-hidden\">(completed)</span>"
        ),
        "{outline}"
    );
    assert!(outline.contains("2 lessons"), "{outline}");

    // One search box on the catalog (its own, for courses); the header's lesson search is on other pages.
    let catalog = page("/".into(), student.token.clone()).await;
    assert_eq!(catalog.matches("type=\"search\"").count(), 1, "{catalog}");
    assert!(outline.matches("type=\"search\"").count() >= 1);

    // The icon the pages name, and the one browsers ask for without being told.
    let icon = format!("/assets/{}/favicon.svg", smartcourse::web::ASSET_VERSION);
    assert!(catalog.contains(&format!("<link rel=\"icon\" href=\"{icon}\"")));
    for path in [icon.as_str(), "/favicon.ico"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{path}");
        assert!(r.text().await.unwrap().starts_with("<svg"));
    }
}

// The pages' language: the browser's `Accept-Language`, then the user's own choice, which wins.

async fn page(app: &TestApp, path: &str, lang: Option<&str>, token: Option<&str>) -> String {
    let mut r = app.client.get(app.url(path));
    if let Some(lang) = lang {
        r = r.header("accept-language", lang);
    }
    if let Some(token) = token {
        r = r.header("cookie", format!("smartcourse_token={token}"));
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_browser_that_asks_for_spanish_gets_spanish_pages() {
    let app = TestApp::spawn().await;
    let (course, _) = app.demo_course().await;

    let es = page(&app, "/", Some("es-MX,es;q=0.9,en;q=0.5"), None).await;
    assert!(es.contains("<html lang=\"es\">"), "{es}");
    assert!(
        es.contains("Buscar cursos") && es.contains("Regístrate"),
        "{es}"
    );
    assert!(
        !es.contains("Search courses") && !es.contains("Sign up"),
        "{es}"
    );
    let es = page(&app, &format!("/courses/{course}"), Some("es"), None).await;
    assert!(es.contains("Contenido") && es.contains("lecci"), "{es}");

    // English without a header, and for a language there is no catalogue for.
    for lang in [None, Some("de, ja;q=0.5")] {
        let en = page(&app, "/", lang, None).await;
        assert!(en.contains("<html lang=\"en\">") && en.contains("Search courses"));
    }
    let r = app
        .client
        .post(app.url("/login"))
        .header("accept-language", "es")
        .form(&[
            ("email", "nobody@school.test"),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let es = r.text().await.unwrap();
    assert!(
        es.contains("Correo electrónico o contraseña incorrectos."),
        "{es}"
    );
    // The error page too.
    let r = app
        .client
        .get(app.url("/courses/999999"))
        .header("accept-language", "es")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let es = r.text().await.unwrap();
    assert!(
        es.contains("<html lang=\"es\">") && es.contains("No encontrado"),
        "{es}"
    );
    let sw = page(&app, "/login", Some("sw"), None).await;
    assert!(
        sw.contains("Nenosiri") && sw.contains("<title>Ingia · SmartCourse"),
        "{sw}"
    );
}

#[tokio::test]
async fn a_users_saved_language_wins_over_the_browser() {
    let app = TestApp::spawn().await;
    let student = app.user(Role::Student).await;
    // An account made before it chose has English saved: that is a choice too.
    let en = page(&app, "/notifications", Some("es"), Some(&student.token)).await;
    assert!(en.contains("Also send them to"), "{en}");

    let r = app
        .client
        .post(app.url("/notifications/settings"))
        .header("cookie", format!("smartcourse_token={}", student.token))
        .form(&[("language", "fr"), ("email", "on")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let fr = page(&app, "/notifications", Some("es"), Some(&student.token)).await;
    assert!(fr.contains("<html lang=\"fr\">"), "{fr}");
    assert!(fr.contains("Les envoyer aussi à"), "{fr}");
    assert!(
        fr.contains("<option value=\"fr\" selected>Français"),
        "{fr}"
    );
}

#[tokio::test]
async fn registering_from_a_spanish_browser_saves_spanish() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(app.url("/register"))
        .header("accept-language", "es")
        .form(&[
            ("full_name", "Ana Pérez"),
            ("email", "ana@school.test"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = |name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .expect(name)
    };
    let (token, flash) = (cookie("smartcourse_token"), cookie("sc_flash"));
    // The welcome, and the pages after it, in Spanish with no header: the account's language is Spanish.
    let html = page(&app, "/", None, Some(&format!("{token}; sc_flash={flash}"))).await;
    assert!(html.contains("¡Bienvenido, Ana Pérez!"), "{html}");
    let html = page(&app, "/my", None, Some(&token)).await;
    assert!(
        html.contains("<html lang=\"es\">") && html.contains("Mis cursos"),
        "{html}"
    );
}
