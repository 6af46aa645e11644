//! The teacher's quiz editor: a question's form for every kind (edit and add), deleting a question after a
//! confirmation, moving one up or down, and the quiz's settings. Plain forms, no script needed.
//!
//! Every page and action checks, through the domain functions, that the viewer may edit the lesson (403
//! otherwise, before anything in the form is looked at). A form with a mistake is shown again as it was sent,
//! the mistake under its field (422); a change of grading on a quiz students have attempted is shown again
//! with the question whether to save it anyway (409) — see [`quizzes::edit`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::{Viewer, WebError, flash, render, sentence};
use crate::App;
use crate::accounts::Actor;
use crate::courses::service::get_lesson;
use crate::error::Error;
use crate::http::extract::Path;
use crate::quizzes::edit::{self, Draft, settings::Settings};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/teach/lessons/{id}/quiz/questions", post(add_question))
        .route(
            "/teach/lessons/{id}/quiz/questions/new",
            get(new_question_page),
        )
        .route(
            "/teach/lessons/{id}/quiz/questions/{n}",
            get(question_page).post(edit_question),
        )
        .route(
            "/teach/lessons/{id}/quiz/questions/{n}/delete",
            get(confirm_delete).post(delete_question),
        )
        .route(
            "/teach/lessons/{id}/quiz/questions/{n}/move",
            post(move_question),
        )
        .route(
            "/teach/lessons/{id}/quiz/settings",
            get(settings_page).post(save_settings),
        )
}

/// The quiz's page, where every editing action returns.
fn quiz_page(id: i64) -> String {
    format!("/teach/lessons/{id}/quiz")
}

/// How a form is shown again after `e`: a field's mistake (422) or a change to confirm (409), as the status
/// and what the template adds. Any other error (403, 404, …) is a page of its own.
async fn again(app: &App, lesson_id: i64, e: Error) -> Result<(StatusCode, Value), WebError> {
    match e {
        Error::Invalid { field, message } => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            context! { field, error => sentence(&message) },
        )),
        Error::Conflict {
            code: "confirm_quiz_change",
            ..
        } => {
            let n = app
                .db
                .read(move |c| edit::students_with_attempts(c, lesson_id))
                .await?;
            Ok((StatusCode::CONFLICT, context! { confirm_students => n }))
        }
        other => Err(other.into()),
    }
}

/// A row of the question form's choices.
#[derive(Serialize)]
struct ChoiceRow {
    text: String,
    right: bool,
}

/// Empty rows offered under a question's choices, to add some.
const SPARE_ROWS: usize = 2;

/// The question form (`number` 0: a new question) showing `d`, with `extra` (a mistake, a confirmation).
async fn question_form(
    app: &App,
    viewer: &Viewer,
    actor: Actor,
    id: i64,
    number: usize,
    d: &Draft,
    extra: Value,
) -> Result<Html<String>, WebError> {
    let lesson = get_lesson(app, actor, id).await?;
    let spare = if d.choices.is_empty() { 4 } else { SPARE_ROWS };
    let rows: Vec<ChoiceRow> = d
        .choices
        .iter()
        .enumerate()
        .map(|(i, text)| ChoiceRow {
            text: text.clone(),
            right: d.right.contains(&i),
        })
        .chain((0..spare).map(|_| ChoiceRow {
            text: String::new(),
            right: false,
        }))
        .collect();
    let (title, action) = if number == 0 {
        (
            format!("{}: a new question", lesson.title),
            format!("/teach/lessons/{id}/quiz/questions"),
        )
    } else {
        (
            format!("{}: question {number}", lesson.title),
            format!("/teach/lessons/{id}/quiz/questions/{number}"),
        )
    };
    Ok(render(
        "teach_quiz_question.html",
        viewer,
        &title,
        context! { ..extra, ..context! { lesson, number, d, rows, action } },
    ))
}

/// The form that edits question `n` (1-based) of a lesson's quiz, whatever its kind.
async fn question_page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path((id, n)): Path<(i64, usize)>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let a = actor.clone();
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    let q = app
        .db
        .read(move |c| edit::question(c, &a, id, index))
        .await?;
    question_form(
        &app,
        &viewer,
        actor,
        id,
        n,
        &Draft::of(&q),
        Value::UNDEFINED,
    )
    .await
}

#[derive(Deserialize)]
struct NewQuery {
    #[serde(default)]
    kind: String,
}

/// The form that adds a question of `?kind=` (one right choice when none is named).
async fn new_question_page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<NewQuery>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let check = actor.clone();
    app.db
        .read(move |c| crate::courses::require_lesson_edit(c, &check, id))
        .await?;
    let kind = if q.kind.is_empty() {
        "single_choice"
    } else {
        q.kind.as_str()
    };
    if !edit::KINDS.contains(&kind) {
        return Err(Error::invalid("kind", "no such kind of question").into());
    }
    let d = Draft {
        kind: kind.to_owned(),
        truth: "true".into(),
        ..Draft::default()
    };
    question_form(&app, &viewer, actor, id, 0, &d, Value::UNDEFINED).await
}

/// The question form's fields as a [`Draft`]: each `choice` row in order and the places of the rows marked
/// `right`, the ticked boxes, and `confirm=yes` after the teacher was asked; with the mistake (422 on `right`)
/// of a place that is not a number, which is told only to whoever may edit the quiz.
fn draft_of(fields: &[(String, String)]) -> (Draft, Option<Error>) {
    let mut d = Draft::default();
    let mut bad = None;
    for (k, v) in fields {
        match k.as_str() {
            "kind" => d.kind = v.clone(),
            "prompt" => d.prompt = v.clone(),
            "choice" => d.choices.push(v.clone()),
            "right" => match v.parse() {
                Ok(i) => d.right.push(i),
                Err(_) => bad = Some(Error::invalid("right", "not a choice of this form")),
            },
            "truth" => d.truth = v.clone(),
            "answers" => d.answers = v.clone(),
            "case_sensitive" => d.case_sensitive = true,
            "shuffle_choices" => d.shuffle_choices = true,
            "points" => d.points = Some(v.clone()),
            "feedback" => d.feedback = Some(v.clone()),
            "confirm" => d.confirm = v == "yes",
            _ => {}
        }
    }
    (d, bad)
}

