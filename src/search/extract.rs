//! Text from a lesson's files, for search and the tutor: each PDF page, each ~30 seconds of a subtitle file,
//! a plain text file; every piece labelled with where it is ("worksheet.pdf, page 2", "talk-en.srt at 1:02"),
//! so a result or a citation can say where the words are.

use crate::courses::subtitles;

/// Largest file whose text is extracted (bigger ones are still stored and downloadable).
pub const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// What reading one PDF may cost. A PDF is a few megabytes of compressed streams that can inflate to gigabytes
/// (a 3 MB file with one content stream of zeros took a server to 12.6 GB); each page's content streams are
/// inflated under these limits before the text extractor sees them, and a page over them ends the reading:
/// the pages before it are indexed, the file stays attached and downloadable.
#[derive(Debug, Clone, Copy)]
pub struct PdfBudget {
    pub pages: usize,
    /// Bytes one content stream may inflate to (a page of text is a few kilobytes; a dense page of a
    /// scanned book's text layer, a few hundred).
    pub stream_bytes: u64,
    /// Bytes all the content streams of the file may inflate to together.
    pub file_bytes: u64,
    pub time: std::time::Duration,
}

impl Default for PdfBudget {
    fn default() -> Self {
        PdfBudget {
            pages: 2_000,
            stream_bytes: 16 << 20,
            file_bytes: 256 << 20,
            time: std::time::Duration::from_secs(30),
        }
    }
}

/// A labelled piece of a file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Where it is: the file, and the page or time.
    pub label: String,
    /// Its text, whitespace normalised.
    pub text: String,
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The labelled text of a file; empty when it has none (a scanned PDF, say) or cannot be read.
pub fn sections(filename: &str, content_type: &str, bytes: &[u8]) -> Vec<Section> {
    if content_type.starts_with("application/pdf") {
        return pdf(filename, bytes, PdfBudget::default());
    }
    if content_type.starts_with("text/vtt") || content_type.starts_with("application/x-subrip") {
        let cues = subtitles::parse(&String::from_utf8_lossy(bytes));
        return subtitles::paragraphs(&cues)
            .into_iter()
            .map(|(ms, text)| Section {
                label: format!("{filename} at {}", subtitles::clock(ms)),
                text,
            })
            .collect();
    }
    if content_type.starts_with("text/plain") {
        let text = normalise(&String::from_utf8_lossy(bytes));
        if !text.is_empty() {
            return vec![Section {
                label: filename.to_owned(),
                text,
            }];
        }
    }
    Vec::new()
}

/// Each page's text, within `budget`. A PDF the parser cannot read (or that makes it panic) gives no text, not
/// an error: the file stays attached and downloadable.
fn pdf(filename: &str, bytes: &[u8], budget: PdfBudget) -> Vec<Section> {
    let read = std::panic::catch_unwind(|| {
        let doc = lopdf::Document::load_mem(bytes).ok()?;
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        let mut left = budget.file_bytes;
        for (number, page) in doc.get_pages().into_iter().take(budget.pages) {
            let over = if started.elapsed() > budget.time {
                Some(format!("took more than {} s", budget.time.as_secs()))
            } else {
                page_cost(&doc, page, budget.stream_bytes, &mut left).err()
            };
            if let Some(why) = over {
                tracing::warn!(
                    file = filename,
                    page = number,
                    "the PDF's text is indexed up to page {}: page {number} {why}",
                    number.saturating_sub(1)
                );
                break;
            }
            let text = normalise(&doc.extract_text(&[number]).unwrap_or_default());
            if !text.is_empty() {
                out.push(Section {
                    label: format!("{filename}, page {number}"),
                    text,
                });
            }
        }
        Some(out)
    });
    match read {
        Ok(Some(sections)) => sections,
        Ok(None) => {
            tracing::warn!(file = filename, "not a PDF the text extractor can read");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!(
                file = filename,
                "the PDF text extractor failed on this file"
            );
            Vec::new()
        }
    }
}

