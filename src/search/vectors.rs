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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::Connection;

use crate::error::Result;

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
    hnsw: Mutex<Option<Hnsw>>,
}

pub(super) fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Vectors {
    pub(super) fn new(dir: &Path) -> Vectors {
        Vectors {
            dir: dir.to_path_buf(),
            courses: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            hnsw: Mutex::new(None),
        }
    }

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

    /// The vectors of each of `courses`.
    pub(super) fn sets(
        &self,
        conn: &Connection,
        courses: &[i64],
    ) -> Result<Vec<Arc<CourseVectors>>> {
        courses.iter().map(|&c| self.course(conn, c)).collect()
    }

    /// The `limit` chunks of `courses` (whose vectors are `sets`) nearest to `query`: `(chunk_id, cosine)`,
    /// best first.
    pub(super) fn search(
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
