//! Lesson bodies and attachment bytes in redb, addressed by SHA-256.
//!
//! Content-addressing makes writes safe to order: the bytes are stored first, then the SQLite row that
//! refers to them commits. A crash in between leaves an unreferenced blob, never a row pointing at nothing;
//! [`collect_garbage`] (run after deletes, and by `doctor`) removes unreferenced blobs.

use std::io::Read;

use redb::{ReadableTable, TableDefinition};
use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::error::Result;
use crate::store::ContentStore;

/// Markdown of lesson bodies by SHA-256.
pub const BODIES: TableDefinition<&str, &str> = TableDefinition::new("lesson_bodies");
/// Attachment bytes in chunks, by (SHA-256, chunk index).
pub const CHUNKS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("blob_chunks");
/// Size of one stored chunk.
pub const CHUNK_SIZE: usize = 1 << 20;

/// SHA-256 of `bytes` in hex.
pub fn sha256(bytes: &[u8]) -> String {
    crate::util::hex(&Sha256::digest(bytes))
}

/// Stores a lesson body; returns its SHA-256.
pub async fn put_body(store: &ContentStore, markdown: String) -> Result<String> {
    let sum = sha256(markdown.as_bytes());
    let key = sum.clone();
    store
        .write(move |tx| {
            tx.open_table(BODIES)?
                .insert(key.as_str(), markdown.as_str())?;
            Ok(())
        })
        .await?;
    Ok(sum)
}

/// Reads a lesson body; an unknown hash reads as empty (reported by `doctor`).
pub async fn get_body(store: &ContentStore, sum: String) -> Result<String> {
    store
        .read(move |tx| {
            let table = match tx.open_table(BODIES) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(String::new()),
                Err(e) => return Err(e.into()),
            };
            Ok(table
                .get(sum.as_str())?
                .map(|v| v.value().to_owned())
                .unwrap_or_default())
        })
        .await
}

/// Copies a staged file into the store in chunks (one transaction, bounded memory).
pub async fn put_blob(store: &ContentStore, sum: String, path: std::path::PathBuf) -> Result<()> {
    store
        .write(move |tx| {
            let mut table = tx.open_table(CHUNKS)?;
            if table.get((sum.as_str(), 0))?.is_some() {
                return Ok(()); // Same bytes already stored.
            }
            let mut file = std::fs::File::open(&path).map_err(anyhow::Error::from)?;
            let mut buf = vec![0u8; CHUNK_SIZE];
            let mut index = 0u32;
            loop {
                let n = read_full(&mut file, &mut buf)?;
                if n == 0 && index > 0 {
                    break;
                }
                table.insert((sum.as_str(), index), &buf[..n])?;
                index += 1;
                if n < CHUNK_SIZE {
                    break;
                }
            }
            Ok(())
        })
        .await
}

/// Stores several small files' bytes, each by its SHA-256, in one transaction (a package's pages, scripts and
/// images: hundreds of files, where a transaction each would wait on the disk hundreds of times).
pub async fn put_blobs(store: &ContentStore, blobs: Vec<(String, Vec<u8>)>) -> Result<()> {
    store
        .write(move |tx| {
            let mut table = tx.open_table(CHUNKS)?;
            for (sum, bytes) in &blobs {
                if table.get((sum.as_str(), 0))?.is_some() {
                    continue;
                }
                if bytes.is_empty() {
                    table.insert((sum.as_str(), 0), &[][..])?;
                }
                for (index, piece) in bytes.chunks(CHUNK_SIZE).enumerate() {
                    table.insert((sum.as_str(), index as u32), piece)?;
                }
            }
            Ok(())
        })
        .await
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }
    Ok(filled)
}

/// Reads chunk `index` of a blob.
pub async fn get_chunk(store: &ContentStore, sum: String, index: u32) -> Result<Option<Vec<u8>>> {
    store
        .read(move |tx| {
            let table = match tx.open_table(CHUNKS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(table
                .get((sum.as_str(), index))?
                .map(|v| v.value().to_vec()))
        })
        .await
}

/// A stored blob's chunks, for [`crate::http::files`] to stream.
#[derive(Clone)]
pub struct BlobChunks {
    /// The store holding the blob.
    pub store: ContentStore,
    /// The blob's SHA-256.
    pub sha256: String,
}

impl crate::http::files::ChunkSource for BlobChunks {
    fn chunk_size(&self) -> u64 {
        CHUNK_SIZE as u64
    }

    async fn chunk(&self, index: u32) -> Result<Option<Vec<u8>>> {
        get_chunk(&self.store, self.sha256.clone(), index).await
    }
}

/// Reads a whole blob of `size` bytes (for small files: subtitles, package pages).
pub async fn get_bytes(store: &ContentStore, sum: String, size: u64) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size as usize);
    let mut index = 0u32;
    while (out.len() as u64) < size {
        let chunk = get_chunk(store, sum.clone(), index)
            .await?
            .ok_or_else(|| anyhow::anyhow!("blob {sum} is missing chunk {index}"))?;
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(&chunk);
        index += 1;
    }
    Ok(out)
}

/// Deletes the bodies and blobs among `candidates` that no lesson, attachment or package file refers to any
/// more.
///
/// Holds the content lock, so an upload cannot store a blob and reference it between our check and our
/// delete. Returns how many were removed.
pub async fn collect_garbage(
    db: &Db,
    store: &ContentStore,
    candidates: Vec<String>,
) -> Result<usize> {
    if candidates.is_empty() {
        return Ok(0);
    }
    let _guard = store.content_lock().await;
    let unreferenced = db
        .read(move |c| {
            let mut out = Vec::new();
            for sum in candidates {
                let used = c
                    .query_row(
                        "SELECT 1 FROM lessons WHERE body_sha256 = ?1
                         UNION ALL SELECT 1 FROM attachments WHERE sha256 = ?1
                         UNION ALL SELECT 1 FROM package_files WHERE sha256 = ?1 LIMIT 1",
                        [&sum],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !used {
                    out.push(sum);
                }
            }
            Ok(out)
        })
        .await?;
    let n = unreferenced.len();
    store.write(move |tx| remove(tx, &unreferenced)).await?;
    Ok(n)
}

/// Removes the bodies and blobs with these hashes (the caller has checked nothing refers to them).
pub fn remove(tx: &redb::WriteTransaction, sums: &[String]) -> Result<()> {
    let mut bodies = tx.open_table(BODIES)?;
    let mut chunks = tx.open_table(CHUNKS)?;
    for sum in sums {
        bodies.remove(sum.as_str())?;
        let mut index = 0u32;
        while chunks.remove((sum.as_str(), index))?.is_some() {
            index += 1;
        }
    }
    Ok(())
}

/// Every body and blob hash in the store, for `doctor`'s orphan check.
pub fn stored_hashes(tx: &redb::ReadTransaction) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match tx.open_table(BODIES) {
        Ok(t) => {
            for entry in t.iter()? {
                out.push(entry?.0.value().to_owned());
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match tx.open_table(CHUNKS) {
        Ok(t) => {
            for entry in t.iter()? {
                let (key, _) = entry?;
                let (sum, index) = key.value();
                if index == 0 {
                    out.push(sum.to_owned());
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(out)
}
