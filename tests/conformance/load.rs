//! Loads the per-feature conformance files (tests/conformance/README.md) for the Rust runners:
//! the native kernel (`kernel/tests/conformance.rs`), the wasmtime host
//! (`hosts/mizan-host/tests/conformance.rs`) and the CLI tests. Each includes this one file with
//! `#[path = ".../tests/conformance/load.rs"] mod load;`, so there is a single loader.
//!
//! A feature is a directory `tests/conformance/<feature>/` holding `cases.json` (hand-written
//! inputs) and `scenarios.json` (generated). Adding a feature is adding a directory: every runner
//! picks it up.

// Each runner uses a different part of this module.
#![allow(dead_code)]

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The environment variable that points the runners at other scenarios (a file or a directory).
pub const OVERRIDE: &str = "MIZAN_SCENARIOS";

/// `tests/conformance` from a crate's manifest directory and its path to the repository root.
pub fn root(manifest_dir: &str, to_repo: &str) -> PathBuf {
    Path::new(manifest_dir).join(to_repo).join("tests/conformance")
}

/// The feature directories under `root` (those holding `file`), in name order.
pub fn features(root: &Path, file: &str) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let mut dirs: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.join(file).is_file()).collect();
    dirs.sort();
    dirs
}

/// The files named `file` that `path` stands for: `path` itself when it is a file, `path/file`
/// when the directory is one feature, else `path/<feature>/file` for every feature.
pub fn files(path: &Path, file: &str) -> Vec<PathBuf> {
    if path.is_file() {
        vec![path.to_path_buf()]
    } else if path.join(file).is_file() {
        vec![path.join(file)]
    } else {
        features(path, file).into_iter().map(|d| d.join(file)).collect()
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One document `{"registries", list}` from every file `path` stands for: the `list` arrays
/// (`"scenarios"` or `"cases"`) in file order, the registries united. Two files may carry the
/// same registry name only with the same registry, and no id may appear twice.
pub fn merged(path: &Path, file: &str, list: &str) -> Value {
    let mut registries = Map::new();
    let mut items: Vec<Value> = Vec::new();
    let paths = files(path, file);
    assert!(!paths.is_empty(), "no {file} under {}", path.display());
    for p in paths {
        let doc = read_json(&p);
        for (name, spec) in doc["registries"].as_object().into_iter().flatten() {
            if let Some(other) = registries.insert(name.clone(), spec.clone()) {
                assert_eq!(&other, spec, "{}: registry {name} differs from another feature's registry of that name", p.display());
            }
        }
        for item in doc[list].as_array().unwrap_or_else(|| panic!("{}: no {list} list", p.display())) {
            assert!(!items.iter().any(|i| i["id"] == item["id"]), "{}: id {} appears twice", p.display(), item["id"]);
            items.push(item.clone());
        }
    }
    let mut doc = Map::new();
    doc.insert("registries".into(), Value::Object(registries));
    doc.insert(list.into(), Value::Array(items));
    Value::Object(doc)
}

/// Every scenario under `root`, or under `$MIZAN_SCENARIOS` (a file or a directory) when set.
pub fn scenarios(root: &Path) -> Value {
    let path = std::env::var_os(OVERRIDE).map_or_else(|| root.to_path_buf(), PathBuf::from);
    merged(&path, "scenarios.json", "scenarios")
}
