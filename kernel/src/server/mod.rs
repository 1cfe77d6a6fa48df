//! The server half of the protocol (KERNEL.md §2.1, §8, §10), sans-IO: the engine plans each
//! request and assembles each response; tokens are minted and verified against the host's `now`;
//! the origin cache's in-memory store and Redis scripts are kernel code so every host's cache
//! behaves alike. docs/SERVER.md is the guide.
//!
//! | module | what |
//! |---|---|
//! | [`engine`] | `ServerEngine`: `plan` / `plan_with`, `finish_call`, `finish_fetch` |
//! | [`exchange`] | `Server` / `Exchange`: one request from arrival to response, `update(events) -> effects` |
//! | [`http`] | requests, responses, protocol error codes, statuses, fixed messages |
//! | [`validate`] | input validation and coercion against IR types |
//! | [`query`] | query-string and path decoding |
//! | [`token`] | MWT and JWT access/refresh (HS256) |
//! | [`origin`] | `OriginStore`, the in-memory origin cache |
//! | [`redis`] | the Redis put and purge scripts |

pub mod engine;
pub mod exchange;
pub mod http;
pub mod origin;
pub mod query;
pub mod redis;
pub mod token;
pub mod validate;

pub use engine::{
    CacheBound, CachePlan, CachePut, CallPlan, EngineConfig, FetchOutcome, FetchPlan, Finished, Identity, JwtPair, MemberCall,
    Outcome, Plan, PredicateCheck, ServerEngine,
};
pub use http::{ProtocolCode, ProtocolError, Request, Response};
pub use origin::{Lookup, OriginStore, PurgeStep};
pub use token::{Claims, TokenError, TokenKind};

use serde_json::{Map, Value, json};

/// JSON forms of the engine's values: what the conformance scenarios compare and what a host
/// logs. Keys are snake_case; optional values are `null`.
pub mod json_form {
    use super::*;

    pub fn response(r: &Response) -> Value {
        let headers: Vec<Value> = r.headers.iter().map(|(n, v)| json!([n, v])).collect();
        json!({"status": r.status, "headers": headers, "body": r.body})
    }

    pub fn identity(i: &Option<Identity>) -> Value {
        match i {
            None => Value::Null,
            Some(i) => json!({"subject": i.subject, "staff": i.staff, "superuser": i.superuser,
                              "session_id": i.session_id, "perm": i.perm}),
        }
    }

    pub fn identity_from(v: &Value) -> crate::Result<Option<Identity>> {
        let bad = |m: &str| crate::Error::invalid_json(format!("identity: {m}"));
        match v {
            Value::Null => Ok(None),
            Value::Object(m) => {
                let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
                let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
                Ok(Some(Identity {
                    subject: text("subject").ok_or_else(|| bad("\"subject\" must be a string"))?,
                    staff: flag("staff"),
                    superuser: flag("superuser"),
                    session_id: text("session_id"),
                    perm: text("perm"),
                }))
            }
            _ => Err(bad("must be an object or null")),
        }
    }

    pub fn bound(b: &Option<CacheBound>) -> Value {
        b.as_ref().map_or(Value::Null, |b| json!({"set": b.set, "max_entries": b.max_entries}))
    }

    fn bound_from(v: Option<&Value>) -> Option<CacheBound> {
        let b = v?.as_object()?;
        Some(CacheBound {
            set: b.get("set")?.as_str()?.to_string(),
            max_entries: u32::try_from(b.get("max_entries")?.as_u64()?).unwrap_or(u32::MAX),
        })
    }

    pub fn cache_plan(c: &Option<CachePlan>) -> Value {
        match c {
            None => Value::Null,
            Some(c) => json!({"key": c.key, "index_keys": c.index_keys, "ttl_seconds": c.ttl_seconds, "bound": bound(&c.bound)}),
        }
    }

