//! One-shot messages after a form action ("Lesson saved."), carried across the POST → 303 → GET in a cookie.
//!
//! The handler that did the work sets the cookie on its redirect ([`redirect`], [`set`]); the next page reads
//! it ([`from_headers`], through `Viewer`) and shows it in the page's status region; [`clear_after_page`]
//! removes the cookie with that page's response, so the message is shown once. The cookie lives a minute at
//! most, and its value is signed with the installation's secret (`TokenKeys::issue_flash` says why).

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::App;
use crate::accounts::token::TokenKeys;

const COOKIE: &str = "sc_flash";

/// Long enough for the redirect to be followed on a slow classroom network.
const TTL_SECS: i64 = 60;

/// Messages are a sentence; a longer one (a long course title in it) is cut.
const MAX_CHARS: usize = 300;

/// A redirect after a form POST (303) that shows `message` on the page it leads to. The message is the
/// English `msgid`: the next page shows it in its reader's language ([`shown`]).
pub fn redirect(app: &App, to: &str, message: &str) -> Response {
    set(app, super::see_other(to), message)
}

/// Separates a message's `msgid` from its `{name}` values, and a name from its value, in the cookie.
const ARG: char = '\u{1f}';
const VALUE: char = '\u{1e}';

/// [`redirect`] with a message that has `{name}` placeholders and their values.
pub fn redirect_with(app: &App, to: &str, msgid: &str, args: &[(&str, &str)]) -> Response {
    set(app, super::see_other(to), &with_args(msgid, args))
}

/// A message with `{name}` placeholders and their values, as [`set`] takes it.
pub fn with_args(msgid: &str, args: &[(&str, &str)]) -> String {
    let mut out = msgid.to_owned();
    for (name, value) in args {
        let value: String = value
            .chars()
            .filter(|c| !matches!(*c, ARG | VALUE))
            .collect();
        out.push(ARG);
        out.push_str(name);
        out.push(VALUE);
        out.push_str(&value);
    }
    out
}

/// A carried message as its reader sees it: translated into `lang`, its values put in.
pub fn shown(lang: &str, carried: &str) -> String {
    let mut parts = carried.split(ARG);
    let msgid = parts.next().unwrap_or_default();
    let args: Vec<(&str, String)> = parts
        .filter_map(|p| p.split_once(VALUE))
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    super::i18n::format(lang, msgid, &args)
}

/// `response` with `message` to show on the next page.
pub fn set(app: &App, mut response: Response, message: &str) -> Response {
    let message: String = message.chars().take(MAX_CHARS).collect();
    match app.tokens.issue_flash(&message, TTL_SECS) {
        Ok(value) => {
            let secure = if app.config.auth.cookie_secure {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={TTL_SECS}{secure}"
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        // The action itself succeeded; only its confirmation is lost.
        Err(e) => tracing::warn!(error = %e, "a flash message could not be signed"),
    }
    response
}

/// The message a request carries, if this installation signed it and it is still fresh.
pub fn from_headers(keys: &TokenKeys, headers: &axum::http::HeaderMap) -> Option<String> {
    cookie_value(headers).and_then(|v| keys.verify_flash(v))
}

fn cookie_value(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Removes the flash cookie once a page has been answered: a request that carries one and gets a page (not a
/// redirect, which passes the message on to the page it leads to, nor a script or style sheet).
pub async fn clear_after_page(req: Request, next: Next) -> Response {
    let carried = cookie_value(req.headers()).is_some();
    let mut response = next.run(req).await;
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if carried && page && !response.status().is_redirection() {
        let clear = format!("{COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
        if let Ok(v) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}
