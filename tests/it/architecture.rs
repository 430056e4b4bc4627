//! The layers of docs/architecture.md, checked on the sources: area cores
//! know nothing of HTTP or pages, and the web layer reaches the database
//! only through the cores.

use std::path::{Path, PathBuf};

const AREAS: [&str; 9] = [
    "accounts",
    "members",
    "invites",
    "pods",
    "billing",
    "audit",
    "spend",
    "api_keys",
    "streaming",
];
/// Core modules outside the areas.
const SHARED_CORE: [&str; 10] = [
    "authz.rs",
    "ids.rs",
    "format.rs",
    "clock.rs",
    "tokens.rs",
    "db",
    "backup",
    "telemetry.rs",
    "logging.rs",
    "mail",
];
/// The one core file that may name askama: mail letters are rendered from
/// templates, with no HTTP about them.
const MAIL_LETTERS: &str = "src/mail/letters.rs";
/// What a core file may not name: the web layer, the HTTP stack, the
/// templates, the app state, the routes, any area's pages.
const FORBIDDEN_IN_CORE: [&str; 8] = [
    "crate::web",
    "crate::api::",
    "actix",
    "askama",
    "AppState",
    "crate::routes",
    "pages::",
    "HttpResponse",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every core file: each area but its `pages/`, and the shared core.
fn core_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for area in AREAS {
        rust_files(&src().join(area), &mut files);
    }
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "pages"));
    for shared in SHARED_CORE {
        rust_files(&src().join(shared), &mut files);
    }
    files
}

/// The code of a file, without comments (they may name anything).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn core_modules_use_nothing_of_the_web_layer() {
    let files = core_files();
    assert!(files.len() > 20, "found only {} core files", files.len());
    let mut breaches = Vec::new();
    for file in &files {
        let code = code(file);
        let letters = file.ends_with(MAIL_LETTERS);
        for word in FORBIDDEN_IN_CORE
            .iter()
            .filter(|w| !(letters && **w == "askama"))
        {
            // An area's mod.rs declares its `pages` module; that is all.
            let code = code.replace("pub mod pages;", "");
            if code.contains(word) {
                breaches.push(format!("{} uses {word}", file.display()));
            }
        }
    }
    assert!(breaches.is_empty(), "{}", breaches.join("\n"));
}

#[test]
fn the_web_layer_reaches_tables_only_through_the_cores() {
    let mut files = Vec::new();
    rust_files(&src().join("web"), &mut files);
    rust_files(&src().join("api"), &mut files);
    for area in AREAS {
        let pages = src().join(area).join("pages");
        if pages.exists() {
            rust_files(&pages, &mut files);
        }
    }
    let breaches: Vec<String> = files
        .iter()
        .filter(|f| {
            let code = code(f);
            code.contains("db::schema") || code.contains("diesel::insert_into")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        breaches.is_empty(),
        "queries outside the cores: {breaches:?}"
    );
}

/// The JSON API is a second web layer over the same cores: it takes from
/// an area's pages nothing but the refusal texts (`pages::refusal`), so a
/// rule or its wording is never written twice, and it renders no page.
#[test]
fn the_api_borrows_only_refusals_from_the_pages() {
    let mut files = Vec::new();
    rust_files(&src().join("api"), &mut files);
    assert!(files.len() >= 6, "found only {} API files", files.len());
    let mut breaches = Vec::new();
    for file in &files {
        let code = code(file);
        for (at, _) in code.match_indices("pages::") {
            if !code[at..].starts_with("pages::refusal(") {
                let line = code[at..].lines().next().unwrap_or_default();
                breaches.push(format!("{} uses {line}", file.display()));
            }
        }
        for word in ["askama", "Template", "diesel::update", "diesel::delete"] {
            if code.contains(word) {
                breaches.push(format!("{} uses {word}", file.display()));
            }
        }
    }
    assert!(breaches.is_empty(), "{}", breaches.join("\n"));
}
