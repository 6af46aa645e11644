//! The admin page: users and their roles, failed and waiting jobs, the models and the storage in use, and a
//! backup to download.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::{Viewer, WebError, render};
use crate::App;
use crate::accounts::{self, Role};
use crate::error::Error;
use crate::http::extract::Path;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/users", post(add_user))
        .route("/admin/users/{id}", post(admin_user))
        .route("/admin/users/{id}/reset", post(reset_password))
        .route("/admin/jobs/{id}/retry", post(admin_retry))
        .route("/admin/backup", post(admin_backup))
}

async fn admin(State(app): State<Arc<App>>, viewer: Viewer) -> Result<Html<String>, WebError> {
    admin_page(&app, &viewer, minijinja::Value::UNDEFINED).await
}

/// The admin page, with `extra` in its context (a password link to show once, a form's error).
async fn admin_page(
    app: &Arc<App>,
    viewer: &Viewer,
    extra: minijinja::Value,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    actor.require_admin()?;
    let (users, failed, queued, running) = app
        .db
        .read(move |c| {
            let (users, _) = accounts::list_users(c, &actor, None, 500, 0)?;
            let failed = crate::jobs::list(c, Some("failed"), 100)?;
            let (queued, running) = (
                crate::jobs::count(c, "queued")?,
                crate::jobs::count(c, "running")?,
            );
            Ok((users, failed, queued, running))
        })
        .await?;
    let storage = storage(app).await?;
    let chunks: i64 = app.db.read(crate::search::chunk_count).await?;
    let models = context! {
        fake => app.config.models.fake,
        embedding => app.models.embedder.model_id(),
        embedding_loaded => app.models.embedder.is_loaded(),
        llm => app.models.generator.model_id(),
        llm_loaded => app.models.generator.is_loaded(),
        device => crate::ml::device_name(&crate::ml::device()),
        chunks,
        text_documents => app.search.text_documents(),
        tutor_busy => crate::tutor::busy(app),
        problems => crate::ml::manifest::problems(&app.config, false),
    };
    Ok(render(
        "admin.html",
        viewer,
        "Admin",
        context! { users, failed, queued, running, storage, models, ..extra },
    ))
}

#[derive(Deserialize)]
struct NewUserForm {
    email: String,
    full_name: String,
    role: String,
}

/// Makes an account and shows its password link, once, on the admin page (a form error there too).
async fn add_user(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<NewUserForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    actor.require_admin()?;
    let made = async {
        let role: Role = f.role.parse()?;
        accounts::routes::add_user(&app, actor, f.email.clone(), f.full_name.clone(), role).await
    };
    let (status, extra) = match made.await {
        Ok(link) => (
            StatusCode::CREATED,
            context! { link => shown_link(&app, &headers, link) },
        ),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => (
            e.status(),
            context! { add_error => e.to_string(), add => context! { email => f.email, full_name => f.full_name, role => f.role } },
        ),
        Err(e) => return Err(e.into()),
    };
    let page = admin_page(&app, &viewer, extra).await?;
    Ok((status, super::password::PRIVATE, page).into_response())
}

/// Opens a user's password link and shows it, once, on the admin page.
async fn reset_password(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let link = accounts::routes::start_reset(&app, actor, id).await?;
    let page = admin_page(
        &app,
        &viewer,
        context! { link => shown_link(&app, &headers, link) },
    )
    .await?;
    Ok((super::password::PRIVATE, page).into_response())
}

/// A password link as the admin hands it on: the whole URL, on the host the admin's browser reached.
fn shown_link(
    app: &App,
    headers: &HeaderMap,
    link: accounts::routes::PasswordLink,
) -> minijinja::Value {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    context! {
        user => link.user,
        url => format!(
            "{}://{host}{}",
            if app.config.auth.cookie_secure { "https" } else { "http" },
            link.reset_path
        ),
        hours => link.expires_in / 3600,
    }
}

#[derive(Deserialize)]
struct UserForm {
    role: Option<String>,
    disabled: Option<String>,
}

async fn admin_user(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<UserForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let role: Option<Role> = f.role.as_deref().map(str::parse).transpose()?;
    let disabled = f.disabled.as_deref().map(|d| d == "true");
    app.db
        .write(move |tx| accounts::update_user(tx, &actor, id, role, disabled))
        .await?;
    Ok(super::flash::redirect(
        &app,
        "/admin",
        "The account is changed.",
    ))
}

async fn storage(app: &App) -> Result<minijinja::Value, Error> {
    let size = |name: &str| {
        std::fs::metadata(app.data.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let (db_bytes, content_bytes) = (
        size(crate::app::DB_FILE) + size(&format!("{}-wal", crate::app::DB_FILE)),
        size(crate::app::CONTENT_FILE),
    );
    let path = app.data.path().display().to_string();
    let (users, courses, lessons, file_bytes) = app.db.read(crate::system::totals).await?;
    Ok(context! { users, courses, lessons, file_bytes, db_bytes, content_bytes, path })
}

/// Writes a backup and sends it to the admin's browser, then deletes the server's copy.
async fn admin_backup(State(app): State<Arc<App>>, viewer: Viewer) -> Result<Response, WebError> {
    use axum::response::IntoResponse;
    use tokio::io::AsyncReadExt;
    let actor = viewer.require()?;
    actor.require_admin()?;
    let dir = app.data.join("tmp");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Internal(e.into()))?;
    let stamp = crate::util::now_rfc3339().replace([':', '-'], "");
    let name = format!("smartcourse-{stamp}.backup");
    let path = dir.join(&name);
    // In its own task, so a timed-out request cannot stop the backup half-way (it cleans up after itself).
    let (task_app, task_path) = (app.clone(), path.clone());
    tokio::spawn(async move { crate::backup::create(&task_app, &task_path).await })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("backup task: {e}")))??;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| Error::Internal(e.into()))?
        .len();
    // Unlinked now, the open file streams on; nothing is left behind if the download is cut.
    let _ = std::fs::remove_file(&path);
    let stream = futures_util::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 256 * 1024];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((axum::body::Bytes::from(buf), f)))
    });
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/zip".to_owned(),
            ),
            (axum::http::header::CONTENT_LENGTH, len.to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

async fn admin_retry(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    actor.require_admin()?;
    app.db.write(move |tx| crate::jobs::retry(tx, id)).await?;
    Ok(super::flash::redirect(
        &app,
        "/admin",
        "The job is queued to run again.",
    ))
}
