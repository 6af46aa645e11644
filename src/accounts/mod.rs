//! Accounts: users, roles, passwords, tokens, and who may do what.
//!
//! Access checks live here, in the domain functions, so that the HTTP API, the CLI and jobs share them. A
//! caller is an [`Actor`]: a signed-in [`CurrentUser`] or the [`Actor::System`] (the CLI run by whoever owns
//! the machine, and background jobs).

mod extract;
pub mod password;
pub mod policy;
pub mod reset;
pub mod routes;
mod store;
pub mod token;

use std::fmt;
use std::str::FromStr;

use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
pub use extract::{Auth, MaybeAuth};
pub use store::count_admins;
use token::{AUDIENCE, Claims, TokenKeys};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Enrols in courses and learns.
    Student,
    /// Builds and runs courses.
    Instructor,
    /// Manages users and the installation.
    Admin,
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Instructor => "instructor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "student" => Ok(Role::Student),
            "instructor" => Ok(Role::Instructor),
            "admin" => Ok(Role::Admin),
            _ => Err(Error::invalid(
                "role",
                "the role must be student, instructor or admin",
            )),
        }
    }
}

/// A user as shown to clients.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    /// Email address, lower-cased; the login.
    pub email: String,
    pub full_name: String,
    pub role: Role,
    /// Whether the account is disabled (cannot log in, tokens refused).
    pub disabled: bool,
    /// When the account was created (RFC 3339).
    pub created_at: String,
    /// Language for pages (`en`, `es`, `fr`, `pt`, `sw`) and email (`en`, `es`); others fall back to English.
    pub language: String,
    /// Whether the user gets email (in-app notifications always arrive).
    pub email_notifications: bool,
}

/// The signed-in user making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    /// User id.
    pub id: i64,
    /// Role at the time of the request.
    pub role: Role,
    /// The token's id (for logout).
    pub jti: String,
    /// The token's expiry, Unix seconds (for logout).
    pub exp: i64,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The machine's owner at the command line, or a background job.
    System,
    /// A signed-in user.
    User(CurrentUser),
}

impl Actor {
    /// Whether the actor has admin rights (the system always does).
    pub fn is_admin(&self) -> bool {
        match self {
            Actor::System => true,
            Actor::User(u) => u.role == Role::Admin,
        }
    }

    /// Whose workflows the actor may follow: all for admins and the system, else their own.
    pub fn viewer(&self) -> crate::jobs::workflow::Viewer {
        use crate::jobs::workflow::Viewer;
        match self {
            Actor::User(u) if u.role != Role::Admin => Viewer::Owner(u.id),
            _ => Viewer::All,
        }
    }

    /// Fails with `Forbidden` unless the actor is an admin.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    /// The user id, if a user.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Actor::System => None,
            Actor::User(u) => Some(u.id),
        }
    }
}

/// Input of [`register`] and [`create_user`].
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewUser {
    /// Email address (the login).
    #[schema(max_length = 254, pattern = "^[^@\\s]+@[^@\\s]+$")]
    pub email: String,
    /// Password: 8 to 128 characters, not one of the most common.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub full_name: String,
}

/// Normalises and checks an email address: trimmed, lower-cased, one `@` with something on each side.
/// School networks often use local domains, so a dot in the domain is not required.
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(e)
    } else {
        Err(Error::invalid("email", "this is not a valid email address"))
    }
}

fn normalize_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(Error::invalid(
            "full_name",
            "the name must have 1 to 100 characters",
        ));
    }
    Ok(n.to_owned())
}

/// A validated new account with its password already hashed (hashing is slow: do it before taking the
/// database writer).
pub struct PreparedUser {
    email: String,
    full_name: String,
    password_hash: String,
}

/// Validates `input` and hashes its password. Call on a blocking thread.
pub fn prepare(input: &NewUser) -> Result<PreparedUser> {
    let email = normalize_email(&input.email)?;
    let full_name = normalize_name(&input.full_name)?;
    password::check_policy(&input.password, &email)?;
    Ok(PreparedUser {
        password_hash: password::hash(&input.password)?,
        email,
        full_name,
    })
}

/// Self-registration: always a student. 409 `email_taken` if the address has an account.
pub fn register(tx: &Transaction, user: PreparedUser) -> Result<User> {
    let user = store::insert(tx, &user, Role::Student)?;
    crate::events::emit(
        tx,
        &crate::events::Event::UserRegistered { user_id: user.id },
    )?;
    Ok(user)
}

/// Creates a user with any role: admins (and the system) only.
pub fn create_user(
    tx: &Transaction,
    actor: &Actor,
    user: PreparedUser,
    role: Role,
) -> Result<User> {
    actor.require_admin()?;
    store::insert(tx, &user, role)
}

