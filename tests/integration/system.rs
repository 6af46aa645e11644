//! Health, metrics, the OpenAPI document, error shapes and request ids.

use std::collections::HashSet;

use crate::common::{TestApp, assert_error};

#[tokio::test]
async fn healthz_reports_ok_and_version() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn healthz_is_503_when_storage_is_broken() {
    let app = TestApp::spawn().await;
    // Replace the schema the health check reads with something that is not a table.
    app.app
        .db
        .write(|tx| {
            tx.execute_batch("DROP TABLE schema_migrations")?;
            Ok(())
        })
        .await
        .unwrap();
    assert_error(app.get("/healthz").await, 503, "unavailable").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    let msg = assert_error(app.get("/api/no/such/thing").await, 404, "not_found").await;
    assert!(msg.contains("/api/no/such/thing"), "{msg}");
    let r = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_error(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn every_response_carries_a_distinct_request_id() {
    let app = TestApp::spawn().await;
    let mut ids = HashSet::new();
    for path in ["/healthz", "/healthz", "/nope", "/api/openapi.json"] {
        let r = app.get(path).await;
        let id = r
            .headers()
            .get("x-request-id")
            .expect("x-request-id header")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ids.insert(id), "request ids repeat");
    }
    // An id sent by a client is kept, so a proxy's id can be followed through the logs.
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "from-client-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "from-client-42");
}

/// Reads one sample's value from the metrics text.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_per_route_template_and_time_them() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
    for path in ["/x/1", "/x/2"] {
        assert_eq!(app.get(path).await.status(), 404);
    }
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"smartcourse_http_requests_total{method="GET",route="/healthz",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    // Unknown paths share one series instead of one per path.
    assert_eq!(
        sample(
            &text,
            r#"smartcourse_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"smartcourse_http_request_duration_seconds_count{method="GET",route="/healthz"}"#
        ),
        Some(3.0),
        "{text}"
    );
    let sum = sample(
        &text,
        r#"smartcourse_http_request_duration_seconds_sum{method="GET",route="/healthz"}"#,
    )
    .unwrap();
    assert!(sum > 0.0);
    assert!(text.contains("smartcourse_build_info"));
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn two_servers_in_one_process_count_separately() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn().await;
    a.get("/healthz").await;
    let text = b.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains(r#"route="/healthz""#), "{text}");
}

#[tokio::test]
async fn openapi_document_describes_every_route_and_validates() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/openapi.json").await;
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for path in ["/healthz", "/metrics", "/api/openapi.json"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    // Validate with an independent implementation of the OpenAPI schema.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("python3 runs (install tests/requirements.txt)");
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_second_app_on_the_same_data_dir_is_refused_until_the_first_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = TestApp::spawn_in(&data, |_| {}).await;
    let mut config = smartcourse::config::Config {
        data: data.clone(),
        ..Default::default()
    };
    config.server.addr = "127.0.0.1:0".parse().unwrap();
    let err = smartcourse::App::open(config).err().expect("refused");
    assert!(format!("{err:#}").contains("in use by"), "{err:#}");

    // What the first wrote survives its graceful stop, and the directory is free again.
    first
        .app
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO app_meta (key, value) VALUES ('probe', 'kept')",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(first.get("/healthz").await.status(), 200);
    first.stop().await;

    let second = TestApp::spawn_in(&data, |_| {}).await;
    let v: String = second
        .app
        .db
        .read(|c| {
            Ok(
                c.query_row("SELECT value FROM app_meta WHERE key = 'probe'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .unwrap();
    assert_eq!(v, "kept");
}

/// A router with one handler that takes `delay` to answer, served with `grace`; returns its address, a
/// trigger for shutdown and the server task.
async fn slow_server(
    delay: std::time::Duration,
    grace: std::time::Duration,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let router = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || async move {
            tokio::time::sleep(delay).await;
            "finished"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(smartcourse::http::serve_router(
        listener,
        router,
        grace,
        async {
            let _ = stopped.await;
        },
    ));
    (base, stop, task)
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_and_refuses_new_ones() {
    let (base, stop, task) = slow_server(
        std::time::Duration::from_millis(400),
        std::time::Duration::from_secs(30),
    )
    .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/slow");
        async move { client.get(url).send().await?.text().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    assert_eq!(in_flight.await.unwrap().unwrap(), "finished");
    task.await.unwrap().unwrap();
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(fresh.get(format!("{base}/slow")).send().await.is_err());
}

#[tokio::test]
async fn shutdown_stops_waiting_after_the_grace_period() {
    let (base, stop, task) = slow_server(
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_millis(200),
    )
    .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let hung = tokio::spawn(async move { client.get(format!("{base}/slow")).send().await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    // Without the grace limit this would wait for the hour-long handler.
    tokio::time::timeout(std::time::Duration::from_secs(60), task)
        .await
        .expect("server stopped after its grace period")
        .unwrap()
        .unwrap();
    hung.abort();
}
