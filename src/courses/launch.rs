//! Lessons that are interactive pages from a package (SCORM): the package's files are kept as the package had
//! them, and the lesson view runs the lesson's launch page in a frame, with its scripts, styles and images.
//!
//! Such a page is the package author's code, not ours, so it must never run as SmartCourse. Package files are
//! served by a second listener on their own port (`server.packages_port`, 8001 beside 8000): another origin,
//! so a package's scripts cannot read SmartCourse's pages or API, and the sign-in cookie, which the browser
//! still sends to every port of the host, does not count for the writes they could send back
//! (`http::auth` ignores it on a state-changing request from another origin; web forms check the origin).
//! The package's own pages share that origin, so its frames work together as they do in any LMS (a quiz
//! page calling `parent.RecordTest`). What opens a course's files is a capability in the URL
//! (`/packages/<capability>/<path>`): signed with the installation's secret, naming one course, expiring
//! after [`CAPABILITY_TTL_SECS`], and handed out only in a lesson to someone who may read it.
//!
//! SCORM pages look for an LMS API object (`API` for 1.2, `API_1484_11` for 2004) in their own, parent and
//! opener windows. SmartCourse's lesson view is of another origin, so the package's outermost page gets one
//! instead ([`SCORM_API`], added to every HTML page: inner pages find it up the frame chain). It keeps the
//! values the package sets, and when the package reports itself completed or passed it tells the lesson view,
//! which records the lesson complete for an enrolled student.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;

use super::content;
use crate::App;
use crate::error::{Error, Result};
use crate::http::extract::Path;
use crate::http::files;
use smartcourse_formats::Source;

/// How long a capability opens a course's package files: a school day, so a page left open keeps loading.
pub const CAPABILITY_TTL_SECS: i64 = 10 * 3600;

/// Bytes of package files stored per content-store transaction while importing.
const BATCH_BYTES: usize = 32 << 20;

/// The policy every package file is served under: it loads only from the package server (nothing from the
/// internet, nothing from SmartCourse itself) and may be framed only by pages of the same host (SmartCourse's
/// lesson view).
fn policy(host: &str) -> String {
    format!(
        "default-src 'self' data: blob: 'unsafe-inline' 'unsafe-eval'; form-action 'self'; \
         frame-ancestors 'self' http://{host}:*"
    )
}

/// The LMS API of a package (see the module doc), added at the top of each of its HTML pages. The outermost
/// page of the package (whose parent is SmartCourse's lesson view, or nothing) makes SCORM 1.2's `API` and
/// 2004's `API_1484_11`, and shows them to the discovery algorithms in its own window and where they look
/// first: a parent (the lesson view, which they cannot reach across origins, is replaced for them by a
/// stand-in) or an opener. Inner pages use the outermost page's. Values start as a new attempt's and live as
/// long as the page (nothing is kept between visits yet); a status of completed or passed is posted to the
/// lesson view.
pub const SCORM_API: &str = r#"<script>/* SmartCourse: the SCORM API of this package */(function(){
var w=window,p=null;try{if(w.parent!==w&&w.parent.API_1484_11){p=w.parent}}catch(x){}
if(p){w.API=p.API;w.API_1484_11=p.API_1484_11;return}
var v={"cmi.core.lesson_status":"not attempted","cmi.completion_status":"unknown","cmi.success_status":"unknown",
"cmi.core.entry":"ab-initio","cmi.entry":"ab-initio","cmi.core.lesson_mode":"normal","cmi.mode":"normal",
"cmi.core.credit":"credit","cmi.credit":"credit"},told=false;function tell(){var a=v["cmi.core.lesson_status"],
b=v["cmi.completion_status"],c=v["cmi.success_status"];if(told||!(a==="completed"||a==="passed"||b==="completed"||
c==="passed"))return;told=true;try{w.top.postMessage({smartcourse:"scorm",status:"completed"},"*")}catch(x){}}
function set(k,x){v[String(k)]=String(x);tell();return"true"}function get(k){return v[String(k)]||""}
function t(){return"true"}function z(){return"0"}function e(){return""}
var a12={LMSInitialize:t,LMSFinish:function(){tell();return"true"},LMSGetValue:get,LMSSetValue:set,
LMSCommit:t,LMSGetLastError:z,LMSGetErrorString:e,LMSGetDiagnostic:e};
var a04={Initialize:t,Terminate:function(){tell();return"true"},GetValue:get,SetValue:set,
Commit:t,GetLastError:z,GetErrorString:e,GetDiagnostic:e};w.API=a12;w.API_1484_11=a04;
var real=w.parent,stand={API:a12,API_1484_11:a04,postMessage:function(m,o,t){real.postMessage(m,o,t)}};
stand.parent=stand;stand.top=stand;
if(real!==w){try{w.parent=stand}catch(x){}}else if(!w.opener){try{w.opener=stand}catch(x){}}})();</script>"#;

