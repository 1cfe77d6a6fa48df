//! The cross-host conformance suite (tests/conformance/README.md), replayed through the
//! wasmtime host's public API — every op, including the client store (`store-script`), the
//! server engine (`server-*`, `token-*`), the in-memory origin store and the Redis scripts.
//! Prints `N passed, N failed` and fails on any failure; an unknown op is a failure, so a new op
//! is never missed silently.

use mizan_host::session;
use mizan_host::{
    CacheBound, CachePlan, CachePut, CallPlan, ClientSession, Engine, EngineConfig, Error, FetchOutcome, Finished, Identity, Kernel, KernelError,
    OriginStore, Outcome, Plan,
    ProtocolCode, ProtocolError, PurgePlan, PurgeScope, PurgeTerm, Registry, Request, Response, Store, TokenKind,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[path = "../../../tests/conformance/load.rs"]
mod load;
#[path = "conformance/exchange.rs"]
mod exchange;

fn plan_json(p: PurgePlan) -> Value {
    json!({"scopes": p.scopes.iter().map(|s| json!({
        "base": s.base,
        "terms": s.terms.iter().map(|t| json!({"has_param": t.has_param, "param_equals": t.param_equals})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})
}

fn load_registry(kernel: &Kernel, spec: &Value) -> Result<Registry, Error> {
    match spec {
        Value::String(kdl) => Registry::from_kdl(kernel, kdl),
        other => Registry::from_json(kernel, other),
    }
}

/// A malformed scenario (not a kernel outcome): reported as a failure of that scenario.
#[derive(Debug)]
struct Bad(String);

fn str_arg<'a>(a: &'a Value, name: &str) -> Result<&'a str, Bad> {
    a[name].as_str().ok_or_else(|| Bad(format!("args.{name} must be a string")))
}

fn strings(a: &Value, name: &str) -> Result<Vec<String>, Bad> {
    serde_json::from_value(a[name].clone()).map_err(|e| Bad(format!("args.{name}: {e}")))
}

fn rev(a: &Value) -> Result<u32, Bad> {
    match a.get("rev") {
        None => Ok(0),
        Some(v) => v.as_u64().and_then(|r| u32::try_from(r).ok()).ok_or_else(|| Bad(format!("rev {v} is not a u32"))),
    }
}

/// Run one operation through the host API.
fn run(
    kernel: &Kernel,
    op: &str,
    a: &Value,
    registries: &BTreeMap<String, Registry>,
    sources: &Value,
) -> Result<Result<Value, Error>, Bad> {
    let reg = || {
        let name = str_arg(a, "registry")?;
        registries.get(name).ok_or_else(|| Bad(format!("unknown registry {name}")))
    };
    let user = a.get("user");
    Ok(match op {
        "stringify" => kernel.stringify(&a["value"]).map(Value::from),
        "canonical-json" => kernel.canonical_json(&a["value"]).map(Value::from),
        "check-secret" => kernel.check_secret(str_arg(a, "secret")?).map(Value::from),
        "derive-cache-key" => kernel
            .derive_cache_key(str_arg(a, "secret")?, str_arg(a, "context")?, &a["params"], user, rev(a)?)
            .map(Value::from),
        "derive-cache-key-rotation" => kernel
            .derive_cache_key_rotation(&strings(a, "secrets")?, str_arg(a, "context")?, &a["params"], user, rev(a)?)
            .map(Value::from),
        "derive-batch" => kernel.keyer(str_arg(a, "secret")?).and_then(|k| k.derive_batch(&a["items"])).map(Value::from),
        "index-entry" => {
            let (context, rev) = (str_arg(a, "context")?, rev(a)?);
            kernel
                .keyer(str_arg(a, "secret")?)
                .and_then(|k| k.index_entry(context, &a["params"], user, rev))
                .map(|e| json!({"key": e.key, "index_keys": e.index_keys}))
        }
        "purge-plan" => kernel.keyer(str_arg(a, "secret")?).and_then(|k| k.purge_plan(&a["entries"])).map(plan_json),
        "purge-user-plan" => {
            let (contexts, user) = (strings(a, "contexts")?, str_arg(a, "user")?);
            kernel.keyer(str_arg(a, "secret")?).and_then(|k| k.purge_user_plan(&contexts, user)).map(plan_json)
        }
        "format-header" => kernel.format_invalidate_header(&a["entries"]).map(Value::from),
        "parse-header" => kernel.parse_invalidate_header(str_arg(a, "text")?),
        "registry-load" => {
            let spec = a.get("kdl").or_else(|| a.get("json")).ok_or_else(|| Bad("registry-load needs kdl or json".into()))?;
            load_registry(kernel, spec).and_then(|r| Ok(json!({"kdl": r.to_kdl()?, "json": r.to_json()?})))
        }
        "resolve-invalidation" => {
            let subject = a.get("subject").and_then(Value::as_str);
            reg()?
                .resolve_invalidation(str_arg(a, "function")?, &a["args"], subject)
                .map(|inv| json!({"invalidate": inv.entries, "header": inv.header}))
        }
        "resolve-merges" => reg()?
            .resolve_merges(str_arg(a, "function")?, &a["args"], &a["result"])
            .map(|m| json!({"merge": m.merges, "diagnostics": m.diagnostics})),
        "manifest" => reg()?.manifest(str_arg(a, "base_url")?, a.get("view_urls")),
        "context-policy" => reg()?
            .context_policy(str_arg(a, "context")?)
            .map(|p| json!({"rev": p.rev, "cacheable": p.cacheable, "ttl_seconds": p.ttl_seconds})),
        "apply-merge" => kernel.apply_merge(&a["bundle"], &a["entry"]).map(|b| b.unwrap_or(Value::Null)),
        "store-script" => store_script(kernel, a)?,
        "client-session-script" => session_script(kernel, a)?,
        "exchange-script" => exchange::script(kernel, a, sources)?,
        "server-plan" | "server-finish-call" | "server-finish-fetch" | "token-mint" | "token-verify" => {
            server_op(kernel, op, a, sources)?
        }
        "origin-store-script" => origin_store_script(kernel, a)?,
        "request-headers" => kernel.request_headers().map(|h| json!(h)),
        "redis-scripts" => (|| -> Result<Value, Error> {
            Ok(json!({"put": kernel.redis_put_script()?, "purge": kernel.redis_purge_script()?}))
        })(),
        "redis-plan-json" => kernel.redis_plan_json(&plan_from(&a["plan"])?).map(Value::from),
        other => return Err(Bad(format!("unknown op {other}"))),
    })
}

// --- the client store (README: Store scripts) ---------------------------------------------------

fn store_script(kernel: &Kernel, a: &Value) -> Result<Result<Value, Error>, Bad> {
    let store = match Store::new(kernel, a.get("config")) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let mut out = Vec::new();
    for step in a["steps"].as_array().ok_or_else(|| Bad("steps must be a list".into()))? {
        match store_step(&store, step)? {
            Ok(v) => out.push(v),
            Err(Error::Kernel(e)) => out.push(json!({"error": e.code.as_str()})),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(Value::Array(out)))
}

fn store_step(s: &Store, a: &Value) -> Result<Result<Value, Error>, Bad> {
    let now = a["now"].as_u64().unwrap_or(0);
    let id = |k: &str| a[k].as_u64().ok_or_else(|| Bad(format!("step.{k} must be an integer")));
    let null = |r: Result<(), Error>| r.map(|()| Value::Null);
    Ok(match a["do"].as_str().unwrap_or_default() {
        "start" => null(s.start()),
        "session_ok" => null(s.session_ok(id("request_id")?, &a["body"])),
        "subscribe" => s.subscribe(str_arg(a, "context")?, &a["params"], now).map(Value::from),
        "prefetch" => s.prefetch(str_arg(a, "context")?, &a["params"], now).map(Value::from),
        "unsubscribe" => null(s.unsubscribe(str_arg(a, "key")?, now)),
        "refetch" => null(s.refetch(str_arg(a, "key")?)),
        "fetch_ok" => null(s.fetch_ok(id("request_id")?, &a["body"], now)),
        "fetch_err" => null(s.fetch_err(id("request_id")?, &a["error"], now)),
        "mutate" => s.mutate(str_arg(a, "fn")?, &a["args"], a.get("optimistic")).map(Value::from),
        "call_ok" => null(s.call_ok(id("request_id")?, &a["body"], a.get("header").and_then(Value::as_str))),
        "call_err" => null(s.call_err(id("request_id")?, &a["error"])),
        "invalidate" => null(s.invalidate(&a["entries"])),
        "remove" => null(s.remove(a.get("entries"))),
        "reset" => null(s.reset()),
        "tick" => null(s.tick(now)),
        "focus" => null(s.focus(now)),
        "online" => null(s.online(now)),
        "hydrate" => null(s.hydrate(&a["payload"], now)),
        "dehydrate" => s.dehydrate(),
        "snapshot" => s.snapshot(str_arg(a, "key")?, now).map(|v| v.unwrap_or(Value::Null)),
        "mutation" => s.mutation(id("id")?).map(|v| v.unwrap_or(Value::Null)),
        "count" => s.instance_count().map(Value::from),
        "drain" => s.drain(now),
        other => return Err(Bad(format!("unknown store step {other}"))),
    })
}

// --- the client session (README: Client-session scripts) ---------------------------------------

fn session_script(kernel: &Kernel, a: &Value) -> Result<Result<Value, Error>, Bad> {
    let make = || ClientSession::new(kernel, a.get("config"));
    let mut client = match make() {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let mut out = Vec::new();
    for step in a["steps"].as_array().ok_or_else(|| Bad("steps must be a list".into()))? {
        let now = step["now"].as_u64().unwrap_or(0);
        let got = match step.get("do").and_then(Value::as_str) {
            None => {
                let events = step["events"].as_array().ok_or_else(|| Bad("step.events must be a list".into()))?;
                let events = events.iter().map(session_event).collect::<Result<Vec<_>, Bad>>()?;
                client.update(&events, now).map(|o| output_json(&o))
            }
            Some("restart") => match make() {
                Ok(c) => {
                    client = c;
                    Ok(Value::Null)
                }
                Err(e) => Err(e),
            },
            Some("snapshot") => client.snapshot(str_arg(step, "key")?, now).map(|v| v.unwrap_or(Value::Null)),
            Some("idle") => client.idle().map(Value::from),
            Some("count") => client.instance_count().map(Value::from),
            Some("dehydrate") => client.dehydrate(),
            Some(other) => return Err(Bad(format!("unknown client-session step {other}"))),
        };
        match got {
            Ok(v) => out.push(v),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(Value::Array(out)))
}

fn instance_ref(v: &Value) -> Result<session::InstanceRef, Bad> {
    Ok(session::InstanceRef { context: str_arg(v, "context")?.to_string(), params_json: v.get("params").unwrap_or(&json!({})).to_string() })
}

fn waiter(v: &Value) -> Result<u64, Bad> {
    v["waiter"].as_u64().ok_or_else(|| Bad("waiter must be an integer".into()))
}

/// An event in the scripts' JSON form as the WIT's.
fn session_event(e: &Value) -> Result<session::Event, Bad> {
    use session::Event as E;
    if let Some(name) = e.as_str() {
        return Ok(match name {
            "start" => E::Start(None),
            "reset" => E::Reset,
            "tick" => E::Tick,
            "focus" => E::Focus,
            "online" => E::Online,
            "close" => E::Close,
            other => return Err(Bad(format!("unknown event {other}"))),
        });
    }
    let (name, v) = e.as_object().and_then(|m| m.iter().next()).ok_or_else(|| Bad(format!("bad event {e}")))?;
    let text = |x: &Value| x.to_string();
    Ok(match name.as_str() {
        "start" => E::Start(v.as_u64()),
        "subscribe" => E::Subscribe(instance_ref(v)?),
        "unsubscribe" => E::Unsubscribe(v.as_str().unwrap_or_default().into()),
        "refetch" => E::Refetch(v.as_str().unwrap_or_default().into()),
        "prefetch" => E::Prefetch(instance_ref(v)?),
        "view" => E::View(instance_ref(v)?),
        "fetch" => E::Fetch(session::FetchWait { waiter: waiter(v)?, instance: instance_ref(v)?, force: v["force"].as_bool().unwrap_or(false) }),
        "call" => E::Call(session::CallWait {
            waiter: waiter(v)?,
            function: str_arg(v, "fn")?.to_string(),
            args_json: text(v.get("args").unwrap_or(&json!({}))),
            optimistic_json: v.get("optimistic").map(text),
        }),
        "cancel" => E::Cancel(v.as_u64().unwrap_or(0)),
        "answer" => {
            let invalidate = |x: &Value| x.get("invalidate").and_then(Value::as_str).map(str::to_string);
            let outcome = if let Some(h) = v.get("http") {
                session::Outcome::Http(session::HttpAnswer {
                    status: h["status"].as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(|| Bad("status".into()))?,
                    body: h["body"].as_str().unwrap_or_default().into(),
                    invalidate: invalidate(h),
                })
            } else if let Some(d) = v.get("decoded") {
                session::Outcome::Decoded(session::DecodedAnswer { body_json: text(&d["body"]), invalidate: invalidate(d) })
            } else if let Some(u) = v.get("unusable") {
                session::Outcome::Unusable(u.as_str().unwrap_or_default().into())
            } else {
                session::Outcome::Failed(text(&v["failed"]))
            };
            E::Answer(session::Answer { request: v["request"].as_u64().unwrap_or(0), outcome })
        }
        "invalidate" => E::Invalidate(text(v)),
        "remove" => E::Remove((!v.is_null()).then(|| text(v))),
        "hydrate" => E::Hydrate(session::Hydration { payload_json: text(&v["payload"]), held: v["held"].as_bool().unwrap_or(false) }),
        other => return Err(Bad(format!("unknown event {other}"))),
    })
}

fn request_error_json(e: &session::RequestError) -> Value {
    json!({"code": e.code, "message": e.message, "details_json": e.details_json, "status": e.status, "network": e.network, "body_json": e.body_json})
}

fn status_str(s: session::Status) -> &'static str {
    match s {
        session::Status::Idle => "idle",
        session::Status::Loading => "loading",
        session::Status::Success => "success",
        session::Status::Error => "error",
    }
}

/// The WIT output in the scripts' JSON form.
fn output_json(o: &session::Output) -> Value {
    let results: Vec<Value> = o
        .results
        .iter()
        .map(|r| match r {
            Ok(key) => json!({"ok": key}),
            Err(e) => json!({"error": KernelError::from(e.clone()).code.as_str()}),
        })
        .collect();
    let requests: Vec<Value> = o
        .requests
        .iter()
        .map(|r| {
            let op = r.op.as_ref().map(|op| match op {
                session::Operation::Fetch(f) => {
                    json!({"fetch": {"key": f.key, "context": f.context, "params_json": f.params_json, "query": f.query}})
                }
                session::Operation::Call(c) => json!({"call": {"fn": c.function, "args_json": c.args_json, "csrf_token": c.csrf_token}}),
                session::Operation::Session => json!("session"),
            });
            let method = |m: session::HttpMethod| match m {
                session::HttpMethod::Get => "GET",
                session::HttpMethod::Post => "POST",
            };
            let http = r.http.as_ref().map(|h| json!({"method": method(h.method), "path": h.path, "headers": h.headers, "body": h.body}));
            let kind = match r.kind {
                session::RequestKind::Fetch => "fetch",
                session::RequestKind::Call => "call",
                session::RequestKind::Session => "session",
            };
            json!({"id": r.id, "kind": kind, "http": http, "op": op, "timeout_ms": r.timeout_ms})
        })
        .collect();
    let views: Vec<Value> = o
        .views
        .iter()
        .map(|v| {
            json!({
                "key": v.key,
                "instance": v.instance.as_ref().map(|i| json!({"context": i.context, "params_json": i.params_json})),
                "gone": v.gone, "status": status_str(v.status), "fetching": v.fetching, "stale": v.stale,
                "updated_at": v.updated_at, "error": v.error.as_ref().map(request_error_json), "slots": v.slots, "values": v.values,
            })
        })
        .collect();
    let settled: Vec<Value> = o
        .settled
        .iter()
        .map(|s| match &s.outcome {
            Ok(text) => json!({"waiter": s.waiter, "ok": text}),
            Err(e) => json!({"waiter": s.waiter, "error": request_error_json(e)}),
        })
        .collect();
    json!({"results": results, "requests": requests, "views": views, "settled": settled,
           "timer": o.timer.map(|t| json!({"at_ms": t.at_ms, "delay_ms": t.delay_ms}))})
}

// --- the server engine (README: Server ops) ------------------------------------------------------

fn opt_text(m: &Value, k: &str) -> Result<Option<String>, Bad> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(Bad(format!("{k}: {v} is not a string"))),
    }
}

fn opt_u64(m: &Value, k: &str) -> Result<Option<u64>, Bad> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| Bad(format!("{k}: {v} is not a u64"))),
    }
}

