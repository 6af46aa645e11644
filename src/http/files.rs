//! Answering a GET for stored bytes: entity tags, byte ranges and download names, in one place.
//!
//! Stored files are named by their SHA-256, so the hash makes a strong entity tag: equal tags mean equal
//! bytes, and a browser that sends the tag back in `If-None-Match` gets 304 before a byte is read. Audio and
//! video players seek by asking for byte ranges: one range (`Range: bytes=500-`, `bytes=-500`) is answered 206
//! with `Content-Range`, a range outside the file 416 with `Content-Range: bytes */size`, and anything else
//! (several ranges, another unit, bad syntax) with the whole file, as RFC 9110 allows a server to.
//!
//! The bytes come from a [`ChunkSource`], a store that keeps a file in fixed-size chunks, and are streamed
//! chunk by chunk: a film is never read into memory, and a range reads only the chunks it covers. What the
//! file is (an attachment, a package's file) and who may read it is the caller's business; this module
//! knows only HTTP.

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, Result};

/// Where a stored file's bytes are read from: chunk by chunk, every chunk but the last
/// [`ChunkSource::chunk_size`] bytes long.
pub trait ChunkSource: Clone + Send + Sync + 'static {
    /// Bytes in every chunk but the last.
    fn chunk_size(&self) -> u64;
    /// Chunk `index` (from 0), or `None` when the store has no such chunk.
    fn chunk(&self, index: u32) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
}

/// A stored file to answer a GET with.
pub struct StoredFile<S> {
    /// The SHA-256 of the bytes (unquoted), sent as the entity tag.
    pub sha256: String,
    /// Size in bytes, as recorded: the stream ends with an error if the store holds fewer.
    pub size: u64,
    pub content_type: String,
    /// `Content-Disposition`, if any (see [`content_disposition`]).
    pub disposition: Option<String>,
    pub bytes: S,
}

impl<S: ChunkSource> StoredFile<S> {
    /// The answer to `request` for this file, with `extra` headers besides those of [`file_headers`]: the
    /// whole file, the one range asked for (206), 416 for a range outside it, or 304 when the client has it.
    pub fn response(self, extra: HeaderMap, request: &HeaderMap) -> Response {
        let size = self.size;
        let etag = format!("\"{}\"", self.sha256);
        let mut headers = file_headers(extra, &etag, &self.content_type);
        set(&mut headers, header::ACCEPT_RANGES, "bytes".into());
        if let Some(d) = self.disposition {
            set(&mut headers, header::CONTENT_DISPOSITION, d);
        }
        if not_modified(request, &etag) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        if size == 0 {
            set(&mut headers, header::CONTENT_LENGTH, "0".into());
            return (StatusCode::OK, headers, Body::empty()).into_response();
        }
        let range = request
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|range| parse_range(range, size));
        let (status, start, end) = match range {
            Some(RangeSpec::Satisfiable(s, e)) => {
                set(
                    &mut headers,
                    header::CONTENT_RANGE,
                    format!("bytes {s}-{e}/{size}"),
                );
                (StatusCode::PARTIAL_CONTENT, s, e)
            }
            Some(RangeSpec::Unsatisfiable) => {
                set(
                    &mut headers,
                    header::CONTENT_RANGE,
                    format!("bytes */{size}"),
                );
                let mut r = Error::RangeNotSatisfiable.into_response();
                r.headers_mut().extend(headers);
                return r;
            }
            None => (StatusCode::OK, 0, size - 1),
        };
        set(
            &mut headers,
            header::CONTENT_LENGTH,
            (end - start + 1).to_string(),
        );
        let body = Body::from_stream(chunk_stream(self.bytes, start, end));
        (status, headers, body).into_response()
    }
}

/// `extra` with the headers every stored file is sent with: its ETag and type, `nosniff`, and an hour in the
/// browser's private cache. For a page built from stored bytes (not sent as they are), with
/// [`not_modified`] in place of [`StoredFile::response`].
pub fn file_headers(mut extra: HeaderMap, etag: &str, content_type: &str) -> HeaderMap {
    for (name, value) in [
        (header::ETAG, etag),
        (header::CONTENT_TYPE, content_type),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "private, max-age=3600"),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            extra.insert(name, v);
        }
    }
    extra
}

