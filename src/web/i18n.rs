//! The pages' language: gettext `.po` catalogues in `assets/locales/`, one per language, embedded at build time.
//!
//! English is the source language: a template says `{{ _("Sign up") }}` (or `_("{n} enrolled", n=count)`
//! with `{name}` placeholders) and the English text is the catalogue's `msgid`, so English needs no file and
//! a missing translation shows English rather than nothing. Nouns with a figure go through the `plural`
//! filter, which reads a `msgid` / `msgid_plural` entry. Translators edit the `.po` files with any gettext
//! tool; the parser here reads only what those files need (`msgid`, `msgid_plural`, `msgstr`, `msgstr[n]`,
//! continued strings, comments), which a whole gettext crate would be heavy for.
//!
//! A page's language ([`pick`]) is the signed-in user's saved language, else the browser's `Accept-Language`,
//! else English.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The languages with a complete catalogue, as (code, name in that language), in the settings menu's order.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en", "English"),
    ("es", "Español"),
    ("fr", "Français"),
    ("pt", "Português"),
    ("sw", "Kiswahili"),
];

/// The catalogues' sources, by language code (English has none: it is the `msgid`s).
const SOURCES: &[(&str, &str)] = &[
    ("es", include_str!("../../assets/locales/es.po")),
    ("fr", include_str!("../../assets/locales/fr.po")),
    ("pt", include_str!("../../assets/locales/pt.po")),
    ("sw", include_str!("../../assets/locales/sw.po")),
];

/// A catalogue: `msgid` → its `msgstr` forms (one, or one per plural form).
pub type Catalogue = HashMap<String, Vec<String>>;

static CATALOGUES: LazyLock<HashMap<&'static str, Catalogue>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(code, src)| {
            let cat = parse_po(src).unwrap_or_else(|e| panic!("assets/locales/{code}.po: {e}"));
            (*code, cat)
        })
        .collect()
});

/// The catalogue of `lang`, if it has one (not English).
pub fn catalogue(lang: &str) -> Option<&'static Catalogue> {
    CATALOGUES.get(lang)
}

/// `lang` as one of [`LANGUAGES`] (`es-MX` → `es`), if it is one.
pub fn supported(lang: &str) -> Option<&'static str> {
    let primary = lang.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .map(|(code, _)| *code)
        .find(|code| *code == primary)
}

/// The best supported language of an `Accept-Language` header (`fr-CA,fr;q=0.9,en;q=0.5`), by q-value and,
/// for equal ones, by the browser's order; `None` when it names none we have.
pub fn from_accept_language(header: &str) -> Option<&'static str> {
    let mut best: Option<(f32, &'static str)> = None;
    for part in header.split(',') {
        let mut bits = part.split(';');
        let tag = bits.next().unwrap_or("").trim();
        let q = bits
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        if q <= 0.0 {
            continue;
        }
        if let Some(code) = supported(tag)
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, code));
        }
    }
    best.map(|(_, code)| code)
}

/// The page's language: the user's saved one, else the browser's, else English.
pub fn pick(saved: Option<&str>, accept_language: Option<&str>) -> &'static str {
    saved
        .and_then(supported)
        .or_else(|| accept_language.and_then(from_accept_language))
        .unwrap_or("en")
}

/// `msgid` in `lang`; the English when the catalogue lacks it.
pub fn text<'a>(lang: &str, msgid: &'a str) -> &'a str {
    catalogue(lang)
        .and_then(|c| c.get(msgid))
        .and_then(|forms| forms.first())
        .filter(|s| !s.is_empty())
        .map_or(msgid, String::as_str)
}

