//! The native side of the cross-host conformance suite (tests/conformance/README.md).
//!
//! Each feature directory `tests/conformance/<feature>/` holds `cases.json` (hand-written inputs)
//! and `scenarios.json`, generated from the cases and the spec's vector sections they name:
//! `MIZAN_BLESS=1 cargo test -p mizan-kernel --test conformance` writes them. Without the
//! variable this test replays every scenario natively and fails when a file is stale.

#[path = "../../tests/conformance/load.rs"]
mod load;

use mizan_kernel::canon::{canonical_json, stringify};
use mizan_kernel::header::{format_header, parse_header};
use mizan_kernel::index::PurgePlan;
use mizan_kernel::invalidation::{entries_from_json, entries_to_json};
use mizan_kernel::keys::{self, KeyInput, Keyer, user_subject};
use mizan_kernel::merge::{MergeEntry, apply_merge};
use mizan_kernel::server::{CallPlan, exchange, OriginStore, ServerEngine, TokenKind, json_form, redis};
use mizan_kernel::session::{self, ClientSession, SessionConfig};
use mizan_kernel::store::{RequestError, Store, StoreConfig};
use mizan_kernel::{Error, Registry};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;


fn registry_from(spec: &Value) -> Result<Registry, Error> {
    match spec {
        Value::String(kdl) => Registry::from_kdl(kdl),
        other => Registry::from_json_value(other),
    }
}

fn key_input(a: &Value) -> Result<KeyInput, Error> {
    Ok(KeyInput {
        context: a["context"].as_str().unwrap_or_default().to_string(),
        params: match &a["params"] {
            Value::Object(m) => m.clone(),
            other => return Err(Error::invalid_json(format!("params must be a JSON object, got {other}"))),
        },
        user: user_subject(a.get("user").unwrap_or(&Value::Null))?,
        rev: a.get("rev").and_then(Value::as_u64).unwrap_or(0),
    })
}

