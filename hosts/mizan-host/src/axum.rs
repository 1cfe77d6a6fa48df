//! The Axum integration (feature `axum`): register functions and predicates, get a
//! [`Router`](::axum::Router) that serves the Mizan protocol (`/session/`, `/call/`,
//! `/ctx/{name}/` under `/api/mizan`) through the kernel's engine.
//!
//! ```no_run
//! use mizan_host::axum::{Ctx, FnError, Mizan};
//! use mizan_host::{Identity, MemoryOriginStore};
//! use serde_json::{Value, json};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let kdl = std::fs::read_to_string("mizan.kdl")?;
//! let mizan = Mizan::builder(kdl)
//!     .function("user_profile", |args: Value, _ctx: Ctx| async move {
//!         let id = args["user_id"].as_i64().unwrap_or(0);
//!         if id != 1 { return Err(FnError::not_found("No such user")); }
//!         Ok(json!({"id": id, "name": "alice"}))
//!     })
//!     .predicate("has_reports", |ctx: Ctx| async move { ctx.user() == Some("1") })
//!     .identity(|parts| parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(Identity::user))
//!     .memory_cache()
//!     .build()?;
//! let app = axum::Router::new().merge(mizan.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Per request (docs/SERVER.md "The exchange"): the session from the resolver, then one kernel
//! exchange ([`Mizan::handle_resolving`]); status, headers and body bytes are the kernel's, sent
//! as they are.
//!
//! The app itself (builder, functions, predicates, the flow) is host-neutral: [`crate::app`];
//! this module adds what is Axum's — the identity from the request head, the router, reading
//! the body — and re-exports the app's types under their old paths.

use ::axum::Router;
use ::axum::body::Body;
use ::axum::extract::OriginalUri;
use ::axum::http::request::Parts;
use ::axum::http::{HeaderName, HeaderValue, StatusCode};
use ::axum::routing::any;
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::Arc;

use crate::server::{Identity, ProtocolCode, Request, Response};

pub use crate::app::{Ctx, FnError, HostRequest, Mizan, MizanBuilder, error_chain};

impl Ctx {
    /// The HTTP request's method, URI, headers and extensions (a session layer's data…); `None`
    /// when the function was called by another host (the Tauri plugin).
    pub fn parts(&self) -> Option<&Parts> {
        self.request::<Parts>()
    }
}

impl MizanBuilder {
    /// The session identity of a request (a cookie session, a header…); a valid token
    /// (`X-Mizan-Token`, `Authorization: Bearer`, when their secrets are set) replaces it.
    pub fn identity<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Option<Identity> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        // Called inside the future, so a panic in it is caught where the future is polled.
        self.identity = Some(Arc::new(move |request: HostRequest| {
            let f = f.clone();
            Box::pin(async move { request.downcast_ref::<Parts>().and_then(|p| f(p)) })
        }));
        self
    }

    /// [`MizanBuilder::identity`] for a lookup that awaits (a session store).
    pub fn identity_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<Parts>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Identity>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.identity = Some(Arc::new(move |request: HostRequest| {
            let f = f.clone();
            Box::pin(async move {
                match request.downcast::<Parts>() {
                    Ok(parts) => f(parts).await,
                    Err(_) => None,
                }
            })
        }));
        self
    }
}

impl Mizan {
    /// An `axum::Router` serving the protocol at the base path (`/api/mizan`, `/api/mizan/`
    /// and everything under it, every method): merge it into the app's router. Unknown paths
    /// under the base and wrong methods are the engine's 404/405 in the same envelope.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let base = self.inner.engine.base_path().trim_end_matches('/').to_string();
        let this = self.clone();
        let handler = move |req: ::axum::extract::Request| {
            let this = this.clone();
            async move { this.serve(req).await }
        };
        let router = Router::new();
        if base.is_empty() {
            router.route("/", any(handler.clone())).route("/{*rest}", any(handler))
        } else {
            router
                .route(&base, any(handler.clone()))
                .route(&format!("{base}/"), any(handler.clone()))
                .route(&format!("{base}/{{*rest}}"), any(handler))
        }
    }

    /// Serve one Axum request (what [`Mizan::router`]'s routes call).
    pub async fn serve(&self, req: ::axum::extract::Request) -> ::axum::response::Response {
        let (parts, body) = req.into_parts();
        let uri = parts.extensions.get::<OriginalUri>().map(|o| o.0.clone()).unwrap_or_else(|| parts.uri.clone());
        let method = parts.method.as_str().to_string();
        let is_head = parts.method == ::axum::http::Method::HEAD;
        let mut headers = Vec::new();
        for (name, value) in &parts.headers {
            // The headers the engine reads, by the kernel's list (http's names are lower-case).
            if self.inner.request_headers.iter().any(|h| h == name.as_str()) {
                headers.push((name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()));
            }
        }
        let body = if is_head || parts.method == ::axum::http::Method::GET {
            Vec::new()
        } else {
            match read_limited(body, self.inner.engine.body_limit()).await {
                Ok(bytes) => bytes,
                Err(too_large) => {
                    let r = if too_large {
                        self.error_response(ProtocolCode::PayloadTooLarge, "Request body too large")
                    } else {
                        self.error_response(ProtocolCode::BadRequest, "Invalid request body")
                    };
                    return to_axum(r);
                }
            }
        };
        let request = Request::new(method, uri.path(), uri.query().unwrap_or(""), headers, body);
        let parts: HostRequest = Arc::new(parts);
        to_axum(self.handle_resolving(&request, parts).await)
    }
}

/// At most `limit + 1` bytes of the body (enough for the engine to see it is too large).
/// `Err(true)`: a framework limit refused the body; `Err(false)`: the body failed to arrive.
async fn read_limited(mut body: Body, limit: usize) -> std::result::Result<Vec<u8>, bool> {
    let mut buf = Vec::new();
    while buf.len() <= limit {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = limit + 1 - buf.len();
                    buf.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(e)) => {
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(s) = source {
                    if s.is::<http_body_util::LengthLimitError>() {
                        return Err(true);
                    }
                    source = s.source();
                }
                return Err(false);
            }
        }
    }
    Ok(buf)
}

/// The engine's response as Axum's: same status, headers in order, body bytes. For `HEAD`
/// hyper sends the headers (with the body's `Content-Length`) and no body.
pub fn to_axum(r: Response) -> ::axum::response::Response {
    let mut out = ::axum::response::Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            headers.append(n, v);
        }
    }
    out
}
