//! The exchange's states and transitions (docs/SERVER.md "The exchange").

use super::{Arrival as Arrived, Effect, Event, Hooks, RunOutcome, Verdict};
use crate::error::{Error, Result};
use crate::index::PurgePlan;
use crate::server::engine::{CachePlan, CallPlan, FetchOutcome, FetchPlan, Finished, Identity, Outcome, Plan, ServerEngine};
use crate::server::http::{ProtocolError, Request, Response};
use crate::server::redis::plan_json;
use std::sync::Arc;

/// The request as it arrived, kept between steps so it is parsed once per plan.
struct Arrival {
    request: Request,
    pending: Option<PurgePlan>,
    now_ms: u64,
    /// The session identity, once resolved.
    session: Option<Identity>,
}

/// What runs after `run` answers.
// One per exchange, moved a few times: boxing the fetch would add an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Job {
    Call(CallPlan),
    /// The fetch, the cache plan it still uses (none when fenced) and the lookup's ticket.
    Fetch { plan: FetchPlan, cache: Option<CachePlan>, ticket: Option<u64> },
}

enum Stage {
    New,
    Identity(Arrival),
    Revoked(Arrival, Plan),
    Predicates(Arrival),
    Retrying(FetchPlan, CachePlan),
    LookingUp(FetchPlan, CachePlan),
    Running(Job),
    /// Responded with a call's purge before the response: a failure is still to hear of.
    Purged(PurgePlan),
    /// Responded with a put before the response: a failure is still to hear of.
    Put,
    Done,
}

impl Stage {
    /// What the stage waits for, for the error a misplaced event gets.
    fn waits_for(&self) -> &'static str {
        match self {
            Stage::New => "arrived or refused",
            Stage::Identity(_) => "identity or identity-failed",
            Stage::Revoked(..) => "revoked",
            Stage::Predicates(_) => "predicates",
            Stage::Retrying(..) => "retried",
            Stage::LookingUp(..) => "found or lookup-failed",
            Stage::Running(_) => "ran",
            Stage::Purged(_) => "purge-failed, purged or arrived (the exchange has responded)",
            Stage::Put => "put-failed, stored or arrived (the exchange has responded)",
            Stage::Done => "arrived (the exchange has responded: only a next request)",
        }
    }
}

/// One request, from arrival to response. Made by [`Server::begin`](super::Server::begin) or
/// [`Server::exchange`](super::Server::exchange).
pub struct Exchange {
    engine: Arc<ServerEngine>,
    hooks: Hooks,
    stage: Stage,
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::Arrived(_) => "arrived",
        Event::Refused(_) => "refused",
        Event::Identity(_) => "identity",
        Event::IdentityFailed(_) => "identity-failed",
        Event::Revoked(_) => "revoked",
        Event::Predicates(_) => "predicates",
        Event::Ran { .. } => "ran",
        Event::Retried(_) => "retried",
        Event::Found { .. } => "found",
        Event::LookupFailed(_) => "lookup-failed",
        Event::Purged => "purged",
        Event::PurgeFailed(_) => "purge-failed",
        Event::Stored => "stored",
        Event::PutFailed(_) => "put-failed",
    }
}

impl Exchange {
    pub(super) fn new(engine: Arc<ServerEngine>, hooks: Hooks) -> Self {
        Exchange { engine, hooks, stage: Stage::New }
    }

    /// Whether the exchange has responded (a purge or put that came with the response may still
    /// report its failure).
    pub fn done(&self) -> bool {
        matches!(self.stage, Stage::Done | Stage::Purged(_) | Stage::Put)
    }

    /// Apply the events in order; the effects to perform, in order. An event the exchange is
    /// not waiting for is an `invalid-argument` error, and that event and the ones after it are
    /// not applied (the effects of those before it are lost with the error: a host bug).
    pub fn update(&mut self, events: Vec<Event>) -> Result<Vec<Effect>> {
        // Most steps answer one or two effects: one allocation, no growth.
        let mut out = Vec::with_capacity(2);
        for event in events {
            self.step(event, &mut out)?;
        }
        Ok(out)
    }

