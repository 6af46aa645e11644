//! Native course packages: the demo course, export then import, and hostile or broken packages.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use smartcourse::accounts::Role;
use smartcourse::packages;

use crate::common::TestApp;

fn demo_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-course"))
}

/// A module's title with its lessons: (title, Markdown, files as (name, bytes)).
pub type ModuleSnapshot = (String, Vec<LessonSnapshot>);

/// A lesson's title, Markdown, and files as (name, bytes).
pub type LessonSnapshot = (String, String, Vec<(String, Vec<u8>)>);

/// A course as titles in order, with each lesson's Markdown and its files' bytes.
pub async fn snapshot(app: &TestApp, course: i64) -> Vec<ModuleSnapshot> {
    let admin = app.user(Role::Admin).await;
    let detail: Value = app
        .send(
            reqwest::Method::GET,
            &format!("/api/courses/{course}"),
            Some(&admin.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for m in detail["modules"].as_array().unwrap() {
        let mut lessons = Vec::new();
        for l in m["lessons"].as_array().unwrap() {
            let lesson: Value = app
                .send(
                    reqwest::Method::GET,
                    &format!("/api/lessons/{}", l["id"]),
                    Some(&admin.token),
                    None,
                )
                .await
                .json()
                .await
                .unwrap();
            let mut files = Vec::new();
            for a in lesson["attachments"].as_array().unwrap() {
                let bytes = app
                    .send(
                        reqwest::Method::GET,
                        a["url"].as_str().unwrap(),
                        Some(&admin.token),
                        None,
                    )
                    .await
                    .bytes()
                    .await
                    .unwrap();
                files.push((a["filename"].as_str().unwrap().to_owned(), bytes.to_vec()));
            }
            lessons.push((
                lesson["title"].as_str().unwrap().to_owned(),
                lesson["body_markdown"].as_str().unwrap().to_owned(),
                files,
            ));
        }
        out.push((m["title"].as_str().unwrap().to_owned(), lessons));
    }
    out
}

#[tokio::test]
async fn the_demo_course_imports_with_its_order_text_and_files() {
    let app = TestApp::spawn().await;
    let report = packages::import(&app.app, &demo_dir(), None, false)
        .await
        .unwrap();
    assert_eq!(report.title, "Fractions: a first course");
    assert_eq!(
        (report.modules, report.lessons, report.attachments),
        (2, 4, 2)
    );
    let s = snapshot(&app, report.course_id).await;
    assert_eq!(s[0].0, "What a fraction is");
    let titles: Vec<&str> = s
        .iter()
        .flat_map(|m| m.1.iter().map(|l| l.0.as_str()))
        .collect();
    assert_eq!(
        titles,
        [
            "Parts of a whole",
            "Halves, thirds and quarters",
            "Equivalent fractions",
            "Adding fractions with the same denominator"
        ]
    );
    let on_disk =
        std::fs::read_to_string(demo_dir().join("lessons/03-equivalent-fractions.md")).unwrap();
    assert_eq!(s[1].1[0].1, on_disk);
    let (name, bytes) = &s[0].1[1].2[0];
    assert_eq!(name, "worksheet-1.txt");
    assert_eq!(
        bytes,
        &std::fs::read(demo_dir().join("files/worksheet-1.txt")).unwrap()
    );
}

#[tokio::test]
async fn import_of_an_export_is_the_same_course() {
    let app = TestApp::spawn().await;
    let owner = app.user(Role::Instructor).await;
    let course = app.course(&owner, "Round trip").await;
    let lesson = app
        .lesson(
            &owner,
            course,
            "With a PDF",
            "# Title\n\nText with *emphasis* and $x^2$.\n",
        )
        .await;
    app.lesson(&owner, course, "Second", "More.").await;
    let pdf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/content/openedx-demo-Reach_Transcript.pdf"
    ))
    .unwrap();
    let r = app
        .upload(&owner, lesson, "transcript.pdf", pdf.clone())
        .await;
    assert_eq!(r.status(), 201);

    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("round-trip.zip");
    packages::native::export(&app.app, smartcourse::accounts::Actor::System, course, &zip)
        .await
        .unwrap();
    let report = packages::import(&app.app, &zip, Some(owner.email.clone()), false)
        .await
        .unwrap();
    assert_ne!(report.course_id, course);
    let (a, b) = (
        snapshot(&app, course).await,
        snapshot(&app, report.course_id).await,
    );
    assert_eq!(a, b);
    assert_eq!(b[0].1[0].2[0].1, pdf, "the file is byte-identical");
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

pub async fn course_count(app: &TestApp) -> i64 {
    app.app
        .db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM courses", [], |r| r.get(0))?))
        .await
        .unwrap()
}

#[tokio::test]
async fn broken_and_hostile_packages_are_refused_with_reasons_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let toml =
        |lessons: &str| format!("format = 1\ntitle = \"T\"\n[[module]]\ntitle = \"M\"\n{lessons}");
    /// (name, archive entries, what the refusal must mention)
    type Case<'a> = (&'a str, Vec<(&'a str, Vec<u8>)>, &'a str);
    let cases: Vec<Case> = vec![
        ("no-manifest", vec![("lessons/a.md", b"x".to_vec())], "no course.toml"),
        (
            "missing-files",
            vec![("course.toml", toml("[[module.lesson]]\ntitle = \"A\"\nfile = \"lessons/a.md\"\nfiles = [\"files/gone.pdf\"]\n").into_bytes())],
            "2 problem(s)",
        ),
        ("typo", vec![("course.toml", b"format = 1\ntitle = \"T\"\ndescripton = \"x\"\n".to_vec())], "descripton"),
        ("newer", vec![("course.toml", b"format = 9\ntitle = \"T\"\n".to_vec())], "newer"),
        (
            "escape",
            vec![
                ("course.toml", toml("[[module.lesson]]\ntitle = \"A\"\nfile = \"../../etc/passwd\"\n").into_bytes()),
            ],
            "outside the package",
        ),
        (
            "zip-slip",
            vec![("course.toml", toml("").into_bytes()), ("../evil.txt", b"x".to_vec())],
            "outside the package",
        ),
        (
            "disguised",
            vec![
                ("course.toml", toml("[[module.lesson]]\ntitle = \"A\"\nfile = \"a.md\"\nfiles = [\"notes.pdf\"]\n").into_bytes()),
                ("a.md", b"# A".to_vec()),
                ("notes.pdf", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec()),
            ],
            "notes.pdf",
        ),
    ];
    let blobs_before = app.stored_hashes().await.len();
    for (name, entries, expect) in cases {
        let path = dir.path().join(format!("{name}.zip"));
        let borrowed: Vec<(&str, &[u8])> =
            entries.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        write_zip(&path, &borrowed);
        let err = packages::import(&app.app, &path, None, false)
            .await
            .expect_err(name);
        assert_eq!(err.code(), "invalid_input", "{name}: {err}");
        assert!(err.to_string().contains(expect), "{name}: {err}");
    }
    let not_a_zip = dir.path().join("garbage.zip");
    std::fs::write(&not_a_zip, b"this is not a zip").unwrap();
    assert!(
        packages::import(&app.app, &not_a_zip, None, false)
            .await
            .unwrap_err()
            .to_string()
            .contains("not a folder or a zip")
    );

    assert_eq!(
        course_count(&app).await,
        0,
        "a failed import leaves no course behind"
    );
    let blobs_after = app.stored_hashes().await.len();
    assert_eq!(blobs_before, blobs_after, "nor any stored content");
}

