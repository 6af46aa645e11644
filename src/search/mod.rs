//! Course search: finding the passages of lessons that answer a question, for `GET /api/search`, the search
//! page and the tutor.
//!
//! # What is stored and what is derived
//!
//! A lesson's text (its body, and the text of its PDF and subtitle attachments, read by [`extract`]) is cut
//! into overlapping chunks of about `search.chunk_words` words ([`chunk`]). Each chunk is a row of `chunks` in
//! SQLite with its embedding, and `lesson_index_state` records the lesson state and model each lesson's chunks
//! were made from. Those rows are the truth; two indexes are derived from them:
//!
//! - `text.rs`: a tantivy BM25 index in `data/index/text/`, one document per chunk;
//! - `vectors.rs`: the chunks' vectors, kept in memory per course once read, and an HNSW index of them (usearch,
//!   saved as `data/index/vectors.usearch` with a stamp) for scopes of `search.exact_below` chunks and more.
//!
//! `smartcourse reindex` ([`reindex_all`]) empties both and rebuilds them from the lessons, re-embedding only
//! lessons whose text or model changed (`--fresh`: all of them). Day to day, `indexer.rs` keeps them current: a
//! lesson change queues an [`IndexCourse`] job in its own transaction ([`schedule_index`]).
//!
//! # How a question becomes hits
//!
//! 1. The scope: [`readable_courses`] for the caller, or the one course asked for if they may read it.
//! 2. Two rankings of the scope's chunks, 50 candidates each: BM25 on the question's words, and cosine
//!    similarity to the question's embedding (kept only above `search.min_similarity`).
//! 3. [`fusion`] merges them by reciprocal rank fusion, weighted by `search.text_weight` and
//!    `search.vector_weight`.
//! 4. The best chunks are read back with their lesson's title as [`Hit`]s ([`retrieve()`], for the tutor);
//!    [`search()`] keeps each lesson's best hit and highlights the question's words in it.
//!
//! Ranking, embedding, hashing and text extraction are CPU work and run on blocking threads with no database
//! connection held: every `db.read` / `db.write` closure in this module runs SQL only, so slow searches or
//! indexing never keep the reader connections from the requests waiting on them.

pub mod chunk;
pub mod extract;
pub mod fusion;
mod indexer;
mod retrieve;
pub mod routes;
mod subscriber;
mod text;
mod vectors;

use std::path::Path;

pub use crate::accounts::policy::readable_courses;
pub use indexer::{IndexCourse, IndexReport, index_course, reindex_all, schedule_index};
pub use retrieve::{Hit, Mode, SearchResult, retrieve, search};
pub use subscriber::Reindex;

/// How many chunks (passages) of lesson text are stored for search, in all courses.
pub fn chunk_count(conn: &rusqlite::Connection) -> crate::Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))?)
}

/// The search indexes of a data directory, opened once at start-up and shared through [`crate::App`].
pub struct SearchIndex {
    text: text::TextIndex,
    vectors: vectors::Vectors,
}

impl SearchIndex {
    /// Opens (or creates) the indexes under `dir` (`data/index`).
    pub fn open(dir: &Path) -> anyhow::Result<SearchIndex> {
        Ok(SearchIndex {
            text: text::TextIndex::open(&dir.join("text"))?,
            vectors: vectors::Vectors::new(dir),
        })
    }

    /// Documents in the text index.
    pub fn text_documents(&self) -> u64 {
        self.text.documents()
    }
}
