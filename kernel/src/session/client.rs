//! [`ClientSession`]: the store plus every decision a client makes around it (see the module
//! documentation of [`crate::session`]).

use super::view::{Views, Visible};
use super::{
    Answer, CLOSED, CallWait, ErrorRecord, Event, FetchWait, InstanceRef, Outcome, Output, RESET, RequestForm,
    RequestKind, Settlement, Timer, http,
};
use crate::canon::{self, parse_json, parse_object};
use crate::error::{Error, Result};
use crate::invalidation::entries_from_json;
use crate::merge::MergeEntry;
use crate::store::{Effect, MAX_TIMER_DELAY_MS, RequestError, Status, Store, StoreConfig, instance_key};
use serde_json::{Map, Value};
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;

type FxHashMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// The store's configuration plus the session's own: `request_timeout_ms` (default 10 000; 0
/// means no limit), after which a host gives up on a request and answers with a network error;
/// `transport` (`"http"`, the default, or `"operation"`), the form requests take.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub store: StoreConfig,
    pub request_timeout_ms: u64,
    pub transport: RequestForm,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { store: StoreConfig::default(), request_timeout_ms: 10_000, transport: RequestForm::Http }
    }
}

impl SessionConfig {
    /// `{"request_timeout_ms"?, "transport"?, …the store's keys}`; unknown keys are refused.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut m = canon::parse_object(text, "client config")?;
        let mut config = SessionConfig::default();
        if let Some(v) = m.remove("request_timeout_ms") {
            config.request_timeout_ms =
                v.as_u64().ok_or_else(|| Error::invalid_argument("client config `request_timeout_ms` must be a non-negative integer"))?;
        }
        if let Some(v) = m.remove("transport") {
            config.transport = match v.as_str() {
                Some("http") => RequestForm::Http,
                Some("operation") => RequestForm::Operation,
                _ => return Err(Error::invalid_argument("client config `transport` must be \"http\" or \"operation\"")),
            };
        }
        config.store = StoreConfig::from_json(&canon::json_text(&Value::Object(m)))?;
        Ok(config)
    }
}

/// Where `GET session/` stands.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Not asked for: calls go without a token.
    Idle,
    /// Asked for (attempt `attempts + 1`); calls wait.
    Pending { request: u64, attempts: u32 },
    /// Failed and retrying at `at`; calls wait.
    Retrying { at: u64, attempts: u32 },
    /// The body (JSON text).
    Ready(String),
    /// Given up; calls go without a token.
    Failed(RequestError),
}

#[derive(Debug, Clone, PartialEq)]
enum Waiter {
    Fetch(String),
    Call(u64),
    Start,
}

/// A call the store asked for while the session was pending.
struct HeldCall {
    request: u64,
    function: String,
    args: Value,
}

pub struct ClientSession {
    config: SessionConfig,
    store: Store,
    phase: Phase,
    csrf_token: Option<String>,
    /// Requests handed to the host and not answered yet.
    inflight: FxHashMap<u64, RequestKind>,
    held: Vec<HeldCall>,
    /// The host's waiters, in the order they came (a client has a few at a time: a list).
    waiters: Vec<(u64, Waiter)>,
    /// Mutations whose waiter gave up: released when they settle.
    abandoned: Vec<u64>,
    views: Views,
    scheduled_at: Option<u64>,
    /// Keys whose view the host needs in this update's output, changed or not.
    forced: Vec<String>,
    /// Keys with a new fetch waiter in this update (it may settle at once).
    touched: Vec<String>,
}

fn local(code: &str, message: &str) -> RequestError {
    RequestError::local(None, code, message)
}

fn params_of(r: &InstanceRef) -> Result<Map<String, Value>> {
    parse_object(&r.params_json, "params")
}