    fn step(&mut self, event: Event, out: &mut Vec<Effect>) -> Result<()> {
        // A refusal ends the exchange wherever it is (before the response).
        if let Event::Refused(e) = event {
            if self.done() {
                return Err(Error::invalid_argument("exchange: refused after the response"));
            }
            self.respond(self.engine.error_response(&e), out);
            return Ok(());
        }
        if let Event::Arrived(arrived) = event {
            return self.arrive_into(arrived, out);
        }
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        match (stage, event) {
            (Stage::Identity(mut arrival), Event::Identity(identity)) => {
                arrival.session = identity;
                self.plan(arrival, out);
            }
            (Stage::Identity(_), Event::IdentityFailed(text)) => {
                out.push(Effect::error(format!("the identity callback failed: {text}")));
                self.internal(out);
            }
            (Stage::Revoked(arrival, plan), Event::Revoked(revoked)) => {
                if revoked {
                    let e = ProtocolError::new(crate::server::ProtocolCode::Unauthorized, "Session revoked");
                    self.respond(self.engine.error_response(&e), out);
                } else {
                    self.after_revocation(arrival, plan, out);
                }
            }
            (Stage::Predicates(arrival), Event::Predicates(verdicts)) => self.answered(arrival, verdicts, out),
            (Stage::Retrying(plan, cache), Event::Retried(still)) => {
                match &still {
                    None => out.push(Effect::warning("a purge that had failed succeeded on retry; the cache is used again")),
                    Some(p) if p.covers(&cache.index_keys) => {
                        self.run_fetch(plan, None, None, out);
                        return Ok(());
                    }
                    Some(_) => {}
                }
                out.push(Effect::Lookup(cache.key.clone()));
                self.stage = Stage::LookingUp(plan, cache);
            }
            (Stage::LookingUp(plan, cache), Event::Found { body: Some(body), .. }) => {
                let fin = self.engine.finish_fetch(&plan.context, Some(&cache), FetchOutcome::Hit(body));
                self.finish(fin, out);
            }
            (Stage::LookingUp(plan, cache), Event::Found { body: None, ticket }) => self.run_fetch(plan, Some(cache), ticket, out),
            (Stage::LookingUp(plan, cache), Event::LookupFailed(text)) => {
                out.push(Effect::warning(format!("cache read failed (served as a miss): {text}")));
                self.run_fetch(plan, Some(cache), None, out);
            }
            (Stage::Running(job), Event::Ran { outcomes, pending }) => self.ran(job, outcomes, pending, out)?,
            // A purge or put that came with the response: a success needs no answer (a host may
            // still give it), a failure is logged, and a failed purge kept, before the host sends
            // the response.
            (Stage::Purged(_) | Stage::Put, Event::Purged | Event::Stored) => {}
            (Stage::Purged(plan), Event::PurgeFailed(text)) => {
                out.push(Effect::error(format!(
                    "purge failed: {text}; the entries it covers are served without the cache until a retry succeeds; plan {}",
                    plan_json(&plan)
                )));
                out.push(Effect::KeepPending(plan));
            }
            (Stage::Put, Event::PutFailed(text)) => out.push(Effect::warning(format!("cache write failed: {text}"))),
            (stage, event) => {
                let message = format!("exchange: got {}, expected {}", event_name(&event), stage.waits_for());
                self.stage = stage;
                return Err(Error::invalid_argument(message));
            }
        }
        Ok(())
    }

    /// Take the request (the first event); the effects it asks for. Only [`Server::begin`] and
    /// `step` call it, on a new exchange.
    pub(super) fn arrive(&mut self, arrived: Arrived) -> Vec<Effect> {
        let mut out = Vec::with_capacity(2);
        self.arrived(arrived, &mut out);
        out
    }

    /// `update` with the one event [`Event::Arrived`]: the next request on an exchange that is
    /// new or has responded (a kept exchange), without a list of one event to build and walk.
    pub fn next(&mut self, arrived: Arrived) -> Result<Vec<Effect>> {
        let mut out = Vec::with_capacity(2);
        self.arrive_into(arrived, &mut out)?;
        Ok(out)
    }

