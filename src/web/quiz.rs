//! Quiz pages: a student takes a quiz lesson's quiz (a plain form, one control per answer), sees the result
//! with feedback and may try again while attempts remain; the course's teachers see per-question figures.
//!
//! Form fields name questions and their parts by their place in the attempt's view (`q3`, `q3.1`), which
//! the attempt's seed gives again on submission, so no id from a package has to survive a form's encoding.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Multipart, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{Viewer, WebError, render, see_other};
use crate::App;
use crate::courses::upload;
use crate::error::Error;
use crate::http::extract::Path;
use crate::quizzes::{self, Answers, AttemptView, Mark, Response as Answer};
use smartcourse_formats::quiz::view::{GapKindView, KindView};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/lessons/{id}/quiz", get(quiz_page).post(start))
        .route("/quiz-attempts/{id}", get(result_page).post(submit))
        .route("/quiz-attempts/{id}/hint", post(hint))
        .route("/teach/lessons/{id}/quiz", get(report_page))
        .route(
            "/teach/lessons/{id}/quiz/gift",
            // The file streams past the form body limit; `upload::stage` applies the GIFT file's own.
            post(upload_gift).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/teach/quiz-attempts/{id}/mark", post(mark_essay))
}

/// One form control of a question.
#[derive(Serialize)]
struct Control {
    /// The field's name.
    name: String,
    /// `radio`, `checkbox`, `text`, `number`, `textarea`, `select`.
    input: &'static str,
    /// Its label (sanitised HTML for a choice; text otherwise).
    label: String,
    /// The value sent (a radio's or checkbox's), or the value it shows (a text field's).
    value: String,
    /// Whether the saved answer has it chosen.
    checked: bool,
    /// A select's options: (value, text).
    options: Vec<(String, String)>,
}

#[derive(Serialize)]
struct FormQuestion {
    number: usize,
    title: String,
    prompt: String,
    points: f64,
    kind: &'static str,
    controls: Vec<Control>,
    /// How many hints the question has, and those the attempt revealed (sanitised HTML).
    hints: usize,
    revealed: Vec<String>,
}

fn control(
    name: String,
    input: &'static str,
    label: String,
    value: String,
    checked: bool,
) -> Control {
    Control {
        name,
        input,
        label,
        value,
        checked,
        options: Vec::new(),
    }
}