fn plan_json(p: PurgePlan) -> Value {
    json!({"scopes": p.scopes.iter().map(|s| json!({
        "base": s.base,
        "terms": s.terms.iter().map(|t| json!({"has_param": t.has_param, "param_equals": t.param_equals})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})
}

fn object(v: &Value, what: &str) -> Result<Map<String, Value>, Error> {
    v.as_object().cloned().ok_or_else(|| Error::invalid_json(format!("{what} must be a JSON object")))
}

/// Run one operation natively. Mirrors what each host's runner does through its own API.
fn run(op: &str, a: &Value, registries: &BTreeMap<String, Registry>) -> Result<Value, Error> {
    let reg = || registries.get(a["registry"].as_str().unwrap_or_default()).expect("registry name");
    let secret = || a["secret"].as_str().unwrap_or_default();
    Ok(match op {
        "stringify" => json!(stringify(&a["value"])),
        "canonical-json" => json!(canonical_json(&a["value"])),
        "check-secret" => json!(keys::check_secret(secret())?),
        "derive-cache-key" => json!(keys::derive_cache_key(secret(), &key_input(a)?)?),
        "derive-cache-key-rotation" => {
            let secrets: Vec<String> = serde_json::from_value(a["secrets"].clone()).unwrap_or_default();
            json!(keys::derive_rotation(&secrets, &key_input(a)?)?)
        }
        "derive-batch" => json!(Keyer::new(secret())?.derive_batch_json(&a["items"].to_string())?),
        "index-entry" => {
            let e = Keyer::new(secret())?.index_entry(&key_input(a)?);
            json!({"key": e.key, "index_keys": e.index_keys})
        }
        "purge-plan" => plan_json(Keyer::new(secret())?.purge_plan(&entries_from_json(&a["entries"])?)),
        "purge-user-plan" => {
            let contexts: Vec<String> = serde_json::from_value(a["contexts"].clone()).unwrap_or_default();
            plan_json(Keyer::new(secret())?.purge_user_plan(&contexts, a["user"].as_str().unwrap_or_default())?)
        }
        "format-header" => json!(format_header(&entries_from_json(&a["entries"])?)?),
        "parse-header" => entries_to_json(&parse_header(a["text"].as_str().unwrap_or_default())?),
        "registry-load" => {
            let r = if let Some(kdl) = a.get("kdl") { registry_from(kdl)? } else { registry_from(&a["json"])? };
            json!({"kdl": r.to_kdl(), "json": r.to_json()})
        }
        "resolve-invalidation" => {
            let entries = reg().resolve_invalidation(
                a["function"].as_str().unwrap_or_default(),
                &object(&a["args"], "args")?,
                a.get("subject").and_then(Value::as_str),
            )?;
            json!({"invalidate": entries_to_json(&entries), "header": format_header(&entries).ok()})
        }
        "resolve-merges" => {
            let res = reg().resolve_merges(a["function"].as_str().unwrap_or_default(), &object(&a["args"], "args")?, &a["result"])?;
            json!({"merge": res.merges_json(), "diagnostics": res.diagnostics.iter().map(|d| d.to_json()).collect::<Vec<_>>()})
        }
        "manifest" => {
            let views: BTreeMap<String, Vec<String>> =
                serde_json::from_value(a.get("view_urls").cloned().unwrap_or(json!({}))).unwrap_or_default();
            reg().manifest(a["base_url"].as_str().unwrap_or_default(), &views)
        }
        "context-policy" => {
            let p = reg().context_policy(a["context"].as_str().unwrap_or_default())?;
            json!({"rev": p.rev, "cacheable": p.cacheable, "ttl_seconds": p.ttl_seconds})
        }
        "apply-merge" => {
            let mut bundle = object(&a["bundle"], "bundle")?;
            let entry = MergeEntry::from_json(&a["entry"])?;
            if apply_merge(&mut bundle, &entry)? { Value::Object(bundle) } else { Value::Null }
        }
        "store-script" => store_script(a)?,
        "client-session-script" => session_script(a)?,
        "exchange-script" => exchange_script(a, registries)?,
        "server-plan" | "server-finish-call" | "server-finish-fetch" | "token-mint" | "token-verify" => server_op(op, a, registries)?,
        "origin-store-script" => origin_store_script(a)?,
        "request-headers" => json!(mizan_kernel::server::http::REQUEST_HEADERS.map(str::to_ascii_lowercase)),
        "redis-scripts" => json!({"put": redis::REDIS_PUT_SCRIPT, "purge": redis::REDIS_PURGE_SCRIPT}),
        "redis-plan-json" => json!(redis::plan_json(&redis::plan_from_json(&a["plan"])?)),
        other => panic!("unknown op {other}"),
    })
}

/// An exchange over `registry` + `config` + `hooks`; each step is a list of events, answered
/// with the list of effects (tests/conformance/exchange).
fn exchange_script(a: &Value, registries: &BTreeMap<String, Registry>) -> Result<Value, Error> {
    let registry = registries.get(a["registry"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
    let engine = ServerEngine::new(registry, json_form::config_from(a.get("config").unwrap_or(&Value::Null))?)?;
    let flag = |k: &str| a["hooks"][k].as_bool().unwrap_or(false);
    let server = exchange::Server::new(engine, exchange::Hooks { identity: flag("identity"), revocation: flag("revocation") });
    let mut x = server.exchange();
    let mut out = Vec::new();
    for step in a["steps"].as_array().cloned().unwrap_or_default() {
        let events = step.as_array().cloned().unwrap_or_default().iter().map(exchange::json::event_from).collect::<Result<_, _>>()?;
        out.push(exchange::json::effects(&x.update(events)?));
    }
    Ok(Value::Array(out))
}

/// The server ops (README: Server ops): an engine from `registry` + `config`, one call on it.
fn server_op(op: &str, a: &Value, registries: &BTreeMap<String, Registry>) -> Result<Value, Error> {
    let registry = registries.get(a["registry"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
    let engine = ServerEngine::new(registry, json_form::config_from(a.get("config").unwrap_or(&Value::Null))?)?;
    let now = a["now"].as_u64().unwrap_or(0);
    let identity = json_form::identity_from(a.get("identity").unwrap_or(&Value::Null))?;
    let kind = |k: &str| match k {
        "mwt" => Ok(TokenKind::Mwt),
        "access" => Ok(TokenKind::Access),
        "refresh" => Ok(TokenKind::Refresh),
        other => Err(Error::invalid_argument(format!("no token kind {other}"))),
    };
    Ok(match op {
        "server-plan" => {
            let answers: Vec<(String, bool)> = a["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| Some((x["name"].as_str()?.to_string(), x["allowed"].as_bool()?)))
                .collect();
            json_form::plan(&engine.plan_with(&json_form::request_from(&a["request"])?, identity.as_ref(), now, &answers))
        }
        "server-finish-call" => {
            let c = &a["call"];
            let call = CallPlan {
                function: c["function"].as_str().unwrap_or_default().to_string(),
                args: object(&c["args"], "args")?,
                identity: json_form::identity_from(c.get("identity").unwrap_or(&Value::Null))?,
            };
            json_form::finished(&engine.finish_call(&call, json_form::outcome_from(&a["outcome"])?))
        }
        "server-finish-fetch" => {
            let cache = json_form::cache_plan_from(a.get("cache").unwrap_or(&Value::Null))?;
            let outcome = json_form::fetch_outcome_from(&a["outcome"])?;
            json_form::finished(&engine.finish_fetch(a["context"].as_str().unwrap_or_default(), cache.as_ref(), outcome))
        }
        "token-mint" => {
            let who = identity.unwrap_or_default();
            match a["kind"].as_str().unwrap_or_default() {
                "mwt" => json!(engine.mint_mwt(&who, now)?),
                _ => json_form::jwt_pair(&engine.mint_jwt_pair(&who, a["session_id"].as_str().unwrap_or_default(), now)?),
            }
        }
        _ => {
            let token = a["token"].as_str().unwrap_or_default();
            let claims = match kind(a["kind"].as_str().unwrap_or_default())? {
                TokenKind::Mwt => engine.verify_mwt(token, now)?,
                k => engine.verify_jwt(token, k, now)?,
            };
            json_form::claims(&claims)
        }
    })
}

/// Replay an origin-store script (README: Origin-store scripts): one output per step.
fn origin_store_script(a: &Value) -> Result<Value, Error> {
    let bound = |k: &str| a[k].as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    let mut store = OriginStore::new(bound("max_entries"), bound("max_bytes"));
    let mut outputs = Vec::new();
    for s in a["steps"].as_array().cloned().unwrap_or_default() {
        let now = s["now"].as_u64().unwrap_or(0);
        let key = s["key"].as_str().unwrap_or_default();
        outputs.push(match s["do"].as_str().unwrap_or_default() {
            "put" => {
                let index_keys: Vec<String> = serde_json::from_value(s["index_keys"].clone()).unwrap_or_default();
                let body = s["body"].as_str().unwrap_or_default();
                json!(store.put(key, body, &index_keys, s["ttl_seconds"].as_u64().unwrap_or(0), now))
            }
            "get" => json!(store.get(key, now)),
            "purge" => json!(store.purge(&redis::plan_from_json(&s["plan"])?)),
            "lookup" => {
                let l = store.lookup(key, now);
                json!({"body": l.body, "ticket": l.ticket})
            }
            "put_entry" => json!(store.put_entry(&json_form::cache_put_from(&s["put"])?, s["ticket"].as_u64(), now)),
            "purge_step" => {
                let limit = s["limit"].as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
                let step = store.purge_step(&redis::plan_from_json(&s["plan"])?, s["cursor"].as_str(), limit);
                json!({"purged": step.purged, "cursor": step.cursor})
            }
            "sweep" => json!(store.sweep(now)),
            "len" => json!(store.len()),
            "index_sets" => json!(store.stats().index_sets),
            "clear" => {
                store.clear();
                Value::Null
            }
            other => panic!("unknown origin-store step {other}"),
        });
    }
    Ok(Value::Array(outputs))
}

/// Replay a store script (README: Store scripts): one output per step; a failing step records
/// `{"error": code}` and the script goes on.
fn store_script(a: &Value) -> Result<Value, Error> {
    let config = match a.get("config") {
        Some(c) => StoreConfig::from_json(&c.to_string())?,
        None => StoreConfig::default(),
    };
    let mut store = Store::new(config);
    let mut outputs = Vec::new();
    for step in a["steps"].as_array().cloned().unwrap_or_default() {
        let out = store_step(&mut store, &step).unwrap_or_else(|e| json!({"error": e.code.as_str()}));
        outputs.push(out);
    }
    Ok(Value::Array(outputs))
}

fn store_step(store: &mut Store, s: &Value) -> Result<Value, Error> {
    let now = s["now"].as_u64().unwrap_or(0);
    let id = |k: &str| s[k].as_u64().unwrap_or(0);
    let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
    Ok(match s["do"].as_str().unwrap_or_default() {
        "start" => { store.start(); Value::Null }
        "session_ok" => { store.session_ok(id("request_id"), &s["body"]); Value::Null }
        "subscribe" => json!(store.subscribe(&text("context"), &object(&s["params"], "params")?, now)),
        "prefetch" => json!(store.prefetch(&text("context"), &object(&s["params"], "params")?, now)),
        "unsubscribe" => { store.unsubscribe(&text("key"), now)?; Value::Null }
        "refetch" => { store.refetch(&text("key"))?; Value::Null }
        "fetch_ok" => { store.fetch_ok(id("request_id"), s["body"].clone(), now); Value::Null }
        "fetch_err" => { store.fetch_err(id("request_id"), RequestError::from_json(&s["error"])?, now); Value::Null }
        "mutate" => {
            let optimistic = match s.get("optimistic") {
                Some(Value::Array(items)) => items.iter().map(MergeEntry::from_json).collect::<Result<Vec<_>, _>>()?,
                _ => vec![],
            };
            json!(store.mutate(&text("fn"), s["args"].clone(), &optimistic)?)
        }
        "call_ok" => { store.call_ok(id("request_id"), &s["body"], s.get("header").and_then(Value::as_str))?; Value::Null }
        "call_err" => { store.call_err(id("request_id"), RequestError::from_json(&s["error"])?); Value::Null }
        "invalidate" => { store.invalidate(&entries_from_json(&s["entries"])?); Value::Null }
        "remove" => {
            let scope = match s.get("entries") { Some(e) => Some(entries_from_json(e)?), None => None };
            store.remove(scope.as_deref());
            Value::Null
        }
        "reset" => { store.reset(); Value::Null }
        "tick" => { store.tick(now); Value::Null }
        "focus" => { store.focus(now); Value::Null }
        "online" => { store.online(now); Value::Null }
        "hydrate" => { store.hydrate(&s["payload"], now)?; Value::Null }
        "dehydrate" => store.dehydrate(),
        "snapshot" => store.snapshot(&text("key"), now).unwrap_or(Value::Null),
        "mutation" => store.mutation_snapshot(id("id")).unwrap_or(Value::Null),
        "count" => json!(store.instance_count()),
        "drain" => store.drain(now).to_json(),
        other => panic!("unknown store step {other}"),
    })
}

/// Replay a client-session script (README: Client-session scripts): one output per step.
fn session_script(a: &Value) -> Result<Value, Error> {
    let config = match a.get("config") {
        Some(c) => SessionConfig::from_json(&c.to_string())?,
        None => SessionConfig::default(),
    };
    let mut client = ClientSession::new(config.clone());
    let mut outputs = Vec::new();
    for step in a["steps"].as_array().cloned().unwrap_or_default() {
        let now = step["now"].as_u64().unwrap_or(0);
        outputs.push(match step.get("do").and_then(Value::as_str) {
            None => {
                let events = step["events"].as_array().cloned().unwrap_or_default().iter().map(session_event).collect();
                output_json(&client.update(events, now))
            }
            Some("restart") => {
                client = ClientSession::new(config.clone());
                Value::Null
            }
            Some("snapshot") => client.store().snapshot(step["key"].as_str().unwrap_or_default(), now).unwrap_or(Value::Null),
            Some("idle") => json!(client.idle()),
            Some("count") => json!(client.store().instance_count()),
            Some("dehydrate") => client.store().dehydrate(),
            Some(other) => panic!("unknown client-session step {other}"),
        });
    }
    Ok(Value::Array(outputs))
}

fn text_of(v: &Value) -> String {
    v.to_string()
}

fn instance_ref(v: &Value) -> session::InstanceRef {
    session::InstanceRef { context: v["context"].as_str().unwrap_or_default().into(), params_json: text_of(v.get("params").unwrap_or(&json!({}))) }
}

/// An event in the scripts' JSON form (README) as the session's.
fn session_event(e: &Value) -> session::Event {
    use session::Event as E;
    if let Some(name) = e.as_str() {
        return match name {
            "start" => E::Start(None),
            "reset" => E::Reset,
            "tick" => E::Tick,
            "focus" => E::Focus,
            "online" => E::Online,
            "close" => E::Close,
            other => panic!("unknown event {other}"),
        };
    }
    let (name, v) = e.as_object().and_then(|m| m.iter().next()).expect("an event is a string or a one-key object");
    match name.as_str() {
        "start" => E::Start(v.as_u64()),
        "subscribe" => E::Subscribe(instance_ref(v)),
        "unsubscribe" => E::Unsubscribe(v.as_str().unwrap_or_default().into()),
        "refetch" => E::Refetch(v.as_str().unwrap_or_default().into()),
        "prefetch" => E::Prefetch(instance_ref(v)),
        "view" => E::View(instance_ref(v)),
        "fetch" => E::Fetch(session::FetchWait {
            waiter: v["waiter"].as_u64().unwrap_or(0),
            instance: instance_ref(v),
            force: v["force"].as_bool().unwrap_or(false),
        }),
        "call" => E::Call(session::CallWait {
            waiter: v["waiter"].as_u64().unwrap_or(0),
            function: v["fn"].as_str().unwrap_or_default().into(),
            args_json: text_of(v.get("args").unwrap_or(&json!({}))),
            optimistic_json: v.get("optimistic").map(text_of),
        }),
        "cancel" => E::Cancel(v.as_u64().unwrap_or(0)),
        "answer" => {
            let invalidate = |x: &Value| x.get("invalidate").and_then(Value::as_str).map(str::to_string);
            let outcome = if let Some(h) = v.get("http") {
                session::Outcome::Http(session::HttpAnswer {
                    status: h["status"].as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
                    body: h["body"].as_str().unwrap_or_default().into(),
                    invalidate: invalidate(h),
                })
            } else if let Some(d) = v.get("decoded") {
                session::Outcome::Decoded { body_json: text_of(&d["body"]), invalidate: invalidate(d) }
            } else if let Some(u) = v.get("unusable") {
                session::Outcome::Unusable(u.as_str().unwrap_or_default().into())
            } else {
                session::Outcome::Failed(text_of(&v["failed"]))
            };
            E::Answer(session::Answer { request: v["request"].as_u64().unwrap_or(0), outcome })
        }
        "invalidate" => E::Invalidate(text_of(v)),
        "remove" => E::Remove((!v.is_null()).then(|| text_of(v))),
        "hydrate" => E::Hydrate { payload_json: text_of(&v["payload"]), held: v["held"].as_bool().unwrap_or(false) },
        other => panic!("unknown event {other}"),
    }
}

fn error_json(e: &session::ErrorRecord) -> Value {
    json!({"code": e.code, "message": e.message, "details_json": e.details_json, "status": e.status, "network": e.network, "body_json": e.body_json})
}

/// The session's output in the scripts' JSON form (README): JSON text stays text.
fn output_json(out: &session::Output) -> Value {
    let results: Vec<Value> = out
        .results
        .iter()
        .map(|r| match r {
            Ok(key) => json!({"ok": key}),
            Err(e) => json!({"error": e.code.as_str()}),
        })
        .collect();
    let requests: Vec<Value> = out
        .requests
        .iter()
        .map(|r| {
            let op = r.op.as_ref().map(|op| match op {
                session::Operation::Fetch { key, context, params_json, query } => {
                    json!({"fetch": {"key": key, "context": context, "params_json": params_json, "query": query}})
                }
                session::Operation::Call { function, args_json, csrf_token } => {
                    json!({"call": {"fn": function, "args_json": args_json, "csrf_token": csrf_token}})
                }
                session::Operation::Session => json!("session"),
            });
            let http = r.http.as_ref().map(|h| json!({"method": h.method.as_str(), "path": h.path, "headers": h.headers, "body": h.body}));
            let kind = match r.kind {
                session::RequestKind::Fetch => "fetch",
                session::RequestKind::Call => "call",
                session::RequestKind::Session => "session",
            };
            json!({"id": r.id, "kind": kind, "http": http, "op": op, "timeout_ms": r.timeout_ms})
        })
        .collect();
    let views: Vec<Value> = out
        .views
        .iter()
        .map(|v| {
            json!({
                "key": v.key,
                "instance": v.instance.as_ref().map(|i| json!({"context": i.context, "params_json": i.params_json})),
                "gone": v.gone, "status": v.status.as_str(), "fetching": v.fetching, "stale": v.stale,
                "updated_at": v.updated_at, "error": v.error.as_ref().map(error_json), "slots": v.slots, "values": v.values,
            })
        })
        .collect();
    let settled: Vec<Value> = out
        .settled
        .iter()
        .map(|s| match &s.outcome {
            Ok(text) => json!({"waiter": s.waiter, "ok": text}),
            Err(e) => json!({"waiter": s.waiter, "error": error_json(e)}),
        })
        .collect();
    json!({"results": results, "requests": requests, "views": views, "settled": settled,
           "timer": out.timer.map(|t| json!({"at_ms": t.at_ms, "delay_ms": t.delay_ms}))})
}

fn outcome(result: Result<Value, Error>) -> (String, Value) {
    match result {
        Ok(v) => ("expect".into(), v),
        Err(e) => {
            let mut err = json!({"code": e.code.as_str()});
            if let Some(d) = e.details {
                err["details"] = d;
            }
            ("expect_error".into(), err)
        }
    }
}

/// Replace `"@name"` registry references in registry-load args by the registry itself.
fn inline_registries(args: &mut Value, sources: &Map<String, Value>) {
    for k in ["kdl", "json"] {
        if let Some(Value::String(s)) = args.get(k)
            && let Some(name) = s.strip_prefix('@')
        {
            args[k] = sources[name].clone();
        }
    }
}

/// The scenarios of one section of the spec's vectors (a feature's `"vectors"` list names them).
fn vector_scenarios(vectors: &Value, section: &str) -> Vec<Value> {
    let cases = vectors[section].as_array().unwrap_or_else(|| panic!("no vector section {section}"));
    match section {
        "cache_keys" => cases
            .iter()
            .map(|c| {
                let mut args = json!({"secret": c["secret"], "context": c["context"], "params": c["params"], "rev": c["rev"]});
                if let Some(u) = c.get("user") {
                    args["user"] = u.clone();
                }
                json!({"id": format!("vector/key/{}", c["id"].as_str().unwrap()), "source": "vector",
                       "op": "derive-cache-key", "args": args, "expect": c["key"]})
            })
            .collect(),
        "header" => cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": format!("vector/header/{i}"), "source": "vector", "op": "format-header",
                       "args": {"entries": c["entries"]}, "expect": c["header"]})
            })
            .collect(),
        other => panic!("no scenarios for vector section {other}"),
    }
}

/// The registries a case names: `args.registry` and `"@name"` registry-load references.
fn registries_used(case: &Value) -> Vec<String> {
    let a = &case["args"];
    let named = a["registry"].as_str().map(str::to_string);
    let inlined = ["kdl", "json"].into_iter().filter_map(|k| a[k].as_str()?.strip_prefix('@').map(str::to_string));
    named.into_iter().chain(inlined).collect()
}

/// One feature's `scenarios.json` from its `cases.json` and the vector sections it names.
fn build_feature(cases: &Value, vectors: &Value) -> Value {
    let sources = cases["registries"].as_object().cloned().unwrap_or_default();
    let all_cases = cases["cases"].as_array().expect("cases list");
    for name in sources.keys() {
        assert!(all_cases.iter().any(|c| registries_used(c).contains(name)), "registry {name} is carried but no case uses it");
    }
    let registries: BTreeMap<String, Registry> =
        sources.iter().map(|(k, v)| (k.clone(), registry_from(v).unwrap_or_else(|e| panic!("registry {k}: {e}")))).collect();
    let mut scenarios: Vec<Value> =
        cases["vectors"].as_array().into_iter().flatten().flat_map(|s| vector_scenarios(vectors, s.as_str().unwrap())).collect();
    for case in all_cases {
        let mut s = case.clone();
        inline_registries(&mut s["args"], &sources);
        let (key, value) = outcome(run(s["op"].as_str().unwrap(), &s["args"], &registries));
        let fixed = s.get("expect").or(s.get("expect_error")).is_some();
        if !fixed {
            s[key] = value;
        }
        s["source"] = json!("kernel");
        scenarios.push(s);
    }
    let mut doc = json!({"about": "Generated by kernel/tests/conformance.rs from cases.json beside it (and the spec's vectors it names); see ../README.md."});
    if !sources.is_empty() {
        doc["registries"] = Value::Object(sources);
    }
    doc["scenarios"] = Value::Array(scenarios);
    doc
}

#[test]
fn conformance() {
    let root = load::root(env!("CARGO_MANIFEST_DIR"), "..");
    let vectors = load::read_json(&root.join("../vectors/kernel-vectors.json"));
    let bless = std::env::var_os("MIZAN_BLESS").is_some();
    let mut stale = Vec::new();
    for dir in load::features(&root, "cases.json") {
        let built = build_feature(&load::read_json(&dir.join("cases.json")), &vectors);
        let path = dir.join("scenarios.json");
        if bless {
            std::fs::write(&path, serde_json::to_string_pretty(&built).unwrap() + "\n").unwrap();
        } else if !path.is_file() || load::read_json(&path) != built {
            stale.push(path.display().to_string());
        }
    }
    for dir in load::features(&root, "scenarios.json") {
        if !dir.join("cases.json").is_file() {
            stale.push(format!("{} (no cases.json)", dir.display()));
        }
    }

    let file = load::scenarios(&root);
    let sources = file["registries"].as_object().unwrap();
    let registries: BTreeMap<String, Registry> =
        sources.iter().map(|(k, v)| (k.clone(), registry_from(v).unwrap())).collect();
    let (mut passed, mut failed) = (0, 0);
    for s in file["scenarios"].as_array().unwrap() {
        let (key, got) = outcome(run(s["op"].as_str().unwrap(), &s["args"], &registries));
        let want = s.get(&key);
        // An expected error without details matches any details.
        let ok = match (key.as_str(), want) {
            ("expect_error", Some(w)) if w.get("details").is_none() => w["code"] == got["code"],
            (_, Some(w)) => *w == got,
            _ => false,
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
            eprintln!("FAIL {}: got {key} {got}, want {:?}", s["id"], s.get("expect").or(s.get("expect_error")));
        }
    }
    println!("native: {passed} passed, {failed} failed");
    assert_eq!(failed, 0);
    // Each scenarios.json must be what its cases.json and the vectors produce today.
    assert!(stale.is_empty(), "stale: {stale:?}; run MIZAN_BLESS=1 cargo test -p mizan-kernel --test conformance");
}
