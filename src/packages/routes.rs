//! HTTP routes of course packages: a course's download as a SmartCourse package.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::App;
use crate::accounts::Auth;
use crate::courses::service;
use crate::error::{Error, Result};
use crate::http::ErrorBody;
use crate::http::extract::Path;
use crate::http::files::content_disposition;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(export_course))
}

/// Download a course as a SmartCourse package (`.zip`), which `smartcourse import` or the Teach page's import
/// turns back into the same course (owner, admin).
#[utoipa::path(get, path = "/api/courses/{id}/export", tag = "courses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "The package", content_type = "application/zip"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_course(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<Response> {
    export_response(&app, user.actor(), id).await
}

/// A course's package as a download: written to a file under `tmp/` (the export reads the content store
/// chunk by chunk), unlinked as soon as it is open, and streamed from there, so a cut download leaves nothing.
pub(crate) async fn export_response(
    app: &Arc<App>,
    actor: crate::accounts::Actor,
    id: i64,
) -> Result<Response> {
    use tokio::io::AsyncReadExt;
    let title = service::course_detail(app, Some(actor.clone()), id)
        .await?
        .course
        .title;
    let dir = app.data.join("tmp");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Internal(e.into()))?;
    let path = dir.join(format!(
        "export-{id}-{}.zip",
        crate::accounts::token::new_jti()
    ));
    // In its own task, so a request that is dropped cannot leave a half-written file.
    let (task_app, task_path) = (app.clone(), path.clone());
    let written = tokio::spawn(async move {
        let r = super::native::export(&task_app, actor, id, &task_path).await;
        if r.is_err() {
            let _ = std::fs::remove_file(&task_path);
        }
        r
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("export task: {e}")))?;
    written?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let _ = std::fs::remove_file(&path);
    let len = file
        .metadata()
        .await
        .map_err(|e| Error::Internal(e.into()))?
        .len();
    let stream = futures_util::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 256 * 1024];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((axum::body::Bytes::from(buf), f)))
    });
    let name: String = title
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    let name = match name.trim_matches('-') {
        "" => format!("course-{id}"),
        n => n.to_owned(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                content_disposition("attachment", &format!("{name}.zip")),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
