//! The wire app on Axum, code-first: the functions of the wire suite (tests/wire/README.md "How
//! an app must behave") declared with `#[mizan_host::client]` in [`functions`] (the same as
//! `examples/fastapi_app/functions.py`), their IR written by the kernel from the Rust types —
//! `tests/wire/app.kdl`, byte for byte (`tests/ir.rs`) — and served by `mizan-host`'s Axum
//! router.
//!
//! - `data`: the in-memory [`State`] (users, items, orders, a counter) and the types.
//! - `functions`: the `#[client]` functions and the `has_reports` predicate.
//! - `webhook`: the signed `POST /webhooks/stripe/` route. `plain`: the bench's plain handlers.

use axum::Router;
use axum::routing::post;
use mizan_host::axum::Mizan;
use mizan_host::{EngineConfig, Kernel, OriginCache, RedisOriginStore};
use std::sync::Arc;

mod data;
mod functions;
mod plain;
mod webhook;

pub use data::{Item, Order, State, User};
pub use plain::plain_router;
pub use webhook::{WEBHOOK_SECRET, WEBHOOK_TOLERANCE, webhook_signature_ok};

/// The wire suite's secrets (tests/wire/probes.json "config"): test-only values, never reuse them.
pub const CACHE_SECRET: &str = "wire-cache-secret-for-tests-only-0001";
pub const MWT_SECRET: &str = "wire-mwt-secret-for-tests-only-00002";
pub const JWT_SECRET: &str = "wire-jwt-secret-for-tests-only-00003";
pub const BODY_LIMIT: u32 = 65536;
pub const MAX_PUBLIC_ENTRIES: u32 = 64;

/// Which origin cache the app uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    None,
    Memory,
    /// A `redis://` URL and the key prefix.
    Redis(String, String),
}

/// The IR of the functions (the canonical KDL, written by the kernel): `tests/wire/app.kdl`.
pub fn ir(kernel: &Kernel) -> mizan_host::Result<String> {
    mizan_host::build_registry(kernel)?.to_kdl()
}

/// The wire app's [`Mizan`]: every `#[client]` function and the predicate over the IR of the
/// code, the app's [`State`], the session identity (`X-Wire-User`), revoked sessions (a `sid`
/// starting with `revoked`), the test secrets.
pub async fn mizan(kernel: &Kernel, state: &State, cache: &CacheKind) -> mizan_host::Result<Mizan> {
    let s = state.clone();
    let mut b = Mizan::builder(ir(kernel)?)
        .kernel(kernel.clone())
        .code_functions()?
        .state(state.clone())
        .mwt_secret(MWT_SECRET)
        .jwt_secret(JWT_SECRET)
        .body_limit(BODY_LIMIT)
        .config(EngineConfig { max_public_entries: Some(MAX_PUBLIC_ENTRIES), ..Default::default() })
        .identity(move |parts| s.session_identity(parts.headers.get("x-wire-user").and_then(|v| v.to_str().ok())))
        .revoked(|sid| sid.starts_with("revoked"))
        .on_diagnostic(|d| eprintln!("mizan: {d}"))
        .on_error(|e| eprintln!("mizan error: {e}"));
    b = match cache {
        CacheKind::None => b,
        CacheKind::Memory => b.memory_cache().cache_secret(CACHE_SECRET),
        CacheKind::Redis(url, prefix) => {
            let store: Arc<dyn OriginCache> = Arc::new(RedisOriginStore::connect(kernel, url, prefix).await?);
            b.cache(store).cache_secret(CACHE_SECRET)
        }
    };
    b.build()
}

/// The wire app's router: the protocol under `/api/mizan` plus `POST /webhooks/stripe/`.
pub fn router(mizan: &Mizan) -> Router {
    let m = mizan.clone();
    mizan.router().route("/webhooks/stripe/", post(move |headers, body| webhook::serve(m.clone(), headers, body)))
}
