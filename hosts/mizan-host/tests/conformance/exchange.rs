//! `exchange-script` (tests/conformance/exchange) through the host's [`ExchangeServer`]: the
//! scripts' JSON events as the WIT's, the WIT effects back as the scripts' JSON.

use super::{Bad, str_arg};
use mizan_host::exchange::types as w;
use mizan_host::{Error, ExchangeServer, Kernel, Registry};
use serde_json::{Value, json};

fn text(v: &Value, what: &str) -> Result<String, Bad> {
    v.as_str().map(str::to_string).ok_or_else(|| Bad(format!("{what} must be a string")))
}

fn plan(v: &Value) -> Result<Option<w::PurgePlan>, Bad> {
    if v.is_null() {
        return Ok(None);
    }
    let scopes = v["scopes"].as_array().ok_or_else(|| Bad(format!("plan {v}")))?;
    let scope = |s: &Value| -> Result<w::PurgeScope, Bad> {
        let terms = s["terms"].as_array().into_iter().flatten();
        let term = |t: &Value| Ok(w::PurgeTerm { has_param: text(&t["has_param"], "has_param")?, param_equals: text(&t["param_equals"], "param_equals")? });
        Ok(w::PurgeScope { base: text(&s["base"], "base")?, terms: terms.map(term).collect::<Result<_, Bad>>()? })
    };
    Ok(Some(w::PurgePlan { scopes: scopes.iter().map(scope).collect::<Result<_, Bad>>()? }))
}

