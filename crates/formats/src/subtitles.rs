//! Subtitles: SubRip (`.srt`) and WebVTT (`.vtt`) read into cues, written back as WebVTT (the only format a
//! browser's `<track>` plays) or as a transcript with timestamps (for the lesson page, search and the tutor).

use std::fmt::Write;

/// One caption: shown from `start_ms` to `end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Start, in milliseconds.
    pub start_ms: u64,
    /// End, in milliseconds.
    pub end_ms: u64,
    /// The caption's text (plain: tags removed, entities decoded; lines joined with spaces).
    pub text: String,
}

/// Parses SubRip or WebVTT. Blocks without a valid timing line are skipped, so a damaged file still gives
/// what can be read of it.
pub fn parse(text: &str) -> Vec<Cue> {
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let mut cues = Vec::new();
    for block in text.replace('\r', "\n").split("\n\n") {
        let mut lines = block.lines().map(str::trim).skip_while(|l| l.is_empty());
        let mut timing = None;
        for line in lines.by_ref() {
            if let Some(t) = parse_timing(line) {
                timing = Some(t);
                break;
            }
            // Anything before the timing line (a number in SRT, an id or a header in VTT) is not shown.
        }
        let Some((start_ms, end_ms)) = timing else {
            continue;
        };
        let words: Vec<String> = lines
            .filter(|l| !l.is_empty())
            .map(clean_line)
            .filter(|l| !l.is_empty())
            .collect();
        if words.is_empty() {
            continue;
        }
        cues.push(Cue {
            start_ms,
            end_ms,
            text: words.join(" "),
        });
    }
    cues
}

/// `00:01:02,500 --> 00:01:04,000` (SRT) or `01:02.500 --> 01:04.000 align:start` (VTT).
fn parse_timing(line: &str) -> Option<(u64, u64)> {
    let (a, b) = line.split_once("-->")?;
    let start = parse_time(a.trim())?;
    let end = parse_time(b.split_whitespace().next()?)?;
    Some((start, end.max(start)))
}

fn parse_time(s: &str) -> Option<u64> {
    let s = s.replace(',', ".");
    let (clock, frac) = s.split_once('.').unwrap_or((&s, "0"));
    let parts: Vec<u64> = clock
        .split(':')
        .map(|p| p.trim().parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => (0, *m, *s),
        _ => return None,
    };
    if m >= 60 || sec >= 60 || frac.is_empty() || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // A time beyond any real video (an hour field of 20 digits) is not a time: no overflow.
    h.checked_mul(3600)?
        .checked_add(m * 60 + sec)?
        .checked_mul(1000)?
        .checked_add(ms)
}

/// Removes markup (`<i>`, `<c.yellow>`, `{\an8}`) and decodes entities.
fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut depth = 0u32;
    let mut braces = false;
    for c in line.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            '{' if line.contains("{\\") => braces = true,
            '}' if braces => braces = false,
            _ if depth == 0 && !braces => out.push(c),
            _ => {}
        }
    }
    decode_entities(out.trim())
}

/// Decodes the named entities captions use and numeric ones (`&#39;`, `&#x27;`).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let decoded = tail.find(';').filter(|end| *end <= 10).and_then(|end| {
            let name = &tail[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `HH:MM:SS.mmm`, as WebVTT writes times.
pub fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `H:MM:SS` or `M:SS`, as a transcript shows a time.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The cues as a WebVTT file.
pub fn to_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for c in cues {
        let text = c
            .text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace("-->", "--&gt;");
        let _ = write!(
            out,
            "{} --> {}\n{}\n\n",
            vtt_time(c.start_ms),
            vtt_time(c.end_ms),
            text
        );
    }
    out
}

/// The cues as Markdown: one paragraph per ~30 seconds, each starting with its time, so a search hit or a
/// tutor citation can say where in the video the words are.
pub fn to_transcript(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (start, text) in paragraphs(cues) {
        let _ = write!(out, "**[{}]** {text}\n\n", clock(start));
    }
    out
}

/// The cues joined into paragraphs of about 30 seconds: (start in milliseconds, text).
pub fn paragraphs(cues: &[Cue]) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    let mut last = "";
    for c in cues {
        // Rolling captions (YouTube-style) repeat the previous line: keep each line once.
        if c.text == last {
            continue;
        }
        last = &c.text;
        match out.last_mut() {
            Some((start, text)) if c.start_ms < start.saturating_add(30_000) => {
                text.push(' ');
                text.push_str(&c.text);
            }
            _ => out.push((c.start_ms, c.text.clone())),
        }
    }
    out
}

