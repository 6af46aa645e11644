//! SQL of courses, modules, lessons and attachments.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Attachment, Course, CourseRef, LessonOutline, Module, ModuleOutline};
use crate::error::{Error, Result};
use crate::util::now_rfc3339;

/// What the access rules need about course `id`.
pub fn course_ref(conn: &Connection, id: i64) -> Result<Option<CourseRef>> {
    let row: Option<(i64, i64, String)> = conn
        .query_row(
            "SELECT id, owner_id, status FROM courses WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(id, owner_id, status)| {
        Ok(CourseRef {
            id,
            owner_id,
            status: status.parse()?,
        })
    })
    .transpose()
}

/// The course id of a lesson.
pub fn lesson_ref(conn: &Connection, lesson_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT course_id FROM lessons WHERE id = ?1",
            [lesson_id],
            |r| r.get(0),
        )
        .optional()?)
}

const COURSE_COLUMNS: &str =
    "c.id, c.title, c.description, c.capacity, c.status, c.owner_id, u.full_name,
    (SELECT count(*) FROM lessons l WHERE l.course_id = c.id),
    (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id),
    c.created_at, c.updated_at, c.published_at";

fn course(r: &Row<'_>) -> rusqlite::Result<Course> {
    let status: String = r.get(4)?;
    let capacity: Option<i64> = r.get(3)?;
    let enrolled: i64 = r.get(8)?;
    Ok(Course {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        capacity,
        status: status.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                "status".into(),
            )
        })?,
        owner_id: r.get(5)?,
        owner_name: r.get(6)?,
        lesson_count: r.get(7)?,
        enrolled_count: enrolled,
        seats_left: capacity.map(|c| (c - enrolled).max(0)),
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        published_at: r.get(11)?,
    })
}

pub fn get_course(conn: &Connection, id: i64) -> Result<Course> {
    conn.query_row(
        &format!("SELECT {COURSE_COLUMNS} FROM courses c JOIN users u ON u.id = c.owner_id WHERE c.id = ?1"),
        [id],
        course,
    )
    .optional()?
    .ok_or(Error::NotFound)
}

/// Catalog filters.
pub struct CatalogFilter<'a> {
    pub viewer: Option<i64>,
    pub admin: bool,
    pub q: Option<&'a str>,
    pub order: &'a str,
    pub limit: i64,
    pub offset: i64,
}

pub fn list_courses(conn: &Connection, f: &CatalogFilter<'_>) -> Result<(Vec<Course>, i64)> {
    let pattern = crate::util::like_contains(f.q);
    let filter = "(c.status = 'published' OR ?1 OR c.owner_id = ?2)
        AND (?3 IS NULL OR c.title LIKE ?3 ESCAPE '\\' OR c.description LIKE ?3 ESCAPE '\\')";
    let order = match f.order {
        "title" => "c.title COLLATE NOCASE, c.id",
        "oldest" => "c.id",
        "popular" => {
            "(SELECT count(*) FROM enrollments e WHERE e.course_id = c.id) DESC, c.id DESC"
        }
        _ => "c.id DESC",
    };
    let total = conn.query_row(
        &format!("SELECT count(*) FROM courses c WHERE {filter}"),
        params![f.admin, f.viewer, pattern],
        |r| r.get(0),
    )?;
    let items = conn
        .prepare(&format!(
            "SELECT {COURSE_COLUMNS} FROM courses c JOIN users u ON u.id = c.owner_id
             WHERE {filter} ORDER BY {order} LIMIT ?4 OFFSET ?5"
        ))?
        .query_map(
            params![f.admin, f.viewer, pattern, f.limit, f.offset],
            course,
        )?
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}

pub fn insert_course(
    conn: &Connection,
    owner_id: i64,
    title: &str,
    description: &str,
    capacity: Option<i64>,
) -> Result<i64> {
    let now = now_rfc3339();
    conn.execute(
        "INSERT INTO courses (owner_id, title, description, capacity, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![owner_id, title, description, capacity, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn update_course(
    conn: &Connection,
    id: i64,
    title: Option<&str>,
    description: Option<&str>,
    capacity: Option<Option<i64>>,
) -> Result<()> {
    conn.execute(
        "UPDATE courses SET title = coalesce(?2, title), description = coalesce(?3, description),
            capacity = CASE WHEN ?4 THEN ?5 ELSE capacity END, updated_at = ?6 WHERE id = ?1",
        params![
            id,
            title,
            description,
            capacity.is_some(),
            capacity.flatten(),
            now_rfc3339()
        ],
    )?;
    Ok(())
}

pub fn set_status(conn: &Connection, id: i64, status: super::CourseStatus) -> Result<()> {
    let now = now_rfc3339();
    conn.execute(
        "UPDATE courses SET status = ?2, updated_at = ?3,
            published_at = CASE WHEN ?2 = 'published' THEN coalesce(published_at, ?3) ELSE published_at END
         WHERE id = ?1",
        params![id, status.as_str(), now],
    )?;
    Ok(())
}

pub fn touch_course(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE courses SET updated_at = ?2 WHERE id = ?1",
        params![id, now_rfc3339()],
    )?;
    Ok(())
}

