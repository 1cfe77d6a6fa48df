//! The component glue of `mizan-codegen` (world `codegen` in `wit/codegen.wit`): translation
//! only, so the component and `mizan generate` cannot disagree.

use mizan_codegen::{ChangeKind, File, Project as CodegenProject, SourcePlan};

wit_bindgen::generate!({
    path: "../../wit",
    world: "codegen",
});

use exports::mizan::kernel::generator::{self as g, Guest, GuestProject};
use exports::mizan::kernel::types::{Error, ErrorCode};

struct Component;

fn err(e: mizan_kernel::Error) -> Error {
    use mizan_kernel::ErrorCode as K;
    Error {
        code: match e.code {
            K::InvalidJson => ErrorCode::InvalidJson,
            K::InvalidArgument => ErrorCode::InvalidArgument,
            K::InvalidHeader => ErrorCode::InvalidHeader,
            K::InvalidIr => ErrorCode::InvalidIr,
            K::InvalidRegistry => ErrorCode::InvalidRegistry,
            K::NotFound => ErrorCode::NotFound,
        },
        message: e.message,
        details: e.details.map(|d| d.to_string()),
    }
}

fn to_wit(f: File) -> g::File {
    g::File { path: f.path, contents: f.contents }
}

fn from_wit(f: g::File) -> File {
    File { path: f.path, contents: f.contents }
}

pub struct Project(CodegenProject);

impl GuestProject for Project {
    fn parse(toml: String) -> Result<g::Project, Error> {
        CodegenProject::from_toml(&toml).map(|p| g::Project::new(Project(p))).map_err(err)
    }

    fn source(&self) -> g::Source {
        match self.0.source() {
            SourcePlan::File { path } => g::Source::Path(path),
            SourcePlan::Command { program, args, cwd, env } => g::Source::Command(g::Command { program, args, cwd, env }),
        }
    }

    fn describe_source(&self) -> String {
        self.0.source().describe()
    }

    fn generate(&self, ir: String) -> Result<Vec<g::File>, Error> {
        self.0.generate(&ir).map(|files| files.into_iter().map(to_wit).collect()).map_err(err)
    }

    fn candidates(&self) -> Vec<String> {
        self.0.candidates()
    }
}

impl Guest for Component {
    type Project = Project;

    fn reconcile(generated: Vec<g::File>, existing: Vec<g::File>) -> Vec<g::Change> {
        let generated: Vec<File> = generated.into_iter().map(from_wit).collect();
        let existing: Vec<File> = existing.into_iter().map(from_wit).collect();
        mizan_codegen::reconcile(&generated, &existing)
            .into_iter()
            .map(|c| g::Change {
                path: c.path,
                kind: match c.kind {
                    ChangeKind::Create => g::ChangeKind::Create,
                    ChangeKind::Update => g::ChangeKind::Update,
                    ChangeKind::Delete => g::ChangeKind::Delete,
                    ChangeKind::Unchanged => g::ChangeKind::Unchanged,
                },
            })
            .collect()
    }
}

export!(Component);
