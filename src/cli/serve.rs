//! `smartcourse serve`

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;

use crate::App;
use crate::accounts::{self, Actor, NewUser, Role};
use crate::config::Config;

pub fn run(config: Config, demo_if_empty: bool) -> anyhow::Result<()> {
    super::init_logging(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = config.server.addr;
        let shutdown = crate::http::shutdown_signal();
        let app = App::open(config)?;
        if let Some(note) = bootstrap_admin(&app).await? {
            say(&note);
        }
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                "; another program is using that port: stop it or choose another with --addr"
            } else {
                ""
            };
            anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
        })?;
        let bound = listener.local_addr()?;
        let packages = crate::http::bind_packages(&app, bound.ip()).await?;
        let packages_port = packages.local_addr()?.port();
        tracing::info!(data = %app.data.path().display(), addr = %bound, "SmartCourse is ready");
        let mut banner = format!(
            "SmartCourse {} is running. Open it in a browser:\n",
            env!("CARGO_PKG_VERSION")
        );
        for url in urls(bound) {
            banner.push_str(&format!("  {url}\n"));
        }
        if let Some(lan) = urls(bound)
            .into_iter()
            .find(|u| u.contains("classroom network"))
        {
            let address = lan.split_whitespace().next().unwrap_or("").to_owned();
            if let Ok(code) = qrcode::QrCode::new(address.as_bytes()) {
                banner.push_str(&format!("Students can scan this to open {address}:\n"));
                banner.push_str(
                    &code
                        .render::<qrcode::render::unicode::Dense1x2>()
                        .quiet_zone(true)
                        .build(),
                );
                banner.push('\n');
            }
        }
        banner.push_str(&format!(
            "Course package pages (SCORM) are served on port {packages_port}: where a firewall runs, open it too.\n"
        ));
        banner.push_str(&format!(
            "Data directory: {}\nPress Ctrl-C to stop.\n",
            app.data.path().display()
        ));
        let background = crate::server::Background::start(&app).await?;
        if demo_if_empty && let Some(id) = super::packages::demo_if_empty(&app).await? {
            say(&format!(
                "Imported the demo course (course {id}) and queued it for publishing.\n"
            ));
        }
        say(&banner);
        crate::server::serve(listener, packages, app.clone(), shutdown).await?;
        background.stop(&app).await;
        app.db.checkpoint().await?;
        say("SmartCourse stopped.\n");
        Ok(())
    })
}

/// Makes sure someone can administer the installation: creates the admin from `admin.*` settings when there
/// is no active admin, or returns instructions for creating one.
async fn bootstrap_admin(app: &App) -> anyhow::Result<Option<String>> {
    let admins = app.db.read(accounts::count_admins).await?;
    if admins > 0 {
        return Ok(None);
    }
    let wanted = &app.config.admin;
    if wanted.email.is_empty() {
        return Ok(Some(
            "No admin account yet. Create one (this works while the server runs):\n  \
             smartcourse user add --role admin --email you@school.example --name \"Your Name\"\n\
             or set SMARTCOURSE_ADMIN_EMAIL and SMARTCOURSE_ADMIN_PASSWORD before starting.\n"
                .into(),
        ));
    }
    let input = NewUser {
        email: wanted.email.clone(),
        password: wanted.password.clone(),
        full_name: if wanted.name.trim().is_empty() {
            "Administrator".into()
        } else {
            wanted.name.clone()
        },
    };
    let prepared = crate::blocking(move || accounts::prepare(&input))
        .await
        .context("the admin account from admin.email / admin.password")?;
    let email = wanted.email.clone();
    let user = app
        .db
        .write(move |tx| {
            match accounts::create_user(tx, &Actor::System, prepared, Role::Admin) {
                // The address already has an account: make it the admin.
                Err(crate::Error::Conflict {
                    code: "email_taken",
                    ..
                }) => {
                    let existing = accounts::find_by_email(tx, &Actor::System, &email)?;
                    accounts::update_user(
                        tx,
                        &Actor::System,
                        existing.id,
                        Some(Role::Admin),
                        Some(false),
                    )
                }
                other => other,
            }
        })
        .await?;
    tracing::info!(
        user.id = user.id,
        "admin account set up from the configuration"
    );
    Ok(Some(format!("Admin account ready: {}\n", user.email)))
}

/// Prints to stdout, ignoring a closed stdout: a server started with its output discarded must not die.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The addresses people can type to reach a server bound to `bound`: loopback and every LAN address when it
/// listens on all interfaces, or just the one address otherwise.
fn urls(bound: SocketAddr) -> Vec<String> {
    let port = bound.port();
    if !bound.ip().is_unspecified() {
        return vec![format!("http://{}", bound)];
    }
    let mut urls = vec![format!("http://127.0.0.1:{port}  (this computer)")];
    let want_v6 = bound.is_ipv6();
    let mut lan: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && (ip.is_ipv4() || want_v6))
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .collect();
    lan.sort();
    lan.dedup();
    for ip in lan {
        let host = SocketAddr::new(ip, port);
        urls.push(format!("http://{host}  (classroom network)"));
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_printed_alone() {
        assert_eq!(
            urls("192.168.1.5:8000".parse().unwrap()),
            vec!["http://192.168.1.5:8000"]
        );
    }

    #[test]
    fn all_interfaces_lists_loopback_first() {
        let u = urls("0.0.0.0:8123".parse().unwrap());
        assert!(u[0].starts_with("http://127.0.0.1:8123"));
        assert!(u.iter().all(|u| u.contains(":8123")));
    }
}
