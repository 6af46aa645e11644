//! Where a request's credentials come from: the bearer token or the web UI's cookie, and the cross-origin rules
//! that decide whether a cookie counts. Checking the token against the users is `accounts::Auth`'s job.

use axum::http::Method;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;

/// Name of the cookie carrying the token for the web UI.
pub const COOKIE_NAME: &str = "smartcourse_token";

/// The token from `Authorization: Bearer ...`, else from the cookie (unless another origin sent it with a
/// write: see [`cross_origin_write`]).
pub fn token_from(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    if cross_origin_write(parts) {
        tracing::debug!("a write from another origin: its sign-in cookie does not count");
        return None;
    }
    cookie_token(&parts.headers)
}

/// Whether this is a state-changing request a page of another origin made (its `Origin` is not the host it
/// was sent to, or is `null`). The browser sends the cookie to every port of the host, including the one
/// that serves course packages' own pages (`courses::launch`), and SameSite does not tell ports apart; a
/// page there must not post with a student's or a teacher's sign-in.
pub fn cross_origin_write(parts: &Parts) -> bool {
    !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && foreign_origin(&parts.headers)
}

/// Whether the request says it comes from a page of another origin: its `Origin` names another host or port
/// than the one it was sent to, or is `null` (an opaque, sandboxed page; never one of ours). A request without
/// `Origin` (not from a browser page) is not.
pub fn foreign_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin == "null" || origin.split_once("://").map_or(origin, |x| x.1) != host
}

/// The token in the web UI's cookie, if the request carries exactly one such cookie.
///
/// Two or more mean one was planted: a page on another port of this host (a course package's, see
/// `courses::launch`) may set cookies that this port receives, and one with a longer `Path` would be sent
/// first. Taking any of them could sign the student in as the page's author, so none counts (and
/// [`planted_cookie_clears`] removes them).
pub fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    let mut tokens = token_cookies(headers);
    match (tokens.next(), tokens.next()) {
        (Some(token), None) => Some(token),
        (Some(_), Some(_)) => {
            tracing::warn!("a request carried more than one sign-in cookie; none counts");
            None
        }
        _ => None,
    }
}

fn token_cookies(headers: &axum::http::HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME).then(|| value.to_owned())
        })
}

/// When a request carries more than one sign-in cookie ([`cookie_token`]): `Set-Cookie` values that remove the
/// cookie at every path the request's path lies under, which is where a planted one can be (a cookie is only
/// sent below its path). The user signs in again afterwards.
pub fn planted_cookie_clears(headers: &axum::http::HeaderMap, path: &str) -> Vec<String> {
    if token_cookies(headers).nth(1).is_none() {
        return Vec::new();
    }
    let mut paths = vec!["/".to_owned()];
    let mut at = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()).take(8) {
        at.push('/');
        at.push_str(segment);
        paths.push(at.clone());
        paths.push(format!("{at}/"));
    }
    paths
        .into_iter()
        .map(|p| format!("{COOKIE_NAME}=; SameSite=Lax; Path={p}; Max-Age=0"))
        .collect()
}

/// A `Set-Cookie` value that hands the web UI its token.
pub fn token_cookie(token: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes the token cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}
