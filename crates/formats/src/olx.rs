//! Open edX OLX course exports (`.tar.gz` from Studio's Export): `course.xml` points at the course's own file,
//! whose chapters hold sequentials, which hold verticals (units), which hold components. Each element is
//! either written inline or as a pointer (`<vertical url_name="x"/>`) to `vertical/x.xml`.
//!
//! A sequential becomes a module (named "Chapter › Sequential" when its chapter has several), a vertical a
//! lesson. HTML components (inline, or their `filename`'s `.html` file) become the lesson's text with
//! `/static/` files attached; video components contribute their transcript with timestamps (and a video file
//! in the package, if any, is attached with its subtitles); containers (split tests, conditionals) are read
//! through; a unit's problems become its lesson's quiz ([`crate::quiz::edx::problem`], one question each;
//! those it cannot grade are listed as skipped); other XBlocks are listed as skipped. `drafts/` is never read: only published
//! content is imported.
//!
//! Pointers make a graph, not a tree, and an export is not trusted to keep it a tree: the containers being
//! expanded are kept on a stack, so a vertical that names itself (or an ancestor) is refused as a loop, naming
//! it; a diamond (a vertical naming another many times, over several levels) is not a loop, but every block
//! it visits is charged to the package's budget (one XML node, and a read of its file), and a lesson's text
//! is checked against the lesson limit as each component adds to it, so breadth costs what the budget allows
//! and no more.

use std::collections::{BTreeMap, HashSet};

use roxmltree::Node;

use crate::cc::{html_block, rewrite_links};
use crate::scorm::plain_text;
use crate::subtitles;
use crate::{Error, Result};
use crate::{Package, PackageLesson, PackageModule, Source};

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("package", message.into())
}

/// Most levels of pointers followed (a pointer cycle in a damaged export ends here).
const MAX_DEPTH: usize = 12;

struct Reader<'s> {
    source: &'s Source,
    skipped: Vec<String>,
    file_names: BTreeMap<String, String>,
    /// The pointers (`vertical x`) of the containers being expanded, outermost first: one met again is a loop.
    expanding: Vec<String>,
}

/// An element with its definition loaded: its tag, attributes and the text of the document it lives in.
struct Block {
    tag: String,
    attrs: BTreeMap<String, String>,
    /// The element's XML (inline or from its file), parsed again on use.
    xml: String,
    /// Where it came from, for messages.
    origin: String,
    /// The pointer it was loaded through (`vertical x`), if it was.
    pointer: Option<String>,
}

impl Block {
    fn name(&self) -> Option<&str> {
        self.attrs
            .get("display_name")
            .map(String::as_str)
            .filter(|n| !n.trim().is_empty())
    }
}

fn attrs(n: Node<'_, '_>) -> BTreeMap<String, String> {
    n.attributes()
        .map(|a| (a.name().to_owned(), a.value().to_owned()))
        .collect()
}

