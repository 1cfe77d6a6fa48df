//! The Redis origin store's two scripts (KERNEL.md §2.1), kernel constants so the Rust (`redis`
//! crate) and Python (`redis-py`) stores run identical text. Layout (docs/SERVER.md):
//!
//! | key | type | holds | TTL |
//! |---|---|---|---|
//! | `{prefix}ctx:{context}:{hex}` | string | the response body | the entry's TTL |
//! | `{prefix}ctx:{context}:{hex}:idx` | set | the entry's index keys (unprefixed) | the entry's TTL |
//! | `{prefix}idx:{context}[:n\|:v\|:u]:{hex}` | set | entry keys (unprefixed) | ≥ the longest member's TTL |
//!
//! Both scripts touch keys they compute (set members), which Redis allows on a single node; on a
//! cluster use a prefix with a hash tag (`{mizan}:`) so every key lands in one slot.

use crate::index::PurgePlan;
use serde_json::{Value, json};

/// The entry's companion set of index keys: `{entry key}:idx`.
pub const COMPANION_SUFFIX: &str = ":idx";

/// Put one entry atomically. `EVAL script 0 prefix key body ttl_seconds index_key…`.
/// Replaces an entry under the same key (it first leaves its old index sets); every index set
/// lives at least as long as its longest-lived member, so a set left with only expired members
/// expires too (the TTL safety net). Returns 1.
pub const REDIS_PUT_SCRIPT: &str = r#"-- mizan origin cache: put (KERNEL.md 2.1; docs/SERVER.md)
local prefix, key, body = ARGV[1], ARGV[2], ARGV[3]
local ttl = tonumber(ARGV[4])
if not ttl or ttl <= 0 then return 0 end
local companion = prefix .. key .. ':idx'
for _, idx in ipairs(redis.call('SMEMBERS', companion)) do
  redis.call('SREM', prefix .. idx, key)
end
redis.call('UNLINK', companion)
redis.call('SET', prefix .. key, body, 'EX', ttl)
for i = 5, #ARGV do
  local idx = prefix .. ARGV[i]
  redis.call('SADD', idx, key)
  if redis.call('TTL', idx) < ttl then redis.call('EXPIRE', idx, ttl) end
  redis.call('SADD', companion, ARGV[i])
end
if #ARGV >= 5 then redis.call('EXPIRE', companion, ttl) end
return 1
"#;

/// Run a purge plan atomically. `EVAL script 0 plan_json prefix`, with `plan_json` from
/// [`plan_json`]. The scopes are evaluated with SMEMBERS/SISMEMBER exactly as
/// [`PurgePlan::evaluate`] does (an entry passes a term when it is in `param_equals` or not in
/// `has_param`); each purged entry is UNLINKed with its companion and SREMed from every index set
/// its companion lists and from the plan's own sets (which covers members whose companion already
/// expired). Redis deletes a set when its last member goes. Returns the purged entry keys, sorted.
pub const REDIS_PURGE_SCRIPT: &str = r#"-- mizan origin cache: purge (KERNEL.md 2.1; docs/SERVER.md)
local plan = cjson.decode(ARGV[1])
local prefix = ARGV[2] or ''
local doomed, order = {}, {}
local touched = {}
for _, scope in ipairs(plan.scopes or {}) do
  touched[scope.base] = true
  for _, term in ipairs(scope.terms or {}) do
    touched[term.has_param] = true
    touched[term.param_equals] = true
  end
  for _, entry in ipairs(redis.call('SMEMBERS', prefix .. scope.base)) do
    if not doomed[entry] then
      local pass = true
      for _, term in ipairs(scope.terms or {}) do
        if redis.call('SISMEMBER', prefix .. term.param_equals, entry) == 0
          and redis.call('SISMEMBER', prefix .. term.has_param, entry) == 1 then
          pass = false
          break
        end
      end
      if pass then
        doomed[entry] = true
        order[#order + 1] = entry
      end
    end
  end
end
for _, entry in ipairs(order) do
  local companion = prefix .. entry .. ':idx'
  for _, idx in ipairs(redis.call('SMEMBERS', companion)) do
    redis.call('SREM', prefix .. idx, entry)
  end
  for idx, _ in pairs(touched) do
    redis.call('SREM', prefix .. idx, entry)
  end
  redis.call('UNLINK', prefix .. entry, companion)
end
table.sort(order)
return order
"#;

/// The plan as the purge script's `ARGV[1]`:
/// `{"scopes":[{"base":…,"terms":[{"has_param":…,"param_equals":…}]}]}`.
pub fn plan_json(plan: &PurgePlan) -> String {
    let scopes: Vec<Value> = plan
        .scopes
        .iter()
        .map(|s| {
            let terms: Vec<Value> =
                s.terms.iter().map(|t| json!({"has_param": t.has_param, "param_equals": t.param_equals})).collect();
            json!({"base": s.base, "terms": terms})
        })
        .collect();
    json!({ "scopes": scopes }).to_string()
}

/// Parse [`plan_json`]'s form back (hosts that hold plans as JSON text, and the conformance runner).
pub fn plan_from_json(value: &Value) -> crate::Result<PurgePlan> {
    use crate::error::Error;
    use crate::index::{PurgeScope, PurgeTerm};
    let bad = |m: &str| Error::invalid_json(format!("purge plan: {m}"));
    let text = |v: &Value, k: &str| -> crate::Result<String> {
        v.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(|| bad(&format!("\"{k}\" must be a string")))
    };
    let scopes = value.get("scopes").and_then(Value::as_array).ok_or_else(|| bad("\"scopes\" must be a list"))?;
    let mut out = PurgePlan::default();
    for s in scopes {
        let terms = match s.get("terms") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(terms)) => terms
                .iter()
                .map(|t| Ok(PurgeTerm { has_param: text(t, "has_param")?, param_equals: text(t, "param_equals")? }))
                .collect::<crate::Result<_>>()?,
            Some(_) => return Err(bad("\"terms\" must be a list")),
        };
        out.scopes.push(PurgeScope { base: text(s, "base")?, terms });
    }
    Ok(out)
}