/// The form of an attempt, with what was saved filled in.
fn form(view: &AttemptView) -> Vec<FormQuestion> {
    let mut out = Vec::new();
    for (i, q) in view.quiz.questions.iter().enumerate() {
        let name = format!("q{i}");
        let saved = view.saved.get(&q.id);
        let mut prompt = q.prompt.clone();
        let (kind, controls) = match &q.kind {
            KindView::SingleChoice { choices } => (
                "single",
                choices
                    .iter()
                    .map(|c| {
                        let on = matches!(saved, Some(Answer::Choice { choice }) if choice == &c.id);
                        control(name.clone(), "radio", c.text.clone(), c.id.clone(), on)
                    })
                    .collect(),
            ),
            KindView::MultipleResponse { choices } => (
                "multiple",
                choices
                    .iter()
                    .map(|c| {
                        let on = matches!(saved, Some(Answer::Choices { choices }) if choices.contains(&c.id));
                        control(name.clone(), "checkbox", c.text.clone(), c.id.clone(), on)
                    })
                    .collect(),
            ),
            KindView::TrueFalse => (
                "single",
                [("true", "True"), ("false", "False")]
                    .into_iter()
                    .map(|(v, label)| {
                        let on = matches!(saved, Some(Answer::TrueFalse { value }) if value.to_string() == v);
                        control(name.clone(), "radio", label.into(), v.into(), on)
                    })
                    .collect(),
            ),
            KindView::ShortAnswer | KindView::Numeric => {
                let typed = match saved {
                    Some(Answer::Text { text } | Answer::Number { text }) => text.clone(),
                    _ => String::new(),
                };
                let input = if matches!(q.kind, KindView::Numeric) { "number" } else { "text" };
                ("typed", vec![control(name.clone(), input, "Your answer".into(), typed, false)])
            }
            KindView::Essay { template } => {
                let typed = match saved {
                    Some(Answer::Essay { text }) => text.clone(),
                    _ => template.clone(),
                };
                ("typed", vec![control(name.clone(), "textarea", "Your answer".into(), typed, false)])
            }
            KindView::Matching { prompts, answers } => (
                "parts",
                prompts
                    .iter()
                    .enumerate()
                    .map(|(j, p)| {
                        let chosen = match saved {
                            Some(Answer::Matching { pairs }) => pairs.get(&p.id).cloned().unwrap_or_default(),
                            _ => String::new(),
                        };
                        let mut c = control(format!("{name}.{j}"), "select", p.text.clone(), chosen, false);
                        c.options = answers.iter().map(|a| (a.clone(), a.clone())).collect();
                        c
                    })
                    .collect(),
            ),
            KindView::Ordering { items } => (
                "parts",
                items
                    .iter()
                    .enumerate()
                    .map(|(j, it)| {
                        let place = match saved {
                            Some(Answer::Ordering { items: order }) => order
                                .iter()
                                .position(|x| x == &it.id)
                                .map(|p| (p + 1).to_string())
                                .unwrap_or_default(),
                            _ => String::new(),
                        };
                        let mut c = control(format!("{name}.{j}"), "select", it.text.clone(), place, false);
                        c.options = (1..=items.len()).map(|n| (n.to_string(), n.to_string())).collect();
                        c
                    })
                    .collect(),
            ),
            KindView::FillBlanks { gaps } => {
                let mut controls = Vec::new();
                for (j, g) in gaps.iter().enumerate() {
                    let marker = smartcourse_formats::quiz::gap_marker(&g.id);
                    prompt = prompt.replace(&marker, &format!("<strong>[{}]</strong>", j + 1));
                    let typed = match saved {
                        Some(Answer::Blanks { gaps }) => gaps.get(&g.id).cloned().unwrap_or_default(),
                        _ => String::new(),
                    };
                    let label = format!("Blank {}", j + 1);
                    let c = match &g.kind {
                        GapKindView::Text => control(format!("{name}.{j}"), "text", label, typed, false),
                        GapKindView::Numeric => control(format!("{name}.{j}"), "number", label, typed, false),
                        GapKindView::Choice { choices } => {
                            let mut c = control(format!("{name}.{j}"), "select", label, typed, false);
                            c.options = choices.iter().map(|o| (o.id.clone(), o.text.clone())).collect();
                            c
                        }
                    };
                    controls.push(c);
                }
                ("parts", controls)
            }
        };
        out.push(FormQuestion {
            number: i + 1,
            title: q.title.clone(),
            prompt,
            points: q.points,
            kind,
            controls,
            hints: q.hints,
            revealed: view.revealed_hints.get(&q.id).cloned().unwrap_or_default(),
        });
    }
    out
}

/// The answers a submitted form gives, by question id (an empty field is no answer).
fn answers_of(view: &AttemptView, fields: &[(String, String)]) -> Answers {
    let values = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let first = |name: &str| values(name).first().map(|v| (*v).to_owned());
    let mut answers = BTreeMap::new();
    for (i, q) in view.quiz.questions.iter().enumerate() {
        let name = format!("q{i}");
        let answer = match &q.kind {
            KindView::SingleChoice { .. } => first(&name).map(|choice| Answer::Choice { choice }),
            KindView::MultipleResponse { .. } => {
                let chosen: Vec<String> = values(&name).into_iter().map(str::to_owned).collect();
                (!chosen.is_empty()).then_some(Answer::Choices { choices: chosen })
            }
            KindView::TrueFalse => first(&name).map(|v| Answer::TrueFalse { value: v == "true" }),
            KindView::ShortAnswer => first(&name).map(|text| Answer::Text { text }),
            KindView::Numeric => first(&name).map(|text| Answer::Number { text }),
            KindView::Essay { .. } => first(&name).map(|text| Answer::Essay { text }),
            KindView::Matching { prompts, .. } => {
                let pairs: BTreeMap<String, String> = prompts
                    .iter()
                    .enumerate()
                    .filter_map(|(j, p)| Some((p.id.clone(), first(&format!("{name}.{j}"))?)))
                    .collect();
                (!pairs.is_empty()).then_some(Answer::Matching { pairs })
            }
            KindView::Ordering { items } => {
                let mut placed: Vec<(u32, String)> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(j, it)| {
                        let n = first(&format!("{name}.{j}"))?.parse().ok()?;
                        Some((n, it.id.clone()))
                    })
                    .collect();
                placed.sort();
                (!placed.is_empty()).then(|| Answer::Ordering {
                    items: placed.into_iter().map(|(_, id)| id).collect(),
                })
            }
            KindView::FillBlanks { gaps } => {
                let filled: BTreeMap<String, String> = gaps
                    .iter()
                    .enumerate()
                    .filter_map(|(j, g)| Some((g.id.clone(), first(&format!("{name}.{j}"))?)))
                    .collect();
                (!filled.is_empty()).then_some(Answer::Blanks { gaps: filled })
            }
        };
        if let Some(a) = answer {
            answers.insert(q.id.clone(), a);
        }
    }
    Answers { answers }
}

