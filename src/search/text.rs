//! The word half of search: a tantivy BM25 index in `data/index/text/`, one document per chunk.
//!
//! Title and text are stemmed (`en_stem`), so "plants" finds "plant"; a match in the lesson's title counts half
//! as much as one in the chunk's own text, since every chunk of a lesson shares the title. Documents carry the
//! ids that tie them back to SQLite (`chunk_id`, `lesson_id`) and the course, which scopes every query.
//!
//! The index is derived from the `chunks` table and never read as the truth: an index in an older layout or a
//! damaged one is dropped at start-up, and `smartcourse reindex` fills it again.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermSetQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

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

/// A chunk as the text index takes it: its row in `chunks` with its lesson's title.
#[derive(Debug, Clone)]
pub(super) struct StoredChunk {
    pub(super) id: i64,
    pub(super) lesson_id: i64,
    pub(super) lesson_title: String,
    pub(super) text: String,
}

/// The BM25 index on disk. Its one writer is taken for the life of the process, which is also what stops a
/// second SmartCourse from opening the same data directory.
pub(super) struct TextIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
}

impl TextIndex {
    pub(super) fn open(dir: &Path) -> anyhow::Result<TextIndex> {
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
    pub(super) fn replace_course(
        &self,
        course_id: i64,
        chunks: &[StoredChunk],
    ) -> anyhow::Result<()> {
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

    pub(super) fn clear(&self) -> anyhow::Result<()> {
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
    pub(super) fn search(
        &self,
        q: &str,
        courses: &[i64],
        limit: usize,
    ) -> anyhow::Result<Vec<(i64, f32)>> {
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
    pub(super) fn snippet(&self, q: &str, text: &str) -> String {
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

    pub(super) fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// The fallback snippet (no term matched) is plain text put into HTML: escape it as tantivy escapes its own.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