/// The content type a package file is served with, by its extension (packages do not say; browsers need it
/// right to run scripts and styles under `nosniff`).
fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" | "xhtml" => "text/html",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "json" => "application/json",
        "xml" | "xsd" | "dtd" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        "vtt" => "text/vtt",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "wav" => "audio/wav",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "swf" => "application/x-shockwave-flash",
        _ => "application/octet-stream",
    }
}

/// The URL a lesson's launch page runs at, for someone who may read the lesson now. `created` is the course's
/// creation time, which the capability names with its id (a course id can be used again after the newest
/// course is deleted; a capability for the old one must not open the new one's files).
pub fn url(app: &App, course_id: i64, created: &str, launch: &str) -> Result<String> {
    let capability = app
        .tokens
        .issue_package(course_id, created, CAPABILITY_TTL_SECS)?;
    // A path on the package server; `on_package_server` makes it a URL for a request's host.
    let (path, rest) = smartcourse_formats::source::split_query(launch);
    Ok(format!(
        "/packages/{capability}/{}{rest}",
        encode_path(path)
    ))
}

/// `path` (from [`url`]) on the package server, for a browser that reached SmartCourse as the request's
/// `Host` says. `None` when no package server runs (a command, not `serve`).
pub fn on_package_server(app: &App, headers: &HeaderMap, path: &str) -> Option<String> {
    let port = *app.packages_port.get()?;
    Some(format!("http://{}:{port}{path}", host_name(headers)))
}

/// The host the browser used, without its port (`[::1]` kept in brackets).
fn host_name(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host).to_owned();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
        _ => host.to_owned(),
    }
}

/// The package server's routes (see the module doc): files of packages, nothing else.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/packages/{capability}/{*path}", axum::routing::get(serve))
        .fallback(|| async { Error::NotFound.into_response() })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::http::middleware::track,
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(app)
}

/// Percent-encodes a path for a URL, leaving its slashes and the characters that need no escaping.
fn encode_path(path: &str) -> String {
    crate::util::percent_encode(path, b"/-._~!$&'()*+,;=:@")
}