/// Reads an Open edX course export.
pub fn read(source: &Source) -> Result<Package> {
    let mut reader = Reader {
        source,
        skipped: Vec::new(),
        file_names: BTreeMap::new(),
        expanding: Vec::new(),
    };
    let top = source.read_text("course.xml")?;
    let doc = source.parse_xml(&top, "course.xml")?;
    if doc.root_element().tag_name().name() != "course" {
        return Err(bad(
            "course.xml does not describe a course (its root is not <course>)",
        ));
    }
    let course = reader.load(doc.root_element(), "course.xml", 0)?;
    let course_doc = source.parse_xml(&course.xml, &course.origin)?;
    let title = course
        .name()
        .map(str::to_owned)
        .or_else(|| about(source, "title.html"))
        .unwrap_or_else(|| "Imported Open edX course".into());
    let description = about(source, "short_description.html").unwrap_or_default();
    let org = [course.attrs.get("org"), course.attrs.get("course")]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("/");
    let mut modules = Vec::new();
    for chapter_ref in element_children(course_doc.root_element()) {
        if chapter_ref.tag_name().name() != "chapter" {
            continue; // wiki, and other course-level settings
        }
        let chapter = reader.load(chapter_ref, &course.origin, 1)?;
        let chapter_doc = source.parse_xml(&chapter.xml, &chapter.origin)?;
        let chapter_name = chapter.name().unwrap_or("Section").to_owned();
        let sequentials: Vec<Node> = element_children(chapter_doc.root_element())
            .filter(|n| n.tag_name().name() == "sequential")
            .collect();
        let several = sequentials.len() > 1;
        for seq_ref in sequentials {
            let seq = reader.load(seq_ref, &chapter.origin, 2)?;
            let seq_doc = source.parse_xml(&seq.xml, &seq.origin)?;
            let seq_name = seq.name().unwrap_or("Subsection").to_owned();
            let mut lessons = Vec::new();
            for unit_ref in element_children(seq_doc.root_element()) {
                let unit = reader.load(unit_ref, &seq.origin, 3)?;
                if unit.tag != "vertical" {
                    reader.skip(&unit, &seq_name);
                    continue;
                }
                if let Some(lesson) = reader.vertical(&unit, 3)? {
                    lessons.push(source.budget().keep(lesson)?);
                }
            }
            modules.push(PackageModule {
                title: if several {
                    format!("{chapter_name} › {seq_name}")
                } else {
                    chapter_name.clone()
                },
                lessons,
            });
        }
    }
    modules.retain(|m| !m.lessons.is_empty());
    let key = (!org.is_empty()).then(|| {
        format!(
            "olx:{org}/{}",
            course.attrs.get("url_name").map_or("", String::as_str)
        )
    });
    Ok(Package {
        kept_files: None,
        key,
        format: if org.is_empty() {
            "Open edX OLX export".into()
        } else {
            format!("Open edX OLX export ({org})")
        },
        title,
        description,
        capacity: None,
        modules,
        skipped: reader.skipped,
        file_names: reader.file_names,
        skip_unsupported_files: true,
    })
}

