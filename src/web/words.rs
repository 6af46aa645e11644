//! Template filters that turn figures and stored times into words: `3|plural("lesson")` → "3 lessons",
//! `created_at|when` → a `<time>` saying "2 hours ago".
//!
//! Times are stored as RFC 3339 UTC (`2026-11-30T17:45:46Z`), which reads as noise. The page shows them
//! relative to when it was made (right in any time zone, and without JavaScript), or as a date once they are
//! a week old; the full time is in the `title`, and `datetime` keeps the exact value for app.js, which
//! rewrites dates and titles in the reader's own time zone and language.

use minijinja::Value;
use time::{Date, Duration, Month, OffsetDateTime};

/// `n` and the noun that goes with it: `plural(1, "lesson")` is "1 lesson", `plural(3, "lesson")` "3 lessons";
/// a noun whose plural is not an added "s" passes it: `plural(2, "quiz", "quizzes")`.
/// The noun is translated through the catalogue ([`super::i18n::noun`]) and the figure written for `lang`.
pub fn plural(lang: &str, n: i64, one: &str, many: Option<&str>) -> String {
    let many = many.map_or_else(|| format!("{one}s"), str::to_owned);
    // The order is the language's: Swahili puts the noun first ("masomo 3").
    super::i18n::format(
        lang,
        "{n} {noun}",
        &[
            ("n", super::i18n::number(lang, n)),
            ("noun", super::i18n::noun(lang, n, one, &many)),
        ],
    )
}

/// A score or a count of points as a person writes it in `lang`: `2`, `1.5` (`1,5` in Spanish), `0.33` (two
/// decimals at most), never `2.0`.
pub fn number(lang: &str, n: f64) -> String {
    let rounded = (n * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        return super::i18n::number(lang, rounded as i64);
    }
    let text = format!("{rounded:.2}");
    super::i18n::decimal(lang, text.trim_end_matches('0').trim_end_matches('.'))
}

/// [`plural`] of a figure that may have decimals: "1 point", "2 points", "1.5 points".
pub fn plural_number(lang: &str, n: f64, one: &str, many: Option<&str>) -> String {
    let rounded = (n * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        return plural(lang, rounded as i64, one, many);
    }
    let many = many.map_or_else(|| format!("{one}s"), str::to_owned);
    super::i18n::format(
        lang,
        "{n} {noun}",
        &[
            ("n", number(lang, n)),
            ("noun", super::i18n::noun(lang, 2, one, &many)),
        ],
    )
}

