//! The web UI: server-rendered pages with a little JavaScript, every asset served by the binary.
//!
//! Pages call the same domain functions as the API. The signed-in user comes from the HttpOnly, SameSite
//! cookie set at login; forms are plain POSTs, protected from other sites by SameSite and an Origin check.
//! Templates (`assets/templates`) are embedded at build time and auto-escape everything not marked safe
//! (only lesson HTML, which is sanitised when rendered).
//!
//! A form action answers with a redirect that carries a one-shot message for the next page ([`flash`]);
//! `chart` lays out the students chart, `words` holds the `plural` and `when` template filters and `i18n` the
//! catalogues behind `_()`, the pages' translations.

mod admin;
mod chart;
mod course_care;
pub(crate) mod flash;
pub(crate) mod i18n;
mod pages;
mod password;
mod quiz;
mod quiz_edit;
mod teach;
mod tutor;
mod words;

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::value::Kwargs;
use minijinja::{Environment, Value, context};

use crate::App;
use crate::accounts::{self, Actor, User};
use crate::error::Error;

/// Version segment of asset URLs: a new build gets new URLs, so assets can be cached for a year.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `text/plain; charset=utf-8` → `text/plain`, for showing a file's kind.
    env.add_filter("truncate", |s: String, n: usize| {
        if s.chars().count() <= n {
            s
        } else {
            format!("{}…", s.chars().take(n).collect::<String>().trim_end())
        }
    });
    env.add_filter("mime", |s: String| {
        s.split(';').next().unwrap_or("").trim().to_owned()
    });
    // Plain text (a tutor's answer) as HTML with its formulas as MathML; escaped, so safe to show as it is.
    env.add_filter("typeset", |s: String| {
        Value::from_safe_string(crate::courses::math::typeset_text(&s))
    });
    // The page's language is the context's `lang` (English when a page has none).
    env.add_function(
        "_",
        |state: &minijinja::State,
         msgid: String,
         args: Kwargs|
         -> Result<String, minijinja::Error> {
            let lang = page_lang(state);
            let mut values = Vec::new();
            for name in args.args() {
                let v: Value = args.get(name)?;
                let shown = match v.as_i64() {
                    Some(n) if v.is_integer() => i18n::number(&lang, n),
                    _ if v.kind() == minijinja::value::ValueKind::Number => {
                        i18n::decimal(&lang, &v.to_string())
                    }
                    _ => v.to_string(),
                };
                values.push((name, shown));
            }
            args.assert_all_used()?;
            Ok(i18n::format(&lang, &msgid, &values))
        },
    );
    // Figures may be scores with decimals (a quiz's points): `2.0` is shown "2", `1.5` "1.5" (or "1,5").
    env.add_filter(
        "plural",
        |state: &minijinja::State, n: f64, one: String, many: Option<String>| {
            words::plural_number(&page_lang(state), n, &one, many.as_deref())
        },
    );
    env.add_filter("number", |state: &minijinja::State, n: f64| {
        words::number(&page_lang(state), n)
    });
    env.add_filter("when", |state: &minijinja::State, s: String| {
        words::when(&page_lang(state), &s)
    });
    for (name, source) in [
        (
            "base.html",
            include_str!("../../assets/templates/base.html"),
        ),
        (
            "error.html",
            include_str!("../../assets/templates/error.html"),
        ),
        (
            "catalog.html",
            include_str!("../../assets/templates/catalog.html"),
        ),
        (
            "login.html",
            include_str!("../../assets/templates/login.html"),
        ),
        (
            "course.html",
            include_str!("../../assets/templates/course.html"),
        ),
        (
            "lesson.html",
            include_str!("../../assets/templates/lesson.html"),
        ),
        ("my.html", include_str!("../../assets/templates/my.html")),
        (
            "notifications.html",
            include_str!("../../assets/templates/notifications.html"),
        ),
        (
            "teach.html",
            include_str!("../../assets/templates/teach.html"),
        ),
        (
            "teach_course.html",
            include_str!("../../assets/templates/teach_course.html"),
        ),
        (
            "teach_lesson.html",
            include_str!("../../assets/templates/teach_lesson.html"),
        ),
        (
            "workflow.html",
            include_str!("../../assets/templates/workflow.html"),
        ),
        (
            "students.html",
            include_str!("../../assets/templates/students.html"),
        ),
        (
            "admin.html",
            include_str!("../../assets/templates/admin.html"),
        ),
        (
            "search.html",
            include_str!("../../assets/templates/search.html"),
        ),
        (
            "tutor.html",
            include_str!("../../assets/templates/tutor.html"),
        ),
        (
            "tutor_form.html",
            include_str!("../../assets/templates/tutor_form.html"),
        ),
        (
            "quiz.html",
            include_str!("../../assets/templates/quiz.html"),
        ),
        (
            "finished.html",
            include_str!("../../assets/templates/finished.html"),
        ),
        (
            "quiz_result.html",
            include_str!("../../assets/templates/quiz_result.html"),
        ),
        (
            "teach_quiz.html",
            include_str!("../../assets/templates/teach_quiz.html"),
        ),
        (
            "teach_quiz_question.html",
            include_str!("../../assets/templates/teach_quiz_question.html"),
        ),
        (
            "teach_quiz_settings.html",
            include_str!("../../assets/templates/teach_quiz_settings.html"),
        ),
        (
            "teach_quiz_delete.html",
            include_str!("../../assets/templates/teach_quiz_delete.html"),
        ),
        (
            "teach_delete.html",
            include_str!("../../assets/templates/teach_delete.html"),
        ),
        (
            "reset_password.html",
            include_str!("../../assets/templates/reset_password.html"),
        ),
    ] {
        env.add_template(name, source).expect("templates parse");
    }
    env
});

