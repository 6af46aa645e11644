//! The web UI in a real headless Chromium (Debian's `chromium` and `chromium-driver`), driven over
//! WebDriver: a teacher builds and publishes a course, a student signs up, enrols, reads and completes it; a
//! student takes a quiz on a phone-sized screen.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use smartcourse::accounts::Role;

use crate::common::{PASSWORD, TestApp};

/// A chromedriver process, killed when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver runs (apt-get install chromium chromium-driver; .ci/run installs them)",
        );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver { child, url }
}

pub(crate) async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    session(
        driver,
        profile,
        "--window-size=1100,1400",
        serde_json::json!({}),
    )
    .await
}

/// A Chromium that shows pages as a phone of 390×844 CSS pixels does (Chromium's device emulation: the
/// viewport, the pixel ratio, touch, overlay scrollbars), for checking that pages fit a phone's width.
async fn phone(driver: &Driver, profile: &std::path::Path) -> Client {
    let emulation = serde_json::json!({
        "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0, "touch": true}}
    });
    session(driver, profile, "--window-size=390,844", emulation).await
}

/// A Chromium session with `window` (a `--window-size` argument) and `extra` Chrome options.
async fn session(
    driver: &Driver,
    profile: &std::path::Path,
    window: &str,
    extra: serde_json::Value,
) -> Client {
    let mut options = serde_json::json!({
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-quic", "--no-first-run", window,
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if let (Some(o), Some(e)) = (options.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

pub(crate) async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let page = c.source().await.unwrap_or_default();
            panic!("{css}: {e}\non {url}:\n{page}")
        }
    }
}

pub(crate) async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.send_keys(value)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

pub(crate) async fn click(c: &Client, css: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// Waits until `css` matches an element, for at most `secs`; fails with `what` and the answer box's text.
async fn wait_for(c: &Client, css: &str, secs: u64, what: &str) {
    let started = Instant::now();
    while c.find(Locator::Css(css)).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "{what}: {}",
            text(c, "[data-answer]").await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Clicks something that loads a new page, and waits until the new page has loaded.
pub(crate) async fn go(c: &Client, css: &str) {
    c.execute("window.__old_page = true;", vec![])
        .await
        .unwrap();
    click(c, css).await;
    let started = Instant::now();
    loop {
        let fresh = c
            .execute(
                "return window.__old_page === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .map(|v| v == serde_json::Value::Bool(true))
            .unwrap_or(false);
        if fresh {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "clicking {css} did not load a page"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The one-shot message the page shows after an action, read from the page's status region.
async fn flash(c: &Client) -> String {
    text(c, "[role=status] .flash").await
}

async fn shot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screens");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.png")),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
}

/// How many cues the sample SubRip file has (its timing lines).
fn srt_cues() -> usize {
    let srt = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/content/openedx-demo-video-en.srt"
    );
    std::fs::read_to_string(srt)
        .unwrap()
        .matches(" --> ")
        .count()
}

#[tokio::test]
async fn a_teacher_publishes_and_a_student_completes_a_course_in_the_browser() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let result = async {
        // The teacher logs in and builds a course.
        c.goto(&app.url("/login")).await.unwrap();
        assert_eq!(c.find(Locator::Css("html")).await.unwrap().attr("lang").await.unwrap().as_deref(), Some("en"));
        fill(&c, "#email", &teacher.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url("/teach")).await.unwrap();
        fill(&c, "#title", "Fractions <b>for all</b>").await;
        fill(&c, "#description", "Halves and quarters.").await;
        fill(&c, "#capacity", "30").await;
        go(&c, "form[action='/teach/courses'] button").await;
        assert!(text(&c, "h1").await.starts_with("Fractions <b>for all</b>"), "titles are shown as text, not markup");
        assert!(flash(&c).await.starts_with("Course created."));
        fill(&c, "#lesson_title", "Halves").await;
        go(&c, "form[action$='/lessons'] button").await;
        assert!(flash(&c).await.starts_with("Lesson added."));
        let editor = c.current_url().await.unwrap();
        assert!(editor.path().starts_with("/teach/lessons/"), "{editor}");
        fill(&c, "#body", "# Halves\n\nA half is one of **two** equal parts.\n\n<script>window.pwned = 1</script>\n").await;
        click(&c, "[data-preview-button]").await;
        c.wait().for_element(Locator::Css("#preview h1")).await.unwrap();
        go(&c, "#lesson-form button").await;
        assert_eq!(flash(&c).await, "Lesson saved.");
        let pdf = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/content/cc-viewer-sample-document.pdf");
        let pdf = std::fs::canonicalize(pdf).unwrap();
        c.find(Locator::Css("#file")).await.unwrap().send_keys(pdf.to_str().unwrap()).await.unwrap();
        go(&c, "form[enctype] button").await;
        assert!(text(&c, ".files").await.contains("cc-viewer-sample-document.pdf"));
        assert_eq!(flash(&c).await, "File attached.");
        let srt = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/content/openedx-demo-video-en.srt");
        let srt = std::fs::canonicalize(srt).unwrap();
        c.find(Locator::Css("#file")).await.unwrap().send_keys(srt.to_str().unwrap()).await.unwrap();
        go(&c, "form[enctype] button").await;
        // A file that starts like an MP4 (there is no real video among the samples): the page gives it a
        // player, and the subtitles above become its track.
        let video = profile.path().join("talk.mp4");
        std::fs::write(&video, [&[0u8, 0, 0, 0x18][..], b"ftypmp42\0\0\0\0mp42isom", &[0u8; 64]].concat()).unwrap();
        c.find(Locator::Css("#file")).await.unwrap().send_keys(video.to_str().unwrap()).await.unwrap();
        go(&c, "form[enctype] button").await;
        go(&c, ".crumbs a").await;
        go(&c, ".actions form button").await; // Publish
        // The workflow page follows the status by itself.
        let started = Instant::now();
        loop {
            if text(&c, "[data-status]").await == "completed" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "publishing did not complete in the page");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        shot(&c, "teacher-published").await;
        go(&c, "header form button").await; // Log out
        assert_eq!(flash(&c).await, "You are logged out.");

        // A student signs up, finds the course, enrols, reads and completes it.
        c.goto(&app.url("/register")).await.unwrap();
        fill(&c, "#full_name", "Sam Student").await;
        fill(&c, "#email", "sam@school.test").await;
        fill(&c, "#password", "a-good-long-password").await;
        go(&c, "form.stack button").await;
        assert!(text(&c, ".who").await.contains("Sam Student"));
        assert!(flash(&c).await.starts_with("Welcome, Sam Student!"));
        fill(&c, "#q", "fractions").await;
        go(&c, ".search button").await;
        go(&c, ".cards h2 a").await;
        go(&c, "main form button").await; // Enrol
        assert!(text(&c, "main").await.contains("0% done"));
        assert!(flash(&c).await.starts_with("You are enrolled."));
        // Once: the next page has no message.
        c.refresh().await.unwrap();
        assert!(c.find(Locator::Css(".flash")).await.is_err(), "a message shown twice");
        go(&c, "main a.button").await; // Start
        assert_eq!(text(&c, ".lesson h1").await, "Halves");
        assert!(text(&c, ".lesson .body").await.contains("A half is one of two equal parts."));
        let pwned = c.execute("return window.pwned === undefined ? null : window.pwned;", vec![]).await.unwrap();
        assert!(pwned.is_null(), "a script in the lesson ran");
        let link = c.find(Locator::Css(".files a")).await.unwrap().attr("href").await.unwrap().unwrap();
        assert!(link.starts_with("/api/attachments/"));
        // The subtitles load in the browser as a WebVTT track; the transcript shows them with times.
        let cues = c
            .execute_async(
                "const done = arguments[0]; const t = document.querySelector('.media track');
                 if (!t) { done(-1); return; }
                 t.track.mode = 'hidden';
                 const check = () => t.readyState === 2 ? done(t.track.cues.length)
                     : t.readyState === 3 ? done(-2) : setTimeout(check, 50);
                 check();",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(cues.as_i64(), Some(srt_cues() as i64), "the WebVTT track's cues in Chromium");
        assert!(text(&c, ".transcript summary").await.contains("openedx-demo-video-en.srt"));
        shot(&c, "student-lesson").await;
        go(&c, ".pager form button").await; // Mark complete
        // The course's only lesson: its end, with what to do next, not an empty page.
        assert_eq!(flash(&c).await, "Lesson marked complete.");
        assert_eq!(text(&c, "h1").await, "You finished Fractions <b>for all</b>");
        assert!(text(&c, ".finished .summary").await.starts_with("1 of 1 lesson done (100%)"));
        let next = text(&c, "main").await;
        assert!(next.contains("What next") && next.contains("Find another course in the catalog"), "{next}");
        shot(&c, "student-finished").await;
        go(&c, ".crumbs a").await;
        assert!(text(&c, "main").await.contains("100% done"));
        app.drain_jobs().await;
        c.goto(&app.url("/notifications")).await.unwrap();
        let notes = text(&c, ".notes").await;
        assert!(notes.contains("Welcome to Fractions") && notes.contains("You completed"), "{notes}");
        shot(&c, "student-notifications").await;

        // A student cannot open the teacher's pages, and an unknown page is a readable 404.
        c.goto(&app.url("/teach")).await.unwrap();
        assert_eq!(text(&c, "h1").await, "Not allowed");
        c.goto(&app.url("/no/such/page")).await.unwrap();
        assert_eq!(text(&c, "h1").await, "Not found");
    }
    .await;
    c.close().await.unwrap();
    result
}

#[tokio::test]
async fn a_student_searches_and_asks_the_tutor_in_the_browser() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let course = app.course(&teacher, "Plants").await;
    let lesson = app
        .lesson(
            &teacher,
            course,
            "Photosynthesis",
            "Green plants capture sunlight with chlorophyll and make glucose & oxygen from water and carbon dioxide.",
        )
        .await;
    app.lesson(
        &teacher,
        course,
        "Roots",
        "Roots take up water and minerals from the soil.",
    )
    .await;
    app.publish(&teacher, course).await;
    app.enroll(&student, course).await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let result = async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &student.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;

        // The search box in the header finds the lesson, with the word highlighted (on any page but the
        // catalog, which has its own search, for courses).
        c.goto(&app.url("/my")).await.unwrap();
        fill(&c, ".nav-search input", "chlorophyll\n").await;
        wait_for(&c, ".results", 20, "no search results page").await;
        assert_eq!(text(&c, ".results li a").await, "Photosynthesis");
        assert_eq!(text(&c, ".results .snippet b").await, "chlorophyll");
        shot(&c, "student-search").await;

        // The tutor page: the answer streams in, then the sources, linked to the lesson.
        c.goto(&app.url(&format!("/courses/{course}/tutor")))
            .await
            .unwrap();
        fill(
            &c,
            "textarea[name=question]",
            "How do green plants capture sunlight with chlorophyll?",
        )
        .await;
        click(&c, "form[data-tutor] button").await;
        wait_for(&c, "[data-sources] li", 30, "no sources").await;
        let answer = text(&c, "[data-text]").await;
        assert!(answer.contains("chlorophyll"), "{answer}");
        let href = c
            .find(Locator::Css("[data-sources] li a"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap();
        // The link opens the lesson at the cited passage (a text fragment of its first words).
        let href = href.unwrap();
        assert!(
            href.starts_with(&format!(
                "/lessons/{lesson}#:~:text=Green%20plants%20capture"
            )),
            "{href}"
        );

        // The same panel sits beside the lesson itself.
        c.goto(&app.url(&format!("/lessons/{lesson}")))
            .await
            .unwrap();
        fill(
            &c,
            ".tutor-panel textarea",
            "How do green plants capture sunlight with chlorophyll?",
        )
        .await;
        click(&c, ".tutor-panel button").await;
        wait_for(
            &c,
            ".tutor-panel [data-sources] li",
            30,
            "no answer beside the lesson",
        )
        .await;
        shot(&c, "student-lesson-tutor").await;
        shot(&c, "student-tutor").await;

        // The conversation was kept: reloading the page lists it and shows it.
        c.goto(&app.url(&format!("/courses/{course}/tutor")))
            .await
            .unwrap();
        go(&c, "main ul li a").await;
        let conversation = text(&c, ".conversation").await;
        assert!(
            conversation.contains("How do green plants capture sunlight")
                && conversation.contains("chlorophyll"),
            "{conversation}"
        );
    }
    .await;
    c.close().await.unwrap();
    result
}

#[tokio::test]
async fn a_teacher_imports_a_real_cartridge_and_publishes_it_with_live_progress() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples/common-cartridge/multiple-pages.imscc")
        .canonicalize()
        .unwrap();
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let result = async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &teacher.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url("/teach")).await.unwrap();
        fill(&c, "#package", package.to_str().unwrap()).await;
        go(&c, "form[action='/teach/import'] button").await;
        // The import workflow's page follows its steps, then shows the report and links the course.
        let started = Instant::now();
        loop {
            // The page reloads itself once the import ends (to show the report): read what is there now.
            let status = match c.find(Locator::Css("[data-status]")).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if status == "completed" && c.find(Locator::Css(".report")).await.is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the import did not finish in the page"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let report = text(&c, ".report").await;
        assert!(report.contains("IMS Common Cartridge 1.3"), "{report}");
        assert!(!report.contains("(s)"), "{report}");
        // The page says what happened, once, and leads to the course with a button.
        let heading = text(&c, "h1").await;
        assert!(heading.starts_with("Imported “"), "{heading}");
        assert!(c.title().await.unwrap().starts_with("Imported “"));
        let step = c.find(Locator::Css("[data-step]")).await.unwrap();
        assert!(!step.is_displayed().await.unwrap(), "completed · Completed");
        let link = c
            .find(Locator::Css("a.button[data-course-link]"))
            .await
            .unwrap();
        assert!(link.is_displayed().await.unwrap());
        shot(&c, "teacher-import-report").await;
        go(&c, "[data-course-link]").await;
        // The course page of the imported draft, with the cartridge's pages as lessons.
        let outline = text(&c, "main").await;
        assert!(outline.contains("draft"), "{outline}");
        go(&c, ".actions form button").await; // Publish
        // The workflow page follows the publish steps live until it completes.
        let started = Instant::now();
        let mut seen = Vec::new();
        loop {
            let bar = c
                .find(Locator::Css("[data-workflow] .progress"))
                .await
                .unwrap();
            let now = bar.attr("aria-valuenow").await.unwrap().unwrap_or_default();
            if seen.last() != Some(&now) {
                seen.push(now.clone());
            }
            if text(&c, "[data-status]").await == "completed" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "publishing did not finish: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let final_value = c
            .find(Locator::Css("[data-workflow] .progress"))
            .await
            .unwrap()
            .attr("aria-valuenow")
            .await
            .unwrap();
        assert_eq!(final_value.as_deref(), Some("100"), "{seen:?}");
        // The page followed it to the end: its heading too.
        assert_eq!(text(&c, "h1").await, "Published");
        shot(&c, "teacher-import-published").await;
        go(&c, ".crumbs a").await;
        assert!(!text(&c, "main").await.contains("draft"));
    }
    .await;
    c.close().await.unwrap();
    result
}

/// Runs `script` in the current frame and returns its result.
async fn run(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

#[tokio::test]
async fn a_student_plays_a_scorm_package_to_the_end_and_the_lesson_completes() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples/scorm/golf_RuntimeBasicCalls_SCORM20043rdEdition.zip");
    let report =
        smartcourse::packages::import(&app.app, &package, Some(teacher.email.clone()), false)
            .await
            .unwrap();
    app.publish(&teacher, report.course_id).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, report.course_id).await;
    // Another course the package will try to enrol the student in, with the student's cookie.
    let other = app.course(&teacher, "Putting").await;
    app.lesson(&teacher, other, "Grip", "Hold the putter lightly.")
        .await;
    app.publish(&teacher, other).await;
    let course = report.course_id;
    let lesson: i64 = app
        .app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT id FROM lessons WHERE course_id = ?1",
                [course],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &student.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/lessons/{lesson}"))).await.unwrap();
        c.find(Locator::Css("iframe.activity-frame"))
            .await
            .unwrap()
            .enter_frame()
            .await
            .unwrap();
        // The package's launch page found its SCORM API (else it says so in an alert, and the next command
        // fails) and shows the first page of the course in its own inner frame, which it can reach: the
        // package's pages share their origin.
        let started = Instant::now();
        let first = loop {
            let title = run(
                &c,
                "var f = document.getElementById('contentFrame'); \
                 return f && f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : '';",
            )
            .await;
            let title = title.as_str().unwrap_or_default().to_owned();
            if !title.trim().is_empty() {
                break title;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the package did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(first.contains("Golf"), "{first}");
        assert_eq!(
            run(&c, "return API_1484_11.GetValue('cmi.completion_status');").await,
            "incomplete",
            "the package set its status through the API"
        );
        shot(&c, "student-scorm-first-page").await;
        // Next, to the last page (the assessment): the package reports itself completed.
        for _ in 0..30 {
            if run(&c, "return document.getElementById('butNext').disabled;").await == true {
                break;
            }
            click(&c, "#butNext").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            run(&c, "return API_1484_11.GetValue('cmi.completion_status');").await,
            "completed"
        );
        // The assessment, in the inner frame, records its score through its parent page's functions.
        let started = Instant::now();
        while run(
            &c,
            "var d = document.getElementById('contentFrame').contentDocument; \
             return !!(d && d.querySelector(\"input[value='Submit Answers']\"));",
        )
        .await
            != true
        {
            assert!(started.elapsed() < Duration::from_secs(20), "no assessment");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        run(
            &c,
            "document.getElementById('contentFrame').contentDocument \
             .querySelector(\"input[value='Submit Answers']\").click(); return null;",
        )
        .await;
        // Nothing answered: a low score (the unticked true/false questions whose answer is "false" count),
        // which the package's own rule (70 to pass) calls failed.
        let score = run(&c, "return API_1484_11.GetValue('cmi.score.raw');").await;
        let score: u32 = score.as_str().unwrap().parse().unwrap();
        assert!(score < 70, "{score}");
        assert_eq!(
            run(&c, "return API_1484_11.GetValue('cmi.success_status');").await,
            "failed"
        );
        // And it cannot cross into SmartCourse: not its lesson page, not its API with the student's cookie,
        // not even to write.
        assert_eq!(
            run(&c, "try { return window.top.document.title; } catch (e) { return 'refused'; }").await,
            "refused"
        );
        let read = c
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch(arguments[0], { credentials: 'include' }) \
                   .then(r => r.text()).then(t => done('read: ' + t.slice(0, 40)), () => done('refused'));",
                vec![serde_json::json!(app.url("/api/users/me"))],
            )
            .await
            .unwrap();
        assert_eq!(read, "refused");
        let wrote = c
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch(arguments[0], { method: 'POST', mode: 'no-cors', credentials: 'include' }) \
                   .then(() => done('sent'), () => done('refused'));",
                vec![serde_json::json!(app.url(&format!("/api/courses/{other}/enroll")))],
            )
            .await
            .unwrap();
        // The package server's Content-Security-Policy keeps the request from leaving at all; were it sent
        // (an older browser), the server would not count the cookie (tests/integration/scorm.rs).
        assert_eq!(wrote, "refused");
        c.enter_parent_frame().await.unwrap();
        // The lesson view heard the package complete, and marked the lesson complete for the student.
        wait_for(&c, ".pager .done", 10, "the lesson was not marked complete").await;
        shot(&c, "student-scorm-completed").await;
    }
    .await;
    c.close().await.unwrap();
    let email = student.email.clone();
    let (done, forged): (i64, i64) = app
        .app
        .db
        .read(move |c| {
            let uid: i64 = c.query_row("SELECT id FROM users WHERE email = ?1", [&email], |r| {
                r.get(0)
            })?;
            let done = c.query_row(
                "SELECT count(*) FROM lesson_progress WHERE user_id = ?1 AND lesson_id = ?2",
                [uid, lesson],
                |r| r.get(0),
            )?;
            let forged = c.query_row(
                "SELECT count(*) FROM enrollments WHERE user_id = ?1 AND course_id = ?2",
                [uid, other],
                |r| r.get(0),
            )?;
            Ok((done, forged))
        })
        .await
        .unwrap();
    assert_eq!(done, 1, "the lesson is complete");
    assert_eq!(forged, 0, "the package's forged enrolment did not count");
}

/// "What is a third?" on the demo course: the course's own sentence (the table row with 1/3) is shown in the
/// tutor panel as evidence, linked to its lesson, before the answer that follows is written; the sources are
/// short snippets with the question's word marked. A class answer holding a formula shows as MathML, as it
/// streams in and in the kept conversation.
#[tokio::test]
async fn the_tutor_shows_the_evidence_for_what_is_a_third_on_the_demo_course() {
    let app = TestApp::spawn().await;
    let (course, student) = app.demo_course().await;
    let admin = app.user(Role::Admin).await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let result = async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &student.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/courses/{course}/tutor")))
            .await
            .unwrap();
        // Before a question, the answer box is hidden: no empty bubbles under the form.
        let answer_box = c.find(Locator::Css("[data-answer]")).await.unwrap();
        assert!(
            !answer_box.is_displayed().await.unwrap(),
            "an empty answer box shows"
        );
        fill(&c, "textarea[name=question]", "What is a third?").await;
        // What the panel shows, in the order it shows it (each change as it was made, even when several
        // come in one network read): the evidence, the answer's first words (text that is not a waiting
        // message), the sources.
        c.execute(
            "window.__shown = [];
             const box = document.querySelector('[data-answer]');
             const parts = { evidence: box.querySelector('[data-evidence-list]'),
                             answer: box.querySelector('[data-text]'),
                             sources: box.querySelector('[data-sources]') };
             const waiting = /^(…|Looking in the course|Waiting for the tutor|Writing)/;
             new MutationObserver((records) => {
               for (const r of records) {
                 for (const [what, el] of Object.entries(parts)) {
                   if (r.target !== el || r.addedNodes.length === 0) continue;
                   const t = [...r.addedNodes].map((n) => n.textContent).join('').trim();
                   if (what === 'answer' && (!t || waiting.test(t))) continue;
                   if (!window.__shown.includes(what)) window.__shown.push(what);
                 }
               }
             }).observe(box, { childList: true, subtree: true });",
            vec![],
        )
        .await
        .unwrap();
        click(&c, "form[data-tutor] button").await;
        wait_for(&c, "[data-evidence-list] li", 30, "no evidence").await;
        let evidence = text(&c, "[data-evidence-list] li").await;
        assert_eq!(
            evidence,
            "In Halves, thirds and quarters: 3 equal parts — a third — 1/3"
        );
        let link = c
            .find(Locator::Css("[data-evidence-list] li a"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(link.starts_with("/lessons/"), "{link}");
        wait_for(&c, "[data-sources] li", 30, "no answer").await;
        let shown = c.execute("return window.__shown;", vec![]).await.unwrap();
        assert_eq!(shown, serde_json::json!(["evidence", "answer", "sources"]), "the order things showed in");
        let answer = text(&c, "[data-text]").await;
        assert!(answer.contains("3 equal parts"), "{answer}");
        // The sources: a sentence or two each, the question's word marked, linked to the lesson.
        let source = text(&c, "[data-sources] li").await;
        // None of them, and none of the evidence, is the attached worksheet's answer key.
        for item in c.find_all(Locator::Css("[data-sources] li, [data-evidence-list] li")).await.unwrap() {
            let item = item.text().await.unwrap();
            assert!(item.chars().count() < 220, "a long source: {item}");
            assert!(!item.contains("Answers:"), "a worksheet's answer key in the panel: {item}");
        }
        let marked = c.find_all(Locator::Css("[data-sources] li q mark")).await.unwrap();
        assert!(!marked.is_empty(), "no marked words in {source}");
        assert_eq!(marked[0].text().await.unwrap().to_lowercase(), "third");
        let source_link = c.find(Locator::Css("[data-sources] li a")).await.unwrap();
        assert!(source_link.attr("href").await.unwrap().unwrap().starts_with("/lessons/"));
        shot(&c, "tutor-evidence").await;
        // The Stop button offered while the answer comes is gone once it is complete.
        assert!(
            !c.find(Locator::Css("[data-cancel]"))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap(),
            "the Stop button stays after the answer"
        );

        // The teacher makes the class's answer one with a formula; asked again, it shows as MathML.
        let path = format!("/api/courses/{course}/tutor/answers");
        let kept: serde_json::Value =
            app.send(reqwest::Method::GET, &path, Some(&admin.token), None).await.json().await.unwrap();
        let id = kept[0]["id"].clone();
        let r = app
            .send(
                reqwest::Method::PUT,
                &format!("{path}/{id}"),
                Some(&admin.token),
                Some(&serde_json::json!({"answer": "A third is $\\frac{1}{3}$: one of 3 equal parts.", "pinned": true})),
            )
            .await;
        assert_eq!(r.status(), 200);
        c.goto(&app.url(&format!("/courses/{course}/tutor"))).await.unwrap();
        fill(&c, "textarea[name=question]", "What is a third?").await;
        click(&c, "form[data-tutor] button").await;
        wait_for(&c, "[data-text] math mfrac", 30, "the class answer's formula is not MathML").await;
        assert_eq!(text(&c, "[data-text]").await.replace(char::is_whitespace, ""), "Athirdis13:oneof3equalparts.");
        // Set with the formula, by the same `done` event.
        let conversation = c
            .execute("return document.querySelector('form[data-tutor] input[name=conversation_id]').value;", vec![])
            .await
            .unwrap();
        let conversation = conversation.as_str().unwrap().to_owned();
        c.goto(&app.url(&format!("/courses/{course}/tutor?conversation={conversation}"))).await.unwrap();
        wait_for(&c, ".conversation .assistant math mfrac", 5, "the kept answer's formula is not MathML").await;

        // The lesson opens with its own title as a heading: the page shows it once.
        c.goto(&app.url(&link)).await.unwrap();
        let headings = c.find_all(Locator::Css("main h1")).await.unwrap();
        let mut titles = Vec::new();
        for h in headings {
            titles.push(h.text().await.unwrap());
        }
        assert_eq!(titles, ["Halves, thirds and quarters"]);
    }
    .await;
    c.close().await.unwrap();
    result
}

/// Formulas are MathML in the browser wherever lesson text shows: the editor's preview (labelled, with the
/// lesson's own styles for tables and quotes), the lesson page, and a search snippet. Code keeps its TeX, and
/// TeX holding markup runs nothing.
#[tokio::test]
async fn formulas_are_mathml_in_the_preview_the_lesson_and_a_search_snippet() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let student = app.user(Role::Student).await;
    let course = app.course(&teacher, "Cakes").await;
    let body = concat!(
        "A cake cut in two: each piece is $\\frac{1}{2}$ of the cake, and \\(f(10)\\) is pasted TeX.\n\n",
        "| pieces | each |\n|---|---|\n| 2 | a half |\n\n",
        "> Equal pieces only.\n\n",
        "Written as code: `\\(x\\)`. Not run: $\\text{<script>window.pwned = 1</script>}$\n\n",
        "A long one: $$\\frac{1}{2} + \\frac{1}{4} + \\frac{1}{8} + \\frac{1}{16} + \\frac{1}{32} + \\frac{1}{64} + \\frac{1}{128} + \\frac{1}{256} + \\frac{1}{512} + \\frac{1}{1024} + \\frac{1}{2048} + \\frac{1}{4096} + \\frac{1}{8192} + \\frac{1}{16384} + \\cdots = 1$$\n",
    );
    let lesson = app.lesson(&teacher, course, "Halves of cakes", body).await;
    app.publish(&teacher, course).await;
    app.drain_jobs().await;
    app.enroll(&student, course).await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let count = |css: &str| {
        let script = format!("return document.querySelectorAll({css:?}).length;");
        let c = &c;
        async move { c.execute(&script, vec![]).await.unwrap().as_i64().unwrap() }
    };
    let style = |css: &str, property: &str| {
        let script = format!(
            "return getComputedStyle(document.querySelector({css:?})).getPropertyValue({property:?});"
        );
        let c = &c;
        async move {
            c.execute(&script, vec![])
                .await
                .unwrap()
                .as_str()
                .unwrap_or("")
                .to_owned()
        }
    };
    async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &teacher.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/teach/lessons/{lesson}")))
            .await
            .unwrap();
        click(&c, "[data-preview-button]").await;
        c.wait()
            .for_element(Locator::Css("#preview math"))
            .await
            .unwrap();
        assert_eq!(
            count("#preview math").await,
            4,
            "{}",
            text(&c, "#preview").await
        );
        assert!(text(&c, ".preview-label").await.starts_with("Preview"));
        // Styled as the lesson page styles its text.
        assert_eq!(style("#preview td", "border-top-width").await, "1px");
        assert_eq!(
            style("#preview blockquote", "border-left-width").await,
            "4px"
        );
        go(&c, "header form button").await; // Log out

        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &student.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/lessons/{lesson}")))
            .await
            .unwrap();
        assert_eq!(count(".lesson .body math").await, 4);
        assert_eq!(count(".lesson .body math[display=block] mfrac").await, 14);
        let page = text(&c, ".lesson .body").await;
        assert!(!page.contains("\\frac") && !page.contains("\\(f"), "{page}");
        assert_eq!(text(&c, ".lesson .body code").await, "\\(x\\)");
        assert_eq!(count(".lesson .body script").await, 0);
        let pwned = c
            .execute(
                "return window.pwned === undefined ? null : window.pwned;",
                vec![],
            )
            .await
            .unwrap();
        assert!(pwned.is_null(), "a script in a formula ran");
        shot(&c, "lesson-math").await;

        c.goto(&app.url("/search?q=cake")).await.unwrap();
        wait_for(&c, ".results .snippet", 20, "no search results").await;
        assert!(
            count(".results .snippet math mfrac").await >= 1,
            "{}",
            text(&c, ".results").await
        );
    }
    .await;
    c.close().await.unwrap();

    // On a phone, the long formula scrolls in its own box; the page keeps the phone's width.
    let profile = tempfile::tempdir().unwrap();
    let c = phone(&driver, profile.path()).await;
    let result = async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &student.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/lessons/{lesson}")))
            .await
            .unwrap();
        fits_width(&c, "a lesson with a long formula").await;
        shot(&c, "phone-lesson-math").await;
    }
    .await;
    c.close().await.unwrap();
    result
}

