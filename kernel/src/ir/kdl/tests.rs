//! Unit tests of the KDL v2 reader (`syntax.rs`) against the official KDL test suite. The IR
//! grammar itself (the walk, messages, positions, proptests) is tested in `kernel/tests/ir.rs`.

use super::syntax::{self, Node, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A node tree in the form of the KDL test suite's expected files: properties deduplicated
/// (the rightmost wins) and sorted, empty children blocks dropped.
fn dump(out: &mut String, depth: usize, name: &str, ty: Option<&str>, args: Vec<String>, props: Vec<(String, String)>) {
    out.push_str(&"  ".repeat(depth));
    if let Some(ty) = ty {
        out.push_str(&format!("({ty:?})"));
    }
    out.push_str(&format!("{name:?}"));
    for a in args {
        out.push(' ');
        out.push_str(&a);
    }
    let props: BTreeMap<String, String> = props.into_iter().collect();
    for (k, v) in props {
        out.push_str(&format!(" {k:?}={v}"));
    }
    out.push('\n');
}

fn float(f: f64) -> String {
    if f.is_nan() { "#nan".into() } else { format!("{f:?}") }
}

fn mine(nodes: &[Node], depth: usize, out: &mut String) {
    let repr = |ty: &Option<String>, v: &Value| {
        let t = ty.as_ref().map(|t| format!("({t:?})")).unwrap_or_default();
        t + &match v {
            Value::String(s) => format!("{s:?}"),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => float(*f),
            Value::Bool(b) => format!("#{b}"),
            Value::Null => "#null".into(),
        }
    };
    for n in nodes {
        let args = n.entries.iter().filter(|e| e.key.is_none()).map(|e| repr(&e.ty, &e.value)).collect();
        let props = n
            .entries
            .iter()
            .filter_map(|e| e.key.as_ref().map(|k| (k.clone(), repr(&e.ty, &e.value))))
            .collect();
        dump(out, depth, &n.name, n.ty.as_deref(), args, props);
        mine(n.children.as_deref().unwrap_or(&[]), depth + 1, out);
    }
}

fn theirs(doc: &::kdl::KdlDocument, depth: usize, out: &mut String) {
    let repr = |e: &::kdl::KdlEntry| {
        let t = e.ty().map(|t| format!("({:?})", t.value())).unwrap_or_default();
        t + &match e.value() {
            ::kdl::KdlValue::String(s) => format!("{s:?}"),
            ::kdl::KdlValue::Integer(i) => i.to_string(),
            ::kdl::KdlValue::Float(f) => float(*f),
            ::kdl::KdlValue::Bool(b) => format!("#{b}"),
            ::kdl::KdlValue::Null => "#null".into(),
        }
    };
    for n in doc.nodes() {
        let args = n.entries().iter().filter(|e| e.name().is_none()).map(repr).collect();
        let props = n
            .entries()
            .iter()
            .filter_map(|e| e.name().map(|k| (k.value().to_string(), repr(e))))
            .collect();
        dump(out, depth, n.name().value(), n.ty().map(|t| t.value()), args, props);
        if let Some(children) = n.children() {
            theirs(children, depth + 1, out);
        }
    }
}

/// The official KDL test suite, as shipped inside the `kdl` crate's sources.
fn suite() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    for registry in std::fs::read_dir(home.join("registry").join("src")).ok()?.flatten() {
        let mut crates: Vec<PathBuf> = std::fs::read_dir(registry.path())
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("kdl-6.")))
            .collect();
        crates.sort();
        if let Some(dir) = crates.pop() {
            return Some(dir.join("tests").join("test_cases"));
        }
    }
    None
}

#[test]
fn official_kdl_test_suite() {
    let Some(dir) = suite().filter(|d| d.is_dir()) else {
        eprintln!("the KDL test suite is not available; skipped");
        return;
    };
    let mut failures = Vec::new();
    let mut count = 0;
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir.join("input")).into_iter().flatten().flatten().map(|e| e.path()).collect();
    inputs.sort();
    for input in inputs {
        let name = input.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let text = std::fs::read_to_string(&input).unwrap_or_default().replace("\r\n", "\n");
        count += 1;
        let parsed = syntax::parse(&text);
        if name.ends_with("_fail.kdl") {
            if parsed.is_ok() {
                failures.push(format!("{name}: should fail, parsed"));
            }
            continue;
        }
        let nodes = match parsed {
            Ok(nodes) => nodes,
            Err(e) => {
                failures.push(format!("{name}: should parse, got {e:?}"));
                continue;
            }
        };
        // A few valid inputs have no expected file in this copy of the suite.
        let Ok(expected_text) = std::fs::read_to_string(dir.join("expected_kdl").join(&name)) else {
            continue;
        };
        let mut expected = String::new();
        match ::kdl::KdlDocument::parse_v2(&expected_text) {
            Ok(doc) => theirs(&doc, 0, &mut expected),
            Err(_) => match syntax::parse(&expected_text) {
                Ok(n) => mine(&n, 0, &mut expected),
                Err(e) => {
                    failures.push(format!("{name}: expected file does not parse: {e:?}"));
                    continue;
                }
            },
        }
        let mut actual = String::new();
        mine(&nodes, 0, &mut actual);
        if actual != expected {
            failures.push(format!("{name}: mismatch\n--- expected\n{expected}--- actual\n{actual}"));
        }
    }
    assert!(count > 300, "only {count} test cases found");
    assert!(failures.is_empty(), "{} of {count} failed:\n{}", failures.len(), failures.join("\n"));
}