/// Inflates a page's content streams without keeping them, to learn what extracting its text would inflate;
/// an error says which limit it would pass. Only FlateDecode is measured by inflating (what PDF writers use);
/// a stream under another filter counts its stored size, up to 1 MiB of it.
fn page_cost(
    doc: &lopdf::Document,
    page: lopdf::ObjectId,
    stream_bytes: u64,
    left: &mut u64,
) -> Result<(), String> {
    use std::io::Read;
    for id in doc.get_page_contents(page) {
        let Ok(stream) = doc.get_object(id).and_then(lopdf::Object::as_stream) else {
            continue;
        };
        let filters = stream.filters().unwrap_or_default();
        let size = if filters.is_empty() {
            stream.content.len() as u64
        } else if filters == [b"FlateDecode".as_slice()] {
            let mut inflater =
                flate2::read::ZlibDecoder::new(stream.content.as_slice()).take(stream_bytes + 1);
            std::io::copy(&mut inflater, &mut std::io::sink()).unwrap_or(0)
        } else if stream.content.len() <= 1 << 20 {
            stream.content.len() as u64
        } else {
            return Err("has a content stream in a format that is not measured".into());
        };
        if size > stream_bytes {
            return Err(format!(
                "has a content stream that unpacks to more than {} MiB",
                stream_bytes >> 20
            ));
        }
        if size > *left {
            return Err("takes the file past what one PDF may unpack to".into());
        }
        *left -= size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_pdf_pages_and_subtitles_come_out_labelled() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/content/");
        let pdf = std::fs::read(format!("{dir}cc-viewer-sample-document.pdf")).unwrap();
        let s = sections("sample.pdf", "application/pdf", &pdf);
        assert_eq!(
            s,
            vec![Section {
                label: "sample.pdf, page 1".into(),
                text: "This is a sample document.".into()
            }]
        );
        let srt = std::fs::read(format!("{dir}openedx-demo-video-en.srt")).unwrap();
        let s = sections("talk-en.srt", "application/x-subrip; charset=utf-8", &srt);
        assert_eq!(s[0].label, "talk-en.srt at 0:01");
        assert!(
            s[0].text
                .starts_with("um next up we're going to be hearing")
        );
        assert!(s.len() > 50, "{}", s.len());
    }

    /// A PDF of three pages, the second a content stream of `bomb` spaces compressed to a few kilobytes.
    fn pdf_with_a_bomb(bomb: usize) -> Vec<u8> {
        use lopdf::content::{Content, Operation};
        use lopdf::{Object, Stream, dictionary};
        use std::io::Write;
        let mut doc = lopdf::Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
        let text_page = |doc: &mut lopdf::Document, words: &str| {
            let content = Content {
                operations: vec![
                    Operation::new("BT", vec![]),
                    Operation::new("Tf", vec!["F1".into(), 12.into()]),
                    Operation::new("Td", vec![72.into(), 700.into()]),
                    Operation::new("Tj", vec![Object::string_literal(words)]),
                    Operation::new("ET", vec![]),
                ],
            };
            let stream = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
            doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "Contents" => stream,
            })
        };
        let first = text_page(&mut doc, "Fractions are parts of a whole.");
        // The bomb: spaces, inflated only by whoever reads the page.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![b' '; 1 << 20];
        for _ in 0..bomb / block.len() {
            z.write_all(&block).unwrap();
        }
        let stream = Stream::new(
            dictionary! { "Filter" => "FlateDecode" },
            z.finish().unwrap(),
        );
        let bomb_stream = doc.add_object(stream);
        let second = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => bomb_stream,
        });
        let third = text_page(&mut doc, "Never read.");
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => vec![first.into(), second.into(), third.into()],
                "Count" => 3,
                "Resources" => resources,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn a_page_that_inflates_past_the_budget_ends_the_reading_and_keeps_what_came_before() {
        let bytes = pdf_with_a_bomb(64 << 20);
        assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
        let budget = PdfBudget {
            stream_bytes: 8 << 20,
            ..PdfBudget::default()
        };
        let s = pdf("bomb.pdf", &bytes, budget);
        assert_eq!(
            s,
            vec![Section {
                label: "bomb.pdf, page 1".into(),
                text: "Fractions are parts of a whole.".into()
            }]
        );
        // The same file within a budget that allows it is read to the end.
        let roomy = PdfBudget {
            stream_bytes: 128 << 20,
            ..PdfBudget::default()
        };
        let all = pdf("bomb.pdf", &bytes, roomy);
        assert_eq!(all.last().unwrap().text, "Never read.", "{all:?}");
    }

    #[test]
    fn damaged_pdfs_and_binary_files_give_no_text() {
        assert!(sections("x.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj <<").is_empty());
        assert!(sections("x.png", "image/png", b"\x89PNG").is_empty());
        assert!(sections("x.txt", "text/plain", b"  \n ").is_empty());
    }
}
