//! Moodle course backups, Open edX OLX exports and Kolibri channels: the real samples in ../shared/samples,
//! plus small packages written here in each platform's layout for what the samples do not contain (the real
//! Moodle course backup holds a single activity of an unknown type; the real OLX export has no transcripts).

use std::path::{Path, PathBuf};

use serde_json::Value;
use smartcourse::accounts::Role;
use smartcourse::packages;

use crate::common::TestApp;
use crate::packages::{LessonSnapshot, ModuleSnapshot, course_count, snapshot};

/// A course as [`snapshot`] reads it.
type Outline = Vec<ModuleSnapshot>;

fn sample(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/")).join(rel)
}

fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// SHA-1 in hex, as Moodle names stored files (computed with Python's hashlib: no SHA-1 crate in the tree).
fn sha1_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, bytes).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import hashlib,sys; print(hashlib.sha1(open(sys.argv[1],'rb').read()).hexdigest())")
        .arg(&f)
        .output()
        .expect("python3");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn scratch_left(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(app.app.data.join("tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("package-"))
        .collect()
}

#[tokio::test]
async fn the_real_moodle_samples_are_refused_with_what_they_hold() {
    let app = TestApp::spawn().await;
    // A course backup whose one activity is a StudentQuiz, a plugin SmartCourse does not read.
    let e = packages::import(
        &app.app,
        &sample("moodle/backup-moodle2-course-with-studentquiz-m400.mbz"),
        None,
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("Moodle 4.0 course backup") && e.contains("Course Four"),
        "{e}"
    );
    assert!(e.contains("“StudentQuiz 1” (studentquiz)"), "{e}");
    // An activity backup is not a course.
    let e = packages::import(
        &app.app,
        &sample("moodle/quiz_archiver-referencequiz-activity.mbz"),
        None,
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("activity backup") && e.contains("not a course backup"),
        "{e}"
    );
    assert_eq!(course_count(&app).await, 0);
    assert!(
        scratch_left(&app).is_empty(),
        "unpacked archives are removed"
    );
}

/// A Moodle course backup in Moodle's layout: a page with an embedded file, a label, a book whose chapters
/// are stored out of order, a lesson whose pages link out of id order with a question between, a URL, a file
/// resource, a forum (not imported), and a sequence naming an activity left out of the backup.
fn moodle_backup(root: &Path, pdf: &[u8], srt: &[u8]) {
    let pdf_hash = sha1_hex(pdf);
    let srt_hash = sha1_hex(srt);
    write(root, &format!("files/{}/{pdf_hash}", &pdf_hash[..2]), pdf);
    write(root, &format!("files/{}/{srt_hash}", &srt_hash[..2]), srt);
    let activities = [
        ("11", "0", "page", "Welcome page"),
        ("12", "0", "label", "Label"),
        ("13", "1", "book", "Leaf book"),
        ("14", "1", "lesson", "Photosynthesis lesson"),
        ("15", "1", "url", "Botanic garden"),
        ("16", "1", "resource", "Lecture subtitles"),
        ("17", "1", "forum", "Questions forum"),
    ];
    let list: String = activities
        .iter()
        .map(|(id, s, m, t)| {
            format!(
                "<activity><moduleid>{id}</moduleid><sectionid>{}</sectionid><modulename>{m}</modulename>\
                 <title>{t}</title><directory>activities/{m}_{id}</directory></activity>",
                if *s == "0" { "100" } else { "101" }
            )
        })
        .collect();
    write(
        root,
        "moodle_backup.xml",
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<moodle_backup><information><name>botany.mbz</name><backup_release>4.1</backup_release>
<original_course_fullname>Old name</original_course_fullname>
<details><detail backup_id="x"><type>course</type><format>moodle2</format></detail></details>
<contents><activities>{list}</activities>
<sections>
 <section><sectionid>100</sectionid><title>0</title><directory>sections/section_100</directory></section>
 <section><sectionid>101</sectionid><title>1</title><directory>sections/section_101</directory></section>
 <section><sectionid>102</sectionid><title>2</title><directory>sections/section_102</directory></section>
</sections>
<course><courseid>3</courseid><title>Botany</title><directory>course</directory></course></contents>
</information></moodle_backup>"#
        ),
    );
    write(
        root,
        "course/course.xml",
        "<course id=\"3\"><shortname>BOT</shortname><fullname>Botany for beginners</fullname>\
         <summary>&lt;p&gt;Plants &amp;amp; how they grow.&lt;/p&gt;</summary><format>topics</format></course>",
    );
    write(
        root,
        "sections/section_100/section.xml",
        "<section id=\"100\"><number>0</number><name>$@NULL@$</name>\
         <summary>&lt;p&gt;Welcome to botany.&lt;/p&gt;</summary><sequence>12,11</sequence></section>",
    );
    write(
        root,
        "sections/section_101/section.xml",
        "<section id=\"101\"><number>1</number><name>Leaves</name><summary></summary>\
         <sequence>13,99,14,15,16,17</sequence></section>",
    );
    write(
        root,
        "sections/section_102/section.xml",
        "<section id=\"102\"><number>2</number><name>$@NULL@$</name><summary></summary><sequence></sequence></section>",
    );
    write(
        root,
        "files.xml",
        format!(
            r#"<files>
<file id="1"><contenthash>{pdf_hash}</contenthash><component>mod_page</component><filearea>content</filearea><itemid>0</itemid><filepath>/</filepath><filename>leaf diagram.pdf</filename></file>
<file id="2"><contenthash>da39a3ee5e6b4b0d3255bfef95601890afd80709</contenthash><component>mod_page</component><filearea>content</filearea><itemid>0</itemid><filepath>/</filepath><filename>.</filename></file>
<file id="3"><contenthash>{srt_hash}</contenthash><component>mod_resource</component><filearea>content</filearea><itemid>0</itemid><filepath>/</filepath><filename>lecture-en.srt</filename></file>
</files>"#
        ),
    );
    let inforef = |ids: &[&str]| {
        let files: String = ids
            .iter()
            .map(|i| format!("<file><id>{i}</id></file>"))
            .collect();
        format!("<inforef><fileref>{files}</fileref></inforef>")
    };
    write(root, "activities/page_11/inforef.xml", inforef(&["1", "2"]));
    write(
        root,
        "activities/page_11/page.xml",
        "<activity id=\"1\" moduleid=\"11\" modulename=\"page\"><page id=\"1\"><name>Welcome page</name>\
         <intro></intro><content>&lt;p&gt;Look at the &lt;a href=\"@@PLUGINFILE@@/leaf%20diagram.pdf\"&gt;leaf diagram&lt;/a&gt;.&lt;/p&gt;</content>\
         <contentformat>1</contentformat></page></activity>",
    );
    write(
        root,
        "activities/label_12/label.xml",
        "<activity><label id=\"1\"><name>Read this first</name><intro>&lt;p&gt;Read this first: bring a leaf.&lt;/p&gt;</intro></label></activity>",
    );
    write(
        root,
        "activities/book_13/book.xml",
        "<activity><book id=\"1\"><name>Leaf book</name><intro></intro><chapters>\
         <chapter id=\"8\"><pagenum>2</pagenum><subchapter>0</subchapter><title>Veins</title><content>&lt;p&gt;Veins carry water.&lt;/p&gt;</content><hidden>0</hidden></chapter>\
         <chapter id=\"7\"><pagenum>1</pagenum><subchapter>0</subchapter><title>Shapes</title><content>&lt;p&gt;Leaves come in many shapes.&lt;/p&gt;</content><hidden>0</hidden></chapter>\
         <chapter id=\"9\"><pagenum>3</pagenum><subchapter>0</subchapter><title>Draft</title><content>hidden text</content><hidden>1</hidden></chapter>\
         </chapters></book></activity>",
    );
    write(
        root,
        "activities/lesson_14/lesson.xml",
        "<activity><lesson id=\"1\"><name>Photosynthesis lesson</name><pages>\
         <page id=\"30\"><prevpageid>31</prevpageid><nextpageid>0</nextpageid><qtype>20</qtype><title>Sugar</title><contents>&lt;p&gt;The leaf makes sugar.&lt;/p&gt;</contents></page>\
         <page id=\"31\"><prevpageid>32</prevpageid><nextpageid>30</nextpageid><qtype>3</qtype><title>Quiz</title><contents>Which gas?</contents></page>\
         <page id=\"32\"><prevpageid>0</prevpageid><nextpageid>31</nextpageid><qtype>20</qtype><title>Light</title><contents>&lt;p&gt;Leaves catch light.&lt;/p&gt;</contents></page>\
         </pages></lesson></activity>",
    );
    write(
        root,
        "activities/url_15/url.xml",
        "<activity><url id=\"1\"><name>Botanic garden</name><intro></intro><externalurl>https://garden.example/map</externalurl></url></activity>",
    );
    write(root, "activities/resource_16/inforef.xml", inforef(&["3"]));
    write(
        root,
        "activities/resource_16/resource.xml",
        "<activity><resource id=\"1\"><name>Lecture subtitles</name><intro></intro></resource></activity>",
    );
    write(
        root,
        "activities/forum_17/forum.xml",
        "<activity><forum id=\"1\"><name>Questions forum</name></forum></activity>",
    );
}

#[tokio::test]
async fn moodle_course_backups_import_sections_activities_and_files_in_order() {
    let app = TestApp::spawn().await;
    let pdf = std::fs::read(sample("content/cc-viewer-sample-document.pdf")).unwrap();
    let srt = std::fs::read(sample("content/openedx-demo-video-en.srt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    moodle_backup(dir.path(), &pdf, &srt);
    // The same backup as Moodle writes it: a gzipped tar.
    let mbz = dir.path().join("botany.mbz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&mbz).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for entry in [
            "moodle_backup.xml",
            "course",
            "sections",
            "activities",
            "files",
            "files.xml",
        ] {
            let p = dir.path().join(entry);
            if p.is_dir() {
                tar.append_dir_all(entry, &p).unwrap();
            } else {
                tar.append_path_with_name(&p, entry).unwrap();
            }
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let report = packages::import(&app.app, &mbz, None, false).await.unwrap();
    assert_eq!(report.format, "Moodle 4.1 course backup");
    assert_eq!(report.title, "Botany for beginners");
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.contains("“Questions forum” (forum)")),
        "{:?}",
        report.skipped
    );
    assert!(
        report.skipped.iter().any(|s| s.contains("1 question page")),
        "{:?}",
        report.skipped
    );
    let course = snapshot(&app, report.course_id).await;
    let titles: Vec<(&str, Vec<&str>)> = course
        .iter()
        .map(|(m, ls)| (m.as_str(), ls.iter().map(|l| l.0.as_str()).collect()))
        .collect();
    assert_eq!(
        titles,
        vec![
            (
                "General",
                vec!["General", "Read this first: bring a leaf.", "Welcome page"]
            ),
            (
                "Leaves",
                vec![
                    "Leaf book: Shapes",
                    "Leaf book: Veins",
                    "Photosynthesis lesson: Light",
                    "Photosynthesis lesson: Sugar",
                    "Botanic garden",
                    "Lecture subtitles",
                ]
            ),
        ],
        "sections in order, each in its sequence's order; the empty third section left out"
    );
    let lesson = |m: usize, l: usize| &course[m].1[l];
    assert!(lesson(0, 0).1.contains("Welcome to botany."));
    // The page's embedded file is attached under its Moodle name, and the link points at it.
    let page = lesson(0, 2);
    assert_eq!(page.2, vec![("leaf diagram.pdf".to_owned(), pdf.clone())]);
    assert!(page.1.contains("href=\"/api/attachments/"), "{}", page.1);
    assert!(!page.1.contains("@@PLUGINFILE@@"));
    assert!(lesson(1, 1).1.contains("Veins carry water."));
    assert!(
        !course
            .iter()
            .flat_map(|m| &m.1)
            .any(|l| l.1.contains("hidden text"))
    );
    assert!(lesson(1, 4).1.contains("(https://garden.example/map)"));
    assert_eq!(
        lesson(1, 5).2,
        vec![("lecture-en.srt".to_owned(), srt.clone())]
    );
    assert!(scratch_left(&app).is_empty());

    // The unpacked folder imports the same way.
    let again = packages::import(&app.app, dir.path(), None, false)
        .await
        .unwrap();
    let files_of = |c: &Outline| -> Vec<(String, Vec<String>)> {
        c.iter()
            .flat_map(|m| &m.1)
            .map(|l| {
                (
                    l.0.clone(),
                    l.2.iter()
                        .map(|f| format!("{} {}", f.0, f.1.len()))
                        .collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        files_of(&snapshot(&app, again.course_id).await),
        files_of(&course)
    );
}

#[tokio::test]
async fn the_real_open_edx_export_imports_published_units_in_order_and_lists_what_it_skips() {
    let app = TestApp::spawn().await;
    let report = packages::import(
        &app.app,
        &sample("olx/openedx-test-course.tar.gz"),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(report.title, "Open edX Test Course");
    assert_eq!(report.format, "Open edX OLX export (TestX/Course)");
    let course = snapshot(&app, report.course_id).await;
    let modules: Vec<&str> = course.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        modules,
        vec![
            "Introduction (README)",
            "Example Content › Built-in Advanced Components",
            "Example Content › Group-Restricted Content"
        ]
    );
    // Each module's lessons follow the sequential's verticals in file order: compare with the export's own
    // sequential file, read here.
    let dir = tempfile::tempdir().unwrap();
    let gz = flate2::read::GzDecoder::new(
        std::fs::File::open(sample("olx/openedx-test-course.tar.gz")).unwrap(),
    );
    tar::Archive::new(gz).unpack(dir.path()).unwrap();
    let olx = dir.path().join("course");
    let seq = std::fs::read_to_string(olx.join("sequential/150d38f114ac4998a2b55f5c77ba01b3.xml"))
        .unwrap();
    let verticals: Vec<String> = seq
        .split("url_name=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    let names_in_order: Vec<String> = verticals
        .iter()
        .map(|v| {
            let x = std::fs::read_to_string(olx.join(format!("vertical/{v}.xml"))).unwrap();
            x.split("display_name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let imported: Vec<&str> = course[1].1.iter().map(|l| l.0.as_str()).collect();
    let mut expected = names_in_order
        .iter()
        .map(String::as_str)
        .filter(|n| imported.contains(n));
    assert!(
        imported.iter().all(|i| expected.next() == Some(*i)),
        "{imported:?} vs {names_in_order:?}"
    );
    assert!(imported.len() >= 5, "{imported:?}");
    // Text of the README html component (its .html file) is the first lesson's.
    let readme =
        std::fs::read_to_string(olx.join("html/d805819821e249e8a9ead66d7a5f9103.html")).unwrap();
    let first_words: String = readme
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(!first_words.trim().is_empty());
    assert!(
        course[0].1[0].1.contains(first_words.trim()),
        "{}",
        course[0].1[0].1
    );
    // Drafts are not published content: a component only in drafts/ never shows up.
    let draft_only =
        std::fs::read_to_string(olx.join("drafts/html/64d679c316c14de78b24f926ff38d3b3.html"))
            .unwrap();
    let draft_text = draft_only
        .split('>')
        .nth(1)
        .unwrap_or("")
        .split('<')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    if !draft_text.is_empty() {
        assert!(
            !course
                .iter()
                .flat_map(|m| &m.1)
                .any(|l| l.1.contains(&draft_text))
        );
    }
    // XBlocks are reported, not dropped silently (problems are imported as the unit's quiz: tests/quiz.rs).
    for expected in ["component of type poll", "LTI tools need the internet"] {
        assert!(
            report.skipped.iter().any(|s| s.contains(expected)),
            "{expected}: {:?}",
            report.skipped
        );
    }
}

#[tokio::test]
async fn open_edx_videos_bring_their_transcripts_and_static_files() {
    let app = TestApp::spawn().await;
    let srt = std::fs::read(sample("content/openedx-demo-video-en.srt")).unwrap();
    let pdf = std::fs::read(sample("content/cc-viewer-sample-document.pdf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("course"); // exports unpack into one top folder
    write(
        &root,
        "course.xml",
        r#"<course url_name="2024" org="SchoolX" course="BIO1"/>"#,
    );
    write(
        &root,
        "course/2024.xml",
        r#"<course display_name="Biology One">
  <chapter display_name="Week 1">
    <sequential display_name="Cells">
      <vertical display_name="The talk">
        <video display_name="Opening talk" youtube_id_1_0="abc" transcripts='{"en": "talk-en.srt"}'/>
        <problem display_name="Check yourself"><p>?</p></problem>
      </vertical>
      <vertical url_name="v2"/>
    </sequential>
  </chapter>
</course>"#,
    );
    write(
        &root,
        "vertical/v2.xml",
        r#"<vertical display_name="Reading"><html url_name="h1"/></vertical>"#,
    );
    write(
        &root,
        "html/h1.xml",
        r#"<html filename="h1" display_name="Reading"/>"#,
    );
    write(
        &root,
        "html/h1.html",
        r#"<p>Read the <a href="/static/cell%20notes.pdf">cell notes</a>; see https://example.org/static/x too.</p>"#,
    );
    write(&root, "static/talk-en.srt", &srt);
    write(&root, "static/cell notes.pdf", &pdf);
    write(
        &root,
        "drafts/vertical/v3.xml",
        r#"<vertical display_name="Unpublished"/>"#,
    );

    let preview = packages::inspect(
        dir.path(),
        &app.app.config.uploads,
        &app.app.data.join("tmp"),
    )
    .unwrap();
    assert_eq!(preview.title, "Biology One");
    assert_eq!(preview.modules.len(), 1);
    assert_eq!(course_count(&app).await, 0, "inspecting changes nothing");

    let report = packages::import(&app.app, dir.path(), None, false)
        .await
        .unwrap();
    let course = snapshot(&app, report.course_id).await;
    assert_eq!(course[0].0, "Week 1");
    let titles: Vec<&str> = course[0].1.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(titles, vec!["The talk", "Reading"]);
    let talk = &course[0].1[0].1;
    assert!(talk.contains("**Video: Opening talk**"), "{talk}");
    assert!(
        talk.contains(
            "**[0:01]** um next up we're going to be hearing about the state of open edx"
        ),
        "{talk}"
    );
    let reading = &course[0].1[1];
    assert_eq!(reading.2, vec![("cell notes.pdf".to_owned(), pdf)]);
    assert!(
        reading.1.contains("href=\"/api/attachments/"),
        "{}",
        reading.1
    );
    assert!(
        reading.1.contains("https://example.org/static/x"),
        "other sites' links are left alone"
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.contains("“Check yourself” (problem"))
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.contains("“Opening talk” (video") && s.contains("transcript is imported"))
    );
    // The tutor and search find what was said in the video.
    app.drain_jobs().await;
    let admin = app.user(Role::Admin).await;
    let hits: Value = app
        .send(
            reqwest::Method::GET,
            "/api/search?q=state%20of%20open%20edx",
            Some(&admin.token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["title"].as_str())
        .collect();
    assert_eq!(titles.first(), Some(&"The talk"), "{hits}");
}

/// A Kolibri channel database with the tables and columns Kolibri's content schema has (the columns this
/// importer reads, and the NOT NULL ones around them), and its storage folder.
fn kolibri_channel(root: &Path, pdf: &[u8], vtt: &str, mp4: &[u8]) -> PathBuf {
    let db_path = root.join("content/databases/0123456789abcdef0123456789abcdef.sqlite3");
    std::fs::create_dir_all(db_path.parent().unwrap()).unwrap();
    let db = rusqlite::Connection::open(&db_path).unwrap();
    db.execute_batch(
        r#"
        CREATE TABLE content_channelmetadata (id char(32) PRIMARY KEY, name varchar(200) NOT NULL,
            description varchar(400) NOT NULL, tagline varchar(150), author varchar(400) NOT NULL,
            version integer NOT NULL, thumbnail text NOT NULL, last_updated varchar,
            min_schema_version varchar(50) NOT NULL, root_id char(32) NOT NULL);
        CREATE TABLE content_contentnode (id char(32) PRIMARY KEY, license_name varchar(50), title varchar(200) NOT NULL,
            coach_content bool NOT NULL, content_id char(32) NOT NULL, channel_id char(32) NOT NULL, description text,
            sort_order real, license_owner varchar(200) NOT NULL, author varchar(200) NOT NULL, kind varchar(200) NOT NULL,
            available bool NOT NULL, lft integer NOT NULL, rght integer NOT NULL, tree_id integer NOT NULL,
            level integer NOT NULL, lang_id varchar(14), parent_id char(32));
        CREATE TABLE content_localfile (id varchar(32) PRIMARY KEY, extension varchar(40) NOT NULL,
            available bool NOT NULL, file_size_bigint bigint, upstream_url text);
        CREATE TABLE content_file (id char(32) PRIMARY KEY, preset varchar(150) NOT NULL, supplementary bool NOT NULL,
            thumbnail bool NOT NULL, priority integer, contentnode_id char(32) NOT NULL, lang_id varchar(14),
            local_file_id varchar(32) NOT NULL);
        "#,
    )
    .unwrap();
    let ch = "0123456789abcdef0123456789abcdef";
    db.execute(
        "INSERT INTO content_channelmetadata VALUES (?1, 'Village Science', 'Science for every village', NULL, 'LE', 7, '', NULL, '2', 'root')",
        [ch],
    )
    .unwrap();
    let mut lft = 0;
    let mut node = |id: &str,
                    parent: Option<&str>,
                    title: &str,
                    kind: &str,
                    sort: f64,
                    desc: &str| {
        lft += 1;
        db.execute(
            "INSERT INTO content_contentnode (id, title, coach_content, content_id, channel_id, description, sort_order,
             license_owner, author, kind, available, lft, rght, tree_id, level, parent_id)
             VALUES (?1, ?2, 0, ?1, ?3, ?4, ?5, '', '', ?6, 1, ?7, ?7, 1, 0, ?8)",
            rusqlite::params![id, title, ch, desc, sort, kind, lft, parent],
        )
        .unwrap();
    };
    node("root", None, "Village Science", "topic", 1.0, "");
    node("t-water", Some("root"), "Water", "topic", 2.0, "");
    node("t-sun", Some("root"), "The Sun", "topic", 1.0, "");
    node("t-sun-deep", Some("t-sun"), "Sun details", "topic", 2.0, "");
    node(
        "r-notes",
        Some("t-sun"),
        "Sun notes",
        "document",
        1.0,
        "Read about the sun.",
    );
    node("r-video", Some("t-sun-deep"), "Sun video", "video", 1.0, "");
    node("r-quiz", Some("t-water"), "Water quiz", "exercise", 1.0, "");
    node(
        "r-lost",
        Some("t-water"),
        "Lost handout",
        "document",
        2.0,
        "",
    );
    node("r-rain", Some("t-water"), "Rain notes", "document", 3.0, "");
    let store = |checksum: &str, ext: &str, bytes: &[u8]| {
        let path = root.join(format!(
            "content/storage/{}/{}/{checksum}.{ext}",
            &checksum[..1],
            &checksum[1..2]
        ));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    store("aa11", "pdf", pdf);
    store("bb22", "mp4", mp4);
    store("cc33", "vtt", vtt.as_bytes());
    store("dd44", "pdf", pdf);
    for (fid, local, ext, preset, supp, thumb, node_id, lang) in [
        ("f1", "aa11", "pdf", "document", 0, 0, "r-notes", None),
        ("f2", "bb22", "mp4", "high_res_video", 0, 0, "r-video", None),
        (
            "f3",
            "cc33",
            "vtt",
            "video_subtitle",
            1,
            0,
            "r-video",
            Some("en"),
        ),
        ("f4", "ee55", "pdf", "document", 0, 0, "r-lost", None), // not in storage
        ("f5", "dd44", "pdf", "document", 0, 0, "r-rain", None),
        (
            "f6",
            "ff66",
            "png",
            "document_thumbnail",
            1,
            1,
            "r-rain",
            None,
        ),
    ] {
        db.execute(
            "INSERT OR IGNORE INTO content_localfile VALUES (?1, ?2, 1, NULL, NULL)",
            [local, ext],
        )
        .unwrap();
        db.execute(
            "INSERT INTO content_file VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
            rusqlite::params![fid, preset, supp, thumb, node_id, lang, local],
        )
        .unwrap();
    }
    db_path
}

#[tokio::test]
async fn kolibri_channels_import_their_topic_tree_with_documents_videos_and_subtitles() {
    let app = TestApp::spawn().await;
    let pdf = std::fs::read(sample("content/cc-viewer-sample-document.pdf")).unwrap();
    let srt =
        String::from_utf8(std::fs::read(sample("content/openedx-demo-video-en.srt")).unwrap())
            .unwrap();
    let vtt = format!("WEBVTT\n\n{}", srt.replace(',', "."));
    let mut mp4 = vec![0, 0, 0, 0x18];
    mp4.extend_from_slice(b"ftypmp42\0\0\0\0mp42isom");
    mp4.extend_from_slice(&[0u8; 64]);
    let dir = tempfile::tempdir().unwrap();
    let db = kolibri_channel(dir.path(), &pdf, &vtt, &mp4);

    // The database file, or the folder Kolibri keeps it in.
    for path in [db.clone(), dir.path().to_path_buf()] {
        let report = packages::import(&app.app, &path, None, false)
            .await
            .unwrap();
        assert_eq!(report.format, "Kolibri channel (version 7)");
        assert_eq!(report.title, "Village Science");
        let course = snapshot(&app, report.course_id).await;
        let titles: Vec<(&str, Vec<&str>)> = course
            .iter()
            .map(|(m, ls)| (m.as_str(), ls.iter().map(|l| l.0.as_str()).collect()))
            .collect();
        assert_eq!(
            titles,
            vec![
                ("The Sun", vec!["Sun notes", "Sun video"]),
                ("Water", vec!["Rain notes"])
            ],
            "topics by sort_order, nested topics flattened depth first"
        );
        let notes = &course[0].1[0];
        assert!(notes.1.contains("Read about the sun."));
        assert_eq!(notes.2, vec![("Sun notes.pdf".to_owned(), pdf.clone())]);
        let video = &course[0].1[1];
        let names: Vec<&str> = video.2.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, vec!["Sun video.mp4", "Sun video-en.vtt"]);
        assert_eq!(video.2[1].1, vtt.as_bytes());
        assert!(
            video.1.contains("**[0:01]** um next up we're going"),
            "{}",
            video.1
        );
        for expected in [
            "“Water quiz” (exercise)",
            "“Lost handout”: storage/e/e/ee55.pdf (document) is missing",
        ] {
            assert!(
                report.skipped.iter().any(|s| s.contains(expected)),
                "{expected}: {:?}",
                report.skipped
            );
        }
    }

    // Not a channel, or several at once: refused with the reason.
    let other = dir.path().join("other.sqlite3");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let e = packages::import(&app.app, &other, None, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Kolibri channel"), "{e}");
    std::fs::copy(
        &db,
        db.with_file_name("fedcba9876543210fedcba9876543210.sqlite3"),
    )
    .unwrap();
    let e = packages::import(&app.app, dir.path(), None, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds 2 channels"), "{e}");
}

/// A Kolibri exercise, imported and taken: [`kolibri_channel`] plus an exercise of four Perseus items (a radio,
/// two numeric boxes in one item, a numeric input, and an interactive graph SmartCourse cannot grade) in a real
/// `.perseus` zip, with Kolibri's mastery model "4 of the last 5". The import makes it a quiz lesson and lists
/// the graph; a student's right, partly right and wrong answers are graded through the quiz API, and the
/// mastery rule counts answers across attempts as Kolibri does, in the order they were given (the questions'
/// order, not the order the answers were stored in: by id, `half` before `pick`), so that an attempt of three
/// questions passes only with answers of the one before.
#[tokio::test]
async fn kolibri_exercises_import_as_quizzes_graded_with_their_mastery_model() {
    use std::io::Write;
    let app = TestApp::spawn().await;
    let pdf = std::fs::read(sample("content/cc-viewer-sample-document.pdf")).unwrap();
    let vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello.\n";
    let mut mp4 = vec![0, 0, 0, 0x18];
    mp4.extend_from_slice(b"ftypmp42\0\0\0\0mp42isom");
    mp4.extend_from_slice(&[0u8; 64]);
    let dir = tempfile::tempdir().unwrap();
    let db_path = kolibri_channel(dir.path(), &pdf, vtt, &mp4);
    let numeric = serde_json::json!({"type": "numeric-input", "options": {"answers": [
        {"value": 0.5, "status": "correct", "maxError": 0.01, "message": ""}]}});
    let items = [
        (
            "pick",
            serde_json::json!({"question": {"content": "How many legs has a hen? [[☃ radio 1]]",
                "widgets": {"radio 1": {"type": "radio", "options": {"choices": [
                    {"content": "Two", "correct": true}, {"content": "Four", "correct": false}]}}}},
                "hints": [{"content": "Look at one."}]}),
        ),
        (
            "halves",
            serde_json::json!({"question": {
                "content": "Half of one: [[☃ numeric-input 1]]; of two halves, each: [[☃ numeric-input 2]]",
                "widgets": {"numeric-input 1": numeric, "numeric-input 2": numeric}}}),
        ),
        (
            "half",
            serde_json::json!({"question": {"content": "Half of one, again: [[☃ numeric-input 1]]",
                "widgets": {"numeric-input 1": numeric}}}),
        ),
        (
            "plot",
            serde_json::json!({"question": {"content": "Plot $y = x$. [[☃ interactive-graph 1]]",
                "widgets": {"interactive-graph 1": {"type": "interactive-graph", "options": {}}}}}),
        ),
    ];
    let perseus = dir.path().join("content/storage/9/9/99aa.perseus");
    std::fs::create_dir_all(perseus.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&perseus).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (id, item) in &items {
        zip.start_file(format!("{id}.json"), options).unwrap();
        zip.write_all(&serde_json::to_vec(item).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    let db = rusqlite::Connection::open(&db_path).unwrap();
    db.execute_batch(
        r#"
        CREATE TABLE content_assessmentmetadata (id char(32) PRIMARY KEY, assessment_item_ids text NOT NULL,
            number_of_assessments integer NOT NULL, mastery_model text NOT NULL, randomize bool NOT NULL,
            is_manipulable bool NOT NULL, contentnode_id char(32) NOT NULL);
        INSERT INTO content_contentnode (id, title, coach_content, content_id, channel_id, description, sort_order,
            license_owner, author, kind, available, lft, rght, tree_id, level, parent_id)
            VALUES ('r-practice', 'Practice', 0, 'r-practice', '0123456789abcdef0123456789abcdef', 'Try these.', 4,
                    '', '', 'exercise', 1, 20, 20, 1, 0, 't-water');
        INSERT INTO content_assessmentmetadata VALUES ('a1', '["pick", "halves", "half", "plot"]', 4,
            '{"type": "m_of_n", "m": 4, "n": 5}', 0, 0, 'r-practice');
        INSERT INTO content_localfile VALUES ('99aa', 'perseus', 1, NULL, NULL);
        INSERT INTO content_file VALUES ('f9', 'exercise', 0, 0, 1, 'r-practice', NULL, '99aa');
        "#,
    )
    .unwrap();
    drop(db);

    let report = packages::import(&app.app, &db_path, None, true)
        .await
        .unwrap();
    assert!(
        report.skipped.iter().any(
            |s| s.starts_with("“Practice” (exercise): item plot: its interactive-graph widget")
        ),
        "{:?}",
        report.skipped
    );
    app.drain_jobs().await;
    let course = report.course_id;
    let quizzes = app
        .app
        .db
        .read(move |c| smartcourse::quizzes::quizzes_of_course(c, course))
        .await
        .unwrap();
    let (&lesson, quiz) = quizzes.iter().next().expect("a quiz lesson");
    assert_eq!(quiz.title, "Practice");
    let ids: Vec<&str> = quiz.questions.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["pick", "halves", "half"]);
    assert_eq!(
        quiz.pass,
        smartcourse_formats::quiz::PassRule::Mastery { m: 4, n: 5 }
    );

    let student = app.user(Role::Student).await;
    app.enroll(&student, course).await;
    let attempt = |answers: [Value; 3]| {
        let (app, token) = (&app, student.token.clone());
        async move {
            let r = app
                .send(
                    reqwest::Method::POST,
                    &format!("/api/lessons/{lesson}/quiz/attempts"),
                    Some(&token),
                    None,
                )
                .await;
            assert_eq!(r.status(), 201);
            let view: Value = r.json().await.unwrap();
            let pick = view["quiz"]["questions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["id"] == "pick")
                .unwrap();
            let choice = |text: &str| {
                pick["kind"]["choices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["text"] == text)
                    .unwrap()["id"]
                    .clone()
            };
            let [p, halves, half] = answers;
            let p = serde_json::json!({"type": "choice", "choice": choice(p.as_str().unwrap())});
            let body = serde_json::json!({"answers": {"pick": p, "halves": halves, "half": half}});
            let id = view["attempt_id"].as_i64().unwrap();
            let r = app
                .send(
                    reqwest::Method::POST,
                    &format!("/api/quiz-attempts/{id}/submit"),
                    Some(&token),
                    Some(&body),
                )
                .await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let blanks =
        |a: &str, b: &str| serde_json::json!({"type": "blanks", "gaps": {"g1": a, "g2": b}});
    let number = |t: &str| serde_json::json!({"type": "number", "text": t});
    let scores = |r: &Value| -> Vec<(String, f64, bool)> {
        r["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    q["question_id"].as_str().unwrap().to_owned(),
                    q["score"].as_f64().unwrap(),
                    q["correct"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    // Right, partly right (one box of two: half the point, not right for mastery), wrong: one right answer.
    let first = attempt(["Two".into(), blanks("0.5", "7"), number("0.6")]).await;
    assert_eq!(
        scores(&first),
        [
            ("pick".to_owned(), 1.0, true),
            ("halves".to_owned(), 0.5, false),
            ("half".to_owned(), 0.0, false)
        ],
        "{first}"
    );
    assert_eq!(first["score"], 1.5);
    assert_eq!(first["passed"], false, "{first}");
    // All right (within maxError): the first attempt's right answer was its first, out of the last five, which
    // hold three right answers, short of four.
    let all_right = || ["Two".into(), blanks("0.5", "0.5"), number("0.505")];
    let second = attempt(all_right()).await;
    assert_eq!(second["score"], 3.0, "{second}");
    assert_eq!(
        second["passed"], false,
        "3 of the last 5 answers right: {second}"
    );
    // Wrong then right twice: with the second attempt's, four of the last five.
    let third = attempt(["Four".into(), blanks("0.5", "0.5"), number("0.5")]).await;
    assert_eq!(third["score"], 2.0, "{third}");
    assert_eq!(
        third["passed"], true,
        "4 of the last 5 answers right: {third}"
    );
}

/// A gzipped tar with one raw entry (name and type as given), built by hand so names the `tar` crate would
/// refuse to write can be tested.
fn raw_tar_gz(path: &Path, name: &str, kind: u8, body: &[u8], link: &str) {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    let size = format!("{:011o}", body.len());
    header[124..135].copy_from_slice(size.as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = kind;
    header[157..157 + link.len()].copy_from_slice(link.as_bytes());
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut data = header.to_vec();
    data.extend_from_slice(body);
    data.resize(data.len().div_ceil(512) * 512 + 1024, 0);
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&data).unwrap();
    gz.finish().unwrap();
}

#[tokio::test]
async fn hostile_tar_archives_are_refused_naming_the_entry_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("../escape.xml", b'0', "", "points outside the package"),
        ("/etc/passwd", b'0', "", "points outside the package"),
        ("moodle_backup.xml", b'2', "/etc/passwd", "is a link"),
        ("files.xml", b'1', "moodle_backup.xml", "is a link"),
    ];
    for (i, (name, kind, link, expected)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.mbz"));
        raw_tar_gz(&path, name, kind, b"<x/>", link);
        let e = packages::import(&app.app, &path, None, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected) && e.contains(name), "{name}: {e}");
    }
    // A damaged gzip stream.
    let path = dir.path().join("cut.tar.gz");
    raw_tar_gz(&path, "course.xml", b'0', b"<course/>", "");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = packages::import(&app.app, &path, None, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("damaged tar.gz") || e.contains("course.xml"),
        "{e}"
    );
    assert_eq!(course_count(&app).await, 0);
    assert!(scratch_left(&app).is_empty(), "{:?}", scratch_left(&app));
}

#[tokio::test]
async fn importing_the_same_backup_again_updates_the_course_and_keeps_progress() {
    let app = TestApp::spawn().await;
    let pdf = std::fs::read(sample("content/cc-viewer-sample-document.pdf")).unwrap();
    let srt = std::fs::read(sample("content/openedx-demo-video-en.srt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    moodle_backup(dir.path(), &pdf, &srt);
    // Moodle backups name their site and course: that is the package's identity.
    let info = std::fs::read_to_string(dir.path().join("moodle_backup.xml")).unwrap();
    std::fs::write(
        dir.path().join("moodle_backup.xml"),
        info.replace(
            "<original_course_fullname>",
            "<original_site_identifier_hash>5ca1ab1e</original_site_identifier_hash><original_course_id>3</original_course_id><original_course_fullname>",
        ),
    )
    .unwrap();
    let first = packages::import(&app.app, dir.path(), None, false)
        .await
        .unwrap();
    assert!(!first.updated);
    assert_eq!(first.changes.added, 9);
    app.publish_directly(first.course_id).await;
    let student = app.user(Role::Student).await;
    app.enroll(&student, first.course_id).await;
    let before = snapshot(&app, first.course_id).await;
    let course = first.course_id;
    let veins = lesson_id(&app, course, "Leaf book: Veins").await;
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/api/lessons/{veins}/complete"),
            Some(&student.token),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let page = lesson_id(&app, course, "Welcome page").await;

    // The teacher changes the course in Moodle: new page text, the URL gone, a new page at the end.
    let page_xml = dir.path().join("activities/page_11/page.xml");
    let text = std::fs::read_to_string(&page_xml).unwrap();
    std::fs::write(&page_xml, text.replace("Look at the", "Study the")).unwrap();
    let section = dir.path().join("sections/section_101/section.xml");
    let text = std::fs::read_to_string(&section).unwrap();
    std::fs::write(
        &section,
        text.replace("13,99,14,15,16,17", "13,99,14,16,17,18"),
    )
    .unwrap();
    // (A deleted activity is gone from the backup's list as well as from its section's sequence.)
    let backup = dir.path().join("moodle_backup.xml");
    let text = std::fs::read_to_string(&backup).unwrap();
    let url = text.find("<activity><moduleid>15</moduleid>").unwrap();
    let url_end = url + text[url..].find("</activity>").unwrap() + "</activity>".len();
    let text = format!("{}{}", &text[..url], &text[url_end..]);
    std::fs::write(
        &backup,
        text.replace(
            "</activities>",
            "<activity><moduleid>18</moduleid><sectionid>101</sectionid><modulename>page</modulename><title>Roots</title><directory>activities/page_18</directory></activity></activities>",
        ),
    )
    .unwrap();
    write(
        dir.path(),
        "activities/page_18/page.xml",
        "<activity><page id=\"2\"><name>Roots</name><content>&lt;p&gt;Roots drink.&lt;/p&gt;</content></page></activity>",
    );

    let second = packages::import(&app.app, dir.path(), None, false)
        .await
        .unwrap();
    assert!(second.updated);
    assert_eq!(
        second.course_id, first.course_id,
        "the same course, not a copy"
    );
    assert_eq!(
        second.changes,
        packages::Changes {
            added: 1,
            changed: 1,
            removed: 1,
            unchanged: 7
        }
    );
    assert_eq!(course_count(&app).await, 1);
    let after = snapshot(&app, first.course_id).await;
    let leaves: Vec<&str> = after[1].1.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        leaves,
        vec![
            "Leaf book: Shapes",
            "Leaf book: Veins",
            "Photosynthesis lesson: Light",
            "Photosynthesis lesson: Sugar",
            "Lecture subtitles",
            "Roots"
        ]
    );
    assert!(after[0].1[2].1.contains("Study the"));
    assert_eq!(after[0].1[2].2, before[0].1[2].2, "the page's file is kept");
    assert_eq!(
        lesson_id(&app, course, "Welcome page").await,
        page,
        "a changed lesson keeps its id"
    );
    assert_eq!(lesson_id(&app, course, "Leaf book: Veins").await, veins);
    let done: i64 = app
        .app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM lesson_progress WHERE lesson_id = ?1",
                [veins],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(
        done, 1,
        "the student's progress in an unchanged lesson stays"
    );

    // Another teacher importing the same backup gets a course of their own.
    let other = app.user(Role::Instructor).await;
    let third = packages::import(&app.app, dir.path(), Some(other.email.clone()), false)
        .await
        .unwrap();
    assert!(!third.updated);
    assert_ne!(third.course_id, first.course_id);
}

async fn lesson_id(app: &TestApp, course: i64, title: &str) -> i64 {
    let title = title.to_owned();
    app.app
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT id FROM lessons WHERE course_id = ?1 AND title = ?2",
                rusqlite::params![course, title],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn links_between_cartridge_pages_lead_to_their_lessons_and_a_second_import_changes_nothing() {
    let app = TestApp::spawn().await;
    let cartridge = sample("common-cartridge/multiple-pages.imscc");
    let first = packages::import(&app.app, &cartridge, None, false)
        .await
        .unwrap();
    let course = snapshot(&app, first.course_id).await;
    let lessons: Vec<&LessonSnapshot> = course.iter().flat_map(|m| &m.1).collect();
    let second = lessons
        .iter()
        .find(|l| l.1.contains("Link to"))
        .expect("the page with links");
    // The page links to the first page by its resource identifier, and to the third with the `$` encoded.
    let first_page = lessons
        .iter()
        .find(|l| l.0.to_lowercase().contains("first"))
        .unwrap();
    let third_page = lessons
        .iter()
        .find(|l| l.0.to_lowercase().contains("third"))
        .unwrap();
    let to_first = format!(
        "href=\"/lessons/{}\"",
        lesson_id(&app, first.course_id, &first_page.0).await
    );
    let to_third = format!(
        "href=\"/lessons/{}\"",
        lesson_id(&app, first.course_id, &third_page.0).await
    );
    assert!(second.1.contains(&to_first), "{}", second.1);
    assert!(second.1.contains(&to_third), "{}", second.1);
    assert!(!second.1.contains("WIKI_REFERENCE"));

    // The same cartridge again: the same course, nothing changed.
    let again = packages::import(&app.app, &cartridge, None, false)
        .await
        .unwrap();
    assert!(again.updated);
    assert_eq!(again.course_id, first.course_id);
    assert_eq!(
        again.changes,
        packages::Changes {
            unchanged: lessons.len(),
            ..Default::default()
        }
    );
    assert_eq!(snapshot(&app, first.course_id).await, course);
}

async fn workflow_status(app: &TestApp, id: i64) -> smartcourse::jobs::workflow::WorkflowStatus {
    let registry = app.app.jobs.clone();
    app.app
        .db
        .read(move |c| {
            smartcourse::jobs::workflow::status(
                c,
                &registry,
                smartcourse::jobs::workflow::Viewer::All,
                id,
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_import_workflow_records_its_steps_and_a_repeated_step_makes_no_second_course() {
    let app = TestApp::spawn().await;
    let demo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-course"));
    let w = packages::pipeline::start(
        &app.app,
        smartcourse::accounts::Actor::System,
        demo,
        None,
        true,
        false,
    )
    .await
    .unwrap();
    app.drain_jobs().await;
    let s = workflow_status(&app, w).await;
    assert_eq!(s.status, "COMPLETED", "{s:?}");
    let course = s.course_id.unwrap();
    let steps: Vec<String> = app
        .app
        .db
        .read(move |c| {
            let mut stmt =
                c.prepare("SELECT name FROM workflow_steps WHERE workflow_id = ?1 ORDER BY step")?;
            let names = stmt
                .query_map([w], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(names)
        })
        .await
        .unwrap();
    assert_eq!(
        steps,
        vec![
            "Checking the package",
            "Storing lessons and files",
            "Indexing for search and the tutor",
            "Publishing"
        ]
    );
    let report = app
        .app
        .db
        .read(move |c| packages::pipeline::report(c, w))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (report.course_id, report.lessons, report.updated),
        (course, 4, false)
    );
    let status: String = app
        .app
        .db
        .read(move |c| {
            Ok(
                c.query_row("SELECT status FROM courses WHERE id = ?1", [course], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .unwrap();
    assert_eq!(status, "published");

    // As if the process died after storing the lessons but before the step was recorded: the step runs again
    // and finds the course it made (the demo package has no identity of its own to match by).
    app.app
        .db
        .write(move |tx| {
            tx.execute("UPDATE workflows SET next_step = 1, state = 'running', result = NULL WHERE id = ?1", [w])?;
            tx.execute("DELETE FROM workflow_steps WHERE workflow_id = ?1 AND step >= 1", [w])?;
            tx.execute("UPDATE jobs SET state = 'queued', run_at = 0, attempts = 0 WHERE workflow_id = ?1", [w])?;
            Ok(())
        })
        .await
        .unwrap();
    app.drain_jobs().await;
    let s = workflow_status(&app, w).await;
    assert_eq!(s.status, "COMPLETED", "{s:?}");
    assert_eq!(course_count(&app).await, 1);
    let again = app
        .app
        .db
        .read(move |c| packages::pipeline::report(c, w))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.course_id, course);
    assert_eq!(
        again.changes,
        packages::Changes {
            unchanged: 4,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn a_failed_import_workflow_says_why_and_removes_the_upload_it_owned() {
    let app = TestApp::spawn().await;
    app.expect_failed_jobs();
    let upload = app.app.data.join("imports").join("package-x.zip");
    std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
    std::fs::copy(
        sample("moodle/quiz_archiver-referencequiz-activity.mbz"),
        &upload,
    )
    .unwrap();
    let teacher = app.user(Role::Instructor).await;
    let actor = smartcourse::accounts::Actor::User(smartcourse::accounts::CurrentUser {
        id: teacher.id,
        role: Role::Instructor,
        jti: String::new(),
        exp: 0,
    });
    let w = packages::pipeline::start(&app.app, actor, upload.clone(), None, false, true)
        .await
        .unwrap();
    app.drain_jobs().await;
    let s = workflow_status(&app, w).await;
    assert_eq!(s.status, "FAILED");
    assert!(
        s.error
            .as_deref()
            .unwrap_or("")
            .contains("not a course backup"),
        "{s:?}"
    );
    assert!(!upload.exists(), "the upload is removed");
    assert_eq!(course_count(&app).await, 0);
    // A student cannot be made the owner: refused before anything starts.
    let student = app.user(Role::Student).await;
    let e = packages::pipeline::start(
        &app.app,
        smartcourse::accounts::Actor::System,
        upload,
        Some(student.email.clone()),
        false,
        false,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("is a student"), "{e}");
}

/// A small deterministic generator (xorshift), so a failure can be replayed from the seed it prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Damages a document the ways broken and hostile files are damaged: flipped bytes, cuts, repeated or dropped
/// spans, markup and path fragments dropped in, entities left open.
fn mutate(rng: &mut Rng, doc: &[u8]) -> Vec<u8> {
    let mut d = doc.to_vec();
    for _ in 0..=rng.below(4) {
        if d.is_empty() {
            d.push(b'<');
        }
        let at = rng.below(d.len());
        match rng.below(7) {
            0 => d[at] ^= 1 << rng.below(8),
            1 => d.truncate(at),
            2 => {
                let end = (at + rng.below(200)).min(d.len());
                let span = d[at..end].to_vec();
                d.splice(at..at, span);
            }
            3 => {
                let end = (at + rng.below(200)).min(d.len());
                d.drain(at..end);
            }
            4 => {
                let bits: [&[u8]; 8] = [
                    b"<",
                    b">",
                    b"&",
                    b"&#x110000;",
                    b"\"",
                    b"../../",
                    b"\xff\xfe",
                    b"<item identifierref=\"x\"/>",
                ];
                let piece = bits[rng.below(bits.len())];
                d.splice(at..at, piece.iter().copied());
            }
            5 => d.insert(at, 0),
            _ => {
                let from = rng.below(d.len());
                d[at] = d[from];
            }
        }
    }
    d
}

#[test]
fn package_readers_survive_thousands_of_damaged_manifests() {
    use smartcourse::packages::{Source, cc, moodle, olx, scorm};
    let limits = smartcourse::config::Config::default().uploads;
    let scratch = tempfile::tempdir().unwrap();
    // Real packages, unpacked once; each round damages one manifest and reads the package again.
    let cases: [(&str, &str); 4] = [
        (
            "common-cartridge/canvas_cc_gem_course.imscc",
            "imsmanifest.xml",
        ),
        (
            "scorm/golf_ContentPackagingOneFilePerSCO_SCORM12.zip",
            "imsmanifest.xml",
        ),
        (
            "moodle/backup-moodle2-course-with-studentquiz-m400.mbz",
            "moodle_backup.xml",
        ),
        ("olx/openedx-test-course.tar.gz", "course.xml"),
    ];
    let rounds: usize = std::env::var("SMARTCOURSE_FUZZ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(400);
    let mut seen_ok = 0;
    for (i, (package, manifest)) in cases.iter().enumerate() {
        let source = Source::open(&sample(package), &limits, scratch.path()).unwrap();
        let source = source.descend(&["imsmanifest.xml", "moodle_backup.xml", "course.xml"]);
        let original = source.read(manifest).unwrap();
        // Unpack into a folder whose manifest can be replaced.
        let dir = tempfile::tempdir().unwrap();
        for f in source.files() {
            write(dir.path(), &f, source.read(&f).unwrap());
        }
        let folder = Source::open(dir.path(), &limits, scratch.path()).unwrap();
        let seed = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1);
        let mut rng = Rng(seed);
        for round in 0..rounds {
            let damaged = mutate(&mut rng, &original);
            std::fs::write(dir.path().join(manifest), &damaged).unwrap();
            let text = String::from_utf8_lossy(&damaged).into_owned();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match i {
                0 => cc::read(&folder, &text).map(|_| ()),
                1 => scorm::read(&folder, &text).map(|_| ()),
                2 => moodle::read(&folder).map(|_| ()),
                _ => olx::read(&folder).map(|_| ()),
            }));
            match outcome {
                Ok(Ok(())) => seen_ok += 1,
                Ok(Err(e)) => assert!(
                    matches!(
                        e.code(),
                        "invalid_input" | "too_large" | "unsupported_media_type"
                    ),
                    "{package} seed {seed:#x} round {round}: {e}"
                ),
                Err(_) => panic!("{package}: a reader panicked (seed {seed:#x}, round {round})"),
            }
        }
    }
    assert!(seen_ok > 0, "some damage leaves a readable package");
    // Subtitle readers take any bytes.
    let srt = std::fs::read(sample("content/openedx-demo-video-en.srt")).unwrap();
    let mut rng = Rng(7);
    for _ in 0..rounds {
        let damaged = mutate(&mut rng, &srt[..4000]);
        let cues = smartcourse::courses::subtitles::parse(&String::from_utf8_lossy(&damaged));
        let _ = smartcourse::courses::subtitles::to_vtt(&cues);
    }
}

#[tokio::test]
async fn pages_in_a_declared_legacy_encoding_read_right_and_undeclared_ones_are_named() {
    let app = TestApp::spawn().await;
    let limits = app.app.config.uploads.clone();
    let scratch = tempfile::tempdir().unwrap();
    let source = packages::Source::open(
        &sample("common-cartridge/multiple-pages.imscc"),
        &limits,
        scratch.path(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for f in source.files() {
        write(dir.path(), &f, source.read(&f).unwrap());
    }
    // One page saved by an old editor in Windows-1252, saying so; another in Latin-1 without saying it.
    write(
        dir.path(),
        "wiki_content/first-page.html",
        b"<html><head><meta charset=\"windows-1252\"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e \x96 \x93sweet\x94.</p></body></html>".as_slice(),
    );
    write(
        dir.path(),
        "wiki_content/third-page.html",
        b"<html><body><p>Se\xf1or</p></body></html>".as_slice(),
    );
    let report = packages::import(&app.app, dir.path(), None, false)
        .await
        .unwrap();
    let course = snapshot(&app, report.course_id).await;
    let bodies: Vec<&str> = course
        .iter()
        .flat_map(|m| &m.1)
        .map(|l| l.1.as_str())
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("Crème brûlée – “sweet”.")),
        "{bodies:?}"
    );
    assert!(!bodies.iter().any(|b| b.contains('\u{fffd}')), "{bodies:?}");
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.contains("wiki_content/third-page.html is not UTF-8")),
        "{:?}",
        report.skipped
    );
}
