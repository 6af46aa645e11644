//! Accounts an admin makes or opens again: a new account, or a forgotten password, gets a one-time link on
//! which its owner chooses their own password. The admin never knows the password, and the user cannot keep
//! one that someone else chose.
//!
//! Opening a link ([`start`]) makes the old password unusable and ends every session of the user at once;
//! the link works until it is used, until a newer link is made, or for [`LINK_TTL_SECS`].

use rusqlite::{Connection, Transaction};

use super::token::TokenKeys;
use super::{Actor, PreparedUser, Role, User, password, store};
use crate::error::{Error, Result};

/// How long a password link works: long enough to reach a pupil who is not in class today.
pub const LINK_TTL_SECS: i64 = 3 * 24 * 3600;

/// Where a password link's token is used, on this server.
pub fn link_path(token: &str) -> String {
    format!("/reset-password?token={token}")
}

/// A new account for an admin to hand over: validated, with a random password nobody is told (the account's
/// owner sets theirs with the link [`start`] makes). Hashes: call on a blocking thread.
pub fn prepare_account(email: &str, full_name: &str) -> Result<PreparedUser> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Internal(anyhow::anyhow!("no random numbers from the OS: {e}")))?;
    super::prepare(&super::NewUser {
        email: email.to_owned(),
        password: crate::util::hex(&bytes),
        full_name: full_name.to_owned(),
    })
}

/// Creates an account with `role` and returns it with its password link (admins only; 409 `email_taken`).
pub fn create(
    tx: &Transaction,
    actor: &Actor,
    keys: &TokenKeys,
    user: PreparedUser,
    role: Role,
) -> Result<(User, String)> {
    let user = super::create_user(tx, actor, user, role)?;
    let token = start(tx, actor, keys, user.id)?;
    tracing::info!(user.id = user.id, "account created by an admin");
    Ok((user, token))
}

/// Makes user `id`'s password unusable, ends their sessions, and returns the token of a link on which they
/// choose a new one (admins only; 404 for no such user).
pub fn start(tx: &Transaction, actor: &Actor, keys: &TokenKeys, id: i64) -> Result<String> {
    actor.require_admin()?;
    store::by_id(tx, id)?.ok_or(Error::NotFound)?;
    // Not a PHC string, so no password ever verifies against it; also bumps the token version.
    store::set_password(tx, id, "!reset")?;
    let ver = store::token_version(tx, id)?.ok_or(Error::NotFound)?;
    keys.issue_reset(id, ver, LINK_TTL_SECS)
}

/// The account a link is for, while the link works: 422 `invalid_input` on `token` once it is used,
/// replaced, expired, or for a disabled account.
pub fn account(conn: &Connection, keys: &TokenKeys, token: &str) -> Result<User> {
    let dead = || {
        Error::invalid(
            "token",
            "this link has expired or was already used; ask an admin for a new one",
        )
    };
    let (id, ver) = keys.verify_reset(token).ok_or_else(dead)?;
    let (_, current, disabled) = store::auth_state(conn, id)?.ok_or_else(dead)?;
    if current != ver || disabled {
        return Err(dead());
    }
    store::by_id(conn, id)?.ok_or_else(dead)
}

/// Checks a new password against the policy and hashes it (slow: call on a blocking thread).
pub fn hash_new(password: &str, email: &str) -> Result<String> {
    password::check_policy(password, email)?;
    password::hash(password)
}

/// Sets the password the link's owner chose (hashed by [`hash_new`]); the link then stops working.
pub fn finish(
    tx: &Transaction,
    keys: &TokenKeys,
    token: &str,
    password_hash: &str,
) -> Result<User> {
    // Checked again inside the write: two tabs sending the same link cannot both set a password.
    let user = account(tx, keys, token)?;
    store::set_password(tx, user.id, password_hash)?;
    tracing::info!(user.id = user.id, "password set with a link");
    Ok(user)
}
