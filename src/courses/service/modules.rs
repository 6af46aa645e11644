//! Modules, and the order of a course's modules and lessons.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{changed, detail};
use crate::App;
use crate::accounts::Actor;
use crate::courses::{CourseDetail, Module, check_title, content, reorder, require_edit, store};
use crate::error::{Error, Result};

/// Adds a module at `position` (default: last).
pub async fn create_module(
    app: &App,
    actor: Actor,
    course_id: i64,
    title: String,
    position: Option<i64>,
) -> Result<Module> {
    let title = check_title("title", &title)?;
    app.db
        .write(move |tx| {
            require_edit(tx, &actor, course_id)?;
            let id = store::insert_module(tx, course_id, &title)?;
            store::write_positions(
                tx,
                "modules",
                &reorder(store::module_ids(tx, course_id)?, id, position),
            )?;
            store::touch_course(tx, course_id)?;
            store::module(tx, id)?.ok_or(Error::NotFound)
        })
        .await
}

/// Renames and/or moves a module.
pub async fn update_module(
    app: &App,
    actor: Actor,
    id: i64,
    title: Option<String>,
    position: Option<i64>,
) -> Result<Module> {
    let title = title
        .as_deref()
        .map(|t| check_title("title", t))
        .transpose()?;
    app.db
        .write(move |tx| {
            let module = store::module(tx, id)?.ok_or(Error::NotFound)?;
            require_edit(tx, &actor, module.course_id)?;
            if let Some(t) = &title {
                store::rename_module(tx, id, t)?;
            }
            if position.is_some() {
                store::write_positions(
                    tx,
                    "modules",
                    &reorder(store::module_ids(tx, module.course_id)?, id, position),
                )?;
            }
            store::touch_course(tx, module.course_id)?;
            store::module(tx, id)?.ok_or(Error::NotFound)
        })
        .await
}

/// Deletes a module with its lessons and their content.
pub async fn delete_module(app: &App, actor: Actor, id: i64) -> Result<()> {
    let hashes = app
        .db
        .write(move |tx| {
            let module = store::module(tx, id)?.ok_or(Error::NotFound)?;
            require_edit(tx, &actor, module.course_id)?;
            let hashes = store::module_hashes(tx, id)?;
            store::delete_module(tx, id)?;
            let rest = store::module_ids(tx, module.course_id)?;
            store::write_positions(tx, "modules", &rest)?;
            changed(tx, module.course_id)?;
            Ok(hashes)
        })
        .await?;
    content::collect_garbage(&app.db, &app.content, hashes).await?;
    Ok(())
}

/// The whole order of a course: modules in order, each with its lessons in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Structure {
    /// Every module of the course, in the new order.
    pub modules: Vec<ModuleOrder>,
}

/// One module's place and lessons.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleOrder {
    /// Module id.
    pub id: i64,
    /// Every lesson that belongs in it, in order (lessons may move between modules).
    pub lessons: Vec<i64>,
}

/// Reorders modules and lessons in one step. The structure must name every module and lesson of the course
/// exactly once.
pub async fn set_structure(
    app: &App,
    actor: Actor,
    course_id: i64,
    structure: Structure,
) -> Result<CourseDetail> {
    app.db
        .write(move |tx| {
            require_edit(tx, &actor, course_id)?;
            let outline = store::outline(tx, course_id)?;
            let mut have_modules: Vec<i64> = outline.iter().map(|m| m.id).collect();
            let mut have_lessons: Vec<i64> = outline
                .iter()
                .flat_map(|m| m.lessons.iter().map(|l| l.id))
                .collect();
            let mut got_modules: Vec<i64> = structure.modules.iter().map(|m| m.id).collect();
            let mut got_lessons: Vec<i64> = structure
                .modules
                .iter()
                .flat_map(|m| m.lessons.iter().copied())
                .collect();
            for v in [
                &mut have_modules,
                &mut have_lessons,
                &mut got_modules,
                &mut got_lessons,
            ] {
                v.sort_unstable();
            }
            if have_modules != got_modules || have_lessons != got_lessons {
                return Err(Error::invalid(
                    "modules",
                    "the structure must list every module and lesson of the course exactly once",
                ));
            }
            let order: Vec<i64> = structure.modules.iter().map(|m| m.id).collect();
            store::write_positions(tx, "modules", &order)?;
            for m in &structure.modules {
                for l in &m.lessons {
                    store::update_lesson(tx, *l, None, None, Some(m.id))?;
                }
                store::write_positions(tx, "lessons", &m.lessons)?;
            }
            store::touch_course(tx, course_id)?;
            detail(tx, course_id)
        })
        .await
}
