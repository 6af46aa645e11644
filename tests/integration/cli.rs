//! The `smartcourse` executable: help, exit codes, configuration errors, the data-dir lock, signals, doctor.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn smartcourse() -> Command {
    isolated(env!("CARGO_BIN_EXE_smartcourse"))
}

/// `program` with none of the developer's SmartCourse settings and the stand-in models (it runs `smartcourse`
/// itself, or wraps it).
fn isolated(program: &str) -> Command {
    let mut c = Command::new(program);
    // The tests choose every setting; nothing leaks in from the developer's shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("SMARTCOURSE_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    // The stand-in models, unless a test asks for the real ones.
    c.env("SMARTCOURSE_MODELS_FAKE", "true");
    c
}

fn run(args: &[&str], data: &Path) -> Output {
    smartcourse()
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run smartcourse")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A `serve` child process and the URL it printed.
pub(crate) struct Server {
    pub(crate) child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut cmd = smartcourse();
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(data);
        Server::spawn(cmd)
    }

    /// Runs `cmd` (a `serve`, possibly wrapped) and waits for the URL it prints.
    fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.trim().strip_prefix("http://") {
                url = Some(format!("http://{}", u.split_whitespace().next().unwrap()));
                break;
            }
        }
        // Keep reading, as a terminal would, until the server exits.
        std::thread::spawn(move || lines.for_each(drop));
        Server {
            child,
            url: url.expect("serve printed its URL"),
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "a synchronous test polling a child process"
    )]
    pub(crate) fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < limit, "server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A status and body from a tiny blocking GET over a raw socket, so CLI tests need no async runtime.
struct Got {
    status: u16,
    body: String,
}

fn get(url: &str) -> Got {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    Got {
        status: text[9..12].parse().expect("status line"),
        body: text
            .split_once("\r\n\r\n")
            .map(|x| x.1)
            .unwrap_or("")
            .to_owned(),
    }
}

#[test]
fn help_lists_every_command() {
    let o = smartcourse().arg("--help").output().unwrap();
    assert!(o.status.success());
    let help = stdout(&o);
    for cmd in [
        "serve", "import", "export", "user", "quiz", "ask", "jobs", "models", "backup", "restore",
        "reindex", "doctor", "config",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing from --help:\n{help}"
        );
    }
    assert!(help.contains("SMARTCOURSE_DATA"));
}

#[test]
fn bad_command_lines_fail_with_a_reason() {
    let o = smartcourse().arg("frobnicate").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("frobnicate"));
    let o = smartcourse()
        .args(["serve", "--addr", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn configuration_errors_exit_non_zero_and_name_the_culprit() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("smartcourse.toml");
    std::fs::write(&cfg, "[server]\nlisten = 1\n").unwrap();
    let o = smartcourse()
        .args(["config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("listen"), "{}", stderr(&o));

    let o = smartcourse()
        .arg("config")
        .env("SMARTCOURSE_DATABASE_READERS", "lots")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("SMARTCOURSE_DATABASE_READERS"));
}

#[test]
fn config_shows_the_layers_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("smartcourse.toml");
    std::fs::write(&cfg, "[database]\nreaders = 9\nbusy_timeout_ms = 1234\n").unwrap();
    let o = smartcourse()
        .args(["config", "--data", "/srv/school", "--config"])
        .arg(&cfg)
        .env("SMARTCOURSE_DATABASE_READERS", "6")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: toml::Table = toml::from_str(
        &stdout(&o)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    assert_eq!(shown["data"].as_str(), Some("/srv/school"));
    assert_eq!(shown["database"]["readers"].as_integer(), Some(6));
    assert_eq!(
        shown["database"]["busy_timeout_ms"].as_integer(),
        Some(1234)
    );

    // Secrets are not printed.
    let o = smartcourse()
        .arg("config")
        .env("SMARTCOURSE_SMTP_PASSWORD", "hunter2-smtp")
        .env("SMARTCOURSE_ADMIN_EMAIL", "a@school.test")
        .env("SMARTCOURSE_ADMIN_PASSWORD", "hunter2-admin")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("hunter2"), "{}", stdout(&o));
}

#[test]
fn serve_answers_then_refuses_a_second_instance_and_stops_cleanly_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let r = get(&format!("{}/healthz", server.url));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(data.join("VERSION").exists());

    let o = run(&["serve", "--addr", "127.0.0.1:0"], &data);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("in use by"), "{err}");
    assert!(err.contains(&server.child.id().to_string()), "{err}");

    server.signal("-TERM");
    let status = server.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}");

    // The lock went with it: a new server starts on the same directory.
    let server = Server::start(&data);
    assert_eq!(get(&format!("{}/healthz", server.url)).status, 200);
    server.signal("-INT");
}

