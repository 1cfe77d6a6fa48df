//! The todo example on Axum: the `mizan_todo` functions served by `mizan-host`'s router, a
//! stand-in login, and the built frontend (`../frontend/dist`) on one origin.
//!
//! ```sh
//! cargo run -p mizan-todo --bin todo-axum -- --port 8000                     # in-memory origin cache
//! cargo run -p mizan-todo --bin todo-axum -- --cache redis://127.0.0.1:6379/0
//! ```
//!
//! Routes: `/api/mizan/…` (the Mizan protocol), `POST /auth/login` `{"name": "alice"}` and
//! `POST /auth/logout` (the session cookie), and the frontend at `/` (React) and `/vue.html`.
//!
//! **The login is a stand-in, not authentication**: it trusts the name it is given and keeps it
//! in an `HttpOnly`, `SameSite=Lax` cookie, `todo_user`; the identity callback reads the cookie
//! back. A real app puts its own session here: Mizan only needs `.identity(|parts| …)` to say
//! who is calling.
//!
//! Options (or environment): `--host` (127.0.0.1), `--port` (8000; 0 picks a free one),
//! `--cache memory|none|redis://…` (`TODO_CACHE`, memory), `--redis-prefix` (`TODO_REDIS_PREFIX`,
//! `todo:`), `--frontend DIR` (`TODO_FRONTEND`). `MIZAN_CACHE_SECRET` keys the origin cache
//! (random per process when unset, which is right for one process). Prints
//! `todo example (Axum, cache …) on http://HOST:PORT/` once it listens.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::routing::post;
use mizan_host::axum::Mizan;
use mizan_host::{Identity, Kernel, RedisOriginStore};
use serde_json::{Value, json};
use tower_http::services::ServeDir;

use mizan_todo as _; // link the functions: their `#[client]` registrations come with them

/// The session cookie (the same on every backend of the example).
const COOKIE: &str = "todo_user";

/// What a user name may be: 1 to 32 of `a-z`, `0-9`, `_` and `-`.
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The caller, from the stand-in session cookie (`None`: nobody signed in).
fn session_identity(parts: &Parts) -> Option<Identity> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|name| valid_name(name))
        .map(Identity::user)
}

fn json_response(status: StatusCode, body: &Value, cookie: Option<String>) -> Response<Body> {
    let mut response = Response::builder().status(status).header(header::CONTENT_TYPE, "application/json");
    if let Some(cookie) = cookie {
        response = response.header(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a cookie of checked characters"));
    }
    response.body(Body::from(body.to_string())).expect("a valid response")
}

async fn login(body: Bytes) -> Response<Body> {
    let name = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string));
    match name {
        Some(name) if valid_name(&name) => {
            let cookie = format!("{COOKIE}={name}; HttpOnly; Path=/; SameSite=lax");
            json_response(StatusCode::OK, &json!({ "name": name }), Some(cookie))
        }
        _ => json_response(StatusCode::BAD_REQUEST, &json!({ "error": "name: 1 to 32 of a-z, 0-9, _ and -" }), None),
    }
}

async fn logout() -> Response<Body> {
    let cookie = format!("{COOKIE}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path=/; SameSite=lax");
    json_response(StatusCode::OK, &json!({ "name": null }), Some(cookie))
}

struct Options {
    host: String,
    port: u16,
    cache: String,
    prefix: String,
    frontend: PathBuf,
}

fn usage() -> ! {
    eprintln!("usage: todo-axum [--host H] [--port N] [--cache memory|none|redis://…] [--redis-prefix P] [--frontend DIR]");
    std::process::exit(2)
}

fn options() -> Options {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 8000,
        cache: env("TODO_CACHE", "memory"),
        prefix: env("TODO_REDIS_PREFIX", "todo:"),
        frontend: PathBuf::from(env("TODO_FRONTEND", concat!(env!("CARGO_MANIFEST_DIR"), "/../frontend/dist"))),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--host" => o.host = value(),
            "--port" => o.port = value().parse().unwrap_or_else(|_| usage()),
            "--cache" => o.cache = value(),
            "--redis-prefix" => o.prefix = value(),
            "--frontend" => o.frontend = PathBuf::from(value()),
            _ => usage(),
        }
    }
    o
}

async fn app(o: &Options) -> mizan_host::Result<Router> {
    let kernel = Kernel::new()?;
    let ir = mizan_host::build_registry(&kernel)?.to_kdl()?;
    let mut builder = Mizan::builder(ir).kernel(kernel.clone()).code_functions()?.identity(session_identity);
    let secret = std::env::var("MIZAN_CACHE_SECRET").ok();
    builder = match o.cache.as_str() {
        "" | "none" => builder,
        // Without a secret the in-memory store gets a random one (it lives in this process).
        "memory" => builder.memory_cache(),
        url => {
            let redis = RedisOriginStore::connect(&kernel, url, &o.prefix).await?;
            builder.cache(Arc::new(redis)).cache_secret(secret.clone().unwrap_or_else(random_secret))
        }
    };
    if let Some(secret) = secret {
        builder = builder.cache_secret(secret);
    }
    let mizan = builder.build()?;
    let mut app = Router::new().merge(mizan.router()).route("/auth/login", post(login)).route("/auth/logout", post(logout));
    if o.frontend.is_dir() {
        app = app.fallback_service(ServeDir::new(&o.frontend));
    }
    Ok(app)
}

/// 32 random bytes from the OS, as hex: the Redis cache's key secret when `MIZAN_CACHE_SECRET`
/// is unset. Right for one process; processes sharing a Redis need the same secret.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::main]
async fn main() {
    let o = options();
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("todo-axum: {e}");
        std::process::exit(1)
    };
    if !(matches!(o.cache.as_str(), "" | "none" | "memory") || o.cache.contains("://")) {
        usage();
    }
    let app = app(&o).await.unwrap_or_else(|e| fail(&e));
    let listener = tokio::net::TcpListener::bind((o.host.as_str(), o.port)).await.unwrap_or_else(|e| fail(&e));
    let addr = listener.local_addr().unwrap_or_else(|e| fail(&e));
    println!("todo example (Axum, cache {}) on http://{addr}/", o.cache);
    let shutdown = async {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        fail(&e);
    }
}
