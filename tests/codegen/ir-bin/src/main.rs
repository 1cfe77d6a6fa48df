//! Prints the wire app's IR, as a Rust backend's IR binary would print its registry's.
fn main() {
    print!("{}", include_str!("../../../wire/app.kdl"));
}
