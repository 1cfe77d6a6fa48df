//! Prints the todo functions' IR (`cargo run -p mizan-todo --bin emit-mizan-ir`): what the
//! frontend's `mizan.rust.toml` (codegen's `[source.rust]`) reads. It equals `../todo.kdl`.

use mizan_todo as _; // link the library: its `#[client]` registrations come with it

fn main() -> std::process::ExitCode {
    mizan_host::emit_ir_main()
}
