//! Receiving an uploaded file: streamed to a staging file with its hash and size, its type decided by its
//! bytes (never by its name), and the name made safe.

use std::path::{Path, PathBuf};

use axum::extract::multipart::Field;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// A file received into the staging area; removed from disk when dropped.
pub struct Staged {
    /// Where the bytes are.
    pub path: PathBuf,
    /// Their SHA-256.
    pub sha256: String,
    /// Their length.
    pub size: u64,
    /// Their type, from their content.
    pub content_type: &'static str,
    /// The uploaded name, made safe.
    pub filename: String,
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bytes each user has in uploads being received right now, held against `server.max_staged_bytes_per_user`:
/// one person opening many large uploads at once cannot fill the disk or hold many connections.
#[derive(Debug, Default)]
pub struct StagingShares {
    used: std::sync::Mutex<std::collections::HashMap<i64, u64>>,
}

impl StagingShares {
    /// A quota for one upload by `user` (none for the command line, which is not limited here).
    pub fn quota(&self, user: Option<i64>, limit: u64) -> Quota<'_> {
        Quota {
            shares: self,
            user,
            limit,
            taken: 0,
        }
    }

    /// Bytes `user` has in uploads being received now.
    pub fn used(&self, user: i64) -> u64 {
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user)
            .copied()
            .unwrap_or(0)
    }
}

/// One upload's share of its user's staging bytes; given back when the upload ends (drop), whatever the
/// outcome.
pub struct Quota<'a> {
    shares: &'a StagingShares,
    user: Option<i64>,
    limit: u64,
    taken: u64,
}

impl Quota<'_> {
    fn take(&mut self, n: u64) -> Result<()> {
        let Some(user) = self.user else {
            return Ok(());
        };
        let mut used = self
            .shares
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = used.entry(user).or_default();
        if *mine + n > self.limit {
            return Err(Error::Conflict {
                code: "uploads_in_progress",
                message: format!(
                    "your uploads in progress would pass {} MiB together; wait for them to finish",
                    self.limit / (1024 * 1024)
                )
                .into(),
            });
        }
        *mine += n;
        self.taken += n;
        Ok(())
    }
}

impl Drop for Quota<'_> {
    fn drop(&mut self) {
        let Some(user) = self.user else {
            return;
        };
        let mut used = self
            .shares
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(mine) = used.get_mut(&user) {
            *mine = mine.saturating_sub(self.taken);
            if *mine == 0 {
                used.remove(&user);
            }
        }
    }
}

/// The next piece of an upload, or 408 `upload_stalled` when none comes for `stall` (a client that opens an
/// upload and sends nothing would otherwise hold its staging file and a connection for as long as it likes).
async fn next_chunk(
    field: &mut Field<'_>,
    stall: std::time::Duration,
) -> std::result::Result<Option<axum::body::Bytes>, Stalled> {
    match tokio::time::timeout(stall, field.chunk()).await {
        Ok(r) => r.map_err(Stalled::Broken),
        Err(_) => Err(Stalled::Quiet(stall.as_secs())),
    }
}

enum Stalled {
    Broken(axum::extract::multipart::MultipartError),
    Quiet(u64),
}

fn stalled(secs: u64) -> Error {
    Error::Stalled(format!("the upload stopped: no data came for {secs} s; try again").into())
}

/// How much of the start of a file decides its type.
const SNIFF_BYTES: usize = 8192;

