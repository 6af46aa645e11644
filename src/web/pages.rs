//! Pages for everyone: catalog, sign-up and login, course, lesson reader, my courses, notifications.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Viewer, WebError, flash, render, safe_next, see_other};
use crate::App;
use crate::accounts::{self, NewUser, Role};
use crate::courses::{self, service};
use crate::error::Error;
use crate::http::auth::{clear_cookie, token_cookie};
use crate::http::extract::Path;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(catalog))
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route("/logout", post(logout))
        .route("/courses/{id}", get(course))
        .route("/courses/{id}/enroll", post(enroll))
        .route("/courses/{id}/leave", post(leave))
        .route("/courses/{id}/finished", get(finished))
        .route("/lessons/{id}", get(lesson))
        .route("/lessons/{id}/complete", post(complete))
        .route("/my", get(my_courses))
        .route("/notifications", get(notifications))
        .route("/notifications/{id}/read", post(read_notification))
        .route("/notifications/settings", post(notification_settings))
}

#[derive(Deserialize)]
struct CatalogQuery {
    q: Option<String>,
}

async fn catalog(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(q): Query<CatalogQuery>,
) -> Result<Html<String>, WebError> {
    let query = q.q.clone().filter(|s| !s.trim().is_empty());
    let (courses, _) =
        service::list_courses(&app, viewer.actor.clone(), query, None, 200, 0).await?;
    Ok(render(
        "catalog.html",
        &viewer,
        "Courses",
        context! { courses, q => q.q.unwrap_or_default(), catalog_search => true },
    ))
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(viewer: Viewer, Query(q): Query<NextQuery>) -> Html<String> {
    render(
        "login.html",
        &viewer,
        "Log in",
        context! { action => "/login", next => q.next.unwrap_or_default() },
    )
}

async fn register_page(viewer: Viewer) -> Html<String> {
    render(
        "login.html",
        &viewer,
        "Sign up",
        context! { action => "/register", register => true },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Signs in and hands the browser its cookie.
pub(super) async fn sign_in(
    app: &App,
    email: String,
    password: String,
    next: &str,
) -> Result<Response, Error> {
    let ttl = app.config.auth.token_ttl_secs;
    let (_, issued) = accounts::login(app, &email, password, ttl).await?;
    let mut r = see_other(safe_next(next));
    if let Ok(v) = token_cookie(&issued.token, ttl, app.config.auth.cookie_secure).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    viewer: Viewer,
    Form(f): Form<LoginForm>,
) -> Response {
    let attempt = async {
        accounts::login_allowed(&app, &f.email, peer.ip()).await?;
        sign_in(&app, f.email.clone(), f.password, &f.next).await
    };
    match attempt.await {
        Ok(r) => r,
        Err(e) => {
            let error = match e {
                Error::Unauthorized => "Wrong email or password.".to_owned(),
                other => other.to_string(),
            };
            let status = if matches!(error.as_str(), "Wrong email or password.") {
                axum::http::StatusCode::UNAUTHORIZED
            } else {
                axum::http::StatusCode::TOO_MANY_REQUESTS
            };
            (
                status,
                render(
                    "login.html",
                    &viewer,
                    "Log in",
                    context! { action => "/login", error => super::i18n::text(viewer.lang, &error), email => f.email, next => f.next },
                ),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
struct RegisterForm {
    full_name: String,
    email: String,
    password: String,
}

async fn register(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    viewer: Viewer,
    Form(f): Form<RegisterForm>,
) -> Response {
    let (email, password, full_name) = (f.email.clone(), f.password.clone(), f.full_name.clone());
    let attempt = async {
        app.limits.register.check(&peer.ip().to_string())?;
        let input = NewUser {
            email,
            password,
            full_name,
        };
        let prepared = crate::blocking(move || accounts::prepare(&input)).await?;
        // The pages' language so far (the browser's) becomes the account's, for pages and messages alike.
        let lang = viewer.lang;
        app.db
            .write(move |tx| {
                let user = accounts::register(tx, prepared)?;
                let me = accounts::Actor::User(accounts::CurrentUser {
                    id: user.id,
                    role: user.role,
                    jti: String::new(),
                    exp: 0,
                });
                accounts::set_preferences(tx, &me, Some(lang), None)
            })
            .await?;
        sign_in(&app, f.email.clone(), f.password, "/").await
    };
    match attempt.await {
        Ok(r) => flash::set(
            &app,
            r,
            &flash::with_args(
                "Welcome, {name}! Your account is ready: choose a course below and enrol.",
                &[("name", f.full_name.trim())],
            ),
        ),
        Err(e) => {
            let status = e.status();
            // A field's error is shown beside that field (and tied to it for screen readers), in words.
            let field = match &e {
                Error::Invalid { field, .. } => Some(field.to_string()),
                Error::Conflict {
                    code: "email_taken",
                    ..
                } => Some("email".to_owned()),
                _ => None,
            };
            let error = match &e {
                Error::Invalid { message, .. } => super::sentence(message),
                other => super::sentence(&other.to_string()),
            };
            (
                status,
                render(
                    "login.html",
                    &viewer,
                    "Sign up",
                    context! { action => "/register", register => true, error, field, email => f.email, full_name => f.full_name },
                ),
            )
                .into_response()
        }
    }
}

async fn logout(State(app): State<Arc<App>>, viewer: Viewer) -> Response {
    if let Some(crate::accounts::Actor::User(me)) = viewer.actor
        && let Err(e) = app.db.write(move |tx| accounts::logout(tx, &me)).await
    {
        tracing::warn!(error = %e, "logout could not revoke the token");
    }
    let mut r = see_other("/");
    if let Ok(v) = clear_cookie().parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    // After the sign-in cookie's removal: `insert` would replace the message's cookie.
    flash::set(&app, r, "You are logged out.")
}

async fn course(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let detail = service::course_detail(&app, viewer.actor.clone(), id).await?;
    let actor = viewer.actor.clone();
    let (can_edit, enrollment, done, can_read) = app
        .db
        .read(move |c| {
            let Some(actor) = actor else { return Ok((false, None, Vec::new(), false)) };
            let course = courses::course_ref(c, id)?.ok_or(Error::NotFound)?;
            let can_edit = courses::may_edit(&actor, &course);
            let can_read = courses::may_read_lessons(c, &actor, &course)?;
            let mut enrollment = None;
            let mut done = Vec::new();
            if let Some(uid) = actor.user_id()
                && crate::learning::enrollment::is_enrolled(c, id, uid)?
            {
                let p = crate::learning::progress::course_progress(c, &actor, id)?;
                if let Some(me) = p.students.into_iter().next() {
                    done = me.completed.iter().map(|d| d.lesson_id).collect();
                    enrollment = Some(context! { percent => me.percent, completed_at => me.completed_at, resume => me.last_lesson_id });
                }
            }
            Ok((can_edit, enrollment, done, can_read))
        })
        .await?;
    // Until the progress subscriber has run, resume at the first lesson.
    let first = detail
        .modules
        .iter()
        .flat_map(|m| m.lessons.iter())
        .map(|l| l.id)
        .next();
    let enrollment = enrollment.map(|e| {
        let resume = e
            .get_attr("resume")
            .ok()
            .filter(|v| !v.is_none() && !v.is_undefined())
            .or(first.map(Value::from));
        context! { resume, ..e }
    });
    let can_enroll = viewer
        .user
        .as_ref()
        .is_some_and(|u| u.role == Role::Student)
        && enrollment.is_none()
        && detail.course.status == courses::CourseStatus::Published;
    let title = detail.course.title.clone();
    Ok(render(
        "course.html",
        &viewer,
        &title,
        context! { course => detail, can_edit, enrollment, done, can_read, can_enroll },
    ))
}

async fn enroll(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    match app
        .db
        .write(move |tx| crate::learning::enrollment::enroll(tx, &actor, id))
        .await
    {
        Ok(_) => Ok(flash::redirect(
            &app,
            &format!("/courses/{id}"),
            "You are enrolled. Start with the first lesson whenever you like.",
        )),
        Err(Error::Conflict {
            code: "already_enrolled",
            ..
        }) => Ok(flash::redirect(
            &app,
            &format!("/courses/{id}"),
            "You were already enrolled in this course.",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn leave(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    app.db
        .write(move |tx| crate::learning::enrollment::unenroll(tx, &actor, id))
        .await?;
    Ok(flash::redirect(
        &app,
        &format!("/courses/{id}"),
        "You left this course.",
    ))
}

async fn lesson(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let mut lesson = crate::courses::routes::with_launch_url(
        &app,
        &headers,
        crate::learning::progress::read_lesson(&app, actor.clone(), id).await?,
    );
    // The page's heading is the lesson's title; a body that opens with the same heading would say it twice
    // (on a phone, the two fill the first screen).
    lesson.body_html = without_leading_title(&lesson.body_html, &lesson.title);
    let course_id = lesson.course_id;
    let detail = service::course_detail(&app, Some(actor.clone()), course_id)
        .await
        .ok();
    let order: Vec<i64> = detail
        .iter()
        .flat_map(|d| {
            d.modules
                .iter()
                .flat_map(|m| m.lessons.iter().map(|l| l.id))
        })
        .collect();
    let at = order.iter().position(|l| *l == id);
    let prev = at.and_then(|i| i.checked_sub(1)).map(|i| order[i]);
    let next = at.and_then(|i| order.get(i + 1).copied());
    let user = actor.user_id();
    let (enrolled, completed, quiz) = app
        .db
        .read(move |c| {
            let quiz = crate::quizzes::quiz_of(c, id)?.is_some();
            let Some(uid) = user else {
                return Ok((false, false, quiz));
            };
            let enrolled = crate::learning::enrollment::is_enrolled(c, course_id, uid)?;
            let completed = crate::learning::progress::is_completed(c, uid, id)?;
            Ok((enrolled, completed, quiz))
        })
        .await?;
    let course = detail
        .map(|d| context! { id => d.course.id, title => d.course.title })
        .unwrap_or(Value::UNDEFINED);
    let title = lesson.title.clone();
    let (media, tracks, transcripts) = media_of(&app, &lesson.attachments).await;
    Ok(render(
        "lesson.html",
        &viewer,
        &title,
        context! { lesson, course, prev, next, enrolled, completed, media, tracks, transcripts, quiz,
        max_chars => app.config.tutor.max_question_chars },
    ))
}

/// `html` without its first element when that is a heading whose text is `title` (case and spacing aside).
pub(super) fn without_leading_title(html: &str, title: &str) -> String {
    let body = html.trim_start();
    let heading = ["<h1", "<h2"].iter().find(|h| body.starts_with(**h));
    if let Some(open) = heading {
        let close = format!("</{}>", &open[1..]);
        if let (Some(start), Some(end)) = (body.find('>'), body.find(&close))
            && start < end
        {
            let text: String = body[start + 1..end]
                .replace("&amp;", "&")
                .replace("&#39;", "'")
                .replace("&quot;", "\"");
            let same = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            if same(&text) == same(title) {
                return body[end + close.len()..].trim_start().to_owned();
            }
        }
    }
    html.to_owned()
}

/// A lesson's videos and audio, the subtitle tracks to play with them (SubRip served as WebVTT), and each
/// subtitle file as a transcript with times (readable without the video, and on a phone with no sound).
async fn media_of(
    app: &App,
    attachments: &[crate::courses::Attachment],
) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    use crate::courses::subtitles;
    let media = attachments
        .iter()
        .filter(|a| a.is_media())
        .map(|a| {
            let kind = if a.content_type.starts_with("video/") {
                "video"
            } else {
                "audio"
            };
            context! { url => a.url, content_type => a.content_type, filename => a.filename, kind }
        })
        .collect();
    let mut tracks = Vec::new();
    let mut transcripts = Vec::new();
    for (i, a) in attachments.iter().filter(|a| a.is_subtitles()).enumerate() {
        let lang = subtitles::language_from_name(&a.filename);
        tracks.push(context! {
            url => format!("/api/attachments/{}/vtt", a.id),
            lang => lang.clone().unwrap_or_else(|| "und".into()),
            label => lang.map_or_else(|| a.filename.clone(), |l| language_name(&l).to_owned()),
            default => i == 0,
        });
        match crate::courses::service::subtitle_cues_of(app, a).await {
            Ok(cues) => {
                let paragraphs: Vec<Value> = subtitles::paragraphs(&cues)
                    .into_iter()
                    .map(|(ms, text)| context! { clock => subtitles::clock(ms), seconds => ms / 1000, text })
                    .collect();
                transcripts.push(context! { filename => a.filename, paragraphs });
            }
            Err(e) => tracing::warn!(attachment.id = a.id, error = %e, "subtitles not readable"),
        }
    }
    (media, tracks, transcripts)
}

/// The name of a language, in that language, for the subtitle menu.
fn language_name(code: &str) -> &str {
    match code {
        "en" => "English",
        "es" => "Español",
        "fr" => "Français",
        "de" => "Deutsch",
        "pt" => "Português",
        "it" => "Italiano",
        "nl" => "Nederlands",
        "sw" => "Kiswahili",
        "ar" => "العربية",
        "zh" => "中文",
        "hi" => "हिन्दी",
        "ru" => "Русский",
        other => other,
    }
}

async fn complete(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let (done, course_id) = app
        .db
        .write(move |tx| {
            let done = crate::learning::progress::complete(tx, &actor, id)?;
            let course = crate::courses::lesson_ref(tx, id)?.ok_or(Error::NotFound)?;
            Ok((done, course))
        })
        .await?;
    // The last lesson done: the course's end page says so and offers what to do next, instead of the
    // lesson page ending in empty space.
    Ok(if done.course_progress == 100 {
        flash::redirect(
            &app,
            &format!("/courses/{course_id}/finished"),
            "Lesson marked complete.",
        )
    } else {
        flash::redirect_with(
            &app,
            &format!("/lessons/{id}"),
            "Lesson marked complete: {percent}% of the course done.",
            &[("percent", &done.course_progress.to_string())],
        )
    })
}

async fn my_courses(State(app): State<Arc<App>>, viewer: Viewer) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let mine = app
        .db
        .read(move |c| crate::learning::enrollment::mine(c, &actor))
        .await?;
    Ok(render("my.html", &viewer, "My courses", context! { mine }))
}

async fn notifications(
    State(app): State<Arc<App>>,
    viewer: Viewer,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let (items, _) = app
        .db
        .read(move |c| crate::notify::inbox(c, &actor, 100))
        .await?;
    Ok(render(
        "notifications.html",
        &viewer,
        "Notifications",
        context! { items, languages => super::i18n::LANGUAGES },
    ))
}

#[derive(Deserialize)]
struct SettingsForm {
    email: Option<String>,
    language: String,
}

async fn notification_settings(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Form(f): Form<SettingsForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let email = f.email.is_some();
    app.db
        .write(move |tx| accounts::set_preferences(tx, &actor, Some(&f.language), Some(email)))
        .await?;
    Ok(flash::redirect(
        &app,
        "/notifications",
        "Notification settings saved.",
    ))
}

async fn read_notification(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    app.db
        .write(move |tx| crate::notify::mark_read(tx, &actor, id))
        .await?;
    Ok(see_other("/notifications"))
}

/// The end of a course for a student: how far they got (all of it, or what is left), and where to go next
/// (their other courses, courses they could take, the catalog).
async fn finished(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let detail = service::course_detail(&app, Some(actor.clone()), id).await?;
    let me = actor.clone();
    let (progress, mine) = app
        .db
        .read(move |c| {
            let progress = crate::learning::progress::course_progress(c, &me, id)?;
            let mine = crate::learning::enrollment::mine(c, &me)?;
            Ok((progress, mine))
        })
        .await?;
    // Students only: a teacher's progress lists every student, which this page is not about.
    let Some(student) = progress
        .students
        .into_iter()
        .find(|s| Some(s.user_id) == actor.user_id())
    else {
        return Err(Error::NotFound.into());
    };
    let done: Vec<i64> = student.completed.iter().map(|d| d.lesson_id).collect();
    let left: Vec<Value> = detail
        .modules
        .iter()
        .flat_map(|m| m.lessons.iter())
        .filter(|l| !done.contains(&l.id))
        .map(|l| context! { id => l.id, title => l.title })
        .collect();
    let enrolled: Vec<i64> = mine.iter().map(|m| m.course.id).collect();
    let ongoing: Vec<_> = mine
        .into_iter()
        .filter(|m| m.course.id != id && m.completed_at.is_none())
        .collect();
    let (catalog, _) = service::list_courses(&app, Some(actor), None, None, 200, 0).await?;
    let others: Vec<_> = catalog
        .into_iter()
        .filter(|c| !enrolled.contains(&c.id) && c.status == courses::CourseStatus::Published)
        .take(3)
        .collect();
    let title = if left.is_empty() {
        format!("You finished {}", detail.course.title)
    } else {
        format!("The end of {}", detail.course.title)
    };
    Ok(render(
        "finished.html",
        &viewer,
        &title,
        context! {
            course => detail.course, lessons_done => done.len(), lesson_count => progress.lesson_count,
            percent => student.percent, completed_at => student.completed_at, left, ongoing, others,
        },
    ))
}
