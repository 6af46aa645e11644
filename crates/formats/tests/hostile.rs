//! Hostile packages: small files crafted to make a reader run out of memory or time. Each is built here (no
//! large file in the repository), read through the same `Source::open` and reader the import uses, and must be
//! refused with an error that names the limit it went over, within seconds.
//!
//! Where the default budget would take a large package to reach, a test lowers it through [`Limits`]: what is
//! tested is that the count is kept as the package is read, not the figure.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use smartcourse_formats::{Error, Limits, Package, Result, Source, cc, moodle, native, olx, scorm};

/// How long a refusal may take. Generous for a debug build on a busy machine; without the budgets these
/// packages take minutes, or the machine's memory.
const QUICKLY: Duration = Duration::from_secs(20);

/// Runs `read` on a thread and waits at most [`QUICKLY`]: a test of a hang must fail, not hang itself.
fn quickly(read: impl FnOnce() -> Result<Package> + Send + 'static) -> Result<Package> {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    let out = rx
        .recv_timeout(QUICKLY)
        .unwrap_or_else(|_| panic!("still reading after {QUICKLY:?}"));
    eprintln!("refused in {:?}", started.elapsed());
    out
}

/// The error `read` ends with, checked for its kind and for naming the limit (`words`).
fn refused(out: Result<Package>, code: &str, words: &str) -> Error {
    let e = match out {
        Ok(p) => panic!(
            "read a hostile package: {} module(s), {} lesson(s)",
            p.modules.len(),
            p.modules.iter().map(|m| m.lessons.len()).sum::<usize>()
        ),
        Err(e) => e,
    };
    assert_eq!(e.code(), code, "{e}");
    assert!(
        e.to_string().contains(words),
        "{e:?} does not say {words:?}"
    );
    e
}

type Files = Vec<(String, Vec<u8>)>;

fn file(name: &str, bytes: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (name.to_owned(), bytes.into())
}