/// Streams one multipart field to a new file in `dir`, refusing more than `max_bytes` (413) and types we do
/// not accept (415). Nothing is left on disk when it fails.
pub async fn stage(
    mut field: Field<'_>,
    dir: &Path,
    max_bytes: u64,
    stall: std::time::Duration,
    quota: &mut Quota<'_>,
) -> Result<Staged> {
    let filename = safe_filename(field.file_name().unwrap_or("attachment"));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(anyhow::Error::from)?;
    let path = dir.join(format!("upload-{}", crate::util::random_hex(12)?));
    let mut staged = Staged {
        path,
        sha256: String::new(),
        size: 0,
        content_type: "",
        filename,
    };
    let mut file = tokio::fs::File::create(&staged.path)
        .await
        .map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut utf8 = Utf8Check::default();
    let too_large = || {
        Error::TooLarge(format!("a file may have at most {} MiB", max_bytes / (1024 * 1024)).into())
    };
    while let Some(chunk) = next_chunk(&mut field, stall).await.map_err(|e| match e {
        Stalled::Broken(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            too_large()
        }
        Stalled::Broken(e) => Error::BadRequest(format!("the upload was interrupted: {e}").into()),
        Stalled::Quiet(secs) => stalled(secs),
    })? {
        staged.size += chunk.len() as u64;
        if staged.size > max_bytes {
            return Err(too_large());
        }
        quota.take(chunk.len() as u64)?;
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        utf8.feed(&chunk);
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io_error)?;
    }
    file.sync_all().await.map_err(io_error)?;
    if staged.size == 0 {
        return Err(Error::invalid("file", "the file is empty"));
    }
    staged.content_type = detect(&head, utf8.finish()).ok_or_else(|| {
        Error::Unsupported(
            "this kind of file is not accepted: upload PDF, plain text, HTML, SRT or VTT subtitles, or PNG, JPEG, GIF or WebP images"
                .into(),
        )
    })?;
    staged.sha256 = crate::util::hex(&hasher.finalize());
    Ok(staged)
}

/// A package file received into the staging area; removed when dropped.
pub struct StagedPackage(PathBuf);

impl std::ops::Deref for StagedPackage {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl StagedPackage {
    /// Moves the upload to `dir` for a workflow to read later (which removes it), and stops owning it.
    pub fn keep_in(self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(io_error)?;
        let name = self
            .0
            .file_name()
            .map(ToOwned::to_owned)
            .unwrap_or_default();
        let to = dir.join(name);
        std::fs::rename(&self.0, &to).map_err(io_error)?;
        std::mem::forget(self);
        Ok(to)
    }
}

impl Drop for StagedPackage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Streams an uploaded course package to the staging area, up to `max_bytes`; its contents are checked by
/// the importer.
pub async fn stage_package(
    mut field: Field<'_>,
    dir: &Path,
    max_bytes: u64,
    stall: std::time::Duration,
    quota: &mut Quota<'_>,
) -> Result<StagedPackage> {
    tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
    let staged = StagedPackage(dir.join(format!("package-{}.zip", crate::util::random_hex(12)?)));
    let mut file = tokio::fs::File::create(&staged.0).await.map_err(io_error)?;
    let mut size = 0u64;
    while let Some(chunk) = next_chunk(&mut field, stall).await.map_err(|e| match e {
        Stalled::Broken(e) => Error::BadRequest(format!("the upload was interrupted: {e}").into()),
        Stalled::Quiet(secs) => stalled(secs),
    })? {
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(Error::TooLarge(
                "the package is larger than a course may be".into(),
            ));
        }
        quota.take(chunk.len() as u64)?;
        file.write_all(&chunk).await.map_err(io_error)?;
    }
    file.sync_all().await.map_err(io_error)?;
    Ok(staged)
}

/// Stages bytes already in memory (from a package), with the same checks as an upload.
pub fn stage_bytes(bytes: &[u8], name: &str, dir: &Path, max_bytes: u64) -> Result<Staged> {
    if bytes.len() as u64 > max_bytes {
        return Err(Error::TooLarge(
            format!("a file may have at most {} MiB", max_bytes / (1024 * 1024)).into(),
        ));
    }
    if bytes.is_empty() {
        return Err(Error::invalid("file", "the file is empty"));
    }
    std::fs::create_dir_all(dir).map_err(io_error)?;
    let path = dir.join(format!("upload-{}", crate::util::random_hex(12)?));
    std::fs::write(&path, bytes).map_err(io_error)?;
    let mut check = Utf8Check::default();
    check.feed(bytes);
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let mut staged = Staged {
        path,
        sha256: crate::util::hex(&Sha256::digest(bytes)),
        size: bytes.len() as u64,
        content_type: "",
        filename: safe_filename(name),
    };
    staged.content_type = detect(head, check.finish())
        .ok_or_else(|| Error::Unsupported("this kind of file is not accepted".into()))?;
    Ok(staged)
}

