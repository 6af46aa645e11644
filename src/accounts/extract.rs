//! Who is calling, as axum extractors: the token a request carries ([`crate::http::auth::token_from`]) checked
//! against the users on every request, so a disabled account or a revoked session stops at once.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{Actor, CurrentUser};
use crate::App;
use crate::error::{Error, Result};
use crate::http::auth::token_from;

/// A signed-in caller; extraction fails with 401 `unauthorized` without a valid token.
pub struct Auth(pub CurrentUser);

impl Auth {
    /// The caller as a domain actor.
    pub fn actor(&self) -> Actor {
        Actor::User(self.0.clone())
    }
}

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self> {
        let token = token_from(parts).ok_or(Error::Unauthorized)?;
        let keys = app.tokens.clone();
        let user = app
            .db
            .read(move |c| super::check_token(c, &keys, &token))
            .await?;
        Ok(Auth(user))
    }
}

/// A caller who may or may not be signed in. A bad `Authorization` header is still 401 (the client should
/// know); a stale cookie counts as signed out.
pub struct MaybeAuth(pub Option<CurrentUser>);

impl MaybeAuth {
    /// The caller as a domain actor, if signed in.
    pub fn actor(&self) -> Option<Actor> {
        self.0.clone().map(Actor::User)
    }
}

impl FromRequestParts<Arc<App>> for MaybeAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self> {
        let from_header = parts.headers.contains_key(AUTHORIZATION);
        let Some(token) = token_from(parts) else {
            return if from_header {
                Err(Error::Unauthorized)
            } else {
                Ok(MaybeAuth(None))
            };
        };
        let keys = app.tokens.clone();
        match app
            .db
            .read(move |c| super::check_token(c, &keys, &token))
            .await
        {
            Ok(user) => Ok(MaybeAuth(Some(user))),
            Err(Error::Unauthorized) if !from_header => Ok(MaybeAuth(None)),
            Err(e) => Err(e),
        }
    }
}