    /// The one rule for [`Event::Arrived`], whether it comes through `update` or `next`: a new
    /// exchange, or one that has responded, takes the request as a new one would (a host may
    /// keep exchanges for reuse instead of creating one per request: a crossing less where a new
    /// kernel object costs one); mid-exchange it is a misplaced event.
    fn arrive_into(&mut self, arrived: Arrived, out: &mut Vec<Effect>) -> Result<()> {
        if !matches!(self.stage, Stage::New) && !self.done() {
            let message = format!("exchange: got arrived, expected {}", self.stage.waits_for());
            return Err(Error::invalid_argument(message));
        }
        self.stage = Stage::New;
        self.arrived(arrived, out);
        Ok(())
    }

    fn arrived(&mut self, arrived: Arrived, out: &mut Vec<Effect>) {
        let Arrived { request, pending, now_ms, identity } = arrived;
        let asks = self.hooks.identity;
        let arrival = Arrival { request, pending, now_ms, session: if asks { None } else { identity } };
        if asks && self.engine.needs_session_identity(&arrival.request) {
            out.push(Effect::ResolveIdentity);
            self.stage = Stage::Identity(arrival);
        } else {
            self.plan(arrival, out);
        }
    }

    fn respond(&mut self, response: Response, out: &mut Vec<Effect>) {
        out.push(Effect::Respond(response));
        self.stage = Stage::Done;
    }

    fn internal(&mut self, out: &mut Vec<Effect>) {
        let response = self.engine.error_response(&ProtocolError::internal());
        self.respond(response, out);
    }

    fn plan(&mut self, arrival: Arrival, out: &mut Vec<Effect>) {
        let plan = self.engine.plan(&arrival.request, arrival.session.as_ref(), arrival.now_ms);
        if let Plan::Respond(r) = plan {
            return self.respond(r, out);
        }
        let sid = plan_identity(&plan).and_then(|i| i.session_id.clone());
        match sid {
            Some(sid) if self.hooks.revocation => {
                out.push(Effect::CheckRevoked(sid));
                self.stage = Stage::Revoked(arrival, plan);
            }
            _ => self.after_revocation(arrival, plan, out),
        }
    }

    fn after_revocation(&mut self, arrival: Arrival, plan: Plan, out: &mut Vec<Effect>) {
        match plan {
            Plan::CheckPredicates(check) => {
                out.push(Effect::CheckPredicates(check));
                self.stage = Stage::Predicates(arrival);
            }
            plan => self.dispatch(plan, arrival.pending, out),
        }
    }

    fn answered(&mut self, arrival: Arrival, verdicts: Vec<(String, Verdict)>, out: &mut Vec<Effect>) {
        let mut answers = Vec::with_capacity(verdicts.len());
        for (name, verdict) in verdicts {
            let allowed = match verdict {
                Verdict::Allow => true,
                Verdict::Deny => false,
                Verdict::Missing => {
                    out.push(Effect::warning(format!("no predicate named {name:?}: denied")));
                    false
                }
                Verdict::Raised(text) => {
                    out.push(Effect::error(format!("predicate {name:?} raised: denied: {text}")));
                    false
                }
            };
            answers.push((name, allowed));
        }
        match self.engine.plan_with(&arrival.request, arrival.session.as_ref(), arrival.now_ms, &answers) {
            Plan::CheckPredicates(check) => {
                // The host left some predicate unanswered: refuse rather than loop.
                out.push(Effect::error(format!("predicates left unanswered: {:?}", check.predicates)));
                self.internal(out);
            }
            plan => self.dispatch(plan, arrival.pending, out),
        }
    }

    fn dispatch(&mut self, plan: Plan, pending: Option<PurgePlan>, out: &mut Vec<Effect>) {
        match plan {
            Plan::Respond(r) => self.respond(r, out),
            Plan::CheckPredicates(_) => self.internal(out), // dispatch follows the predicates
            Plan::Call(call) => {
                let calls = vec![crate::server::MemberCall { function: call.function.clone(), args: call.args.clone() }];
                out.push(Effect::Run { calls, identity: call.identity.clone() });
                self.stage = Stage::Running(Job::Call(call));
            }
            Plan::Fetch(mut fetch) => match fetch.cache.take() {
                None => self.run_fetch(fetch, None, None, out),
                Some(cache) => match pending {
                    Some(pending) => {
                        out.push(Effect::RetryPurge(pending));
                        self.stage = Stage::Retrying(fetch, cache);
                    }
                    None => {
                        out.push(Effect::Lookup(cache.key.clone()));
                        self.stage = Stage::LookingUp(fetch, cache);
                    }
                },
            },
        }
    }

