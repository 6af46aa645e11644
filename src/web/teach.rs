//! Pages for instructors: building, importing and publishing courses, and following their students.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Multipart, Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::{Viewer, WebError, flash, render, see_other};
use crate::App;
use crate::accounts::Role;
use crate::courses::service::{self, CourseUpdate, LessonUpdate, NewCourse, NewLesson};
use crate::courses::upload;
use crate::error::Error;
use crate::http::extract::Path;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/teach", get(teach))
        .route("/teach/courses", post(create_course))
        .route(
            "/teach/import",
            post(import_package).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/teach/courses/{id}", get(edit_course).post(save_course))
        .route("/teach/courses/{id}/lessons", post(add_lesson))
        .route("/teach/courses/{id}/modules", post(add_module))
        .route("/teach/courses/{id}/publish", post(publish))
        .route("/teach/courses/{id}/archive", post(archive))
        .route("/teach/courses/{id}/students", get(students))
        .route("/teach/lessons/{id}", get(edit_lesson).post(save_lesson))
        .route(
            "/teach/lessons/{id}/attachments",
            post(upload_file).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/teach/lessons/{id}/delete", post(delete_lesson))
        .route("/teach/attachments/{id}/delete", post(delete_attachment))
        .route("/teach/workflows/{id}", get(workflow))
}

#[derive(Deserialize)]
struct TeachQuery {
    deleted: Option<String>,
}

async fn teach(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(q): Query<TeachQuery>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    crate::courses::require_author(&actor)?;
    let me = actor.user_id();
    // Admins look after every course, whoever owns it (the demo course's owner is the system).
    let admin = actor.is_admin();
    let (all, _) =
        service::list_courses(&app, Some(actor), None, Some("newest".into()), 200, 0).await?;
    let courses: Vec<_> = all
        .into_iter()
        .filter(|c| admin || Some(c.owner_id) == me)
        .collect();
    Ok(render(
        "teach.html",
        &viewer,
        "Teach",
        context! { courses, admin, deleted => q.deleted.is_some() },
    ))
}

/// Imports an uploaded package for the signed-in instructor, then shows the new course (or why not).
async fn import_package(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    form: std::result::Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    crate::courses::require_author(&actor)?;
    let owner = viewer.user.as_ref().map(|u| u.email.clone());
    let mut form = form
        .map_err(|e| Error::BadRequest(format!("not a valid upload: {}", e.body_text()).into()))?;
    let mut staged = None;
    let mut publish = false;
    let limit = app.config.uploads.max_course_bytes;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| Error::BadRequest(format!("not a valid upload: {e}").into()))?
    {
        match field.name() {
            Some("package") => {
                staged = Some(
                    upload::stage_package(
                        field,
                        &app.data.join("tmp"),
                        limit,
                        app.upload_stall(),
                        &mut app.upload_quota(actor.user_id()),
                    )
                    .await?,
                )
            }
            Some("publish") => publish = true,
            _ => {}
        }
    }
    let package = staged.ok_or_else(|| Error::invalid("package", "choose a package file"))?;
    // The import runs as a workflow (the page follows it); the upload waits for it outside tmp/, which is
    // emptied at startup, and the workflow removes it when it ends.
    let kept = package.keep_in(&app.data.join(crate::packages::pipeline::UPLOADS_DIR))?;
    let workflow =
        crate::packages::pipeline::start(&app, actor, kept.clone(), owner, publish, true)
            .await
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&kept);
            })?;
    Ok(see_other(&format!("/teach/workflows/{workflow}")))
}

#[derive(Deserialize)]
struct CourseForm {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    capacity: String,
}

fn capacity(raw: &str) -> Result<Option<i64>, Error> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| Error::invalid("capacity", "seats must be a whole number"))
}

async fn create_course(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Form(f): Form<CourseForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let owner = actor.user_id().ok_or(Error::Forbidden)?;
    let input = NewCourse {
        title: f.title,
        description: f.description,
        capacity: capacity(&f.capacity)?,
    };
    let course = service::create_course(&app, actor, owner, input).await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/courses/{}", course.id),
        "Course created. Add its lessons below; students see it once you publish it.",
    ))
}

async fn edit_course(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let check = actor.clone();
    app.db
        .read(move |c| crate::courses::require_edit(c, &check, id).map(drop))
        .await?;
    // An admin may hand the course to any active instructor or admin.
    let owners = if actor.is_admin() {
        let lister = actor.clone();
        let (users, _) = app
            .db
            .read(move |c| crate::accounts::list_users(c, &lister, None, 500, 0))
            .await?;
        users
            .into_iter()
            .filter(|u| !u.disabled && matches!(u.role, Role::Instructor | Role::Admin))
            .collect()
    } else {
        Vec::new()
    };
    let course = service::course_detail(&app, Some(actor), id).await?;
    let title = course.course.title.clone();
    Ok(render(
        "teach_course.html",
        &viewer,
        &title,
        context! { course, owners },
    ))
}

async fn save_course(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CourseForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let change = CourseUpdate {
        title: Some(f.title),
        description: Some(f.description),
        capacity: Some(capacity(&f.capacity)?),
    };
    service::update_course(&app, actor, id, change).await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/courses/{id}"),
        "Course details saved.",
    ))
}

#[derive(Deserialize)]
struct LessonForm {
    title: String,
    module: Option<i64>,
}