/// Makes the course's package files those in folder `prefix` of `source` (`""`: all of them; none when
/// `None`), by their paths inside that folder, storing the bytes that are new and removing what is no longer
/// referred to. Returns how many files the course keeps, and how many of its files were added, changed or
/// removed.
pub async fn keep_files(
    app: &App,
    course_id: i64,
    kept: Option<(Arc<Source>, String)>,
) -> Result<(usize, usize)> {
    let (source, prefix) = match kept {
        Some((s, p)) => (Some(s), p),
        None => (None, String::new()),
    };
    let names: Vec<String> = match &source {
        Some(s) => s
            .files()
            .into_iter()
            .filter(|f| f.starts_with(&prefix))
            .collect(),
        None => Vec::new(),
    };
    // The package's files count against the course's storage limit with its attachments (its earlier package
    // files are replaced, so they do not), checked before each file is stored.
    let max_course = app.config.uploads.max_course_bytes;
    let attached = app
        .db
        .read(move |c| crate::courses::store::attachment_bytes(c, course_id))
        .await?;
    let guard = app.content.content_lock().await;
    // What this call has put in the store: taken out again if it fails, so a failed import leaves no blob that
    // nothing refers to.
    let mut put: Vec<String> = Vec::new();
    let stored = store_files(
        app,
        course_id,
        source,
        &prefix,
        names,
        max_course.saturating_sub(u64::try_from(attached).unwrap_or(0)),
        &mut put,
    )
    .await;
    drop(guard);
    let (rows, old) = match stored {
        Ok(done) => done,
        Err(e) => {
            if let Err(gc) = content::collect_garbage(&app.db, &app.content, put).await {
                tracing::warn!(error = %gc, course.id = course_id, "could not remove a failed import's files; doctor will");
            }
            return Err(e);
        }
    };
    let kept = rows.len();
    let new: std::collections::HashMap<String, String> = rows
        .iter()
        .map(|(p, s, _, _)| (p.clone(), s.clone()))
        .collect();
    let unchanged = old.iter().filter(|(p, s)| new.get(p) == Some(s)).count();
    let changed = (old.len() - unchanged) + (kept - unchanged);
    let hashes = old.into_iter().map(|(_, s)| s).collect();
    content::collect_garbage(&app.db, &app.content, hashes).await?;
    Ok((kept, changed))
}