/// The `when` filter: a stored time as HTML (`<time>`), relative to now.
pub fn when(lang: &str, stored: &str) -> Value {
    Value::from_safe_string(when_at(lang, stored, OffsetDateTime::now_utc()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An RFC 3339 time (`2026-11-30T17:45:46Z`, `…46.5+01:00`; SQLite's `2026-11-30 17:45:46` as UTC), in UTC.
/// By hand: `time`'s parser is a feature whose switch would rebuild every crate that uses `time`.
fn parse_utc(s: &str) -> Option<OffsetDateTime> {
    let num = |from: usize, to: usize| s.get(from..to)?.parse::<u16>().ok();
    let seps = s.as_bytes();
    if seps.len() < 19
        || seps[4] != b'-'
        || seps[7] != b'-'
        || !matches!(seps[10], b'T' | b't' | b' ')
        || seps[13] != b':'
        || seps[16] != b':'
    {
        return None;
    }
    let month = Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::from(num(0, 4)?),
        month,
        u8::try_from(num(8, 10)?).ok()?,
    )
    .ok()?;
    let time = date
        .with_hms(
            u8::try_from(num(11, 13)?).ok()?,
            u8::try_from(num(14, 16)?).ok()?,
            u8::try_from(num(17, 19)?).ok()?,
        )
        .ok()?
        .assume_utc();
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
            sign * (h * 3600 + m * 60)
        }
    };
    Some(time - Duration::seconds(offset))
}

fn when_at(lang: &str, stored: &str, now: OffsetDateTime) -> String {
    use super::i18n::format as tr;
    let Some(t) = parse_utc(stored.trim()) else {
        // Not a time after all: shown as it is.
        return escape(stored);
    };
    let month = super::i18n::months(lang)[usize::from(u8::from(t.month())) - 1];
    let date = format!("{} {month} {}", t.day(), t.year());
    let full = format!("{date}, {:02}:{:02} UTC", t.hour(), t.minute());
    let ago = (now - t).whole_seconds();
    let (text, absolute) = match ago {
        secs if secs < 60 => (tr(lang, "just now", &[]), false),
        secs if secs < 3600 => (
            ago_words(lang, plural(lang, secs / 60, "minute", None)),
            false,
        ),
        secs if secs < 86_400 => (
            ago_words(lang, plural(lang, secs / 3600, "hour", None)),
            false,
        ),
        secs if secs < 7 * 86_400 => (
            ago_words(lang, plural(lang, secs / 86_400, "day", None)),
            false,
        ),
        _ => (date, true),
    };
    format!(
        "<time datetime=\"{}\" title=\"{full}\" data-local{}>{text}</time>",
        escape(stored.trim()),
        if absolute { " data-date" } else { "" }
    )
}

fn ago_words(lang: &str, span: String) -> String {
    super::i18n::format(lang, "{span} ago", &[("span", span)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_take_the_right_noun() {
        assert_eq!(plural("en", 1, "lesson", None), "1 lesson");
        assert_eq!(plural("en", 0, "lesson", None), "0 lessons");
        assert_eq!(plural("en", 12, "question", None), "12 questions");
        assert_eq!(plural("en", 2, "quiz", Some("quizzes")), "2 quizzes");
        assert_eq!(plural("en", 1200, "lesson", None), "1,200 lessons");
        assert_eq!(plural("es", 3, "lesson", None), "3 lecciones");
        assert_eq!(plural("sw", 1, "lesson", None), "somo 1");
        assert_eq!(plural_number("en", 2.0, "point", None), "2 points");
        assert_eq!(plural_number("en", 1.0, "point", None), "1 point");
        assert_eq!(plural_number("en", 1.5, "point", None), "1.5 points");
        assert_eq!(plural_number("en", 0.0, "point", None), "0 points");
        assert_eq!(plural_number("es", 1.5, "point", None), "1,5 puntos");
        assert_eq!(number("en", 1.0 / 3.0), "0.33");
        assert_eq!(number("en", 10.0), "10");
        assert_eq!(number("en", -0.0001), "0");
        assert_eq!(number("fr", 2.5), "2,5");
    }

    #[test]
    fn stored_times_read_as_words() {
        let now = parse_utc("2026-11-30T18:00:00Z").unwrap();
        let at = |s: &str| when_at("en", s, now);
        assert_eq!(
            at("2026-11-30T17:45:46Z"),
            "<time datetime=\"2026-11-30T17:45:46Z\" title=\"30 Nov 2026, 17:45 UTC\" data-local>14 minutes ago</time>"
        );
        assert!(at("2026-11-30T17:59:30Z").contains(">just now<"));
        assert!(at("2026-11-30T16:59:00Z").contains(">1 hour ago<"));
        assert!(at("2026-11-28T12:00:00Z").contains(">2 days ago<"));
        let old = at("2026-09-01T08:05:00Z");
        assert!(
            old.contains(">1 Sep 2026<") && old.contains("data-date"),
            "{old}"
        );
        // Other spellings of the same moment.
        for same in [
            "2026-11-30T18:45:46+01:00",
            "2026-11-30 17:45:46",
            "2026-11-30T17:45:46.250Z",
        ] {
            assert!(at(same).contains(">14 minutes ago<"), "{same}");
        }
        let es = when_at("es", "2026-11-30T17:45:46Z", now);
        assert!(es.contains(">hace 14 minutos<"), "{es}");
        let es = when_at("es", "2026-09-01T08:05:00Z", now);
        assert!(es.contains(">1 sept 2026<"), "{es}");
        // Not a time: the text, escaped.
        assert_eq!(at("<b>soon</b>"), "&lt;b&gt;soon&lt;/b&gt;");
    }
}
