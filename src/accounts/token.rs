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
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
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
}
