//! Access tokens: HS256 JWTs signed with a per-installation secret.
//!
//! The secret is generated into the data directory on first start (`jwt-secret`, mode 0600), so no two
//! installations share one. The algorithm is pinned: a token whose header names any other algorithm, or
//! `none`, is refused before its signature is looked at. Each token carries the user's `ver` (token version)
//! and a random `jti`, so disabling a user (bumping the version) and logging out (revoking the `jti`) take
//! effect at once.

use std::path::Path;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The audience every token is issued for and checked against.
pub const AUDIENCE: &str = "smartcourse";
const SECRET_FILE: &str = "jwt-secret";

/// The audience of the capabilities that open a course's package files ([`TokenKeys::issue_package`]): a
/// sign-in token is never one, nor the other way round.
pub const PACKAGE_AUDIENCE: &str = "smartcourse-package";

/// The audience of one-time password links ([`TokenKeys::issue_reset`]): never a sign-in token.
pub const RESET_AUDIENCE: &str = "smartcourse-reset";
/// The audience of the web UI's one-shot messages ([`TokenKeys::issue_flash`]).
pub const FLASH_AUDIENCE: &str = "smartcourse-flash";

/// A one-shot message to show on the next page ("Lesson saved.").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct FlashClaims {
    msg: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// What a package-files capability says: which course's files it opens, until when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct PackageClaims {
    /// `course:<id>`.
    sub: String,
    /// The course's creation time (ids can be used again; see `courses::launch::url`).
    created: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    /// Audience: always [`AUDIENCE`].
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Token id, for revocation at logout.
    pub jti: String,
    /// The user's token version when issued; tokens of an older version are dead.
    pub ver: i64,
}

/// Signing and checking keys for this installation.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    package_validation: Validation,
    reset_validation: Validation,
    flash_validation: Validation,
}

impl TokenKeys {
    /// Loads the installation's secret from `dir`, creating it on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<TokenKeys> {
        let path = dir.join(SECRET_FILE);
        let secret = match std::fs::read(&path) {
            Ok(bytes) => {
                anyhow::ensure!(
                    bytes.len() >= 32,
                    "{} is too short to be a signing secret; delete it to make a new one (everyone will have to log in again)",
                    path.display()
                );
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = vec![0u8; 64];
                getrandom::fill(&mut bytes)
                    .map_err(|e| anyhow::anyhow!("no random numbers from the OS: {e}"))?;
                write_private(&path, &bytes)?;
                bytes
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(TokenKeys::from_secret(&secret))
    }

    /// Keys from a given secret.
    pub fn from_secret(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "aud"]);
        validation.leeway = 5;
        let mut package_validation = validation.clone();
        package_validation.set_audience(&[PACKAGE_AUDIENCE]);
        let mut reset_validation = validation.clone();
        reset_validation.set_audience(&[RESET_AUDIENCE]);
        let mut flash_validation = Validation::new(Algorithm::HS256);
        flash_validation.set_audience(&[FLASH_AUDIENCE]);
        flash_validation.set_required_spec_claims(&["exp", "aud"]);
        flash_validation.leeway = 0;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            package_validation,
            reset_validation,
            flash_validation,
        }
    }

    /// Signs `claims`.
    pub fn issue(&self, claims: &Claims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("signing a token failed: {e}")))
    }

    /// Checks signature, algorithm, audience and expiry; returns the claims. Any failure is `Unauthorized`.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                Error::Unauthorized
            })
    }
}

impl TokenKeys {
    /// A capability to read course `course_id`'s package files for `ttl_secs`: the path segment of the URLs a
    /// lesson's interactive page is served under. The page runs sandboxed, in an origin of its own, so the
    /// browser sends it no sign-in cookie; the capability, handed only to those who may read the lesson, is
    /// what lets its scripts, styles and images load.
    ///
    /// Issued on the hour, so every view of a lesson within the hour gets the same URLs and the browser's cache
    /// serves the package's files again (valid for `ttl_secs` from at most an hour ago).
    pub fn issue_package(&self, course_id: i64, created: &str, ttl_secs: i64) -> Result<String> {
        let hour = crate::util::unix_now() / 3600 * 3600;
        let claims = PackageClaims {
            sub: format!("course:{course_id}"),
            created: created.to_owned(),
            aud: PACKAGE_AUDIENCE.into(),
            iat: hour,
            exp: hour + 3600 + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("signing a capability failed: {e}")))
    }

    /// The course whose package files `token` opens, with its creation time; `Forbidden` for anything but a
    /// valid, unexpired capability of this installation.
    pub fn verify_package(&self, token: &str) -> Result<(i64, String)> {
        jsonwebtoken::decode::<PackageClaims>(token, &self.decoding, &self.package_validation)
            .ok()
            .and_then(|data| {
                let id = data.claims.sub.strip_prefix("course:")?.parse().ok()?;
                Some((id, data.claims.created))
            })
            .ok_or(Error::Forbidden)
    }
}

impl TokenKeys {
    /// A one-time link's token to set user `user_id`'s password, valid `ttl_secs`. It carries the user's token
    /// version `ver`: setting the password bumps the version, so the link works once, and a newer link (or
    /// disabling the user) ends an older one.
    pub fn issue_reset(&self, user_id: i64, ver: i64, ttl_secs: i64) -> Result<String> {
        let now = crate::util::unix_now();
        let claims = Claims {
            sub: user_id.to_string(),
            aud: RESET_AUDIENCE.into(),
            iat: now,
            exp: now + ttl_secs,
            jti: new_jti(),
            ver,
        };
        self.issue(&claims)
    }

