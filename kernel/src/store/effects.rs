//! What the store asks its host to do, and what it tells the host changed.

use serde_json::{Map, Value, json};

/// The longest delay a host timer can hold: `setTimeout` fires at once above 2^31 − 1 ms (the
/// TanStack gcTime bug), so `Schedule::delay_ms` never exceeds it; a host whose timer fires
/// before `at_ms` calls `tick` and is simply scheduled again.
pub const MAX_TIMER_DELAY_MS: u64 = (1 << 31) - 1;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// `GET {base}/ctx/{context}/?{query}`; answer with `fetch_ok` / `fetch_err`.
    Fetch { request_id: u64, key: String, context: String, params: Map<String, Value>, query: String },
    /// `POST {base}/call/` with `{"fn", "args"}`; answer with `call_ok` / `call_err`.
    Call { request_id: u64, mutation_id: u64, function: String, args: Value, csrf_token: Option<String> },
    /// `GET {base}/session/`, once at start; answer with `session_ok` (or nothing on failure).
    Session { request_id: u64 },
    /// Call `tick` at `at_ms` (replaces any earlier schedule).
    Schedule { at_ms: u64, delay_ms: u64 },
}

impl Effect {
    pub fn to_json(&self) -> Value {
        match self {
            Effect::Fetch { request_id, key, context, params, query } => json!({
                "type": "fetch", "request_id": request_id, "key": key, "context": context,
                "params": params, "query": query,
            }),
            Effect::Call { request_id, mutation_id, function, args, csrf_token } => json!({
                "type": "call", "request_id": request_id, "mutation_id": mutation_id,
                "fn": function, "args": args, "csrf_token": csrf_token,
            }),
            Effect::Session { request_id } => json!({"type": "session", "request_id": request_id}),
            Effect::Schedule { at_ms, delay_ms } => json!({"type": "schedule", "at_ms": at_ms, "delay_ms": delay_ms}),
        }
    }
}

/// Everything that happened since the last drain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Drained {
    pub effects: Vec<Effect>,
    /// Instance keys whose snapshot changed, in the order they first changed.
    pub changed: Vec<String>,
    /// The number of each changed key's instance (`Store::instance_by_id`) when it was listed,
    /// 0 when it had none (gone). The instance may have gone since, and its key been made anew.
    pub changed_ids: Vec<u64>,
    /// Mutation ids whose state changed.
    pub mutations: Vec<u64>,
}

impl Drained {
    pub fn to_json(&self) -> Value {
        json!({
            "effects": self.effects.iter().map(Effect::to_json).collect::<Vec<_>>(),
            "changed": self.changed,
            "mutations": self.mutations,
        })
    }
}