/// The language a template is being rendered in.
fn page_lang(state: &minijinja::State) -> String {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "en".to_owned())
}

/// The answer to a path nothing serves: the API's JSON error under `/api/`, else the web UI's error page.
pub async fn not_found(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    if uri.path().starts_with("/api/") {
        return crate::http::error_response(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no {method} {}", uri.path()),
            None,
        );
    }
    axum::response::IntoResponse::into_response(WebError(crate::Error::NotFound))
}

/// The pages' routes.
pub fn router() -> Router<Arc<App>> {
    pages::routes()
        .merge(teach::routes())
        .merge(course_care::routes())
        .merge(admin::routes())
        .merge(tutor::routes())
        .merge(quiz::routes())
        .merge(quiz_edit::routes())
        .merge(password::routes())
        .route("/assets/{version}/{file}", axum::routing::get(asset))
        .route("/favicon.ico", axum::routing::get(favicon))
        .layer(axum::middleware::from_fn(flash::clear_after_page))
        .layer(axum::middleware::from_fn(page_language))
        .layer(axum::middleware::from_fn(same_origin))
}

tokio::task_local! {
    /// The language of the page being answered, for the error page, which is rendered without a [`Viewer`]:
    /// the browser's, then the signed-in user's once a `Viewer` has been made.
    static PAGE_LANG: std::cell::Cell<&'static str>;
}

async fn page_language(req: Request, next: Next) -> Response {
    let browser = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = std::cell::Cell::new(i18n::pick(None, browser));
    PAGE_LANG.scope(lang, next.run(req)).await
}

/// Who is looking at a page: the user from the cookie, if it is valid, and their unread count.
pub struct Viewer {
    pub user: Option<User>,
    /// As a domain actor.
    pub actor: Option<Actor>,
    /// Unread notifications.
    pub unread: i64,
    /// The one-shot message the previous action left for this page ([`flash`]).
    pub flash: Option<String>,
    /// The page's language ([`i18n::pick`]).
    pub lang: &'static str,
}

