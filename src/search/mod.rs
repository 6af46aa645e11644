//! Course search: lesson text cut into chunks, each kept with its embedding in SQLite, indexed for BM25 in
//! tantivy (`data/index/text/`) and searched by vector similarity (exact below `search.exact_below` chunks in
//! scope, an HNSW index from usearch above it). The two rankings are fused by reciprocal rank fusion.
//!
//! Both indexes are derived: `smartcourse reindex` rebuilds them from the stored lessons.

pub mod chunk;
pub mod extract;
pub mod routes;
mod subscriber;

pub use subscriber::Reindex;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermSetQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::App;
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::jobs::{Job, JobContext};

/// Reciprocal rank fusion constant (Cormack et al. 2009 use 60).
const RRF_K: f64 = 60.0;
/// Candidates each ranking contributes before fusion.
const CANDIDATES: usize = 50;

struct Fields {
    chunk_id: Field,
    lesson_id: Field,
    course_id: Field,
    title: Field,
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stemmed = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        chunk_id: b.add_u64_field("chunk_id", INDEXED | STORED),
        lesson_id: b.add_u64_field("lesson_id", STORED),
        course_id: b.add_u64_field("course_id", INDEXED | FAST),
        title: b.add_text_field("title", stemmed.clone()),
        text: b.add_text_field("text", stemmed),
    };
    (b.build(), fields)
}

/// The BM25 index on disk.
struct TextIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
}

impl TextIndex {
    fn open(dir: &Path) -> anyhow::Result<TextIndex> {
        let (schema, f) = schema();
        std::fs::create_dir_all(dir)?;
        let index = match Index::open_in_dir(dir) {
            Ok(i) if i.schema() == schema => i,
            Ok(_) | Err(_) if dir.join("meta.json").exists() => {
                // Derived data in an older layout or damaged: start again (reindex fills it).
                tracing::warn!(dir = %dir.display(), "the text index is unreadable or outdated; rebuilding it");
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                Index::create_in_dir(dir, schema)?
            }
            _ => Index::create_in_dir(dir, schema)?,
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = index
            .writer_with_num_threads(1, 30_000_000)
            .context("cannot open the text index for writing (is another SmartCourse using this data directory?)")?;
        Ok(TextIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            f,
        })
    }

    /// Replaces every document of `course_id` with `chunks` (and commits).
    fn replace_course(&self, course_id: i64, chunks: &[StoredChunk]) -> anyhow::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.delete_term(Term::from_field_u64(self.f.course_id, course_id as u64));
        for c in chunks {
            w.add_document(doc!(
                self.f.chunk_id => c.id as u64,
                self.f.lesson_id => c.lesson_id as u64,
                self.f.course_id => course_id as u64,
                self.f.title => c.lesson_title.clone(),
                self.f.text => c.text.clone(),
            ))?;
        }
        w.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    fn clear(&self) -> anyhow::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.delete_all_documents()?;
        w.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    fn parse(&self, q: &str) -> Box<dyn Query> {
        let mut parser = QueryParser::for_index(&self.index, vec![self.f.title, self.f.text]);
        parser.set_field_boost(self.f.title, 0.5);
        parser.parse_query_lenient(q).0
    }

    /// BM25 ranking of chunks in `courses`: `(chunk_id, score)`, best first.
    fn search(&self, q: &str, courses: &[i64], limit: usize) -> anyhow::Result<Vec<(i64, f32)>> {
        let query = self.parse(q);
        let scope = TermSetQuery::new(
            courses
                .iter()
                .map(|&c| Term::from_field_u64(self.f.course_id, c as u64)),
        );
        let both = BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, Box::new(scope))]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&both, &TopDocs::with_limit(limit))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            if let Some(id) = d.get_first(self.f.chunk_id).and_then(|v| v.as_u64()) {
                out.push((id as i64, score));
            }
        }
        Ok(out)
    }

    /// Highlights the query's terms in `text` (HTML, escaped; matched terms in `<b>`).
    fn snippet(&self, q: &str, text: &str) -> String {
        let query = self.parse(q);
        let searcher = self.reader.searcher();
        let html = SnippetGenerator::create(&searcher, &*query, self.f.text)
            .map(|mut g| {
                g.set_max_num_chars(220);
                g.snippet(text).to_html()
            })
            .unwrap_or_default();
        if html.trim().is_empty() {
            let short: String = text.chars().take(220).collect();
            escape(&short)
        } else {
            html
        }
    }

    fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Vectors of one course, row-major, in chunk id order.
struct CourseVectors {
    chunk_ids: Vec<i64>,
    data: Vec<f32>,
}

