//! Pages that look after a whole course: handing it over (admins), moving its lessons and modules up and down
//! with plain forms, exporting it, and deleting it after a confirmation that offers the export first.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::{Viewer, WebError, render, see_other};
use crate::App;
use crate::courses::service::{self, LessonUpdate};
use crate::error::Error;
use crate::http::extract::Path;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/teach/courses/{id}/owner", post(hand_over))
        .route(
            "/teach/courses/{id}/delete",
            get(confirm_delete).post(delete_course),
        )
        .route("/teach/courses/{id}/export", get(export))
        .route("/teach/modules/{id}/move", post(move_module))
        .route("/teach/lessons/{id}/move", post(move_lesson))
}

#[derive(Deserialize)]
struct OwnerForm {
    owner_id: i64,
}

async fn hand_over(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<OwnerForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    service::transfer_course(&app, actor, id, f.owner_id).await?;
    Ok(see_other(&format!("/teach/courses/{id}")))
}

/// What deleting a course would remove, with its export offered first.
async fn confirm_delete(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let check = actor.clone();
    app.db
        .read(move |c| crate::courses::require_edit(c, &check, id).map(drop))
        .await?;
    let course = service::course_detail(&app, Some(actor), id).await?.course;
    Ok(render(
        "teach_delete.html",
        &viewer,
        "Delete a course",
        context! { course },
    ))
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

async fn delete_course(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<DeleteForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    if f.confirm != "yes" {
        return Err(Error::invalid(
            "confirm",
            "tick the box to confirm that the course is to be deleted",
        )
        .into());
    }
    service::delete_course(&app, actor, id).await?;
    Ok(see_other("/teach?deleted=1"))
}

async fn export(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    Ok(crate::packages::routes::export_response(&app, actor, id).await?)
}

#[derive(Deserialize)]
struct MoveForm {
    direction: String,
}

/// `-1` for up, `1` for down.
fn step(direction: &str) -> Result<i64, Error> {
    match direction {
        "up" => Ok(-1),
        "down" => Ok(1),
        _ => Err(Error::invalid("direction", "move up or down")),
    }
}

/// Moves a module one place up or down among the course's modules (a no-op at either end).
async fn move_module(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<MoveForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let step = step(&f.direction)?;
    let module = app
        .db
        .read(move |c| crate::courses::module_of(c, id))
        .await?;
    let position = (module.position + step).max(0);
    let module = service::update_module(&app, actor, id, None, Some(position)).await?;
    Ok(see_other(&format!(
        "/teach/courses/{}#module-{id}",
        module.course_id
    )))
}

/// Moves a lesson one place up or down; past the top or bottom of its module it goes to the end of the module
/// before or the start of the module after, so every place in the course can be reached with these buttons.
async fn move_lesson(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<MoveForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let step = step(&f.direction)?;
    let lookup = actor.clone();
    let course = app
        .db
        .read(move |c| crate::courses::require_lesson_edit(c, &lookup, id))
        .await?;
    let outline = service::course_detail(&app, Some(actor.clone()), course.id)
        .await?
        .modules;
    let (m, l) = outline
        .iter()
        .enumerate()
        .find_map(|(m, module)| {
            let l = module.lessons.iter().position(|l| l.id == id)?;
            Some((m, l))
        })
        .ok_or(Error::NotFound)?;
    let (module, position) = match (step, l) {
        (-1, 0) if m > 0 => (Some(outline[m - 1].id), None),
        (1, l) if l + 1 == outline[m].lessons.len() && m + 1 < outline.len() => {
            (Some(outline[m + 1].id), Some(0))
        }
        _ => (None, Some((l as i64 + step).max(0))),
    };
    service::update_lesson(
        &app,
        actor,
        id,
        LessonUpdate {
            title: None,
            body_markdown: None,
            module,
            position,
        },
    )
    .await?;
    Ok(see_other(&format!(
        "/teach/courses/{}#lesson-{id}",
        course.id
    )))
}
