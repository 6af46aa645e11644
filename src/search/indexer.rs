//! Keeping the chunks and both indexes in step with the lessons.
//!
//! A change to a lesson queues an [`IndexCourse`] job in the transaction that makes it ([`schedule_index`]),
//! at most one pending per course. The job runs [`index_course`], which is idempotent: a lesson is cut into
//! chunks and embedded again only when its *source state* changed (its body's hash and the hashes of its
//! indexable files, see [`source_state_sql`]) or the embedding model did; `lesson_index_state` records what
//! each lesson's chunks were made from. The course's documents in the text index are then rewritten from its
//! chunks, and its vectors dropped from memory.
//!
//! Embedding takes seconds, so it runs with no transaction open: the lesson's source state is read, its text
//! gathered and embedded, and the write checks the state is still the one embedded, else leaves the lesson to
//! the job its change queued. Hashing, text extraction, chunking and embedding all happen outside `db`
//! closures.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::text::StoredChunk;
use super::vectors::vector_to_blob;
use super::{chunk, extract};
use crate::App;
use crate::error::Result;
use crate::jobs::{Job, JobContext};

/// What indexing a course did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IndexReport {
    /// Lessons whose chunks were (re)computed.
    pub lessons_embedded: usize,
    /// Lessons already up to date.
    pub lessons_unchanged: usize,
    /// Chunks of the course now indexed.
    pub chunks: usize,
}

/// Attachments whose text is indexed: the kinds [`extract::sections`] reads.
const INDEXABLE: &str =
    "(a.content_type LIKE 'application/pdf%' OR a.content_type LIKE 'text/plain%'
    OR a.content_type LIKE 'text/vtt%' OR a.content_type LIKE 'application/x-subrip%')";

/// SQL for what a lesson's index is made from: its body's hash, then its indexable files' hashes.
fn source_state_sql() -> String {
    format!(
        "l.body_sha256 || coalesce((SELECT ':' || group_concat(sha256, ',') FROM
         (SELECT a.sha256 FROM attachments a WHERE a.lesson_id = l.id AND {INDEXABLE} ORDER BY a.id)), '')"
    )
}

/// The recorded index state of a lesson: its body's hash alone when it has no indexable files (as before files
/// were indexed, so those lessons are not embedded again), else a hash of body and files together.
fn source_state(state: &str) -> String {
    match state.split_once(':') {
        None => state.to_owned(),
        Some(_) => crate::courses::content::sha256(state.as_bytes()),
    }
}

/// A lesson as [`lessons_of`] reads it: its source state now, and what its chunks were made from.
struct LessonState {
    id: i64,
    title: String,
    /// [`source_state_sql`]'s value, unhashed.
    state: String,
    done_sha: Option<String>,
    done_model: Option<String>,
}

/// A lesson to embed again.
struct Pending {
    id: i64,
    title: String,
    body_sha: String,
    /// The source state read, unhashed: the write goes ahead only if the lesson still has it.
    state: String,
    /// [`source_state`] of `state`, as recorded in `lesson_index_state`.
    sha: String,
}

