//! Golden files: what every target writes for each fixture IR, byte for byte, under
//! `tests/codegen/<target>/<fixture>/`. `MIZAN_BLESS=1 cargo test -p mizan-codegen --test golden`
//! rewrites them; read the diff before keeping it. The type checks of these files run in
//! js-shims (tsc), python-shims (mypy) and `tests/codegen/rust/check` (cargo check).

use mizan_codegen::{Target, generate};
use mizan_kernel::Registry;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// (name, IR file relative to the repository root).
pub const FIXTURES: &[(&str, &str)] =
    &[("edge", "tests/codegen/edge.kdl"), ("parity", "tests/fixtures/ir/parity.kdl"), ("shop", "tests/fixtures/ir/shop.kdl")];

fn registry(path: &str) -> Registry {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap();
    Registry::from_kdl(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The files a target adds to what stage 1 writes (the framework targets import `mizan.ts`;
/// the golden copy of it lives under `stage1/`).
fn own_files(target: Target, registry: &Registry) -> Vec<(String, String)> {
    let files = generate(registry, &[target]).unwrap_or_else(|e| panic!("{}: {e}", target.name()));
    let stage1 = generate(registry, &[Target::Stage1]).unwrap();
    files
        .into_iter()
        .filter(|f| {
            if target != Target::Stage1 && f.path == "mizan.ts" {
                assert_eq!(f.contents, stage1[0].contents, "{} writes a different mizan.ts", target.name());
                return false;
            }
            true
        })
        .map(|f| (f.path, f.contents))
        .collect()
}

fn golden_dir(target: Target, fixture: &str) -> PathBuf {
    Path::new(ROOT).join("tests/codegen").join(target.name()).join(fixture)
}

#[test]
fn every_target_matches_its_golden_files() {
    let bless = std::env::var_os("MIZAN_BLESS").is_some();
    let mut stale = Vec::new();
    for (fixture, path) in FIXTURES {
        let registry = registry(path);
        for target in Target::ALL {
            let dir = golden_dir(target, fixture);
            let files = own_files(target, &registry);
            if bless {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                for (name, text) in &files {
                    std::fs::write(dir.join(name), text).unwrap();
                }
                continue;
            }
            let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let written: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
            if on_disk != written {
                stale.push(format!("{}: files {:?}, golden has {:?}", dir.display(), written, on_disk));
            }
            for (name, text) in &files {
                match std::fs::read_to_string(dir.join(name)) {
                    Ok(golden) if golden == *text => {}
                    Ok(golden) => stale.push(format!("{}/{name}: differs at line {}", dir.display(), first_difference(&golden, text))),
                    Err(_) => {}
                }
            }
        }
    }
    assert!(stale.is_empty(), "stale golden files (MIZAN_BLESS=1 cargo test -p mizan-codegen --test golden):\n{}", stale.join("\n"));
}

fn first_difference(a: &str, b: &str) -> usize {
    a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or_else(|| a.lines().count().min(b.lines().count())) + 1
}

#[test]
fn output_does_not_depend_on_how_the_ir_is_written() {
    let canonical = registry("tests/fixtures/ir/shop.canonical.kdl");
    let unsorted = registry("tests/fixtures/ir/shop.unsorted.kdl");
    let all = Target::ALL;
    assert_eq!(generate(&canonical, &all).unwrap(), generate(&unsorted, &all).unwrap());
    assert_eq!(generate(&canonical, &all).unwrap(), generate(&canonical, &all).unwrap());
}

#[test]
fn left_out_functions_are_named_in_every_file() {
    let files = generate(&registry("tests/codegen/edge.kdl"), &Target::ALL).unwrap();
    assert_eq!(files.len(), 6);
    for f in &files {
        let head: String = f.contents.lines().take(6).collect::<Vec<_>>().join("\n");
        assert!(mizan_codegen::sync::is_generated(&f.contents), "{}", f.path);
        for skipped in ["context `cursors` (member `live_cursor` is websocket", "function `admin_page` (view path", "function `webhook` (private"] {
            assert!(head.contains(skipped), "{} does not mention {skipped}:\n{head}", f.path);
        }
    }
}

#[test]
fn colliding_generated_names_are_refused_with_every_problem() {
    let r = Registry::from_kdl(
        "mizan-ir version=1\nfunction a context=user output=string\nfunction b output=UserParams\nfunction b_c output=string\nfunction bC output=string\ntype UserParams {\n field x type=string\n}\n",
    )
    .unwrap();
    let e = generate(&r, &[Target::Stage1]).unwrap_err();
    assert_eq!(e.code, mizan_kernel::ErrorCode::InvalidRegistry);
    let problems = e.details.unwrap()["problems"].to_string();
    assert!(problems.contains("the params of context `user` and the type `UserParams` would both be named `UserParams`"), "{problems}");
    assert!(problems.contains("`callBC`"), "{problems}");
}
