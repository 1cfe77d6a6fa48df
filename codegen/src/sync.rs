//! Bringing an output directory in line with what was generated, decided here and performed by
//! the host: which files to create, rewrite or delete, and which are already up to date (what
//! `--check` reports).

use crate::MARKER;

/// A file: a path relative to the directory of `mizan.toml` (`/`-separated) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub contents: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Update,
    /// A file an earlier run generated (it starts with the marker) that no target writes now.
    Delete,
    Unchanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

/// Whether a file was written by the generator (its first line carries the marker), so a
/// user's own file of the same name is never deleted.
pub fn is_generated(contents: &str) -> bool {
    contents.lines().next().is_some_and(|l| l.contains(MARKER))
}

/// `generated` against `existing` (the files found at the candidate paths): one change per
/// path, in path order.
pub fn reconcile(generated: &[File], existing: &[File]) -> Vec<Change> {
    let mut out: Vec<Change> = generated
        .iter()
        .map(|g| {
            let kind = match existing.iter().find(|e| e.path == g.path) {
                None => ChangeKind::Create,
                Some(e) if e.contents == g.contents => ChangeKind::Unchanged,
                Some(_) => ChangeKind::Update,
            };
            Change { path: g.path.clone(), kind }
        })
        .collect();
    for e in existing {
        if !generated.iter().any(|g| g.path == e.path) && is_generated(&e.contents) {
            out.push(Change { path: e.path.clone(), kind: ChangeKind::Delete });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, contents: &str) -> File {
        File { path: path.into(), contents: contents.into() }
    }

    #[test]
    fn creates_updates_and_deletes_only_generated_files() {
        let marked = format!("// {MARKER}\nold\n");
        let generated = [f("o/a.ts", "a"), f("o/b.ts", "b"), f("o/c.ts", "c")];
        let existing = [f("o/b.ts", "b"), f("o/c.ts", "stale"), f("o/vue.ts", &marked), f("o/svelte.ts", "mine\n")];
        let kinds: Vec<(String, &str)> = reconcile(&generated, &existing).into_iter().map(|c| (c.path, c.kind.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                ("o/a.ts".into(), "create"),
                ("o/b.ts".into(), "unchanged"),
                ("o/c.ts".into(), "update"),
                ("o/vue.ts".into(), "delete")
            ]
        );
    }
}
