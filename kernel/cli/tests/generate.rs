//! `mizan generate` end to end in a temporary project: writes the configured targets (the same
//! bytes as the golden files), `--check` (0 up to date, 1 listing stale files), deletion of a
//! generated file no target writes any more (never of a file without the marker), and errors
//! (exit 2). js-shims/test/codegen.test.js
//! runs the same against `npx mizan-generate`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn generate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mizan")).arg("generate").args(args).current_dir(dir).output().unwrap()
}

fn project(name: &str, targets: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mizan-cli-generate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kdl = Path::new(REPO).join("tests/fixtures/ir/shop.kdl");
    std::fs::write(dir.join("mizan.toml"), format!("output = \"api\"\ntargets = {targets}\n[source]\nkdl = {:?}\n", kdl.to_str().unwrap())).unwrap();
    dir
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn writes_checks_and_cleans_up() {
    let dir = project("cycle", "[\"react\", \"rust\"]");
    let out = generate(&dir, &["--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("stale: api/react.ts (would create)"), "{}", text(&out));

    let out = generate(&dir, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3 generated files, 3 changed"), "{}", text(&out));
    let golden = |target: &str, name: &str| std::fs::read(Path::new(REPO).join("tests/codegen").join(target).join("shop").join(name)).unwrap();
    assert_eq!(std::fs::read(dir.join("api/react.ts")).unwrap(), golden("react", "react.ts"));
    assert_eq!(std::fs::read(dir.join("api/mizan.ts")).unwrap(), golden("stage1", "mizan.ts"));
    assert_eq!(std::fs::read(dir.join("api/mizan_client.rs")).unwrap(), golden("rust", "mizan_client.rs"));
    let out = generate(&dir, &["--check", "--config", "mizan.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    std::fs::write(dir.join("api/mizan.ts"), "edited\n").unwrap();
    let out = generate(&dir, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "stale: api/mizan.ts (would update)\n");

    std::fs::write(dir.join("mizan.toml"), std::fs::read_to_string(dir.join("mizan.toml")).unwrap().replace("\"react\", ", "")).unwrap();
    let out = generate(&dir, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("delete: api/react.ts"), "{}", text(&out));
    assert!(dir.join("api/mizan_client.rs").is_file() && !dir.join("api/react.ts").exists());
    // mizan.ts lost the generated marker when it was edited: it is the user's now, left alone.
    assert_eq!(std::fs::read_to_string(dir.join("api/mizan.ts")).unwrap(), "edited\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_exit_2_with_the_place() {
    let dir = project("errors", "[\"vue\"]");
    std::fs::write(dir.join("mizan.toml"), "output = \"api\"\ntargets = [\"vue\"]\n[source.fastapi]\nmodul = \"main\"\n").unwrap();
    let out = generate(&dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("line 4, column 1: unknown field `modul`"), "{}", text(&out));

    std::fs::write(dir.join("mizan.toml"), "output = \"api\"\ntargets = [\"vue\"]\n[source]\nkdl = \"app.kdl\"\n").unwrap();
    std::fs::write(dir.join("app.kdl"), "mizan-ir version=1\nfunction f output=string {\n  input x type=integr\n}\n").unwrap();
    let out = generate(&dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("invalid-registry") && text(&out).contains("integr"), "{}", text(&out));
    let out = generate(&dir, &["--config", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("missing.toml"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
