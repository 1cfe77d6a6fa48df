//! Glue for the `server` interface (wit/server.wit): records in, records out. Every rule is in
//! `mizan_kernel::server`; this file only maps types.

use crate::exports::mizan::kernel::keys as wkeys;
use crate::exports::mizan::kernel::server as wserver;
use crate::{Kernel, R, err};
use mizan_kernel::index::{PurgePlan, PurgeScope, PurgeTerm};
use mizan_kernel::server::{self as ks, origin::OriginStore as KernelOriginStore, redis};
use std::cell::RefCell;

pub(crate) fn to_kernel_plan(p: wkeys::PurgePlan) -> PurgePlan {
    PurgePlan {
        scopes: p
            .scopes
            .into_iter()
            .map(|s| PurgeScope {
                base: s.base,
                terms: s.terms.into_iter().map(|t| PurgeTerm { has_param: t.has_param, param_equals: t.param_equals }).collect(),
            })
            .collect(),
    }
}

fn headers(list: Vec<(String, String)>) -> Vec<wserver::HttpHeader> {
    list.into_iter().map(|(name, value)| wserver::HttpHeader { name, value }).collect()
}

pub(crate) fn response(r: ks::Response) -> wserver::Response {
    wserver::Response { status: r.status, headers: headers(r.headers), body: r.body }
}

pub(crate) fn identity_in(i: wserver::Identity) -> ks::Identity {
    ks::Identity { subject: i.subject, staff: i.staff, superuser: i.superuser, session_id: i.session_id, perm: i.perm }
}

pub(crate) fn identity_out(i: ks::Identity) -> wserver::Identity {
    wserver::Identity { subject: i.subject, staff: i.staff, superuser: i.superuser, session_id: i.session_id, perm: i.perm }
}

pub(crate) fn json(map: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = String::new();
    mizan_kernel::canon::write_json_map(&mut out, map);
    out
}

pub(crate) fn bound_out(b: Option<ks::CacheBound>) -> Option<wserver::CacheBound> {
    b.map(|b| wserver::CacheBound { set: b.set, max_entries: b.max_entries })
}

fn bound_in(b: Option<wserver::CacheBound>) -> Option<ks::CacheBound> {
    b.map(|b| ks::CacheBound { set: b.set, max_entries: b.max_entries })
}

fn cache_plan_out(c: ks::CachePlan) -> wserver::CachePlan {
    wserver::CachePlan { key: c.key, index_keys: c.index_keys, ttl_seconds: c.ttl_seconds, bound: bound_out(c.bound) }
}

pub(crate) fn request_in(request: wserver::Request) -> ks::Request {
    ks::Request {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        body: match request.body {
            wserver::RequestBody::Text(text) => text.into_bytes(),
            wserver::RequestBody::Bytes(bytes) => bytes,
        },
        csrf_token: request.csrf_token,
    }
}

fn code_in(c: wserver::ProtocolCode) -> ks::ProtocolCode {
    use ks::ProtocolCode as K;
    use wserver::ProtocolCode as W;
    match c {
        W::NotFound => K::NotFound,
        W::BadRequest => K::BadRequest,
        W::ValidationError => K::ValidationError,
        W::Unauthorized => K::Unauthorized,
        W::Forbidden => K::Forbidden,
        W::NotImplemented => K::NotImplemented,
        W::InternalError => K::InternalError,
        W::PayloadTooLarge => K::PayloadTooLarge,
        W::MethodNotAllowed => K::MethodNotAllowed,
    }
}

pub(crate) fn protocol_error_in(e: wserver::ProtocolError) -> ks::ProtocolError {
    ks::ProtocolError::from_parts(code_in(e.code), e.message, e.details_json.as_deref())
}

pub(crate) fn outcome_in(o: wserver::Outcome) -> ks::Outcome {
    match o {
        wserver::Outcome::Ok(text) => ks::Outcome::Ok(text),
        wserver::Outcome::Error(e) => ks::Outcome::Error(protocol_error_in(e)),
        wserver::Outcome::Exception(text) => ks::Outcome::Exception(text),
    }
}

fn finished(f: ks::Finished) -> wserver::Finished {
    wserver::Finished {
        response: response(f.response),
        cache_put: f.cache_put.map(|c| wserver::CachePut {
            key: c.key,
            body: c.body,
            index_keys: c.index_keys,
            ttl_seconds: c.ttl_seconds,
            bound: bound_out(c.bound),
        }),
        purge: f.purge.map(crate::full::plan),
        diagnostics: f.diagnostics,
    }
}

fn kind_in(k: wserver::TokenKind) -> ks::TokenKind {
    match k {
        wserver::TokenKind::Mwt => ks::TokenKind::Mwt,
        wserver::TokenKind::Access => ks::TokenKind::Access,
        wserver::TokenKind::Refresh => ks::TokenKind::Refresh,
    }
}

