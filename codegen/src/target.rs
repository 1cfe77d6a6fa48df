//! The targets and the files each one writes (relative to its output directory).

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Stage1,
    React,
    Vue,
    Svelte,
    Python,
    Rust,
}

impl Target {
    pub const ALL: [Target; 6] = [Target::Stage1, Target::React, Target::Vue, Target::Svelte, Target::Python, Target::Rust];

    pub fn name(self) -> &'static str {
        match self {
            Target::Stage1 => "stage1",
            Target::React => "react",
            Target::Vue => "vue",
            Target::Svelte => "svelte",
            Target::Python => "python",
            Target::Rust => "rust",
        }
    }

    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// `stage1, react, vue, svelte, python, rust`, for messages.
    pub fn names() -> String {
        Target::ALL.map(Target::name).join(", ")
    }

    /// The files this target writes. The framework targets need stage 1 (they import it), so
    /// they write it too; a file two targets share is written once.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Target::Stage1 => &["mizan.ts"],
            Target::React => &["mizan.ts", "react.ts"],
            Target::Vue => &["mizan.ts", "vue.ts"],
            Target::Svelte => &["mizan.ts", "svelte.ts"],
            Target::Python => &["mizan_client.py"],
            Target::Rust => &["mizan_client.rs"],
        }
    }
}
