//! `smartcourse user ...`: account management from the terminal. Works while the server runs (it only
//! touches SQLite, which is safe to share).

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use super::UserCommand;
use crate::accounts::{self, Actor, NewUser, Role};
use crate::app::DB_FILE;
use crate::config::Config;
use crate::datadir::DataDir;
use crate::db::Db;

pub fn run(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let data = DataDir::open_shared(&config.data)?;
    let db = Db::open(&data.join(DB_FILE), &config.database)?;
    runtime.block_on(execute(db, command))
}

async fn execute(db: Db, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            email,
            name,
            role,
            password_stdin,
        } => {
            let role: Role = role.parse()?;
            let password = read_password(password_stdin)?;
            let input = NewUser {
                email,
                password,
                full_name: name,
            };
            let prepared = crate::blocking(move || accounts::prepare(&input)).await?;
            let user = db
                .write(move |tx| accounts::create_user(tx, &Actor::System, prepared, role))
                .await?;
            println!("created {} {} (id {})", user.role, user.email, user.id);
        }
        UserCommand::List => {
            let (users, total) = db
                .read(|c| accounts::list_users(c, &Actor::System, None, i64::MAX, 0))
                .await?;
            println!(
                "{:>5}  {:<32} {:<10} {:<8} {:<20}  name",
                "id", "email", "role", "status", "created"
            );
            for u in &users {
                println!(
                    "{:>5}  {:<32} {:<10} {:<8} {:<20}  {}",
                    u.id,
                    u.email,
                    u.role,
                    if u.disabled { "disabled" } else { "active" },
                    u.created_at,
                    u.full_name
                );
            }
            println!("{total} user(s)");
        }
        UserCommand::SetRole { email, role } => {
            let role: Role = role.parse()?;
            let user = update(&db, email, Some(role), None).await?;
            println!("{} is now {}", user.email, user.role);
        }
        UserCommand::Disable { email } => {
            let user = update(&db, email, None, Some(true)).await?;
            println!("{} is disabled; their sessions have ended", user.email);
        }
        UserCommand::Enable { email } => {
            let user = update(&db, email, None, Some(false)).await?;
            println!("{} is enabled again", user.email);
        }
        UserCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let lookup = email.clone();
            let user = db
                .read(move |c| accounts::find_by_email(c, &Actor::System, &lookup))
                .await
                .with_context(|| format!("no user with email {email}"))?;
            let policy_email = user.email.clone();
            let hash = crate::blocking(move || {
                accounts::password::check_policy(&password, &policy_email)?;
                accounts::password::hash(&password)
            })
            .await?;
            db.write(move |tx| accounts::reset_password(tx, &Actor::System, user.id, &hash))
                .await?;
            println!("password of {email} changed; their sessions have ended");
        }
    }
    Ok(())
}

async fn update(
    db: &Db,
    email: String,
    role: Option<Role>,
    disabled: Option<bool>,
) -> anyhow::Result<accounts::User> {
    let lookup = email.clone();
    let user = db
        .write(move |tx| {
            let user = accounts::find_by_email(tx, &Actor::System, &lookup)?;
            accounts::update_user(tx, &Actor::System, user.id, role, disabled)
        })
        .await
        .map_err(|e| match e {
            crate::Error::NotFound => anyhow::anyhow!("no user with email {email}"),
            other => other.into(),
        })?;
    Ok(user)
}

/// The password from one line of stdin, or asked twice at the terminal without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on; pass it with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
