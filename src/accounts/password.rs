//! Password policy and hashing (argon2id).

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::{Error, Result};

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;
/// Longest password accepted (long passphrases are welcome; this only bounds the hashing work).
pub const MAX_LEN: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../assets/common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
});

/// A hash of a password nobody has, verified when a login names an unknown account so that the answer takes
/// as long as for a known one.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash("not a real password, only for timing").expect("hashing works"));

/// Checks a new password against the policy: length, and not among the most common passwords.
pub fn check_policy(password: &str, email: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(Error::invalid(
            "password",
            format!("the password must have at least {MIN_LEN} characters"),
        ));
    }
    if chars > MAX_LEN {
        return Err(Error::invalid(
            "password",
            format!("the password must have at most {MAX_LEN} characters"),
        ));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err(Error::invalid(
            "password",
            "this password is one of the most common ones and easy to guess; choose another",
        ));
    }
    if !email.is_empty() && lower == email.to_lowercase() {
        return Err(Error::invalid(
            "password",
            "the password must not be the email address",
        ));
    }
    Ok(())
}

/// Hashes `password` with argon2id (the crate's defaults follow OWASP: 19 MiB, 2 passes, 1 lane).
pub fn hash(password: &str) -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Internal(anyhow::anyhow!("no random numbers from the OS: {e}")))?;
    let salt = SaltString::encode_b64(&bytes)
        .map_err(|e| Error::Internal(anyhow::anyhow!("salt encoding failed: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("password hashing failed: {e}")))
}

/// Whether `password` matches `stored`. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same work as [`verify`] on a known hash, for answers about unknown accounts.
pub fn verify_dummy(password: &str) {
    let _ = verify(password, &DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short", "").unwrap_err().code(),
            "invalid_input"
        );
        assert!(check_policy(&"x".repeat(MAX_LEN + 1), "").is_err());
        let longest: String = "correct horse battery staple "
            .repeat(5)
            .chars()
            .take(MAX_LEN)
            .collect();
        assert!(check_policy(&longest, "").is_ok());
        // From the common list, in any case.
        assert!(check_policy("password", "").is_err());
        assert!(check_policy("PassWord1", "").is_err() || check_policy("password1", "").is_err());
        assert!(check_policy("iloveyou", "").is_err());
        assert!(check_policy("ana@school.test", "ana@school.test").is_err());
        assert!(check_policy("violet-tractor-51", "ana@school.test").is_ok());
    }

    #[test]
    fn common_list_is_loaded_and_long() {
        assert!(COMMON.len() > 10_000);
        assert!(COMMON.iter().all(|p| p.chars().count() >= MIN_LEN));
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("violet-tractor-51").unwrap();
        let b = hash("violet-tractor-51").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(verify("violet-tractor-51", &a));
        assert!(!verify("violet-tractor-52", &a));
        assert!(!verify("violet-tractor-51", "not a hash"));
    }
}
