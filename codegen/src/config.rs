//! `mizan.toml`: where the IR comes from, which targets to generate, and where to write them.
//!
//! ```toml
//! output = "src/api"            # the directory generated files go to (relative to this file)
//! targets = ["react"]           # stage1, react, vue, svelte, python, rust
//!
//! [outputs]                     # optional: another directory for some targets
//! python = "../scripts/api"
//!
//! [source]                      # exactly one source:
//! kdl = "app.kdl"               #   an IR file, or one of the tables below
//! ```
//!
//! `[source.fastapi] module cwd command env`, `[source.django] manage_path command env
//! functions`, `[source.rust] manifest_path bin env`: see [`crate::source`].

use crate::target::Target;
use mizan_kernel::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub output: String,
    pub targets: Vec<String>,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub kdl: Option<String>,
    pub fastapi: Option<FastApiSource>,
    pub django: Option<DjangoSource>,
    pub rust: Option<RustSource>,
}

/// `python -m mizan_kernel ir MODULE[:ATTR]`, run in `cwd`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastApiSource {
    pub module: String,
    pub cwd: Option<String>,
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `python MANAGE_PATH export_mizan_ir [FUNCTIONS]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DjangoSource {
    pub manage_path: String,
    pub command: Option<Vec<String>>,
    /// `module:attr` of the functions, when the URLconf mounts more than one `mizan_urls`.
    pub functions: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `cargo run --quiet --manifest-path MANIFEST_PATH --bin BIN`, a binary that prints the IR.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RustSource {
    pub manifest_path: String,
    pub bin: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Config {
    /// Parse and check `mizan.toml`. Errors are `invalid-argument`, with the TOML position.
    pub fn from_toml(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let mut message = format!("mizan.toml: {}", e.message());
            if let Some(span) = e.span() {
                let (line, column) = line_column(text, span.start);
                message = format!("mizan.toml: line {line}, column {column}: {}", e.message());
                return Error::invalid_argument(message).with_details(serde_json::json!({"line": line, "column": column}));
            }
            message.truncate(message.trim_end().len());
            Error::invalid_argument(message)
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid_argument(format!("mizan.toml: {m}")));
        if self.targets.is_empty() {
            return bad(format!("`targets` is empty; name one or more of {}", Target::names()));
        }
        for t in &self.targets {
            if Target::parse(t).is_none() {
                return bad(format!("unknown target `{t}`; the targets are {}", Target::names()));
            }
        }
        for t in self.outputs.keys() {
            if !self.targets.contains(t) {
                return bad(format!("`outputs.{t}` names a target that is not in `targets`"));
            }
        }
        let s = &self.source;
        let given = [s.kdl.is_some(), s.fastapi.is_some(), s.django.is_some(), s.rust.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return bad("give exactly one source: `[source] kdl = \"app.kdl\"`, `[source.fastapi]`, `[source.django]` or `[source.rust]`".into());
        }
        for command in [s.fastapi.as_ref().and_then(|f| f.command.as_ref()), s.django.as_ref().and_then(|d| d.command.as_ref())].into_iter().flatten() {
            if command.is_empty() || command[0].is_empty() {
                return bad("`command` needs a program, e.g. [\"python\"] or [\"uv\", \"run\", \"python\"]".into());
            }
        }
        Ok(())
    }

    /// The configured targets, in the order written, without repeats.
    pub fn targets(&self) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for t in self.targets.iter().filter_map(|t| Target::parse(t)) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// The directory a target's files go to, relative to the config file.
    pub fn output_of(&self, target: Target) -> &str {
        self.outputs.get(target.name()).map_or(self.output.as_str(), String::as_str)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_source_kind() {
        let c = Config::from_toml("output = \"src/api\"\ntargets = [\"react\", \"stage1\", \"react\"]\n[source]\nkdl = \"app.kdl\"\n").unwrap();
        assert_eq!(c.targets(), vec![Target::React, Target::Stage1]);
        assert_eq!(c.source.kdl.as_deref(), Some("app.kdl"));
        let c = Config::from_toml(
            "output = \"o\"\ntargets = [\"python\"]\n[outputs]\npython = \"py\"\n[source.django]\nmanage_path = \"../b/manage.py\"\n[source.django.env]\nDJANGO_SETTINGS_MODULE = \"b.settings\"\n",
        )
        .unwrap();
        assert_eq!(c.output_of(Target::Python), "py");
        assert_eq!(c.source.django.unwrap().env["DJANGO_SETTINGS_MODULE"], "b.settings");
    }

    #[test]
    fn mistakes_are_reported_with_their_position() {
        let e = Config::from_toml("output = \"o\"\ntagets = [\"react\"]\n[source]\nkdl = \"a\"\n").unwrap_err();
        assert!(e.message.starts_with("mizan.toml: line 2, column 1: unknown field `tagets`"), "{}", e.message);
        let e = Config::from_toml("output = \"o\"\ntargets = [\"angular\"]\n[source]\nkdl = \"a\"\n").unwrap_err();
        assert!(e.message.contains("unknown target `angular`"), "{}", e.message);
        let e = Config::from_toml("output = \"o\"\ntargets = [\"react\"]\n[source]\nkdl = \"a\"\n[source.rust]\nmanifest_path = \"C\"\nbin = \"b\"\n").unwrap_err();
        assert!(e.message.contains("exactly one source"), "{}", e.message);
        let e = Config::from_toml("output = \"o\"\ntargets = []\n[source]\nkdl = \"a\"\n").unwrap_err();
        assert!(e.message.contains("`targets` is empty"), "{}", e.message);
        let e = Config::from_toml("output = \"o\"\ntargets = [\"vue\"]\n[outputs]\nreact = \"x\"\n[source]\nkdl = \"a\"\n").unwrap_err();
        assert!(e.message.contains("`outputs.react`"), "{}", e.message);
    }
}
