//! hookline's modules form layers that depend one way only, outermost first:
//!
//! `main`/`cli` → `app` → `http` (with `error`, the API's answers) → `sources` → `dialogs` →
//! `delivery` → `platforms` → `scenario`, `media`, `jq` → `store` → `telemetry` → `config`,
//! `ssrf` → `secrets` → `model`
//!
//! A module may name its own tree and any module below it, never one above, and `scenario`,
//! `media` and `jq` not each other. This test reads every `crate::…` path in `src/` (test code
//! aside) and fails naming each upward one. The order is written once, here.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module's layer: a module may use only modules of a greater layer.
const LAYERS: &[(&str, u32)] = &[
    ("main", 0),
    ("cli", 0),
    ("lib", 0),
    ("app", 1),
    ("http", 2),
    ("error", 2),
    ("sources", 3),
    ("dialogs", 4),
    ("delivery", 5),
    ("platforms", 6),
    ("scenario", 7),
    ("media", 7),
    ("jq", 7),
    ("store", 8),
    ("telemetry", 9),
    ("config", 10),
    ("ssrf", 10),
    ("secrets", 11),
    ("model", 12),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The source of `text` without its `#[cfg(test)]` module: tests may reach anywhere.
fn without_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]\n").map(|i| from + i) {
        let next = text[i + "#[cfg(test)]\n".len()..].lines().next().unwrap_or_default();
        if next.contains("mod tests") {
            return &text[..i];
        }
        from = i + 1;
    }
    text
}

/// Every `crate::<module>` named in `text`'s code (comments aside), by module.
fn crate_paths(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push(&rest[..end]);
        }
    }
    out
}

/// Whether `file` is a module its parent declares under `#[cfg(test)]` (test code, which may
/// reach anywhere).
fn declared_for_tests(file: &Path) -> bool {
    let (Some(dir), Some(stem)) = (file.parent(), file.file_stem().and_then(|s| s.to_str())) else {
        return false;
    };
    let parent = ["mod.rs", "lib.rs"]
        .iter()
        .map(|f| dir.join(f))
        .chain(
            dir.parent()
                .zip(dir.file_name())
                .map(|(up, name)| up.join(name).with_extension("rs")),
        )
        .find(|p| p.is_file());
    let Some(text) = parent.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .any(|w| w[0] == "#[cfg(test)]" && w[1].ends_with(&format!("mod {stem};")))
}

/// Upward uses, as (file, used module) pairs.
fn upward_uses(src: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src").to_string_lossy().to_string();
            let is_test_file = rel.ends_with("_tests.rs") || rel.contains("/tests/") || declared_for_tests(&path);
            if path.extension().is_none_or(|e| e != "rs") || is_test_file {
                continue;
            }
            let module = rel.split(['/', '.']).next().unwrap_or_default().to_string();
            let own = layer(&module).unwrap_or_else(|| panic!("{rel}: module `{module}` has no layer in LAYERS"));
            let text = std::fs::read_to_string(&path).expect("read a source file");
            for used in crate_paths(without_tests(&text)) {
                let Some(theirs) = layer(used) else { continue };
                if used != module && theirs <= own {
                    found.push((rel.clone(), used.to_string()));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let upward = upward_uses(&src);
    let mut by_pair: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (file, used) in &upward {
        let module = file.split(['/', '.']).next().unwrap_or_default();
        by_pair.entry(format!("{module} → {used}")).or_default().push(file);
    }
    let report: Vec<String> = by_pair
        .iter()
        .map(|(pair, files)| format!("{pair}: {files:?}"))
        .collect();
    println!("layers: {} upward uses", upward.len());
    assert!(
        upward.is_empty(),
        "{} files use a layer above their own:\n{}",
        upward.len(),
        report.join("\n")
    );
}

#[test]
fn the_check_sees_upward_and_allows_downward_uses() {
    let text = "use crate::app::AppState;\n// see crate::http\nfn f() { crate::store::now_ms(); }\n#[cfg(test)]\nmod tests { use crate::app::X; }";
    assert_eq!(crate_paths(without_tests(text)), vec!["app", "store"]);
    let shared =
        "use crate::store::X;\n#[cfg(test)]\nmod other;\n#[cfg(test)]\npub(super) mod tests {\n use crate::app::Y; }";
    assert_eq!(crate_paths(without_tests(shared)), vec!["store"]);
    assert!(layer("app") < layer("store"));
    assert_eq!(layer("scenario"), layer("media"), "neither may use the other");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(declared_for_tests(&src.join("store/plans.rs")), "a #[cfg(test)] module");
    assert!(!declared_for_tests(&src.join("store/chats.rs")));
}
