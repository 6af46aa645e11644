//! The test harness: [`TestApp::spawn`] starts the real server on `127.0.0.1:0` with a temporary data dir.

use std::path::Path;
use std::sync::Arc;

use smartcourse::App;
use smartcourse::config::Config;
use tokio::sync::oneshot;

/// A running server with its own data directory; stopped and removed when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The server's application state, for looking behind the API.
    pub app: Arc<App>,
    /// A client with no proxy.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Dropped last, after the server released the directory.
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Starts a server with default settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after letting `tweak` change the settings.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = Self::spawn_in(&dir.path().join("data"), tweak).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on an existing (or new) data directory that the caller owns.
    pub async fn spawn_in(data: &Path, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config {
            data: data.to_path_buf(),
            ..Config::default()
        };
        config.server.addr = "127.0.0.1:0".parse().unwrap();
        tweak(&mut config);
        let app = App::open(config).expect("open app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(smartcourse::http::serve(listener, app.clone(), async {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            app,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(stop),
            server: Some(server),
            _dir: None,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Stops the server gracefully and waits for it, releasing the data directory.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts that `response` is an API error with `status` and `code`, and returns its message.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(!message.is_empty());
    message
}
