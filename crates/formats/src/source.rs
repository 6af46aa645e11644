//! Reading files from a package: a folder or a zip archive, with the safety checks both need.
//!
//! A [`Source`] is one package's files and its [`Budget`]: every byte read out of it, from whichever kind of
//! storage, is charged as it comes out, so the readers (and the import after them) cannot be made to unpack
//! more than [`Limits::max_package_bytes`] whatever the archive declares or how often a file is named.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::budget::{Budget, size};
use crate::{Error, Limits, Result};

/// Most entries a package may have.
const MAX_ENTRIES: usize = 20_000;

/// A package's files, with the budget reading them is charged to. Opened by [`Source::open`]; a reader takes it
/// by reference, and the import keeps it (as `Arc<Source>`) to store the files the lessons name.
pub struct Source {
    files: Files,
    /// Shared by the sources [`Source::descend`] makes: one package, one budget.
    budget: Arc<Budget>,
}

/// Where a package's files come from.
enum Files {
    /// An unpacked folder.
    Dir(PathBuf),
    /// A `.tar.gz` (Moodle backups, Open edX exports) unpacked into a scratch folder removed on drop.
    Unpacked {
        /// The folder the package's root is in (possibly below the scratch folder's top).
        root: PathBuf,
        /// Holds the scratch folder.
        _scratch: Arc<tempfile::TempDir>,
    },
    /// A zip archive.
    Zip {
        /// The archive, its directory read once (a package's readers and import read hundreds of files).
        archive: Arc<Mutex<zip::ZipArchive<std::fs::File>>>,
        /// Each file's entry in the archive, by its path in the package.
        entries: BTreeMap<String, usize>,
    },
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// A link split into its path and what follows it (`?query` and/or `#fragment`, with the mark), as a launch
/// page is named: `shared/launch.html?x=1` → (`shared/launch.html`, `?x=1`).
pub fn split_query(link: &str) -> (&str, &str) {
    link.split_at(link.find(['?', '#']).unwrap_or(link.len()))
}

/// A package path as stored: forward slashes, no `.`/`..`, not absolute. `None` if it tries to leave.
pub fn clean(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in Path::new(&path.replace('\\', "/")).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Reads `from` to its end, charging each chunk to `budget` as it comes out and stopping one byte past `cap`
/// (the caller refuses that): neither a lying header nor a long file is read further than allowed.
fn read_metered(mut from: impl Read, cap: u64, budget: &Budget, name: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while (bytes.len() as u64) <= cap {
        let want = usize::try_from(cap + 1 - bytes.len() as u64)
            .map_or(chunk.len(), |w| w.min(chunk.len()));
        let n = match from.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(bad(format!("cannot unpack {name}: {e}"))),
        };
        budget.unpacked(n as u64)?;
        bytes.extend_from_slice(&chunk[..n]);
    }
    Ok(bytes)
}

impl Source {
    /// Opens a folder, a `.zip` or a `.tar.gz` (unpacked under `scratch`), with a fresh budget from `limits`.
    /// An archive is checked up front: entry count, names that escape, links, sizes against the per-file limit
    /// and the package budget (a zip's declared sizes as a first check; the bytes themselves as they inflate).
    pub fn open(path: &Path, limits: &Limits, scratch: &Path) -> Result<Source> {
        let budget = Arc::new(Budget::new(limits));
        let meta = std::fs::metadata(path)
            .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
        if meta.is_dir() {
            let root = path
                .canonicalize()
                .map_err(|e| bad(format!("{}: {e}", path.display())))?;
            return Ok(Source {
                files: Files::Dir(root),
                budget,
            });
        }
        let mut file = std::fs::File::open(path)
            .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
        let mut magic = [0u8; 2];
        let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        drop(file);
        if gzip {
            let files = unpack_tar_gz(path, budget.limits(), scratch)?;
            return Ok(Source { files, budget });
        }
        let file = std::fs::File::open(path)
            .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
        Source::zip(file, &path.display().to_string(), budget)
    }

