//! The meaning half of search: every chunk's embedding, and the nearest chunks to a question's.
//!
//! Embeddings are stored in SQLite (`chunks.vector`, little-endian `f32`s, unit length, so a dot product is the
//! cosine). Searching a scope of fewer than `search.exact_below` chunks compares the question with each of them
//! ([`exact`]), from vectors read once per course and kept in memory until the course is reindexed. Above it,
//! an HNSW index of all chunks (usearch, inner product) answers, filtered to the scope.
//!
//! The HNSW index is derived data with a stamp ([`hnsw_stamp`]) naming the state of the chunks it holds. It is
//! saved in `data/index/` so a restart loads it instead of building it again, and it is rebuilt when the chunks
//! changed: noticed in memory by a generation counter that reindexing bumps, and on disk by the stamp (a lesson
//! deleted by a cascade, or a restored backup, changes the chunks without the indexer).
//!
//! Reading vectors, loading and building the index and comparing vectors run on blocking threads; the SQLite
//! reads among them are short `db.read`s that run SQL only, so a search never holds a reader connection while
//! it computes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rusqlite::Connection;

use crate::db::Db;
use crate::error::Result;

/// Rows read per `db.read` while building the HNSW index.
const BUILD_BATCH: i64 = 1024;

/// How a vector is stored in `chunks.vector`.
pub(super) fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Vectors of one course, row-major, in chunk id order.
pub(super) struct CourseVectors {
    chunk_ids: Vec<i64>,
    data: Vec<f32>,
}

impl CourseVectors {
    /// The vector of chunk `id`, if it belongs to this course (the ids are sorted).
    pub(super) fn get(&self, id: i64, dim: usize) -> Option<&[f32]> {
        let i = self.chunk_ids.binary_search(&id).ok()?;
        self.data.get(i * dim..(i + 1) * dim)
    }
}

struct Hnsw {
    /// The [`Vectors::generation`] it was built or loaded at: another means the chunks changed since.
    generation: u64,
    index: usearch::Index,
    course_of: HashMap<u64, i64>,
}

/// Chunk vectors, read from SQLite on first use per course and forgotten when a course is reindexed.
pub(super) struct Vectors {
    /// `data/index`, where the HNSW index is saved (`vectors.usearch`, with `vectors.stamp` saying which
    /// state of the chunks it holds) so a restart loads it instead of building it again.
    dir: PathBuf,
    courses: RwLock<HashMap<i64, Arc<CourseVectors>>>,
    generation: AtomicU64,
    /// An async mutex: held while the index is loaded or built (across reads), so concurrent searches wait for
    /// one build instead of each making its own; and held while searching it, one search at a time.
    hnsw: Arc<tokio::sync::Mutex<Option<Hnsw>>>,
}