/// The quiz of a lesson: the open attempt's form, or the attempts so far and a button to start one.
async fn quiz_page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let a = actor.clone();
    let (mine, open) = app
        .db
        .read(move |c| {
            let mine = quizzes::my_attempts(c, &a, id)?;
            let open = match mine.attempts.iter().find(|t| t.submitted_at.is_none()) {
                Some(_) => Some(quizzes::resume(c, &a, id)?),
                None => None,
            };
            Ok((mine, open))
        })
        .await?;
    let lesson = crate::courses::service::get_lesson(&app, actor, id).await?;
    let questions = open.as_ref().map(form);
    Ok(render(
        "quiz.html",
        &viewer,
        &lesson.title,
        context! { lesson, mine, open, questions },
    ))
}

/// Starts (or resumes) an attempt, then shows its form.
async fn start(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    app.db
        .write(move |tx| quizzes::start(tx, &actor, id))
        .await?;
    Ok(see_other(&format!("/lessons/{id}/quiz")))
}

/// Submits the form's answers, then shows the result.
async fn submit(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let a = actor.clone();
    app.db
        .write(move |tx| {
            let view = quizzes::attempt_view(tx, &a, id)?;
            let answers = answers_of(&view, &fields);
            quizzes::submit(tx, &a, id, &answers)
        })
        .await?;
    Ok(see_other(&format!("/quiz-attempts/{id}")))
}

/// The "Show a hint" button of the attempt's form: keeps the form's answers (saved, not submitted), reveals
/// the next hint of the question numbered `hint` (from 1), then shows the form again at that question.
async fn hint(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let number: usize = fields
        .iter()
        .find(|(k, _)| k == "hint")
        .and_then(|(_, v)| v.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::invalid("hint", "which question's hint"))?;
    let lesson = app
        .db
        .write(move |tx| {
            let view = quizzes::attempt_view(tx, &actor, id)?;
            let question = view
                .quiz
                .questions
                .get(number - 1)
                .ok_or(Error::NotFound)?
                .id
                .clone();
            quizzes::save(tx, &actor, id, &answers_of(&view, &fields))?;
            quizzes::reveal_hint(tx, &actor, id, &question)?;
            Ok(view.lesson_id)
        })
        .await?;
    Ok(see_other(&format!(
        "/lessons/{lesson}/quiz#question-{number}"
    )))
}

/// A submitted attempt: score, pass, and each question's feedback; a retry while attempts remain.
async fn result_page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let a = actor.clone();
    let (result, mine) = app
        .db
        .read(move |c| {
            let result = quizzes::result(c, &a, id)?;
            let mine = quizzes::my_attempts(c, &a, result.lesson_id).ok();
            Ok((result, mine))
        })
        .await?;
    let lesson = crate::courses::service::get_lesson(&app, actor, result.lesson_id).await?;
    Ok(render(
        "quiz_result.html",
        &viewer,
        &format!("{}: result", lesson.title),
        context! { lesson, result, mine, percent => (result.percent * 10.0).round() / 10.0 },
    ))
}