    /// A zip archive whose directory is checked as [`Source::open`] checks one (entry count, names that
    /// escape, declared sizes against what the budget has left), reading into `budget`.
    fn zip(file: std::fs::File, name: &str, budget: Arc<Budget>) -> Result<Source> {
        let limits = budget.limits().clone();
        let mut archive = zip::ZipArchive::new(file).map_err(|e| {
            bad(format!(
                "{name} is not a folder or a zip archive (nor a tar.gz): {e}"
            ))
        })?;
        if archive.len() > MAX_ENTRIES {
            return Err(bad(format!(
                "the archive has {} entries; at most {MAX_ENTRIES} are accepted",
                archive.len()
            )));
        }
        let mut entries = BTreeMap::new();
        let mut total = 0u64;
        for i in 0..archive.len() {
            let entry = archive
                .by_index(i)
                .map_err(|e| bad(format!("damaged archive: {e}")))?;
            if entry.is_dir() {
                continue;
            }
            let name = clean(entry.name()).ok_or_else(|| {
                bad(format!(
                    "the archive entry {:?} points outside the package",
                    entry.name()
                ))
            })?;
            // What the directory declares only refuses early an archive that admits it is too big; an entry
            // that lies is caught as it inflates (`read_metered`).
            total = total.saturating_add(entry.size());
            entries.insert(name, i);
        }
        if total > limits.max_package_bytes {
            return Err(Error::TooLarge(
                format!(
                    "this package unpacks to {} MiB, more than {}",
                    total / (1024 * 1024),
                    size(limits.max_package_bytes)
                )
                .into(),
            ));
        }
        Ok(Source {
            files: Files::Zip {
                archive: Arc::new(Mutex::new(archive)),
                entries,
            },
            budget,
        })
    }

    /// The zip archive `name` among this folder's files (a Kolibri exercise's `.perseus` file), as a package of
    /// its own that shares this one's budget: opening it counts as a read of the file, and every byte inflated
    /// from it is charged here, so archives inside a package cannot multiply what the package may unpack. The
    /// archive itself must be within the per-file limit. An archive inside a zip is not opened.
    pub fn archive(&self, name: &str) -> Result<Source> {
        let clean_name =
            clean(name).ok_or_else(|| bad(format!("{name:?} points outside the package")))?;
        let (Files::Dir(root) | Files::Unpacked { root, .. }) = &self.files else {
            return Err(bad(format!(
                "{name} is an archive inside an archive, which is not read"
            )));
        };
        let real = root
            .join(&clean_name)
            .canonicalize()
            .map_err(|_| bad(format!("{name} is missing from the package")))?;
        if !real.starts_with(root) {
            return Err(bad(format!("{name} links outside the package")));
        }
        self.budget.read_file(name)?;
        let file =
            std::fs::File::open(&real).map_err(|e| bad(format!("cannot read {name}: {e}")))?;
        let len = file.metadata().map_err(anyhow::Error::from)?.len();
        if len > self.budget.limits().max_file_bytes {
            return Err(Error::TooLarge(
                format!("{name} is larger than a file may be").into(),
            ));
        }
        Source::zip(file, name, Arc::clone(&self.budget))
    }

    /// A folder as a package, with a fresh budget from `limits` (for a caller that has found the folder
    /// itself: a Kolibri channel's files).
    pub fn dir(root: PathBuf, limits: &Limits) -> Source {
        Source {
            files: Files::Dir(root),
            budget: Arc::new(Budget::new(limits)),
        }
    }