fn config_from(c: Option<&Value>) -> Result<EngineConfig, Bad> {
    let Some(c) = c.filter(|c| !c.is_null()) else { return Ok(EngineConfig::default()) };
    Ok(EngineConfig {
        base_path: opt_text(c, "base_path")?,
        body_limit: opt_u64(c, "body_limit")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        cache_secret: opt_text(c, "cache_secret")?,
        safety_ttl_seconds: opt_u64(c, "safety_ttl_seconds")?,
        mwt_secret: opt_text(c, "mwt_secret")?,
        mwt_ttl_seconds: opt_u64(c, "mwt_ttl_seconds")?,
        jwt_secret: opt_text(c, "jwt_secret")?,
        access_ttl_seconds: opt_u64(c, "access_ttl_seconds")?,
        refresh_ttl_seconds: opt_u64(c, "refresh_ttl_seconds")?,
        token_leeway_seconds: opt_u64(c, "token_leeway_seconds")?,
        max_public_entries: opt_u64(c, "max_public_entries")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
    })
}

fn bound_json(b: &Option<CacheBound>) -> Value {
    b.as_ref().map_or(Value::Null, |b| json!({"set": b.set, "max_entries": b.max_entries}))
}

fn bound_from(v: Option<&Value>) -> Option<CacheBound> {
    let b = v.filter(|b| !b.is_null())?;
    Some(CacheBound { set: b["set"].as_str()?.to_string(), max_entries: u32::try_from(b["max_entries"].as_u64()?).ok()? })
}

