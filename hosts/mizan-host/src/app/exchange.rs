//! The interpreter of the kernel's exchange (docs/SERVER.md "The exchange"): one request is one
//! [`Exchange`](crate::exchange::Exchange); this file performs its effects — the session, the
//! revocation hook, predicates, functions, cache I/O, the process's pending purge — and sends
//! the response it ends with. It decides nothing: every rule is the kernel's.

use super::{Ctx, HostRequest, Mizan, catch_unwind};
use crate::bindings::exports::mizan::kernel::server as wit_server;
use crate::error::Error;
use crate::exchange::{Arrival, Effect, Event, Exchange, ExchangeServer, Found, Hooks, LogLevel, PredicateVerdict, Ran, Run, RunOutcome, Verdict};
use crate::keyer::PurgePlan;
use crate::origin::BoxFuture;
use crate::server::{CachePut, Identity, Request, Response, bound_out, now_ms, outcome_wit};

/// Where the session comes from: held by the caller (it goes in with the arrival), or read when
/// the exchange asks for it (only a `/call/` or `/ctx/…` request without a token needs it), by a
/// lookup that may panic (the kernel's `identity-failed`: its 500 and its log line).
pub(crate) enum Session<'a> {
    Held(Option<Identity>),
    Ask(Lookup<'a>),
}

/// A session lookup, started when the exchange asks.
pub(crate) type Lookup<'a> = Box<dyn FnOnce() -> BoxFuture<'a, Option<Identity>> + Send + 'a>;

impl Mizan {
    /// Serve one request, whatever carried it: the response to send, exactly. `host_request` is
    /// the host's own request (what [`Ctx::request`] gives functions and predicates), `identity`
    /// the session's (a valid token in the request replaces it, in the kernel).
    pub async fn handle(&self, request: &Request, host_request: HostRequest, identity: Option<Identity>) -> Response {
        self.converse(request, host_request, Session::Held(identity)).await
    }

    /// [`Mizan::handle`] with the session from the app's resolver (`MizanBuilder::identity`),
    /// called only when the exchange asks for it, as on every host: a request with a token, the
    /// `/session/` route or a request the engine refuses before auth never runs it. A resolver
    /// that panics is the kernel's `identity-failed` (a 500 in the engine's envelope, logged).
    pub async fn handle_resolving(&self, request: &Request, host_request: HostRequest) -> Response {
        let Some(resolve) = self.inner.identity.clone() else {
            return self.handle(request, host_request, None).await;
        };
        let host = host_request.clone();
        self.converse(request, host_request, Session::Ask(Box::new(move || resolve(host)))).await
    }

