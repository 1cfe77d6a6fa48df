//! `mizan generate`: run `mizan.toml`'s source, generate its targets, write them (or, with
//! `--check`, report which are stale). Every decision is `mizan_codegen`'s; this file does the
//! I/O, as `js-shims/bin/mizan-generate.mjs` does for the component.

use mizan_codegen::{ChangeKind, File, Project, SourcePlan, reconcile};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

fn describe(e: &mizan_kernel::Error) -> String {
    let mut out = e.to_string();
    if let Some(problems) = e.details.as_ref().and_then(|d| d.get("problems")).and_then(|p| p.as_array()) {
        for p in problems.iter().skip(1) {
            out.push_str(&format!("\n  also: {}", p.as_str().unwrap_or_default()));
        }
    }
    out
}

/// The IR text from the configured source, paths relative to `base` (mizan.toml's directory).
fn read_ir(plan: &SourcePlan, base: &Path) -> Result<String, String> {
    match plan {
        SourcePlan::File { path } => {
            let full = base.join(path);
            std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))
        }
        SourcePlan::Command { program, args, cwd, env } => {
            let output = Command::new(program)
                .args(args)
                .current_dir(base.join(cwd))
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", plan.describe()))?;
            if !output.status.success() {
                return Err(format!("{} failed ({})", plan.describe(), output.status));
            }
            String::from_utf8(output.stdout).map_err(|_| format!("{} printed text that is not UTF-8", plan.describe()))
        }
    }
}

pub fn run(config: &Path, check: bool) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let project = Project::from_toml(&text).map_err(|e| format!("{}: {}", config.display(), describe(&e)))?;
    let base: PathBuf = config.parent().map(Path::to_path_buf).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| ".".into());
    let source = project.source();
    let ir = read_ir(&source, &base)?;
    let files = project.generate(&ir).map_err(|e| format!("IR from {}: {}", source.describe(), describe(&e)))?;
    let existing: Vec<File> = project
        .candidates()
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(base.join(&path)).ok().map(|contents| File { path, contents }))
        .collect();
    let changes = reconcile(&files, &existing);
    let stale: Vec<_> = changes.iter().filter(|c| c.kind != ChangeKind::Unchanged).collect();
    if check {
        if stale.is_empty() {
            println!("{} generated files are up to date", files.len());
            return Ok(ExitCode::SUCCESS);
        }
        for c in &stale {
            println!("stale: {} (would {})", c.path, c.kind.as_str());
        }
        eprintln!("{} of {} generated files are stale: run `mizan generate --config {}`", stale.len(), files.len(), config.display());
        return Ok(ExitCode::from(1));
    }
    for c in &stale {
        let path = base.join(&c.path);
        match c.kind {
            ChangeKind::Delete => std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            _ => {
                let file = files.iter().find(|f| f.path == c.path).expect("reconcile only names generated or existing files");
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                std::fs::write(&path, &file.contents).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        println!("{}: {}", c.kind.as_str(), c.path);
    }
    println!("{} generated files, {} changed", files.len(), stale.len());
    Ok(ExitCode::SUCCESS)
}
