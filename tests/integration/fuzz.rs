//! Schemathesis (PyPI) against `/api/openapi.json`, as a student, an instructor and an admin: generated requests for every
//! operation, checking that nothing answers 5xx and that every response (status, content type, headers,
//! body) matches the document. The number of examples is bounded so CI stays quick.

use smartcourse::accounts::Role;

use crate::common::TestApp;

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";

#[tokio::test]
async fn the_api_survives_schemathesis_as_every_kind_of_user() {
    let app = TestApp::spawn().await;
    app.expect_failed_jobs();
    // Something to find: the demo course, published, with a student enrolled.
    let report = smartcourse::packages::import(
        &app.app,
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-course")),
        None,
        true,
    )
    .await
    .unwrap();
    app.drain_jobs().await;
    let admin = app.user(Role::Admin).await;
    let student = app.user(Role::Student).await;
    let teacher = app.user(Role::Instructor).await;
    app.enroll(&student, report.course_id).await;

    // The student first: the admin run may disable or demote users.
    for (who, token) in [
        ("student", student.token.clone()),
        ("instructor", teacher.token.clone()),
        ("admin", admin.token.clone()),
    ] {
        let schema = app.url("/api/openapi.json");
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("schemathesis")
                .args([
                    "run",
                    &schema,
                    "--max-examples",
                    "15",
                    "--seed",
                    "20261126",
                    "--checks",
                    CHECKS,
                ])
                // Logging out would end the session the rest of the run uses.
                .args(["--exclude-path", "/api/auth/logout", "--no-color"])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .output()
                .expect("schemathesis runs (pip install -r tests/requirements.txt)")
        })
        .await
        .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "schemathesis as {who} found problems:\n{text}"
        );
        assert!(
            text.contains("Tested: "),
            "schemathesis as {who} tested nothing:\n{text}"
        );
    }
}
