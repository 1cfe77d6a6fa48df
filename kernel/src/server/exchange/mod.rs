//! The exchange (issue 12, "the kernel owns the conversation"): one request from its arrival to
//! its response as a sans-IO state machine over [`ServerEngine`]. A host drives it with
//! [`Exchange::update`]`(events) -> effects` and only performs the effects: resolving the
//! session, the revocation hook, predicates, running functions, cache I/O, sending the response.
//! Every decision the hosts used to repeat is here: when the session is needed at all (a token
//! header replaces it), the revocation check, unknown predicates denied, a missing
//! implementation as an exception, the purge fence, a cache read failure served as a miss, the
//! order purge → put → respond, the log lines.
//!
//! ```text
//! arrived ─▶ resolve-identity? ─▶ check-revoked? ─▶ check-predicates? ─▶ respond
//!                                                                     ├▶ run ─▶ purge? ─▶ respond
//!                                                                     └▶ retry-purge? ─▶ lookup? ─▶ respond (hit)
//!                                                                                            └▶ run ─▶ put? ─▶ respond
//! ```
//!
//! Failed purges are remembered by the host, not here: a host may run many kernel instances
//! (the Rust host pools them) while the pending purge is one per process. The host keeps the
//! plan the `keep-pending` effects hand it (merged with `ServerEngine::merge_purge_plans`) and
//! passes it back in `arrived` and `ran`; the kernel decides what it fences.

mod flow;
pub mod json;
#[cfg(test)]
mod tests;

use super::engine::{CachePut, Identity, MemberCall, Outcome, PredicateCheck, ServerEngine};
use super::http::{ProtocolError, Request, Response};
use crate::index::PurgePlan;
use std::sync::Arc;

pub use flow::Exchange;

/// What the host can do beyond performing I/O; a host without a session resolver or a
/// revocation hook is never asked for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hooks {
    /// The host reads a session identity (a cookie session, a framework user).
    pub identity: bool,
    /// The host can tell whether a JWT's session id (`sid`) was revoked.
    pub revocation: bool,
}

/// One app's engine and hooks; [`Server::exchange`] starts a request.
#[derive(Clone)]
pub struct Server {
    engine: Arc<ServerEngine>,
    hooks: Hooks,
}

impl Server {
    pub fn new(engine: ServerEngine, hooks: Hooks) -> Self {
        Server { engine: Arc::new(engine), hooks }
    }

    pub fn engine(&self) -> &ServerEngine {
        &self.engine
    }

    pub fn hooks(&self) -> Hooks {
        self.hooks
    }

    /// A new exchange; its first event is [`Event::Arrived`] (or [`Event::Refused`]).
    pub fn exchange(&self) -> Exchange {
        Exchange::new(self.engine.clone(), self.hooks)
    }

    /// A new exchange that has taken `arrival`, and the effects it asks for (one call where a
    /// host pays per crossing: [`Server::exchange`] then `update([Arrived])` otherwise).
    pub fn begin(&self, arrival: Arrival) -> (Exchange, Vec<Effect>) {
        let mut exchange = self.exchange();
        let effects = exchange.arrive(arrival);
        (exchange, effects)
    }
}

/// A host's verdict on one predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// The host has no predicate of that name: denied.
    Missing,
    /// The predicate raised (the text, for the log): denied.
    Raised(String),
}

/// What running one function gave.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Done(Outcome),
    /// No implementation is registered under that name: an exception (500).
    Missing,
}

/// A request as it arrived, with what the host knows up front.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    pub request: Request,
    /// The host's pending (failed) purge, if any.
    pub pending: Option<PurgePlan>,
    /// Milliseconds since the epoch.
    pub now_ms: u64,
    /// The session identity, for a host without the `identity` hook (read up front; `None`:
    /// anonymous). With the hook the exchange asks for it instead, only when it needs it.
    pub identity: Option<Identity>,
}

/// What happened, as the host tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The first event (or use [`Server::begin`]); on an exchange that has responded, the next
    /// request (the exchange starts over: hosts may reuse exchanges).
    Arrived(Arrival),
    /// The host refused the request itself (a framework's body limit, an unreadable body, a
    /// failed CSRF check): answered in the engine's envelope.
    Refused(ProtocolError),
    /// The session identity (`None`: anonymous).
    Identity(Option<Identity>),
    /// The session lookup failed or panicked: a 500, logged.
    IdentityFailed(String),
    Revoked(bool),
    /// The verdicts on `check-predicates`, by name.
    Predicates(Vec<(String, Verdict)>),
    /// One outcome per call of `run`, in order; and the host's pending purge now (a purge may
    /// have failed while the functions ran).
    Ran { outcomes: Vec<RunOutcome>, pending: Option<PurgePlan> },
    /// The retry of the pending purge is over: what is still pending (`None`: the retry
    /// succeeded and nothing failed meanwhile).
    Retried(Option<PurgePlan>),
    /// The cache lookup: the body (`None`: a miss) and the ticket a later put presents.
    Found { body: Option<String>, ticket: Option<u64> },
    /// The cache read failed: served as a miss.
    LookupFailed(String),
    Purged,
    PurgeFailed(String),
    /// The put is done (stored or not).
    Stored,
    PutFailed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Worth a look (a diagnostic of the engine, a cache read that failed).
    Warning,
    /// Needs someone's attention (a function that raised, a purge that failed).
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        }
    }
}

/// What the host must do. An effect that asks something (every one but `keep-pending`, `log`
/// and `respond`) is answered with its event; `respond` is the last effect of an exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Answer with `identity` or `identity-failed`.
    ResolveIdentity,
    /// Is this session id revoked? Answer with `revoked`.
    CheckRevoked(String),
    /// Answer with `predicates`.
    CheckPredicates(PredicateCheck),
    /// Run each function with its args as `identity`; answer with `ran`.
    Run { calls: Vec<MemberCall>, identity: Option<Identity> },
    /// Retry the pending purge before the cache is used; answer with `retried`.
    RetryPurge(PurgePlan),
    /// Read the cache; answer with `found` or `lookup-failed`.
    Lookup(String),
    /// Purge (a call's invalidations); answer with `purged` or `purge-failed`.
    Purge(PurgePlan),
    /// Store the entry unless a purge started after `ticket`; answer with `stored` or `put-failed`.
    Put { entry: CachePut, ticket: Option<u64> },
    /// A purge failed: keep it (merged into what is pending) and pass it in later `arrived` and
    /// `ran` events until a retry succeeds.
    KeepPending(PurgePlan),
    Log { level: LogLevel, text: String },
    /// Send exactly this; the exchange is over.
    Respond(Response),
}

impl Effect {
    fn warning(text: impl Into<String>) -> Self {
        Effect::Log { level: LogLevel::Warning, text: text.into() }
    }

    fn error(text: impl Into<String>) -> Self {
        Effect::Log { level: LogLevel::Error, text: text.into() }
    }
}