fn identity_from(v: Option<&Value>) -> Result<Option<Identity>, Bad> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(i) => Ok(Some(Identity {
            subject: str_arg(i, "subject")?.to_string(),
            staff: i["staff"].as_bool().unwrap_or(false),
            superuser: i["superuser"].as_bool().unwrap_or(false),
            session_id: opt_text(i, "session_id")?,
            perm: opt_text(i, "perm")?,
        })),
    }
}

fn identity_json(i: Option<&Identity>) -> Value {
    match i {
        None => Value::Null,
        Some(i) => json!({"subject": i.subject, "staff": i.staff, "superuser": i.superuser,
                          "session_id": i.session_id, "perm": i.perm}),
    }
}

fn request_from(r: &Value) -> Result<Request, Bad> {
    let headers = r["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| match (h[0].as_str(), h[1].as_str()) {
            (Some(n), Some(v)) => Ok((n.to_string(), v.to_string())),
            _ => Err(Bad(format!("header {h} is not [name, value]"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = r["body"].as_str().unwrap_or_default().as_bytes().to_vec();
    Ok(Request::new(str_arg(r, "method")?, str_arg(r, "path")?, r["query"].as_str().unwrap_or_default(), headers, body)
        .with_csrf_token(opt_text(r, "csrf_token")?))
}

fn response_json(r: &Response) -> Value {
    json!({"status": r.status, "headers": r.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(), "body": r.body})
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("the kernel returned invalid JSON ({e}): {text}"))
}

fn plan_out(p: Plan) -> Value {
    match p {
        Plan::Respond(r) => json!({"respond": response_json(&r)}),
        Plan::CheckPredicates(c) => {
            json!({"check_predicates": {"predicates": c.predicates, "identity": identity_json(c.identity.as_ref())}})
        }
        Plan::Call(c) => {
            json!({"call": {"function": c.function, "args": parsed(&c.args_json), "identity": identity_json(c.identity.as_ref())}})
        }
        Plan::Fetch(f) => json!({"fetch": {
            "context": f.context,
            "params": parsed(&f.params_json),
            "members": f.members.iter().map(|m| json!({"function": m.function, "args": parsed(&m.args_json)})).collect::<Vec<_>>(),
            "identity": identity_json(f.identity.as_ref()),
            "cache": f.cache.map(|c| json!({"key": c.key, "index_keys": c.index_keys, "ttl_seconds": c.ttl_seconds, "bound": bound_json(&c.bound)})),
        }}),
    }
}

fn finished_json(f: Finished) -> Value {
    json!({
        "response": response_json(&f.response),
        "cache_put": f.cache_put.map(|c| json!({"key": c.key, "body": c.body, "index_keys": c.index_keys, "ttl_seconds": c.ttl_seconds, "bound": bound_json(&c.bound)})),
        "purge": f.purge.map(plan_json),
        "diagnostics": f.diagnostics,
    })
}

fn outcome_from(o: &Value) -> Result<Outcome, Bad> {
    if let Some(v) = o.get("ok") {
        return Ok(Outcome::ok(v));
    }
    if let Some(t) = o.get("exception") {
        return Ok(Outcome::Exception(t.as_str().unwrap_or_default().to_string()));
    }
    let e = o.get("error").ok_or_else(|| Bad(format!("outcome {o}")))?;
    let code = ProtocolCode::parse(str_arg(e, "code")?).ok_or_else(|| Bad(format!("protocol code {}", e["code"])))?;
    let mut err = ProtocolError::new(code, e["message"].as_str().unwrap_or_default());
    if let Some(d) = e.get("details") {
        err = err.with_details(d);
    }
    Ok(Outcome::Error(err))
}

fn plan_from(p: &Value) -> Result<PurgePlan, Bad> {
    let scopes = p["scopes"].as_array().ok_or_else(|| Bad(format!("plan {p}")))?;
    Ok(PurgePlan {
        scopes: scopes
            .iter()
            .map(|s| {
                Ok(PurgeScope {
                    base: str_arg(s, "base")?.to_string(),
                    terms: s["terms"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| {
                            Ok(PurgeTerm {
                                has_param: str_arg(t, "has_param")?.to_string(),
                                param_equals: str_arg(t, "param_equals")?.to_string(),
                            })
                        })
                        .collect::<Result<_, Bad>>()?,
                })
            })
            .collect::<Result<_, Bad>>()?,
    })
}

/// One engine per scenario: `registries[registry]` (KDL through `Registry::from_kdl(…).to_json()`,
/// the JSON form as is) and `config`. Token ops name no registry: an empty one serves.
fn engine(kernel: &Kernel, a: &Value, sources: &Value) -> Result<Result<Engine, Error>, Bad> {
    let config = config_from(a.get("config"))?;
    let empty = json!({});
    let spec = match a.get("registry").and_then(Value::as_str) {
        Some(name) => sources.get(name).ok_or_else(|| Bad(format!("unknown registry {name}")))?,
        None => &empty,
    };
    Ok(match spec {
        Value::String(kdl) => Engine::from_kdl(kernel, kdl, &config),
        json => Engine::from_json(kernel, json, &config),
    })
}

fn server_op(kernel: &Kernel, op: &str, a: &Value, sources: &Value) -> Result<Result<Value, Error>, Bad> {
    let engine = match engine(kernel, a, sources)? {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    let now = a["now"].as_u64().unwrap_or(0);
    Ok(match op {
        "server-plan" => {
            let answers: Vec<(String, bool)> = a["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| Ok((str_arg(x, "name")?.to_string(), x["allowed"].as_bool().unwrap_or(false))))
                .collect::<Result<_, Bad>>()?;
            let request = request_from(&a["request"])?;
            let identity = identity_from(a.get("identity"))?;
            engine.plan(&request, identity.as_ref(), now, &answers).map(plan_out)
        }
        "server-finish-call" => {
            let c = &a["call"];
            let call = CallPlan {
                function: str_arg(c, "function")?.to_string(),
                args_json: c["args"].to_string(),
                identity: identity_from(c.get("identity"))?,
            };
            engine.finish_call(&call, outcome_from(&a["outcome"])?).map(finished_json)
        }
        "server-finish-fetch" => {
            let cache = match a.get("cache") {
                None | Some(Value::Null) => None,
                Some(c) => Some(CachePlan {
                    key: str_arg(c, "key")?.to_string(),
                    index_keys: strings(c, "index_keys")?,
                    ttl_seconds: c["ttl_seconds"].as_u64().unwrap_or(0),
                    bound: bound_from(c.get("bound")),
                }),
            };
            let o = &a["outcome"];
            let outcome = match o.get("hit") {
                Some(body) => FetchOutcome::Hit(body.as_str().unwrap_or_default().to_string()),
                None => FetchOutcome::Results(
                    o["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| Ok((str_arg(r, "function")?.to_string(), outcome_from(&r["outcome"])?)))
                        .collect::<Result<_, Bad>>()?,
                ),
            };
            engine.finish_fetch(str_arg(a, "context")?, cache.as_ref(), outcome).map(finished_json)
        }
        "token-mint" => {
            let who = identity_from(a.get("identity"))?.ok_or_else(|| Bad("token-mint needs an identity".into()))?;
            match str_arg(a, "kind")? {
                "mwt" => engine.mint_mwt(&who, now).map(Value::from),
                _ => engine.mint_jwt_pair(&who, str_arg(a, "session_id")?, now).map(|p| {
                    json!({"access": p.access, "refresh": p.refresh, "access_expires_at": p.access_expires_at,
                           "refresh_expires_at": p.refresh_expires_at})
                }),
            }
        }
        _ => {
            let token = str_arg(a, "token")?;
            let claims = match str_arg(a, "kind")? {
                "mwt" => engine.verify_mwt(token, now),
                "access" => engine.verify_jwt(token, TokenKind::Access, now),
                "refresh" => engine.verify_jwt(token, TokenKind::Refresh, now),
                other => return Err(Bad(format!("no token kind {other}"))),
            };
            claims.map(|c| {
                json!({"kind": c.kind.as_str(), "subject": c.subject, "staff": c.staff, "superuser": c.superuser,
                       "perm": c.perm, "session_id": c.session_id, "issued_at": c.issued_at, "expires_at": c.expires_at})
            })
        }
    })
}

/// README: Origin-store scripts — one output per step.
fn origin_store_script(kernel: &Kernel, a: &Value) -> Result<Result<Value, Error>, Bad> {
    let bound = |k: &str| a[k].as_u64().unwrap_or(0);
    let store = match OriginStore::new(kernel, u32::try_from(bound("max_entries")).unwrap_or(u32::MAX), bound("max_bytes")) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let mut out = Vec::new();
    for s in a["steps"].as_array().ok_or_else(|| Bad("steps must be a list".into()))? {
        let now = s["now"].as_u64().unwrap_or(0);
        let result = match s["do"].as_str().unwrap_or_default() {
            "put" => store
                .put(str_arg(s, "key")?, str_arg(s, "body")?, &strings(s, "index_keys")?, s["ttl_seconds"].as_u64().unwrap_or(0), now)
                .map(Value::from),
            "get" => store.get(str_arg(s, "key")?, now).map(|b| b.map(Value::from).unwrap_or(Value::Null)),
            "purge" => store.purge(&plan_from(&s["plan"])?).map(Value::from),
            "lookup" => store.lookup(str_arg(s, "key")?, now).map(|l| json!({"body": l.body, "ticket": l.ticket})),
            "put_entry" => {
                let p = &s["put"];
                let put = CachePut {
                    key: str_arg(p, "key")?.to_string(),
                    body: str_arg(p, "body")?.to_string(),
                    index_keys: strings(p, "index_keys")?,
                    ttl_seconds: p["ttl_seconds"].as_u64().unwrap_or(0),
                    bound: bound_from(p.get("bound")),
                };
                store.put_entry(&put, s["ticket"].as_u64(), now).map(Value::from)
            }
            "purge_step" => {
                let limit = u32::try_from(s["limit"].as_u64().unwrap_or(0)).unwrap_or(u32::MAX);
                store
                    .purge_step(&plan_from(&s["plan"])?, s["cursor"].as_str(), limit)
                    .map(|step| json!({"purged": step.purged, "cursor": step.cursor}))
            }
            "sweep" => store.sweep(now).map(Value::from),
            "len" => store.len().map(Value::from),
            "index_sets" => store.index_sets().map(Value::from),
            "clear" => store.clear().map(|()| Value::Null),
            other => return Err(Bad(format!("unknown origin-store step {other}"))),
        };
        match result {
            Ok(v) => out.push(v),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(Value::Array(out)))
}

/// Compare one outcome with the scenario's expectation; `Err` says why it does not match.
fn check(scenario: &Value, outcome: Result<Value, Error>) -> Result<(), String> {
    match (outcome, scenario.get("expect"), scenario.get("expect_error")) {
        (Ok(got), Some(want), None) if got == *want => Ok(()),
        (Ok(got), Some(want), None) => Err(format!("expected {want}, got {got}")),
        (Err(Error::Kernel(e)), None, Some(want)) => {
            if want["code"] != e.code.as_str() {
                return Err(format!("expected error {want}, got {} ({})", e.code, e.message));
            }
            match want.get("details") {
                Some(d) if Some(d) != e.details.as_ref() => {
                    Err(format!("expected details {d}, got {:?} ({})", e.details, e.message))
                }
                _ => Ok(()),
            }
        }
        (Ok(got), None, Some(want)) => Err(format!("expected error {want}, got {got}")),
        (Err(e), _, _) => Err(format!("unexpected error: {e}")),
        _ => Err("the scenario needs exactly one of expect / expect_error".into()),
    }
}

struct Report {
    passed: usize,
    failures: Vec<String>,
}

fn replay(kernel: &Kernel, file: &Value) -> Report {
    let mut failures = Vec::new();
    let mut registries = BTreeMap::new();
    for (name, spec) in file["registries"].as_object().into_iter().flatten() {
        match load_registry(kernel, spec) {
            Ok(r) => {
                registries.insert(name.clone(), r);
            }
            Err(e) => failures.push(format!("registry {name}: {e}")),
        }
    }
    let mut passed = 0;
    for s in file["scenarios"].as_array().expect("scenarios list") {
        let id = s["id"].as_str().unwrap_or("<no id>");
        let result = run(kernel, s["op"].as_str().unwrap_or_default(), &s["args"], &registries, &file["registries"])
            .map_err(|Bad(why)| format!("malformed scenario: {why}"))
            .and_then(|outcome| check(s, outcome));
        match result {
            Ok(()) => passed += 1,
            Err(why) => failures.push(format!("{id}: {why}")),
        }
    }
    Report { passed, failures }
}

fn print(report: &Report) {
    for f in &report.failures {
        println!("FAIL {f}");
    }
    println!("{} passed, {} failed", report.passed, report.failures.len());
}

#[test]
fn conformance_scenarios() {
    let file = load::scenarios(&load::root(env!("CARGO_MANIFEST_DIR"), "../.."));
    let kernel = Kernel::new().unwrap();
    let report = replay(&kernel, &file);
    print(&report);
    assert!(report.passed > 0, "no scenarios");
    let total = file["scenarios"].as_array().map_or(0, Vec::len);
    assert_eq!(report.passed + report.failures.len(), total, "every scenario runs: none skipped");
    assert!(report.failures.is_empty(), "{} conformance scenario(s) failed", report.failures.len());
    assert_eq!(kernel.stats().traps, 0);
}

/// The runner itself: two small features of our own in a temp dir (loaded as a directory, like
/// tests/conformance), one scenario of which is deliberately wrong, must be reported as exactly
/// that one failure.
#[test]
fn runner_detects_failures() {
    let dir = std::env::temp_dir().join(format!("mizan-host-conformance-{}", std::process::id()));
    let ok = json!({
        "registries": {
            "mini": "mizan-ir version=1\ncontext user\nfunction user_profile context=user output=any {\n    input user_id type=integer\n}\nfunction rename output=any {\n    input user_id type=integer\n    affects user\n}\n",
            "mini-json": {"functions": {"f": {"context": "c", "inputs": {}, "output": "any"}}}
        },
        "scenarios": [
            {"id": "ok/stringify", "source": "kernel", "op": "stringify", "args": {"value": 1.5}, "expect": "1.5"},
            {"id": "ok/error-details", "source": "kernel", "op": "parse-header", "args": {"text": "a;k=%zz"},
             "expect_error": {"code": "invalid-header", "details": {"position": 4}}},
            {"id": "ok/error-code-only", "source": "kernel", "op": "check-secret", "args": {"secret": ""},
             "expect_error": {"code": "invalid-argument"}},
            {"id": "ok/invalidate", "source": "kernel", "op": "resolve-invalidation",
             "args": {"registry": "mini", "function": "rename", "args": {"user_id": 5}},
             "expect": {"invalidate": [{"context": "user", "params": {"user_id": 5}}], "header": "user;user_id=5"}}
        ]
    });
    let wrong = json!({
        "registries": {"mini-json": {"functions": {"f": {"context": "c", "inputs": {}, "output": "any"}}}},
        "scenarios": [
            {"id": "wrong/policy", "source": "kernel", "op": "context-policy", "args": {"registry": "mini-json", "context": "c"},
             "expect": {"rev": 0, "cacheable": true, "ttl_seconds": null}},
            {"id": "wrong/on-purpose", "source": "kernel", "op": "stringify", "args": {"value": true}, "expect": "True"}
        ]
    });
    for (feature, doc) in [("ok", ok), ("wrong", wrong)] {
        std::fs::create_dir_all(dir.join(feature)).unwrap();
        std::fs::write(dir.join(feature).join("scenarios.json"), serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    let file = load::merged(&dir, "scenarios.json", "scenarios");
    let report = replay(&Kernel::new().unwrap(), &file);
    print(&report);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(report.passed, 5, "{:?}", report.failures);
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].starts_with("wrong/on-purpose: "), "{:?}", report.failures);
}
