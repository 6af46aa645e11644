//! HTTP routes of courses, modules, lessons and attachments.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, CourseUpdate, LessonUpdate, NewCourse, NewLesson, Structure};
use super::{Attachment, Course, CourseDetail, Lesson, Module, content, upload};
use crate::App;
use crate::accounts::routes::paging;
use crate::accounts::{Auth, MaybeAuth};
use crate::error::{Error, Result};
use crate::http::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::http::files::{StoredFile, content_disposition};

/// The routes of this module.
pub fn router(app: &App) -> OpenApiRouter<Arc<App>> {
    // Uploads stream past the JSON body limit; their own limits apply while streaming.
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_attachment))
        .layer(DefaultBodyLimit::max(
            app.config.uploads.max_file_bytes as usize + 64 * 1024,
        ));
    OpenApiRouter::new()
        .routes(routes!(list_courses, create_course))
        .routes(routes!(get_course, update_course, delete_course))
        .routes(routes!(archive_course))
        .routes(routes!(transfer_course))
        .routes(routes!(render_markdown))
        .routes(routes!(set_structure))
        .routes(routes!(create_module))
        .routes(routes!(update_module, delete_module))
        .routes(routes!(create_lesson))
        .routes(routes!(update_lesson, delete_lesson))
        .routes(routes!(download_attachment, delete_attachment))
        .routes(routes!(attachment_vtt))
        .merge(uploads)
}

/// `{course}`
#[derive(Serialize, ToSchema)]
pub struct CourseEnvelope {
    pub course: Course,
}

/// `{lesson}`
#[derive(Serialize, ToSchema)]
pub struct LessonEnvelope {
    pub lesson: Lesson,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Words to find in the title or description.
    pub q: Option<String>,
    /// `newest` (default), `oldest`, `title` or `popular`.
    #[param(pattern = "^(newest|oldest|title|popular)$")]
    pub order: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Courses to skip.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A page of courses.
#[derive(Serialize, ToSchema)]
pub struct CoursePage {
    /// Courses on this page.
    pub items: Vec<Course>,
    /// Matching courses in all.
    pub total: i64,
    /// Page size.
    pub limit: i64,
    pub offset: i64,
}

/// The catalog: published courses, plus your own drafts (instructors) or every course (admins).
#[utoipa::path(get, path = "/api/courses", tag = "courses", params(CatalogQuery),
    responses((status = 200, body = CoursePage), (status = 422, body = ErrorBody)))]
async fn list_courses(
    State(app): State<Arc<App>>,
    user: MaybeAuth,
    Query(query): Query<CatalogQuery>,
) -> Result<axum::Json<CoursePage>> {
    let (limit, offset) = paging(query.limit, query.offset)?;
    let (items, total) =
        service::list_courses(&app, user.actor(), query.q, query.order, limit, offset).await?;
    Ok(axum::Json(CoursePage {
        items,
        total,
        limit,
        offset,
    }))
}

/// Create a draft course (instructors and admins).
#[utoipa::path(post, path = "/api/courses", tag = "courses", security(("bearer" = [])), request_body = NewCourse,
    responses((status = 201, body = CourseEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_course(
    State(app): State<Arc<App>>,
    user: Auth,
    Json(input): Json<NewCourse>,
) -> Result<(StatusCode, axum::Json<CourseEnvelope>)> {
    let course = service::create_course(&app, user.actor(), user.0.id, input).await?;
    tracing::info!(course.id = course.id, "course created");
    Ok((StatusCode::CREATED, axum::Json(CourseEnvelope { course })))
}

/// A course with its modules and lessons (anyone for a published course; owner and admins otherwise).
#[utoipa::path(get, path = "/api/courses/{id}", tag = "courses", params(("id" = i64, Path)),
    responses((status = 200, body = CourseDetail), (status = 404, body = ErrorBody)))]
async fn get_course(
    State(app): State<Arc<App>>,
    user: MaybeAuth,
    Path(id): Path<i64>,
) -> Result<axum::Json<CourseDetail>> {
    Ok(axum::Json(
        service::course_detail(&app, user.actor(), id).await?,
    ))
}

