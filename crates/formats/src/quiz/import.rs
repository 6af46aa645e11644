//! Reading a package's quizzes: [`import`] finds what kind of package it is and calls the reader for it;
//! the helpers here are the readers' shared XML and text handling.
//!
//! Everything goes through the package's [`Source`], so reading quizzes is charged to the same budget as the
//! rest of the package (bytes, file reads, XML nodes). What cannot be imported is listed in
//! [`Imported::unsupported`], in words, with the quiz and question it belongs to.

use roxmltree::Node;

use super::Quiz;
use crate::{Error, Result, Source};

/// What a package's quizzes import as.
#[derive(Debug, Default)]
pub struct Imported {
    /// Quizzes, in the package's order.
    pub quizzes: Vec<Quiz>,
    /// Question banks (Moodle categories, Canvas banks, an Open edX library): questions not in a quiz, each bank
    /// as a quiz of its questions for the teacher to draw from.
    pub banks: Vec<Quiz>,
    /// What was left out and why, one sentence each.
    pub unsupported: Vec<String>,
}

/// Unsupported items, as they are found.
pub type Listed = Vec<String>;

/// The quizzes and question banks of a package: a Common Cartridge (QTI 1.2, with Canvas's extensions), an IMS
/// QTI 2.x content package, a Moodle backup (`questions.xml` and its quizzes), or an Open edX export or library.
pub fn import(source: &Source) -> Result<Imported> {
    let mut out = Imported::default();
    if source.contains("moodle_backup.xml") {
        super::moodle::read(source, &mut out)?;
    } else if source.contains("imsmanifest.xml") {
        let manifest = source.read_text("imsmanifest.xml")?;
        if crate::cc::is_cartridge(&manifest) {
            cartridge(source, &manifest, &mut out)?;
        } else {
            super::qti2::read_package(source, &mut out)?;
        }
    } else if source.contains("library.xml") || source.contains("course.xml") {
        super::edx::read(source, &mut out)?;
    } else {
        return Err(Error::invalid(
            "package",
            "this package has no quizzes SmartCourse can read (no imsmanifest.xml, moodle_backup.xml, course.xml \
             or library.xml)",
        ));
    }
    Ok(out)
}

/// A cartridge's assessments and question banks, in manifest order.
fn cartridge(source: &Source, manifest: &str, out: &mut Imported) -> Result<()> {
    let doc = source.parse_xml(manifest, "imsmanifest.xml")?;
    let resources: Vec<Node> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "resource")
        .collect();
    let mut done = std::collections::HashSet::new();
    for r in &resources {
        let kind = attr(*r, "type").unwrap_or_default();
        if !kind.contains("imsqti") {
            continue;
        }
        let id = attr(*r, "identifier").unwrap_or_default();
        match qti_file(source, &resources, *r) {
            Some(path) => {
                done.insert(path.clone());
                read_qti1(source, &path, out)?;
            }
            None => out.unsupported.push(format!(
                "the assessment {id} has no QTI file in the package"
            )),
        }
    }
    // Canvas's question banks: QTI files of their own, not the full form of an assessment read above.
    for path in source.files() {
        if path.starts_with("non_cc_assessments/")
            && path.ends_with(".qti")
            && !done.contains(&path)
        {
            let stem = path
                .trim_start_matches("non_cc_assessments/")
                .trim_end_matches(".xml.qti");
            if !done.iter().any(|d| d.contains(stem)) {
                read_qti1(source, &path, out)?;
            }
        }
    }
    Ok(())
}

/// The QTI file to read for an assessment resource: Canvas's full form (`non_cc_assessments/<id>.xml.qti`,
/// listed by a dependency) when the package has it, as the cartridge form leaves out Canvas-only questions.
fn qti_file(source: &Source, resources: &[Node<'_, '_>], r: Node<'_, '_>) -> Option<String> {
    let files = |n: Node<'_, '_>| -> Vec<String> {
        n.children()
            .filter(|c| c.tag_name().name() == "file")
            .filter_map(|f| attr(f, "href"))
            .collect()
    };
    let deps: Vec<String> = r
        .children()
        .filter(|c| c.tag_name().name() == "dependency")
        .filter_map(|d| attr(d, "identifierref"))
        .collect();
    let canvas = resources
        .iter()
        .filter(|o| attr(**o, "identifier").is_some_and(|i| deps.contains(&i)))
        .flat_map(|o| files(*o))
        .find(|f| f.starts_with("non_cc_assessments/") && source.contains(f));
    canvas.or_else(|| {
        attr(r, "href")
            .into_iter()
            .chain(files(r))
            .find(|f| f.ends_with(".xml") && source.contains(f))
    })
}

fn read_qti1(source: &Source, path: &str, out: &mut Imported) -> Result<()> {
    match source
        .budget()
        .soft(super::qti1::read(source, path, &mut out.unsupported))?
    {
        Ok(Some((quiz, true))) => out.banks.push(quiz),
        Ok(Some((quiz, false))) => out.quizzes.push(quiz),
        Ok(None) => {}
        Err(e) => out.unsupported.push(e.to_string()),
    }
    Ok(())
}

/// An attribute's value, owned.
pub(crate) fn attr(n: Node<'_, '_>, name: &str) -> Option<String> {
    n.attribute(name).map(str::to_owned)
}

/// Element children named `name` (any namespace).
pub(crate) fn children<'a, 'i: 'a>(
    n: Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The first element child named `name`.
pub(crate) fn elem<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The trimmed text of the child `name`, if it has any.
pub(crate) fn named(n: Node<'_, '_>, name: &str) -> Option<String> {
    let t: String = elem(n, name)?
        .descendants()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Plain text as HTML: `<`, `>` and `&` escaped.
pub(crate) fn html_of_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The text of an HTML fragment (tags dropped, the common entities decoded), trimmed: for answers compared
/// with what a student types.
pub(crate) fn text_of_html(html: &str) -> String {
    crate::scorm::plain_text(html)
        .replace('\\', "")
        .trim()
        .to_owned()
}

/// A pattern that matches `text` literally: its stars escaped (see [`super::grade::wildcard_match`]).
pub(crate) fn literal_pattern(text: &str) -> String {
    text.trim().replace('*', "\\*")
}

/// An element's content as HTML: elements written back without namespaces, text escaped; `keep` decides, for
/// each element, whether it is written (true), or replaced by what it returns.
pub(crate) fn inner_html(
    n: Node<'_, '_>,
    depth: usize,
    replace: &mut dyn FnMut(Node<'_, '_>) -> Option<String>,
) -> String {
    let mut out = String::new();
    if depth > 64 {
        return out;
    }
    for c in n.children() {
        if c.is_text() {
            out.push_str(&html_of_text(c.text().unwrap_or("")));
            continue;
        }
        if !c.is_element() {
            continue;
        }
        if let Some(r) = replace(c) {
            out.push_str(&r);
            continue;
        }
        let tag = c.tag_name().name();
        out.push('<');
        out.push_str(tag);
        for a in c.attributes() {
            out.push_str(&format!(
                " {}=\"{}\"",
                a.name(),
                html_of_text(a.value()).replace('"', "&quot;")
            ));
        }
        out.push('>');
        out.push_str(&inner_html(c, depth + 1, replace));
        if !matches!(tag, "br" | "img" | "hr") {
            out.push_str(&format!("</{tag}>"));
        }
    }
    out
}
