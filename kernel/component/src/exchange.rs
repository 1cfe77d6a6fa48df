//! Glue for the `server-exchange` interface (wit/session.wit): WIT records to the kernel's
//! exchange types and back. Every rule is in `mizan_kernel::server::exchange`.

use crate::exports::mizan::kernel::server as wserver;
use crate::exports::mizan::kernel::server_exchange as w;
use crate::server::{bound_out, config_in, identity_in, identity_out, json, outcome_in, protocol_error_in, request_in, response, to_kernel_plan};
use crate::{Kernel, R, err};
use mizan_kernel::server::exchange::{self as kx, Effect, Event, LogLevel, RunOutcome, Verdict};
use mizan_kernel::server::{self as ks};
use std::cell::RefCell;

pub struct Server(kx::Server);

/// One exchange behind a RefCell: a component instance is single-threaded; WIT methods take `&self`.
pub struct Exchange(RefCell<kx::Exchange>);

impl w::Guest for Kernel {
    type Server = Server;
    type Exchange = Exchange;
}

impl w::GuestServer for Server {
    fn create(registry_json: String, config: wserver::EngineConfig, hooks: w::Hooks) -> R<w::Server> {
        let engine = ks::ServerEngine::from_json(&registry_json, config_in(config)).map_err(err)?;
        let hooks = kx::Hooks { identity: hooks.identity, revocation: hooks.revocation };
        Ok(w::Server::new(Server(kx::Server::new(engine, hooks))))
    }

    fn warnings(&self) -> Vec<String> {
        self.0.engine().warnings().to_vec()
    }

    fn merge_purge_plans(&self, pending: w::PurgePlan, failed: w::PurgePlan) -> w::PurgePlan {
        crate::full::plan(self.0.engine().merge_purge_plans(&to_kernel_plan(pending), &to_kernel_plan(failed)))
    }

    fn begin(&self, arrival: w::Arrival) -> w::Begun {
        let (exchange, effects) = self.0.begin(arrival_in(arrival));
        w::Begun {
            exchange: w::Exchange::new(Exchange(RefCell::new(exchange))),
            effects: effects.into_iter().map(effect).collect(),
        }
    }
}

impl w::GuestExchange for Exchange {
    fn arrive(&self, arrival: w::Arrival) -> R<Vec<w::Effect>> {
        let effects = self.0.borrow_mut().next(arrival_in(arrival)).map_err(err)?;
        Ok(effects.into_iter().map(effect).collect())
    }

    fn update(&self, events: Vec<w::Event>) -> R<Vec<w::Effect>> {
        let events = events.into_iter().map(event).collect();
        let effects = self.0.borrow_mut().update(events).map_err(err)?;
        Ok(effects.into_iter().map(effect).collect())
    }

    fn update_json(&self, events_json: String) -> R<String> {
        let events = mizan_kernel::canon::parse_json(&events_json, "events").map_err(err)?;
        let list = events.as_array().ok_or_else(|| err(mizan_kernel::Error::invalid_json("events must be a list")))?;
        let events = list.iter().map(kx::json::event_from).collect::<Result<Vec<_>, _>>().map_err(err)?;
        let effects = self.0.borrow_mut().update(events).map_err(err)?;
        Ok(kx::json::effects(&effects).to_string())
    }

    fn done(&self) -> bool {
        self.0.borrow().done()
    }
}

fn arrival_in(arrival: w::Arrival) -> kx::Arrival {
    kx::Arrival {
        request: request_in(arrival.request),
        pending: arrival.pending.map(to_kernel_plan),
        now_ms: arrival.now,
        identity: arrival.identity.map(identity_in),
    }
}

fn event(e: w::Event) -> Event {
    match e {
        w::Event::Refused(e) => Event::Refused(protocol_error_in(e)),
        w::Event::Identity(i) => Event::Identity(i.map(identity_in)),
        w::Event::IdentityFailed(text) => Event::IdentityFailed(text),
        w::Event::Revoked(revoked) => Event::Revoked(revoked),
        w::Event::Predicates(list) => Event::Predicates(
            list.into_iter()
                .map(|p| {
                    let verdict = match p.verdict {
                        w::Verdict::Allow => Verdict::Allow,
                        w::Verdict::Deny => Verdict::Deny,
                        w::Verdict::Missing => Verdict::Missing,
                        w::Verdict::Raised(text) => Verdict::Raised(text),
                    };
                    (p.name, verdict)
                })
                .collect(),
        ),
        w::Event::Ran(ran) => Event::Ran {
            outcomes: ran
                .outcomes
                .into_iter()
                .map(|o| match o {
                    w::RunOutcome::Done(o) => RunOutcome::Done(outcome_in(o)),
                    w::RunOutcome::Missing => RunOutcome::Missing,
                })
                .collect(),
            pending: ran.pending.map(to_kernel_plan),
        },
        w::Event::Retried(plan) => Event::Retried(plan.map(to_kernel_plan)),
        w::Event::Found(f) => Event::Found { body: f.body, ticket: f.ticket },
        w::Event::LookupFailed(text) => Event::LookupFailed(text),
        w::Event::Purged => Event::Purged,
        w::Event::PurgeFailed(text) => Event::PurgeFailed(text),
        w::Event::Stored => Event::Stored,
        w::Event::PutFailed(text) => Event::PutFailed(text),
    }
}

fn effect(e: Effect) -> w::Effect {
    match e {
        Effect::ResolveIdentity => w::Effect::ResolveIdentity,
        Effect::CheckRevoked(sid) => w::Effect::CheckRevoked(sid),
        Effect::CheckPredicates(c) => w::Effect::CheckPredicates(wserver::PredicateCheck {
            predicates: c.predicates,
            identity: c.identity.map(identity_out),
        }),
        Effect::Run { calls, identity } => w::Effect::Run(w::Run {
            calls: calls.into_iter().map(|m| wserver::MemberCall { args_json: json(&m.args), function: m.function }).collect(),
            identity: identity.map(identity_out),
        }),
        Effect::RetryPurge(plan) => w::Effect::RetryPurge(crate::full::plan(plan)),
        Effect::Lookup(key) => w::Effect::Lookup(key),
        Effect::Purge(plan) => w::Effect::Purge(crate::full::plan(plan)),
        Effect::Put { entry, ticket } => w::Effect::Put(w::Put {
            entry: wserver::CachePut {
                key: entry.key,
                body: entry.body,
                index_keys: entry.index_keys,
                ttl_seconds: entry.ttl_seconds,
                bound: bound_out(entry.bound),
            },
            ticket,
        }),
        Effect::KeepPending(plan) => w::Effect::KeepPending(crate::full::plan(plan)),
        Effect::Log { level, text } => w::Effect::Log(w::LogLine {
            level: match level {
                LogLevel::Warning => w::LogLevel::Warning,
                LogLevel::Error => w::LogLevel::Error,
            },
            text,
        }),
        Effect::Respond(r) => w::Effect::Respond(response(r)),
    }
}