async fn add_lesson(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<LessonForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let lesson = service::create_lesson(
        &app,
        actor,
        id,
        NewLesson {
            title: f.title,
            body_markdown: String::new(),
            module: f.module,
            position: None,
        },
    )
    .await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/lessons/{}", lesson.id),
        "Lesson added. Write it below, then save.",
    ))
}

#[derive(Deserialize)]
struct TitleForm {
    title: String,
}

async fn add_module(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<TitleForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    service::create_module(&app, actor, id, f.title, None).await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/courses/{id}"),
        "Module added.",
    ))
}

async fn publish(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let workflow = crate::publishing::publish(&app, actor, id).await?;
    Ok(see_other(&format!("/teach/workflows/{workflow}")))
}

async fn archive(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    service::archive_course(&app, actor, id).await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/courses/{id}"),
        "Course archived.",
    ))
}

async fn students(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let check = actor.clone();
    let progress = app
        .db
        .read(move |c| {
            crate::courses::require_edit(c, &check, id)?;
            crate::learning::progress::course_progress(c, &check, id)
        })
        .await?;
    let report_actor = actor.clone();
    let report = app
        .db
        .read(move |c| {
            Ok(crate::analytics::enrollments(c, &report_actor)?
                .into_iter()
                .find(|r| r.course_id == id))
        })
        .await?;
    let today = time::OffsetDateTime::now_utc().date();
    let chart = report
        .as_ref()
        .and_then(|r| super::chart::enrollments(viewer.lang, &r.daily, today));
    let course = service::course_detail(&app, Some(actor), id).await?.course;
    Ok(render(
        "students.html",
        &viewer,
        "Students",
        context! { course, progress, report, chart },
    ))
}

async fn edit_lesson(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let lesson = service::get_lesson(&app, actor, id).await?;
    if lesson.body_markdown.is_none() {
        return Err(Error::Forbidden.into());
    }
    let title = lesson.title.clone();
    Ok(render(
        "teach_lesson.html",
        &viewer,
        &title,
        context! { lesson },
    ))
}

#[derive(Deserialize)]
struct LessonEdit {
    title: String,
    body_markdown: String,
}

async fn save_lesson(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<LessonEdit>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    // Browsers send textarea line ends as CRLF; store what the author typed.
    let body = f.body_markdown.replace("\r\n", "\n");
    service::update_lesson(
        &app,
        actor,
        id,
        LessonUpdate {
            title: Some(f.title),
            body_markdown: Some(body),
            module: None,
            position: None,
        },
    )
    .await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/lessons/{id}"),
        "Lesson saved.",
    ))
}

async fn upload_file(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    form: std::result::Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    let (actor, mut form) = super::lesson_upload(&app, &viewer, id, form).await?;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| Error::BadRequest(format!("not a valid upload: {e}").into()))?
    {
        if field.name() == Some("file") {
            let staged = upload::stage(
                field,
                &app.data.join("tmp"),
                app.config.uploads.max_file_bytes,
                app.upload_stall(),
                &mut app.upload_quota(actor.user_id()),
            )
            .await?;
            service::add_attachment(&app, actor, id, staged).await?;
            return Ok(flash::redirect(
                &app,
                &format!("/teach/lessons/{id}"),
                "File attached.",
            ));
        }
    }
    Err(Error::invalid("file", "choose a file to upload").into())
}

async fn delete_lesson(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let lookup = actor.clone();
    let course = app
        .db
        .read(move |c| crate::courses::require_lesson_read(c, &lookup, id))
        .await?;
    service::delete_lesson(&app, actor, id).await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/courses/{}", course.id),
        "Lesson deleted.",
    ))
}

async fn delete_attachment(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let a = service::attachment(&app, actor.clone(), id).await?;
    service::delete_attachment(&app, actor, id).await?;
    Ok(flash::redirect(
        &app,
        &format!("/teach/lessons/{}", a.lesson_id),
        "File removed.",
    ))
}

async fn workflow(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let (jobs, who) = (app.jobs.clone(), actor.viewer());
    let (status, report) = app
        .db
        .read(move |c| {
            let s = crate::jobs::workflow::status(c, &jobs, who, id)?;
            let report = crate::packages::pipeline::report(c, id).unwrap_or(None);
            Ok((s, report))
        })
        .await?;
    let import = status.kind
        == <crate::packages::pipeline::ImportPackage as crate::jobs::workflow::Workflow>::KIND;
    // The heading says what happened once it has: "Importing a package" while it runs would stay on a
    // finished page otherwise.
    let lang = viewer.lang;
    let tr = |msgid| super::i18n::text(lang, msgid).to_owned();
    let done_heading = match (&report, import) {
        (Some(r), true) => {
            super::i18n::format(lang, "Imported “{title}”", &[("title", r.title.clone())])
        }
        (None, true) => tr("Imported"),
        (_, false) => tr("Published"),
    };
    let heading = match (status.status.as_str(), import) {
        ("QUEUED" | "RUNNING", true) => tr("Importing a package"),
        ("QUEUED" | "RUNNING", false) => tr("Publishing"),
        ("COMPLETED", _) => done_heading.clone(),
        ("CANCELLED", true) => tr("The import was cancelled"),
        ("CANCELLED", false) => tr("Publishing was cancelled"),
        (_, true) => tr("The import failed"),
        (_, false) => tr("Publishing failed"),
    };
    let course_id = status.course_id;
    Ok(render(
        "workflow.html",
        &viewer,
        &heading,
        context! { status, course_id, report, heading, done_heading },
    ))
}