    /// What reading this package has used, and its limits.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// When the package's files all sit in one folder (`course/…` in an Open edX export, a zipped folder) and
    /// none of `markers` is at the top, the package seen from inside that folder.
    pub fn descend(self, markers: &[&str]) -> Source {
        if markers.iter().any(|m| self.contains(m)) {
            return self;
        }
        let files = self.files();
        let Some(top) = files
            .first()
            .and_then(|f| f.split_once('/'))
            .map(|(t, _)| t.to_owned())
        else {
            return self;
        };
        let prefix = format!("{top}/");
        if !files.iter().all(|f| f.starts_with(&prefix)) {
            return self;
        }
        let inner = match self.files {
            Files::Dir(root) => Files::Dir(root.join(&top)),
            Files::Unpacked { root, _scratch } => Files::Unpacked {
                root: root.join(&top),
                _scratch,
            },
            Files::Zip { archive, entries } => Files::Zip {
                archive,
                entries: entries
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_owned(), v)))
                    .collect(),
            },
        };
        let inner = Source {
            files: inner,
            budget: self.budget,
        };
        if markers.iter().any(|m| inner.contains(m)) {
            inner
        } else {
            inner.descend(markers)
        }
    }

    /// Whether the package has this file.
    pub fn contains(&self, name: &str) -> bool {
        match (&self.files, clean(name)) {
            (_, None) => false,
            (Files::Dir(root) | Files::Unpacked { root, .. }, Some(n)) => root.join(&n).is_file(),
            (Files::Zip { entries, .. }, Some(n)) => entries.contains_key(&n),
        }
    }

    /// Every file's path, sorted.
    pub fn files(&self) -> Vec<String> {
        match &self.files {
            Files::Zip { entries, .. } => entries.keys().cloned().collect(),
            Files::Dir(root) | Files::Unpacked { root, .. } => {
                let mut out = Vec::new();
                let mut stack = vec![root.clone()];
                while let Some(dir) = stack.pop() {
                    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        let p = entry.path();
                        if p.is_dir() {
                            stack.push(p);
                        } else if let Ok(rel) = p.strip_prefix(root) {
                            out.push(rel.to_string_lossy().replace('\\', "/"));
                        }
                    }
                }
                out.sort();
                out
            }
        }
    }

    /// Reads a text file (XML, HTML): see [`decode`].
    pub fn read_text(&self, name: &str) -> Result<String> {
        decode(&self.read(name)?, name)
    }

    /// Parses the XML `text` (the file `name`) within this package's budget of XML nodes.
    pub fn parse_xml<'t>(&self, text: &'t str, name: &str) -> Result<roxmltree::Document<'t>> {
        self.budget.parse_xml(text, name)
    }

    /// Reads one file, refusing paths that leave the package and files over the per-file limit. The read and
    /// its bytes are charged to the package's budget.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let max = self.budget.limits().max_file_bytes;
        let bytes = self.read_at_most(name, max)?;
        if bytes.len() as u64 > max {
            return Err(Error::TooLarge(
                format!("{name} is larger than a file may be").into(),
            ));
        }
        Ok(bytes)
    }

    /// Reads a lesson's own text file, stopping at [`Limits::max_lesson_bytes`]: a bigger one is refused
    /// having read only that much of it.
    pub fn read_lesson(&self, name: &str) -> Result<Vec<u8>> {
        let max = self.budget.max_lesson_bytes();
        let bytes = self.read_at_most(name, max)?;
        if bytes.len() as u64 > max {
            return Err(self.budget.lesson_too_large(name));
        }
        Ok(bytes)
    }

    /// Reads up to one byte past `cap` of a file (the caller refuses that), whatever the archive claims.
    fn read_at_most(&self, name: &str, cap: u64) -> Result<Vec<u8>> {
        let clean_name =
            clean(name).ok_or_else(|| bad(format!("{name:?} points outside the package")))?;
        match &self.files {
            Files::Dir(root) | Files::Unpacked { root, .. } => {
                let full = root.join(&clean_name);
                let real = full
                    .canonicalize()
                    .map_err(|_| bad(format!("{name} is missing from the package")))?;
                if !real.starts_with(root) {
                    return Err(bad(format!("{name} links outside the package")));
                }
                self.budget.read_file(name)?;
                let file = std::fs::File::open(&real)
                    .map_err(|e| bad(format!("cannot read {name}: {e}")))?;
                read_metered(file, cap, &self.budget, name)
            }
            Files::Zip { archive, entries } => {
                let index = *entries
                    .get(&clean_name)
                    .ok_or_else(|| bad(format!("{name} is missing from the package")))?;
                self.budget.read_file(name)?;
                // A reader that panicked while holding the archive left nothing half-done in it.
                let mut archive = archive.lock().unwrap_or_else(|e| e.into_inner());
                let entry = archive
                    .by_index(index)
                    .map_err(|e| bad(format!("damaged archive: {e}")))?;
                read_metered(entry, cap, &self.budget, name)
            }
        }
    }
}