fn io_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::StorageFull {
        Error::StorageFull
    } else {
        Error::Internal(e.into())
    }
}

/// Decides the content type from the first bytes, and whether the whole file is UTF-8 text.
pub fn detect(head: &[u8], is_utf8: bool) -> Option<&'static str> {
    if let Some(kind) = infer::get(head).filter(|k| !k.mime_type().starts_with("text/")) {
        return match kind.mime_type() {
            "application/pdf" => Some("application/pdf"),
            "image/png" => Some("image/png"),
            "image/jpeg" => Some("image/jpeg"),
            "image/gif" => Some("image/gif"),
            "image/webp" => Some("image/webp"),
            // What browsers play without plugins.
            "video/mp4" => Some("video/mp4"),
            "video/webm" => Some("video/webm"),
            "audio/mpeg" => Some("audio/mpeg"),
            "audio/ogg" => Some("audio/ogg"),
            _ => None,
        };
    }
    if !is_utf8 {
        return None;
    }
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with("WEBVTT") {
        return Some("text/vtt; charset=utf-8");
    }
    let mut lines = text.lines().map(str::trim);
    if let (Some(first), Some(second)) = (lines.next(), lines.next())
        && !first.is_empty()
        && first.chars().all(|c| c.is_ascii_digit())
        && second.contains("-->")
    {
        return Some("application/x-subrip; charset=utf-8");
    }
    let lower = text
        .get(..text.len().min(512))
        .unwrap_or(text)
        .to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<body")
    {
        return Some("text/html; charset=utf-8");
    }
    // Text with NUL or other control characters (besides whitespace) is a binary format in disguise.
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return None;
    }
    Some("text/plain; charset=utf-8")
}

/// Checks that a stream of chunks is UTF-8, allowing a character split across chunks.
#[derive(Default)]
struct Utf8Check {
    carry: Vec<u8>,
    bad: bool,
}

impl Utf8Check {
    fn feed(&mut self, chunk: &[u8]) {
        if self.bad {
            return;
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        match std::str::from_utf8(&buf) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => self.carry = buf[e.valid_up_to()..].to_vec(),
            Err(_) => self.bad = true,
        }
    }

    fn finish(self) -> bool {
        !self.bad && self.carry.is_empty()
    }
}

/// The last path component of an uploaded name, without control characters, at most 200 characters.
pub fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*'))
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_bytes() {
        assert_eq!(detect(b"%PDF-1.7\n...", false), Some("application/pdf"));
        assert_eq!(
            detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false),
            Some("image/png")
        );
        assert_eq!(
            detect(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi", true),
            Some("text/vtt; charset=utf-8")
        );
        assert_eq!(
            detect(b"1\n00:00:00,000 --> 00:00:01,000\nHi\n", true),
            Some("application/x-subrip; charset=utf-8")
        );
        assert_eq!(
            detect(b"<!DOCTYPE html><html><body>x</body></html>", true),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            detect(b"Just some notes.\n", true),
            Some("text/plain; charset=utf-8")
        );
        // An executable named notes.txt, a zip, and invalid UTF-8 are refused.
        assert_eq!(
            detect(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", false),
            None
        );
        assert_eq!(detect(b"PK\x03\x04\x14\0\0\0", false), None);
        assert_eq!(detect(b"\xff\xfe\xfd", false), None);
        assert_eq!(detect(b"abc\0def", true), None);
    }

    #[test]
    fn utf8_split_across_chunks_is_fine() {
        let s = "naïve café".as_bytes();
        let mut c = Utf8Check::default();
        c.feed(&s[..3]);
        c.feed(&s[3..]);
        assert!(c.finish());
        let mut c = Utf8Check::default();
        c.feed(&s[..3]);
        assert!(!c.finish(), "a truncated character is not text");
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("C:\\Users\\x\\notes.pdf"), "notes.pdf");
        assert_eq!(safe_filename("a\"b<c>\n.pdf"), "abc.pdf");
        assert_eq!(safe_filename(".."), "attachment");
        assert_eq!(safe_filename(""), "attachment");
    }
}