impl CourseVectors {
    /// The vector of chunk `id`, if it belongs to this course (the ids are sorted).
    fn get(&self, id: i64, dim: usize) -> Option<&[f32]> {
        let i = self.chunk_ids.binary_search(&id).ok()?;
        self.data.get(i * dim..(i + 1) * dim)
    }
}

struct Hnsw {
    generation: u64,
    index: usearch::Index,
    course_of: HashMap<u64, i64>,
}

/// Chunk vectors, read from SQLite on first use per course and forgotten when a course is reindexed.
struct Vectors {
    /// `data/index`, where the HNSW index is saved (`vectors.usearch`, with `vectors.stamp` saying which
    /// state of the chunks it holds) so a restart loads it instead of building it again.
    dir: PathBuf,
    courses: RwLock<HashMap<i64, Arc<CourseVectors>>>,
    generation: AtomicU64,
    hnsw: Mutex<Option<Hnsw>>,
}

fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Vectors {
    fn course(&self, conn: &Connection, course_id: i64) -> Result<Arc<CourseVectors>> {
        if let Some(v) = self
            .courses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&course_id)
        {
            return Ok(v.clone());
        }
        let mut stmt =
            conn.prepare_cached("SELECT id, vector FROM chunks WHERE course_id = ?1 ORDER BY id")?;
        let mut chunk_ids = Vec::new();
        let mut data = Vec::new();
        let rows = stmt.query_map([course_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (id, blob) = row?;
            chunk_ids.push(id);
            data.extend(blob_to_vector(&blob));
        }
        let v = Arc::new(CourseVectors { chunk_ids, data });
        self.courses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(course_id, v.clone());
        Ok(v)
    }

    fn forget(&self, course_id: i64) {
        self.courses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&course_id);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn forget_all(&self) {
        self.courses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The vectors of each of `courses`.
    fn sets(&self, conn: &Connection, courses: &[i64]) -> Result<Vec<Arc<CourseVectors>>> {
        courses.iter().map(|&c| self.course(conn, c)).collect()
    }

    /// The `limit` chunks of `courses` (whose vectors are `sets`) nearest to `query`: `(chunk_id, cosine)`,
    /// best first.
    fn search(
        &self,
        conn: &Connection,
        courses: &[i64],
        sets: &[Arc<CourseVectors>],
        query: &[f32],
        limit: usize,
        exact_below: usize,
    ) -> Result<Vec<(i64, f32)>> {
        let total: usize = sets.iter().map(|s| s.chunk_ids.len()).sum();
        if total >= exact_below && total > 0 {
            match self.hnsw_search(conn, courses, query, limit) {
                Ok(hits) => return Ok(hits),
                Err(e) => tracing::warn!(error = %e, "HNSW search failed; comparing exactly"),
            }
        }
        Ok(exact(sets, query, limit))
    }

    fn hnsw_search(
        &self,
        conn: &Connection,
        courses: &[i64],
        query: &[f32],
        limit: usize,
    ) -> anyhow::Result<Vec<(i64, f32)>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut guard = self.hnsw.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|h| h.generation != generation) {
            *guard = Some(load_or_build_hnsw(
                conn,
                query.len(),
                generation,
                &self.dir,
            )?);
        }
        let h = guard.as_ref().expect("just built");
        let scope: HashSet<i64> = courses.iter().copied().collect();
        let matches = h.index.filtered_search(query, limit, |key| {
            h.course_of.get(&key).is_some_and(|c| scope.contains(c))
        })?;
        Ok(matches
            .keys
            .iter()
            .zip(&matches.distances)
            .map(|(&k, &d)| (k as i64, 1.0 - d))
            .collect())
    }
}

/// Brute force: one dot product per chunk.
fn exact(sets: &[Arc<CourseVectors>], query: &[f32], limit: usize) -> Vec<(i64, f32)> {
    let dim = query.len();
    let mut scored: Vec<(i64, f32)> = Vec::new();
    for set in sets {
        for (i, &id) in set.chunk_ids.iter().enumerate() {
            let v = &set.data[i * dim..(i + 1) * dim];
            scored.push((id, crate::ml::embed::dot(v, query)));
        }
    }
    let keep = limit.min(scored.len());
    if keep == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(keep - 1, |a, b| b.1.total_cmp(&a.1));
    scored.truncate(keep);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

fn hnsw_options(dim: usize) -> usearch::IndexOptions {
    usearch::IndexOptions {
        dimensions: dim,
        metric: usearch::MetricKind::IP,
        quantization: usearch::ScalarKind::F32,
        connectivity: 16,
        expansion_add: 128,
        expansion_search: 64,
        multi: false,
    }
}

/// Which state of the chunks an HNSW index holds: the dimension, the chunks' change counter (bumped by
/// triggers on every change), their count and the max and sum of their ids (so an index saved before a backup
/// was restored is not taken for the restored chunks').
fn hnsw_stamp(conn: &Connection, dim: usize) -> anyhow::Result<(String, usize)> {
    let (version, count, max, sum): (i64, i64, i64, i64) = conn.query_row(
        "SELECT (SELECT chunks_version FROM search_state), count(*), coalesce(max(id), 0), coalesce(sum(id), 0)
         FROM chunks",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    Ok((
        format!("v1 {dim} {version} {count} {max} {sum}"),
        count as usize,
    ))
}