/// Content hashes referenced by a course's lessons, attachments and package files (to collect after deleting
/// it).
pub fn course_hashes(conn: &Connection, course_id: i64) -> Result<Vec<String>> {
    Ok(conn
        .prepare(
            "SELECT body_sha256 FROM lessons WHERE course_id = ?1
             UNION SELECT sha256 FROM attachments WHERE course_id = ?1
             UNION SELECT sha256 FROM package_files WHERE course_id = ?1",
        )?
        .query_map([course_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Whether a workflow that is not finished works on course `id`.
pub fn has_running_workflow(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM workflows WHERE course_id = ?1 AND state IN ('queued', 'running'))",
        [id],
        |r| r.get(0),
    )?)
}

pub fn set_owner(conn: &Connection, id: i64, owner_id: i64) -> Result<()> {
    conn.execute(
        "UPDATE courses SET owner_id = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, owner_id, now_rfc3339()],
    )?;
    Ok(())
}

pub fn delete_course(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM courses WHERE id = ?1", [id])?;
    Ok(())
}

pub fn outline(conn: &Connection, course_id: i64) -> Result<Vec<ModuleOutline>> {
    let mut modules: Vec<ModuleOutline> = conn
        .prepare(
            "SELECT id, title, position FROM modules WHERE course_id = ?1 ORDER BY position, id",
        )?
        .query_map([course_id], |r| {
            Ok(ModuleOutline {
                id: r.get(0)?,
                title: r.get(1)?,
                position: r.get(2)?,
                lessons: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT module_id, id, title, position FROM lessons WHERE course_id = ?1 ORDER BY position, id",
    )?;
    let rows = stmt.query_map([course_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            LessonOutline {
                id: r.get(1)?,
                title: r.get(2)?,
                position: r.get(3)?,
            },
        ))
    })?;
    for row in rows {
        let (module_id, lesson) = row?;
        if let Some(m) = modules.iter_mut().find(|m| m.id == module_id) {
            m.lessons.push(lesson);
        }
    }
    Ok(modules)
}

pub fn module(conn: &Connection, id: i64) -> Result<Option<Module>> {
    Ok(conn
        .query_row(
            "SELECT id, course_id, title, position FROM modules WHERE id = ?1",
            [id],
            |r| {
                Ok(Module {
                    id: r.get(0)?,
                    course_id: r.get(1)?,
                    title: r.get(2)?,
                    position: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub fn module_ids(conn: &Connection, course_id: i64) -> Result<Vec<i64>> {
    Ok(conn
        .prepare("SELECT id FROM modules WHERE course_id = ?1 ORDER BY position, id")?
        .query_map([course_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

pub fn lesson_ids(conn: &Connection, module_id: i64) -> Result<Vec<i64>> {
    Ok(conn
        .prepare("SELECT id FROM lessons WHERE module_id = ?1 ORDER BY position, id")?
        .query_map([module_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Writes positions 0, 1, 2, ... in the given order.
pub fn write_positions(conn: &Connection, table: &str, ids: &[i64]) -> Result<()> {
    let mut stmt = conn.prepare(&format!("UPDATE {table} SET position = ?2 WHERE id = ?1"))?;
    for (position, id) in ids.iter().enumerate() {
        stmt.execute(params![id, position as i64])?;
    }
    Ok(())
}

pub fn insert_module(conn: &Connection, course_id: i64, title: &str) -> Result<i64> {
    conn.execute(
        "INSERT INTO modules (course_id, title, position)
         VALUES (?1, ?2, (SELECT coalesce(max(position) + 1, 0) FROM modules WHERE course_id = ?1))",
        params![course_id, title],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn rename_module(conn: &Connection, id: i64, title: &str) -> Result<()> {
    conn.execute(
        "UPDATE modules SET title = ?2 WHERE id = ?1",
        params![id, title],
    )?;
    Ok(())
}

pub fn module_hashes(conn: &Connection, module_id: i64) -> Result<Vec<String>> {
    Ok(conn
        .prepare(
            "SELECT body_sha256 FROM lessons WHERE module_id = ?1
             UNION SELECT a.sha256 FROM attachments a JOIN lessons l ON l.id = a.lesson_id WHERE l.module_id = ?1",
        )?
        .query_map([module_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

pub fn delete_module(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM modules WHERE id = ?1", [id])?;
    Ok(())
}

/// A lesson's stored row: (course, module, title, position, body hash, created, updated).
pub struct LessonRow {
    pub id: i64,
    pub course_id: i64,
    pub module_id: i64,
    pub title: String,
    pub position: i64,
    pub body_sha256: String,
    pub created_at: String,
    pub updated_at: String,
    pub launch_path: Option<String>,
}

pub fn lesson(conn: &Connection, id: i64) -> Result<Option<LessonRow>> {
    Ok(conn
        .query_row(
            "SELECT id, course_id, module_id, title, position, body_sha256, created_at, updated_at,
                    launch_path
             FROM lessons WHERE id = ?1",
            [id],
            |r| {
                Ok(LessonRow {
                    id: r.get(0)?,
                    course_id: r.get(1)?,
                    module_id: r.get(2)?,
                    title: r.get(3)?,
                    position: r.get(4)?,
                    body_sha256: r.get(5)?,
                    created_at: r.get(6)?,
                    updated_at: r.get(7)?,
                    launch_path: r.get(8)?,
                })
            },
        )
        .optional()?)
}

pub fn insert_lesson(
    conn: &Connection,
    course_id: i64,
    module_id: i64,
    title: &str,
    body_sha256: &str,
    body_bytes: usize,
) -> Result<i64> {
    let now = now_rfc3339();
    conn.execute(
        "INSERT INTO lessons (course_id, module_id, title, position, body_sha256, body_bytes, created_at, updated_at)
         VALUES (?1, ?2, ?3, (SELECT coalesce(max(position) + 1, 0) FROM lessons WHERE module_id = ?2), ?4, ?5, ?6, ?6)",
        params![course_id, module_id, title, body_sha256, body_bytes as i64, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn update_lesson(
    conn: &Connection,
    id: i64,
    title: Option<&str>,
    body: Option<(&str, usize)>,
    module_id: Option<i64>,
) -> Result<()> {
    conn.execute(
        "UPDATE lessons SET title = coalesce(?2, title), body_sha256 = coalesce(?3, body_sha256),
            body_bytes = coalesce(?4, body_bytes), module_id = coalesce(?5, module_id), updated_at = ?6
         WHERE id = ?1",
        params![id, title, body.map(|b| b.0), body.map(|b| b.1 as i64), module_id, now_rfc3339()],
    )?;
    Ok(())
}

pub fn lesson_hashes(conn: &Connection, lesson_id: i64) -> Result<Vec<String>> {
    Ok(conn
        .prepare(
            "SELECT body_sha256 FROM lessons WHERE id = ?1 UNION SELECT sha256 FROM attachments WHERE lesson_id = ?1",
        )?
        .query_map([lesson_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

pub fn delete_lesson(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM lessons WHERE id = ?1", [id])?;
    Ok(())
}

fn attachment(r: &Row<'_>) -> rusqlite::Result<Attachment> {
    let id: i64 = r.get(0)?;
    Ok(Attachment {
        id,
        lesson_id: r.get(1)?,
        filename: r.get(2)?,
        content_type: r.get(3)?,
        size: r.get(4)?,
        sha256: r.get(5)?,
        url: format!("/api/attachments/{id}"),
        created_at: r.get(6)?,
    })
}

const ATTACHMENT_COLUMNS: &str = "id, lesson_id, filename, content_type, size, sha256, created_at";

pub fn attachments_of(conn: &Connection, lesson_id: i64) -> Result<Vec<Attachment>> {
    Ok(conn
        .prepare(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE lesson_id = ?1 ORDER BY id"
        ))?
        .query_map([lesson_id], attachment)?
        .collect::<Result<_, _>>()?)
}

pub fn attachment_by_id(conn: &Connection, id: i64) -> Result<Option<Attachment>> {
    Ok(conn
        .query_row(
            &format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?1"),
            [id],
            attachment,
        )
        .optional()?)
}

/// What a course's files take in the store, against `uploads.max_course_bytes`: its attachments and the files
/// kept from its package (SCORM pages and what they load).
pub fn course_bytes(conn: &Connection, course_id: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT (SELECT coalesce(sum(size), 0) FROM attachments WHERE course_id = ?1)
              + (SELECT coalesce(sum(size), 0) FROM package_files WHERE course_id = ?1)",
        [course_id],
        |r| r.get(0),
    )?)
}

/// What a course's attachments alone take (its package files are about to be replaced).
pub fn attachment_bytes(conn: &Connection, course_id: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(size), 0) FROM attachments WHERE course_id = ?1",
        [course_id],
        |r| r.get(0),
    )?)
}

pub fn insert_attachment(
    conn: &Connection,
    lesson_id: i64,
    course_id: i64,
    filename: &str,
    content_type: &str,
    size: i64,
    sha256: &str,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO attachments (lesson_id, course_id, filename, content_type, size, sha256, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![lesson_id, course_id, filename, content_type, size, sha256, now_rfc3339()],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn delete_attachment(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM attachments WHERE id = ?1", [id])?;
    Ok(())
}

/// Every content hash SQLite refers to, for `doctor`.
pub fn referenced_hashes(conn: &Connection) -> Result<Vec<String>> {
    Ok(conn
        .prepare(
            "SELECT body_sha256 FROM lessons UNION SELECT sha256 FROM attachments
             UNION SELECT sha256 FROM package_files",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}