    /// [`Mizan::handle`] with the session read by `resolve` when the exchange asks for it (as
    /// [`Mizan::handle_resolving`] does with the app's resolver): for a host whose session lookup
    /// is its own (the Tauri plugin's, per webview).
    pub async fn handle_asking<'a>(
        &self,
        request: &Request,
        host_request: HostRequest,
        resolve: impl FnOnce() -> BoxFuture<'a, Option<Identity>> + Send + 'a,
    ) -> Response {
        self.converse(request, host_request, Session::Ask(Box::new(resolve))).await
    }

    fn pending_plan(&self) -> Option<PurgePlan> {
        self.pending().as_ref().map(|(p, _)| p.clone())
    }

    pub(super) async fn converse(&self, request: &Request, host_request: HostRequest, session: Session<'_>) -> Response {
        // A held session comes with the arrival (a server without the `identity` hook: a kernel
        // crossing less); a lookup is run only if the exchange asks for it (a server with it).
        let (server, identity, mut lookup) = match session {
            Session::Held(identity) => (&self.inner.exchange, identity.as_ref().map(Into::into), None),
            Session::Ask(lookup) => (self.asking(), None, Some(lookup)),
        };
        let arrival = Arrival { request: request.wit().clone(), pending: self.pending_plan(), now: now_ms(), identity };
        let (mut exchange, mut effects) = match server.begin(&arrival) {
            Ok(begun) => begun,
            Err(e) => return self.internal(e),
        };
        let mut events = Vec::new();
        loop {
            for effect in effects {
                if let Some(response) = self.perform(effect, &host_request, &mut lookup, &mut events).await {
                    return self.after_response(&mut exchange, events, &host_request, response).await;
                }
            }
            if events.is_empty() {
                return self.internal(Error::Host("the exchange asked for nothing and did not respond".into()));
            }
            effects = match exchange.update(&events) {
                Ok(effects) => effects,
                Err(e) => return self.internal(e),
            };
            events.clear();
        }
    }

    /// The exchange server with the `identity` hook, made at its first use.
    fn asking(&self) -> &ExchangeServer {
        let inner = &self.inner;
        inner.asking.get_or_init(|| inner.exchange.with_hooks(Hooks { identity: true, ..inner.exchange.hooks() }))
    }

    /// The answer to `resolve-identity`: the lookup's, or its panic as `identity-failed`. The
    /// exchange asks once, and only a server with the hook asks (the lookup's requests).
    async fn session_event(lookup: Option<Lookup<'_>>) -> Event {
        let Some(lookup) = lookup else {
            return Event::IdentityFailed("the exchange asked for a session this request has no lookup for".into());
        };
        // Called inside the future: a lookup that panics before its first await is caught too.
        match catch_unwind(async move { lookup().await }).await {
            Ok(identity) => Event::Identity(identity.as_ref().map(Into::into)),
            Err(panic) => Event::IdentityFailed(panic.to_string()),
        }
    }

    /// A purge or put that came with the response is answered only when it failed: its log line
    /// (and a failed purge kept pending) before the response is sent.
    async fn after_response(&self, exchange: &mut Exchange, mut events: Vec<Event>, host: &HostRequest, response: Response) -> Response {
        events.retain(|e| matches!(e, Event::PurgeFailed(_) | Event::PutFailed(_)));
        if events.is_empty() {
            return response;
        }
        match exchange.update(&events) {
            Ok(effects) => {
                let mut none = Vec::new();
                for effect in effects {
                    self.perform(effect, host, &mut None, &mut none).await;
                }
                response
            }
            Err(e) => self.internal(e),
        }
    }

    /// Perform one effect; the answer, if it asks one, goes to `events`. The response when it is one.
    /// `lookup` is the request's session lookup, if the session is not held (taken when asked).
    async fn perform(&self, effect: Effect, host: &HostRequest, lookup: &mut Option<Lookup<'_>>, events: &mut Vec<Event>) -> Option<Response> {
        let cache = self.inner.cache.as_ref();
        match effect {
            Effect::ResolveIdentity => events.push(Self::session_event(lookup.take()).await),
            Effect::CheckRevoked(sid) => events.push(Event::Revoked(self.inner.revoked.as_ref().is_some_and(|f| f(&sid)))),
            Effect::CheckPredicates(check) => events.push(Event::Predicates(self.verdicts(check, host).await)),
            Effect::Run(run) => {
                let outcomes = self.run_all(run, host).await;
                events.push(Event::Ran(Ran { outcomes, pending: self.pending_plan() }));
            }
            Effect::RetryPurge(_) => events.push(Event::Retried(self.retry_pending().await)),
            Effect::Lookup(key) => events.push(match cache {
                None => Event::Found(Found { body: None, ticket: None }),
                Some(store) => match store.get(&key).await {
                    Ok(l) => Event::Found(Found { body: l.body, ticket: Some(l.ticket) }),
                    Err(e) => Event::LookupFailed(e.to_string()),
                },
            }),
            Effect::Purge(plan) => events.push(match cache {
                None => Event::Purged,
                Some(store) => match store.purge(&plan).await {
                    Ok(_) => Event::Purged,
                    Err(e) => Event::PurgeFailed(e.to_string()),
                },
            }),
            Effect::Put(put) => {
                let entry = cache_put(put.entry);
                events.push(match cache {
                    None => Event::Stored,
                    Some(store) => match store.put(&entry, put.ticket).await {
                        Ok(_) => Event::Stored,
                        Err(e) => Event::PutFailed(e.to_string()),
                    },
                });
            }
            Effect::KeepPending(plan) => self.keep_pending(&plan),
            Effect::Log(line) => match line.level {
                LogLevel::Warning => self.diagnostic(&line.text),
                LogLevel::Error => self.error(&line.text),
            },
            Effect::Respond(r) => return Some(r.into()),
        }
        None
    }

    /// Retry the pending purge, as it is now; what is still pending after it.
    async fn retry_pending(&self) -> Option<PurgePlan> {
        let (plan, version) = self.pending().clone()?;
        let Some(store) = self.inner.cache.as_ref() else { return Some(plan) };
        if store.purge(&plan).await.is_err() {
            return Some(plan);
        }
        let mut pending = self.pending();
        if pending.as_ref().is_some_and(|(_, v)| *v == version) {
            *pending = None; // nothing failed meanwhile
        }
        pending.as_ref().map(|(p, _)| p.clone())
    }

    async fn verdicts(&self, check: wit_server::PredicateCheck, host: &HostRequest) -> Vec<PredicateVerdict> {
        let identity: Option<Identity> = check.identity.map(Into::into);
        let mut out = Vec::with_capacity(check.predicates.len());
        for name in check.predicates {
            let verdict = match self.inner.predicates.get(&name) {
                None => Verdict::Missing,
                Some(p) => {
                    let ctx = Ctx { identity: identity.clone(), request: host.clone(), mizan: self.clone() };
                    if p(ctx).await { Verdict::Allow } else { Verdict::Deny }
                }
            };
            out.push(PredicateVerdict { name, verdict });
        }
        out
    }

    async fn run_all(&self, run: Run, host: &HostRequest) -> Vec<RunOutcome> {
        let ctx = Ctx { identity: run.identity.map(Into::into), request: host.clone(), mizan: self.clone() };
        let mut out = Vec::with_capacity(run.calls.len());
        for call in run.calls {
            out.push(match self.inner.functions.get(&call.function) {
                Some(handler) => RunOutcome::Done(outcome_wit(handler(call.args_json, ctx.clone()).await)),
                None => RunOutcome::Missing,
            });
        }
        out
    }
}

fn cache_put(c: wit_server::CachePut) -> CachePut {
    CachePut { key: c.key, body: c.body, index_keys: c.index_keys, ttl_seconds: c.ttl_seconds, bound: bound_out(c.bound) }
}