/// A package file's row: (path in the package folder, SHA-256, size, content type).
type FileRow = (String, String, i64, &'static str);

/// Stores the files `names` of `source` (under `prefix`) and makes them the course's package files, within
/// `room` bytes; returns the rows written and the (path, hash) rows they replaced. Every hash put in the
/// store is added to `put`, so the caller can take them out if this fails. The caller holds the content lock.
async fn store_files(
    app: &App,
    course_id: i64,
    source: Option<Arc<Source>>,
    prefix: &str,
    names: Vec<String>,
    room: u64,
    put: &mut Vec<String>,
) -> Result<(Vec<FileRow>, Vec<(String, String)>)> {
    let mut rows: Vec<FileRow> = Vec::with_capacity(names.len());
    let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
    let (mut batch_bytes, mut total) = (0, 0u64);
    for name in names {
        let Some(src) = source.clone() else { break };
        let (name, sum, bytes) = crate::blocking(move || {
            let bytes = src.read(&name)?;
            Ok((name, content::sha256(&bytes), bytes))
        })
        .await?;
        total += bytes.len() as u64;
        if total > room {
            return Err(Error::TooLarge(
                format!(
                    "this package's files and the course's attachments take more than the {} a course's files may \
                     take in all (uploads.max_course_bytes)",
                    smartcourse_formats::budget::size(app.config.uploads.max_course_bytes)
                )
                .into(),
            ));
        }
        rows.push((
            name[prefix.len()..].to_owned(),
            sum.clone(),
            bytes.len() as i64,
            content_type(&name),
        ));
        batch_bytes += bytes.len();
        batch.push((sum, bytes));
        if batch_bytes >= BATCH_BYTES {
            let batch = std::mem::take(&mut batch);
            put.extend(batch.iter().map(|(s, _)| s.clone()));
            content::put_blobs(&app.content, batch).await?;
            batch_bytes = 0;
        }
    }
    put.extend(batch.iter().map(|(s, _)| s.clone()));
    content::put_blobs(&app.content, batch).await?;
    let written = rows.clone();
    let old: Vec<(String, String)> = app
        .db
        .write(move |tx| {
            let old: Vec<(String, String)> = tx
                .prepare("SELECT path, sha256 FROM package_files WHERE course_id = ?1")?
                .query_map([course_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            tx.execute(
                "DELETE FROM package_files WHERE course_id = ?1",
                [course_id],
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO package_files (course_id, path, sha256, size, content_type)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (path, sum, size, kind) in &written {
                insert.execute(rusqlite::params![course_id, path, sum, size, kind])?;
            }
            Ok(old)
        })
        .await?;
    Ok((rows, old))
}

/// A file of a course's package: (SHA-256, size, content type).
fn find(
    conn: &rusqlite::Connection,
    course_id: i64,
    path: &str,
) -> Result<Option<(String, i64, String)>> {
    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let exact = conn
        .query_row(
            "SELECT sha256, size, content_type FROM package_files WHERE course_id = ?1 AND path = ?2",
            rusqlite::params![course_id, path],
            row,
        )
        .optional()?;
    if exact.is_some() {
        return Ok(exact);
    }
    // Packages made on Windows often link `Images/Logo.PNG` to `images/logo.png`.
    Ok(conn
        .query_row(
            "SELECT sha256, size, content_type FROM package_files
             WHERE course_id = ?1 AND path = ?2 COLLATE NOCASE ORDER BY path LIMIT 1",
            rusqlite::params![course_id, path],
            row,
        )
        .optional()?)
}

/// `GET /packages/{capability}/{*path}`: a file of a course's package, sandboxed (see the module doc). HTML
/// pages get the SCORM API; other files are sent as stored, with ranges for audio and video.
pub async fn serve(
    State(app): State<Arc<App>>,
    Path((capability, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let (course_id, created) = app.tokens.verify_package(&capability)?;
    let wanted = path.clone();
    let (sum, size, kind) = app
        .db
        .read(move |c| {
            let same: Option<i64> = c
                .query_row(
                    "SELECT 1 FROM courses WHERE id = ?1 AND created_at = ?2",
                    rusqlite::params![course_id, created],
                    |r| r.get(0),
                )
                .optional()?;
            match same {
                Some(_) => find(c, course_id, &wanted),
                None => Err(Error::Forbidden),
            }
        })
        .await?
        .ok_or(Error::NotFound)?;
    let mut extra = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&policy(&host_name(&headers))) {
        extra.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    extra.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if kind == "text/html" {
        // The page as sent depends on the API added to it too.
        static API_TAG: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| content::sha256(SCORM_API.as_bytes())[..12].to_owned());
        let etag = format!("\"{sum}-{}\"", *API_TAG);
        let headers_out = files::file_headers(extra, &etag, "text/html");
        if files::not_modified(&headers, &etag) {
            return Ok((StatusCode::NOT_MODIFIED, headers_out).into_response());
        }
        let bytes = content::get_bytes(&app.content, sum.clone(), size as u64).await?;
        return Ok((headers_out, with_scorm_api(&bytes)).into_response());
    }
    let file = files::StoredFile {
        bytes: content::BlobChunks {
            store: app.content.clone(),
            sha256: sum.clone(),
        },
        sha256: sum,
        size: size as u64,
        content_type: kind,
        disposition: None,
    };
    Ok(file.response(extra, &headers))
}

/// The page with [`SCORM_API`] before the page's own scripts: after a `<meta charset>` in its first 1024 bytes
/// (which must stay there for the browser to find it), else at the start of its `<head>`, else after `<html>`,
/// else at the very start (after a UTF-8 byte-order mark). A UTF-16 page is left as it is: an ASCII script in
/// it would be garbage.
fn with_scorm_api(page: &[u8]) -> Vec<u8> {
    let Some(at) = insertion_point(page) else {
        return page.to_vec();
    };
    let mut out = Vec::with_capacity(page.len() + SCORM_API.len());
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(SCORM_API.as_bytes());
    out.extend_from_slice(&page[at..]);
    out
}

fn insertion_point(page: &[u8]) -> Option<usize> {
    if page.starts_with(&[0xFF, 0xFE]) || page.starts_with(&[0xFE, 0xFF]) {
        return None;
    }
    // The tags looked for are at the top of a page: no need to copy a long one whole.
    let lower = page[..page.len().min(64 * 1024)].to_ascii_lowercase();
    let end_of_tag = |at: usize| {
        lower[at..]
            .iter()
            .position(|b| *b == b'>')
            .map(|j| at + j + 1)
    };
    let charset = {
        let mut from = 0;
        let mut found = None;
        while let Some(i) = find_tag(&lower[from..], b"<meta").map(|i| from + i) {
            let Some(end) = end_of_tag(i) else { break };
            if end > 1024 {
                break;
            }
            if find_bytes(&lower[i..end], b"charset").is_some() {
                found = Some(end);
                break;
            }
            from = end;
        }
        found
    };
    Some(
        charset
            .or_else(|| find_tag(&lower, b"<head").and_then(end_of_tag))
            .or_else(|| find_tag(&lower, b"<html").and_then(end_of_tag))
            .unwrap_or(if page.starts_with(&[0xEF, 0xBB, 0xBF]) {
                3
            } else {
                0
            }),
    )
}

/// Where the tag `name` (`<head`, lower case) starts in `lower`: followed by `>`, `/` or a space, so `<head`
/// does not match `<header>`.
fn find_tag(lower: &[u8], name: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = find_bytes(&lower[from..], name).map(|i| from + i) {
        match lower.get(i + name.len()) {
            Some(b'>' | b'/') => return Some(i),
            Some(b) if b.is_ascii_whitespace() => return Some(i),
            None => return None,
            _ => from = i + name.len(),
        }
    }
    None
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_goes_before_the_pages_own_scripts() {
        let page = b"<!DOCTYPE html><HTML lang=en><Head profile=x><script src=find-api.js></script></head></html>";
        let out = String::from_utf8(with_scorm_api(page)).unwrap();
        let api = out.find(SCORM_API).unwrap();
        assert!(out.find("<Head profile=x>").unwrap() < api);
        assert!(api < out.find("find-api.js").unwrap());
        // No <head>: after <html>; neither: at the very start.
        let out = String::from_utf8(with_scorm_api(b"<html><body>x</body></html>")).unwrap();
        assert!(out.starts_with("<html><script>"));
        let out = String::from_utf8(with_scorm_api(b"<p>bare</p>")).unwrap();
        assert!(out.starts_with("<script>") && out.ends_with("<p>bare</p>"));
        // <header> is not <head>; a UTF-8 mark stays first.
        let out =
            String::from_utf8(with_scorm_api(b"\xEF\xBB\xBF<body><header>x</header>")).unwrap();
        assert!(out.starts_with("\u{feff}<script>"), "{out}");
        // A <meta charset> stays within the first 1024 bytes: the API goes after it.
        let page = b"<html><head><title>T</title><meta charset=\"windows-1252\"><script src=a.js></script>";
        let out = String::from_utf8(with_scorm_api(page)).unwrap();
        assert!(out.find("windows-1252").unwrap() < out.find(SCORM_API).unwrap());
        assert!(out.find(SCORM_API).unwrap() < out.find("a.js").unwrap());
        // UTF-16 is left alone.
        let utf16 = [0xFF, 0xFE, b'<', 0, b'p', 0, b'>', 0];
        assert_eq!(with_scorm_api(&utf16), utf16.to_vec());
    }

    #[test]
    fn paths_are_encoded_for_urls() {
        assert_eq!(encode_path("a b/ü.html"), "a%20b/%C3%BC.html");
        assert_eq!(
            encode_path("shared/launch-page_1.html"),
            "shared/launch-page_1.html"
        );
        assert_eq!(encode_path("x%y?#"), "x%25y%3F%23");
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("a/B.HTM"), "text/html");
        assert_eq!(content_type("x.js"), "text/javascript");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