/// Checks an email and password. Unknown email, wrong password and disabled account all give the same
/// `Unauthorized` after the same amount of hashing work, so the answer reveals nothing about which.
/// Hashes on the calling thread while holding `conn`: for tests and tools; the server uses [`login`].
pub fn authenticate(conn: &Connection, email: &str, password: &str) -> Result<User> {
    check_password(
        store::credentials(conn, &email.trim().to_lowercase())?,
        password,
    )
}

/// Checks `password` against stored credentials (user and hash), spending the same argon2 work when there are
/// none. CPU-bound (tens of milliseconds): call on a blocking thread, holding no connection.
pub fn check_password(credentials: Option<(User, String)>, password: &str) -> Result<User> {
    match credentials {
        Some((user, hash)) => {
            if password::verify(password, &hash) && !user.disabled {
                Ok(user)
            } else {
                Err(Error::Unauthorized)
            }
        }
        None => {
            password::verify_dummy(password);
            Err(Error::Unauthorized)
        }
    }
}

/// How long an attempt on an account that many addresses are trying waits before its password is checked.
const LOGIN_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// The limits on a login attempt for `email` from `client`: refused (429) past the per-address limits (all
/// accounts from one address, one account from one address); slowed by [`LOGIN_BACKOFF`] when the account
/// is tried from many addresses at once. The account is never locked for everyone: its owner, from their own
/// machine, still gets in, a little later, while someone else guesses.
pub async fn login_allowed(app: &crate::App, email: &str, client: std::net::IpAddr) -> Result<()> {
    let email = email.trim().to_lowercase();
    app.limits.login_client.check(&client.to_string())?;
    app.limits
        .login_account
        .check(&format!("{email}|{client}"))?;
    if app.limits.login_account_any.check(&email).is_err() {
        tokio::time::sleep(LOGIN_BACKOFF).await;
    }
    Ok(())
}

/// Signs a user in: reads their credentials, verifies the password on a blocking thread with no database
/// connection held (four logins at once must not take the four reader connections every request's
/// authentication needs), then issues a token that lives `ttl_secs`.
pub async fn login(
    app: &crate::App,
    email: &str,
    password: String,
    ttl_secs: i64,
) -> Result<(User, IssuedToken)> {
    let email = email.trim().to_lowercase();
    let credentials = app.db.read(move |c| store::credentials(c, &email)).await?;
    let user = crate::blocking(move || check_password(credentials, &password)).await?;
    let keys = app.tokens.clone();
    let signed = user.clone();
    let issued = app
        .db
        .read(move |c| issue_token(c, &keys, &signed, ttl_secs))
        .await?;
    Ok((user, issued))
}

/// An issued token and its lifetime.
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// Signs a token for `user`.
pub fn issue_token(
    conn: &Connection,
    keys: &TokenKeys,
    user: &User,
    ttl_secs: i64,
) -> Result<IssuedToken> {
    let ver = store::token_version(conn, user.id)?.ok_or(Error::Unauthorized)?;
    let now = crate::util::unix_now();
    let claims = Claims {
        sub: user.id.to_string(),
        aud: AUDIENCE.to_owned(),
        iat: now,
        exp: now + ttl_secs,
        jti: token::new_jti(),
        ver,
    };
    Ok(IssuedToken {
        token: keys.issue(&claims)?,
        expires_in: ttl_secs,
    })
}

/// Checks a token end to end: signature, algorithm, audience, expiry, then that the user exists, is not
/// disabled, the token's version is current and the token was not logged out.
pub fn check_token(conn: &Connection, keys: &TokenKeys, token: &str) -> Result<CurrentUser> {
    let claims = keys.verify(token)?;
    let id: i64 = claims.sub.parse().map_err(|_| Error::Unauthorized)?;
    let (role, version, disabled) = store::auth_state(conn, id)?.ok_or(Error::Unauthorized)?;
    if disabled || version != claims.ver || store::is_revoked(conn, &claims.jti)? {
        return Err(Error::Unauthorized);
    }
    Ok(CurrentUser {
        id,
        role,
        jti: claims.jti,
        exp: claims.exp,
    })
}

/// Revokes the caller's token (logout).
pub fn logout(tx: &Transaction, user: &CurrentUser) -> Result<()> {
    store::revoke(tx, &user.jti, user.exp)
}

/// The caller's own account.
pub fn me(conn: &Connection, actor: &Actor) -> Result<User> {
    let id = actor.user_id().ok_or(Error::NotFound)?;
    store::by_id(conn, id)?.ok_or(Error::NotFound)
}