/// Change a course's title, description or capacity (owner, admin).
#[utoipa::path(put, path = "/api/courses/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = CourseUpdate,
    responses((status = 200, body = CourseDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_course(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(change): Json<CourseUpdate>,
) -> Result<axum::Json<CourseDetail>> {
    Ok(axum::Json(
        service::update_course(&app, user.actor(), id, change).await?,
    ))
}

/// Delete a course and everything in it (owner, admin).
#[utoipa::path(delete, path = "/api/courses/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_course(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    service::delete_course(&app, user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Archive a published course: no new enrollments; enrolled students keep access (owner, admin).
#[utoipa::path(post, path = "/api/courses/{id}/archive", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = CourseEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn archive_course(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<CourseEnvelope>> {
    let course = service::archive_course(&app, user.actor(), id).await?;
    Ok(axum::Json(CourseEnvelope { course }))
}

/// Who is to own a course.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerChange {
    /// The new owner: an active instructor or admin.
    pub owner_id: i64,
}

/// Hand a course over to another instructor or admin (admins).
#[utoipa::path(put, path = "/api/courses/{id}/owner", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = OwnerChange,
    responses((status = 200, body = CourseEnvelope), (status = 401, body = ErrorBody), (status = 403, description = "not an admin", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "invalid_input on owner_id: not an active instructor or admin", body = ErrorBody)))]
async fn transfer_course(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(change): Json<OwnerChange>,
) -> Result<axum::Json<CourseEnvelope>> {
    let course = service::transfer_course(&app, user.actor(), id, change.owner_id).await?;
    Ok(axum::Json(CourseEnvelope { course }))
}

/// Markdown to render.
#[derive(Deserialize, ToSchema)]
pub struct RenderRequest {
    /// Lesson Markdown (at most 1 MiB).
    pub markdown: String,
}

/// Rendered, sanitised HTML.
#[derive(Serialize, ToSchema)]
pub struct RenderResponse {
    /// What a student would see.
    pub html: String,
}