impl Viewer {
    /// The actor, or a redirect to the login page.
    pub fn require(&self) -> Result<Actor, WebError> {
        self.actor.clone().ok_or(WebError(Error::Unauthorized))
    }
}

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, WebError> {
        let flash = flash::from_headers(&app.tokens, &parts.headers);
        let browser = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let browser_lang = i18n::pick(None, browser);
        let token = crate::http::auth::cookie_token(&parts.headers);
        let Some(token) = token else {
            return Ok(Viewer {
                user: None,
                actor: None,
                unread: 0,
                flash,
                lang: browser_lang,
            });
        };
        let keys = app.tokens.clone();
        let found = app
            .db
            .read(move |c| {
                let current = accounts::check_token(c, &keys, &token)?;
                let actor = Actor::User(current);
                let user = accounts::me(c, &actor)?;
                let (_, unread) = crate::notify::inbox(c, &actor, 0)?;
                Ok((actor, user, unread))
            })
            .await;
        let viewer = match found {
            Ok((actor, user, unread)) => Viewer {
                lang: i18n::pick(Some(&user.language), browser),
                user: Some(user),
                actor: Some(actor),
                unread,
                flash,
            },
            // An expired or revoked cookie is just signed out.
            Err(_) => Viewer {
                user: None,
                actor: None,
                unread: 0,
                flash,
                lang: browser_lang,
            },
        };
        // Outside the pages' layer (a test's router) there is no page language to set.
        let _ = PAGE_LANG.try_with(|l| l.set(viewer.lang));
        Ok(viewer)
    }
}

/// A multipart form posted to a page of lesson `id`, opened only once the viewer may change the lesson: the
/// refusal comes before a byte of the file is read (staging would otherwise wait for the whole body).
pub(crate) async fn lesson_upload(
    app: &App,
    viewer: &Viewer,
    id: i64,
    form: std::result::Result<
        axum::extract::Multipart,
        axum::extract::multipart::MultipartRejection,
    >,
) -> Result<(Actor, axum::extract::Multipart), WebError> {
    let form = form
        .map_err(|e| Error::BadRequest(format!("not a valid upload: {}", e.body_text()).into()))?;
    let actor = viewer.require()?;
    let check = actor.clone();
    app.db
        .read(move |c| crate::courses::require_lesson_edit(c, &check, id))
        .await?;
    Ok((actor, form))
}

/// A domain error shown as a page: 401 sends to the login page, the rest render the error template.
pub struct WebError(pub Error);

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        WebError(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let lang = PAGE_LANG.try_with(std::cell::Cell::get).unwrap_or("en");
        let t = |msgid| i18n::text(lang, msgid).to_owned();
        let (title, message) = match &self.0 {
            Error::Unauthorized => return Redirect::to("/login").into_response(),
            Error::NotFound => (
                t("Not found"),
                t("There is nothing here, or you may not see it."),
            ),
            Error::Forbidden => (t("Not allowed"), t("Your account may not do this.")),
            Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error on a page");
                (
                    t("Something went wrong"),
                    t("The error has been logged. Please try again."),
                )
            }
            // The sentence for a person, without the field's name in machine words ("title: …").
            Error::Invalid { message, .. } => (t("That did not work"), sentence(message)),
            other => (t("That did not work"), other.to_string()),
        };
        let status = self.0.status();
        let body = render_raw(
            "error.html",
            context! { title, message, lang, version => ASSET_VERSION, me => Value::UNDEFINED },
        );
        (status, body).into_response()
    }
}

/// `message` with a capital first letter and a full stop, for showing alone.
pub(crate) fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.is_empty() && !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn render_raw(name: &str, ctx: Value) -> Html<String> {
    let html = TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(template = name, error = %e, "template failed");
            "<!doctype html><title>Error</title><p>This page could not be shown.</p>".to_owned()
        });
    Html(html)
}

/// Renders a page with the viewer and `extra` in its context.
pub fn render(name: &str, viewer: &Viewer, title: &str, extra: Value) -> Html<String> {
    let base = context! {
        title => i18n::text(viewer.lang, title),
        lang => viewer.lang,
        me => viewer.user.as_ref().map(Value::from_serialize),
        unread => viewer.unread,
        flash => viewer.flash.as_deref().map(|f| flash::shown(viewer.lang, f)),
        version => ASSET_VERSION,
    };
    render_raw(name, context! { ..extra, ..base })
}

