//! The wire app on Axum (tests/wire/README.md): the `#[client]` functions of `src/functions.rs`
//! (their IR is `tests/wire/app.kdl`) served through `mizan-host`'s Axum integration.
//!
//! ```sh
//! cargo run -p mizan-axum-app --bin axum_app -- --port 8000 --cache memory
//! cargo run -p mizan-axum-app --bin axum_app -- --port 8000 --redis redis://127.0.0.1:6379/0
//! cargo run -p mizan-axum-app --bin axum_app -- --port 8000 --no-cache
//! python3 tests/wire/run_wire.py http://127.0.0.1:8000
//! ```
//!
//! Options: `--host` (127.0.0.1), `--port` (8000), `--cache memory|none|redis://…` (memory;
//! `--memory`, `--no-cache` and `--redis URL` say the same), `--redis-prefix` (`wire:`),
//! `--plain` (also serve the `/plain/…` handlers the benchmark compares against).

use mizan_axum_app::{CacheKind, State, mizan, plain_router, router};
use mizan_host::Kernel;

struct Options {
    host: String,
    port: u16,
    cache: String,
    prefix: String,
    plain: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: axum_app [--host H] [--port N] [--cache memory|none|redis://…] [--memory] [--no-cache] [--redis URL] \
         [--redis-prefix P] [--plain]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 8000,
        cache: std::env::var("MIZAN_CACHE").unwrap_or_else(|_| "memory".into()),
        prefix: std::env::var("MIZAN_REDIS_PREFIX").unwrap_or_else(|_| "wire:".into()),
        plain: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--host" => o.host = value(),
            "--port" => o.port = value().parse().unwrap_or_else(|_| usage()),
            "--cache" => o.cache = value(),
            "--redis" => o.cache = value(),
            "--redis-prefix" => o.prefix = value(),
            "--memory" => o.cache = "memory".into(),
            "--no-cache" => o.cache = "none".into(),
            "--plain" => o.plain = true,
            _ => usage(),
        }
    }
    o
}

#[tokio::main]
async fn main() {
    let o = options();
    let cache = match o.cache.as_str() {
        "" | "none" => CacheKind::None,
        "memory" => CacheKind::Memory,
        url if url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://") => {
            CacheKind::Redis(url.to_string(), o.prefix.clone())
        }
        _ => usage(),
    };
    let kernel = Kernel::new().unwrap_or_else(|e| {
        eprintln!("axum_app: {e}");
        std::process::exit(1)
    });
    let state = State::default();
    let mizan = mizan(&kernel, &state, &cache).await.unwrap_or_else(|e| {
        eprintln!("axum_app: {e}");
        std::process::exit(1)
    });
    let mut app = router(&mizan);
    if o.plain {
        app = app.merge(plain_router(&state));
    }
    let listener = tokio::net::TcpListener::bind((o.host.as_str(), o.port)).await.unwrap_or_else(|e| {
        eprintln!("axum_app: cannot listen on {}:{}: {e}", o.host, o.port);
        std::process::exit(1)
    });
    eprintln!("axum_app: serving on http://{}:{} (cache: {})", o.host, o.port, o.cache);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = shutdown => {}
            _ = term.recv() => {}
        }
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("axum_app: {e}");
        std::process::exit(1);
    }
}
