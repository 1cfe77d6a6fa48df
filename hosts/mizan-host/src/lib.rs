//! # mizan-host
//!
//! The Rust host of the Mizan kernel: runs the kernel component (`target/mizan-kernel.wasm`,
//! embedded at build time) under wasmtime, behind an idiomatic API. The host is thin: it turns
//! `serde_json::Value`s into JSON text and back and moves strings across the WIT boundary
//! (`wit/kernel.wit`); every rule lives in the kernel.
//!
//! ```no_run
//! use mizan_host::{Kernel, Registry};
//! use serde_json::json;
//!
//! let kernel = Kernel::new()?; // compiles once, then loads the cached artifact
//! let key = kernel.derive_cache_key("a-secret-of-at-least-32-bytes!!!", "user", &json!({"user_id": 5}), None, 0)?;
//! let keyer = kernel.keyer("a-secret-of-at-least-32-bytes!!!")?;
//! assert_eq!(keyer.derive("user", &json!({"user_id": "5"}), None, 0)?, key);
//!
//! let registry = Registry::from_kdl(&kernel, "mizan-ir version=1\ncontext user\n")?;
//! let policy = registry.context_policy("user")?;
//! # Ok::<(), mizan_host::Error>(())
//! ```
//!
//! - [`Kernel`] is `Send + Sync + Clone`; each call runs on an instance checked out of a pool.
//!   An instance that traps is dropped and the next call gets a fresh one.
//! - [`Keyer`] and [`Registry`] (the WIT resources) each own a dedicated instance behind a mutex
//!   and rebuild it transparently after a trap.
//! - Every store is capped ([`KernelBuilder::memory_limit`], 256 MiB by default): an input too
//!   large for it traps that one instance instead of exhausting the host.
//! - The compiled component is cached on disk (see [`CacheConfig`] and the `artifact` notes in
//!   `docs/hosts/rust.md`).
//!
//! - [`Store`] is the client store (KERNEL.md §7): one dedicated instance; it cannot be rebuilt
//!   after a trap (its state is gone), so every later call fails with [`Error::Trap`].
//! - [`Engine`] is the server protocol engine (docs/SERVER.md): pooled, one engine resource per
//!   pooled instance. [`OriginStore`] is the kernel's in-memory origin cache; [`OriginCache`] is
//!   the interface of every origin-cache store ([`MemoryOriginStore`], `RedisOriginStore` with
//!   the feature `redis`).
//! - [`app::Mizan`]: an app — register functions and predicates (or collect the code-first
//!   ones), and serve requests through the engine with [`app::Mizan::handle`], the one request
//!   flow every host runs (IPC envelopes: [`app::Mizan::handle_ipc`]).
//! - Feature `axum`: [`axum`] — an `axum::Router` serving an app; the Tauri plugin is the crate
//!   `tauri-plugin-mizan` (`hosts/mizan-tauri`).
//! - Code-first ([`code_first`]): `#[client(…)]` functions, `#[predicate]`s, `context!` and
//!   `#[derive(Mizan)]` types, collected at link time; [`build_ir`] has the kernel write their
//!   IR, [`emit_ir_main`] prints it, [`app::MizanBuilder::code_functions`] serves them.
//!
//! Returned [`serde_json::Value`]s use serde_json's default sorted maps (the kernel emits its
//! object keys in alphabetical order too, `wit/README.md`).

// The expansions of `#[client]` and `#[derive(Mizan)]` name `::mizan_host`; this lets them
// expand inside this crate too (its unit tests).
extern crate self as mizan_host;

pub mod app;
mod artifact;
pub mod code_first;
mod dedicated;
mod error;
pub mod exchange;
mod kernel;
mod keyer;
mod origin;
#[cfg(feature = "redis")]
mod redis_store;
mod registry;
pub mod server;
pub mod session;
mod store;

#[cfg(feature = "axum")]
pub mod axum;

#[allow(clippy::all, missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "kernel",
    });
}

pub use artifact::{ArtifactInfo, ArtifactSource, CacheConfig};
pub use exchange::{Exchange, ExchangeServer};
pub use error::{Error, ErrorCode, KernelError, Result};
pub use kernel::{COMPONENT, DEFAULT_MAX_IDLE, DEFAULT_MEMORY_LIMIT, DEFAULT_RETAIN_MEMORY, Kernel, KernelBuilder, Stats};
pub use keyer::{IndexedEntry, Keyer, PurgePlan, PurgeScope, PurgeTerm};
pub use origin::{BoxFuture, MemoryOriginStore, OriginCache};
#[cfg(feature = "redis")]
pub use redis_store::RedisOriginStore;
pub use registry::{ContextPolicy, Invalidation, MergeResolution, Registry};
pub use server::{
    CacheBound, CachePlan, CachePut, CallPlan, Engine, EngineConfig, FetchOutcome, FetchPlan, Finished, Identity, JwtPair, Lookup,
    MemberCall, OriginStore, Outcome, Plan, PredicateCheck, ProtocolCode, ProtocolError, PurgeStep, Request, Response, TokenClaims,
    TokenKind, now_ms,
};
pub use session::ClientSession;
pub use store::Store;

pub use code_first::{IrType, Upload, build_ir, build_registry, check_ir, emit_ir, emit_ir_main, registry_json};
/// `#[client(…)]`: register a server function (code-first; see [`code_first`]).
pub use mizan_macros::client;
/// `#[derive(Mizan)]`: the IR type of a struct or a unit-variant enum (see [`IrType`]).
pub use mizan_macros::Mizan;
/// `#[predicate]`: register an `auth = NAME` predicate.
pub use mizan_macros::predicate;

/// What the macros' expansions refer to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<crate::Kernel>();
        assert_send_sync::<crate::Keyer>();
        assert_send_sync::<crate::Registry>();
        assert_send_sync::<crate::Error>();
        assert_send_sync::<crate::Engine>();
        assert_send_sync::<crate::OriginStore>();
        assert_send_sync::<crate::Store>();
        assert_send_sync::<crate::MemoryOriginStore>();
    }
}
