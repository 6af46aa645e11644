//! One package's budget: what reading it may cost, counted as the work is done.
//!
//! A package is a few bytes of manifest that tell a reader what to do: unpack this, read that file, follow this
//! pointer, make this lesson. A crafted one can ask for far more than it holds: an entry that inflates to
//! gigabytes whatever its header says, a 40 MB page named by every lesson, a vertical whose children are
//! itself. So nothing a package *claims* is trusted; instead every [`Source`](crate::Source) carries a
//! `Budget`, made from [`Limits`] when the package is opened, and the work itself is charged to it:
//!
//! - bytes as they come out of an archive entry or a file ([`Budget::unpacked`]), a file read twice counting
//!   twice, so repetition costs what it costs;
//! - each file read ([`Budget::read_file`]);
//! - XML nodes as they are parsed: [`Budget::parse_xml`] hands the parser the nodes left, so a breadth bomb
//!   stops inside the parser, before its nodes are in memory;
//! - lessons, their text and their attachments as a reader makes them ([`Budget::lesson`]).
//!
//! The counters only grow, and they are shared by everything that reads the package (the reader, then the
//! import storing its files), so a package cannot reset its budget by being read in parts. Going over is an
//! [`Error::TooLarge`] whose message names the limit as a teacher would understand it. Counters are atomic
//! because the application reads one package's files from worker threads (`Arc<Source>`).

use std::sync::atomic::{AtomicU64, Ordering};

use roxmltree::{Document, ParsingOptions};

use crate::{Error, Limits, PackageLesson, Result};

/// What one package has used of its [`Limits`].
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    unpacked: AtomicU64,
    reads: AtomicU64,
    xml_nodes: AtomicU64,
    lessons: AtomicU64,
    attachments: AtomicU64,
    text: AtomicU64,
}

