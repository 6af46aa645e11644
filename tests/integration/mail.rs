//! Email through a real SMTP server on loopback (aiosmtpd from PyPI, storing what it receives in a maildir),
//! and the `.eml` outbox when no server is configured.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use smartcourse::accounts::Role;

use crate::common::{TestApp, TestUser};

/// An aiosmtpd process delivering into a maildir; killed when dropped.
struct SmtpServer {
    child: Child,
    maildir: PathBuf,
}

impl SmtpServer {
    async fn start(port: u16, maildir: &Path) -> SmtpServer {
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd runs (pip install -r tests/requirements.txt)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            child,
            maildir: maildir.to_path_buf(),
        }
    }

    /// Every message received so far, as raw text.
    fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            for entry in std::fs::read_dir(self.maildir.join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn published_course(app: &TestApp) -> (TestUser, i64) {
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Mailed course").await;
    app.lesson(&owner, course, "L", "x").await;
    app.publish(&owner, course).await;
    (owner, course)
}

#[tokio::test]
async fn the_welcome_mail_arrives_with_recipient_subject_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = SmtpServer::start(port, &dir.path().join("mail")).await;
    let app = TestApp::spawn_with(|c| {
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
        c.smtp.from = "School <school@school.test>".into();
    })
    .await;
    let (_, course) = published_course(&app).await;
    let student = app.user(Role::Student).await;
    let spanish = app.user(Role::Student).await;
    let r = app
        .send(
            Method::PATCH,
            "/api/users/me",
            Some(&spanish.token),
            Some(&json!({"language": "es"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.enroll(&student, course).await;
    app.enroll(&spanish, course).await;
    app.drain_jobs().await;

    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "{mail:?}");
    let english = mail
        .iter()
        .find(|m| m.contains(&format!("To: {}", student.email)))
        .expect("mail to the student");
    assert!(
        english.contains("Subject: Welcome to Mailed course"),
        "{english}"
    );
    assert!(
        english.contains("From: School <school@school.test>"),
        "{english}"
    );
    assert!(
        english.contains("You are enrolled in Mailed course"),
        "{english}"
    );
    assert!(english.contains("/courses/"), "{english}");
    let es = mail
        .iter()
        .find(|m| m.contains(&format!("To: {}", spanish.email)))
        .expect("mail to the Spanish speaker");
    assert!(
        es.contains("Subject: Te damos la bienvenida a Mailed course"),
        "{es}"
    );
}

#[tokio::test]
async fn a_server_that_is_down_gets_the_mail_after_a_retry_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let app = TestApp::spawn_with(|c| {
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
    })
    .await;
    let (_, course) = published_course(&app).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;

    // Wait until sending has failed at least once against the closed port.
    let started = Instant::now();
    loop {
        let failures: i64 = app
            .app
            .db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM job_errors e JOIN jobs j ON j.id = e.job_id WHERE j.kind = 'mail.send'", [], |r| r.get(0))?))
            .await
            .unwrap();
        if failures > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "sending never failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let smtp = SmtpServer::start(port, &dir.path().join("mail")).await;
    app.drain_jobs().await;
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "exactly once: {mail:?}");
    assert!(mail[0].contains(&format!("To: {}", student.email)));
    // Running the job again (as after a crash) sends nothing more.
    app.app
        .db
        .write(|tx| {
            let id: i64 = tx.query_row("SELECT id FROM mail_messages", [], |r| r.get(0))?;
            smartcourse::jobs::enqueue(
                tx,
                &smartcourse::notify::mail::SendMail { message_id: id },
            )?;
            Ok(())
        })
        .await
        .unwrap();
    app.drain_jobs().await;
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn without_smtp_mail_is_kept_as_eml_files_and_users_can_opt_out() {
    let app = TestApp::spawn().await;
    let (owner, course) = published_course(&app).await;
    let keen = app.user(Role::Student).await;
    let quiet = app.user(Role::Student).await;
    let r = app
        .send(
            Method::PATCH,
            "/api/users/me",
            Some(&quiet.token),
            Some(&json!({"email_notifications": false})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.send(
            Method::PATCH,
            "/api/users/me",
            Some(&quiet.token),
            Some(&json!({"language": "x"}))
        )
        .await
        .status(),
        422
    );
    app.enroll(&keen, course).await;
    app.enroll(&quiet, course).await;
    app.drain_jobs().await;
    let outbox = app.app.data.join("outbox-mail");
    let files: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].contains(&format!("To: {}", keen.email)));
    // The opted-out student still has the in-app notification.
    let inbox: serde_json::Value = app
        .send(Method::GET, "/api/notifications", Some(&quiet.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["unread"], 1);

    // The weekly digest reaches the instructor with the week's numbers.
    app.app
        .db
        .write(|tx| {
            smartcourse::jobs::enqueue(tx, &smartcourse::notify::mail::WeeklyDigest {}).map(drop)
        })
        .await
        .unwrap();
    app.drain_jobs().await;
    let digest: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter(|m| m.contains("weekly SmartCourse digest"))
        .collect();
    assert_eq!(digest.len(), 1);
    assert!(
        digest[0].contains(&format!("To: {}", owner.email))
            && digest[0].contains("2 new student(s)"),
        "{}",
        digest[0]
    );
}