impl ClientSession {
    pub fn new(config: SessionConfig) -> Self {
        let store = Store::lean(config.store.clone());
        ClientSession {
            config,
            store,
            phase: Phase::Idle,
            csrf_token: None,
            inflight: FxHashMap::default(),
            held: Vec::new(),
            waiters: Vec::new(),
            abandoned: Vec::new(),
            views: Views::default(),
            scheduled_at: None,
            forced: Vec::new(),
            touched: Vec::new(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The store underneath (snapshots, dehydrate, counts).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// No request running, no retry waiting, no call held for the session.
    pub fn idle(&self) -> bool {
        self.inflight.is_empty() && self.held.is_empty() && !matches!(self.phase, Phase::Retrying { .. }) && !self.store.retrying()
    }

    /// Apply `events` in order and say what the host must do.
    pub fn update(&mut self, events: Vec<Event>, now: u64) -> Output {
        let mut out = Output::default();
        for event in events {
            let result = self.apply(event, now, &mut out);
            out.results.push(result);
        }
        self.finish(now, &mut out);
        out
    }

    fn apply(&mut self, event: Event, now: u64, out: &mut Output) -> Result<Option<String>> {
        match event {
            Event::Start(waiter) => {
                if let Some(w) = waiter {
                    self.add_waiter(w, Waiter::Start)?;
                }
                match &self.phase {
                    Phase::Ready(body) => {
                        if let Some(w) = waiter {
                            let body = body.clone();
                            self.settle(w, Ok(body), out);
                        }
                    }
                    Phase::Pending { .. } | Phase::Retrying { .. } => {}
                    Phase::Idle | Phase::Failed(_) => self.begin_session(0, out),
                }
                Ok(None)
            }
            Event::Subscribe(r) => {
                let params = params_of(&r)?;
                let (key, query) = self.watch(&r.context, &params, now);
                Ok(Some(self.store.subscribe_keyed(key, query, &r.context, &params, now)))
            }
            Event::Unsubscribe(key) => self.store.unsubscribe(&key, now).map(|()| None),
            Event::Prefetch(r) => {
                let params = params_of(&r)?;
                let (key, query) = self.watch(&r.context, &params, now);
                Ok(Some(self.store.prefetch_keyed(key, query, &r.context, &params, now)))
            }
            Event::Refetch(key) => self.store.refetch(&key).map(|()| None),
            Event::View(r) => {
                let params = params_of(&r)?;
                let (key, query) = self.watch(&r.context, &params, now);
                let key = self.store.prefetch_keyed(key, query, &r.context, &params, now);
                self.force(&key);
                Ok(Some(key))
            }
            Event::Fetch(f) => self.fetch(f, now).map(Some),
            Event::Call(c) => self.call(c).map(|()| None),
            Event::Cancel(waiter) => {
                self.cancel(waiter, now);
                Ok(None)
            }
            Event::Answer(a) => {
                self.answer(a, now, out);
                Ok(None)
            }
            Event::Invalidate(text) => {
                let entries = entries_from_json(&parse_json(&text, "entries")?)?;
                self.store.invalidate(&entries);
                Ok(None)
            }
            Event::Remove(text) => {
                let scope = match text {
                    None => None,
                    Some(t) => Some(entries_from_json(&parse_json(&t, "entries")?)?),
                };
                self.store.remove(scope.as_deref());
                Ok(None)
            }
            Event::Reset => {
                self.settle_all(RESET, "The client was reset before the request settled", now, out);
                self.store.reset();
                self.csrf_token = None;
                // A new identity needs its own session (and its CSRF token).
                self.begin_session(0, out);
                Ok(None)
            }
            Event::Hydrate { payload_json, held } => {
                let payload = parse_json(&payload_json, "hydration payload")?;
                let seeded = self.store.hydrate_owned(payload, now)?;
                if !held {
                    return Ok(None);
                }
                let stale_time = self.config.store.stale_time_ms;
                for key in seeded.iter().flatten() {
                    if let Some(inst) = self.store.instance(key) {
                        self.views.hold(inst, Visible::of(inst, now, stale_time));
                    }
                }
                Ok(Some(canon::json_text(&Value::from(seeded))))
            }
            Event::Tick => {
                self.scheduled_at = None;
                self.store.tick(now);
                if let Phase::Retrying { at, attempts } = self.phase
                    && at <= now
                {
                    self.begin_session(attempts, out);
                }
                Ok(None)
            }
            Event::Focus => {
                self.store.focus(now);
                Ok(None)
            }
            Event::Online => {
                self.store.online(now);
                // The network is back: a session waiting to retry goes now, like fetches do.
                if self.config.store.refetch_on_reconnect
                    && let Phase::Retrying { attempts, .. } = self.phase
                {
                    self.begin_session(attempts, out);
                }
                Ok(None)
            }
            Event::Close => {
                self.settle_all(CLOSED, "The client was closed", now, out);
                let starts: Vec<u64> = self.waiters.iter().map(|(id, _)| *id).collect();
                for w in starts {
                    self.settle(w, Err(local(CLOSED, "The client was closed")), out);
                }
                self.held.clear();
                Ok(None)
            }
        }
    }

    /// The key of `(context, params)`, watched for the host with its state before this event.
    fn watch(&mut self, context: &str, params: &Map<String, Value>, now: u64) -> (String, String) {
        let (key, query) = instance_key(context, params);
        if !self.views.watched(&key) {
            let stale_time = self.config.store.stale_time_ms;
            let current = self.store.instance(&key).map(|i| (i, Visible::of(i, now, stale_time)));
            self.views.watch(&key, current);
        }
        (key, query)
    }

    fn waiting(&self, id: u64) -> bool {
        self.waiters.iter().any(|(w, _)| *w == id)
    }

    fn take_waiter(&mut self, id: u64) -> Option<Waiter> {
        let i = self.waiters.iter().position(|(w, _)| *w == id)?;
        Some(self.waiters.remove(i).1)
    }

    fn force(&mut self, key: &str) {
        if !self.forced.iter().any(|k| k == key) {
            self.forced.push(key.to_string());
        }
    }

    fn add_waiter(&mut self, id: u64, waiter: Waiter) -> Result<()> {
        if self.waiting(id) {
            return Err(Error::invalid_argument(format!("waiter {id} is already waiting")));
        }
        self.waiters.push((id, waiter));
        Ok(())
    }

    /// A fetch waiter observes its instance until it settles: an invalidation that lands while
    /// it waits refetches, and the waiter gets that answer.
    fn fetch(&mut self, f: FetchWait, now: u64) -> Result<String> {
        if self.waiting(f.waiter) {
            return Err(Error::invalid_argument(format!("waiter {} is already waiting", f.waiter)));
        }
        let params = params_of(&f.instance)?;
        let (key, query) = self.watch(&f.instance.context, &params, now);
        let key = self.store.subscribe_keyed(key, query, &f.instance.context, &params, now);
        if f.force {
            self.store.refetch(&key)?;
        }
        self.waiters.push((f.waiter, Waiter::Fetch(key.clone())));
        self.touched.push(key.clone());
        Ok(key)
    }

    fn call(&mut self, c: CallWait) -> Result<()> {
        if self.waiting(c.waiter) {
            return Err(Error::invalid_argument(format!("waiter {} is already waiting", c.waiter)));
        }
        let args = parse_json(&c.args_json, "args")?;
        let optimistic: Vec<MergeEntry> = match &c.optimistic_json {
            None => Vec::new(),
            Some(text) => match parse_json(text, "optimistic")? {
                Value::Array(items) => items.iter().map(MergeEntry::from_json).collect::<Result<_>>()?,
                Value::Null => Vec::new(),
                _ => return Err(Error::invalid_json("optimistic must be a list of merge entries")),
            },
        };
        let mutation = self.store.mutate(&c.function, args, &optimistic)?;
        self.waiters.push((c.waiter, Waiter::Call(mutation)));
        Ok(())
    }

    fn cancel(&mut self, waiter: u64, now: u64) {
        match self.take_waiter(waiter) {
            Some(Waiter::Fetch(key)) => self.release_fetch(&key, now),
            Some(Waiter::Call(mutation)) => {
                if self.store.mutation_pending(mutation) {
                    self.abandoned.push(mutation);
                } else {
                    self.store.release_mutation(mutation);
                }
            }
            Some(Waiter::Start) | None => {}
        }
    }

    /// A fetch waiter is done with its instance (which outlives it: gc starts when nobody
    /// observes it).
    fn release_fetch(&mut self, key: &str, now: u64) {
        let _ = self.store.unsubscribe(key, now);
    }

    fn settle(&mut self, waiter: u64, outcome: std::result::Result<String, RequestError>, out: &mut Output) {
        self.take_waiter(waiter);
        out.settled.push(Settlement { waiter, outcome: outcome.map_err(|e| ErrorRecord::of(&e)) });
    }

    /// Settle every fetch and call waiter with `code` (start waiters wait for the next session).
    fn settle_all(&mut self, code: &str, message: &str, now: u64, out: &mut Output) {
        let ids: Vec<(u64, Waiter)> = self.waiters.iter().filter(|(_, w)| !matches!(w, Waiter::Start)).cloned().collect();
        for (id, w) in ids {
            match w {
                Waiter::Fetch(key) => self.release_fetch(&key, now),
                Waiter::Call(mutation) => self.store.release_mutation(mutation),
                Waiter::Start => {}
            }
            self.settle(id, Err(local(code, message)), out);
        }
        // Calls whose waiter gave up are forgotten too; their answers are ignored.
        self.abandoned.clear();
        self.held.clear();
    }


    fn begin_session(&mut self, attempts: u32, out: &mut Output) {
        let request = self.store.next_request_id();
        self.phase = Phase::Pending { request, attempts };
        self.inflight.insert(request, RequestKind::Session);
        out.requests.push(http::session(request, self.config.transport, self.config.request_timeout_ms));
    }

    /// The session settled (either way): the calls held for it go, with its token if any.
    fn release_held(&mut self, out: &mut Output) {
        for c in std::mem::take(&mut self.held) {
            self.inflight.insert(c.request, RequestKind::Call);
            out.requests.push(http::call(
                c.request,
                self.config.transport,
                c.function,
                &c.args,
                self.csrf_token.as_deref(),
                self.config.request_timeout_ms,
            ));
        }
    }

    fn answer(&mut self, a: Answer, now: u64, out: &mut Output) {
        // Unknown ids are answers to requests nobody waits for any more: ignored.
        let Some(kind) = self.inflight.remove(&a.request) else { return };
        let read = read(a.outcome);
        let id = a.request;
        match kind {
            RequestKind::Fetch => match read {
                Read::Body(body, _) => self.store.fetch_ok(id, body, now),
                Read::Invalid(e) => self.store.fetch_invalid(id, e, now),
                Read::Failed(e) => self.store.fetch_err(id, e, now),
            },
            RequestKind::Call => match read {
                // A malformed body fails the mutation inside the store (INVALID_RESPONSE).
                Read::Body(body, header) => {
                    let _ = self.store.call_ok(id, &body, header.as_deref());
                }
                Read::Invalid(e) | Read::Failed(e) => self.store.call_err(id, e),
            },
            RequestKind::Session => self.session_answer(id, read, now, out),
        }
    }

    fn session_answer(&mut self, id: u64, read: Read, now: u64, out: &mut Output) {
        let Phase::Pending { request, attempts } = self.phase else { return };
        if request != id {
            return; // an answer for the session of an identity that was reset since
        }
        let outcome = match read {
            Read::Body(body, _) => {
                self.csrf_token = body.get("csrfToken").and_then(Value::as_str).map(str::to_string);
                let text = canon::json_text(&body);
                self.phase = Phase::Ready(text.clone());
                Ok(text)
            }
            Read::Failed(e) if e.retryable() && attempts < self.config.store.retries => {
                // Retried like a fetch, for the calls held meanwhile; but whoever waits on the
                // start learns of the failure now (an awaited start must never hold a page).
                let delay = self.store.backoff(attempts + 1);
                self.phase = Phase::Retrying { at: now.saturating_add(delay), attempts: attempts + 1 };
                self.settle_starts(Err(e), out);
                return;
            }
            Read::Failed(e) | Read::Invalid(e) => {
                self.phase = Phase::Failed(e.clone());
                Err(e)
            }
        };
        self.settle_starts(outcome, out);
        self.release_held(out);
    }

    fn settle_starts(&mut self, outcome: std::result::Result<String, RequestError>, out: &mut Output) {
        let starts: Vec<u64> = self.waiters.iter().filter(|(_, w)| *w == Waiter::Start).map(|(id, _)| *id).collect();
        for w in starts {
            self.settle(w, outcome.clone(), out);
        }
    }

    /// The fetch waiter's rule: data or a final error, nothing running, no retry waiting.
    fn fetch_outcome(&self, key: &str) -> Option<std::result::Result<(), RequestError>> {
        let Some(inst) = self.store.instance(key) else {
            // Waiters observe their instance, so it cannot be dropped; kept for completeness.
            return Some(Err(local("REMOVED", "The instance was dropped before its fetch settled")));
        };
        if inst.in_flight.is_some() || inst.retry_at.is_some() {
            return None;
        }
        match inst.status {
            Status::Success => Some(Ok(())),
            Status::Error => Some(Err(inst.error.clone().unwrap_or_else(|| local("INTERNAL_ERROR", "The fetch failed")))),
            Status::Idle | Status::Loading => None,
        }
    }

    fn settle_waiters(&mut self, changed: &[String], mutations: &[u64], now: u64, out: &mut Output) {
        let waits_on = |s: &Self, key: &str| s.waiters.iter().any(|(_, w)| matches!(w, Waiter::Fetch(k) if k == key));
        if self.waiters.iter().any(|(_, w)| matches!(w, Waiter::Fetch(_))) {
            let mut keys: Vec<String> = changed.iter().filter(|k| waits_on(self, k)).cloned().collect();
            keys.extend(std::mem::take(&mut self.touched).into_iter().filter(|k| !changed.contains(k)));
            for key in keys {
                let Some(outcome) = self.fetch_outcome(&key) else { continue };
                let ids: Vec<u64> =
                    self.waiters.iter().filter(|(_, w)| matches!(w, Waiter::Fetch(k) if *k == key)).map(|(id, _)| *id).collect();
                for id in ids {
                    self.release_fetch(&key, now);
                    self.settle(id, outcome.clone().map(|()| key.clone()), out);
                }
                if outcome.is_ok() {
                    self.force(&key); // the host reads the data from its view
                }
            }
        }
        self.touched.clear();
        for &mutation in mutations {
            let Some(outcome) = self.store.mutation_outcome(mutation) else { continue };
            let outcome = outcome.map(canon::json_text).map_err(Clone::clone);
            let waiter = self.waiters.iter().find(|(_, w)| *w == Waiter::Call(mutation)).map(|(id, _)| *id);
            if let Some(waiter) = waiter {
                self.settle(waiter, outcome, out);
                self.store.release_mutation(mutation);
            } else if let Some(i) = self.abandoned.iter().position(|m| *m == mutation) {
                self.abandoned.remove(i);
                self.store.release_mutation(mutation);
            }
        }
    }

    fn finish(&mut self, now: u64, out: &mut Output) {
        let first = self.store.drain(now);
        self.settle_waiters(&first.changed, &first.mutations, now, out);
        // Settling unsubscribed waiters: collect what that changed too.
        let second = self.store.drain(now);
        let (form, timeout) = (self.config.transport, self.config.request_timeout_ms);
        for effect in first.effects.into_iter().chain(second.effects) {
            match effect {
                Effect::Fetch { request_id, .. } => {
                    // Lean effects: the instance has the rest (it is still there unless it was
                    // dropped in this very update, and then nobody waits for its answer).
                    let Some(inst) = self.store.fetch_of(request_id) else { continue };
                    out.requests.push(http::fetch(request_id, form, &inst.key, inst.context.len(), &inst.params_json, timeout));
                    self.inflight.insert(request_id, RequestKind::Fetch);
                }
                Effect::Call { request_id, function, args, .. } => {
                    if matches!(self.phase, Phase::Pending { .. } | Phase::Retrying { .. }) {
                        self.held.push(HeldCall { request: request_id, function, args });
                    } else {
                        self.inflight.insert(request_id, RequestKind::Call);
                        out.requests.push(http::call(request_id, form, function, &args, self.csrf_token.as_deref(), timeout));
                    }
                }
                // The session runs `GET session/` itself, and computes the one timer below.
                Effect::Session { .. } | Effect::Schedule { .. } => {}
            }
        }
        // A key listed twice renders once: the second time the host already has what it saw.
        // The changed lists are the store's own copies of the keys: they move into the views.
        let stale_time = self.config.store.stale_time_ms;
        let forced = std::mem::take(&mut self.forced);
        // Each changed key with its instance's number (the store lists them side by side); a
        // forced key has none.
        let listed = first.changed.into_iter().zip(first.changed_ids);
        let listed = listed.chain(second.changed.into_iter().zip(second.changed_ids));
        for (key, id) in listed.chain(forced.iter().map(|key| (key.clone(), 0))) {
            // By number when listed with one (no hashing of the key), else by key; an instance
            // gone since may have been made anew under the same key.
            let inst = self.store.instance_by_id(id).or_else(|| self.store.instance(&key));
            let is_forced = !forced.is_empty() && forced.contains(&key);
            if let Some(view) = self.views.render(key, inst, now, stale_time, is_forced) {
                out.views.push(view);
            }
        }
        let session_at = match self.phase {
            Phase::Retrying { at, .. } => Some(at),
            _ => None,
        };
        let next = match (self.store.next_timer(), session_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = next
            && next != self.scheduled_at
        {
            out.timer = Some(Timer { at_ms: at, delay_ms: at.saturating_sub(now).min(MAX_TIMER_DELAY_MS) });
        }
        self.scheduled_at = next;
    }
}

/// An answer, read.
enum Read {
    /// A JSON body, and the invalidation header that came with it.
    Body(Value, Option<String>),
    /// Not usable: failed at once, never retried.
    Invalid(RequestError),
    /// A failure: retried when retryable (fetches, the session).
    Failed(RequestError),
}

fn read(outcome: Outcome) -> Read {
    match outcome {
        Outcome::Http(h) => match http::read_response(h.status, &h.body) {
            Ok(body) => Read::Body(body, h.invalidate),
            Err(e) if e.code == "INVALID_RESPONSE" => Read::Invalid(e),
            Err(e) => Read::Failed(e),
        },
        Outcome::Decoded { body_json, invalidate } => match serde_json::from_str(&body_json) {
            Ok(body) => Read::Body(body, invalidate),
            Err(e) => Read::Invalid(RequestError::invalid_response(format!("The transport's answer is not JSON: {e}"))),
        },
        Outcome::Unusable(why) => Read::Invalid(RequestError::invalid_response(format!("The transport's answer is not usable: {why}"))),
        Outcome::Failed(text) => Read::Failed(
            serde_json::from_str(&text)
                .ok()
                .and_then(|v| RequestError::from_json(&v).ok())
                // A transport that fails in a way it cannot describe: a network failure.
                .unwrap_or_else(|| RequestError::from_network(format!("The transport failed: {text}"))),
        ),
    }
}
