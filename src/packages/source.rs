//! Reading files from a package: a folder or a zip archive, with the safety checks both need.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::config::UploadConfig;
use crate::error::{Error, Result};

/// Most entries a package may have.
const MAX_ENTRIES: usize = 20_000;

/// Where a package's files come from.
pub enum Source {
    /// An unpacked folder.
    Dir(PathBuf),
    /// A zip archive.
    Zip {
        /// The archive.
        path: PathBuf,
        /// Sizes its directory declares (never trusted alone: reading stops at the limit).
        sizes: BTreeMap<String, u64>,
        /// The per-file limit.
        max_file: u64,
    },
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
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

impl Source {
    /// Opens a folder or a `.zip`. A zip is checked up front: entry count, names that escape, declared sizes
    /// against the per-file and per-course limits.
    pub fn open(path: &Path, limits: &UploadConfig) -> Result<Source> {
        let meta = std::fs::metadata(path)
            .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
        if meta.is_dir() {
            return Ok(Source::Dir(
                path.canonicalize()
                    .map_err(|e| bad(format!("{}: {e}", path.display())))?,
            ));
        }
        let file = std::fs::File::open(path)
            .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| {
            bad(format!(
                "{} is not a folder or a zip archive: {e}",
                path.display()
            ))
        })?;
        if archive.len() > MAX_ENTRIES {
            return Err(bad(format!(
                "the archive has {} entries; at most {MAX_ENTRIES} are accepted",
                archive.len()
            )));
        }
        let mut sizes = BTreeMap::new();
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
            total = total.saturating_add(entry.size());
            sizes.insert(name, entry.size());
        }
        if total > limits.max_course_bytes.saturating_mul(2) {
            return Err(Error::TooLarge(
                format!(
                    "the package unpacks to {} MiB, more than a course may hold",
                    total / (1024 * 1024)
                )
                .into(),
            ));
        }
        Ok(Source::Zip {
            path: path.to_path_buf(),
            sizes,
            max_file: limits.max_file_bytes,
        })
    }

    /// Whether the package has this file.
    pub fn contains(&self, name: &str) -> bool {
        match (self, clean(name)) {
            (_, None) => false,
            (Source::Dir(root), Some(n)) => root.join(&n).is_file(),
            (Source::Zip { sizes, .. }, Some(n)) => sizes.contains_key(&n),
        }
    }

    /// Every file's path, sorted.
    pub fn files(&self) -> Vec<String> {
        match self {
            Source::Zip { sizes, .. } => sizes.keys().cloned().collect(),
            Source::Dir(root) => {
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

    /// Reads one file, refusing paths that leave the package and files over the per-file limit.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let clean_name =
            clean(name).ok_or_else(|| bad(format!("{name:?} points outside the package")))?;
        match self {
            Source::Dir(root) => {
                let full = root.join(&clean_name);
                let real = full
                    .canonicalize()
                    .map_err(|_| bad(format!("{name} is missing from the package")))?;
                if !real.starts_with(root) {
                    return Err(bad(format!("{name} links outside the package")));
                }
                std::fs::read(&real).map_err(|e| bad(format!("cannot read {name}: {e}")))
            }
            Source::Zip {
                path,
                sizes,
                max_file,
            } => {
                if !sizes.contains_key(&clean_name) {
                    return Err(bad(format!("{name} is missing from the package")));
                }
                let file = std::fs::File::open(path).map_err(anyhow::Error::from)?;
                let mut archive =
                    zip::ZipArchive::new(file).map_err(|e| bad(format!("damaged archive: {e}")))?;
                let index = (0..archive.len())
                    .find(|i| {
                        archive.name_for_index(*i).and_then(clean).as_deref()
                            == Some(clean_name.as_str())
                    })
                    .ok_or_else(|| bad(format!("{name} is missing from the package")))?;
                let entry = archive
                    .by_index(index)
                    .map_err(|e| bad(format!("damaged archive: {e}")))?;
                // Read at most one byte more than allowed, whatever the directory claims (zip bombs lie).
                let mut bytes = Vec::new();
                entry
                    .take(max_file + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| bad(format!("cannot unpack {name}: {e}")))?;
                if bytes.len() as u64 > *max_file {
                    return Err(Error::TooLarge(
                        format!("{name} is larger than a file may be").into(),
                    ));
                }
                Ok(bytes)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

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