    fn run_fetch(&mut self, mut plan: FetchPlan, cache: Option<CachePlan>, ticket: Option<u64>, out: &mut Vec<Effect>) {
        let calls = std::mem::take(&mut plan.members);
        out.push(Effect::Run { calls: calls.clone(), identity: plan.identity.clone() });
        plan.members = calls;
        self.stage = Stage::Running(Job::Fetch { plan, cache, ticket });
    }

    fn ran(&mut self, job: Job, outcomes: Vec<RunOutcome>, pending: Option<PurgePlan>, out: &mut Vec<Effect>) -> Result<()> {
        let expected = match &job {
            Job::Call(_) => 1,
            Job::Fetch { plan, .. } => plan.members.len(),
        };
        if outcomes.len() != expected {
            let message = format!("exchange: ran carries {} outcomes for {expected} calls", outcomes.len());
            self.stage = Stage::Running(job);
            return Err(Error::invalid_argument(message));
        }
        match job {
            Job::Call(call) => {
                let outcome = self.outcome(&call.function, outcomes.into_iter().next().unwrap_or(RunOutcome::Missing), out);
                let fin = self.engine.finish_call(&call, outcome);
                self.finish(fin, out);
            }
            Job::Fetch { plan, cache, ticket } => {
                let results = plan
                    .members
                    .iter()
                    .zip(outcomes)
                    .map(|(m, o)| (m.function.clone(), self.outcome(&m.function, o, out)))
                    .collect();
                let mut fin = self.engine.finish_fetch(&plan.context, cache.as_ref(), FetchOutcome::Results(results));
                // A purge that failed while the members ran may cover the entry: then no put.
                if let (Some(p), Some(c)) = (&pending, &cache)
                    && p.covers(&c.index_keys)
                {
                    fin.cache_put = None;
                }
                if let Some(put) = fin.cache_put.take() {
                    for d in fin.diagnostics.drain(..) {
                        out.push(Effect::warning(d));
                    }
                    // Before the response, as a purge; only a failure is answered.
                    out.push(Effect::Put { entry: put, ticket });
                    self.respond(fin.response, out);
                    self.stage = Stage::Put;
                } else {
                    self.finish(fin, out);
                }
            }
        }
        Ok(())
    }

    /// A run outcome as the engine takes it; failures logged for someone to look at.
    fn outcome(&self, function: &str, outcome: RunOutcome, out: &mut Vec<Effect>) -> Outcome {
        let outcome = match outcome {
            RunOutcome::Done(o) => o,
            RunOutcome::Missing => Outcome::Exception(format!("no implementation registered for `{function}`")),
        };
        if let Outcome::Exception(text) = &outcome {
            out.push(Effect::error(format!("`{function}` failed: {text}")));
        }
        outcome
    }

    /// Log the diagnostics; purge (a call's) and respond. The purge comes before the response,
    /// so a client's refetch cannot read a purged entry; it is answered only if it failed.
    fn finish(&mut self, mut fin: Finished, out: &mut Vec<Effect>) {
        for d in fin.diagnostics.drain(..) {
            out.push(Effect::warning(d));
        }
        let purge = fin.purge.take();
        if let Some(plan) = &purge {
            out.push(Effect::Purge(plan.clone()));
        }
        self.respond(fin.response, out);
        if let Some(plan) = purge {
            self.stage = Stage::Purged(plan);
        }
    }
}

fn plan_identity(plan: &Plan) -> Option<&Identity> {
    match plan {
        Plan::Respond(_) => None,
        Plan::CheckPredicates(c) => c.identity.as_ref(),
        Plan::Call(c) => c.identity.as_ref(),
        Plan::Fetch(f) => f.identity.as_ref(),
    }
}
