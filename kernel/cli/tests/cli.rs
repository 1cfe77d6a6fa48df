//! The `mizan` binary end to end: every cache-key and header vector, the IR commands, and errors.

use serde_json::Value;
use std::process::{Command, Output};

#[path = "../../../tests/conformance/load.rs"]
mod load;

const TESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests");

fn mizan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mizan")).args(args).env_remove("MIZAN_CACHE_SECRET").output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{TESTS}/vectors/kernel-vectors.json")).unwrap()).unwrap()
}

#[test]
fn key_reproduces_every_vector() {
    for case in vectors()["cache_keys"].as_array().unwrap() {
        let params = case["params"].to_string();
        let rev = case["rev"].to_string();
        let mut args = vec!["key", "--secret", case["secret"].as_str().unwrap(), "--context", case["context"].as_str().unwrap(), "--params", &params, "--rev", &rev, "--explain"];
        let user = case.get("user").map(|u| match u {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if let Some(u) = &user {
            args.extend(["--user", u]);
        }
        let out = stdout(&mizan(&args));
        assert!(out.contains(case["key"].as_str().unwrap()), "{}: {out}", case["id"]);
        assert!(out.contains(case["message"].as_str().unwrap()), "{}: {out}", case["id"]);
    }
}

#[test]
fn secret_from_environment_and_short_secret_warns() {
    let o = Command::new(env!("CARGO_BIN_EXE_mizan"))
        .args(["key", "--context", "user", "--params", r#"{"user_id":"5"}"#])
        .env("MIZAN_CACHE_SECRET", "test-pin-secret-that-is-32bytes!")
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), "ctx:user:605a1ca5ad5994e9b765c8d1b330474c2a0d51a7b8fbbdc402f992da7ba902f6");
    let o = mizan(&["key", "--secret", "short", "--context", "c"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning"));
    let o = mizan(&["key", "--secret", "", "--context", "c"]);
    assert!(!o.status.success());
}

#[test]
fn header_vectors_format_and_parse() {
    for case in vectors()["header"].as_array().unwrap() {
        let out = stdout(&mizan(&["header", "format", &case["entries"].to_string()]));
        assert_eq!(out.trim(), case["header"].as_str().unwrap());
        let parsed: Value = serde_json::from_str(&stdout(&mizan(&["header", "parse", case["header"].as_str().unwrap()]))).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), case["entries"].as_array().unwrap().len());
    }
    let o = mizan(&["header", "parse", "a;k=%zz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("position"));
}

/// Writes the shop registry to a file of the calling test's own: tests run in parallel threads of
/// one process, so a path shared between them is rewritten while another test reads it.
fn shop(test: &str) -> String {
    let dir = std::env::temp_dir().join(format!("mizan-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = load::merged(&load::root(env!("CARGO_MANIFEST_DIR"), "../.."), "cases.json", "cases");
    let path = dir.join("shop.kdl");
    std::fs::write(&path, cases["registries"]["shop"].as_str().unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn ir_invalidate_merges_manifest() {
    let file = shop("ir");
    assert!(stdout(&mizan(&["ir", "check", &file])).contains("ok"));
    let canonical = stdout(&mizan(&["ir", "fmt", &file]));
    let canonical_path = format!("{file}.canonical.kdl");
    std::fs::write(&canonical_path, &canonical).unwrap();
    assert!(mizan(&["ir", "fmt", "--check", &canonical_path]).status.success());
    std::fs::write(&canonical_path, format!("\n{canonical}")).unwrap();
    assert_eq!(mizan(&["ir", "fmt", "--check", &canonical_path]).status.code(), Some(1));

    let out = stdout(&mizan(&["invalidate", &file, "--fn", "update_profile", "--args", r#"{"user_id":5,"name":"x"}"#]));
    assert!(out.contains("X-Mizan-Invalidate: user;user_id=5, global"), "{out}");
    let out = stdout(&mizan(&["merges", &file, "--fn", "set_item_name", "--args", r#"{"id":1}"#, "--result", r#"{"id":1,"name":"n"}"#]));
    assert!(out.contains("\"slot\": \"items_list\""), "{out}");
    let out = stdout(&mizan(&["manifest", &file]));
    let manifest: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(manifest["version"], 1);
    assert_eq!(out, stdout(&mizan(&["manifest", &file])));
}

#[test]
fn bad_input_exits_non_zero_with_a_message() {
    let o = mizan(&["ir", "check", "/nonexistent.kdl"]);
    assert_eq!(o.status.code(), Some(2));
    let file = shop("bad-input");
    let o = mizan(&["invalidate", &file, "--fn", "ghost", "--broad"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not-found"));
    let o = mizan(&["invalidate", &file, "--fn", "post_order", "--args", "{oops"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid-json"));
}

#[test]
fn a_json_object_that_is_not_a_registry_is_refused() {
    let path = std::env::temp_dir().join(format!("mizan-cli-not-a-registry-{}.json", std::process::id()));
    std::fs::write(&path, r#"{"not":"a registry"}"#).unwrap();
    let o = mizan(&["ir", "check", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("registry JSON: not: unknown key (a registry has version, contexts, functions, types, enums)"), "{stderr}");
    std::fs::write(&path, r#"{"version": 1, "functions": {}}"#).unwrap();
    assert!(stdout(&mizan(&["ir", "check", path.to_str().unwrap()])).contains("ok — 0 functions"));
}

#[test]
fn invalidate_needs_args_or_an_explicit_broad() {
    let file = shop("broad");
    let o = mizan(&["invalidate", &file, "--fn", "update_profile"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--args") && stderr.contains("--broad"), "{stderr}");
    let broad = stdout(&mizan(&["invalidate", &file, "--fn", "update_profile", "--broad"]));
    assert!(broad.contains("X-Mizan-Invalidate: user, global"), "{broad}");
    let o = mizan(&["invalidate", &file, "--fn", "update_profile", "--broad", "--args", "{}"]);
    assert_eq!(o.status.code(), Some(2), "--broad and --args together are refused");
}