/// The teacher's page of a quiz: per-question figures, each student's attempts, the essays to mark, and
/// new questions from a GIFT file.
async fn report_page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let actor = viewer.require()?;
    let a = actor.clone();
    let (report, results, quiz) = app
        .db
        .read(move |c| {
            let report = quizzes::report(c, &a, id)?;
            let results = quizzes::results::results(c, &a, id)?;
            Ok((report, results, quizzes::edit::settings::quiz(c, &a, id)?))
        })
        .await?;
    let lesson = crate::courses::service::get_lesson(&app, actor, id).await?;
    // The editor's view of each question and the rules: the teacher's own page, answers and all.
    let points: Vec<f64> = quiz.questions.iter().map(|q| q.points).collect();
    let settings = quizzes::edit::settings::Settings::of(&quiz);
    Ok(render(
        "teach_quiz.html",
        &viewer,
        &format!("{}: results", lesson.title),
        context! { lesson, report, results, points, settings, pool => quiz.questions.len() },
    ))
}

/// Makes the questions of an uploaded GIFT file the lesson's quiz (`force`: even though students attempted
/// it), then shows the quiz's page. A mistake in the file is shown with its line; nothing changes then.
async fn upload_gift(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    form: std::result::Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    let (actor, mut form) = super::lesson_upload(&app, &viewer, id, form).await?;
    let (mut text, mut force) = (None, false);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| Error::BadRequest(format!("not a valid upload: {e}").into()))?
    {
        match field.name() {
            Some("gift") => text = Some(stage_gift(&app, &actor, field).await?),
            Some("force") => force = true,
            _ => {}
        }
    }
    let text = text
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::invalid("gift", "choose a GIFT file"))?;
    let limits = app.config.uploads.clone();
    let questions = crate::blocking(move || quizzes::gift::parse(&text, &limits)).await?;
    app.db
        .write(move |tx| quizzes::gift::replace_questions(tx, &actor, id, questions, force))
        .await?;
    Ok(see_other(&format!("/teach/lessons/{id}/quiz")))
}

/// Receives a GIFT file the way every upload is received ([`upload::stage`]): streamed to the staging area
/// under [`quizzes::gift::MAX_FILE_BYTES`] (413), stopped when it stalls (408), within the user's staging share
/// (409), then read back as text; anything but UTF-8 text is 422 on `gift`.
async fn stage_gift(
    app: &App,
    actor: &crate::accounts::Actor,
    field: axum::extract::multipart::Field<'_>,
) -> Result<String, Error> {
    let not_text = || Error::invalid("gift", "a GIFT file is UTF-8 text");
    let staged = upload::stage(
        field,
        &app.data.join("tmp"),
        quizzes::gift::MAX_FILE_BYTES,
        app.upload_stall(),
        &mut app.upload_quota(actor.user_id()),
    )
    .await
    .map_err(|e| match e {
        Error::Unsupported(_) => not_text(),
        Error::Invalid { .. } => Error::invalid("gift", "choose a GIFT file"),
        other => other,
    })?;
    if !staged.content_type.starts_with("text/") {
        return Err(not_text());
    }
    tokio::fs::read_to_string(&staged.path)
        .await
        .map_err(|_| not_text())
}

#[derive(Deserialize)]
struct MarkForm {
    question: String,
    score: String,
    #[serde(default)]
    comment: String,
}

/// Marks an essay answer of attempt `id` from the teacher's page, then shows the page again.
async fn mark_essay(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<MarkForm>,
) -> Result<Response, WebError> {
    let actor = viewer.require()?;
    let score: f64 = f
        .score
        .trim()
        .parse()
        .map_err(|_| Error::invalid("score", "a mark is a number"))?;
    let m = Mark {
        score,
        comment: Some(f.comment).filter(|c| !c.trim().is_empty()),
    };
    let question = f.question;
    let result = app
        .db
        .write(move |tx| quizzes::mark(tx, &actor, id, &question, &m))
        .await?;
    Ok(see_other(&format!(
        "/teach/lessons/{}/quiz",
        result.lesson_id
    )))
}
