//! The JSON form of exchange events and effects: what the conformance scenarios
//! (`tests/conformance/exchange`) script and compare. Names are snake_case; a case without data
//! is a bare string (`"purged"`, `"resolve_identity"`).

use super::{Effect, Event, RunOutcome, Verdict};
use crate::error::{Error, Result};
use crate::server::json_form;
use crate::server::redis::{plan_from_json, plan_json};
use serde_json::{Value, json};

fn bad(message: impl Into<String>) -> Error {
    Error::invalid_json(format!("exchange event: {}", message.into()))
}

fn text(v: &Value, what: &str) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| bad(format!("{what} must be a string")))
}

fn plan_or_null(v: &Value) -> Result<Option<crate::index::PurgePlan>> {
    if v.is_null() { Ok(None) } else { plan_from_json(v).map(Some) }
}

fn plan_value(plan: &crate::index::PurgePlan) -> Value {
    serde_json::from_str(&plan_json(plan)).unwrap_or(Value::Null)
}

fn verdict(v: &Value) -> Result<Verdict> {
    Ok(match v {
        Value::String(s) if s == "allow" => Verdict::Allow,
        Value::String(s) if s == "deny" => Verdict::Deny,
        Value::String(s) if s == "missing" => Verdict::Missing,
        Value::Object(m) if m.contains_key("raised") => Verdict::Raised(text(&m["raised"], "raised")?),
        other => return Err(bad(format!("unknown verdict {other}"))),
    })
}

fn run_outcome(v: &Value) -> Result<RunOutcome> {
    if v.as_str() == Some("missing") {
        return Ok(RunOutcome::Missing);
    }
    json_form::outcome_from(v).map(RunOutcome::Done)
}

/// An event from its JSON form.
pub fn event_from(v: &Value) -> Result<Event> {
    if let Some(name) = v.as_str() {
        return match name {
            "purged" => Ok(Event::Purged),
            "stored" => Ok(Event::Stored),
            other => Err(bad(format!("unknown event {other:?}"))),
        };
    }
    let (name, data) = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
        .ok_or_else(|| bad(format!("an event is a name or a one-key object, not {v}")))?;
    Ok(match name.as_str() {
        "arrived" => Event::Arrived(super::Arrival {
            request: json_form::request_from(&data["request"])?,
            pending: plan_or_null(&data["pending"])?,
            now_ms: data["now"].as_u64().unwrap_or(0),
            identity: json_form::identity_from(&data["identity"])?,
        }),
        "refused" => match json_form::outcome_from(&json!({"error": data}))? {
            crate::server::Outcome::Error(e) => Event::Refused(e),
            _ => return Err(bad("refused carries an error")),
        },
        "identity" => Event::Identity(json_form::identity_from(data)?),
        "identity_failed" => Event::IdentityFailed(text(data, "identity_failed")?),
        "revoked" => Event::Revoked(data.as_bool().ok_or_else(|| bad("revoked must be a boolean"))?),
        "predicates" => Event::Predicates(
            data.as_array()
                .ok_or_else(|| bad("predicates must be a list"))?
                .iter()
                .map(|p| Ok((text(&p["name"], "name")?, verdict(&p["verdict"])?)))
                .collect::<Result<_>>()?,
        ),
        "ran" => Event::Ran {
            outcomes: data["outcomes"]
                .as_array()
                .ok_or_else(|| bad("ran.outcomes must be a list"))?
                .iter()
                .map(run_outcome)
                .collect::<Result<_>>()?,
            pending: plan_or_null(&data["pending"])?,
        },
        "retried" => Event::Retried(plan_or_null(data)?),
        "found" => Event::Found { body: data["body"].as_str().map(str::to_string), ticket: data["ticket"].as_u64() },
        "lookup_failed" => Event::LookupFailed(text(data, "lookup_failed")?),
        "purge_failed" => Event::PurgeFailed(text(data, "purge_failed")?),
        "put_failed" => Event::PutFailed(text(data, "put_failed")?),
        other => return Err(bad(format!("unknown event {other:?}"))),
    })
}

/// An effect's JSON form.
pub fn effect(e: &Effect) -> Value {
    match e {
        Effect::ResolveIdentity => json!("resolve_identity"),
        Effect::CheckRevoked(sid) => json!({"check_revoked": sid}),
        Effect::CheckPredicates(c) => {
            json!({"check_predicates": {"predicates": c.predicates, "identity": json_form::identity(&c.identity)}})
        }
        Effect::Run { calls, identity } => {
            let calls: Vec<Value> = calls.iter().map(|m| json!({"function": m.function, "args": m.args})).collect();
            json!({"run": {"calls": calls, "identity": json_form::identity(identity)}})
        }
        Effect::RetryPurge(plan) => json!({"retry_purge": plan_value(plan)}),
        Effect::Lookup(key) => json!({"lookup": key}),
        Effect::Purge(plan) => json!({"purge": plan_value(plan)}),
        Effect::Put { entry, ticket } => json!({"put": {
            "entry": {"key": entry.key, "body": entry.body, "index_keys": entry.index_keys,
                      "ttl_seconds": entry.ttl_seconds, "bound": json_form::bound(&entry.bound)},
            "ticket": ticket}}),
        Effect::KeepPending(plan) => json!({"keep_pending": plan_value(plan)}),
        Effect::Log { level, text } => json!({"log": {"level": level.as_str(), "text": text}}),
        Effect::Respond(r) => json!({"respond": json_form::response(r)}),
    }
}

pub fn effects(list: &[Effect]) -> Value {
    Value::Array(list.iter().map(effect).collect())
}
