//! The client session: the whole conversation a Mizan client has with its server, as one sans-IO
//! state machine over the [store](crate::store). A host drives it with
//! [`ClientSession::update`]`(events, now)` and performs the [`Output`]: the requests to send,
//! the views of changed instances to show, the waiters to settle, the one timer to set. Every
//! protocol decision lives here, so the JavaScript and Python clients (and any other) are
//! interpreters that cannot disagree:
//!
//! - request ids, and each request in two forms: HTTP (`GET ctx/{context}/?{query}`,
//!   `POST call/` with its headers and JSON body, `GET session/`) and the operation itself for
//!   transports without URLs (IPC, message channels);
//! - the session start (`GET session/`): retried like fetches (network errors and 5xx, with the
//!   store's backoff), failing at once on anything else; calls wait for it and carry its CSRF
//!   token;
//! - response classification: a status and a body become data or a [`RequestError`] (the
//!   `{"error": {code, message, details}}` envelope, `HTTP_{status}`, a 2xx without JSON is
//!   `502 INVALID_RESPONSE` and never retried), the `X-Mizan-Invalidate` header read with the body;
//! - waiters (`fetch`, `call`, `start`) and when they settle: a fetch settles once its instance
//!   holds data (or an error) with no request running and no retry waiting, and observes the
//!   instance while it waits; a call once the server answered and its merges and invalidations
//!   are applied;
//! - the error codes of waiters that cannot settle normally: [`RESET`], [`CLOSED`] (and `TRAP`,
//!   which only a host can see: its instance is gone);
//! - views: for each instance the host named, the visible state when it changes, with the values
//!   of only the slots whose version the host does not hold yet.
//!
//! After a trap the rule is one for every host: keep your subscription list, create a new session
//! and replay it (`start` if you had started, then one `subscribe` per subscription), and settle
//! your pending waiters with `TRAP`.

mod client;
mod http;
mod view;
#[cfg(test)]
mod tests;

pub use client::{ClientSession, SessionConfig};

pub use http::{read_response, request_of};

use crate::error::Error;
use crate::store::{RequestError, Status};

/// A waiter settled because the client was reset (identity changed) before its answer came.
pub const RESET: &str = "RESET";
/// A waiter settled because the client was closed.
pub const CLOSED: &str = "CLOSED";
/// What a host settles its waiters with after a trap (the session that knew them is gone).
pub const TRAP: &str = "TRAP";
/// The message hosts give [`TRAP`].
pub const TRAP_MESSAGE: &str = "The kernel trapped; the client started over";

/// An instance as the host names it: a context and its params (a JSON object, as text).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRef {
    pub context: String,
    pub params_json: String,
}

/// Wait for an instance's data: settles with its key once it holds data or an error with no
/// request running and no retry waiting (TanStack's `fetchQuery`; `force` is a refetch).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchWait {
    pub waiter: u64,
    pub instance: InstanceRef,
    pub force: bool,
}

/// Run a server function; settles with its result (JSON) once merges and invalidations applied.
#[derive(Debug, Clone, PartialEq)]
pub struct CallWait {
    pub waiter: u64,
    pub function: String,
    pub args_json: String,
    /// Merge entries applied at once and rolled back exactly if the call fails.
    pub optimistic_json: Option<String>,
}

/// An HTTP response to one of the session's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
    /// The `X-Mizan-Invalidate` header, if any.
    pub invalidate: Option<String>,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The HTTP response (the session reads status, envelope and body).
    Http(HttpAnswer),
    /// A transport that decodes its answers itself (IPC, a message channel): the body as JSON
    /// text, and the invalidation header if it had one.
    Decoded { body_json: String, invalidate: Option<String> },
    /// The transport's answer cannot be represented as JSON (`undefined`, `NaN`…): why.
    Unusable(String),
    /// No answer: `{"network": true, "message"}`, or an error payload `{"code", "message",
    /// "details"?, "status"?, "body"?}` (IPC errors, a channel's re-sent error), as JSON text.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub request: u64,
    pub outcome: Outcome,
}

