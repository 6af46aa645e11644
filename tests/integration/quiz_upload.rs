//! The GIFT upload on a quiz's teacher page is received like every other upload: streamed to the staging area
//! under its own size limit (413), stopped when it stalls (408), within the user's staging share (409), and
//! nothing is left behind or changed when it is refused.

use smartcourse::accounts::Role;

use crate::common::{TestApp, TestUser};
use crate::course_care::browser;

/// A teacher's lesson (in a draft course) to upload GIFT files to.
async fn lesson(app: &TestApp) -> (TestUser, i64) {
    let teacher = app.user(Role::Instructor).await;
    let course = app.course(&teacher, "Quizzes").await;
    let lesson = app.lesson(&teacher, course, "Check", "x").await;
    (teacher, lesson)
}

async fn post_gift(
    app: &TestApp,
    who: &TestUser,
    lesson: i64,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "gift",
        reqwest::multipart::Part::bytes(bytes).file_name("quiz.gift"),
    );
    browser()
        .post(app.url(&format!("/teach/lessons/{lesson}/quiz/gift")))
        .header("cookie", format!("smartcourse_token={}", who.token))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn has_quiz(app: &TestApp, lesson: i64) -> bool {
    app.app
        .db
        .read(move |c| smartcourse::quizzes::quiz_of(c, lesson))
        .await
        .unwrap()
        .is_some()
}

fn staging_is_empty(app: &TestApp) {
    let staging = app.app.data.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", staging.display());
}

#[tokio::test]
async fn a_gift_file_too_large_or_not_text_is_refused_and_a_good_one_is_taken() {
    let app = TestApp::spawn().await;
    let (teacher, lesson) = lesson(&app).await;
    let question = "::Sum:: What is 2 + 2? {=four ~five}\n\n";
    // Past the GIFT file's limit (and past the 2 MB form limit that used to answer 400).
    let big = question
        .repeat(smartcourse::quizzes::gift::MAX_FILE_BYTES as usize / question.len() + 1)
        .into_bytes();
    let r = post_gift(&app, &teacher, lesson, big).await;
    assert_eq!(r.status(), 413);
    let png = [
        &[0x89u8, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a][..],
        &[0u8; 64],
    ]
    .concat();
    let r = post_gift(&app, &teacher, lesson, png).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("UTF-8 text"));
    let r = post_gift(&app, &teacher, lesson, Vec::new()).await;
    assert_eq!(r.status(), 422);
    assert!(!has_quiz(&app, lesson).await);
    staging_is_empty(&app);
    assert_eq!(app.app.staging.used(teacher.id), 0);
    // 3 MB of questions: more than the old form limit, well within the file's.
    let r = post_gift(
        &app,
        &teacher,
        lesson,
        question.repeat(3_000_000 / question.len()).into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post_gift(&app, &teacher, lesson, question.as_bytes().to_vec()).await;
    assert_eq!(r.status(), 303);
    assert!(has_quiz(&app, lesson).await);
    staging_is_empty(&app);
}

#[tokio::test]
async fn a_gift_upload_past_the_users_staging_share_is_refused() {
    let app = TestApp::spawn_with(|c| c.server.max_staged_bytes_per_user = 64 * 1024).await;
    let (teacher, lesson) = lesson(&app).await;
    let r = post_gift(
        &app,
        &teacher,
        lesson,
        "// a comment line\n".repeat(8000).into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("upload"));
    assert!(!has_quiz(&app, lesson).await);
    assert_eq!(
        app.app.staging.used(teacher.id),
        0,
        "the share is given back"
    );
    staging_is_empty(&app);
}

#[tokio::test]
async fn a_gift_upload_that_stalls_is_stopped_and_leaves_nothing_behind() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|c| c.server.upload_stall_secs = 1).await;
    let (teacher, lesson) = lesson(&app).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let part = "--XB\r\nContent-Disposition: form-data; name=\"gift\"; filename=\"quiz.gift\"\r\nContent-Type: text/plain\r\n\r\n::Sum:: What is 2 + 2? {=four ~five}\n";
    let request = format!(
        "POST /teach/lessons/{lesson}/quiz/gift HTTP/1.1\r\nHost: {host}\r\nCookie: smartcourse_token={}\r\nContent-Type: multipart/form-data; boundary=XB\r\nContent-Length: 1000000\r\n\r\n{part}",
        teacher.token
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 8192];
    let n = tokio::time::timeout(std::time::Duration::from_secs(20), s.read(&mut answer))
        .await
        .expect("an answer before the test's own timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    staging_is_empty(&app);
    assert!(!has_quiz(&app, lesson).await);
}
