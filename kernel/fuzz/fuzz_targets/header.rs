//! The `X-Mizan-Invalidate` header parser (KERNEL.md §5) on arbitrary text, and the formatter on
//! arbitrary entries: never a panic; whatever parses formats again and reads back the same.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mizan_kernel::header::{format_header, parse_header};
use mizan_kernel::invalidation::entries_from_json;
use mizan_kernel_fuzz::Json;

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Text(&'a str),
    Entries(Json),
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Text(text) => {
        if let Ok(entries) = parse_header(text) {
            let formatted = format_header(&entries).expect("entries the parser produced must format");
            let again = parse_header(&formatted).expect("a formatted header must parse");
            assert_eq!(again, entries, "format then parse changed the entries of {text:?}");
        }
    }
    Input::Entries(Json(value)) => {
        if let Ok(entries) = entries_from_json(&value) {
            if let Ok(formatted) = format_header(&entries) {
                parse_header(&formatted).expect("a formatted header must parse");
            }
        }
    }
});