/// Changes the caller's own preferences: message language and whether to get email.
pub fn set_preferences(
    tx: &Transaction,
    actor: &Actor,
    language: Option<&str>,
    email_notifications: Option<bool>,
) -> Result<User> {
    let id = actor.user_id().ok_or(Error::NotFound)?;
    if let Some(l) = language
        && !(2..=8).contains(&l.len())
    {
        return Err(Error::invalid(
            "language",
            "a language is a code such as en or es",
        ));
    }
    store::set_preferences(tx, id, language, email_notifications)?;
    store::by_id(tx, id)?.ok_or(Error::NotFound)
}

/// A page of users, newest first, optionally filtered by a text in the email or name. Admins only.
pub fn list_users(
    conn: &Connection,
    actor: &Actor,
    q: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64)> {
    actor.require_admin()?;
    store::list(conn, q, limit, offset)
}

/// A user by id (admins only).
pub fn user(conn: &Connection, actor: &Actor, id: i64) -> Result<Option<User>> {
    actor.require_admin()?;
    store::by_id(conn, id)
}

/// Finds a user by email (admins only).
pub fn find_by_email(conn: &Connection, actor: &Actor, email: &str) -> Result<User> {
    actor.require_admin()?;
    store::by_email(conn, &email.trim().to_lowercase())?.ok_or(Error::NotFound)
}