#[tokio::test]
async fn import_can_publish_and_refuses_a_student_owner() {
    let app = TestApp::spawn().await;
    let student = app.user(Role::Student).await;
    let err = packages::import(&app.app, &demo_dir(), Some(student.email.clone()), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("student"), "{err}");
    let report = packages::import(&app.app, &demo_dir(), None, true)
        .await
        .unwrap();
    assert!(report.workflow_id.is_some());
    app.drain_jobs().await;
    let c: Value = app
        .get(&format!("/api/courses/{}", report.course_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "published");
    assert_eq!(
        c["owner_name"], "SmartCourse",
        "with no admin yet, a built-in account owns it"
    );
}

fn cartridge(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../shared/samples/common-cartridge/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

async fn lesson_titles(app: &TestApp, course: i64) -> Vec<(String, Vec<String>)> {
    snapshot(app, course)
        .await
        .into_iter()
        .map(|(m, ls)| (m, ls.into_iter().map(|l| l.0).collect()))
        .collect()
}

#[tokio::test]
async fn common_cartridges_import_with_their_titles_and_order() {
    let app = TestApp::spawn().await;

    // Organization tree with a module: its order.
    let r = packages::import(&app.app, &cartridge("latex.imscc"), None, false)
        .await
        .unwrap();
    assert_eq!(r.title, "LaTeX Equations");
    assert_eq!(
        lesson_titles(&app, r.course_id).await,
        [(
            "Example Module".to_owned(),
            vec!["Page 1".to_owned(), "Page 2".to_owned()]
        )]
    );
    let s = snapshot(&app, r.course_id).await;
    assert!(
        s[0].1[0].1.contains("This is a test"),
        "page text is imported: {}",
        s[0].1[0].1
    );

    // An organization with no items: order from the resources.
    let r = packages::import(&app.app, &cartridge("multiple-pages.imscc"), None, false)
        .await
        .unwrap();
    assert_eq!(r.title, "Cartridge With Multiple Pages");
    assert_eq!(
        lesson_titles(&app, r.course_id).await,
        [(
            "Lessons".to_owned(),
            vec![
                "First Page".to_owned(),
                "Second Page".to_owned(),
                "Third Page".to_owned()
            ]
        )]
    );
    let s = snapshot(&app, r.course_id).await;
    assert!(s[0].1[1].1.contains("Link to"), "{}", s[0].1[1].1);

    let r = packages::import(&app.app, &cartridge("single-page.imscc"), None, false)
        .await
        .unwrap();
    assert_eq!(r.title, "The Life of Paul");
    assert_eq!(r.lessons, 1);

    // Canvas export with an empty <organizations/> and a syllabus the archive lacks: imported, and the gap
    // reported rather than crashing.
    let r = packages::import(
        &app.app,
        &cartridge("canvas_cc_gem_course.imscc"),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.title, "Canvas CC Gem Course");
    let titles = lesson_titles(&app, r.course_id).await;
    assert_eq!(titles[0].1.len(), 3, "{titles:?}");
    assert!(
        titles[0].1[0].starts_with("Assignment: Course with Known Submission Type"),
        "{titles:?}"
    );
    assert!(
        r.skipped
            .iter()
            .any(|s| s.contains("syllabus.html is missing")),
        "{:?}",
        r.skipped
    );
}

#[tokio::test]
async fn scorm_packages_import_their_item_tree_with_the_text_of_each_page() {
    let app = TestApp::spawn().await;
    let scorm = |name: &str| {
        PathBuf::from(format!(
            "{}/../shared/samples/scorm/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    };
    let r = packages::import(
        &app.app,
        &scorm("golf_ContentPackagingOneFilePerSCO_SCORM12.zip"),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.title, "Golf Explained - CP One File Per SCO");
    let titles = lesson_titles(&app, r.course_id).await;
    let modules: Vec<&str> = titles.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        &modules[..3],
        ["Playing the Game", "Etiquette", "Handicapping"]
    );
    assert_eq!(&titles[0].1[..3], ["How to Play", "Par", "Keeping Score"]);
    let s = snapshot(&app, r.course_id).await;
    assert!(
        s[0].1[1].1.len() > 100 && !s[0].1[1].1.contains("<script"),
        "{}",
        s[0].1[1].1
    );

    let r = packages::import(
        &app.app,
        &scorm("golf_RuntimeBasicCalls_SCORM20043rdEdition.zip"),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.title, "Golf Explained - Run-time Basic Calls");
    assert_eq!(r.lessons, 1);
}

/// A SCORM 1.2 package of one lesson whose launch page is `p.html`, with `files` beside it (kept with the
/// course, as the page may load them). Stored without compression: what is tested is what the import keeps.
fn scorm_with_files(path: &Path, files: &[(String, Vec<u8>)]) {
    let manifest = r#"<manifest identifier="m" xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
<metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
<organizations default="o"><organization identifier="o"><title>T</title>
<item identifier="i" identifierref="r"><title>Page</title></item></organization></organizations>
<resources><resource identifier="r" href="p.html" adlcp:scormtype="sco"/></resources></manifest>"#;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        ("imsmanifest.xml".to_owned(), manifest.as_bytes().to_vec()),
        (
            "p.html".to_owned(),
            b"<html><body><p>A page.</p></body></html>".to_vec(),
        ),
    ]
    .iter()
    .chain(files)
    {
        zip.start_file(name.as_str(), stored).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// `n` files of `mib` MiB each, all different (`a.bin`, `b.bin`, …, in the order the import stores them).
fn big_files(n: u8, mib: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let name = format!("{}.bin", char::from(b'a' + i));
            (name, vec![i; mib << 20])
        })
        .collect()
}

/// The files a SCORM package keeps count against the course's storage limit as they are stored: a package
/// whose files go past it is refused naming the limit, and what it had stored so far (more than one batch
/// of the content store's writes) is taken out again. Without the count the import succeeded, 45 MiB in a
/// course limited to 40.
#[tokio::test]
async fn a_package_whose_kept_files_go_past_the_course_limit_is_refused_and_leaves_nothing() {
    let app = TestApp::spawn_with(|c| c.uploads.max_course_bytes = 40 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.zip");
    scorm_with_files(&path, &big_files(5, 9));
    let before = app.stored_hashes().await;
    let err = packages::import(&app.app, &path, None, false)
        .await
        .expect_err("45 MiB of files in a course limited to 40 MiB");
    assert_eq!(err.code(), "too_large", "{err}");
    assert!(
        err.to_string().contains("40 MiB") && err.to_string().contains("max_course_bytes"),
        "{err}"
    );
    assert_eq!(course_count(&app).await, 0, "no half-imported course");
    assert_eq!(app.stored_hashes().await, before, "no blob left behind");

    // Within the limit, the same kind of package imports, and its files then count for attachments too:
    // 36 MiB kept leaves no room for a 5 MiB PDF.
    let owner = app.user(Role::Instructor).await;
    let path = dir.path().join("fits.zip");
    scorm_with_files(&path, &big_files(4, 9));
    let report = packages::import(&app.app, &path, Some(owner.email.clone()), false)
        .await
        .unwrap();
    assert_eq!(report.package_files, 6);
    let course = report.course_id;
    let lesson: i64 = app
        .app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT id FROM lessons WHERE course_id = ?1",
                [course],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(5 << 20, b'x');
    crate::common::assert_error(
        app.upload(&owner, lesson, "notes.pdf", pdf).await,
        413,
        "too_large",
    )
    .await;
}

/// A package that fails half-way through storing its kept files (here a file over the per-file limit, after
/// more than a batch of others were written to the content store) leaves no blob behind: before, the files
/// stored before the bad one stayed in the store with nothing referring to them.
#[tokio::test]
async fn a_package_failing_half_way_through_its_files_leaves_no_orphan_blobs() {
    let app = TestApp::spawn_with(|c| c.uploads.max_file_bytes = 10 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.zip");
    let mut files = big_files(4, 9);
    files.push(("z-too-big.bin".to_owned(), vec![7; 11 << 20]));
    scorm_with_files(&path, &files);
    let before = app.stored_hashes().await;
    let err = packages::import(&app.app, &path, None, false)
        .await
        .expect_err("a file over the per-file limit");
    assert_eq!(err.code(), "too_large", "{err}");
    assert!(err.to_string().contains("z-too-big.bin"), "{err}");
    assert_eq!(course_count(&app).await, 0);
    assert_eq!(app.stored_hashes().await, before, "no blob left behind");
}