impl Vectors {
    pub(super) fn new(dir: &Path) -> Vectors {
        Vectors {
            dir: dir.to_path_buf(),
            courses: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            hnsw: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    pub(super) fn forget(&self, course_id: i64) {
        self.courses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&course_id);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn forget_all(&self) {
        self.courses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The vectors of each of `courses`, in order; those not in memory yet are read in one `db.read`.
    pub(super) async fn sets(&self, db: &Db, courses: &[i64]) -> Result<Vec<Arc<CourseVectors>>> {
        let mut found: HashMap<i64, Arc<CourseVectors>> = {
            let cached = self.courses.read().unwrap_or_else(|e| e.into_inner());
            courses
                .iter()
                .filter_map(|c| Some((*c, cached.get(c)?.clone())))
                .collect()
        };
        let missing: Vec<i64> = courses
            .iter()
            .copied()
            .filter(|c| !found.contains_key(c))
            .collect();
        if !missing.is_empty() {
            let read = db
                .read(move |conn| {
                    missing
                        .into_iter()
                        .map(|c| Ok((c, read_course(conn, c)?)))
                        .collect::<Result<Vec<_>>>()
                })
                .await?;
            let mut cached = self.courses.write().unwrap_or_else(|e| e.into_inner());
            for (c, v) in read {
                let v = Arc::new(v);
                cached.insert(c, v.clone());
                found.insert(c, v);
            }
        }
        Ok(courses.iter().map(|c| found[c].clone()).collect())
    }

    /// The `limit` chunks of `courses` (whose vectors are `sets`) nearest to `query`: `(chunk_id, cosine)`,
    /// best first.
    pub(super) async fn search(
        &self,
        db: &Db,
        courses: &[i64],
        sets: &[Arc<CourseVectors>],
        query: Arc<[f32]>,
        limit: usize,
        exact_below: usize,
    ) -> Result<Vec<(i64, f32)>> {
        let total: usize = sets.iter().map(|s| s.chunk_ids.len()).sum();
        if total >= exact_below && total > 0 {
            match self.hnsw_search(db, courses, query.clone(), limit).await {
                Ok(hits) => return Ok(hits),
                Err(e) => tracing::warn!(error = %e, "HNSW search failed; comparing exactly"),
            }
        }
        let sets = sets.to_vec();
        crate::blocking(move || Ok(exact(&sets, &query, limit))).await
    }

    async fn hnsw_search(
        &self,
        db: &Db,
        courses: &[i64],
        query: Arc<[f32]>,
        limit: usize,
    ) -> anyhow::Result<Vec<(i64, f32)>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut guard = self.hnsw.clone().lock_owned().await;
        if guard.as_ref().is_none_or(|h| h.generation != generation) {
            let (db, dir, dim) = (db.clone(), self.dir.clone(), query.len());
            // A task of its own, so a search dropped mid-build (its client gone) still leaves the index built.
            guard = tokio::spawn(async move {
                *guard = Some(load_or_build_hnsw(&db, dim, generation, &dir).await?);
                anyhow::Ok(guard)
            })
            .await??;
        }
        let scope: HashSet<i64> = courses.iter().copied().collect();
        tokio::task::spawn_blocking(move || {
            let h = guard.as_ref().expect("just built");
            let matches = h.index.filtered_search(&query, limit, |key| {
                h.course_of.get(&key).is_some_and(|c| scope.contains(c))
            })?;
            Ok(matches
                .keys
                .iter()
                .zip(&matches.distances)
                .map(|(&k, &d)| (k as i64, 1.0 - d))
                .collect())
        })
        .await?
    }
}

fn read_course(conn: &Connection, course_id: i64) -> Result<CourseVectors> {
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
    Ok(CourseVectors { chunk_ids, data })
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
fn hnsw_stamp(conn: &Connection, dim: usize) -> Result<(String, usize)> {
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
async fn load_or_build_hnsw(
    db: &Db,
    dim: usize,
    generation: u64,
    dir: &Path,
) -> anyhow::Result<Hnsw> {
    let (stamp, count) = db.read(move |c| hnsw_stamp(c, dim)).await?;
    let (path, stamp_path) = (dir.join("vectors.usearch"), dir.join("vectors.stamp"));
    let started = std::time::Instant::now();
    let loaded = {
        let (path, stamp_path, stamp) = (path.clone(), stamp_path.clone(), stamp.clone());
        tokio::task::spawn_blocking(move || load_hnsw(dim, &path, &stamp_path, &stamp, count))
            .await??
    };
    if let Some(index) = loaded {
        let course_of: HashMap<u64, i64> = db
            .read(|c| {
                Ok(c.prepare("SELECT id, course_id FROM chunks")?
                    .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await?;
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
    let built = build_hnsw(db, dim, generation, count, BUILD_BATCH).await?;
    tokio::task::spawn_blocking(move || {
        if let Err(e) = save_hnsw(&built.index, &path, &stamp_path, &stamp) {
            tracing::warn!(error = %e, "could not save the HNSW index; it will be built again after a restart");
        }
        built
    })
    .await
    .map_err(Into::into)
}

/// The index saved at `path` when `stamp_path` vouches for `stamp` and it holds the `count` chunks.
fn load_hnsw(
    dim: usize,
    path: &Path,
    stamp_path: &Path,
    stamp: &str,
    count: usize,
) -> anyhow::Result<Option<usearch::Index>> {
    if std::fs::read_to_string(stamp_path).ok().as_deref() != Some(stamp) {
        return Ok(None);
    }
    let index = usearch::Index::new(&hnsw_options(dim))?;
    match index.load(&path.to_string_lossy()) {
        Ok(()) if index.size() == count => return Ok(Some(index)),
        Ok(()) => {
            tracing::warn!("the saved HNSW index does not hold every chunk; building it again")
        }
        Err(e) => {
            tracing::warn!(error = %e, "the saved HNSW index cannot be read; building it again")
        }
    }
    Ok(None)
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

/// Builds the HNSW index of the `count` chunks, in id order: `batch` rows read, then added on a blocking
/// thread with no connection held, and so on.
async fn build_hnsw(
    db: &Db,
    dim: usize,
    generation: u64,
    count: usize,
    batch: i64,
) -> anyhow::Result<Hnsw> {
    let started = std::time::Instant::now();
    let mut index = usearch::Index::new(&hnsw_options(dim))?;
    index.reserve(count)?;
    let mut course_of = HashMap::new();
    let mut after = i64::MIN;
    loop {
        let rows: Vec<(i64, i64, Vec<f32>)> = db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, course_id, vector FROM chunks WHERE id > ?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = stmt.query_map([after, batch], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        blob_to_vector(&r.get::<_, Vec<u8>>(2)?),
                    ))
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await?;
        let Some(&(last, _, _)) = rows.last() else {
            break;
        };
        let full = rows.len() as i64 == batch;
        (index, course_of) = tokio::task::spawn_blocking(move || {
            // Chunks added since `count` was read would not fit.
            let needed = index.size() + rows.len();
            if needed > index.capacity() {
                index.reserve(needed)?;
            }
            for (id, course, v) in rows {
                if v.len() == dim {
                    index.add(id as u64, &v)?;
                    course_of.insert(id as u64, course);
                }
            }
            anyhow::Ok((index, course_of))
        })
        .await??;
        if !full {
            break;
        }
        after = last;
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

    #[tokio::test]
    async fn the_hnsw_index_is_built_batch_by_batch_with_every_chunk_and_its_course() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db.sqlite"), &Default::default()).unwrap();
        // Course 1 holds chunks 1 to 3, course 2 chunks 4 and 5; chunk 5 points the way of the query.
        let vectors = [
            [0.0f32, 1.0],
            [0.6, 0.8],
            [0.8, 0.6],
            [0.0, 1.0],
            [1.0, 0.0],
        ];
        db.write(move |tx| {
            tx.execute_batch(
                "INSERT INTO users (id, email, full_name, role, password_hash, created_at, updated_at)
                 VALUES (1, 'o@example.org', 'O', 'instructor', '', '', '');
                 INSERT INTO courses (id, owner_id, title, created_at, updated_at)
                 VALUES (1, 1, 'A', '', ''), (2, 1, 'B', '', '');
                 INSERT INTO modules (id, course_id, title, position) VALUES (1, 1, 'M', 0), (2, 2, 'M', 0);
                 INSERT INTO lessons (id, course_id, module_id, title, position, body_sha256, body_bytes,
                   created_at, updated_at) VALUES (1, 1, 1, 'L', 0, '', 0, '', ''), (2, 2, 2, 'L', 0, '', 0, '', '');",
            )?;
            for (i, v) in vectors.iter().enumerate() {
                let id = i as i64 + 1;
                let (lesson, course) = if id <= 3 { (1, 1) } else { (2, 2) };
                tx.execute(
                    "INSERT INTO chunks (id, lesson_id, course_id, ordinal, text, vector)
                     VALUES (?1, ?2, ?3, ?1, '', ?4)",
                    rusqlite::params![id, lesson, course, vector_to_blob(v)],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        // Batches of 2 (the last one short), and one chunk more than counted (added after the count was read).
        let h = build_hnsw(&db, 2, 7, 4, 2).await.unwrap();
        assert_eq!((h.generation, h.index.size()), (7, 5));
        let mut courses: Vec<(u64, i64)> = h.course_of.into_iter().collect();
        courses.sort();
        assert_eq!(courses, vec![(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]);
        let nearest = h.index.search(&[1.0, 0.0], 2).unwrap();
        assert_eq!(nearest.keys, vec![5, 3]);
    }
}