fn claims_out(c: ks::Claims) -> wserver::TokenClaims {
    wserver::TokenClaims {
        kind: match c.kind {
            ks::TokenKind::Mwt => wserver::TokenKind::Mwt,
            ks::TokenKind::Access => wserver::TokenKind::Access,
            ks::TokenKind::Refresh => wserver::TokenKind::Refresh,
        },
        subject: c.subject,
        staff: c.staff,
        superuser: c.superuser,
        perm: c.perm,
        session_id: c.session_id,
        issued_at: c.issued_at,
        expires_at: c.expires_at,
    }
}

pub(crate) fn config_in(c: wserver::EngineConfig) -> ks::EngineConfig {
    let d = ks::EngineConfig::default();
    ks::EngineConfig {
        base_path: c.base_path.unwrap_or(d.base_path),
        body_limit: c.body_limit.map_or(d.body_limit, |b| b as usize),
        cache_secret: c.cache_secret,
        safety_ttl_seconds: c.safety_ttl_seconds.unwrap_or(d.safety_ttl_seconds),
        mwt_secret: c.mwt_secret,
        mwt_ttl_seconds: c.mwt_ttl_seconds.unwrap_or(d.mwt_ttl_seconds),
        jwt_secret: c.jwt_secret,
        access_ttl_seconds: c.access_ttl_seconds.unwrap_or(d.access_ttl_seconds),
        refresh_ttl_seconds: c.refresh_ttl_seconds.unwrap_or(d.refresh_ttl_seconds),
        token_leeway_seconds: c.token_leeway_seconds.unwrap_or(d.token_leeway_seconds),
        max_public_entries: c.max_public_entries.unwrap_or(d.max_public_entries),
    }
}

impl wserver::Guest for Kernel {
    type Engine = Engine;
    type OriginStore = OriginStore;

    fn redis_put_script() -> String {
        redis::REDIS_PUT_SCRIPT.to_string()
    }

    fn redis_purge_script() -> String {
        redis::REDIS_PURGE_SCRIPT.to_string()
    }

    fn redis_plan_json(plan: wkeys::PurgePlan) -> String {
        redis::plan_json(&to_kernel_plan(plan))
    }

    fn request_headers() -> Vec<String> {
        ks::http::REQUEST_HEADERS.iter().map(|h| h.to_ascii_lowercase()).collect()
    }

    fn purge_covers(plan: wkeys::PurgePlan, index_keys: Vec<String>) -> bool {
        to_kernel_plan(plan).covers(&index_keys)
    }
}

pub struct Engine(ks::ServerEngine);

impl wserver::GuestEngine for Engine {
    fn create(registry_json: String, config: wserver::EngineConfig) -> R<wserver::Engine> {
        let engine = ks::ServerEngine::from_json(&registry_json, config_in(config)).map_err(err)?;
        Ok(wserver::Engine::new(Engine(engine)))
    }

    fn warnings(&self) -> Vec<String> {
        self.0.warnings().to_vec()
    }

    fn plan(
        &self,
        request: wserver::Request,
        identity: Option<wserver::Identity>,
        now: u64,
        answers: Vec<wserver::PredicateAnswer>,
    ) -> wserver::Plan {
        let request = request_in(request);
        let identity = identity.map(identity_in);
        let answers: Vec<(String, bool)> = answers.into_iter().map(|a| (a.name, a.allowed)).collect();
        match self.0.plan_with(&request, identity.as_ref(), now, &answers) {
            ks::Plan::Respond(r) => wserver::Plan::Respond(response(r)),
            ks::Plan::CheckPredicates(c) => wserver::Plan::CheckPredicates(wserver::PredicateCheck {
                predicates: c.predicates,
                identity: c.identity.map(identity_out),
            }),
            ks::Plan::Call(c) => wserver::Plan::Call(wserver::CallPlan {
                args_json: json(&c.args),
                function: c.function,
                identity: c.identity.map(identity_out),
            }),
            ks::Plan::Fetch(f) => wserver::Plan::Fetch(wserver::FetchPlan {
                params_json: json(&f.params),
                context: f.context,
                members: f.members.into_iter().map(|m| wserver::MemberCall { args_json: json(&m.args), function: m.function }).collect(),
                identity: f.identity.map(identity_out),
                cache: f.cache.map(cache_plan_out),
            }),
        }
    }

    fn finish_call(&self, call: wserver::CallPlan, outcome: wserver::Outcome) -> wserver::Finished {
        finished(self.0.finish_call_json(&call.function, &call.args_json, call.identity.map(identity_in), outcome_in(outcome)))
    }