fn plan_json(p: &w::PurgePlan) -> Value {
    json!({"scopes": p.scopes.iter().map(|s| json!({
        "base": s.base,
        "terms": s.terms.iter().map(|t| json!({"has_param": t.has_param, "param_equals": t.param_equals})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})
}

fn identity(v: &Value) -> Result<Option<w::Identity>, Bad> {
    if v.is_null() {
        return Ok(None);
    }
    let opt = |k: &str| v[k].as_str().map(str::to_string);
    Ok(Some(w::Identity {
        subject: str_arg(v, "subject")?.to_string(),
        staff: v["staff"].as_bool().unwrap_or(false),
        superuser: v["superuser"].as_bool().unwrap_or(false),
        session_id: opt("session_id"),
        perm: opt("perm"),
    }))
}

fn identity_json(i: &Option<w::Identity>) -> Value {
    match i {
        None => Value::Null,
        Some(i) => json!({"subject": i.subject, "staff": i.staff, "superuser": i.superuser, "session_id": i.session_id, "perm": i.perm}),
    }
}

fn protocol_error(e: &Value) -> Result<w::ProtocolError, Bad> {
    let code = mizan_host::ProtocolCode::parse(str_arg(e, "code")?).ok_or_else(|| Bad(format!("protocol code {}", e["code"])))?;
    Ok(w::ProtocolError {
        code: code.into(),
        message: e["message"].as_str().unwrap_or_default().to_string(),
        details_json: e.get("details").map(Value::to_string),
    })
}

fn request(r: &Value) -> Result<w::Request, Bad> {
    let headers = r["headers"].as_array().into_iter().flatten();
    let header = |h: &Value| Ok(w::HttpHeader { name: text(&h[0], "header name")?, value: text(&h[1], "header value")? });
    Ok(w::Request {
        method: str_arg(r, "method")?.to_string(),
        path: str_arg(r, "path")?.to_string(),
        query: r["query"].as_str().unwrap_or_default().to_string(),
        headers: headers.map(header).collect::<Result<_, Bad>>()?,
        body: w::RequestBody::Text(r["body"].as_str().unwrap_or_default().to_string()),
        csrf_token: r["csrf_token"].as_str().map(str::to_string),
    })
}

fn run_outcome(o: &Value) -> Result<w::RunOutcome, Bad> {
    if o.as_str() == Some("missing") {
        return Ok(w::RunOutcome::Missing);
    }
    Ok(w::RunOutcome::Done(if let Some(v) = o.get("ok") {
        w::Outcome::Ok(v.to_string())
    } else if let Some(t) = o.get("exception") {
        w::Outcome::Exception(text(t, "exception")?)
    } else {
        w::Outcome::Error(protocol_error(&o["error"])?)
    }))
}

fn verdict(v: &Value) -> Result<w::Verdict, Bad> {
    Ok(match v.as_str() {
        Some("allow") => w::Verdict::Allow,
        Some("deny") => w::Verdict::Deny,
        Some("missing") => w::Verdict::Missing,
        _ => w::Verdict::Raised(text(&v["raised"], "raised")?),
    })
}

fn arrival(d: &Value) -> Result<w::Arrival, Bad> {
    Ok(w::Arrival {
        request: request(&d["request"])?,
        pending: plan(&d["pending"])?,
        now: d["now"].as_u64().unwrap_or(0),
        identity: identity(&d["identity"])?,
    })
}

fn event(e: &Value) -> Result<w::Event, Bad> {
    match e.as_str() {
        Some("purged") => return Ok(w::Event::Purged),
        Some("stored") => return Ok(w::Event::Stored),
        Some(other) => return Err(Bad(format!("unknown event {other}"))),
        None => {}
    }
    let (name, d) = e.as_object().and_then(|m| m.iter().next()).ok_or_else(|| Bad(format!("bad event {e}")))?;
    Ok(match name.as_str() {
        "refused" => w::Event::Refused(protocol_error(d)?),
        "identity" => w::Event::Identity(identity(d)?),
        "identity_failed" => w::Event::IdentityFailed(text(d, "identity_failed")?),
        "revoked" => w::Event::Revoked(d.as_bool().ok_or_else(|| Bad("revoked must be a boolean".into()))?),
        "predicates" => w::Event::Predicates(
            d.as_array()
                .into_iter()
                .flatten()
                .map(|p| Ok(w::PredicateVerdict { name: text(&p["name"], "name")?, verdict: verdict(&p["verdict"])? }))
                .collect::<Result<_, Bad>>()?,
        ),
        "ran" => w::Event::Ran(w::Ran {
            outcomes: d["outcomes"].as_array().into_iter().flatten().map(run_outcome).collect::<Result<_, Bad>>()?,
            pending: plan(&d["pending"])?,
        }),
        "retried" => w::Event::Retried(plan(d)?),
        "found" => w::Event::Found(w::Found { body: d["body"].as_str().map(str::to_string), ticket: d["ticket"].as_u64() }),
        "lookup_failed" => w::Event::LookupFailed(text(d, "lookup_failed")?),
        "purge_failed" => w::Event::PurgeFailed(text(d, "purge_failed")?),
        "put_failed" => w::Event::PutFailed(text(d, "put_failed")?),
        other => return Err(Bad(format!("unknown event {other}"))),
    })
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("the kernel returned invalid JSON ({e}): {text}"))
}

fn effect(e: w::Effect) -> Value {
    use w::Effect as E;
    match e {
        E::ResolveIdentity => json!("resolve_identity"),
        E::CheckRevoked(sid) => json!({"check_revoked": sid}),
        E::CheckPredicates(c) => json!({"check_predicates": {"predicates": c.predicates, "identity": identity_json(&c.identity)}}),
        E::Run(r) => json!({"run": {
            "calls": r.calls.iter().map(|m| json!({"function": m.function, "args": parsed(&m.args_json)})).collect::<Vec<_>>(),
            "identity": identity_json(&r.identity)}}),
        E::RetryPurge(p) => json!({"retry_purge": plan_json(&p)}),
        E::Lookup(key) => json!({"lookup": key}),
        E::Purge(p) => json!({"purge": plan_json(&p)}),
        E::Put(p) => {
            let c = p.entry;
            let bound = c.bound.map_or(Value::Null, |b| json!({"set": b.set, "max_entries": b.max_entries}));
            json!({"put": {"entry": {"key": c.key, "body": c.body, "index_keys": c.index_keys, "ttl_seconds": c.ttl_seconds,
                                     "bound": bound}, "ticket": p.ticket}})
        }
        E::KeepPending(p) => json!({"keep_pending": plan_json(&p)}),
        E::Log(l) => json!({"log": {"level": match l.level { w::LogLevel::Warning => "warning", w::LogLevel::Error => "error" }, "text": l.text}}),
        E::Respond(r) => json!({"respond": {"status": r.status,
            "headers": r.headers.iter().map(|h| json!([h.name, h.value])).collect::<Vec<_>>(), "body": r.body}}),
    }
}

/// One exchange over `registry` + `config` + `hooks`; one list of effects per step.
pub fn script(kernel: &Kernel, a: &Value, sources: &Value) -> Result<Result<Value, Error>, Bad> {
    let name = str_arg(a, "registry")?;
    let registry_json = match sources.get(name).ok_or_else(|| Bad(format!("unknown registry {name}")))? {
        Value::String(kdl) => match Registry::from_kdl(kernel, kdl).and_then(|r| r.to_json()) {
            Ok(json) => json.to_string(),
            Err(e) => return Ok(Err(e)),
        },
        json => json.to_string(),
    };
    let config = super::config_from(a.get("config"))?;
    let flag = |k: &str| a["hooks"][k].as_bool().unwrap_or(false);
    let hooks = w::Hooks { identity: flag("identity"), revocation: flag("revocation") };
    let server = match ExchangeServer::new(kernel, registry_json, &config, hooks) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // The first event of a script is the arrival: `begin` takes it (its effects open the
    // first step), and a later arrival `arrive` (the exchange serving its next request); every
    // other event goes to `update`.
    let mut exchange: Option<mizan_host::exchange::Exchange> = None;
    let mut out = Vec::new();
    for step in a["steps"].as_array().ok_or_else(|| Bad("steps must be a list".into()))? {
        let mut events = step.as_array().into_iter().flatten().peekable();
        let mut effects = Vec::new();
        let arrived = events.peek().and_then(|e| e.get("arrived")).map(arrival).transpose()?;
        if arrived.is_some() {
            events.next();
        }
        let x = match (exchange.as_mut(), arrived) {
            (Some(x), None) => x,
            (Some(x), Some(next)) => match x.arrive(&next) {
                Ok(first_effects) => {
                    effects = first_effects;
                    x
                }
                Err(e) => return Ok(Err(e)),
            },
            (None, None) => return Err(Bad("a script opens with arrived".into())),
            (None, Some(first)) => match server.begin(&first) {
                Ok((x, first_effects)) => {
                    effects = first_effects;
                    exchange.insert(x)
                }
                Err(e) => return Ok(Err(e)),
            },
        };
        let events = events.map(event).collect::<Result<Vec<_>, Bad>>()?;
        if !events.is_empty() {
            match x.update(&events) {
                Ok(more) => effects.extend(more),
                Err(e) => return Ok(Err(e)),
            }
        }
        out.push(Value::Array(effects.into_iter().map(effect).collect()));
    }
    Ok(Ok(Value::Array(out)))
}