/// Text of `about/<name>` (course title, short description), as plain text.
fn about(source: &Source, name: &str) -> Option<String> {
    let html = source.read_text(&format!("about/{name}")).ok()?;
    let text = plain_text(&html).replace('\\', "");
    (!text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn element_children<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(Node::is_element)
}

impl Reader<'_> {
    /// The element's definition: inline when it has children or no `url_name`; else `<tag>/<url_name>.xml`,
    /// whose root's attributes are merged under the pointer's.
    ///
    /// Each load is charged to the budget as one node, inline or not, so a walk of many small blocks is
    /// bounded even where no file is read.
    fn load(&mut self, n: Node<'_, '_>, within: &str, depth: usize) -> Result<Block> {
        self.source.budget().xml_nodes(1, within)?;
        let tag = n.tag_name().name().to_owned();
        let mut a = attrs(n);
        let inline = n.has_children() && element_children(n).next().is_some();
        let pointer = a.get("url_name").filter(|_| !inline).cloned();
        let Some(url_name) = pointer else {
            let xml = n.document().input_text()[n.range()].to_owned();
            return Ok(Block {
                tag,
                attrs: a,
                xml,
                origin: within.to_owned(),
                pointer: None,
            });
        };
        let path = format!("{tag}/{}.xml", url_name.replace(':', "/"));
        let pointer = Some(format!("{tag} {url_name}"));
        let text = match self.source.budget().soft(self.source.read(&path))? {
            Ok(bytes) => crate::source::decode(&bytes, &path)?,
            // A pointer to nothing: an empty element (an html with no file, say) is still a block.
            Err(_) if depth > MAX_DEPTH => {
                return Err(bad(format!("{path}: pointers nest too deep")));
            }
            Err(_) => {
                return Ok(Block {
                    tag,
                    attrs: a,
                    xml: String::new(),
                    origin: path,
                    pointer,
                });
            }
        };
        let doc = self.source.parse_xml(&text, &path)?;
        for (k, v) in attrs(doc.root_element()) {
            a.entry(k).or_insert(v);
        }
        Ok(Block {
            tag,
            attrs: a,
            xml: text,
            origin: path,
            pointer,
        })
    }

    fn skip(&mut self, block: &Block, unit: &str) {
        let what = match block.tag.as_str() {
            "discussion" => "discussions are not imported",
            "lti" | "lti_consumer" => "LTI tools need the internet",
            "library_content" | "library_sourced" => {
                "content from libraries is not part of the export"
            }
            _ => "this Open edX component type is not imported",
        };
        let tag = &block.tag;
        self.skipped.push(match block.name() {
            Some(name) => format!("“{name}” ({tag}, in “{unit}”): {what}"),
            None => format!("a component of type {tag} in “{unit}”: {what}"),
        });
    }

    /// A vertical as one lesson (none if nothing in it is importable). A loop or the package's budget refuses
    /// the package.
    fn vertical(&mut self, unit: &Block, depth: usize) -> Result<Option<PackageLesson>> {
        let Ok(doc) = self
            .source
            .budget()
            .soft(self.source.parse_xml(&unit.xml, &unit.origin))?
        else {
            self.skipped
                .push(format!("{} is not valid XML", unit.origin));
            return Ok(None);
        };
        let mut parts = Vec::new();
        let mut attachments = Vec::new();
        let mut seen = HashSet::new();
        let mut questions = Vec::new();
        let name = unit.name().unwrap_or("Unit").to_owned();
        let mut at = Place {
            unit: &name,
            parts: &mut parts,
            bytes: 0,
            max_bytes: self.source.budget().max_lesson_bytes(),
            attachments: &mut attachments,
            seen: &mut seen,
            questions: &mut questions,
        };
        self.expanding.extend(unit.pointer.clone());
        let mut walked = Ok(());
        for component in element_children(doc.root_element()) {
            walked = self.component(component, &unit.origin, depth + 1, &mut at);
            if walked.is_err() {
                break;
            }
        }
        if unit.pointer.is_some() {
            self.expanding.pop();
        }
        walked?;
        if parts.is_empty() && questions.is_empty() {
            return Ok(None);
        }
        // A unit's problems are its quiz, after its text: Open edX grades each problem where it stands, and
        // SmartCourse asks them together at the end of the lesson.
        let quiz = (!questions.is_empty()).then(|| crate::quiz::Quiz::new(name.clone(), questions));
        Ok(Some(PackageLesson {
            launch: None,
            quiz,
            refs: Vec::new(),
            title: name,
            body: parts.join("\n"),
            attachments,
        }))
    }

    /// Adds a component to the lesson `at`. Errors are a loop, the lesson growing past its limit, or the
    /// package's budget: each refuses the package. A component that cannot be read is listed as skipped.
    fn component(
        &mut self,
        n: Node<'_, '_>,
        within: &str,
        depth: usize,
        at: &mut Place<'_>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            self.skipped
                .push(format!("{within}: components nest too deep"));
            return Ok(());
        }
        let block = match self.source.budget().soft(self.load(n, within, depth))? {
            Ok(b) => b,
            Err(e) => {
                self.skipped.push(e.to_string());
                return Ok(());
            }
        };
        match block.tag.as_str() {
            "html" => {
                if let Some(html) = self.html_of(&block)? {
                    let (body, files) = self.statics(&html);
                    if !plain_text(&body).trim().is_empty() || !files.is_empty() {
                        at.add(body, files)?;
                    }
                }
            }
            "video" => {
                if let Some((text, files)) = self.video(&block, at.unit)? {
                    at.add(text, files)?;
                }
            }
            "problem" => self.problem(&block, at)?,
            // Containers: what each group or condition would see, in order.
            "split_test" | "conditional" | "vertical" => {
                if let Some(pointer) = &block.pointer {
                    if self.expanding.contains(pointer) {
                        return Err(bad(format!(
                            "this package refers to its own parts in a loop ({pointer}): {within} names it inside itself"
                        )));
                    }
                    self.expanding.push(pointer.clone());
                }
                let walked = self.container(&block, depth, at);
                if block.pointer.is_some() {
                    self.expanding.pop();
                }
                walked?;
            }
            _ => self.skip(&block, at.unit),
        }
        Ok(())
    }

    /// A problem as a question of the unit's quiz ([`crate::quiz::edx::problem`]); one SmartCourse cannot grade
    /// is listed as skipped with the reason.
    fn problem(&mut self, block: &Block, at: &mut Place<'_>) -> Result<()> {
        let Ok(doc) = self
            .source
            .budget()
            .soft(self.source.parse_xml(&block.xml, &block.origin))?
        else {
            self.skipped
                .push(format!("{} is not valid XML", block.origin));
            return Ok(());
        };
        let id = block
            .attrs
            .get("url_name")
            .cloned()
            .unwrap_or_else(|| format!("problem-{}", at.questions.len() + 1));
        match crate::quiz::edx::problem(doc.root_element(), &id) {
            Ok(q) => at.questions.push(q),
            Err(why) => self.skipped.push(format!(
                "“{}” (problem, in “{}”): {why}; not imported",
                block.name().unwrap_or(&id),
                at.unit
            )),
        }
        Ok(())
    }

    /// A container's components, in order, into `at`.
    fn container(&mut self, block: &Block, depth: usize, at: &mut Place<'_>) -> Result<()> {
        let Ok(doc) = self
            .source
            .budget()
            .soft(self.source.parse_xml(&block.xml, &block.origin))?
        else {
            return Ok(());
        };
        for c in element_children(doc.root_element()) {
            self.component(c, &block.origin, depth + 1, at)?;
        }
        Ok(())
    }

    /// An html component's HTML: from `html/<filename>.html` when it names one, else its inline content.
    fn html_of(&mut self, block: &Block) -> Result<Option<String>> {
        if let Some(file) = block.attrs.get("filename") {
            let path = format!("html/{}.html", file.trim_end_matches(".html"));
            return Ok(match self.source.budget().soft(self.source.read(&path))? {
                Ok(bytes) => match crate::source::decode(&bytes, &path) {
                    Ok(text) => Some(text),
                    Err(e) => {
                        self.skipped.push(e.to_string());
                        None
                    }
                },
                Err(_) => {
                    self.skipped
                        .push(format!("{path} is missing from the export"));
                    None
                }
            });
        }
        let Ok(doc) = self
            .source
            .budget()
            .soft(self.source.parse_xml(&block.xml, &block.origin))?
        else {
            return Ok(None);
        };
        let root = doc.root_element();
        let inner = root
            .first_child()
            .zip(root.last_child())
            .map(|(a, b)| &block.xml[a.range().start..b.range().end])
            .unwrap_or_default();
        Ok(Some(inner.to_owned()))
    }

    /// Links to `/static/x` (and `/c4x/…/asset/x`) point at the attached file.
    fn statics(&mut self, html: &str) -> (String, Vec<String>) {
        let mut skipped = std::mem::take(&mut self.skipped);
        let source = self.source;
        let resolve = |decoded: &str| {
            let path = format!("static/{decoded}");
            if source.contains(&path) {
                Ok(path)
            } else {
                Err(format!(
                    "{path} (linked from a page) is missing from the export"
                ))
            }
        };
        // Only links (in quotes), not a "/static/" inside some other site's address.
        let marked = html
            .replace("\"/static/", "\"@@STATIC@@")
            .replace("'/static/", "'@@STATIC@@");
        let (out, files) = rewrite_links(&marked, "@@STATIC@@", &mut skipped, resolve);
        self.skipped = skipped;
        (html_block(&out), files)
    }

    /// A video component: its name, and its transcript with times when the export has one. A video file in
    /// `static/` is attached with the transcript, so the lesson plays it with subtitles. An online video
    /// without a transcript gives nothing to read offline: skipped.
    fn video(&mut self, block: &Block, unit: &str) -> Result<Option<(String, Vec<String>)>> {
        let name = block.name().unwrap_or("Video").to_owned();
        let mut files = Vec::new();
        let mut text = format!("**Video: {}**\n\n", name.replace('*', ""));
        let local = block
            .attrs
            .get("html5_sources")
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|u| u.strip_prefix("/static/").map(|p| format!("static/{p}")))
            .find(|p| self.source.contains(p));
        let online = block
            .attrs
            .get("youtube_id_1_0")
            .is_some_and(|y| !y.is_empty())
            || block.attrs.contains_key("youtube");
        if let Some(video) = &local {
            files.push(video.clone());
        }
        let transcript = self.transcript(block)?.filter(|(_, cues)| !cues.is_empty());
        let where_ = if online {
            "online (YouTube)"
        } else {
            "not in the export"
        };
        match transcript {
            Some((path, cues)) => {
                if local.is_none() {
                    self.skipped.push(format!(
                        "“{name}” (video, in “{unit}”): the video is {where_}; its transcript is imported"
                    ));
                }
                text.push_str(&subtitles::to_transcript(&cues));
                if local.is_some() && (path.ends_with(".srt") || path.ends_with(".vtt")) {
                    files.push(path);
                }
            }
            None if local.is_some() => {}
            None => {
                self.skipped.push(format!(
                    "“{name}” (video, in “{unit}”): the video is {where_} and has no transcript"
                ));
                return Ok(None);
            }
        }
        Ok(Some((text, files)))
    }

    /// The transcript: `<transcript language src>` children, the `transcripts` JSON attribute (both naming
    /// files in `static/`), or the old `sub` attribute (`static/subs_<id>.srt.sjson`). English first.
    fn transcript(&mut self, block: &Block) -> Result<Option<(String, Vec<subtitles::Cue>)>> {
        let mut candidates: Vec<(String, String)> = Vec::new();
        let parsed = self.source.parse_xml(&block.xml, &block.origin);
        if let Ok(doc) = self.source.budget().soft(parsed)? {
            for t in
                element_children(doc.root_element()).filter(|t| t.tag_name().name() == "transcript")
            {
                if let (Some(lang), Some(src)) = (t.attribute("language"), t.attribute("src")) {
                    candidates.push((lang.to_owned(), src.to_owned()));
                }
            }
        }
        if let Some(map) = block
            .attrs
            .get("transcripts")
            .and_then(|t| serde_json::from_str::<BTreeMap<String, String>>(t).ok())
        {
            candidates.extend(map);
        }
        candidates.sort_by_key(|(lang, _)| lang != "en");
        for (_, src) in candidates {
            let path = format!("static/{src}");
            if let Ok(bytes) = self.source.budget().soft(self.source.read(&path))? {
                let cues = subtitles::parse(&String::from_utf8_lossy(&bytes));
                return Ok(Some((path, cues)));
            }
            self.skipped
                .push(format!("{path} (a transcript) is missing from the export"));
        }
        let Some(sub) = block.attrs.get("sub").filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let path = format!("static/subs_{sub}.srt.sjson");
        let Ok(bytes) = self.source.budget().soft(self.source.read(&path))? else {
            return Ok(None);
        };
        Ok(Some((path, sjson(&bytes))))
    }
}

