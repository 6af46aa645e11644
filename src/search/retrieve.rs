//! From a question to hits: the scope a caller may read, the two rankings, their fusion, and the chunks read
//! back. [`retrieve`] serves the tutor (chunks as they are); [`search`] serves `GET /api/search` and the search
//! page (a lesson's best passage, highlighted).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::fusion::{self, Ranking};
use crate::App;
use crate::accounts::Actor;
use crate::accounts::policy::readable_courses;
use crate::error::{Error, Result};

/// Reciprocal rank fusion constant (Cormack et al. 2009 use 60).
const RRF_K: f64 = 60.0;
/// Candidates each ranking contributes before fusion.
const CANDIDATES: usize = 50;

/// One retrieved chunk.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub chunk_id: i64,
    pub lesson_id: i64,
    pub course_id: i64,
    /// The lesson's title.
    pub lesson_title: String,
    /// Position of the chunk in its lesson, from 0.
    pub ordinal: i64,
    /// The chunk's text.
    pub text: String,
    /// Fused rank score (higher is better).
    pub score: f64,
    /// Cosine similarity to the query (0 when vectors were not used).
    pub cosine: f32,
}

/// How to rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// BM25 and vectors, fused.
    Hybrid,
    /// BM25 only.
    Text,
    /// Vectors only.
    Vector,
}

/// The best `limit` chunks for `query` within `courses`.
pub async fn retrieve(
    app: &Arc<App>,
    courses: Vec<i64>,
    query: String,
    limit: usize,
    mode: Mode,
) -> Result<Vec<Hit>> {
    if courses.is_empty() || query.trim().is_empty() {
        return Ok(Vec::new());
    }
    let courses: Arc<[i64]> = courses.into();
    // The word ranking and the question's embedding are CPU work: done before any connection is taken.
    let (text_ranked, embedded) = {
        let (a, courses) = (app.clone(), courses.clone());
        crate::blocking(move || {
            let text_ranked = if mode != Mode::Vector {
                a.search
                    .text
                    .search(&query, &courses, CANDIDATES)
                    .map_err(Error::Internal)?
            } else {
                Vec::new()
            };
            let embedded = if mode != Mode::Text {
                Some(embed_query(&a, &query)?)
            } else {
                None
            };
            Ok((text_ranked, embedded))
        })
        .await?
    };
    let mut cosines: HashMap<i64, f32> = HashMap::new();
    let vector_ranked = match embedded {
        None => Vec::new(),
        Some(q) => {
            let (vectors, config) = (&app.search.vectors, &app.config.search);
            let sets = vectors.sets(&app.db, &courses).await?;
            let mut ranked = vectors
                .search(
                    &app.db,
                    &courses,
                    &sets,
                    q.clone(),
                    CANDIDATES,
                    config.exact_below,
                )
                .await?;
            ranked.retain(|(_, cosine)| *cosine >= config.min_similarity);
            // Cosines of the BM25 candidates too, so every hit carries one.
            for (id, _) in &text_ranked {
                if let Some(v) = sets.iter().find_map(|s| s.get(*id, q.len())) {
                    cosines.insert(*id, crate::ml::embed::dot(v, &q));
                }
            }
            for (id, c) in &ranked {
                cosines.insert(*id, *c);
            }
            ranked
        }
    };
    let (text_ids, vector_ids): (Vec<i64>, Vec<i64>) = (
        text_ranked.iter().map(|(id, _)| *id).collect(),
        vector_ranked.iter().map(|(id, _)| *id).collect(),
    );
    let mut ranked = fusion::fuse(
        &[
            Ranking {
                ids: &text_ids,
                weight: app.config.search.text_weight,
            },
            Ranking {
                ids: &vector_ids,
                weight: app.config.search.vector_weight,
            },
        ],
        RRF_K,
    );
    ranked.truncate(limit);
    let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
    let mut rows = app.db.read(move |c| chunk_rows(c, &ids)).await?;
    Ok(ranked
        .into_iter()
        .filter_map(|(id, score)| {
            let row = rows.remove(&id)?;
            Some(Hit {
                chunk_id: id,
                lesson_id: row.lesson_id,
                course_id: row.course_id,
                lesson_title: row.lesson_title,
                ordinal: row.ordinal,
                text: row.text,
                score,
                cosine: cosines.get(&id).copied().unwrap_or(0.0),
            })
        })
        .collect())
}

/// The question as a vector; a model that cannot run makes vector search unavailable, not failed.
fn embed_query(app: &App, query: &str) -> Result<Arc<[f32]>> {
    let mut vectors = app.models.embedder.embed(&[query]).map_err(|e| {
        Error::Unavailable(format!("the embedding model is not available: {e:#}").into())
    })?;
    Ok(vectors.remove(0).into())
}

struct ChunkRow {
    lesson_id: i64,
    course_id: i64,
    lesson_title: String,
    ordinal: i64,
    text: String,
}

/// The chunks `ids` with their lesson's title; a chunk deleted since it was ranked is left out.
fn chunk_rows(conn: &Connection, ids: &[i64]) -> Result<HashMap<i64, ChunkRow>> {
    let mut s = conn.prepare_cached(
        "SELECT ch.lesson_id, ch.course_id, l.title, ch.ordinal, ch.text FROM chunks ch
         JOIN lessons l ON l.id = ch.lesson_id WHERE ch.id = ?1",
    )?;
    let mut out = HashMap::new();
    for id in ids {
        let row = s
            .query_row([id], |r| {
                Ok(ChunkRow {
                    lesson_id: r.get(0)?,
                    course_id: r.get(1)?,
                    lesson_title: r.get(2)?,
                    ordinal: r.get(3)?,
                    text: r.get(4)?,
                })
            })
            .optional()?;
        if let Some(row) = row {
            out.insert(*id, row);
        }
    }
    Ok(out)
}

/// One search result: a lesson and its best passage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    pub lesson_id: i64,
    pub course_id: i64,
    /// The lesson's title.
    pub title: String,
    /// The best passage, HTML-escaped, with the query's terms in `<b>` and its formulas as MathML.
    pub snippet: String,
    /// Relevance (fused rank score; higher is better).
    pub score: f64,
}

/// Hybrid search over the lessons `actor` may read, optionally in one course.
pub async fn search(
    app: &Arc<App>,
    actor: &Actor,
    q: &str,
    course_id: Option<i64>,
    limit: usize,
) -> Result<Vec<SearchResult>> {
    let q = q.trim().to_owned();
    if q.is_empty() || q.chars().count() > 500 {
        return Err(Error::invalid("q", "a search needs 1 to 500 characters"));
    }
    let actor2 = actor.clone();
    let courses = app
        .db
        .read(move |c| {
            if let Some(id) = course_id {
                crate::courses::require_lessons_read(c, &actor2, id)?;
                Ok(vec![id])
            } else {
                readable_courses(c, &actor2)
            }
        })
        .await?;
    let hits = retrieve(app, courses, q.clone(), limit * 3, Mode::Hybrid).await?;
    let mut seen = HashSet::new();
    let best: Vec<Hit> = hits
        .into_iter()
        .filter(|h| seen.insert(h.lesson_id))
        .take(limit)
        .collect();
    let a = app.clone();
    tokio::task::spawn_blocking(move || {
        best.into_iter()
            .map(|h| SearchResult {
                snippet: crate::courses::math::typeset_html(
                    &a.search.text.snippet(&q, &h.text),
                    false,
                ),
                lesson_id: h.lesson_id,
                course_id: h.course_id,
                title: h.lesson_title,
                score: h.score,
            })
            .collect()
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!(e)))
}