/// The language a subtitle file's name states (`video-en.srt`, `talk.es.vtt`, `fr_subtitles.srt`), if any.
pub fn language_from_name(name: &str) -> Option<String> {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.split(['-', '_', '.', ' '])
        .rev()
        .find(|p| {
            let lower = p.to_ascii_lowercase();
            p.len() == 2 && is_language(&lower)
        })
        .map(str::to_ascii_lowercase)
}

fn is_language(code: &str) -> bool {
    const CODES: &[&str] = &[
        "ar", "bn", "ca", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "he", "hi",
        "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "nl", "no", "pl", "pt", "ro", "ru",
        "sk", "sl", "sr", "sv", "sw", "ta", "th", "tr", "uk", "ur", "vi", "zh",
    ];
    CODES.contains(&code)
}

#[cfg(test)]
mod tests {

    #[test]
    fn absurd_hours_are_not_a_time() {
        // Found by `cargo fuzz run subtitles`: an hour field this long overflowed the milliseconds.
        assert_eq!(super::parse_time("99999999999999999999:00:00,000"), None);
        assert_eq!(super::parse_time("9999999999999999:00:00,000"), None);
        assert_eq!(super::parse_time("01:02:03,004"), Some(3_723_004));
    }
    use super::*;

    #[test]
    fn subrip_and_webvtt_read_the_same() {
        let srt = "1\r\n00:00:01,199 --> 00:00:04,380\r\num next up we&#39;re <i>going</i>\r\nto be\r\n\r\n2\r\n00:01:02,5 --> 00:01:04,000\r\nsecond\r\n";
        let vtt = "WEBVTT\n\nNOTE hello\n\nid-1\n00:01.199 --> 00:04.380 align:start\num next up we're <i>going</i>\nto be\n\n01:02.500 --> 01:04.000\nsecond\n";
        let a = parse(srt);
        assert_eq!(a, parse(vtt));
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].start_ms, 1199);
        assert_eq!(a[0].text, "um next up we're going to be");
        assert_eq!(a[1].start_ms, 62_500);
    }

    #[test]
    fn webvtt_output_is_escaped_and_reads_back() {
        let cues = vec![Cue {
            start_ms: 3_723_004,
            end_ms: 3_724_000,
            text: "a < b & c --> d".into(),
        }];
        let vtt = to_vtt(&cues);
        assert!(vtt.starts_with("WEBVTT\n\n01:02:03.004 --> 01:02:04.000\n"));
        assert!(vtt.contains("a &lt; b &amp; c --&gt; d"));
        assert_eq!(parse(&vtt), cues);
    }

    #[test]
    fn damaged_blocks_are_skipped() {
        let cues = parse(
            "1\n00:00:01,000 -> 00:00:02,000\nbad arrow\n\n2\n00:00:03,000 --> 00:00:04,000\nok\n\n3\n99:99 --> 1\nbad\n",
        );
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0].text, "ok");
    }

    #[test]
    fn transcript_groups_by_half_minute_and_drops_repeats() {
        let cue = |s: u64, t: &str| Cue {
            start_ms: s * 1000,
            end_ms: s * 1000 + 900,
            text: t.into(),
        };
        let md = to_transcript(&[
            cue(1, "one"),
            cue(2, "one"),
            cue(10, "two"),
            cue(31, "three"),
            cue(3700, "late"),
        ]);
        assert_eq!(
            md,
            "**[0:01]** one two\n\n**[0:31]** three\n\n**[1:01:40]** late\n\n"
        );
    }

    #[test]
    fn languages_come_from_file_names() {
        assert_eq!(
            language_from_name("openedx-demo-video-en.srt").as_deref(),
            Some("en")
        );
        assert_eq!(language_from_name("talk.es.vtt").as_deref(), Some("es"));
        assert_eq!(
            language_from_name("lecture_pt-BR.srt").as_deref(),
            Some("pt")
        );
        assert_eq!(language_from_name("subtitles.srt"), None);
        assert_eq!(language_from_name("my-to-do.srt"), None);
    }
}