fn write_dir(dir: &Path, files: &Files) {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn write_zip(path: &Path, files: &Files) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn write_tar_gz(path: &Path, files: &Files) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// A package written by `write` into a scratch folder, opened as the import opens it. The folder lives as
/// long as the source needs it (moved into the reading thread with it).
struct Opened {
    source: Source,
    _dir: tempfile::TempDir,
}

fn open(limits: &Limits, write: impl FnOnce(&Path) -> std::path::PathBuf) -> Result<Opened> {
    let dir = tempfile::tempdir().unwrap();
    let package = write(dir.path());
    let source = Source::open(&package, limits, &dir.path().join("scratch"))?.descend(&[
        "course.toml",
        "imsmanifest.xml",
        "moodle_backup.xml",
        "course.xml",
    ]);
    Ok(Opened { source, _dir: dir })
}

fn in_dir(files: Files) -> impl FnOnce(&Path) -> std::path::PathBuf {
    move |dir| {
        let root = dir.join("package");
        write_dir(&root, &files);
        root
    }
}

// ---- Open edX OLX: pointer graphs ----

/// An export down to one vertical, whose file is `vertical`; `extra` are more files.
fn olx_export(vertical: String, extra: Files) -> Files {
    let mut files = vec![
        file(
            "course/course.xml",
            r#"<course url_name="c" org="o" course="x"/>"#,
        ),
        file(
            "course/course/c.xml",
            r#"<course display_name="Bomb"><chapter url_name="ch"/></course>"#,
        ),
        file(
            "course/chapter/ch.xml",
            r#"<chapter display_name="C"><sequential url_name="s"/></chapter>"#,
        ),
        file(
            "course/sequential/s.xml",
            r#"<sequential display_name="S"><vertical url_name="v"/></sequential>"#,
        ),
        file("course/vertical/v.xml", vertical),
    ];
    files.extend(extra);
    files
}

#[test]
fn an_olx_vertical_pointing_at_itself_is_a_loop_not_a_hang() {
    // 600 bytes: each of 30 children is the vertical again. Followed blindly to the old depth limit, that is
    // 30^12 visits.
    let vertical = format!(
        r#"<vertical display_name="Loop">{}</vertical>"#,
        r#"<vertical url_name="v"/>"#.repeat(30)
    );
    let files = olx_export(vertical, vec![]);
    let limits = Limits::default();
    let out = quickly(move || {
        let p = open(&limits, |dir| {
            let path = dir.join("loop.tar.gz");
            write_tar_gz(&path, &files);
            path
        })?;
        olx::read(&p.source)
    });
    refused(out, "invalid_input", "in a loop (vertical v)");
}

#[test]
fn an_olx_diamond_of_verticals_is_stopped_by_the_budget() {
    // No loop, but each of 8 levels names the next 20 times: 20^8 paths down to one html component.
    let levels = ["v", "a", "b", "c", "d", "e", "f", "g", "h"];
    let mut extra = Vec::new();
    for pair in levels[1..].windows(2) {
        extra.push(file(
            &format!("course/vertical/{}.xml", pair[0]),
            format!(
                "<vertical>{}</vertical>",
                format!(r#"<vertical url_name="{}"/>"#, pair[1]).repeat(20)
            ),
        ));
    }
    extra.push(file(
        "course/vertical/h.xml",
        r#"<vertical><html url_name="p"/></vertical>"#,
    ));
    extra.push(file("course/html/p.xml", r#"<html filename="p"/>"#));
    extra.push(file("course/html/p.html", "<p>Hello</p>"));
    let files = olx_export(
        format!(
            "<vertical>{}</vertical>",
            r#"<vertical url_name="a"/>"#.repeat(20)
        ),
        extra,
    );
    let limits = Limits {
        max_package_reads: 2_000,
        ..Limits::default()
    };
    let out = quickly(move || olx::read(&open(&limits, in_dir(files))?.source));
    refused(out, "too_large", "more than 2000 times");
}

// ---- SmartCourse packages: one file named by every lesson ----

fn native_manifest(lessons: usize, file: impl Fn(usize) -> String) -> String {
    let mut toml = "format = 1\ntitle = \"Bomb\"\n[[module]]\ntitle = \"M\"\n".to_owned();
    for i in 0..lessons {
        toml.push_str(&format!(
            "[[module.lesson]]\ntitle = \"L{i}\"\nfile = \"{}\"\n",
            file(i)
        ));
    }
    toml
}

#[test]
fn a_lesson_file_over_a_mebibyte_is_refused_while_reading() {
    // 50 lessons name one 40 MB Markdown file (about 40 KB zipped): read once each, 2 GB of lesson text.
    let files = vec![
        file("course.toml", native_manifest(50, |_| "big.md".into())),
        file("big.md", vec![b'a'; 40_000_000]),
    ];
    let limits = Limits::default();
    let out = quickly(move || {
        let p = open(&limits, |dir| {
            let path = dir.join("big.zip");
            write_zip(&path, &files);
            assert!(std::fs::metadata(&path).unwrap().len() < 200_000);
            path
        })?;
        native::read(&p.source)
    });
    refused(out, "too_large", "more than 1 MiB of text");
}

#[test]
fn a_file_named_by_every_lesson_counts_each_time_it_is_unpacked() {
    // Under the lesson limit, but named 300 times: 270 MB unpacked from a 1 MB zip.
    let files = vec![
        file("course.toml", native_manifest(300, |_| "page.md".into())),
        file("page.md", vec![b'a'; 900 * 1024]),
    ];
    let limits = Limits {
        max_package_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let out = quickly(move || {
        let p = open(&limits, |dir| {
            let path = dir.join("repeat.zip");
            write_zip(&path, &files);
            path
        })?;
        native::read(&p.source)
    });
    refused(out, "too_large", "this package unpacks to more than 64 MiB");
}

/// Rewrites the uncompressed size of every `.md` entry, in its local header and in the central directory,
/// to `size`: the archive then claims to be tiny.
fn lie_about_sizes(zip: &mut [u8], size: u32) {
    let u16_at = |z: &[u8], at: usize| u16::from_le_bytes([z[at], z[at + 1]]) as usize;
    let u32_at =
        |z: &[u8], at: usize| u32::from_le_bytes(z[at..at + 4].try_into().unwrap()) as usize;
    let end = zip.len() - 22;
    assert_eq!(&zip[end..end + 4], b"PK\x05\x06", "a comment-less archive");
    let (count, mut central) = (u16_at(zip, end + 10), u32_at(zip, end + 16));
    for _ in 0..count {
        assert_eq!(&zip[central..central + 4], b"PK\x01\x02");
        let (name_len, extra_len, comment_len) = (
            u16_at(zip, central + 28),
            u16_at(zip, central + 30),
            u16_at(zip, central + 32),
        );
        let name = zip[central + 46..central + 46 + name_len].to_vec();
        let local = u32_at(zip, central + 42);
        if name.ends_with(b".md") {
            zip[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
            zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
        }
        central += 46 + name_len + extra_len + comment_len;
    }
}

#[test]
fn a_zip_whose_entries_lie_about_their_size_is_counted_as_it_inflates() {
    // 20 lessons of 900 KiB each, every entry claiming 10 bytes: the archive's own sums say it is tiny.
    let mut files = vec![file(
        "course.toml",
        native_manifest(20, |i| format!("l{i}.md")),
    )];
    for i in 0..20 {
        files.push(file(&format!("l{i}.md"), vec![b'a' + i as u8; 900 * 1024]));
    }
    let limits = Limits {
        max_package_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let out = quickly(move || {
        let p = open(&limits, |dir| {
            let path = dir.join("liar.zip");
            write_zip(&path, &files);
            let mut bytes = std::fs::read(&path).unwrap();
            lie_about_sizes(&mut bytes, 10);
            std::fs::write(&path, bytes).unwrap();
            // The archive reads as one whose entries are 10 bytes.
            let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
            for i in 1..archive.len() {
                assert_eq!(archive.by_index(i).unwrap().size(), 10);
            }
            path
        })?;
        native::read(&p.source)
    });
    refused(out, "too_large", "this package unpacks to more than 8 MiB");
}

// ---- XML formats: breadth ----

/// A page of `bytes` of plain words.
fn page(bytes: usize) -> String {
    format!(
        "<html><body><p>{}</p></body></html>",
        "word ".repeat(bytes / 5)
    )
}

const XML_NODES: u64 = 100_000;

fn few_nodes() -> Limits {
    Limits {
        max_package_xml_nodes: XML_NODES,
        ..Limits::default()
    }
}

fn cc_manifest(items: &str) -> String {
    format!(
        r#"<manifest identifier="m" xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1">
<metadata><schema>IMS Common Cartridge</schema></metadata>
<organizations><organization identifier="o"><item identifier="root">{items}</item></organization></organizations>
<resources><resource identifier="r" type="webcontent" href="p.html"><file href="p.html"/></resource></resources>
</manifest>"#
    )
}

fn read_manifest(
    files: Files,
    limits: Limits,
    read: fn(&Source, &str) -> Result<Package>,
) -> Result<Package> {
    quickly(move || {
        let p = open(&limits, in_dir(files))?;
        let manifest = p.source.read_text("imsmanifest.xml")?;
        read(&p.source, &manifest)
    })
}

#[test]
fn a_cartridge_of_a_million_elements_is_stopped_while_parsing() {
    let items = r#"<item identifier="x"/>"#.repeat(300_000);
    let files = vec![
        file("imsmanifest.xml", cc_manifest(&items)),
        file("p.html", page(100)),
    ];
    let out = read_manifest(files, few_nodes(), cc::read);
    refused(out, "too_large", "more than 100000 XML elements");
}

#[test]
fn a_cartridge_naming_one_page_for_every_lesson_is_stopped_by_the_budget() {
    // 20,000 items, one 64 KB page: 1.3 GB of lesson text from 700 KB of manifest.
    let items = r#"<item identifier="i" identifierref="r"><title>L</title></item>"#.repeat(20_000);
    let files = vec![
        file("imsmanifest.xml", cc_manifest(&items)),
        file("p.html", page(64 * 1024)),
    ];
    let out = read_manifest(files, Limits::default(), cc::read);
    refused(out, "too_large", "more than 256 MiB of text");
}

fn scorm_manifest(items: &str) -> String {
    format!(
        r#"<manifest identifier="m" xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
<metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
<organizations default="o"><organization identifier="o"><title>T</title>{items}</organization></organizations>
<resources><resource identifier="r" href="p.html" adlcp:scormtype="sco"/></resources>
</manifest>"#
    )
}

#[test]
fn a_scorm_manifest_of_a_million_elements_is_stopped_while_parsing() {
    let items = r#"<item identifier="x"/>"#.repeat(300_000);
    let files = vec![
        file("imsmanifest.xml", scorm_manifest(&items)),
        file("p.html", page(100)),
    ];
    let out = read_manifest(files, few_nodes(), scorm::read);
    refused(out, "too_large", "more than 100000 XML elements");
}

#[test]
fn a_scorm_manifest_naming_one_page_for_every_lesson_is_stopped_by_the_budget() {
    let items = r#"<item identifier="i" identifierref="r"><title>L</title></item>"#.repeat(20_000);
    let files = vec![
        file("imsmanifest.xml", scorm_manifest(&items)),
        file("p.html", page(64 * 1024)),
    ];
    // A SCORM lesson's text is extracted from its page, slow in a debug build: a lower budget reaches the
    // same check in a few hundred lessons.
    let limits = Limits {
        max_package_text_bytes: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let out = read_manifest(files, limits, scorm::read);
    refused(out, "too_large", "more than 16 MiB of text");
}

/// A Moodle course backup whose one section holds `activities` (XML), each a page in `activities/page_1`.
fn moodle_backup(activities: &str, content: &str) -> Files {
    vec![
        file(
            "moodle_backup.xml",
            format!(
                "<moodle_backup><information><backup_release>4.0</backup_release><contents>\
                 <activities>{activities}</activities>\
                 <sections><section><sectionid>1</sectionid><directory>sections/section_1</directory></section></sections>\
                 </contents></information></moodle_backup>"
            ),
        ),
        file(
            "sections/section_1/section.xml",
            "<section id=\"1\"><number>1</number><name>S</name><sequence></sequence></section>",
        ),
        file(
            "activities/page_1/page.xml",
            format!(
                r#"<activity><page id="1"><name>P</name><content>{content}</content></page></activity>"#
            ),
        ),
    ]
}

fn read_moodle(files: Files, limits: Limits) -> Result<Package> {
    quickly(move || moodle::read(&open(&limits, in_dir(files))?.source))
}

#[test]
fn a_moodle_backup_of_a_million_elements_is_stopped_while_parsing() {
    let files = moodle_backup(&"<activity/>".repeat(300_000), "Hello");
    let out = read_moodle(files, few_nodes());
    refused(out, "too_large", "more than 100000 XML elements");
}

#[test]
fn a_moodle_backup_naming_one_page_for_every_activity_is_stopped_by_the_budget() {
    let activities: String = (0..20_000)
        .map(|i| {
            format!(
                "<activity><moduleid>{i}</moduleid><sectionid>1</sectionid><modulename>page</modulename>\
                 <title>P</title><directory>activities/page_1</directory></activity>"
            )
        })
        .collect();
    let files = moodle_backup(&activities, &"word ".repeat(64 * 1024 / 5));
    let out = read_moodle(files, Limits::default());
    refused(out, "too_large", "more than 256 MiB of text");
}

/// A page linking each of `n` files by a path that is not theirs (so each link falls back to the file's name),
/// plus `missing` links to files the backup lacks; the files are in `files.xml`, the activity's `inforef.xml`
/// and the backup's `files/` folder.
fn moodle_page_linking_every_file(n: usize, missing: usize) -> Files {
    let hash = |i: usize| format!("{i:040x}");
    let links: String = (0..n)
        .map(|i| format!("@@PLUGINFILE@@/moved/f{i}.png "))
        .chain((0..missing).map(|i| format!("@@PLUGINFILE@@/gone{i}.png ")))
        .collect();
    let mut files = moodle_backup(
        "<activity><moduleid>1</moduleid><sectionid>1</sectionid><modulename>page</modulename>\
         <title>P</title><directory>activities/page_1</directory></activity>",
        &links,
    );
    let listed: String = (0..n)
        .map(|i| {
            format!(
                "<file id=\"{i}\"><contenthash>{}</contenthash><component>mod_page</component>\
                 <filearea>content</filearea><itemid>0</itemid><filepath>/</filepath>\
                 <filename>f{i}.png</filename></file>",
                hash(i)
            )
        })
        .collect();
    files.push(file("files.xml", format!("<files>{listed}</files>")));
    let refs: String = (0..n)
        .map(|i| format!("<file><id>{i}</id></file>"))
        .collect();
    files.push(file(
        "activities/page_1/inforef.xml",
        format!("<inforef><fileref>{refs}</fileref></inforef>"),
    ));
    for i in 0..n {
        let h = hash(i);
        files.push(file(&format!("files/{}/{h}", &h[..2]), "x"));
    }
    files
}

/// `@@PLUGINFILE@@` links used to be resolved by a pass over the activity's files for each link (formatting
/// each file's path on the way), and the attachments and missing-file reasons already met were looked for in
/// lists: 15,000 links to 15,000 files cost over 10⁸ formatted paths and compared strings, minutes in a debug
/// build. Each link is now one lookup, so the page reads within [`QUICKLY`] with every link right.
#[test]
fn a_moodle_page_linking_thousands_of_files_is_rewritten_in_linear_time() {
    const N: usize = 15_000;
    const MISSING: usize = 3_000;
    let files = moodle_page_linking_every_file(N, MISSING);
    let package = read_moodle(files, Limits::default()).expect("the page reads");
    let lesson = &package.modules[0].lessons[0];
    assert_eq!(
        lesson.attachments.len(),
        N,
        "each linked file attached once"
    );
    assert_eq!(
        lesson.body.matches("sc-file:files/").count(),
        N,
        "each link points at its stored file"
    );
    assert!(
        lesson
            .body
            .contains(&format!("sc-file:files/00/{:040x} ", 7))
    );
    assert_eq!(lesson.body.matches("#missing").count(), MISSING);
    let missing: Vec<_> = package
        .skipped
        .iter()
        .filter(|s| s.contains("(linked from a page) is missing"))
        .collect();
    assert_eq!(missing.len(), MISSING, "one reason per missing file");
}