/// A redirect after a form POST (303, so the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Only follows local paths, so `?next=` cannot send a user to another site.
pub fn safe_next(next: &str) -> &str {
    // Browsers drop tabs and line breaks from URLs and read `\` as `/`, so `/\t/evil` or `/\\evil` would
    // lead to another host: anything with a control character or a backslash goes home instead.
    let odd = next.chars().any(|c| c.is_control() || c == '\\');
    if next.starts_with('/') && !next.starts_with("//") && !odd {
        next
    } else {
        "/"
    }
}

/// Refuses form posts from other sites (their Origin names another host, or is `null`), on top of the SameSite
/// cookie.
async fn same_origin(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && crate::http::auth::foreign_origin(req.headers()) {
        return WebError(Error::Forbidden).into_response();
    }
    next.run(req).await
}

/// The site's icon: the page's `<link rel="icon">` names it under `/assets/`; browsers that ask for
/// `/favicon.ico` anyway get the same picture.
const FAVICON: &str = include_str!("../../assets/static/favicon.svg");

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

async fn asset(
    State(_): State<Arc<App>>,
    axum::extract::Path((version, file)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (body, kind): (&'static str, &str) = match file.as_str() {
        "app.css" => (
            include_str!("../../assets/static/app.css"),
            "text/css; charset=utf-8",
        ),
        "app.js" => (
            include_str!("../../assets/static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        _ => return WebError(Error::NotFound).into_response(),
    };
    if version != ASSET_VERSION {
        // An old page asking for an old asset gets the current one, briefly cached.
        return (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "max-age=60"),
            ],
            body,
        )
            .into_response();
    }
    let etag = format!("\"{ASSET_VERSION}-{}\"", body.len());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut r = (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        // Forces the environment: a template that does not parse panics here, not on a user's request.
        assert_eq!(TEMPLATES.templates().count(), 26);
        for name in [
            "catalog.html",
            "course.html",
            "lesson.html",
            "teach_lesson.html",
            "admin.html",
            "search.html",
            "tutor.html",
        ] {
            TEMPLATES.get_template(name).unwrap();
        }
    }

    #[test]
    fn user_text_is_escaped() {
        let viewer = Viewer {
            user: None,
            actor: None,
            unread: 0,
            flash: Some("<b>saved</b>".into()),
            lang: "en",
        };
        let html = render(
            "error.html",
            &viewer,
            "<script>alert(1)</script>",
            context! { message => "<img src=x onerror=alert(2)>" },
        )
        .0;
        assert!(
            !html.contains("<script>alert(1)") && !html.contains("<img src=x"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains("&lt;b&gt;saved"),
            "a flash message is text: {html}"
        );
        assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">"));
    }

    #[test]
    fn a_lesson_that_opens_with_its_own_title_shows_it_once() {
        use super::pages::without_leading_title as strip;
        assert_eq!(
            strip(
                "<h1>Halves, thirds and quarters</h1>\n<table></table>",
                "Halves, thirds and quarters"
            ),
            "<table></table>"
        );
        assert_eq!(
            strip("<h1>Loops &amp; lists</h1><p>x</p>", "loops & lists"),
            "<p>x</p>"
        );
        // Another heading, or the title further down, stays.
        assert_eq!(
            strip("<h1>Intro</h1><p>x</p>", "Loops"),
            "<h1>Intro</h1><p>x</p>"
        );
        assert_eq!(
            strip("<p>Loops</p><h1>Loops</h1>", "Loops"),
            "<p>Loops</p><h1>Loops</h1>"
        );
    }

    #[test]
    fn next_only_goes_to_local_paths() {
        assert_eq!(safe_next("/courses/1"), "/courses/1");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next("/\t/evil.example"), "/");
        assert_eq!(safe_next("/\n/evil.example"), "/");
        assert_eq!(safe_next("/a\\b"), "/");
        assert_eq!(safe_next("/courses/1?tab=2#top"), "/courses/1?tab=2#top");
    }
}