/// Fails unless the page fits the window's width: nothing makes the page scroll sideways.
async fn fits_width(c: &Client, what: &str) {
    let w = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, inner) = (w[0].as_i64().unwrap(), w[1].as_i64().unwrap());
    // A phone widens its layout viewport to fit content wider than the screen, so a page that does not fit
    // shows as a wider window, not only as a scroll width.
    if scroll > inner || inner > 400 {
        let wide = c
            .execute(
                "return [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > 390 || e.scrollWidth > e.clientWidth + 1)
                   .slice(0, 8)
                   .map(e => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`);",
                vec![],
            )
            .await
            .unwrap();
        panic!(
            "{what} does not fit a phone: {scroll}px of content in a {inner}px window; too wide: {wide}"
        );
    }
}

#[tokio::test]
async fn a_student_fails_retries_and_passes_a_quiz_on_a_phone_and_the_teacher_sees_the_figures() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Geography").await;
    let lesson = app.lesson(&teacher, course, "Capitals", "").await;
    let gift = "::capital::What is the capital of France? {=Paris ~Lyon#Lyon is not the capital. ~Marseille}\n\n\
                ::sum::How much is 2 + 2? {#4}\n";
    app.gift_quiz(lesson, "Capitals", gift, |quiz| {
        // A long word and a wide choice must wrap, not widen the page.
        quiz.intro = format!("<p>Answer both. {}</p>", "Supercalifragilistic".repeat(5));
    })
    .await;
    app.publish_directly(course).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = phone(&driver, profile.path()).await;
    let result = async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &student.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/lessons/{lesson}")))
            .await
            .unwrap();
        fits_width(&c, "the quiz lesson").await;
        assert!(text(&c, ".pager").await.contains("Pass the quiz"));
        go(&c, ".quiz-link a.button").await; // Take the quiz
        go(&c, "main form button").await; // Start the quiz
        fits_width(&c, "the quiz's form").await;
        shot(&c, "phone-quiz-form").await;
        // Wrong answers: Lyon, and 5.
        let lyon = c
            .find(Locator::XPath("//label[contains(., 'Lyon')]/input"))
            .await
            .unwrap();
        lyon.click().await.unwrap();
        let sum = "//fieldset[.//legend[contains(., 'sum')]]//input";
        c.find(Locator::XPath(sum))
            .await
            .unwrap()
            .send_keys("5")
            .await
            .unwrap();
        go(&c, "form.quiz .actions button").await;
        let verdict = text(&c, ".result").await;
        assert!(
            verdict.starts_with("Not passed:") && verdict.contains("(0.0%)"),
            "{verdict}"
        );
        assert!(
            text(&c, "main").await.contains("Lyon is not the capital."),
            "the choice's feedback"
        );
        fits_width(&c, "the failed result").await;
        shot(&c, "phone-quiz-failed").await;

        // Try again, right this time.
        go(&c, ".pager form button").await;
        let paris = c
            .find(Locator::XPath("//label[contains(., 'Paris')]/input"))
            .await
            .unwrap();
        paris.click().await.unwrap();
        let field = c.find(Locator::XPath(sum)).await.unwrap();
        assert_eq!(
            field.prop("value").await.unwrap().as_deref(),
            Some(""),
            "a new attempt starts empty"
        );
        field.send_keys("4").await.unwrap();
        go(&c, "form.quiz .actions button").await;
        let verdict = text(&c, ".result").await;
        assert!(
            verdict.starts_with("Passed:") && verdict.contains("(100.0%)"),
            "{verdict}"
        );
        fits_width(&c, "the passed result").await;
        shot(&c, "phone-quiz-passed").await;

        // Passing completed the lesson (through the event outbox).
        app.drain_jobs().await;
        go(&c, ".pager a").await; // Back to the lesson
        let started = Instant::now();
        while !text(&c, ".pager").await.contains("Completed") {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the lesson was not completed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.refresh().await.unwrap();
        }
        click(&c, ".menu summary").await; // The phone's menu
        go(&c, ".menu form button").await; // Log out

        // The teacher, on the same phone: the figures of both attempts.
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &teacher.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/teach/lessons/{lesson}/quiz")))
            .await
            .unwrap();
        let rows: Vec<String> = {
            let mut out = Vec::new();
            for r in c
                .find_all(Locator::Css("table.figures tbody tr"))
                .await
                .unwrap()
            {
                out.push(r.text().await.unwrap());
            }
            out
        };
        assert!(
            rows[0].contains("capital")
                && rows[0].contains("1 of 2")
                && rows[0].contains("Lyon (1)"),
            "{rows:?}"
        );
        assert!(
            rows[1].contains("sum") && rows[1].contains("1 of 2") && rows[1].contains("5 (1)"),
            "{rows:?}"
        );
        assert!(
            text(&c, "main")
                .await
                .contains("2 attempts by 1 student; 1 passed.")
        );
        fits_width(&c, "the teacher's quiz page").await;
        shot(&c, "phone-quiz-teacher").await;
    }
    .await;
    c.close().await.unwrap();
    result
}

/// A hint on a phone: the button saves what was typed and shows the hint under the question; Enter in a field
/// still submits the answers (the form's first button is a hidden submit, not the first question's hint).
#[tokio::test]
async fn a_student_shows_a_hint_and_enter_still_submits_the_quiz() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Arithmetic").await;
    let lesson = app.lesson(&teacher, course, "Sums", "").await;
    let gift = "::sum::How much is 2 + 2? {#4}\n\n::capital::What is the capital of France? {=Paris ~Lyon}\n";
    app.gift_quiz(lesson, "Sums", gift, |quiz| {
        quiz.questions[0].hints = vec!["Count on your fingers.".into(), "Two pairs.".into()];
    })
    .await;
    app.publish_directly(course).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = phone(&driver, profile.path()).await;
    let result = async {
        c.goto(&app.url("/login")).await.unwrap();
        fill(&c, "#email", &student.email).await;
        fill(&c, "#password", PASSWORD).await;
        go(&c, "form.stack button").await;
        c.goto(&app.url(&format!("/lessons/{lesson}/quiz")))
            .await
            .unwrap();
        go(&c, "main form button").await; // Start the quiz
        let sum = "//fieldset[.//legend[contains(., 'sum')]]//input";
        c.find(Locator::XPath(sum))
            .await
            .unwrap()
            .send_keys("4")
            .await
            .unwrap();
        assert!(!text(&c, "main").await.contains("Count on your fingers."));
        go(&c, "fieldset button[name=hint]").await;
        let main = text(&c, "main").await;
        assert!(main.contains("Count on your fingers."), "{main}");
        assert!(main.contains("Show a hint (2 of 2)"), "{main}");
        fits_width(&c, "the quiz with a hint").await;
        let field = c.find(Locator::XPath(sum)).await.unwrap();
        assert_eq!(
            field.prop("value").await.unwrap().as_deref(),
            Some("4"),
            "the typed answer survives the hint"
        );
        // Enter in the field submits the answers (and asks for no second hint).
        c.execute("window.__old_page = true;", vec![])
            .await
            .unwrap();
        field.send_keys("\u{E007}").await.unwrap();
        let started = Instant::now();
        while c.find(Locator::Css(".result")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "Enter did not submit: {}",
                text(&c, "main").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let verdict = text(&c, ".result").await;
        assert!(verdict.contains("(50.0%)"), "the sum is right: {verdict}");
    }
    .await;
    c.close().await.unwrap();
    let results: serde_json::Value = app
        .send(
            reqwest::Method::GET,
            &format!("/api/lessons/{lesson}/quiz/results"),
            Some(&teacher.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        results["attempts"][0]["hints_used"], 1,
        "Enter asked for no hint: {results}"
    );
    result
}

/// Signs `email` in through the login form.
async fn sign_in(c: &Client, app: &TestApp, email: &str) {
    c.goto(&app.url("/login")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    go(c, "form.stack button").await;
}

/// The size of the first element matching `css`, in CSS pixels.
async fn size(c: &Client, css: &str) -> (f64, f64) {
    let r = c
        .execute(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.width, r.height];",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    (r[0].as_f64().unwrap(), r[1].as_f64().unwrap())
}

/// A course's enrollments per day as the analytics keep them: `days` days up to today, `n(i)` on day `i`.
async fn enrollment_history(app: &TestApp, course: i64, days: i64, n: fn(i64) -> i64) {
    app.app
        .db
        .write(move |tx| {
            tx.execute("DELETE FROM course_stats_daily WHERE course_id = ?1", [course])?;
            let today = time::OffsetDateTime::now_utc().date();
            for i in 0..days {
                let day = today - time::Duration::days(days - 1 - i);
                tx.execute(
                    "INSERT INTO course_stats_daily (course_id, day, enrollments) VALUES (?1, ?2, ?3)",
                    rusqlite::params![course, day.to_string(), n(i)],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// The students chart: the same box on a course's first day (one enrollment) as over a whole term, with a
/// table of the figures under it.
#[tokio::test]
async fn the_students_chart_keeps_its_size_from_the_first_day_to_a_term() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Weather").await;
    app.lesson(&teacher, course, "Clouds", "Water in the air.")
        .await;
    app.publish(&teacher, course).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    app.drain_jobs().await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let result = async {
        sign_in(&c, &app, &teacher.email).await;
        let page = app.url(&format!("/teach/courses/{course}/students"));
        c.goto(&page).await.unwrap();
        // Day 1: one bar, short, in a chart of stated size (600 × 220 at most).
        let (w, h) = size(&c, "figure.chart svg").await;
        assert!(w <= 600.5 && (150.0..=220.5).contains(&h), "day 1: {w}×{h}");
        assert_eq!(
            c.find_all(Locator::Css("figure.chart rect"))
                .await
                .unwrap()
                .len(),
            1
        );
        let (_, bar) = size(&c, "figure.chart rect").await;
        assert!(
            bar <= h / 4.0,
            "one enrollment is a short bar: {bar}px of {h}px"
        );
        let rows = c
            .find_all(Locator::Css(".chart-table tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].text().await.unwrap().ends_with(" 1"));
        shot(&c, "teacher-chart-day-1").await;

        // A term: 90 days of figures, up to 40 a day (none on three of them).
        let per_day = |i: i64| (i * 7) % 41;
        enrollment_history(&app, course, 90, per_day).await;
        let days_with_enrollments = (0..90).filter(|i| per_day(*i) > 0).count();
        c.goto(&page).await.unwrap();
        let (w, h) = size(&c, "figure.chart svg").await;
        assert!(
            w <= 600.5 && (150.0..=220.5).contains(&h),
            "90 days: {w}×{h}"
        );
        let bars = c
            .find_all(Locator::Css("figure.chart rect"))
            .await
            .unwrap()
            .len();
        assert_eq!(
            bars, days_with_enrollments,
            "a bar for every day with enrollments"
        );
        let ticks = text(&c, "figure.chart svg").await;
        assert!(
            ticks.contains("40"),
            "the y axis reaches the largest day: {ticks}"
        );
        assert_eq!(
            c.find_all(Locator::Css(".chart-table tbody tr"))
                .await
                .unwrap()
                .len(),
            days_with_enrollments
        );
        shot(&c, "teacher-chart-term").await;
    }
    .await;
    c.close().await.unwrap();
    result
}

/// Every control on the page that is shorter than 44 CSS pixels (links inside running text excepted, as
/// WCAG 2.5.5 does), described for the failure message.
async fn small_targets(c: &Client) -> Vec<String> {
    let found = c
        .execute(
            "const small = [];
             for (const e of document.querySelectorAll('header a, header button, header input, header summary, main a, main button, main input, main select, main textarea, main summary')) {
               const r = e.getBoundingClientRect();
               if (r.width === 0 && r.height === 0) continue; // not shown
               if (e.type === 'hidden') continue;
               if (e.matches('a:not(.button)') && e.closest('p:not(.crumbs), small, .body, figcaption, td')) continue;
               if (e.matches('input[type=checkbox], input[type=radio]')) {
                 const label = e.closest('label');
                 if (label && label.getBoundingClientRect().height >= 43.5) continue;
               }
               if (r.height < 43.5) small.push(`${e.tagName.toLowerCase()} '${(e.textContent || e.name || '').trim().slice(0, 30)}' ${Math.round(r.height)}px`);
             }
             return small;",
            vec![],
        )
        .await
        .unwrap();
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// A 390 × 844 phone: a one-row header with a menu, controls big enough for a finger, and the tutor's box in
/// the body's font.
#[tokio::test]
async fn on_a_phone_the_header_is_one_row_and_every_control_fits_a_finger() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Weather").await;
    let first = app
        .lesson(&teacher, course, "Clouds", "Water in the air.")
        .await;
    let last = app
        .lesson(&teacher, course, "Rain", "Water from the clouds.")
        .await;
    app.publish(&teacher, course).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    app.drain_jobs().await; // The welcome notification.
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = phone(&driver, profile.path()).await;
    let result = async {
        sign_in(&c, &app, &student.email).await;
        for path in [
            "/".to_owned(),
            format!("/courses/{course}"),
            format!("/lessons/{first}"),
            format!("/lessons/{last}"),
            "/notifications".to_owned(),
        ] {
            c.goto(&app.url(&path)).await.unwrap();
            let (_, header) = size(&c, "header.top").await;
            assert!(header <= 64.0, "{path}: the header is {header}px tall");
            let small = small_targets(&c).await;
            assert!(small.is_empty(), "{path}: too small to tap: {small:?}");
            fits_width(&c, &path).await;
        }
        // On the notifications page (the last above), times are words, made local by the page's script.
        let when = run(
            &c,
            "const t = document.querySelector('.notes time[data-local]'); return [t.textContent, t.title];",
        )
        .await;
        assert_eq!(when[0], "just now", "{when}");
        let title = when[1].as_str().unwrap();
        assert!(!title.is_empty() && !title.ends_with("UTC"), "the local time: {title}");
        // The menu opens in place and holds the links, each big enough.
        c.goto(&app.url(&format!("/lessons/{first}"))).await.unwrap();
        let body_font = run(&c, "return getComputedStyle(document.body).fontFamily;").await;
        let tutor_font = run(
            &c,
            "return getComputedStyle(document.querySelector('form[data-tutor] textarea')).fontFamily;",
        )
        .await;
        assert_eq!(tutor_font, body_font, "the tutor's box");
        shot(&c, "phone-lesson").await;
        click(&c, ".menu summary").await;
        let small = small_targets(&c).await;
        assert!(small.is_empty(), "the open menu: {small:?}");
        let my = c.find(Locator::Css(".menu a[href='/my']")).await.unwrap();
        assert!(my.is_displayed().await.unwrap());
        shot(&c, "phone-menu").await;
        go(&c, ".menu a[href='/my']").await;
        assert_eq!(text(&c, "h1").await, "My courses");
    }
    .await;
    c.close().await.unwrap();
    result
}

/// The README's screenshots (`just screenshots`): the demo course's lesson on a desktop and a phone, the tutor
/// panel while a question waits for the model, and the students chart over a month. Ignored: pictures, not a
/// check, and kept out of `just test`'s time.
#[tokio::test]
#[ignore = "run by `just screenshots`"]
async fn screenshots_for_the_readme() {
    let dir = std::env::var_os("SMARTCOURSE_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    let save = |c: &Client, name: &'static str| {
        let path = dir.join(format!("{name}.png"));
        let c = c.clone();
        async move { std::fs::write(&path, c.screenshot().await.unwrap()).unwrap() }
    };
    let app = TestApp::spawn().await;
    let (course, student) = app.demo_course().await;
    let lesson: i64 = app
        .app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT l.id FROM lessons l JOIN modules m ON m.id = l.module_id WHERE l.course_id = ?1
                 ORDER BY m.position, l.position LIMIT 1 OFFSET 1",
                [course],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let desktop = session(
        &driver,
        profile.path(),
        "--window-size=1280,900",
        serde_json::json!({}),
    )
    .await;
    sign_in(&desktop, &app, &student.email).await;
    desktop
        .goto(&app.url(&format!("/lessons/{lesson}")))
        .await
        .unwrap();
    save(&desktop, "lesson-desktop").await;
    // Waiting for the tutor: the page's own panel, given the events a busy model sends first (two questions
    // ahead), with no answer after them.
    run(
        &desktop,
        "const real = window.fetch;
         window.fetch = (url, opts) => {
           if (!String(url).endsWith('/api/ai/ask')) return real(url, opts);
           const events = 'event: status\\ndata: {\"state\":\"waiting\"}\\n\\nevent: queue\\ndata: {\"ahead\":2}\\n\\n';
           const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(events)); } });
           return Promise.resolve(new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }));
         };
         return null;",
    )
    .await;
    fill(
        &desktop,
        ".tutor-panel textarea",
        "Is a half always bigger than a third?",
    )
    .await;
    click(&desktop, ".tutor-panel button").await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    run(
        &desktop,
        "document.querySelector('.tutor-panel').scrollIntoView(); return null;",
    )
    .await;
    save(&desktop, "tutor-waiting").await;
    desktop.close().await.unwrap();

    let profile = tempfile::tempdir().unwrap();
    let c = phone(&driver, profile.path()).await;
    sign_in(&c, &app, &student.email).await;
    c.goto(&app.url(&format!("/lessons/{lesson}")))
        .await
        .unwrap();
    save(&c, "lesson-phone").await;
    c.close().await.unwrap();

    // A month of enrollments, seen by an admin.
    enrollment_history(&app, course, 30, |i| {
        [2, 5, 3, 0, 1, 7, 4][i as usize % 7] + i / 6
    })
    .await;
    let admin = app.user(Role::Admin).await;
    let profile = tempfile::tempdir().unwrap();
    let c = session(
        &driver,
        profile.path(),
        "--window-size=1280,900",
        serde_json::json!({}),
    )
    .await;
    sign_in(&c, &app, &admin.email).await;
    c.goto(&app.url(&format!("/teach/courses/{course}/students")))
        .await
        .unwrap();
    run(
        &c,
        "document.querySelector('figure.chart').scrollIntoView(); return null;",
    )
    .await;
    save(&c, "students-chart").await;
    c.close().await.unwrap();
}

/// Chromium set to Spanish (its `intl.accept_languages`, which it sends as `Accept-Language`) gets Spanish
/// pages, before and after signing up, and the account keeps the language.
#[tokio::test]
async fn a_browser_set_to_spanish_gets_spanish_pages() {
    let app = TestApp::spawn().await;
    let (course, _) = app.demo_course().await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let prefs = serde_json::json!({"prefs": {"intl.accept_languages": "es-ES,es"}});
    let c = session(&driver, profile.path(), "--window-size=1100,1400", prefs).await;

    c.goto(&app.url("/")).await.unwrap();
    let lang = run(&c, "return document.documentElement.lang").await;
    assert_eq!(lang, "es");
    assert_eq!(text(&c, "h1").await, "Cursos");
    assert_eq!(text(&c, "label[for=q]").await, "Buscar cursos");
    // The words app.js writes itself.
    let waiting = run(
        &c,
        "return t('Waiting for the tutor: {n} questions ahead…', 3)",
    )
    .await;
    assert_eq!(waiting, "Esperando al tutor: 3 preguntas antes…");

    c.goto(&app.url("/register")).await.unwrap();
    assert_eq!(text(&c, "label[for=full_name]").await, "Nombre completo");
    fill(&c, "#full_name", "Ana Pérez").await;
    fill(&c, "#email", "ana@school.test").await;
    fill(&c, "#password", PASSWORD).await;
    go(&c, "form.stack button").await;
    c.goto(&app.url(&format!("/courses/{course}")))
        .await
        .unwrap();
    assert_eq!(text(&c, "form[action$=enroll] button").await, "Inscribirme");
    assert!(text(&c, "h2").await.contains("Contenido"));
    let user: String = app
        .app
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT language FROM users WHERE email = 'ana@school.test'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(user, "es");
    c.close().await.unwrap();
}

/// The quiz editor in a real browser: a teacher picks a kind, writes a numeric question, is shown the mistake
/// under its field with what they typed kept, fixes it, and moves the new question to the top.
#[tokio::test]
async fn a_teacher_adds_a_numeric_question_and_fixes_a_mistake_in_the_browser() {
    let app = TestApp::spawn().await;
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Maths").await;
    let lesson = app.lesson(&teacher, course, "Sums", "").await;
    app.gift_quiz(lesson, "Sums", "::sum::How much is 2 + 2? {#4}\n", |_| {})
        .await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    async {
        sign_in(&c, &app, &teacher.email).await;
        c.goto(&app.url(&format!("/teach/lessons/{lesson}/quiz")))
            .await
            .unwrap();
        c.find(Locator::Css("#new-kind"))
            .await
            .unwrap()
            .select_by_value("numeric")
            .await
            .unwrap();
        go(&c, "form[action$='/questions/new'] button").await;
        fill(&c, "#prompt", "How much is 10 / 4?").await;
        fill(&c, "#answers", "two and a half").await;
        go(&c, "main form.stack .actions button").await;
        assert!(
            text(&c, "#answers-error").await.contains("is not a number"),
            "the mistake under its field"
        );
        shot(&c, "quiz-editor-mistake").await;
        let answers = c.find(Locator::Css("#answers")).await.unwrap();
        assert_eq!(
            answers.prop("value").await.unwrap().unwrap(),
            "two and a half"
        );
        assert_eq!(
            c.find(Locator::Css("#prompt"))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap()
                .unwrap(),
            "How much is 10 / 4?"
        );
        answers.clear().await.unwrap();
        answers.send_keys("2.5 ± 0.01").await.unwrap();
        go(&c, "main form.stack .actions button").await;
        assert_eq!(flash(&c).await, "Question added.");
        assert!(
            text(&c, "#question-2")
                .await
                .contains("How much is 10 / 4?")
        );
        shot(&c, "quiz-editor-page").await;
        go(&c, "#question-2 .move button").await; // ↑
        assert!(
            text(&c, "#question-1")
                .await
                .contains("How much is 10 / 4?")
        );
    }
    .await;
    c.close().await.unwrap();
    let quiz = app
        .app
        .db
        .read(move |c| smartcourse::quizzes::quiz_of(c, lesson))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(quiz.questions[0].prompt, "How much is 10 / 4?");
}
