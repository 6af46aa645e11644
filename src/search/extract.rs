//! Text from a lesson's files, for search and the tutor: each PDF page, each ~30 seconds of a subtitle file,
//! a plain text file; every piece labelled with where it is ("worksheet.pdf, page 2", "talk-en.srt at 1:02"),
//! so a result or a citation can say where the words are.

use crate::courses::subtitles;

/// Largest file whose text is extracted (bigger ones are still stored and downloadable).
pub const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Most PDF pages read from one file.
const MAX_PAGES: usize = 2_000;

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
        return pdf(filename, bytes);
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

/// Each page's text. A PDF the parser cannot read (or that makes it panic) gives no text, not an error: the
/// file stays attached and downloadable.
fn pdf(filename: &str, bytes: &[u8]) -> Vec<Section> {
    let read = std::panic::catch_unwind(|| {
        let doc = lopdf::Document::load_mem(bytes).ok()?;
        let mut out = Vec::new();
        for (number, _) in doc.get_pages().into_iter().take(MAX_PAGES) {
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

    #[test]
    fn damaged_pdfs_and_binary_files_give_no_text() {
        assert!(sections("x.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj <<").is_empty());
        assert!(sections("x.png", "image/png", b"\x89PNG").is_empty());
        assert!(sections("x.txt", "text/plain", b"  \n ").is_empty());
    }
}