/// Where a vertical's components go.
struct Place<'a> {
    unit: &'a str,
    parts: &'a mut Vec<String>,
    /// The lesson's text so far (parts and the line breaks joining them), against `max_bytes`.
    bytes: u64,
    max_bytes: u64,
    attachments: &'a mut Vec<String>,
    seen: &'a mut HashSet<String>,
    /// The unit's problems, as the questions of its quiz.
    questions: &'a mut Vec<crate::quiz::Question>,
}

impl Place<'_> {
    /// Adds a component's text and files; a lesson growing past the lesson limit is refused as it grows.
    fn add(&mut self, text: String, files: Vec<String>) -> Result<()> {
        self.bytes += text.len() as u64 + 1;
        if self.bytes > self.max_bytes + 1 {
            return Err(Error::TooLarge(
                format!(
                    "the lesson “{}” has more than {} of text; split it into several lessons",
                    self.unit,
                    crate::budget::size(self.max_bytes)
                )
                .into(),
            ));
        }
        self.parts.push(text);
        for f in files {
            if self.seen.insert(f.clone()) {
                self.attachments.push(f);
            }
        }
        Ok(())
    }
}

/// Open edX's own transcript format: `{"start": [ms…], "end": [ms…], "text": [line…]}`.
fn sjson(bytes: &[u8]) -> Vec<subtitles::Cue> {
    #[derive(serde::Deserialize)]
    struct Sjson {
        start: Vec<u64>,
        end: Vec<u64>,
        text: Vec<String>,
    }
    let Ok(s) = serde_json::from_slice::<Sjson>(bytes) else {
        return Vec::new();
    };
    s.start
        .iter()
        .zip(&s.end)
        .zip(&s.text)
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|((a, b), t)| subtitles::Cue {
            start_ms: *a,
            end_ms: *b,
            text: subtitles::decode_entities(t.trim()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sjson_transcripts_read_as_cues() {
        let cues = super::sjson(br#"{"start":[0,1500],"end":[1500,3000],"text":["Hello &amp; welcome","to the course"]}"#);
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].text, "Hello & welcome");
        assert_eq!(cues[1].start_ms, 1500);
    }
}