/// The HNSW index of the chunks as they are: the one saved in `dir` when it is theirs, else built (and saved).
fn load_or_build_hnsw(
    conn: &Connection,
    dim: usize,
    generation: u64,
    dir: &Path,
) -> anyhow::Result<Hnsw> {
    let (stamp, count) = hnsw_stamp(conn, dim)?;
    let (path, stamp_path) = (dir.join("vectors.usearch"), dir.join("vectors.stamp"));
    if std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
        let started = std::time::Instant::now();
        let index = usearch::Index::new(&hnsw_options(dim))?;
        match index.load(&path.to_string_lossy()) {
            Ok(()) if index.size() == count => {
                let course_of: HashMap<u64, i64> = conn
                    .prepare("SELECT id, course_id FROM chunks")?
                    .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                tracing::info!(
                    chunks = count,
                    ms = started.elapsed().as_millis() as u64,
                    "HNSW index loaded"
                );
                return Ok(Hnsw {
                    generation,
                    index,
                    course_of,
                });
            }
            Ok(()) => {
                tracing::warn!("the saved HNSW index does not hold every chunk; building it again")
            }
            Err(e) => {
                tracing::warn!(error = %e, "the saved HNSW index cannot be read; building it again")
            }
        }
    }
    let built = build_hnsw(conn, dim, generation, count)?;
    if let Err(e) = save_hnsw(&built.index, &path, &stamp_path, &stamp) {
        tracing::warn!(error = %e, "could not save the HNSW index; it will be built again after a restart");
    }
    Ok(built)
}

/// Saves `index` with its stamp, each written aside and renamed into place, the stamp last (a crash between
/// the two leaves no stamp, so the index is not trusted).
fn save_hnsw(
    index: &usearch::Index,
    path: &Path,
    stamp_path: &Path,
    stamp: &str,
) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(stamp_path);
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let tmp = path.with_extension("usearch.partial");
    index.save(&tmp.to_string_lossy())?;
    // On disk before the stamp vouches for it.
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let tmp = stamp_path.with_extension("stamp.partial");
    std::fs::write(&tmp, stamp)?;
    std::fs::rename(&tmp, stamp_path)?;
    Ok(())
}

/// Builds the HNSW index of the `count` chunks.
fn build_hnsw(
    conn: &Connection,
    dim: usize,
    generation: u64,
    count: usize,
) -> anyhow::Result<Hnsw> {
    let started = std::time::Instant::now();
    let index = usearch::Index::new(&hnsw_options(dim))?;
    index.reserve(count)?;
    let mut course_of = HashMap::new();
    let mut stmt = conn.prepare("SELECT id, course_id, vector FROM chunks")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    for row in rows {
        let (id, course, blob) = row?;
        let v = blob_to_vector(&blob);
        if v.len() == dim {
            index.add(id as u64, &v)?;
            course_of.insert(id as u64, course);
        }
    }
    tracing::info!(
        chunks = course_of.len(),
        ms = started.elapsed().as_millis() as u64,
        "HNSW index built"
    );
    Ok(Hnsw {
        generation,
        index,
        course_of,
    })
}

/// The search indexes of a data directory.
pub struct SearchIndex {
    text: TextIndex,
    vectors: Vectors,
}

impl SearchIndex {
    /// Opens (or creates) the indexes under `dir` (`data/index`).
    pub fn open(dir: &Path) -> anyhow::Result<SearchIndex> {
        Ok(SearchIndex {
            text: TextIndex::open(&dir.join("text"))?,
            vectors: Vectors {
                dir: dir.to_path_buf(),
                courses: RwLock::new(HashMap::new()),
                generation: AtomicU64::new(0),
                hnsw: Mutex::new(None),
            },
        })
    }

