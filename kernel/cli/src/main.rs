//! `mizan`: the kernel from the command line. Every subcommand is a thin wrapper over a kernel
//! call; errors go to stderr with a non-zero exit.

use clap::{ArgGroup, Parser, Subcommand};
use mizan_kernel::invalidation::{entries_from_json, entries_to_json};
use mizan_kernel::keys::{self, KeyInput, Keyer};
use mizan_kernel::{Error, Registry, canon, header};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;

mod generate;

#[derive(Parser)]
#[command(name = "mizan", version, about = "Mizan kernel: cache keys, invalidation, merges, IR, manifest and client generation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Derive an origin-cache key: ctx:{context}:{hmac}.
    Key {
        /// The cache secret (HMAC key).
        #[arg(long, env = "MIZAN_CACHE_SECRET", hide_env_values = true)]
        secret: String,
        #[arg(long)]
        context: String,
        /// Params as a JSON object.
        #[arg(long, default_value = "{}")]
        params: String,
        /// The user (identity subject) of a user-scoped entry.
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 0)]
        rev: u64,
        /// Also print the canonical HMAC message.
        #[arg(long)]
        explain: bool,
    },
    /// Format or parse the X-Mizan-Invalidate header.
    Header {
        #[command(subcommand)]
        command: HeaderCommand,
    },
    /// Check or format a KDL IR (or JSON registry) file.
    Ir {
        #[command(subcommand)]
        command: IrCommand,
    },
    /// Resolve what a mutation invalidates; prints the `invalidate` list and the header.
    #[command(group(ArgGroup::new("scope").required(true).args(["args", "broad"])))]
    Invalidate {
        /// IR file (.kdl, or a JSON registry); `-` reads stdin.
        file: String,
        #[arg(long = "fn")]
        function: String,
        /// Arguments as a JSON object (they scope the invalidation to the matching instances).
        #[arg(long)]
        args: Option<String>,
        /// Resolve without arguments: every instance of each affected context. Required instead
        /// of --args, so that a forgotten --args is an error, not a silently broad invalidation.
        #[arg(long)]
        broad: bool,
        /// The caller's identity subject (tier-2 scoping).
        #[arg(long)]
        subject: Option<String>,
    },
    /// Resolve a mutation's merges; prints `{"merge", "diagnostics"}`.
    Merges {
        file: String,
        #[arg(long = "fn")]
        function: String,
        #[arg(long, default_value = "{}")]
        args: String,
        /// The mutation's result as JSON.
        #[arg(long)]
        result: String,
    },
    /// Generate typed clients from the IR as mizan.toml says (docs/CODEGEN.md).
    Generate {
        /// The config file; paths in it are relative to its directory.
        #[arg(long, default_value = "mizan.toml")]
        config: std::path::PathBuf,
        /// Write nothing; exit 1 (listing them) when generated files are missing or stale.
        #[arg(long)]
        check: bool,
    },
    /// Print the edge manifest.
    Manifest {
        file: String,
        #[arg(long, default_value = "/api/mizan")]
        base_url: String,
        /// Extra page routes per context, as a JSON object of lists.
        #[arg(long)]
        view_urls: Option<String>,
    },
}

#[derive(Subcommand)]
enum HeaderCommand {
    /// Entries (a JSON list) to a header value.
    Format { entries: String },
    /// A header value to entries (JSON).
    Parse { text: String },
}

#[derive(Subcommand)]
enum IrCommand {
    /// Parse and graph-check; prints a summary.
    Check { file: String },
    /// Print the canonical KDL form.
    Fmt {
        file: String,
        /// Exit 1 when the file is not already in canonical form.
        #[arg(long)]
        check: bool,
    },
}

fn read_source(file: &str) -> Result<String, String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))
    }
}

/// A registry from KDL IR or, when the text is a JSON object, the JSON form.
fn load_registry(file: &str) -> Result<(String, Registry), String> {
    let text = read_source(file)?;
    let registry = if text.trim_start().starts_with('{') {
        Registry::from_json(&text)
    } else {
        Registry::from_kdl(&text)
    };
    registry.map(|r| (text, r)).map_err(|e| describe(file, &e))
}