    fn finish_fetch(&self, context: String, cache: Option<wserver::CachePlan>, outcome: wserver::FetchOutcome) -> wserver::Finished {
        let cache = cache.map(|c| ks::CachePlan { key: c.key, index_keys: c.index_keys, ttl_seconds: c.ttl_seconds, bound: bound_in(c.bound) });
        let outcome = match outcome {
            wserver::FetchOutcome::Hit(body) => ks::FetchOutcome::Hit(body),
            wserver::FetchOutcome::Results(list) => {
                ks::FetchOutcome::Results(list.into_iter().map(|m| (m.function, outcome_in(m.outcome))).collect())
            }
        };
        finished(self.0.finish_fetch(&context, cache.as_ref(), outcome))
    }

    fn error_response(&self, error: wserver::ProtocolError) -> wserver::Response {
        response(self.0.error_response(&protocol_error_in(error)))
    }

    fn reads_token(&self, request: wserver::Request) -> bool {
        self.0.reads_token(&request_in(request))
    }

    fn merge_purge_plans(&self, pending: wkeys::PurgePlan, failed: wkeys::PurgePlan) -> wkeys::PurgePlan {
        crate::full::plan(self.0.merge_purge_plans(&to_kernel_plan(pending), &to_kernel_plan(failed)))
    }

    fn purge_plan(&self, entries_json: String) -> R<wkeys::PurgePlan> {
        let value = mizan_kernel::canon::parse_json(&entries_json, "entries").map_err(err)?;
        let entries = mizan_kernel::invalidation::entries_from_json(&value).map_err(err)?;
        self.0.purge_plan(&entries).map(crate::full::plan).map_err(err)
    }

    fn purge_user_plan(&self, user: String) -> R<wkeys::PurgePlan> {
        self.0.purge_user_plan(&user).map(crate::full::plan).map_err(err)
    }

    fn mint_mwt(&self, identity: wserver::Identity, now: u64) -> R<String> {
        self.0.mint_mwt(&identity_in(identity), now).map_err(err)
    }

    fn verify_mwt(&self, token: String, now: u64) -> R<wserver::TokenClaims> {
        self.0.verify_mwt(&token, now).map(claims_out).map_err(err)
    }

    fn mint_jwt_pair(&self, identity: wserver::Identity, session_id: String, now: u64) -> R<wserver::JwtPair> {
        let p = self.0.mint_jwt_pair(&identity_in(identity), &session_id, now).map_err(err)?;
        Ok(wserver::JwtPair {
            access: p.access,
            refresh: p.refresh,
            access_expires_at: p.access_expires_at,
            refresh_expires_at: p.refresh_expires_at,
        })
    }

    fn verify_jwt(&self, token: String, kind: wserver::TokenKind, now: u64) -> R<wserver::TokenClaims> {
        self.0.verify_jwt(&token, kind_in(kind), now).map(claims_out).map_err(err)
    }
}

/// A component instance is single-threaded; WIT methods take `&self`.
pub struct OriginStore(RefCell<KernelOriginStore>);

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl wserver::GuestOriginStore for OriginStore {
    fn new(max_entries: u32, max_bytes: u64) -> Self {
        OriginStore(RefCell::new(KernelOriginStore::new(max_entries as usize, usize::try_from(max_bytes).unwrap_or(usize::MAX))))
    }

    fn get(&self, key: String, now: u64) -> Option<String> {
        self.0.borrow_mut().get(&key, now)
    }

    fn put(&self, key: String, body: String, index_keys: Vec<String>, ttl_seconds: u64, now: u64) -> bool {
        self.0.borrow_mut().put(&key, &body, &index_keys, ttl_seconds, now)
    }

    fn purge(&self, plan: wkeys::PurgePlan) -> Vec<String> {
        self.0.borrow_mut().purge(&to_kernel_plan(plan))
    }

    fn lookup(&self, key: String, now: u64) -> wserver::Lookup {
        let l = self.0.borrow_mut().lookup(&key, now);
        wserver::Lookup { body: l.body, ticket: l.ticket }
    }

    fn put_entry(&self, entry: wserver::CachePut, ticket: Option<u64>, now: u64) -> bool {
        let put = ks::CachePut {
            key: entry.key,
            body: entry.body,
            index_keys: entry.index_keys,
            ttl_seconds: entry.ttl_seconds,
            bound: bound_in(entry.bound),
        };
        self.0.borrow_mut().put_entry(&put, ticket, now)
    }

    fn purge_step(&self, plan: wkeys::PurgePlan, cursor: Option<String>, limit: u32) -> wserver::PurgeStep {
        let step = self.0.borrow_mut().purge_step(&to_kernel_plan(plan), cursor.as_deref(), limit as usize);
        wserver::PurgeStep { purged: step.purged, cursor: step.cursor }
    }

    fn sweep(&self, now: u64) -> u32 {
        clamp(self.0.borrow_mut().sweep(now))
    }

    fn len(&self) -> u32 {
        clamp(self.0.borrow().len())
    }

    fn index_sets(&self) -> u32 {
        clamp(self.0.borrow().stats().index_sets)
    }

    fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}
