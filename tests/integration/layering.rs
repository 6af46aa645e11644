//! The layers of `src/` (ARCHITECTURE.md): a module may use what is in its own layer or below, never above.
//! Read from the source, so a new upward import fails here before it becomes a knot.

use std::collections::BTreeSet;
use std::path::Path;

/// From the bottom up. Infrastructure names no domain; a domain names only those below it; what must flow
/// upward (an enrolment starting progress, a publish telling students) goes through an event.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations",
        &["error", "util", "config", "datadir", "metrics", "ratelimit"],
    ),
    (
        "infrastructure",
        &["db", "store", "ml", "jobs", "events", "http"],
    ),
    ("accounts", &["accounts"]),
    ("courses", &["courses"]),
    ("learning", &["learning"]),
    (
        "services",
        &[
            "analytics",
            "notify",
            "search",
            "tutor",
            "packages",
            "publishing",
            "quizzes",
            "backup",
        ],
    ),
    (
        "the application",
        &["control", "web", "system", "cli", "server", "app"],
    ),
];

/// Names at the crate root that every layer may use: the shared handle (the opened stores, passed
/// everywhere; it names no code path above its holder), the error and its result, and the blocking helper.
const ROOT_ITEMS: &[&str] = &["App", "Error", "Result", "blocking"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`src/learning/progress.rs` → `learning`).
fn module_of(relative: &Path) -> String {
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// Every `crate::name` a line of code (not a comment) refers to, with `use crate::{a, b::c}` groups opened.
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
        rest = after;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unknown = BTreeSet::new();
    let mut upward = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = module_of(relative);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            unknown.insert(module);
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in crate_paths(line) {
                if used == module || ROOT_ITEMS.contains(&used.as_str()) {
                    continue;
                }
                match layer_of(&used) {
                    None => {
                        unknown.insert(format!("{used} (used in {})", relative.display()));
                    }
                    Some(layer) if layer > own => {
                        upward.insert(format!(
                            "{}:{}: {module} ({}) uses {used} ({})",
                            relative.display(),
                            n + 1,
                            LAYERS[own].0,
                            LAYERS[layer].0
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules in no layer (add them to LAYERS here and in ARCHITECTURE.md): {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "lower modules use higher ones:\n{}",
        upward.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_reader_sees_groups_and_skips_comments() {
    assert_eq!(
        crate_paths("use crate::{accounts::Actor, error::Result};"),
        ["accounts", "error"]
    );
    assert_eq!(
        crate_paths("    let x = crate::search::retrieve(a, crate::courses::f());"),
        ["search", "courses"]
    );
    assert!(crate_paths("/// see crate::web").is_empty());
}

#[test]
fn web_pages_call_domain_functions_not_sql() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut files = Vec::new();
    rust_files(&web, &mut files);
    let mut sql = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if [
                "\"SELECT ",
                "\"INSERT ",
                "\"UPDATE ",
                "\"DELETE ",
                ".query_row(",
                ".execute(",
            ]
            .iter()
            .any(|s| line.contains(s))
            {
                sql.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(sql.is_empty(), "SQL in web pages:\n{}", sql.join("\n"));
}