    /// The user and token version a password link is for; `None` for anything but a valid, unexpired one.
    pub fn verify_reset(&self, token: &str) -> Option<(i64, i64)> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.reset_validation)
            .ok()?
            .claims;
        Some((claims.sub.parse().ok()?, claims.ver))
    }

    /// `message` signed for `ttl_secs`: the value of the web UI's flash cookie. Signed because the browser also
    /// sends this host's cookies to the package port, whose pages run course packages' scripts and may set
    /// cookies: an unsigned message could be planted there and shown as SmartCourse's own.
    pub fn issue_flash(&self, message: &str, ttl_secs: i64) -> Result<String> {
        let now = crate::util::unix_now();
        let claims = FlashClaims {
            msg: message.to_owned(),
            aud: FLASH_AUDIENCE.into(),
            iat: now,
            exp: now + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("signing a message failed: {e}")))
    }

    /// The message in a flash cookie's value; `None` unless this installation signed it and it has not expired.
    pub fn verify_flash(&self, value: &str) -> Option<String> {
        jsonwebtoken::decode::<FlashClaims>(value, &self.decoding, &self.flash_validation)
            .ok()
            .map(|data| data.claims.msg)
    }
}

/// A fresh random token id.
pub fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("OS random numbers");
    crate::util::hex(&bytes)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_from_now: i64) -> Claims {
        let now = crate::util::unix_now();
        Claims {
            sub: "7".into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + exp_from_now,
            jti: new_jti(),
            ver: 0,
        }
    }

    #[test]
    fn a_password_link_is_not_a_sign_in_token_nor_the_other_way_round() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let link = keys.issue_reset(7, 3, 600).unwrap();
        assert_eq!(keys.verify_reset(&link), Some((7, 3)));
        assert!(keys.verify(&link).is_err());
        assert_eq!(keys.verify_reset(&keys.issue(&claims(600)).unwrap()), None);
        assert_eq!(
            keys.verify_reset(&keys.issue_reset(7, 3, -60).unwrap()),
            None
        );
    }

    #[test]
    fn round_trip_and_refusals() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let c = claims(600);
        let t = keys.issue(&c).unwrap();
        assert_eq!(keys.verify(&t).unwrap(), c);

        // Another installation's key.
        let other = TokenKeys::from_secret(b"fedcba9876543210fedcba9876543210");
        assert!(other.verify(&t).is_err());
        // Expired.
        assert!(keys.verify(&keys.issue(&claims(-60)).unwrap()).is_err());
        // Wrong audience.
        let mut wrong = claims(600);
        wrong.aud = "someone-else".into();
        assert!(keys.verify(&keys.issue(&wrong).unwrap()).is_err());
    }

    #[test]
    fn package_capabilities_open_one_course_and_are_not_sign_in_tokens() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let created = "2026-11-26T10:00:00Z";
        let cap = keys.issue_package(42, created, 600).unwrap();
        assert_eq!(keys.verify_package(&cap).unwrap(), (42, created.to_owned()));
        // The same within the hour (the browser's cache keeps working).
        assert_eq!(keys.issue_package(42, created, 600).unwrap(), cap);
        // Neither kind passes for the other.
        assert!(keys.verify(&cap).is_err());
        let sign_in = keys.issue(&claims(600)).unwrap();
        assert!(keys.verify_package(&sign_in).is_err());
        // Expired, another installation's, or altered.
        assert!(
            keys.verify_package(&keys.issue_package(42, created, -3700).unwrap())
                .is_err()
        );
        let other = TokenKeys::from_secret(b"fedcba9876543210fedcba9876543210");
        assert!(other.verify_package(&cap).is_err());
        let mut altered = cap.clone().into_bytes();
        let i = altered.len() - 3;
        altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
        assert!(
            keys.verify_package(&String::from_utf8(altered).unwrap())
                .is_err()
        );
    }

    #[test]
    fn secret_is_created_once_private_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let a = TokenKeys::load_or_create(tmp.path()).unwrap();
        let secret = std::fs::read(tmp.path().join(SECRET_FILE)).unwrap();
        assert_eq!(secret.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = TokenKeys::load_or_create(tmp.path()).unwrap();
        let t = a.issue(&claims(600)).unwrap();
        assert!(b.verify(&t).is_ok());
        let other_install = tempfile::tempdir().unwrap();
        let c = TokenKeys::load_or_create(other_install.path()).unwrap();
        assert!(
            c.verify(&t).is_err(),
            "two installs must not share a secret"
        );
    }

    #[test]
    fn flash_messages_are_signed_expire_and_are_nothing_else() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let value = keys.issue_flash("Lesson saved.", 60).unwrap();
        assert_eq!(keys.verify_flash(&value).as_deref(), Some("Lesson saved."));
        // Another installation's, an expired one, a sign-in token, and a forged (unsigned) one are nothing.
        let other = TokenKeys::from_secret(b"fedcba9876543210fedcba9876543210");
        assert_eq!(other.verify_flash(&value), None);
        assert_eq!(
            keys.verify_flash(&keys.issue_flash("old", -1).unwrap()),
            None
        );
        assert_eq!(keys.verify_flash(&keys.issue(&claims(600)).unwrap()), None);
        assert_eq!(
            keys.verify_flash("Your password expired: go to evil.example"),
            None
        );
        assert!(
            keys.verify(&value).is_err(),
            "a message is not a sign-in token"
        );
    }
}
