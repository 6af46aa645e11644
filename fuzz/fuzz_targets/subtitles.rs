//! Any bytes as a subtitle file (SubRip or WebVTT): parsing, then writing WebVTT and a transcript, never
//! panics, and what is written parses back to the same cues.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartcourse_formats::subtitles;

fuzz_target!(|data: &[u8]| {
    let cues = subtitles::parse(&String::from_utf8_lossy(data));
    let vtt = subtitles::to_vtt(&cues);
    let _ = subtitles::to_transcript(&cues);
    let _ = subtitles::paragraphs(&cues);
    assert_eq!(
        subtitles::parse(&vtt).len(),
        cues.len(),
        "WebVTT we write reads back"
    );
});