/// Whether the request's `If-None-Match` names `etag` (quoted, as sent) or is `*`.
pub fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// A `Content-Disposition` value (`kind` is `inline` or `attachment`): an ASCII fallback name for old
/// clients and the exact name per RFC 6266 / 5987.
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| *c != '"' && *c != '\\')
        .collect();
    // RFC 5987: only the unreserved characters stay as they are.
    let encoded = crate::util::percent_encode(filename, b"-._~");
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Inserts a header whose value was built at run time (one that is not a valid header value is left out).
fn set(headers: &mut HeaderMap, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

#[derive(Debug, PartialEq)]
enum RangeSpec {
    /// First and last byte, inclusive, both within the file.
    Satisfiable(u64, u64),
    Unsatisfiable,
}

/// Parses a single `bytes=` range of a file of `size` bytes (not 0). Several ranges, or a syntax we do not
/// know, are ignored (whole file), as RFC 9110 allows.
fn parse_range(value: &str, size: u64) -> Option<RangeSpec> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(RangeSpec::Unsatisfiable);
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size - 1
        } else {
            b.parse::<u64>().ok()?.min(size - 1)
        };
        (start, end)
    };
    if start >= size || start > end {
        return Some(RangeSpec::Unsatisfiable);
    }
    Some(RangeSpec::Satisfiable(start, end))
}

/// The bytes `start..=end` of a stored file, read one chunk at a time as the client takes them.
fn chunk_stream<S: ChunkSource>(
    source: S,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, std::io::Error>> {
    let chunk = source.chunk_size();
    futures_util::stream::try_unfold(start, move |pos| {
        let source = source.clone();
        async move {
            if pos > end {
                return Ok(None);
            }
            let index = pos / chunk;
            let data = source
                .chunk(index as u32)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .ok_or_else(|| {
                    std::io::Error::other("attachment bytes missing from the content store")
                })?;
            let from = (pos - index * chunk) as usize;
            let to = ((end - index * chunk) as usize + 1).min(data.len());
            if from >= to {
                return Err(std::io::Error::other("attachment shorter than recorded"));
            }
            let piece = Bytes::copy_from_slice(&data[from..to]);
            Ok(Some((piece, index * chunk + to as u64)))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn r(v: &str, size: u64) -> Option<(u64, u64)> {
        match parse_range(v, size) {
            Some(RangeSpec::Satisfiable(a, b)) => Some((a, b)),
            Some(RangeSpec::Unsatisfiable) => Some((u64::MAX, u64::MAX)),
            None => None,
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(r("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(r("bytes=90-", 100), Some((90, 99)));
        assert_eq!(r("bytes=-10", 100), Some((90, 99)));
        assert_eq!(r("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(r("bytes=100-", 100), Some((u64::MAX, u64::MAX)));
        assert_eq!(r("bytes=5-2", 100), Some((u64::MAX, u64::MAX)));
        assert_eq!(r("bytes=0-1,5-6", 100), None);
        assert_eq!(r("items=0-1", 100), None);
    }

    #[test]
    fn download_names_keep_an_ascii_fallback_and_the_exact_name() {
        let d = content_disposition("attachment", "résumé \"final\".pdf");
        assert!(
            d.starts_with("attachment; filename=\"r_sum_ final.pdf\""),
            "{d}"
        );
        assert!(
            d.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"),
            "{d}"
        );
    }

    /// Bytes in memory, cut into chunks of `size`, as the content store cuts them.
    #[derive(Clone)]
    struct Chunked {
        bytes: Arc<Vec<u8>>,
        size: usize,
    }

    impl ChunkSource for Chunked {
        fn chunk_size(&self) -> u64 {
            self.size as u64
        }
        async fn chunk(&self, index: u32) -> Result<Option<Vec<u8>>> {
            Ok(self
                .bytes
                .chunks(self.size)
                .nth(index as usize)
                .map(<[u8]>::to_vec))
        }
    }

    async fn get(
        range: Option<&str>,
        if_none_match: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let bytes: Vec<u8> = (0..=255).collect();
        let file = StoredFile {
            sha256: "abc".into(),
            size: bytes.len() as u64,
            content_type: "audio/ogg".into(),
            disposition: Some(content_disposition("inline", "a.ogg")),
            bytes: Chunked {
                bytes: Arc::new(bytes),
                size: 10,
            },
        };
        let mut request = HeaderMap::new();
        if let Some(v) = range {
            request.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        }
        if let Some(v) = if_none_match {
            request.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        let response = file.response(HeaderMap::new(), &request);
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, body.to_vec())
    }

    #[tokio::test]
    async fn a_range_across_chunks_is_sent_exactly() {
        let (status, headers, body) = get(Some("bytes=7-23"), None).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(body, (7..=23).collect::<Vec<u8>>());
        assert_eq!(headers[header::CONTENT_RANGE], "bytes 7-23/256");
        assert_eq!(headers[header::CONTENT_LENGTH], "17");
        assert_eq!(headers[header::ETAG], "\"abc\"");

        let (status, _, body) = get(None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, (0..=255).collect::<Vec<u8>>());
        let (status, headers, _) = get(Some("bytes=300-"), None).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(headers[header::CONTENT_RANGE], "bytes */256");
        let (status, headers, body) = get(Some("bytes=0-9"), Some("\"old\", \"abc\"")).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            content_disposition("inline", "a.ogg")
        );
    }
}