#[test]
fn serve_reports_a_port_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = run(&["serve", "--addr", &addr], &tmp.path().join("data"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("another program is using that port"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn doctor_passes_a_healthy_directory_and_fails_a_corrupt_database() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let o = run(&["doctor"], &data);
    assert_eq!(o.status.code(), Some(1), "doctor on nothing must fail");
    assert!(stderr(&o).contains("not a SmartCourse data directory"));

    {
        let server = Server::start(&data);
        // While the server runs, doctor still checks the database.
        let o = run(&["doctor"], &data);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("checking the database only"));
        server.signal("-TERM");
        let mut server = server;
        let status = server.wait(Duration::from_secs(30));
        assert!(status.success(), "{status}");
    }
    let o = run(&["doctor"], &data);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ok   content store"));

    // Overwrite the middle of the database file: doctor must notice and fail.
    let db = data.join("smartcourse.db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 4096, "database smaller than expected");
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(&db, bytes).unwrap();
    let o = run(&["doctor"], &data);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("FAIL database"), "{}", stdout(&o));
}

#[test]
fn reindex_ask_and_models_from_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-course");
    let o = run(&["import", demo, "--publish"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    // Off a terminal the import's progress is a line per step on stderr (as many as the polling sees).
    assert!(stderr(&o).contains("/4: "), "{}", stderr(&o));
    // Publishing indexed every lesson; a reindex finds them unchanged, --fresh embeds them again.
    let o = run(&["reindex"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("0 lesson(s) embedded"),
        "{}",
        stdout(&o)
    );
    let o = run(&["reindex", "--fresh"], &data);
    assert!(
        stdout(&o).contains("unchanged") && !stdout(&o).contains(" 0 lesson(s) embedded"),
        "{}",
        stdout(&o)
    );

    // The stand-in tutor answers from the demo course (it quotes its best source) and lists the sources.
    let o = run(
        &[
            "ask",
            "--course",
            "1",
            "How do you add fractions with the same denominator?",
        ],
        &data,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("According to source [1]") && stdout(&o).contains("Sources:"),
        "{}",
        stdout(&o)
    );
    let o = run(&["ask", "--course", "99", "Anything?"], &data);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
    let o = run(&["ask", "--course", "1", ""], &data);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("question"), "{}", stderr(&o));

    // `models` lists the manifest's models; pointed at a folder without them it says what is missing, and fails.
    let o = smartcourse()
        .args(["models", "--data"])
        .arg(&data)
        .env("SMARTCOURSE_MODELS_DIR", tmp.path().join("no-models"))
        .env("SMARTCOURSE_MODELS_FAKE", "false")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("all-minilm-l6-v2") && stdout(&o).contains("missing"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("device:"), "{}", stdout(&o));
    let o = smartcourse()
        .args(["doctor", "--data"])
        .arg(&data)
        .env("SMARTCOURSE_MODELS_DIR", tmp.path().join("no-models"))
        .env("SMARTCOURSE_MODELS_FAKE", "false")
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("WARN") && stdout(&o).contains("just models"),
        "{}",
        stdout(&o)
    );
}

fn with_stdin(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn login(url: &str, email: &str, password: &str) -> u16 {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn user_commands_work_beside_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);

    let mut add = smartcourse();
    add.args([
        "user",
        "add",
        "--email",
        "Teacher@School.test",
        "--name",
        "Tia Teacher",
        "--role",
        "instructor",
        "--password-stdin",
        "--data",
    ])
    .arg(&data);
    let o = with_stdin(add, "violet-tractor-51\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("created instructor teacher@school.test"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        login(&server.url, "teacher@school.test", "violet-tractor-51"),
        200
    );

    // The same address again, a weak password, a bad role: refused with a reason.
    let mut again = smartcourse();
    again
        .args([
            "user",
            "add",
            "--email",
            "teacher@school.test",
            "--name",
            "X",
            "--password-stdin",
            "--data",
        ])
        .arg(&data);
    let o = with_stdin(again, "another-good-one-7\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let mut weak = smartcourse();
    weak.args([
        "user",
        "add",
        "--email",
        "weak@school.test",
        "--name",
        "X",
        "--password-stdin",
        "--data",
    ])
    .arg(&data);
    let o = with_stdin(weak, "password\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("password"), "{}", stderr(&o));
    let o = run(
        &["user", "set-role", "teacher@school.test", "wizard"],
        &data,
    );
    assert_eq!(o.status.code(), Some(1));

    // No terminal and no --password-stdin: a clear refusal rather than a hang.
    let o = smartcourse()
        .args([
            "user",
            "add",
            "--email",
            "x@school.test",
            "--name",
            "X",
            "--data",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--password-stdin"), "{}", stderr(&o));

    let o = run(&["user", "list"], &data);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("teacher@school.test") && stdout(&o).contains("1 user(s)"),
        "{}",
        stdout(&o)
    );

    let o = run(&["user", "disable", "teacher@school.test"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        login(&server.url, "teacher@school.test", "violet-tractor-51"),
        401
    );
    let o = run(&["user", "enable", "teacher@school.test"], &data);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut reset = smartcourse();
    reset
        .args([
            "user",
            "reset-password",
            "teacher@school.test",
            "--password-stdin",
            "--data",
        ])
        .arg(&data);
    let o = with_stdin(reset, "a-brand-new-secret-8\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        login(&server.url, "teacher@school.test", "violet-tractor-51"),
        401
    );
    assert_eq!(
        login(&server.url, "teacher@school.test", "a-brand-new-secret-8"),
        200
    );

    let o = run(&["user", "disable", "nobody@school.test"], &data);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no user with email"), "{}", stderr(&o));
}

#[test]
fn serve_explains_how_to_make_an_admin_or_makes_one_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = smartcourse()
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.contains("No admin account yet") && seen.contains("smartcourse user add --role admin"),
        "{seen}"
    );

    let data2 = tmp.path().join("data2");
    let mut child = smartcourse()
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data2)
        .env("SMARTCOURSE_ADMIN_EMAIL", "head@school.test")
        .env("SMARTCOURSE_ADMIN_PASSWORD", "a-long-admin-secret-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = None;
    let mut seen = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("http://") {
            url = Some(format!("http://{}", u.split_whitespace().next().unwrap()));
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        seen.contains("Admin account ready: head@school.test"),
        "{seen}"
    );
    assert_eq!(
        login(&url.unwrap(), "head@school.test", "a-long-admin-secret-1"),
        200
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test timing its kills"
)]
fn jobs_and_workflows_survive_kill_9_at_any_moment() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let db_path = data.join("smartcourse.db");
    let mut server = Server::start(&data);
    let o = run(
        &["jobs", "selftest", "--jobs", "300", "--step-ms", "250"],
        &data,
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let read = || {
        rusqlite::Connection::open_with_flags(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
    };
    let progress = || -> (String, i64) {
        read()
            .query_row(
                "SELECT state, next_step FROM workflows WHERE kind = 'diag.selftest'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    let mut killed_mid_workflow = 0;
    for wait_ms in [400, 550, 300, 650] {
        std::thread::sleep(Duration::from_millis(wait_ms));
        server.child.kill().unwrap(); // SIGKILL: no shutdown code runs.
        server.child.wait().unwrap();
        let (state, next) = progress();
        if state != "completed" && next > 0 {
            killed_mid_workflow += 1;
        }
        server = Server::start(&data);
    }
    assert!(
        killed_mid_workflow >= 1,
        "no kill landed in the middle of the workflow"
    );

    let started = Instant::now();
    loop {
        let (state, _) = progress();
        let pending: i64 = read()
            .query_row(
                // The weekly digest the server schedules for later does not count.
                "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running') AND run_at <= ?1",
                [smartcourse::jobs::now_ms() + 10_000],
                |r| r.get(0),
            )
            .unwrap();
        if state == "completed" && pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "work did not finish: {state}, {pending} pending"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = read();
    let steps: Vec<(i64, i64)> = c
        .prepare(
            "SELECT step, count(*) FROM diag_marks WHERE kind = 'step' GROUP BY step ORDER BY step",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        steps,
        (0..6).map(|s| (s, 1)).collect::<Vec<_>>(),
        "a finished step ran twice or not at all"
    );
    let recorded: i64 = c
        .query_row("SELECT count(*) FROM workflow_steps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(recorded, 6);
    let (done, total): (i64, i64) = c
        .query_row(
            "SELECT sum(state = 'done'), count(*) FROM jobs WHERE kind = 'diag.noop'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((done, total), (300, 300));
    let unmarked: i64 = c
        .query_row(
            "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 299)
             SELECT count(*) FROM n WHERE NOT EXISTS (SELECT 1 FROM diag_marks WHERE kind = 'job' AND ref = n.x)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unmarked, 0, "some jobs never ran");
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    server.signal("-TERM");
    server.wait(Duration::from_secs(30));
}

#[test]
fn the_readme_documents_every_setting_and_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (key, _) in smartcourse::config::Config::keys() {
        assert!(
            readme.contains(&format!("`{key}`")),
            "README.md does not document the setting {key}"
        );
    }
    for cmd in [
        "serve",
        "user add",
        "jobs list",
        "jobs selftest",
        "quiz import-gift",
        "quiz export-gift",
        "doctor",
        "config",
    ] {
        assert!(
            readme.contains(&format!("`{cmd}")),
            "README.md does not document `{cmd}`"
        );
    }
}

#[test]
fn import_and_export_work_with_and_without_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-course");

    // No server: the command does the work itself, publishing included.
    let o = run(&["import", demo, "--publish"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported “Fractions: a first course” as course 1"),
        "{}",
        stdout(&o)
    );

    // With a server: through its control socket; the course shows up over HTTP at once.
    let mut server = Server::start(&data);
    let out = tmp.path().join("fractions.zip");
    let o = run(&["export", "1", "--out", out.to_str().unwrap()], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.exists());
    let o = run(&["import", out.to_str().unwrap()], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("as course 2"), "{}", stdout(&o));
    let catalog = get(&format!("{}/api/courses", server.url));
    assert!(
        catalog.body.contains("\"total\":1"),
        "only the published one is public: {}",
        catalog.body
    );
    // A dry run reads the package and changes nothing, even beside the running server.
    let olx = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/olx/openedx-test-course.tar.gz"
    );
    let o = run(&["import", "--dry-run", olx], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for expected in [
        "format:  Open edX OLX export (TestX/Course)",
        "title:   Open edX Test Course",
        "  1. Introduction (README)\n     1.1 README\n",
        "     2.5 Example: split_test [quiz: 3 questions]\n",
        "(dry run: nothing was changed)",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let catalog_after = get(&format!("{}/api/courses", server.url));
    assert_eq!(catalog_after.body, catalog.body);
    let elsewhere = tmp.path().join("never-created");
    let o = run(&["import", "--dry-run", olx], &elsewhere);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!elsewhere.exists(), "a dry run needs no data directory");
    let moodle = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/moodle/quiz_archiver-referencequiz-activity.mbz"
    );
    let o = run(&["import", "--dry-run", moodle], &data);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a course backup"), "{}", stderr(&o));
    let o = run(&["import", "/no/such/package"], &data);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot find"), "{}", stderr(&o));
    let o = run(&["export", "99"], &data);
    assert_eq!(o.status.code(), Some(1));
    server.signal("-TERM");
    server.wait(Duration::from_secs(30));
}

#[test]
fn serve_imports_the_demo_course_into_a_new_installation_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for round in 0..2 {
        let mut child = smartcourse()
            .args([
                "serve",
                "--demo-if-empty",
                "--addr",
                "127.0.0.1:0",
                "--data",
            ])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut seen = String::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("Press Ctrl-C") {
                break;
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        assert_eq!(
            seen.contains("Imported the demo course"),
            round == 0,
            "round {round}: {seen}"
        );
    }
}

#[test]
fn backup_while_serving_then_restore_elsewhere_and_refuse_damaged_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-course");
    let mut server = Server::start(&data);
    let o = run(&["import", demo, "--publish"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    let archive = tmp.path().join("school.backup");
    let o = run(&["backup", archive.to_str().unwrap()], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    // It holds every password hash and the signing key: its owner alone may read it, as the data directory.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&archive), 0o600);
    assert_eq!(mode(&data), 0o700);
    server.signal("-TERM");
    server.wait(Duration::from_secs(30));

    let restored = tmp.path().join("restored");
    let o = run(&["restore", archive.to_str().unwrap()], &restored);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["doctor"], &restored);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("every lesson body and attachment is stored"),
        "{}",
        stdout(&o)
    );
    let server = Server::start(&restored);
    let catalog = get(&format!("{}/api/courses", server.url));
    assert!(
        catalog.body.contains("Fractions: a first course"),
        "{}",
        catalog.body
    );
    server.signal("-TERM");

    // Restoring over existing data is refused.
    let o = run(&["restore", archive.to_str().unwrap()], &restored);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));

    // A damaged archive: change bytes in the middle of it.
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0x5a;
    }
    let damaged = tmp.path().join("damaged.backup");
    std::fs::write(&damaged, bytes).unwrap();
    let target = tmp.path().join("from-damaged");
    let o = run(&["restore", damaged.to_str().unwrap()], &target);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("damaged") || stderr(&o).contains("checksum"),
        "{}",
        stderr(&o)
    );
    assert!(
        !target.join("smartcourse.db").exists(),
        "nothing is left behind"
    );

    // Someone else's zip.
    let foreign = tmp.path().join("photos.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&foreign).unwrap());
    zip.start_file("cat.jpg", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"\xff\xd8\xff").unwrap();
    zip.finish().unwrap();
    let o = run(
        &["restore", foreign.to_str().unwrap()],
        &tmp.path().join("from-foreign"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a SmartCourse backup"),
        "{}",
        stderr(&o)
    );
}

/// `smartcourse serve` on a 20 MiB tmpfs of its own (a user and mount namespace: no root needed), of which a
/// filler file takes 10 MiB until the test touches `ctl/free`.
struct SmallDisk {
    server: Server,
    ctl: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn start() -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let (mnt, ctl) = (dir.path().join("mnt"), dir.path().join("ctl"));
        std::fs::create_dir_all(&mnt).unwrap();
        std::fs::create_dir_all(&ctl).unwrap();
        let script = format!(
            "set -e; mount -t tmpfs -o size=20m tmpfs {mnt}; dd if=/dev/zero of={mnt}/filler bs=1M count=6 2>/dev/null; \
             (while [ ! -e {ctl}/free ]; do sleep 0.05; done; rm -f {mnt}/filler; touch {ctl}/freed) & \
             exec {bin} serve --addr 127.0.0.1:0 --data {mnt}/data 2>{ctl}/serve.log",
            mnt = mnt.display(),
            ctl = ctl.display(),
            bin = env!("CARGO_BIN_EXE_smartcourse"),
        );
        let mut unshare = isolated("unshare");
        unshare
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "--fork",
                "--kill-child",
                "sh",
                "-c",
            ])
            .arg(script)
            .env("SMARTCOURSE_ADMIN_EMAIL", "head@school.test")
            .env("SMARTCOURSE_ADMIN_PASSWORD", "a-long-admin-secret-1");
        let server = Server::spawn(unshare);
        SmallDisk {
            server,
            ctl,
            _dir: dir,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "serve's log:\n{}",
                std::fs::read_to_string(self.ctl.join("serve.log")).unwrap_or_default()
            );
        }
        let _ = std::fs::write(self.ctl.join("free"), b"");
    }
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test waiting for a file the namespace writes"
)]
fn a_full_disk_answers_507_loses_nothing_and_recovers_when_space_returns() {
    let disk = SmallDisk::start();
    let url = disk.server.url.clone();
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let token: String = http
        .post(format!("{url}/api/auth/login"))
        .json(
            &serde_json::json!({"email": "head@school.test", "password": "a-long-admin-secret-1"}),
        )
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap()
    };
    let created = |r: reqwest::blocking::Response| -> i64 {
        let status = r.status();
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(status, 201, "{body}");
        // Answers come wrapped: `{"course": …}`, `{"lesson": …}`.
        body["course"]["id"]
            .as_i64()
            .or(body["lesson"]["id"].as_i64())
            .unwrap_or_else(|| panic!("{body}"))
    };
    let course = created(post(
        "/api/courses",
        serde_json::json!({"title": "Full disk"}),
    ));
    let lesson = created(post(
        &format!("/api/courses/{course}/lessons"),
        serde_json::json!({"title": "Files", "body_markdown": "x"}),
    ));
    // Files of 2 MiB (random, so nothing compresses them) until the disk is full.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut file = || -> Vec<u8> {
        let mut out = Vec::with_capacity(2 << 20);
        while out.len() < 2 << 20 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            out.extend_from_slice(&seed.to_le_bytes());
        }
        // A PDF header makes it an accepted kind.
        out[..8].copy_from_slice(b"%PDF-1.4");
        out
    };
    let upload = |bytes: Vec<u8>, n: usize| {
        let part = reqwest::blocking::multipart::Part::bytes(bytes).file_name(format!("f{n}.pdf"));
        http.post(format!("{url}/api/lessons/{lesson}/attachments"))
            .bearer_auth(&token)
            .multipart(reqwest::blocking::multipart::Form::new().part("file", part))
            .send()
            .unwrap()
    };
    let mut stored: Vec<(String, Vec<u8>)> = Vec::new();
    let mut full = None;
    for n in 0..8 {
        let bytes = file();
        let r = upload(bytes.clone(), n);
        match r.status().as_u16() {
            201 => stored.push((
                r.json::<serde_json::Value>().unwrap()["url"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                bytes,
            )),
            507 => {
                full = Some(r.json::<serde_json::Value>().unwrap());
                break;
            }
            other => panic!("upload {n}: {other} {}", r.text().unwrap_or_default()),
        }
    }
    let full = full.expect("the disk filled up");
    assert_eq!(full["error"]["code"], "storage_full", "{full}");
    assert!(
        !stored.is_empty(),
        "something fitted before the disk was full"
    );
    // Nothing stored before is lost or damaged; small writes are answered cleanly either way.
    for (u, bytes) in &stored {
        let got = http
            .get(format!("{url}{u}"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().unwrap().as_ref(), bytes.as_slice());
    }
    let r = post(
        &format!("/api/courses/{course}/modules"),
        serde_json::json!({"title": "More"}),
    );
    assert!(matches!(r.status().as_u16(), 201 | 507), "{}", r.status());

    // Space returns: the same upload now goes through.
    std::fs::write(disk.ctl.join("free"), b"").unwrap();
    let started = Instant::now();
    while !disk.ctl.join("freed").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the filler was not removed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let bytes = file();
    let r = upload(bytes.clone(), 99);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let u = r.json::<serde_json::Value>().unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = http
        .get(format!("{url}{u}"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(got.bytes().unwrap().as_ref(), bytes.as_slice());
    let health = http.get(format!("{url}/healthz")).send().unwrap();
    assert_eq!(health.status(), 200);
}

/// A server on a fixed port (it keeps its address across restarts), for the kill test.
pub(crate) fn start_on(data: &Path, port: u16) -> Server {
    let mut cmd = smartcourse();
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("SMARTCOURSE_ADMIN_EMAIL", "head@school.test")
        .env("SMARTCOURSE_ADMIN_PASSWORD", "a-long-admin-secret-1")
        .env("SMARTCOURSE_RATE_LIMIT_REGISTER_PER_CLIENT", "100000")
        .env("SMARTCOURSE_RATE_LIMIT_LOGIN_PER_CLIENT", "100000");
    Server::spawn(cmd)
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test pacing its kills"
)]
fn a_mixed_classroom_workload_survives_kill_9_with_nothing_acknowledged_lost_or_doubled() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let server = Arc::new(Mutex::new(Some(start_on(&data, port))));
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A request retried until the server answers (it may be down, or die while answering).
    let send =
        |req: &dyn Fn() -> reqwest::blocking::RequestBuilder| -> reqwest::blocking::Response {
            let started = Instant::now();
            loop {
                // 503: starting up, or an answer cut short by a restart: asked again.
                if let Ok(r) = req().send()
                    && r.status() != 503
                {
                    return r;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the server did not come back"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        };
    let login = |email: &str, password: &str| -> String {
        let body = serde_json::json!({"email": email, "password": password});
        let r = send(&|| http.post(format!("{url}/api/auth/login")).json(&body));
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let admin = login("head@school.test", "a-long-admin-secret-1");
    let course = send(&|| {
        http.post(format!("{url}/api/courses"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"title": "Survivors"}))
    })
    .json::<serde_json::Value>()
    .unwrap()["course"]["id"]
        .as_i64()
        .unwrap();
    let mut lessons = Vec::new();
    for i in 0..4 {
        let r = send(&|| {
            http.post(format!("{url}/api/courses/{course}/lessons"))
                .bearer_auth(&admin)
                .json(&serde_json::json!({"title": format!("Lesson {i}"), "body_markdown": "Water and light."}))
        });
        lessons.push(
            r.json::<serde_json::Value>().unwrap()["lesson"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // A quiz lesson (one short-answer question, made from GIFT on the Teach page), which students submit.
    let quiz = send(&|| {
        http.post(format!("{url}/api/courses/{course}/lessons"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"title": "Check", "body_markdown": "Answer the question."}))
    })
    .json::<serde_json::Value>()
    .unwrap()["lesson"]["id"]
        .as_i64()
        .unwrap();
    let r = send(&|| {
        let form = reqwest::blocking::multipart::Form::new().part(
            "gift",
            reqwest::blocking::multipart::Part::bytes(
                b"::half:: Two halves make one {=whole}".to_vec(),
            )
            .file_name("quiz.gift"),
        );
        http.post(format!("{url}/teach/lessons/{quiz}/quiz/gift"))
            .header("cookie", format!("smartcourse_token={admin}"))
            .multipart(form)
    });
    assert_eq!(r.status(), 303);
    let r = send(&|| {
        http.post(format!("{url}/api/courses/{course}/publish"))
            .bearer_auth(&admin)
    });
    assert!(r.status().is_success(), "{}", r.status());
    // Students can enrol once the publish workflow has opened the course.
    let started = Instant::now();
    loop {
        let c = send(&|| {
            http.get(format!("{url}/api/courses/{course}"))
                .bearer_auth(&admin)
        });
        let c: serde_json::Value = c.json().unwrap();
        if c["status"] == "published" || c["course"]["status"] == "published" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the course was not published"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The killer: SIGKILL at uneven moments, then a restart on the same port.
    let stop = Arc::new(AtomicBool::new(false));
    let kills = {
        let (server, stop, data) = (server.clone(), stop.clone(), data.clone());
        std::thread::spawn(move || {
            let mut kills = 0;
            for wait_ms in [350u64, 700, 250, 900, 450, 600, 300] {
                std::thread::sleep(Duration::from_millis(wait_ms));
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let mut slot = server.lock().unwrap();
                if let Some(mut s) = slot.take() {
                    s.child.kill().unwrap();
                    s.child.wait().unwrap();
                }
                kills += 1;
                *slot = Some(start_on(&data, port));
            }
            kills
        })
    };

    // The class: students register, enrol, complete lessons; the teacher uploads files and imports a course.
    let olx = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/olx/openedx-test-course.tar.gz"
    ))
    .unwrap();
    let import = send(&|| {
        let form = reqwest::blocking::multipart::Form::new().part(
            "package",
            reqwest::blocking::multipart::Part::bytes(olx.clone()).file_name("course.tar.gz"),
        );
        http.post(format!("{url}/teach/import"))
            .header("cookie", format!("smartcourse_token={admin}"))
            .multipart(form)
    });
    assert_eq!(import.status(), 303);
    let mut enrolled: Vec<(String, String)> = Vec::new(); // acknowledged: (email, token)
    let mut completed: Vec<(String, i64)> = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut submitted: Vec<(String, i64)> = Vec::new(); // acknowledged quiz submissions: (email, attempt)
    for i in 0..30 {
        let email = format!("kid{i}@school.test");
        let body = serde_json::json!({"email": email, "password": "a-good-long-password", "full_name": format!("Kid {i}")});
        // Registration may have committed before a kill cut the answer: then the account exists (409).
        let r = send(&|| http.post(format!("{url}/api/auth/register")).json(&body));
        assert!(matches!(r.status().as_u16(), 201 | 409), "{}", r.status());
        let token = login(&email, "a-good-long-password");
        let r = send(&|| {
            http.post(format!("{url}/api/courses/{course}/enroll"))
                .bearer_auth(&token)
        });
        let status = r.status();
        assert!(
            matches!(status.as_u16(), 201 | 409),
            "{status}: {}",
            r.text().unwrap_or_default()
        );
        if status == 201 {
            enrolled.push((email.clone(), token.clone()));
        }
        for lesson in lessons.iter().take(1 + i % 4) {
            let r = send(&|| {
                http.post(format!("{url}/api/lessons/{lesson}/complete"))
                    .bearer_auth(&token)
            });
            if r.status().is_success() {
                completed.push((email.clone(), *lesson));
            }
        }
        // Every other student takes the quiz: starting it (or resuming the open attempt), then submitting.
        if i % 2 == 0 && status == 201 {
            let r = send(&|| {
                http.post(format!("{url}/api/lessons/{quiz}/quiz/attempts"))
                    .bearer_auth(&token)
            });
            let view: serde_json::Value = r.json().unwrap();
            if let (Some(attempt), Some(question)) = (
                view["attempt_id"].as_i64(),
                view["quiz"]["questions"][0]["id"].as_str(),
            ) {
                let answers =
                    serde_json::json!({"answers": {question: {"type": "text", "text": "whole"}}});
                let r = send(&|| {
                    http.post(format!("{url}/api/quiz-attempts/{attempt}/submit"))
                        .bearer_auth(&token)
                        .json(&answers)
                });
                // A submission whose answer a kill cut short may have committed: asked again, it is 409.
                assert!(matches!(r.status().as_u16(), 200 | 409), "{}", r.status());
                if r.status() == 200 {
                    assert_eq!(r.json::<serde_json::Value>().unwrap()["passed"], true);
                    submitted.push((email.clone(), attempt));
                }
            }
        }
        if i % 3 == 0 {
            let bytes = format!("worksheet {i}\n").repeat(2000).into_bytes();
            let r = send(&|| {
                let part = reqwest::blocking::multipart::Part::bytes(bytes.clone())
                    .file_name(format!("w{i}.txt"));
                http.post(format!("{url}/api/lessons/{}/attachments", lessons[0]))
                    .bearer_auth(&admin)
                    .multipart(reqwest::blocking::multipart::Form::new().part("file", part))
            });
            if r.status() == 201 {
                files.push((
                    r.json::<serde_json::Value>().unwrap()["url"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    bytes,
                ));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let kills = kills.join().unwrap();
    assert!(kills >= 3, "only {kills} kills landed during the workload");
    eprintln!(
        "{kills} kills; acknowledged: {} enrollments, {} completions, {} files, {} quiz submissions",
        enrolled.len(),
        completed.len(),
        files.len(),
        submitted.len()
    );
    assert!(!submitted.is_empty(), "no quiz submission was acknowledged");

    // Let the restarted server finish what was in flight.
    let db_path = data.join("smartcourse.db");
    let read = || {
        rusqlite::Connection::open_with_flags(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
    };
    let started = Instant::now();
    loop {
        let pending: i64 = read()
            .query_row(
                "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running') AND run_at <= ?1",
                [smartcourse::jobs::now_ms() + 10_000],
                |r| r.get(0),
            )
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{pending} jobs still pending"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = read();
    // Nothing acknowledged is lost.
    for (email, _) in &enrolled {
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM enrollments e JOIN users u ON u.id = e.user_id WHERE u.email = ?1 AND e.course_id = ?2",
                rusqlite::params![email, course],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{email}'s acknowledged enrollment");
    }
    for (email, lesson) in &completed {
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM lesson_progress p JOIN users u ON u.id = p.user_id WHERE u.email = ?1 AND p.lesson_id = ?2",
                rusqlite::params![email, lesson],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{email}'s acknowledged completion of lesson {lesson}");
    }
    // An acknowledged quiz submission is kept, graded as answered, and completes the lesson; no student has
    // two submitted attempts.
    for (email, attempt) in &submitted {
        let (submitted_at, passed): (Option<String>, Option<i64>) = c
            .query_row(
                "SELECT a.submitted_at, a.passed FROM quiz_attempts a JOIN users u ON u.id = a.user_id
                 WHERE a.id = ?1 AND u.email = ?2 AND a.lesson_id = ?3",
                rusqlite::params![attempt, email, quiz],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(submitted_at.is_some(), "{email}'s acknowledged submission");
        assert_eq!(passed, Some(1), "{email}'s grade");
        let done: i64 = c
            .query_row(
                "SELECT count(*) FROM lesson_progress p JOIN users u ON u.id = p.user_id WHERE u.email = ?1 AND p.lesson_id = ?2",
                rusqlite::params![email, quiz],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(done, 1, "{email}'s passed quiz completes the lesson");
    }
    let twice: i64 = c
        .query_row(
            "SELECT count(*) FROM (SELECT user_id FROM quiz_attempts WHERE lesson_id = ?1
             AND submitted_at IS NOT NULL GROUP BY user_id HAVING count(*) > 1)",
            [quiz],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(twice, 0, "a student's one answer was submitted twice");
    for (u, bytes) in &files {
        let got = send(&|| http.get(format!("{url}{u}")).bearer_auth(&admin));
        assert_eq!(got.bytes().unwrap().as_ref(), bytes.as_slice(), "{u}");
    }
    // No side effect twice: one welcome per enrollment, one delivery per event and subscriber.
    let doubled: i64 = c
        .query_row(
            "SELECT count(*) FROM (SELECT user_id, link, count(*) AS n FROM notifications WHERE kind = 'welcome'
             GROUP BY user_id, link HAVING n > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(doubled, 0, "a welcome was sent twice");
    let welcomes: i64 = c
        .query_row(
            "SELECT count(*) FROM notifications WHERE kind = 'welcome'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let enrollments: i64 = c
        .query_row(
            "SELECT count(*) FROM enrollments WHERE course_id = ?1",
            [course],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(welcomes, enrollments, "every enrollment welcomed once");
    // The import ran to the end once: one course from the export, with its lessons.
    let imported: Vec<(i64, i64)> = c
        .prepare("SELECT id, (SELECT count(*) FROM lessons l WHERE l.course_id = c.id) FROM courses c WHERE title = 'Open edX Test Course'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // What the import workflow went through, for a failure's message.
    let import_workflow: Vec<(String, i64, Option<String>)> = c
        .prepare("SELECT state, next_step, error FROM workflows WHERE kind = 'package.import'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(imported.len(), 1, "{imported:?} {import_workflow:?}");
    assert!(imported[0].1 >= 10, "{imported:?} {import_workflow:?}");
    let state: String = c
        .query_row(
            "SELECT state FROM workflows WHERE kind = 'package.import'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "completed", "{import_workflow:?}");
    // The kept report figures agree with a recount.
    let kept =
        smartcourse::analytics::enrollments(&c, &smartcourse::accounts::Actor::System).unwrap();
    let counted =
        smartcourse::analytics::recompute(&c, &smartcourse::accounts::Actor::System).unwrap();
    assert_eq!(
        serde_json::to_value(kept).unwrap(),
        serde_json::to_value(counted).unwrap()
    );
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(c);
    // A clean stop, then the doctor's full check (database, content store, indexes).
    let mut s = server.lock().unwrap().take().unwrap();
    s.signal("-TERM");
    s.wait(Duration::from_secs(30));
    let o = run(&["doctor"], &data);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
