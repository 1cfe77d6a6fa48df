//! The `emit-mizan-ir` pattern: a binary whose `main` is `mizan_host::emit_ir_main()` prints
//! the canonical KDL IR of the `#[client]` functions linked into it (codegen's
//! `[source.rust]` runs `cargo run --bin emit-mizan-ir`). In an app the functions live in the
//! library and `src/bin/emit-mizan-ir.rs` names it with `use my_app as _;`; here they are in
//! the example itself.
//!
//! ```sh
//! cargo run -p mizan-host --example emit_mizan_ir
//! ```

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, mizan_host::Mizan)]
struct Greeting {
    text: String,
    shouted: bool,
}

#[mizan_host::client(context = "greetings", cache = 300)]
fn greeting(name: String, #[mizan(default)] shout: bool) -> Greeting {
    let text = format!("hello {name}");
    Greeting { text: if shout { text.to_uppercase() } else { text }, shouted: shout }
}

fn main() -> std::process::ExitCode {
    mizan_host::emit_ir_main()
}