/// Saves question `n` (1-based) of a lesson's quiz from its form, then shows the quiz's page; a mistake or a
/// change to confirm shows the form again.
async fn edit_question(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path((id, n)): Path<(i64, usize)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    let (mut d, bad) = draft_of(&fields);
    let (a, draft) = (actor.clone(), d.clone());
    let saved = app
        .db
        .write(move |tx| {
            // Who may edit is decided before anything the form says.
            crate::courses::require_lesson_edit(tx, &a, id)?;
            bad.map_or(Ok(()), Err)?;
            edit::edit_question(tx, &a, id, index, &draft)
        })
        .await;
    let Err(e) = saved else {
        return Ok(flash::redirect(&app, &quiz_page(id), "Question saved."));
    };
    let (status, extra) = again(&app, id, e).await?;
    let a = actor.clone();
    let q = app
        .db
        .read(move |c| edit::question(c, &a, id, index))
        .await?;
    d.kind = edit::kind_tag(&q.kind).to_owned();
    let page = question_form(&app, &viewer, actor, id, n, &d, extra).await?;
    Ok((status, page).into_response())
}

/// Adds a question of the form's kind, then shows the quiz's page; a mistake shows the form again.
async fn add_question(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let (mut d, bad) = draft_of(&fields);
    let (a, draft) = (actor.clone(), d.clone());
    let added = app
        .db
        .write(move |tx| {
            crate::courses::require_lesson_edit(tx, &a, id)?;
            bad.map_or(Ok(()), Err)?;
            edit::add_question(tx, &a, id, &draft)
        })
        .await;
    let Err(e) = added else {
        return Ok(flash::redirect(&app, &quiz_page(id), "Question added."));
    };
    let (status, extra) = again(&app, id, e).await?;
    if !edit::KINDS.contains(&d.kind.as_str()) {
        d.kind = "single_choice".into();
    }
    let page = question_form(&app, &viewer, actor, id, 0, &d, extra).await?;
    Ok((status, page).into_response())
}

/// Asks whether to delete question `n`, saying what students' attempts keep.
async fn confirm_delete(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path((id, n)): Path<(i64, usize)>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let a = actor.clone();
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    let (q, students) = app
        .db
        .read(move |c| {
            let q = edit::question(c, &a, id, index)?;
            Ok((q, edit::students_with_attempts(c, id)?))
        })
        .await?;
    let lesson = get_lesson(&app, actor, id).await?;
    let label = crate::quizzes::teacher::question_label(&q);
    Ok(render(
        "teach_quiz_delete.html",
        &viewer,
        "Delete a question",
        context! { lesson, number => n, label, students },
    ))
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

async fn delete_question(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path((id, n)): Path<(i64, usize)>,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    let confirm = f.confirm == "yes";
    app.db
        .write(move |tx| edit::delete_question(tx, &actor, id, index, confirm))
        .await?;
    Ok(flash::redirect(&app, &quiz_page(id), "Question deleted."))
}

#[derive(Deserialize)]
struct MoveForm {
    #[serde(default)]
    direction: String,
}

/// Moves question `n` one place up or down (a no-op at either end), back to its row on the quiz's page.
async fn move_question(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path((id, n)): Path<(i64, usize)>,
    Form(f): Form<MoveForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let index = n.checked_sub(1).ok_or(Error::NotFound)?;
    let to = app
        .db
        .write(move |tx| edit::move_question(tx, &actor, id, index, &f.direction))
        .await?;
    Ok(super::see_other(&format!(
        "{}#question-{}",
        quiz_page(id),
        to + 1
    )))
}

async fn settings_form(
    app: &App,
    viewer: &Viewer,
    actor: Actor,
    id: i64,
    s: &Settings,
    pool: usize,
    extra: Value,
) -> Result<Html<String>, WebError> {
    let lesson = get_lesson(app, actor, id).await?;
    Ok(render(
        "teach_quiz_settings.html",
        viewer,
        "Quiz settings",
        context! { ..extra, ..context! { lesson, s, pool } },
    ))
}

/// The quiz's settings: introduction, pass rule, attempts, shuffling and drawing.
async fn settings_page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let a = actor.clone();
    let quiz = app
        .db
        .read(move |c| edit::settings::quiz(c, &a, id))
        .await?;
    let s = Settings::of(&quiz);
    settings_form(
        &app,
        &viewer,
        actor,
        id,
        &s,
        quiz.questions.len(),
        Value::UNDEFINED,
    )
    .await
}

/// Saves the settings, then shows the quiz's page; a mistake or a change to confirm shows the form again.
async fn save_settings(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(s): Form<Settings>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let (a, form) = (actor.clone(), s.clone());
    let saved = app
        .db
        .write(move |tx| edit::settings::save_settings(tx, &a, id, &form))
        .await;
    let Err(e) = saved else {
        return Ok(flash::redirect(
            &app,
            &quiz_page(id),
            "Quiz settings saved.",
        ));
    };
    let (status, extra) = again(&app, id, e).await?;
    let a = actor.clone();
    let pool = app
        .db
        .read(move |c| edit::settings::quiz(c, &a, id))
        .await?
        .questions
        .len();
    let page = settings_form(&app, &viewer, actor, id, &s, pool, extra).await?;
    Ok((status, page).into_response())
}