    /// Documents in the text index.
    pub fn text_documents(&self) -> u64 {
        self.text.documents()
    }
}

/// A chunk as stored.
#[derive(Debug, Clone)]
struct StoredChunk {
    id: i64,
    lesson_id: i64,
    lesson_title: String,
    text: String,
}

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

/// Brings the search indexes of `course_id` up to date with its lessons: lessons whose text or embedding model
/// changed are cut into chunks and embedded again; the course's text index is rewritten. Idempotent.
pub async fn index_course(app: &Arc<App>, course_id: i64) -> anyhow::Result<IndexReport> {
    let model = app.models.embedder.model_id();
    let m = model.clone();
    let (exists, todo, unchanged) = app
        .db
        .read(move |c| {
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
            let mut todo = Vec::new();
            let mut unchanged = 0;
            let rows = stmt.query_map([course_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            for row in rows {
                let (id, title, state, done_sha, done_model) = row?;
                let sha = source_state(&state);
                if done_sha.as_deref() == Some(&sha) && done_model.as_deref() == Some(&m) {
                    unchanged += 1;
                } else {
                    // The state starts with the body's hash.
                    let body = state.split(':').next().unwrap_or_default().to_owned();
                    todo.push((id, title, body, sha));
                }
            }
            Ok((exists, todo, unchanged))
        })
        .await?;
    let mut report = IndexReport {
        lessons_unchanged: unchanged,
        ..Default::default()
    };
    if exists {
        for (lesson_id, title, body_sha, sha) in todo {
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
            let body = crate::courses::content::get_body(&app.content, body_sha).await?;
            let mut sections = Vec::new();
            for (name, content_type, file_sha, size) in files {
                if size as u64 > extract::MAX_BYTES {
                    continue;
                }
                let bytes =
                    crate::courses::content::get_bytes(&app.content, file_sha, size as u64).await?;
                sections.extend(
                    tokio::task::spawn_blocking(move || {
                        extract::sections(&name, &content_type, &bytes)
                    })
                    .await?,
                );
            }
            let (words, overlap) = (
                app.config.search.chunk_words,
                app.config.search.chunk_overlap,
            );
            let embedder = app.models.embedder.clone();
            let t = title.clone();
            let (texts, vectors) = tokio::task::spawn_blocking(move || {
                let mut texts = chunk::chunks(&chunk::plain_text(&body), words, overlap);
                // Each file's pieces after the lesson's own text, every chunk saying where it is from.
                for s in &sections {
                    texts.extend(
                        chunk::chunks(&s.text, words, overlap)
                            .into_iter()
                            .map(|t| format!("[{}] {t}", s.label)),
                    );
                }
                let inputs: Vec<String> = texts.iter().map(|x| format!("{t}\n{x}")).collect();
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let vectors = embedder.embed(&refs)?;
                anyhow::Ok((texts, vectors))
            })
            .await??;
            let m = model.clone();
            app.db
                .write(move |tx| {
                    // The lesson may have changed or gone while it was embedded: then its next job does it.
                    let current: Option<String> = tx
                        .query_row(
                            &format!("SELECT {} FROM lessons l WHERE l.id = ?1", source_state_sql()),
                            [lesson_id],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if current.as_deref().map(source_state) != Some(sha.clone()) {
                        return Ok(());
                    }
                    tx.execute("DELETE FROM chunks WHERE lesson_id = ?1", [lesson_id])?;
                    for (i, (text, v)) in texts.iter().zip(&vectors).enumerate() {
                        tx.execute(
                            "INSERT INTO chunks (lesson_id, course_id, ordinal, text, vector) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![lesson_id, course_id, i as i64, text, vector_to_blob(v)],
                        )?;
                    }
                    tx.execute(
                        "INSERT INTO lesson_index_state (lesson_id, body_sha256, model, chunks, indexed_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (lesson_id) DO UPDATE SET body_sha256 = excluded.body_sha256,
                           model = excluded.model, chunks = excluded.chunks, indexed_at = excluded.indexed_at",
                        params![lesson_id, sha, m, texts.len() as i64, crate::util::now_rfc3339()],
                    )?;
                    Ok(())
                })
                .await?;
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
    /// The course.
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

/// Courses whose lessons `actor` may read: all for admins; their own and those they are enrolled in (when
/// published or archived) for others.
pub fn readable_courses(conn: &Connection, actor: &Actor) -> Result<Vec<i64>> {
    if actor.is_admin() || matches!(actor, Actor::System) {
        let mut s = conn.prepare_cached("SELECT id FROM courses")?;
        return Ok(s
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?);
    }
    let Some(user) = actor.user_id() else {
        return Ok(Vec::new());
    };
    let mut s = conn.prepare_cached(
        "SELECT id FROM courses WHERE owner_id = ?1
         UNION SELECT c.id FROM courses c JOIN enrollments e ON e.course_id = c.id
         WHERE e.user_id = ?1 AND c.status IN ('published', 'archived')",
    )?;
    Ok(s.query_map([user], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// One retrieved chunk.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// The chunk.
    pub chunk_id: i64,
    /// Its lesson.
    pub lesson_id: i64,
    /// Its course.
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
    let a = app.clone();
    app.db
        .read(move |c| retrieve_blocking(&a, c, &courses, &query, limit, mode))
        .await
}

fn retrieve_blocking(
    app: &App,
    conn: &Connection,
    courses: &[i64],
    query: &str,
    limit: usize,
    mode: Mode,
) -> Result<Vec<Hit>> {
    let text_ranked = if mode != Mode::Vector {
        app.search
            .text
            .search(query, courses, CANDIDATES)
            .map_err(Error::Internal)?
    } else {
        Vec::new()
    };
    let mut cosines: HashMap<i64, f32> = HashMap::new();
    let vector_ranked = if mode != Mode::Text {
        let q = app
            .models
            .embedder
            .embed(&[query])
            .map_err(|e| {
                Error::Unavailable(format!("the embedding model is not available: {e:#}").into())
            })?
            .remove(0);
        let exact_below = app.config.search.exact_below;
        let floor = app.config.search.min_similarity;
        let sets = app.search.vectors.sets(conn, courses)?;
        let mut ranked =
            app.search
                .vectors
                .search(conn, courses, &sets, &q, CANDIDATES, exact_below)?;
        ranked.retain(|(_, cosine)| *cosine >= floor);
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
    } else {
        Vec::new()
    };
    let mut fused: HashMap<i64, f64> = HashMap::new();
    let (wt, wv) = (
        app.config.search.text_weight,
        app.config.search.vector_weight,
    );
    for (rank, (id, _)) in text_ranked.iter().enumerate() {
        *fused.entry(*id).or_default() += wt / (RRF_K + rank as f64 + 1.0);
    }
    for (rank, (id, _)) in vector_ranked.iter().enumerate() {
        *fused.entry(*id).or_default() += wv / (RRF_K + rank as f64 + 1.0);
    }
    let mut ranked: Vec<(i64, f64)> = fused.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(limit);
    let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
    let rows: HashMap<i64, (i64, i64, String, i64, String)> = {
        let mut s = conn.prepare_cached(
            "SELECT ch.lesson_id, ch.course_id, l.title, ch.ordinal, ch.text FROM chunks ch
             JOIN lessons l ON l.id = ch.lesson_id WHERE ch.id = ?1",
        )?;
        let mut out = HashMap::new();
        for id in &ids {
            if let Some(row) = s
                .query_row([id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?
            {
                out.insert(*id, row);
            }
        }
        out
    };
    Ok(ranked
        .into_iter()
        .filter_map(|(id, score)| {
            let (lesson_id, course_id, lesson_title, ordinal, text) = rows.get(&id)?.clone();
            Some(Hit {
                chunk_id: id,
                lesson_id,
                course_id,
                lesson_title,
                ordinal,
                text,
                score,
                cosine: cosines.get(&id).copied().unwrap_or(0.0),
            })
        })
        .collect())
}

/// One search result: a lesson and its best passage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    /// The lesson.
    pub lesson_id: i64,
    /// Its course.
    pub course_id: i64,
    /// The lesson's title.
    pub title: String,
    /// The best passage, HTML-escaped, with the query's terms in `<b>`.
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
                snippet: a.search.text.snippet(&q, &h.text),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Arc<CourseVectors> {
        Arc::new(CourseVectors {
            chunk_ids: vec![3, 7, 9],
            data: vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8],
        })
    }

    #[test]
    fn a_chunk_vector_is_found_by_id_and_only_in_its_course() {
        let s = set();
        assert_eq!(s.get(7, 2), Some(&[0.0, 1.0][..]));
        assert_eq!(s.get(9, 2), Some(&[0.6, 0.8][..]));
        assert_eq!(s.get(8, 2), None);
    }

    #[test]
    fn exact_search_ranks_by_cosine_and_keeps_the_limit() {
        let hits = exact(&[set()], &[0.0, 1.0], 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![7, 9]);
        assert!((hits[1].1 - 0.8).abs() < 1e-6);
        assert!(exact(&[], &[0.0, 1.0], 5).is_empty());
    }
}