/// Whether the course exists, and the state of each of its lessons.
fn lessons_of(c: &Connection, course_id: i64) -> Result<(bool, Vec<LessonState>)> {
    let exists = c
        .query_row("SELECT 1 FROM courses WHERE id = ?1", [course_id], |_| {
            Ok(())
        })
        .optional()?
        .is_some();
    let mut stmt = c.prepare(&format!(
        "SELECT l.id, l.title, {}, s.body_sha256, s.model
         FROM lessons l LEFT JOIN lesson_index_state s ON s.lesson_id = l.id
         WHERE l.course_id = ?1 ORDER BY l.id",
        source_state_sql()
    ))?;
    let lessons = stmt
        .query_map([course_id], |r| {
            Ok(LessonState {
                id: r.get(0)?,
                title: r.get(1)?,
                state: r.get(2)?,
                done_sha: r.get(3)?,
                done_model: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((exists, lessons))
}

/// Brings the search indexes of `course_id` up to date with its lessons: lessons whose text or embedding model
/// changed are cut into chunks and embedded again; the course's text index is rewritten. Idempotent.
pub async fn index_course(app: &Arc<App>, course_id: i64) -> anyhow::Result<IndexReport> {
    let model = app.models.embedder.model_id();
    let (exists, lessons) = app.db.read(move |c| lessons_of(c, course_id)).await?;
    let mut report = IndexReport::default();
    let mut todo = Vec::new();
    for l in lessons {
        let sha = source_state(&l.state);
        if l.done_sha.as_deref() == Some(&sha) && l.done_model.as_deref() == Some(&model) {
            report.lessons_unchanged += 1;
        } else {
            todo.push(Pending {
                id: l.id,
                title: l.title,
                // The state starts with the body's hash.
                body_sha: l.state.split(':').next().unwrap_or_default().to_owned(),
                state: l.state,
                sha,
            });
        }
    }
    if exists {
        for lesson in todo {
            let (texts, blobs) = embed_lesson(app, &lesson).await?;
            store_lesson(app, course_id, lesson, texts, blobs, model.clone()).await?;
            report.lessons_embedded += 1;
        }
    }
    let chunks = app
        .db
        .read(move |c| {
            let mut stmt = c.prepare(
                "SELECT ch.id, ch.lesson_id, l.title, ch.text FROM chunks ch JOIN lessons l ON l.id = ch.lesson_id
                 WHERE ch.course_id = ?1 ORDER BY ch.id",
            )?;
            let rows = stmt.query_map([course_id], |r| {
                Ok(StoredChunk {
                    id: r.get(0)?,
                    lesson_id: r.get(1)?,
                    lesson_title: r.get(2)?,
                    text: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await?;
    report.chunks = chunks.len();
    let a = app.clone();
    tokio::task::spawn_blocking(move || a.search.text.replace_course(course_id, &chunks)).await??;
    app.search.vectors.forget(course_id);
    tracing::info!(course.id = course_id, ?report, "course indexed for search");
    Ok(report)
}

/// The chunks of `lesson` (its body's, then each indexable file's) and their embeddings, stored form.
async fn embed_lesson(
    app: &Arc<App>,
    lesson: &Pending,
) -> anyhow::Result<(Vec<String>, Vec<Vec<u8>>)> {
    let lesson_id = lesson.id;
    let files = app
        .db
        .read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT filename, content_type, sha256, size FROM attachments a
                 WHERE lesson_id = ?1 AND {INDEXABLE} ORDER BY id"
            ))?;
            let files = stmt
                .query_map([lesson_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(files)
        })
        .await?;
    let body = crate::courses::content::get_body(&app.content, lesson.body_sha.clone()).await?;
    let mut sections = Vec::new();
    for (name, content_type, file_sha, size) in files {
        if size as u64 > extract::MAX_BYTES {
            continue;
        }
        let bytes = crate::courses::content::get_bytes(&app.content, file_sha, size as u64).await?;
        sections.extend(
            tokio::task::spawn_blocking(move || extract::sections(&name, &content_type, &bytes))
                .await?,
        );
    }
    let (words, overlap) = (
        app.config.search.chunk_words,
        app.config.search.chunk_overlap,
    );
    let embedder = app.models.embedder.clone();
    let title = lesson.title.clone();
    tokio::task::spawn_blocking(move || {
        let mut texts = chunk::chunks(&chunk::plain_text(&body), words, overlap);
        // Each file's pieces after the lesson's own text, every chunk saying where it is from.
        for s in &sections {
            texts.extend(
                chunk::chunks(&s.text, words, overlap)
                    .into_iter()
                    .map(|t| format!("[{}] {t}", s.label)),
            );
        }
        let inputs: Vec<String> = texts.iter().map(|x| format!("{title}\n{x}")).collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let blobs = embedder
            .embed(&refs)?
            .iter()
            .map(|v| vector_to_blob(v))
            .collect();
        anyhow::Ok((texts, blobs))
    })
    .await?
}

/// Replaces the chunks of `lesson` with `texts` and their embeddings, unless the lesson changed or went while it
/// was embedded (then the job its change queued does it again).
async fn store_lesson(
    app: &Arc<App>,
    course_id: i64,
    lesson: Pending,
    texts: Vec<String>,
    blobs: Vec<Vec<u8>>,
    model: String,
) -> anyhow::Result<()> {
    app.db
        .write(move |tx| {
            let current: Option<String> = tx
                .query_row(
                    &format!("SELECT {} FROM lessons l WHERE l.id = ?1", source_state_sql()),
                    [lesson.id],
                    |r| r.get(0),
                )
                .optional()?;
            if current.as_deref() != Some(lesson.state.as_str()) {
                return Ok(());
            }
            tx.execute("DELETE FROM chunks WHERE lesson_id = ?1", [lesson.id])?;
            for (i, (text, blob)) in texts.iter().zip(&blobs).enumerate() {
                tx.execute(
                    "INSERT INTO chunks (lesson_id, course_id, ordinal, text, vector) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![lesson.id, course_id, i as i64, text, blob],
                )?;
            }
            tx.execute(
                "INSERT INTO lesson_index_state (lesson_id, body_sha256, model, chunks, indexed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (lesson_id) DO UPDATE SET body_sha256 = excluded.body_sha256,
                   model = excluded.model, chunks = excluded.chunks, indexed_at = excluded.indexed_at",
                params![lesson.id, lesson.sha, model, texts.len() as i64, crate::util::now_rfc3339()],
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Empties both indexes and reindexes every course (`smartcourse reindex`); embeddings whose lesson and model
/// are unchanged are kept unless `fresh`.
pub async fn reindex_all(app: &Arc<App>, fresh: bool) -> anyhow::Result<IndexReport> {
    if fresh {
        app.db
            .write(|tx| {
                tx.execute("DELETE FROM lesson_index_state", [])?;
                tx.execute("DELETE FROM chunks", [])?;
                Ok(())
            })
            .await?;
    }
    let a = app.clone();
    tokio::task::spawn_blocking(move || a.search.text.clear()).await??;
    app.search.vectors.forget_all();
    let ids: Vec<i64> = app
        .db
        .read(|c| {
            let mut s = c.prepare("SELECT id FROM courses ORDER BY id")?;
            let ids = s
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })
        .await?;
    let mut total = IndexReport::default();
    for id in ids {
        let r = index_course(app, id).await?;
        total.lessons_embedded += r.lessons_embedded;
        total.lessons_unchanged += r.lessons_unchanged;
        total.chunks += r.chunks;
    }
    Ok(total)
}

/// Reindexes a course in the background (after a lesson changes).
#[derive(Debug, Serialize, Deserialize)]
pub struct IndexCourse {
    pub course_id: i64,
}

impl Job for IndexCourse {
    const KIND: &'static str = "search.index_course";
    const QUEUE: &'static str = "ml";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        // A change while this job runs makes it run once more (see `jobs::store::insert`).
        index_course(&ctx.app, self.course_id).await?;
        Ok(())
    }
}

/// Queues a reindex of `course_id` in the caller's transaction (one pending job per course).
pub fn schedule_index(tx: &rusqlite::Transaction, course_id: i64) -> Result<()> {
    crate::jobs::enqueue_with(
        tx,
        &IndexCourse { course_id },
        crate::jobs::EnqueueOptions {
            dedup_key: Some(format!("course:{course_id}")),
            ..Default::default()
        },
    )?;
    Ok(())
}