    pub fn cache_plan_from(v: &Value) -> crate::Result<Option<CachePlan>> {
        match v {
            Value::Null => Ok(None),
            Value::Object(m) => Ok(Some(CachePlan {
                key: m.get("key").and_then(Value::as_str).unwrap_or_default().to_string(),
                index_keys: m
                    .get("index_keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
                ttl_seconds: m.get("ttl_seconds").and_then(Value::as_u64).unwrap_or(0),
                bound: bound_from(m.get("bound")),
            })),
            _ => Err(crate::Error::invalid_json("cache plan: must be an object or null")),
        }
    }

    /// `{"key", "body", "index_keys", "ttl_seconds", "bound"?}` (the conformance origin scripts).
    pub fn cache_put_from(v: &Value) -> crate::Result<CachePut> {
        let plan = cache_plan_from(v)?.ok_or_else(|| crate::Error::invalid_json("cache put: must be an object"))?;
        Ok(CachePut {
            body: v.get("body").and_then(Value::as_str).unwrap_or_default().to_string(),
            key: plan.key,
            index_keys: plan.index_keys,
            ttl_seconds: plan.ttl_seconds,
            bound: plan.bound,
        })
    }

    /// `{"respond": response}`, `{"check_predicates": {...}}`, `{"call": {...}}` or `{"fetch": {...}}`.
    pub fn plan(p: &Plan) -> Value {
        match p {
            Plan::Respond(r) => json!({"respond": response(r)}),
            Plan::CheckPredicates(c) => {
                json!({"check_predicates": {"predicates": c.predicates, "identity": identity(&c.identity)}})
            }
            Plan::Call(c) => json!({"call": {"function": c.function, "args": c.args, "identity": identity(&c.identity)}}),
            Plan::Fetch(f) => {
                let members: Vec<Value> = f.members.iter().map(|m| json!({"function": m.function, "args": m.args})).collect();
                json!({"fetch": {"context": f.context, "params": f.params, "members": members,
                                 "identity": identity(&f.identity), "cache": cache_plan(&f.cache)}})
            }
        }
    }

    pub fn finished(f: &Finished) -> Value {
        json!({
            "response": response(&f.response),
            "cache_put": f.cache_put.as_ref().map(|c| json!({"key": c.key, "body": c.body, "index_keys": c.index_keys,
                                                             "ttl_seconds": c.ttl_seconds, "bound": bound(&c.bound)})),
            "purge": f.purge.as_ref().map(|p| serde_json::from_str::<Value>(&super::redis::plan_json(p)).unwrap_or(Value::Null)),
            "diagnostics": f.diagnostics,
        })
    }

    /// `{"ok": value}`, `{"error": {"code", "message", "details"?}}` or `{"exception": text}`.
    pub fn outcome_from(v: &Value) -> crate::Result<Outcome> {
        let bad = || crate::Error::invalid_json("outcome: one of {\"ok\"}, {\"error\"}, {\"exception\"}");
        let m = v.as_object().ok_or_else(bad)?;
        if let Some(ok) = m.get("ok") {
            return Ok(Outcome::Ok(ok.to_string()));
        }
        if let Some(text) = m.get("exception") {
            return Ok(Outcome::Exception(text.as_str().unwrap_or_default().to_string()));
        }
        let e = m.get("error").and_then(Value::as_object).ok_or_else(bad)?;
        let code = e.get("code").and_then(Value::as_str).and_then(ProtocolCode::parse).ok_or_else(bad)?;
        Ok(Outcome::Error(ProtocolError {
            code,
            message: e.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
            details: e.get("details").cloned(),
        }))
    }

    pub fn claims(c: &Claims) -> Value {
        json!({"kind": c.kind.as_str(), "subject": c.subject, "staff": c.staff, "superuser": c.superuser,
               "perm": c.perm, "session_id": c.session_id, "issued_at": c.issued_at, "expires_at": c.expires_at})
    }

    pub fn args_map(v: &Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    /// The config's JSON form: the `engine-config` record's fields in snake_case, all optional.
    pub fn config_from(v: &Value) -> crate::Result<EngineConfig> {
        let bad = |m: &str| crate::Error::invalid_json(format!("engine config: {m}"));
        let m = match v {
            Value::Null => return Ok(EngineConfig::default()),
            Value::Object(m) => m,
            _ => return Err(bad("must be an object")),
        };
        let d = EngineConfig::default();
        let text = |k: &str| -> crate::Result<Option<String>> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(&format!("\"{k}\" must be a string"))),
            }
        };
        let num = |k: &str, default: u64| -> crate::Result<u64> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v.as_u64().ok_or_else(|| bad(&format!("\"{k}\" must be a non-negative integer"))),
            }
        };
        Ok(EngineConfig {
            base_path: text("base_path")?.unwrap_or(d.base_path),
            body_limit: usize::try_from(num("body_limit", d.body_limit as u64)?).unwrap_or(usize::MAX),
            cache_secret: text("cache_secret")?,
            safety_ttl_seconds: num("safety_ttl_seconds", d.safety_ttl_seconds)?,
            mwt_secret: text("mwt_secret")?,
            mwt_ttl_seconds: num("mwt_ttl_seconds", d.mwt_ttl_seconds)?,
            jwt_secret: text("jwt_secret")?,
            access_ttl_seconds: num("access_ttl_seconds", d.access_ttl_seconds)?,
            refresh_ttl_seconds: num("refresh_ttl_seconds", d.refresh_ttl_seconds)?,
            token_leeway_seconds: num("token_leeway_seconds", d.token_leeway_seconds)?,
            max_public_entries: u32::try_from(num("max_public_entries", u64::from(d.max_public_entries))?).unwrap_or(u32::MAX),
        })
    }

    /// `{"method", "path", "query"?, "headers"?: [[name, value]…], "body"?: text, "csrf_token"?}`.
    pub fn request_from(v: &Value) -> crate::Result<Request> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let headers = v
            .get("headers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|h| Some((h.get(0)?.as_str()?.to_string(), h.get(1)?.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        if !v.is_object() {
            return Err(crate::Error::invalid_json("request: must be an object"));
        }
        Ok(Request {
            method: text("method"),
            path: text("path"),
            query: text("query"),
            headers,
            body: text("body").into_bytes(),
            csrf_token: v.get("csrf_token").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// `{"hit": body}` or `{"results": [{"function", "outcome"}…]}`.
    pub fn fetch_outcome_from(v: &Value) -> crate::Result<FetchOutcome> {
        if let Some(body) = v.get("hit").and_then(Value::as_str) {
            return Ok(FetchOutcome::Hit(body.to_string()));
        }
        let list = v
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| crate::Error::invalid_json("fetch outcome: {\"hit\"} or {\"results\"}"))?;
        list.iter()
            .map(|r| {
                let name = r.get("function").and_then(Value::as_str).unwrap_or_default().to_string();
                Ok((name, outcome_from(r.get("outcome").unwrap_or(&Value::Null))?))
            })
            .collect::<crate::Result<_>>()
            .map(FetchOutcome::Results)
    }

    pub fn jwt_pair(p: &JwtPair) -> Value {
        json!({"access": p.access, "refresh": p.refresh, "access_expires_at": p.access_expires_at,
               "refresh_expires_at": p.refresh_expires_at})
    }
}