fn describe(source: &str, e: &Error) -> String {
    let mut out = format!("{source}: {e}");
    if let Some(Value::Array(problems)) = e.details.as_ref().and_then(|d| d.get("problems")) {
        for p in problems.iter().skip(1) {
            out.push_str(&format!("\n  also: {}", p.as_str().unwrap_or_default()));
        }
    } else if let Some(d) = &e.details {
        out.push_str(&format!(" {d}"));
    }
    out
}

fn kernel<T>(what: &str, r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| describe(what, &e))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Key { secret, context, params, user, rev, explain } => {
            for warning in kernel("secret", keys::check_secret(&secret))? {
                eprintln!("warning: {warning}");
            }
            let mut input = kernel("params", KeyInput::from_json(&context, &params, None, rev))?;
            input.user = user;
            let key = kernel("key", Keyer::new(&secret))?.derive(&input);
            if explain {
                println!("message: {}", input.message());
                println!("key:     {key}");
            } else {
                println!("{key}");
            }
        }
        Command::Header { command: HeaderCommand::Format { entries } } => {
            let value = kernel("entries", canon::parse_json(&entries, "entries"))?;
            let entries = kernel("entries", entries_from_json(&value))?;
            println!("{}", kernel("header", header::format_header(&entries))?);
        }
        Command::Header { command: HeaderCommand::Parse { text } } => {
            println!("{}", pretty(&entries_to_json(&kernel("header", header::parse_header(&text))?)));
        }
        Command::Ir { command: IrCommand::Check { file } } => {
            let (_, r) = load_registry(&file)?;
            let mutations = r.functions.values().filter(|f| !f.affects.is_empty()).count();
            let enums = if r.enums.is_empty() { String::new() } else { format!(", {} enums", r.enums.len()) };
            println!(
                "{file}: ok — {} functions ({mutations} mutations), {} contexts, {} types{enums} (IR version {})",
                r.functions.len(),
                r.contexts.len(),
                r.types.len(),
                r.ir_version()
            );
        }
        Command::Ir { command: IrCommand::Fmt { file, check } } => {
            let (text, r) = load_registry(&file)?;
            let canonical = r.to_kdl();
            if check {
                if text != canonical {
                    eprintln!("{file}: not in canonical form (run `mizan ir fmt {file}`)");
                    return Ok(ExitCode::from(1));
                }
                eprintln!("{file}: canonical");
            } else {
                print!("{canonical}");
            }
        }
        Command::Invalidate { file, function, args, broad: _, subject } => {
            let (_, r) = load_registry(&file)?;
            let args = kernel("args", canon::parse_object(args.as_deref().unwrap_or("{}"), "args"))?;
            let entries = kernel("invalidate", r.resolve_invalidation(&function, &args, subject.as_deref()))?;
            println!("{}", pretty(&json!({"invalidate": entries_to_json(&entries)})));
            match header::format_header(&entries) {
                Ok(h) if !h.is_empty() => println!("X-Mizan-Invalidate: {h}"),
                Ok(_) => {}
                Err(e) => eprintln!("warning: no header: {e}"),
            }
        }
        Command::Merges { file, function, args, result } => {
            let (_, r) = load_registry(&file)?;
            let args = kernel("args", canon::parse_object(&args, "args"))?;
            let result = kernel("result", canon::parse_json(&result, "result"))?;
            let res = kernel("merges", r.resolve_merges(&function, &args, &result))?;
            for d in &res.diagnostics {
                eprintln!("warning: {}", d.message);
            }
            let diagnostics: Vec<Value> = res.diagnostics.iter().map(|d| d.to_json()).collect();
            println!("{}", pretty(&json!({"merge": res.merges_json(), "diagnostics": diagnostics})));
        }
        Command::Generate { config, check } => return generate::run(&config, check),
        Command::Manifest { file, base_url, view_urls } => {
            let (_, r) = load_registry(&file)?;
            let views: BTreeMap<String, Vec<String>> = match view_urls {
                Some(text) => serde_json::from_str(&text).map_err(|e| format!("--view-urls: {e}"))?,
                None => BTreeMap::new(),
            };
            println!("{}", pretty(&r.manifest(&base_url, &views)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
