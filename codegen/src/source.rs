//! Where the IR comes from: a file, or a command that prints it. The plan is computed here, the
//! same for `mizan generate` and `npx mizan-generate`; each host only runs it. Paths are
//! relative to the directory of `mizan.toml` (commands run there unless `cwd` says otherwise).

use crate::config::Source;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePlan {
    /// Read this IR file.
    File { path: String },
    /// Run `program args…` in `cwd` with `env` added; its standard output is the IR.
    Command { program: String, args: Vec<String>, cwd: String, env: Vec<(String, String)> },
}

impl SourcePlan {
    pub fn of(source: &Source) -> SourcePlan {
        if let Some(path) = &source.kdl {
            return SourcePlan::File { path: path.clone() };
        }
        let python = |command: &Option<Vec<String>>| command.clone().unwrap_or_else(|| vec!["python".to_string()]);
        let (mut argv, cwd, env) = if let Some(f) = &source.fastapi {
            let mut argv = python(&f.command);
            argv.extend(["-m", "mizan_kernel", "ir", &f.module].map(String::from));
            (argv, f.cwd.clone().unwrap_or_else(|| ".".into()), &f.env)
        } else if let Some(d) = &source.django {
            let mut argv = python(&d.command);
            argv.extend([d.manage_path.clone(), "export_mizan_ir".into()]);
            argv.extend(d.functions.clone());
            (argv, ".".to_string(), &d.env)
        } else if let Some(r) = &source.rust {
            let argv = ["cargo", "run", "--quiet", "--manifest-path", &r.manifest_path, "--bin", &r.bin].map(String::from).to_vec();
            (argv, ".".to_string(), &r.env)
        } else {
            unreachable!("Config::check requires exactly one source")
        };
        let program = argv.remove(0);
        SourcePlan::Command { program, args: argv, cwd, env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect() }
    }

    /// How to say what was run, in messages.
    pub fn describe(&self) -> String {
        match self {
            SourcePlan::File { path } => path.clone(),
            SourcePlan::Command { program, args, cwd, .. } => {
                let mut words = vec![program.clone()];
                words.extend(args.iter().cloned());
                format!("`{}` (in {cwd})", words.join(" "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn plan(toml: &str) -> SourcePlan {
        SourcePlan::of(&Config::from_toml(&format!("output = \"o\"\ntargets = [\"stage1\"]\n{toml}")).unwrap().source)
    }

    #[test]
    fn every_source_becomes_one_command() {
        assert_eq!(plan("[source]\nkdl = \"app.kdl\"\n"), SourcePlan::File { path: "app.kdl".into() });
        assert_eq!(
            plan("[source.fastapi]\nmodule = \"main:functions\"\ncwd = \"../backend\"\ncommand = [\"uv\", \"run\", \"python\"]\n"),
            SourcePlan::Command {
                program: "uv".into(),
                args: ["run", "python", "-m", "mizan_kernel", "ir", "main:functions"].map(String::from).to_vec(),
                cwd: "../backend".into(),
                env: vec![]
            }
        );
        assert_eq!(
            plan("[source.django]\nmanage_path = \"../b/manage.py\"\n[source.django.env]\nPYTHONPATH = \"../b\"\n"),
            SourcePlan::Command {
                program: "python".into(),
                args: vec!["../b/manage.py".into(), "export_mizan_ir".into()],
                cwd: ".".into(),
                env: vec![("PYTHONPATH".into(), "../b".into())]
            }
        );
        let rust = plan("[source.rust]\nmanifest_path = \"app/Cargo.toml\"\nbin = \"emit-ir\"\n");
        assert_eq!(rust.describe(), "`cargo run --quiet --manifest-path app/Cargo.toml --bin emit-ir` (in .)");
    }
}
