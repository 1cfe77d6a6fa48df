//! The interpreter of the kernel's exchange (docs/SERVER.md "The exchange"): one request is one
//! [`Exchange`](crate::exchange::Exchange); this file performs its effects — the session, the
//! revocation hook, predicates, functions, cache I/O, the process's pending purge — and sends
//! the response it ends with. It decides nothing: every rule is the kernel's.

use super::{Ctx, HostRequest, Mizan};
use crate::bindings::exports::mizan::kernel::server as wit_server;
use crate::error::Error;
use crate::exchange::{Arrival, Effect, Event, Exchange, Found, LogLevel, PredicateVerdict, Ran, Run, RunOutcome, Verdict};
use crate::keyer::PurgePlan;
use crate::server::{CachePut, Identity, Request, Response, bound_out, now_ms, outcome_wit};

impl Mizan {
    /// Serve one request, whatever carried it: the response to send, exactly. `host_request` is
    /// the host's own request (what [`Ctx::request`] gives functions and predicates), `identity`
    /// the session's (a valid token in the request replaces it, in the kernel).
    pub async fn handle(&self, request: &Request, host_request: HostRequest, identity: Option<Identity>) -> Response {
        self.converse(request, host_request, identity).await
    }

    /// [`Mizan::handle`] with the session from the app's resolver (`MizanBuilder::identity`),
    /// read up front: the arrival carries it, which costs one kernel crossing less per request
    /// than the exchange asking for it. A resolver that panics is the engine's 500.
    pub async fn handle_resolving(&self, request: &Request, host_request: HostRequest) -> Response {
        match self.identify(host_request.clone()).await {
            Ok(identity) => self.converse(request, host_request, identity).await,
            Err(failed) => failed,
        }
    }

    fn pending_plan(&self) -> Option<PurgePlan> {
        self.pending().as_ref().map(|(p, _)| p.clone())
    }

    async fn converse(&self, request: &Request, host_request: HostRequest, identity: Option<Identity>) -> Response {
        // The session comes with the arrival (this server has no `identity` hook).
        let identity = identity.as_ref().map(Into::into);
        let arrival = Arrival { request: request.wit().clone(), pending: self.pending_plan(), now: now_ms(), identity };
        let (mut exchange, mut effects) = match self.inner.exchange.begin(&arrival) {
            Ok(begun) => begun,
            Err(e) => return self.internal(e),
        };
        let mut events = Vec::new();
        loop {
            for effect in effects {
                if let Some(response) = self.perform(effect, &host_request, &mut events).await {
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
                    self.perform(effect, host, &mut none).await;
                }
                response
            }
            Err(e) => self.internal(e),
        }
    }

    /// Perform one effect; the answer, if it asks one, goes to `events`. The response when it is one.
    async fn perform(&self, effect: Effect, host: &HostRequest, events: &mut Vec<Event>) -> Option<Response> {
        let cache = self.inner.cache.as_ref();
        match effect {
            // Never asked: this server has no `identity` hook (the arrival carries the session).
            Effect::ResolveIdentity => events.push(Event::Identity(None)),
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
