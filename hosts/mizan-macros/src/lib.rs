//! # mizan-macros
//!
//! The proc macros of code-first Mizan in Rust. Use them through `mizan-host`, which re-exports
//! them and holds everything the expansions refer to (`mizan_host::client`,
//! `mizan_host::predicate`, `mizan_host::Mizan`):
//!
//! ```ignore
//! use mizan_host as mizan;
//! use mizan_host::app::{Ctx, FnError};
//!
//! #[derive(serde::Serialize, serde::Deserialize, mizan::Mizan)]
//! struct Profile { id: i64, name: String }
//!
//! #[mizan::client(context = "user")]
//! async fn user_profile(ctx: Ctx, user_id: i64) -> Result<Profile, FnError> { … }
//! ```
//!
//! - `#[client(…)]` leaves the function as written and registers it at link time (an
//!   `inventory` item): its name, its flags, its signature in IR types and a shim that
//!   deserializes the engine's arguments into the typed parameters and serializes the result.
//! - `#[predicate]` registers an `auth = NAME` predicate the same way.
//! - `#[derive(Mizan)]` gives a struct or a unit-variant enum its IR type, reading the `serde`
//!   attributes that change the JSON shape.
//!
//! Every expansion names `::mizan_host`; `crate = "path"` (`#[mizan(crate = "path")]` on a
//! derive) points it elsewhere when the dependency is renamed.

mod client;
mod derive;
mod options;
mod serde_attr;

use proc_macro::TokenStream;

/// Register a server function (see the crate docs and docs/hosts/rust.md "Code-first").
///
/// Options: `context = "name"`, `affects = ["ctx_or_fn", …]`, `merge = ["ctx", …]`,
/// `auth = "required" | "staff" | "superuser" | "predicate:NAME" | predicate_fn`, `private`,
/// `view`, `websocket`, `rev = N`, `cache = false | SECONDS`, `route = "/path/"`,
/// `methods = ["POST", …]`, `form = "schema" | "validate" | "submit"`, `form_name = "…"`,
/// `name = "ir_name"`, `output = "IR type"`, `crate = "path"`.
///
/// Parameters: the one whose type is named `Ctx` (or `&Ctx`, or marked `#[mizan(ctx)]`) gets
/// the request context; every other one is an input named like the parameter. On an input:
/// `#[mizan(default)]` / `#[mizan(default = expr)]` (not required; the value when absent),
/// `#[mizan(not_null)]` on an `Option<T>` (not required, `None` when absent, null refused: IR
/// `T required=#false` where a bare `Option<T>` is `optional<T>`), `#[mizan(type = "IR type")]`,
/// `#[mizan(required = bool)]`.
#[proc_macro_attribute]
pub fn client(attr: TokenStream, item: TokenStream) -> TokenStream {
    client::expand_client(attr.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Register an auth predicate: `async fn has_reports(ctx: Ctx) -> bool` (or a plain `fn`), used
/// as `auth = has_reports` or `auth = "predicate:has_reports"`. `name = "…"` overrides the name.
#[proc_macro_attribute]
pub fn predicate(attr: TokenStream, item: TokenStream) -> TokenStream {
    client::expand_predicate(attr.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// The IR type of a struct with named fields (a `type` node), a newtype struct (its inner
/// type) or a unit-variant enum (a string enum). Reads `#[serde(rename, rename_all, skip,
/// default, skip_serializing_if, transparent)]`; `#[mizan(name = "…", key = "field")]` on the
/// type, `#[mizan(type = "…", required = bool, skip)]` on a field.
#[proc_macro_derive(Mizan, attributes(mizan))]
pub fn derive_mizan(item: TokenStream) -> TokenStream {
    derive::expand(item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}
