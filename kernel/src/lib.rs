//! # mizan-kernel
//!
//! The one implementation of Mizan's cache-key derivation, invalidation resolution, merges and
//! edge manifest. Pure and sans-IO: no I/O, no clock, no randomness, no panics on outside input.
//! Hosts (the wasmtime host, `@mizan/kernel-wasm`, `mizan_kernel` for Python) reach it through
//! the WebAssembly component in `kernel/component`; Rust code may also link it directly.
//!
//! | module | KERNEL.md | what |
//! |---|---|---|
//! | [`canon`] | §1 | `stringify`, canonical JSON, UTF-16 key order |
//! | [`keys`] | §2 | cache keys, batch and rotation forms, secrets |
//! | [`index`] | §2.1 | reverse index and purge plans |
//! | [`policy`] | §2 | effective rev / TTL of a context |
//! | [`ir`] | §3 | registry model, KDL IR, JSON form, graph check |
//! | [`invalidation`] | §4 | resolving a mutation's `affects` |
//! | [`header`] | §5 | `X-Mizan-Invalidate` format and parse |
//! | [`merge`] | §6 | merge resolution and application |
//! | [`manifest`] | §9 | the edge manifest |
//! | [`protocol_code`] | §8 | the error codes and their statuses (server and client alike) |
//! | [`server`] | §2.1, §8, §10 | server protocol engine, tokens, origin-cache stores |
//! | [`store`] | §7 | the reconciled client store (sans-IO) |
//! | [`session`] | §7 | the client session over the store: requests, waiters, views, the one timer |
//!
//! Feature `server` (on by default) brings everything only a server needs: the IR and the
//! registry, cache keys, the reverse index, the manifest, the server engine and tokens. Without
//! it the crate is the client's part (canonical values, the header, merges, the store and the
//! client session): what the browser component (`world client`) is built from.

pub mod canon;
pub mod error;
pub mod header;
#[cfg(feature = "server")]
pub mod index;
pub mod invalidation;
#[cfg(feature = "server")]
pub mod ir;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod manifest;
pub mod merge;
#[cfg(feature = "server")]
pub mod policy;
pub mod protocol_code;
#[cfg(feature = "server")]
pub mod server;
pub mod session;
pub mod store;

pub use error::{Error, ErrorCode, Result};
pub use invalidation::InvalidateEntry;
#[cfg(feature = "server")]
pub use ir::Registry;
#[cfg(feature = "server")]
pub use keys::{KeyInput, Keyer};
