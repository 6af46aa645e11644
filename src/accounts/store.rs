//! SQL of accounts.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{PreparedUser, Role, User};
use crate::error::{Error, Result};

const COLUMNS: &str = "id, email, full_name, role, disabled_at IS NOT NULL, created_at, language, email_notifications";

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        full_name: row.get(2)?,
        role: role.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, "role".into())
        })?,
        disabled: row.get(4)?,
        created_at: row.get(5)?,
        language: row.get(6)?,
        email_notifications: row.get(7)?,
    })
}

pub fn insert(conn: &Connection, u: &PreparedUser, role: Role) -> Result<User> {
    let now = crate::util::now_rfc3339();
    let inserted = conn.execute(
        "INSERT INTO users (email, full_name, role, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (email) DO NOTHING",
        params![u.email, u.full_name, role.as_str(), u.password_hash, now],
    )?;
    if inserted == 0 {
        return Err(Error::conflict(
            "email_taken",
            "an account with this email address already exists",
        ));
    }
    by_id(conn, conn.last_insert_rowid())?.ok_or(Error::NotFound)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id],
            user,
        )
        .optional()?)
}

pub fn by_email(conn: &Connection, email: &str) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE email = ?1"),
            [email],
            user,
        )
        .optional()?)
}

pub fn credentials(conn: &Connection, email: &str) -> Result<Option<(User, String)>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = ?1"),
            [email],
            |r| Ok((user(r)?, r.get(8)?)),
        )
        .optional()?)
}

pub fn token_version(conn: &Connection, id: i64) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT token_version FROM users WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?)
}

pub fn auth_state(conn: &Connection, id: i64) -> Result<Option<(Role, i64, bool)>> {
    let row: Option<(String, i64, bool)> = conn
        .query_row(
            "SELECT role, token_version, disabled_at IS NOT NULL FROM users WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(role, v, d)| Ok((role.parse()?, v, d)))
        .transpose()
}

pub fn is_revoked(conn: &Connection, jti: &str) -> Result<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM revoked_tokens WHERE jti = ?1", [jti], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

pub fn revoke(conn: &Connection, jti: &str, exp: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![jti, exp],
    )?;
    Ok(())
}

pub fn prune_revoked(conn: &Connection, now: i64) -> Result<usize> {
    Ok(conn.execute("DELETE FROM revoked_tokens WHERE expires_at < ?1", [now])?)
}

/// Active (not disabled) admins.
pub fn count_admins(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

pub fn list(
    conn: &Connection,
    q: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64)> {
    let pattern = crate::util::like_contains(q);
    let filter = "(?1 IS NULL OR email LIKE ?1 ESCAPE '\\' OR full_name LIKE ?1 ESCAPE '\\')";
    let total = conn.query_row(
        &format!("SELECT count(*) FROM users WHERE {filter}"),
        [&pattern],
        |r| r.get(0),
    )?;
    let users = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM users WHERE {filter} ORDER BY id DESC LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(params![pattern, limit, offset], user)?
        .collect::<Result<_, _>>()?;
    Ok((users, total))
}

fn touch(conn: &Connection, id: i64, set: &str, value: &dyn rusqlite::ToSql) -> Result<()> {
    let n = conn.execute(
        &format!("UPDATE users SET {set}, updated_at = ?2 WHERE id = ?1"),
        params![id, crate::util::now_rfc3339(), value],
    )?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub fn set_role(conn: &Connection, id: i64, role: Role) -> Result<()> {
    touch(conn, id, "role = ?3", &role.as_str())
}

pub fn set_disabled(conn: &Connection, id: i64, disabled: bool) -> Result<()> {
    let at = disabled.then(crate::util::now_rfc3339);
    touch(
        conn,
        id,
        "disabled_at = ?3, token_version = token_version + 1",
        &at,
    )
}

pub fn set_preferences(
    conn: &Connection,
    id: i64,
    language: Option<&str>,
    email: Option<bool>,
) -> Result<()> {
    conn.execute(
        "UPDATE users SET language = coalesce(?2, language), email_notifications = coalesce(?3, email_notifications),
            updated_at = ?4 WHERE id = ?1",
        params![id, language, email, crate::util::now_rfc3339()],
    )?;
    Ok(())
}

pub fn set_password(conn: &Connection, id: i64, hash: &str) -> Result<()> {
    touch(
        conn,
        id,
        "password_hash = ?3, token_version = token_version + 1",
        &hash,
    )
}