/// Changes a user's role and/or disabled flag (admins only). Refuses to leave the installation without an
/// active admin, and an admin's change of their own role or their own disabling (409 `cannot_change_self`). Disabling or re-enabling bumps the token version, so existing tokens die at once.
pub fn update_user(
    tx: &Transaction,
    actor: &Actor,
    id: i64,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<User> {
    actor.require_admin()?;
    let current = store::by_id(tx, id)?.ok_or(Error::NotFound)?;
    let loses_admin = current.role == Role::Admin
        && !current.disabled
        && (role.is_some_and(|r| r != Role::Admin) || disabled == Some(true));
    if loses_admin && store::count_admins(tx)? <= 1 {
        return Err(Error::conflict(
            "last_admin",
            "this is the only active admin; make another admin first",
        ));
    }
    // An admin who demotes or disables themself locks themself out mid-task; another admin must do it.
    if actor.user_id() == Some(id)
        && (role.is_some_and(|r| r != current.role) || disabled == Some(true))
    {
        return Err(Error::conflict(
            "cannot_change_self",
            "you cannot change your own role or disable yourself; ask another admin",
        ));
    }
    if let Some(role) = role {
        store::set_role(tx, id, role)?;
    }
    if let Some(disabled) = disabled
        && disabled != current.disabled
    {
        store::set_disabled(tx, id, disabled)?;
    }
    store::by_id(tx, id)?.ok_or(Error::NotFound)
}

/// Sets a new password (admins, or the system). Existing tokens of the user stop working.
pub fn reset_password(tx: &Transaction, actor: &Actor, id: i64, password_hash: &str) -> Result<()> {
    actor.require_admin()?;
    store::set_password(tx, id, password_hash)
}

/// Removes revocation entries of tokens that have expired anyway.
pub fn prune_revoked(tx: &Transaction) -> Result<usize> {
    store::prune_revoked(tx, crate::util::unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(email: &str) -> PreparedUser {
        prepare(&NewUser {
            email: email.into(),
            password: "violet-tractor-51".into(),
            full_name: "Ana Lima".into(),
        })
        .unwrap()
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ana@School.Test ").unwrap(),
            "ana@school.test"
        );
        assert_eq!(normalize_email("teacher@school").unwrap(), "teacher@school");
        for bad in ["", "ana", "@school", "ana@", "a@b@c", "a b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn register_makes_students_and_refuses_duplicates_in_any_case() {
        let mut c = crate::db::memory().unwrap();
        let tx = c.transaction().unwrap();
        let u = register(&tx, prepared("ana@school.test")).unwrap();
        assert_eq!(u.role, Role::Student);
        let e = register(&tx, prepared("ANA@school.test")).unwrap_err();
        assert_eq!(e.code(), "email_taken");
    }

    #[test]
    fn only_admins_manage_users() {
        let mut c = crate::db::memory().unwrap();
        let tx = c.transaction().unwrap();
        let student = Actor::User(CurrentUser {
            id: 1,
            role: Role::Student,
            jti: String::new(),
            exp: 0,
        });
        let teacher = Actor::User(CurrentUser {
            id: 1,
            role: Role::Instructor,
            jti: String::new(),
            exp: 0,
        });
        for who in [&student, &teacher] {
            assert_eq!(
                create_user(&tx, who, prepared("x@y"), Role::Admin)
                    .unwrap_err()
                    .code(),
                "forbidden"
            );
            assert_eq!(
                list_users(&tx, who, None, 10, 0).unwrap_err().code(),
                "forbidden"
            );
            assert_eq!(
                update_user(&tx, who, 1, Some(Role::Admin), None)
                    .unwrap_err()
                    .code(),
                "forbidden"
            );
        }
    }

    #[test]
    fn the_last_admin_cannot_be_demoted_or_disabled() {
        let mut c = crate::db::memory().unwrap();
        let tx = c.transaction().unwrap();
        let admin = create_user(&tx, &Actor::System, prepared("root@school"), Role::Admin).unwrap();
        let e = update_user(&tx, &Actor::System, admin.id, Some(Role::Student), None).unwrap_err();
        assert_eq!(e.code(), "last_admin");
        let e = update_user(&tx, &Actor::System, admin.id, None, Some(true)).unwrap_err();
        assert_eq!(e.code(), "last_admin");
        let other = create_user(&tx, &Actor::System, prepared("two@school"), Role::Admin).unwrap();
        update_user(&tx, &Actor::System, admin.id, None, Some(true)).unwrap();
        // Now `other` is the last active one.
        assert!(update_user(&tx, &Actor::System, other.id, Some(Role::Student), None).is_err());
    }

    #[test]
    fn an_admin_cannot_demote_or_disable_themself() {
        let mut c = crate::db::memory().unwrap();
        let tx = c.transaction().unwrap();
        let one = create_user(&tx, &Actor::System, prepared("one@school"), Role::Admin).unwrap();
        let two = create_user(&tx, &Actor::System, prepared("two@school"), Role::Admin).unwrap();
        let me = Actor::User(CurrentUser {
            id: one.id,
            role: Role::Admin,
            jti: "t".into(),
            exp: i64::MAX,
        });
        for (role, disabled) in [(Some(Role::Student), None), (None, Some(true))] {
            let e = update_user(&tx, &me, one.id, role, disabled).unwrap_err();
            assert_eq!(e.code(), "cannot_change_self");
        }
        // Keeping their own role is no change; another admin may be changed.
        update_user(&tx, &me, one.id, Some(Role::Admin), Some(false)).unwrap();
        let changed = update_user(&tx, &me, two.id, Some(Role::Instructor), None).unwrap();
        assert_eq!(changed.role, Role::Instructor);
    }

    #[test]
    fn authenticate_refuses_wrong_password_unknown_email_and_disabled_alike() {
        let mut c = crate::db::memory().unwrap();
        let tx = c.transaction().unwrap();
        let u = register(&tx, prepared("ana@school.test")).unwrap();
        assert_eq!(
            authenticate(&tx, "ANA@school.test", "violet-tractor-51")
                .unwrap()
                .id,
            u.id
        );
        assert_eq!(
            authenticate(&tx, "ana@school.test", "wrong-password-1")
                .unwrap_err()
                .code(),
            "unauthorized"
        );
        assert_eq!(
            authenticate(&tx, "bob@school.test", "violet-tractor-51")
                .unwrap_err()
                .code(),
            "unauthorized"
        );
        create_user(&tx, &Actor::System, prepared("root@school"), Role::Admin).unwrap();
        update_user(&tx, &Actor::System, u.id, None, Some(true)).unwrap();
        assert_eq!(
            authenticate(&tx, "ana@school.test", "violet-tractor-51")
                .unwrap_err()
                .code(),
            "unauthorized"
        );
    }

    #[test]
    fn tokens_die_on_disable_and_logout() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let mut c = crate::db::memory().unwrap();
        let tx = c.transaction().unwrap();
        create_user(&tx, &Actor::System, prepared("root@school"), Role::Admin).unwrap();
        let u = register(&tx, prepared("ana@school.test")).unwrap();
        let t1 = issue_token(&tx, &keys, &u, 600).unwrap().token;
        let t2 = issue_token(&tx, &keys, &u, 600).unwrap().token;
        let me = check_token(&tx, &keys, &t1).unwrap();
        logout(&tx, &me).unwrap();
        assert!(check_token(&tx, &keys, &t1).is_err(), "logged out");
        assert!(
            check_token(&tx, &keys, &t2).is_ok(),
            "other sessions live on"
        );
        update_user(&tx, &Actor::System, u.id, None, Some(true)).unwrap();
        assert!(check_token(&tx, &keys, &t2).is_err(), "disabled");
        update_user(&tx, &Actor::System, u.id, None, Some(false)).unwrap();
        assert!(
            check_token(&tx, &keys, &t2).is_err(),
            "re-enabling does not revive old tokens"
        );
    }
}