/// Unpacks a `.tar.gz` into a new folder under `scratch`, with the same checks as a zip: at most
/// [`MAX_ENTRIES`] entries, no names that leave the package, no links, each file within the per-file limit,
/// and the whole within [`Limits::max_package_bytes`], counted as it is written (a tar's headers are not
/// trusted). That count is the unpacking's own: reading the unpacked files later is charged to the package's
/// budget like reading a folder's, so a package unpacked once is not charged twice for it.
fn unpack_tar_gz(path: &Path, limits: &Limits, scratch: &Path) -> Result<Files> {
    std::fs::create_dir_all(scratch).map_err(anyhow::Error::from)?;
    let dir = tempfile::Builder::new()
        .prefix("package-")
        .tempdir_in(scratch)
        .map_err(anyhow::Error::from)?;
    let file = std::fs::File::open(path)
        .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let damaged = |e: std::io::Error| bad(format!("damaged tar.gz archive: {e}"));
    let max_file = limits.max_file_bytes;
    let unpacking = Budget::new(limits);
    let mut count = 0usize;
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(bad(format!(
                "the archive entry {raw:?} is a link; packages may not contain links"
            )));
        }
        if !(kind.is_file() || kind.is_dir() || kind.is_contiguous()) {
            continue; // pax/GNU metadata entries, fifos, devices: nothing to import
        }
        if raw == "." || raw == "./" {
            continue;
        }
        let name = clean(&raw).ok_or_else(|| {
            bad(format!(
                "the archive entry {raw:?} points outside the package"
            ))
        })?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(bad(format!(
                "the archive has more than {MAX_ENTRIES} entries; at most {MAX_ENTRIES} are accepted"
            )));
        }
        let target = dir.path().join(&name);
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(anyhow::Error::from)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(anyhow::Error::from)?;
        }
        let mut out = std::fs::File::create(&target).map_err(anyhow::Error::from)?;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(format!("cannot unpack {name}: {e}"))),
            };
            unpacking.unpacked(n as u64)?;
            written += n as u64;
            if written > max_file {
                return Err(Error::TooLarge(
                    format!("{name} is larger than a file may be").into(),
                ));
            }
            std::io::Write::write_all(&mut out, &chunk[..n]).map_err(anyhow::Error::from)?;
        }
    }
    let root = dir.path().canonicalize().map_err(anyhow::Error::from)?;
    Ok(Files::Unpacked {
        root,
        _scratch: Arc::new(dir),
    })
}

/// A text file's characters: UTF-8 (with or without a byte-order mark), UTF-16 with a mark, or the encoding
/// the file declares (`<?xml … encoding="…"?>`, `<meta charset="…">`); a file that is not UTF-8 and does not
/// say what it is is refused, naming it, rather than imported with its accents turned into `�`.
pub fn decode(bytes: &[u8], name: &str) -> Result<String> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return Ok(encoding
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned());
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).to_ascii_lowercase();
    let label = ["encoding=", "charset="].iter().find_map(|key| {
        let at = head.find(key)? + key.len();
        let rest = head[at..].trim_start_matches(['"', '\'', ' ']);
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    });
    match label
        .as_deref()
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
    {
        Some(encoding) if encoding != encoding_rs::UTF_8 => {
            let (text, _, errors) = encoding.decode(bytes);
            if errors {
                return Err(bad(format!(
                    "{name} has bytes that are not valid {}",
                    encoding.name()
                )));
            }
            Ok(text.into_owned())
        }
        _ => Err(bad(format!(
            "{name} is not UTF-8 and does not say which encoding it uses: save it as UTF-8, or declare its \
             encoding"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::{clean, decode};

    #[test]
    fn texts_decode_as_they_say_and_undeclared_non_utf8_is_refused() {
        assert_eq!(
            decode("caf\u{e9}".as_bytes(), "a.html").unwrap(),
            "caf\u{e9}"
        );
        assert_eq!(decode(b"\xef\xbb\xbfhi", "a.html").unwrap(), "hi");
        assert_eq!(decode(b"\xff\xfeh\0i\0", "a.html").unwrap(), "hi");
        let latin = b"<html><head><meta charset=\"windows-1252\"></head><body>caf\xe9 \x93ok\x94</body></html>";
        assert!(
            decode(latin, "p.html")
                .unwrap()
                .contains("caf\u{e9} \u{201c}ok\u{201d}")
        );
        let xml = b"<?xml version='1.0' encoding='ISO-8859-1'?><t>\xe9</t>";
        assert!(decode(xml, "m.xml").unwrap().contains("<t>\u{e9}</t>"));
        let e = decode(b"<p>caf\xe9</p>", "page.html")
            .unwrap_err()
            .to_string();
        assert!(e.contains("page.html") && e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn paths_cannot_leave_the_package() {
        assert_eq!(clean("lessons/a.md").as_deref(), Some("lessons/a.md"));
        assert_eq!(clean("./lessons//a.md").as_deref(), Some("lessons/a.md"));
        assert_eq!(clean("lessons\\a.md").as_deref(), Some("lessons/a.md"));
        for bad in ["../etc/passwd", "/etc/passwd", "lessons/../../x", "", "."] {
            assert_eq!(clean(bad), None, "{bad}");
        }
    }
}