/// One thing that happened, for [`ClientSession::update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start the session (`GET session/`), or try again after a failure; with a waiter id,
    /// settle it with the session body (JSON) or the error.
    Start(Option<u64>),
    /// Observe an instance (its result is the instance key); fetches unless the data is fresh.
    Subscribe(InstanceRef),
    /// Stop one observation (by instance key).
    Unsubscribe(String),
    /// Warm the cache without observing (result: the key).
    Prefetch(InstanceRef),
    /// Fetch an instance now (by key), unless a request for it is running; nobody waits.
    Refetch(String),
    /// `Prefetch`, and the output carries the instance's view even if nothing changed (a host
    /// seeing the instance for the first time).
    View(InstanceRef),
    Fetch(FetchWait),
    Call(CallWait),
    /// Stop waiting (a host-side timeout): a fetch stops observing, a call still completes.
    Cancel(u64),
    Answer(Answer),
    /// Mark matching instances stale (entries JSON: `"ctx"` or `{context, params?}`).
    Invalidate(String),
    /// Drop the data of matching instances (all with `None`).
    Remove(Option<String>),
    /// Identity changed: drop every instance's data, settle waiters with [`RESET`], new session.
    Reset,
    /// Seed instances from a dehydrated payload (JSON). With `held`, the host keeps the payload's
    /// values itself: views leave them out, and the result is the JSON list of the keys seeded
    /// (`null` where an instance kept its own data), in payload order.
    Hydrate { payload_json: String, held: bool },
    /// The timer fired.
    Tick,
    Focus,
    Online,
    /// Settle every waiter with [`CLOSED`]; the host frees the session next.
    Close,
}

/// Which of the three requests a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Fetch,
    Call,
    Session,
}

/// The request in the form of transports that do not speak HTTP.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Fetch { key: String, context: String, params_json: String, query: String },
    Call { function: String, args_json: String, csrf_token: Option<String> },
    Session,
}

impl Operation {
    pub fn kind(&self) -> RequestKind {
        match self {
            Operation::Fetch { .. } => RequestKind::Fetch,
            Operation::Call { .. } => RequestKind::Call,
            Operation::Session => RequestKind::Session,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request in HTTP form, relative to the transport's base URL. `headers` are the protocol's
/// own (`Content-Type`, `X-CSRFToken`); a transport always adds `Accept: application/json`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Which form requests take: what the session's transport speaks (config `transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestForm {
    /// `"http"` (the default): `Request::http`.
    #[default]
    Http,
    /// `"operation"`: `Request::op`, for transports without URLs (IPC, message channels).
    Operation,
}

/// A request for the host to perform, then answer with [`Event::Answer`] (always: a failure
/// or a timeout is an answer too). It carries the form of the session's [`RequestForm`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: u64,
    pub kind: RequestKind,
    pub http: Option<HttpRequest>,
    pub op: Option<Operation>,
    /// Give up after this long and answer with a network error (0: no limit).
    pub timeout_ms: u64,
}

/// A failure as a host shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRecord {
    pub code: String,
    pub message: String,
    pub details_json: Option<String>,
    /// The status the failure arrived with (none for network failures, IPC errors and the
    /// client's own codes).
    pub status: Option<u16>,
    pub network: bool,
    /// The parsed body of an error response, as JSON text.
    pub body_json: Option<String>,
}

impl ErrorRecord {
    pub fn of(e: &RequestError) -> Self {
        let text = |v: &Option<serde_json::Value>| v.as_ref().filter(|v| !v.is_null()).map(crate::canon::json_text);
        ErrorRecord {
            code: e.code.clone(),
            message: e.message.clone(),
            details_json: text(&e.details),
            status: e.reported_status,
            network: e.status.is_none() && e.code == "NETWORK_ERROR",
            body_json: text(&e.body),
        }
    }
}

/// The visible state of an instance the host named, sent when it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub key: String,
    /// The instance's context and params, on the first view the host gets of it.
    pub instance: Option<InstanceRef>,
    /// The instance is gone (gc, eviction, remove): the host forgets it.
    pub gone: bool,
    pub status: Status,
    pub fetching: bool,
    pub stale: bool,
    pub updated_at: Option<u64>,
    pub error: Option<ErrorRecord>,
    /// Every slot of the data with its version (none before the first success).
    pub slots: Option<Vec<(String, u64)>>,
    /// The values (JSON text) of the slots whose version the host does not hold yet; every
    /// other slot keeps the value the host already has.
    pub values: Vec<(String, String)>,
}

/// A waiter's end: `Ok` carries the instance key (fetch), the result as JSON (call) or the
/// session body as JSON (start).
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub waiter: u64,
    pub outcome: Result<String, ErrorRecord>,
}

/// Call `update([Tick], now)` at `at_ms`; `delay_ms` is clamped below 2^31 ms (`setTimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub at_ms: u64,
    pub delay_ms: u64,
}

/// What the host does after an `update`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    /// One per event, in order: the instance key (subscribe, prefetch, view, fetch) or `None`;
    /// an error for an event the session refused (the other events still apply).
    pub results: Vec<Result<Option<String>, Error>>,
    pub requests: Vec<Request>,
    pub views: Vec<View>,
    pub settled: Vec<Settlement>,
    /// Set when the next wake-up moved; replaces any earlier timer.
    pub timer: Option<Timer>,
}