/// Preview lesson Markdown as students will see it (instructors, admins).
#[utoipa::path(post, path = "/api/render", tag = "courses", security(("bearer" = [])), request_body = RenderRequest,
    responses((status = 200, body = RenderResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn render_markdown(
    user: Auth,
    Json(input): Json<RenderRequest>,
) -> Result<axum::Json<RenderResponse>> {
    super::require_author(&user.actor())?;
    super::check_body(&input.markdown)?;
    let html =
        crate::blocking(move || Ok(super::render::markdown_to_html(&input.markdown))).await?;
    Ok(axum::Json(RenderResponse { html }))
}

/// Reorder modules and lessons at once; the body lists every module with every lesson, in order.
#[utoipa::path(put, path = "/api/courses/{id}/structure", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = Structure,
    responses((status = 200, body = CourseDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_structure(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(structure): Json<Structure>,
) -> Result<axum::Json<CourseDetail>> {
    Ok(axum::Json(
        service::set_structure(&app, user.actor(), id, structure).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleInput {
    /// Title (required to create).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    /// Place among the modules, from 0 (default: last).
    pub position: Option<i64>,
}

/// Add a module (owner, admin).
#[utoipa::path(post, path = "/api/courses/{id}/modules", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ModuleInput,
    responses((status = 201, body = Module), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_module(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(input): Json<ModuleInput>,
) -> Result<(StatusCode, axum::Json<Module>)> {
    let title = input
        .title
        .ok_or_else(|| Error::invalid("title", "a module needs a title"))?;
    let module = service::create_module(&app, user.actor(), id, title, input.position).await?;
    Ok((StatusCode::CREATED, axum::Json(module)))
}

/// Rename or move a module (owner, admin).
#[utoipa::path(put, path = "/api/modules/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ModuleInput,
    responses((status = 200, body = Module), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_module(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(input): Json<ModuleInput>,
) -> Result<axum::Json<Module>> {
    Ok(axum::Json(
        service::update_module(&app, user.actor(), id, input.title, input.position).await?,
    ))
}

/// Delete a module and its lessons (owner, admin).
#[utoipa::path(delete, path = "/api/modules/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_module(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    service::delete_module(&app, user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a lesson (owner, admin).
#[utoipa::path(post, path = "/api/courses/{id}/lessons", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = NewLesson,
    responses((status = 201, body = LessonEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_lesson(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(input): Json<NewLesson>,
) -> Result<(StatusCode, axum::Json<LessonEnvelope>)> {
    let lesson = service::create_lesson(&app, user.actor(), id, input).await?;
    Ok((StatusCode::CREATED, axum::Json(LessonEnvelope { lesson })))
}

/// Edit or move a lesson (owner, admin).
#[utoipa::path(put, path = "/api/lessons/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = LessonUpdate,
    responses((status = 200, body = Lesson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_lesson(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(change): Json<LessonUpdate>,
) -> Result<axum::Json<Lesson>> {
    let lesson = service::update_lesson(&app, user.actor(), id, change).await?;
    Ok(axum::Json(with_launch_url(&app, &headers, lesson)))
}

/// The lesson with its launch page's URL on the package server, for the browser that asked (the service gives
/// the page's path only; see `launch::on_package_server`).
pub(crate) fn with_launch_url(app: &App, headers: &HeaderMap, mut lesson: Lesson) -> Lesson {
    lesson.launch_url = lesson
        .launch_url
        .and_then(|p| super::launch::on_package_server(app, headers, &p));
    lesson
}

/// Delete a lesson and its attachments (owner, admin).
#[utoipa::path(delete, path = "/api/lessons/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_lesson(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    service::delete_lesson(&app, user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Upload a file to a lesson as multipart form data with one part named `file` (owner, admin). Accepted:
/// PDF, plain text, HTML, SRT and VTT subtitles, PNG, JPEG, GIF and WebP images, MP4 and WebM video, MP3 and
/// Ogg audio, decided by the bytes.
#[utoipa::path(post, path = "/api/lessons/{id}/attachments", tag = "courses", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body(content_type = "multipart/form-data", description = "a part named `file`"),
    responses((status = 201, body = Attachment), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 408, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn upload_attachment(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    form: std::result::Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, axum::Json<Attachment>)> {
    let mut form = form.map_err(|e| {
        Error::BadRequest(format!("send the file as multipart/form-data: {}", e.body_text()).into())
    })?;
    // Refuse early, before reading a large body, when the caller may not upload here.
    let actor = user.actor();
    let check = actor.clone();
    app.db
        .read(move |c| super::require_lesson_edit(c, &check, id))
        .await?;
    let staging = app.data.join("tmp");
    let max = app.config.uploads.max_file_bytes;
    loop {
        let field = form.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge("the upload is too large".into())
            } else {
                Error::BadRequest(format!("not a valid multipart upload: {e}").into())
            }
        })?;
        let Some(field) = field else {
            return Err(Error::invalid(
                "file",
                "send the file as a multipart part named `file`",
            ));
        };
        if field.name() == Some("file") {
            let staged = upload::stage(
                field,
                &staging,
                max,
                app.upload_stall(),
                &mut app.upload_quota(actor.user_id()),
            )
            .await?;
            let attachment = service::add_attachment(&app, actor, id, staged).await?;
            tracing::info!(
                attachment.id = attachment.id,
                size = attachment.size,
                "attachment uploaded"
            );
            return Ok((StatusCode::CREATED, axum::Json(attachment)));
        }
    }
}

/// Download an attachment (enrolled students, owner, admin). Supports `Range: bytes=...` and `If-None-Match`.
#[utoipa::path(get, path = "/api/attachments/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"), (status = 304),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn download_attachment(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response> {
    let a = service::attachment(&app, user.actor(), id).await?;
    // Shown inline where a browser does it safely; HTML runs in a sandbox without scripts.
    let inline = a.content_type.starts_with("application/pdf")
        || a.content_type.starts_with("image/")
        || a.is_media()
        || a.content_type.starts_with("text/plain");
    let mut extra = HeaderMap::new();
    if !a.content_type.starts_with("application/pdf") {
        extra.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
            ),
        );
    }
    let file = StoredFile {
        bytes: content::BlobChunks {
            store: app.content.clone(),
            sha256: a.sha256.clone(),
        },
        sha256: a.sha256,
        size: a.size as u64,
        content_type: a.content_type,
        disposition: Some(content_disposition(
            if inline { "inline" } else { "attachment" },
            &a.filename,
        )),
    };
    Ok(file.response(extra, &headers))
}

/// A subtitle attachment (SubRip or WebVTT) as WebVTT, the format a browser's `<track>` element plays.
#[utoipa::path(get, path = "/api/attachments/{id}/vtt", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "The subtitles as WebVTT", content_type = "text/vtt"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "Not a subtitle file", body = ErrorBody)))]
async fn attachment_vtt(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<Response> {
    let cues = service::subtitle_cues(&app, user.actor(), id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/vtt; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        super::subtitles::to_vtt(&cues),
    )
        .into_response())
}

/// Delete an attachment (owner, admin).
#[utoipa::path(delete, path = "/api/attachments/{id}", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_attachment(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    service::delete_attachment(&app, user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