/// A size for a person: `2 GiB`, `64 MiB`, `1 MiB`, `512 KiB`, else bytes.
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    for (unit, name) in [(KIB * KIB * KIB, "GiB"), (KIB * KIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    if bytes >= KIB * KIB {
        return format!("{:.1} MiB", bytes as f64 / (KIB * KIB) as f64);
    }
    format!("{bytes} bytes")
}

fn too_large(message: String) -> Error {
    Error::TooLarge(message.into())
}

/// Adds `n` to `counter` and says whether the total is still within `max`. The counter keeps growing past
/// the limit, so every later charge fails too.
fn charge(counter: &AtomicU64, n: u64, max: u64) -> bool {
    counter.fetch_add(n, Ordering::Relaxed).saturating_add(n) <= max
}

impl Budget {
    /// A fresh budget: nothing used yet.
    pub fn new(limits: &Limits) -> Budget {
        Budget {
            limits: limits.clone(),
            unpacked: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            xml_nodes: AtomicU64::new(0),
            lessons: AtomicU64::new(0),
            attachments: AtomicU64::new(0),
            text: AtomicU64::new(0),
        }
    }

    /// The limits this budget counts against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Charges `n` bytes that have just come out of the package (inflated from an entry, or read from a
    /// file). Called per chunk while reading, so the read stops at the limit rather than after it.
    pub fn unpacked(&self, n: u64) -> Result<()> {
        if charge(&self.unpacked, n, self.limits.max_package_bytes) {
            return Ok(());
        }
        Err(too_large(format!(
            "this package unpacks to more than {} (a file read again counts again)",
            size(self.limits.max_package_bytes)
        )))
    }

    /// Charges one read of the file `name`.
    pub fn read_file(&self, name: &str) -> Result<()> {
        let max = self.limits.max_package_reads;
        if charge(&self.reads, 1, max) {
            return Ok(());
        }
        Err(too_large(format!(
            "this package asks for its files more than {max} times (a file named again and again counts each \
             time; the last was {name})"
        )))
    }

    /// Charges `n` XML nodes or pointer-following steps, found in `name`.
    pub fn xml_nodes(&self, n: u64, name: &str) -> Result<()> {
        if charge(&self.xml_nodes, n, self.limits.max_package_xml_nodes) {
            return Ok(());
        }
        Err(self.too_many_nodes(name))
    }

    /// Charges `n` database rows read from `name` (a Kolibri channel), against the same count as XML nodes.
    pub fn rows(&self, n: u64, name: &str) -> Result<()> {
        if charge(&self.xml_nodes, n, self.limits.max_package_xml_nodes) {
            return Ok(());
        }
        Err(too_large(format!(
            "this package has more than {} rows and XML elements to read (the last in {name})",
            self.limits.max_package_xml_nodes
        )))
    }

    fn too_many_nodes(&self, name: &str) -> Error {
        too_large(format!(
            "this package has more than {} XML elements to read (the last in {name})",
            self.limits.max_package_xml_nodes
        ))
    }

    /// Parses `text` (the file `name`) with the nodes this package has left as the parser's own limit, so a
    /// document of millions of elements is refused while it is parsed, not once it is in memory; its nodes are
    /// then charged. DTDs stay refused (roxmltree's default), so no entity can expand.
    pub fn parse_xml<'t>(&self, text: &'t str, name: &str) -> Result<Document<'t>> {
        let used = self.xml_nodes.load(Ordering::Relaxed);
        let left = self.limits.max_package_xml_nodes.saturating_sub(used);
        let options = ParsingOptions {
            // One more than is left, so a document of exactly the rest still parses.
            nodes_limit: u32::try_from(left.saturating_add(1)).unwrap_or(u32::MAX),
            ..ParsingOptions::default()
        };
        let doc = match Document::parse_with_options(text, options) {
            Ok(doc) => doc,
            Err(roxmltree::Error::NodesLimitReached) => {
                // Spent: later charges fail too, and `spent` says so.
                self.xml_nodes
                    .fetch_add(left.saturating_add(1), Ordering::Relaxed);
                return Err(self.too_many_nodes(name));
            }
            Err(e) => {
                return Err(Error::invalid(
                    "package",
                    format!("{name} is not valid XML: {e}"),
                ));
            }
        };
        // The document's root is not an element of it: the parser's limit counts it, the budget does not.
        self.xml_nodes(doc.descendants().count().saturating_sub(1) as u64, name)?;
        Ok(doc)
    }

    /// Whether some limit has been gone over: every later charge will fail.
    pub fn spent(&self) -> bool {
        let l = &self.limits;
        [
            (&self.unpacked, l.max_package_bytes),
            (&self.reads, l.max_package_reads),
            (&self.xml_nodes, l.max_package_xml_nodes),
            (&self.lessons, l.max_package_lessons),
            (&self.attachments, l.max_package_attachments),
            (&self.text, l.max_package_text_bytes),
        ]
        .iter()
        .any(|(used, max)| used.load(Ordering::Relaxed) > *max)
    }

    /// Sorts an outcome for a reader that lists a damaged or missing file as skipped and reads on: the outer
    /// error is the budget's refusal, which must end the reading; the inner result is the file's own.
    pub fn soft<T>(&self, outcome: Result<T>) -> Result<Result<T>> {
        match outcome {
            Err(e) if self.spent() => Err(e),
            other => Ok(other),
        }
    }

    /// The most a lesson's body may hold, in bytes.
    pub fn max_lesson_bytes(&self) -> u64 {
        self.limits.max_lesson_bytes
    }

    /// The refusal of a lesson body over [`Limits::max_lesson_bytes`]; `what` names the lesson or its file.
    pub fn lesson_too_large(&self, what: &str) -> Error {
        too_large(format!(
            "{what} has more than {} of text; split it into several lessons",
            size(self.limits.max_lesson_bytes)
        ))
    }

    /// Charges a lesson a reader has made: one lesson, its text and its attachments; a body over the lesson
    /// limit is refused.
    pub fn lesson(&self, lesson: &PackageLesson) -> Result<()> {
        let l = &self.limits;
        if lesson.body.len() as u64 > l.max_lesson_bytes {
            return Err(self.lesson_too_large(&format!("the lesson “{}”", lesson.title)));
        }
        if !charge(&self.lessons, 1, l.max_package_lessons) {
            return Err(too_large(format!(
                "this package makes more than {} lessons",
                l.max_package_lessons
            )));
        }
        if !charge(
            &self.text,
            lesson.body.len() as u64,
            l.max_package_text_bytes,
        ) {
            return Err(too_large(format!(
                "this package's lessons hold more than {} of text",
                size(l.max_package_text_bytes)
            )));
        }
        if !charge(
            &self.attachments,
            lesson.attachments.len() as u64,
            l.max_package_attachments,
        ) {
            return Err(too_large(format!(
                "this package attaches more than {} files to its lessons",
                l.max_package_attachments
            )));
        }
        Ok(())
    }

    /// [`Budget::lesson`] for a lesson about to be kept: the lesson back when it is within the budget.
    pub fn keep(&self, lesson: PackageLesson) -> Result<PackageLesson> {
        self.lesson(&lesson)?;
        Ok(lesson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_person_would_write_them() {
        assert_eq!(size(2 * 1024 * 1024 * 1024), "2 GiB");
        assert_eq!(size(64 * 1024 * 1024), "64 MiB");
        assert_eq!(size(512 * 1024), "512 KiB");
        assert_eq!(size(1_500_000), "1.4 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }

    #[test]
    fn a_counter_over_its_limit_stays_over() {
        let budget = Budget::new(&Limits {
            max_package_reads: 2,
            ..Limits::default()
        });
        assert!(budget.read_file("a").is_ok() && budget.read_file("a").is_ok());
        let e = budget.read_file("a").unwrap_err();
        assert_eq!(e.code(), "too_large");
        assert!(e.to_string().contains("more than 2 times"), "{e}");
        assert!(budget.read_file("b").is_err());
    }

    #[test]
    fn a_document_over_the_nodes_left_is_refused_by_the_parser() {
        let budget = Budget::new(&Limits {
            max_package_xml_nodes: 10,
            ..Limits::default()
        });
        // 5 elements.
        let small = "<a><b/><b/><b/><b/></a>";
        assert!(budget.parse_xml(small, "one.xml").is_ok());
        assert!(budget.parse_xml(small, "two.xml").is_ok());
        let e = budget.parse_xml(small, "three.xml").unwrap_err();
        assert!(
            e.to_string().contains("more than 10 XML elements")
                && e.to_string().contains("three.xml"),
            "{e}"
        );
    }
}
