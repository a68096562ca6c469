//! Tidy: house rules that a reviewer would otherwise have to remember.
//!
//! - every Rust source file under a crate's `src/` starts with a `//!` module doc;
//! - `protocol/src` and `lines/src` never do I/O or read the clock: no `std::fs`,
//!   `tokio::`, `Instant::now` or `SystemTime::now` (time is a parameter there);
//! - only `protocol/src/codec.rs` names bincode or zstd;
//! - collector API routes are registered only through `routes!` (the OpenAPI router).

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources(crate_dir: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&workspace().join(crate_dir).join("src"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no sources under {crate_dir}/src");
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p, text)
        })
        .collect()
}

/// Lines outside comments (a crude filter: enough for the words checked here).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter(|(_, l)| {
        let t = l.trim_start();
        !(t.starts_with("//") || t.starts_with("*") || t.starts_with("/*"))
    })
}

#[test]
fn every_module_has_a_doc_comment() {
    let mut missing = Vec::new();
    for krate in ["protocol", "lines", "agent", "collector", "tests"] {
        for (path, text) in sources(krate) {
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            if !first.starts_with("//!") {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc: {missing:#?}"
    );
}

#[test]
fn protocol_and_lines_do_no_io_and_read_no_clock() {
    let forbidden = [
        "std::fs",
        "tokio::",
        "Instant::now",
        "SystemTime::now",
        "std::net",
    ];
    let mut hits = Vec::new();
    for krate in ["protocol", "lines"] {
        for (path, text) in sources(krate) {
            for (n, line) in code_lines(&text) {
                for word in forbidden {
                    if line.contains(word) {
                        hits.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(hits.is_empty(), "I/O or clock in a pure crate: {hits:#?}");
}

#[test]
fn only_the_codec_names_the_wire_encoding() {
    let mut hits = Vec::new();
    for krate in ["protocol", "lines", "agent", "collector"] {
        for (path, text) in sources(krate) {
            if path.ends_with("protocol/src/codec.rs") {
                continue;
            }
            for (n, line) in code_lines(&text) {
                if line.contains("bincode::") || line.contains("zstd::") {
                    hits.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "wire encoding named outside protocol/src/codec.rs: {hits:#?}"
    );
}

/// API routes are registered only with `routes!` (so the OpenAPI document, and with it the
/// route × role test, sees every one); plain `.route(` is for the three open operational
/// endpoints in `collector/src/api/mod.rs` and the dashboard's pages in `collector/src/web/`,
/// and `.route_service(` for the MCP endpoint (`collector/src/mcp/mod.rs`: JSON-RPC, not
/// REST; its tools are listed by `tools/list`).
#[test]
fn api_routes_are_registered_through_the_openapi_router() {
    let allowed = ["\"/healthz\"", "\"/readyz\"", "\"/metrics\"", "\"/mcp\""];
    let mut hits = Vec::new();
    for (path, text) in sources("collector") {
        // The dashboard's HTML pages (`collector/src/web/`) are not API routes: they read
        // through the API's handlers, each with its own `Auth<R>`.
        if path.components().any(|c| c.as_os_str() == "web") {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if (line.contains(".route(") || line.contains(".route_service("))
                && !allowed.iter().any(|a| line.contains(a))
            {
                hits.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "routes registered outside `routes!` (invisible to the OpenAPI document and the \
         role test): {hits:#?}"
    );
}