/// `text` with each `{name}` replaced by its value.
pub fn format(lang: &str, msgid: &str, args: &[(&str, String)]) -> String {
    let mut out = text(lang, msgid).to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Which plural form `n` takes in `lang`: 0 for the singular. French counts 0 as singular; the other
/// languages here only 1.
fn plural_index(lang: &str, n: i64) -> usize {
    let one = match lang {
        "fr" => n == 0 || n == 1,
        _ => n == 1,
    };
    usize::from(!one)
}

/// The noun for `n` things in `lang`: the catalogue's entry for `one` (with `many` as its `msgid_plural`).
pub fn noun(lang: &str, n: i64, one: &str, many: &str) -> String {
    let i = plural_index(lang, n);
    if let Some(forms) = catalogue(lang).and_then(|c| c.get(one))
        && let Some(form) = forms.get(i).or(forms.last())
        && !form.is_empty()
    {
        return form.clone();
    }
    if n == 1 { one } else { many }.to_owned()
}

/// A whole number written the language's way: its thousands separator is `,` in English and Swahili, `.` in
/// Spanish and Portuguese, a narrow space in French.
pub fn number(lang: &str, n: i64) -> String {
    let sep = match lang {
        "es" | "pt" => ".",
        "fr" => "\u{202f}",
        _ => ",",
    };
    let digits = n.unsigned_abs().to_string();
    // Spanish leaves four-digit numbers whole (RAE): 1000, but 10.000.
    if lang == "es" && digits.len() <= 4 {
        return n.to_string();
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A decimal figure as the language writes it: a comma before the fraction in Spanish, French and
/// Portuguese (`12,5`).
pub fn decimal(lang: &str, figure: &str) -> String {
    match lang {
        "es" | "fr" | "pt" => figure.replace('.', ","),
        _ => figure.to_owned(),
    }
}

/// The short month names, January first.
pub fn months(lang: &str) -> [&'static str; 12] {
    match lang {
        "es" => [
            "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
        ],
        "fr" => [
            "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
            "nov.", "déc.",
        ],
        "pt" => [
            "jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez",
        ],
        "sw" => [
            "Jan", "Feb", "Mac", "Apr", "Mei", "Jun", "Jul", "Ago", "Sep", "Okt", "Nov", "Des",
        ],
        _ => [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ],
    }
}

/// Reads a `.po` file: each entry's `msgid` and its `msgstr` (or `msgstr[0]`, `msgstr[1]`, …). The header
/// entry (empty `msgid`) and fuzzy or obsolete entries are left out.
pub fn parse_po(src: &str) -> Result<Catalogue, String> {
    #[derive(PartialEq)]
    enum Part {
        None,
        Id,
        IdPlural,
        Str(usize),
    }
    let mut cat = Catalogue::new();
    let mut id = String::new();
    let mut strs: Vec<String> = Vec::new();
    let mut part = Part::None;
    let mut fuzzy = false;
    let mut flush = |id: &mut String, strs: &mut Vec<String>, fuzzy: &mut bool| {
        if !id.is_empty() && !*fuzzy {
            cat.insert(std::mem::take(id), std::mem::take(strs));
        }
        id.clear();
        strs.clear();
        *fuzzy = false;
    };
    for (n, raw) in src.lines().enumerate() {
        let line = raw.trim();
        let err = |what: &str| format!("line {}: {what}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if comment.starts_with(',') && comment.contains("fuzzy") {
                if part != Part::None {
                    flush(&mut id, &mut strs, &mut fuzzy);
                    part = Part::None;
                }
                fuzzy = true;
            }
            continue;
        }
        let (keyword, rest) = match line.find(char::is_whitespace) {
            Some(i) if !line.starts_with('"') => (&line[..i], line[i..].trim()),
            _ => ("", line),
        };
        let value = unquote(rest).ok_or_else(|| err("expected a quoted string"))?;
        match keyword {
            "msgid" => {
                if matches!(part, Part::Str(_)) {
                    flush(&mut id, &mut strs, &mut fuzzy);
                }
                id = value;
                part = Part::Id;
            }
            "msgid_plural" => part = Part::IdPlural,
            "msgctxt" => return Err(err("msgctxt is not supported")),
            "" => match part {
                Part::Id => id.push_str(&value),
                Part::Str(i) => strs[i].push_str(&value),
                Part::IdPlural => {}
                Part::None => return Err(err("a string outside an entry")),
            },
            k => {
                let i = match k.strip_prefix("msgstr") {
                    Some("") => 0,
                    Some(index) => index
                        .strip_prefix('[')
                        .and_then(|s| s.strip_suffix(']'))
                        .and_then(|s| s.parse::<usize>().ok())
                        .ok_or_else(|| err("bad msgstr index"))?,
                    None => return Err(err(&format!("unknown keyword {k}"))),
                };
                if strs.len() <= i {
                    strs.resize(i + 1, String::new());
                }
                strs[i] = value;
                part = Part::Str(i);
            }
        }
    }
    flush(&mut id, &mut strs, &mut fuzzy);
    Ok(cat)
}

/// A C-style quoted string's text: `"a \"b\"\n"` → `a "b"` and a line break.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                other => other,
            });
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn po_entries_are_read_with_plurals_and_continued_lines() {
        let cat = parse_po(
            "msgid \"\"\nmsgstr \"Language: es\\n\"\n\n# a comment\nmsgid \"Sign up\"\nmsgstr \"Regístrate\"\n\n\
             msgid \"lesson\"\nmsgid_plural \"lessons\"\nmsgstr[0] \"lección\"\nmsgstr[1] \"lecciones\"\n\n\
             msgid \"\"\n\"Say \\\"hi\\\"\"\nmsgstr \"Di \"\n\"\\\"hola\\\"\"\n\n#, fuzzy\nmsgid \"Old\"\nmsgstr \"Viejo\"\n",
        )
        .unwrap();
        assert_eq!(cat["Sign up"], ["Regístrate"]);
        assert_eq!(cat["lesson"], ["lección", "lecciones"]);
        assert_eq!(cat["Say \"hi\""], ["Di \"hola\""]);
        assert!(!cat.contains_key(""), "the header is not a message");
        assert!(!cat.contains_key("Old"), "fuzzy entries are not trusted");
        assert!(parse_po("msgid Sign up\n").is_err());
        assert!(parse_po("msgid \"a\"\nmsgfoo \"b\"\n").is_err());
    }

    #[test]
    fn the_browser_language_is_chosen_by_q_value() {
        assert_eq!(from_accept_language("es"), Some("es"));
        assert_eq!(from_accept_language("es-MX,es;q=0.9,en;q=0.8"), Some("es"));
        assert_eq!(from_accept_language("de,fr;q=0.5,en;q=0.7"), Some("en"));
        assert_eq!(from_accept_language("en;q=0.2, sw"), Some("sw"));
        assert_eq!(from_accept_language("de, ja"), None);
        assert_eq!(from_accept_language("es;q=0, pt;q=0.1"), Some("pt"));
        assert_eq!(pick(Some("fr"), Some("es")), "fr", "the saved choice wins");
        assert_eq!(pick(Some("de"), Some("es")), "es");
        assert_eq!(pick(None, None), "en");
    }

    #[test]
    fn nouns_and_numbers_follow_the_language() {
        assert_eq!(noun("es", 2, "lesson", "lessons"), "lecciones");
        assert_eq!(noun("es", 1, "lesson", "lessons"), "lección");
        assert_eq!(noun("fr", 0, "lesson", "lessons"), "leçon");
        assert_eq!(noun("en", 0, "lesson", "lessons"), "lessons");
        assert_eq!(number("en", 1_234_567), "1,234,567");
        assert_eq!(number("es", 1234), "1234");
        assert_eq!(number("es", 12_345), "12.345");
        assert_eq!(number("pt", -12_345), "-12.345");
        assert_eq!(number("fr", 1234), "1\u{202f}234");
        assert_eq!(number("sw", 999), "999");
    }

    #[test]
    fn a_missing_translation_shows_the_english() {
        assert_eq!(text("es", "Sign up"), "Regístrate");
        assert_eq!(text("es", "no such message"), "no such message");
        assert_eq!(text("en", "Sign up"), "Sign up");
        assert_eq!(
            format("es", "{n} enrolled", &[("n", "3".into())]),
            "3 inscritos"
        );
    }

    /// Values that templates translate as `_(value)`, or handlers with `i18n::text`: they come from the data
    /// or a variable, so no `_("…")` names them.
    const FROM_DATA: &[&str] = &[
        "student",
        "instructor",
        "admin",
        "draft",
        "publishing",
        "published",
        "archived",
        // The login page's error (`pages::login`).
        "Wrong email or password.",
        // The error page (`WebError`).
        "Not found",
        "There is nothing here, or you may not see it.",
        "Not allowed",
        "Your account may not do this.",
        "Something went wrong",
        "The error has been logged. Please try again.",
        "That did not work",
    ];

    /// Each string a template or page handler shows: `_("…")` and `plural("one", "many")` in the templates, the
    /// titles the handlers give `render`, and [`FROM_DATA`], as (msgid, plural msgid).
    fn shown_strings() -> Vec<(String, Option<String>, String)> {
        let mut out = Vec::new();
        for (name, t) in super::super::TEMPLATES.templates() {
            for (id, plural) in
                calls(t.source(), "_(", false)
                    .into_iter()
                    .chain(calls(t.source(), "plural(", true))
            {
                out.push((id, plural, name.to_owned()));
            }
        }
        for (file, src) in HANDLERS {
            // `render("page.html", &viewer, "Title", …)`: the title literal after the viewer.
            for (i, _) in src.match_indices("&viewer,") {
                let rest = src[i + 8..].trim_start();
                if let Some(lit) = rest.strip_prefix('"') {
                    let end = lit.find('"').unwrap();
                    out.push((lit[..end].to_owned(), None, (*file).to_owned()));
                }
            }
        }
        for (file, src) in HANDLERS {
            for call in [
                "flash::redirect(",
                "flash::redirect_with(",
                "flash::set(",
                "flash::with_args(",
            ] {
                for lit in call_literals(src, call, false) {
                    out.push((lit, None, (*file).to_owned()));
                }
            }
            // Headings a handler translates itself: `tr("Imported")`, `i18n::format(lang, "…", …)`.
            for call in [" tr(", "i18n::format(lang, "] {
                for lit in call_literals(src, call, true) {
                    out.push((lit, None, (*file).to_owned()));
                }
            }
        }
        for id in FROM_DATA
            .iter()
            .chain(["just now", "{span} ago", "{n} {noun}"].iter())
        {
            out.push(((*id).to_owned(), None, "FROM_DATA or words.rs".to_owned()));
        }
        for id in ["minute", "hour", "day"] {
            out.push((id.to_owned(), Some(format!("{id}s")), "words.rs".to_owned()));
        }
        out
    }

    /// The string literals inside each `open…)` call but paths (`"/courses/{id}"`) and, unless `any`, single
    /// words (`{name}` names): the flash messages.
    fn call_literals(src: &str, open: &str, any: bool) -> Vec<String> {
        let mut out = Vec::new();
        for (i, _) in src.match_indices(open) {
            let (mut depth, mut in_str, mut lit) = (1, false, String::new());
            for c in src[i + open.len()..].chars() {
                match (in_str, c) {
                    (true, '"') => {
                        in_str = false;
                        // A `{name}`'s name (`("title", …)`) is an identifier, not a message.
                        let name = lit.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                        if !lit.starts_with('/') && !name && (any || lit.contains(' ')) {
                            out.push(std::mem::take(&mut lit));
                        }
                        lit.clear();
                    }
                    (true, c) => lit.push(c),
                    (false, '"') => in_str = true,
                    (false, '(') => depth += 1,
                    (false, ')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    const HANDLERS: &[(&str, &str)] = &[
        ("pages.rs", include_str!("pages.rs")),
        ("teach.rs", include_str!("teach.rs")),
        ("course_care.rs", include_str!("course_care.rs")),
        ("admin.rs", include_str!("admin.rs")),
        ("tutor.rs", include_str!("tutor.rs")),
        ("quiz.rs", include_str!("quiz.rs")),
        ("quiz_edit.rs", include_str!("quiz_edit.rs")),
        ("password.rs", include_str!("password.rs")),
        ("flash.rs", include_str!("flash.rs")),
    ];

    /// The string literals that open each `open…)` call: `_("a")` → `a`; with `two`, also a second literal
    /// (`plural("quiz", "quizzes")`) or the English `s` plural.
    fn calls(src: &str, open: &str, two: bool) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for (i, _) in src.match_indices(open) {
            // `|plural(` and `_(` at a word's start, not `foo_(`.
            let before = src[..i].chars().last().unwrap_or(' ');
            if open == "_(" && (before.is_alphanumeric() || before == '_') {
                continue;
            }
            let rest = &src[i + open.len()..];
            let Some(lit) = rest.strip_prefix('"') else {
                continue;
            };
            let end = lit.find('"').expect("a closed string");
            let id = lit[..end].to_owned();
            if two {
                let after = lit[end + 1..].trim_start();
                let many = after
                    .strip_prefix(',')
                    .map(str::trim_start)
                    .and_then(|a| a.strip_prefix('"'))
                    .map(|m| m[..m.find('"').unwrap()].to_owned())
                    .unwrap_or_else(|| format!("{id}s"));
                out.push((id, Some(many)));
            } else {
                out.push((id, None));
            }
        }
        out
    }

    #[test]
    fn every_shown_string_is_in_every_catalogue() {
        let shown = shown_strings();
        assert!(shown.len() > 50, "the extraction finds the strings");
        let mut missing = Vec::new();
        for (lang, _) in LANGUAGES.iter().filter(|(l, _)| *l != "en") {
            let cat = catalogue(lang).expect("a catalogue for each language but English");
            for (id, plural, from) in &shown {
                let forms = cat.get(id.as_str());
                let ok = match (forms, plural) {
                    (Some(f), Some(_)) => f.len() >= 2 && f.iter().all(|s| !s.is_empty()),
                    (Some(f), None) => f.first().is_some_and(|s| !s.is_empty()),
                    (None, _) => false,
                };
                if !ok {
                    missing.push(format!("{lang}: {id:?} ({from})"));
                }
            }
            // A placeholder a translation drops or misspells would show a figure nowhere, or `{x}`.
            for (id, forms) in cat {
                for name in placeholders(id) {
                    for f in forms {
                        assert!(f.contains(&name), "{lang}: {f:?} lacks {name} of {id:?}");
                    }
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "not translated:\n{}",
            missing.join("\n")
        );
    }

    fn placeholders(s: &str) -> Vec<String> {
        s.match_indices('{')
            .filter_map(|(i, _)| {
                let end = s[i..].find('}')?;
                let name = &s[i + 1..i + end];
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
                    .then(|| s[i..=i + end].to_owned())
            })
            .filter(|p| p.len() > 2)
            .collect()
    }

    /// Text a template shows outside `_()`: its text between tags, and the attributes people read
    /// (`placeholder`, `aria-label`, `title`, `alt`), once template code and `<code>` are taken out. Words of two letters or
    /// more count; "SmartCourse" is a name and "KiB" a unit.
    fn untranslated(src: &str) -> Vec<String> {
        // A command in `<code>` is typed as it is, in any language.
        let mut src = src.to_owned();
        while let Some(i) = src.find("<code>") {
            let end = src[i..].find("</code>").map_or(src.len(), |e| i + e + 7);
            src.replace_range(i..end, " ");
        }
        let mut text = String::new();
        let mut rest = src.as_str();
        // Template code goes: `{{ … }}`, `{% … %}` and `{# … #}`.
        while let Some(i) = rest.find('{') {
            text.push_str(&rest[..i]);
            let close = match rest[i..].chars().nth(1) {
                Some('{') => "}}",
                Some('%') => "%}",
                Some('#') => "#}",
                _ => {
                    text.push('{');
                    rest = &rest[i + 1..];
                    continue;
                }
            };
            let end = rest[i..].find(close).expect("closed template code");
            rest = &rest[i + end + 2..];
        }
        text.push_str(rest);
        let mut shown = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find('<') {
            shown.push_str(&rest[..i]);
            shown.push(' ');
            let end = rest[i..].find('>').map_or(rest.len(), |e| i + e + 1);
            let tag = &rest[i..end];
            for attr in ["placeholder=\"", "aria-label=\"", "title=\"", "alt=\""] {
                if let Some(a) = tag.find(attr) {
                    let v = &tag[a + attr.len()..];
                    shown.push_str(&v[..v.find('"').unwrap_or(v.len())]);
                    shown.push(' ');
                }
            }
            rest = &rest[end..];
        }
        shown.push_str(rest);
        // Attributes written by a macro outside a tag (`aria-invalid="true"`) are not text.
        let mut words: Vec<&str> = Vec::new();
        for piece in shown.split_whitespace() {
            if !piece.contains("=\"") {
                words.push(piece);
            }
        }
        words
            .join(" ")
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| w.chars().count() >= 2 && !["SmartCourse", "KiB"].contains(w))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn templates_show_no_english_outside_the_catalogue() {
        assert_eq!(
            untranslated("<p title=\"Hi {{ x }}\">{{ _(\"Hello\") }} world {# note #}</p>"),
            ["Hi", "world"]
        );
        let mut found = Vec::new();
        for (name, t) in super::super::TEMPLATES.templates() {
            for w in untranslated(t.source()) {
                found.push(format!("{name}: {w}"));
            }
        }
        assert!(found.is_empty(), "text outside _():\n{}", found.join("\n"));
    }
}
