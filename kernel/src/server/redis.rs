//! The Redis origin store's two scripts (KERNEL.md §2.1), kernel constants so the Rust (`redis`
//! crate) and Python (`redis-py`) stores run identical text. Layout (docs/SERVER.md):
//!
//! | key | type | holds | TTL |
//! |---|---|---|---|
//! | `{prefix}ctx:{context}:{hex}` | string | the response body | the entry's TTL |
//! | `{prefix}ctx:{context}:{hex}:idx` | set | the entry's index keys (unprefixed) | the entry's TTL |
//! | `{prefix}idx:{context}[:n\|:v\|:u\|:a]:{hex}` | set | entry keys (unprefixed) | ≥ the longest member's TTL |
//! | `{prefix}purges` | counter | purges started (the tickets) | none |
//! | `{prefix}mark:{set}` | counter | the counter of the latest purge of `set` | a day |
//!
//! Both scripts touch keys they compute (set members), which Redis allows on a single node; on a
//! cluster use a prefix with a hash tag (`{mizan}:`) so every key lands in one slot.

use crate::index::PurgePlan;
use serde_json::{Value, json};

/// The entry's companion set of index keys: `{entry key}:idx`.
pub const COMPANION_SUFFIX: &str = ":idx";

/// How many set members one purge step looks at by default: one step runs in a few
/// milliseconds, so a purge of a large context never blocks Redis for long (docs/SERVER.md).
pub const DEFAULT_PURGE_BATCH: u32 = super::origin::DEFAULT_PURGE_STEP as u32;

/// How long a purge's mark fences puts that read before it, seconds: longer than any fetch.
pub const MARK_TTL_SECONDS: u64 = 86_400;

/// Put one entry atomically.
/// `EVALSHA put 0 prefix key body ttl_seconds ticket bound_set bound_max index_key…`.
///
/// - `ticket`: the value of `{prefix}purges` when the fetch read (`MGET {prefix}key
///   {prefix}purges`); the entry is not stored when one of its sets was marked by a purge that
///   started after that (`{prefix}mark:{set}` greater than the ticket). Empty: no check.
/// - `bound_set`, `bound_max`: the entry is not stored when that set (one of its index keys)
///   already holds `bound_max` members and the key is not one of them; members whose entry
///   expired are dropped first (16 at most). Empty / 0: no bound.
///
/// Replaces an entry under the same key (it first leaves its old index sets); every index set
/// lives at least as long as its longest-lived member, so a set left with only expired members
/// expires too (the TTL safety net). Returns 1 when stored, 0 when not.
pub const REDIS_PUT_SCRIPT: &str = r#"-- mizan origin cache: put (KERNEL.md 2.1; docs/SERVER.md)
local prefix, key, body = ARGV[1], ARGV[2], ARGV[3]
local ttl = tonumber(ARGV[4])
if not ttl or ttl <= 0 then return 0 end
local ticket = tonumber(ARGV[5])
if ticket then
  for i = 8, #ARGV do
    local mark = tonumber(redis.call('GET', prefix .. 'mark:' .. ARGV[i]))
    if mark and mark > ticket then return 0 end
  end
end
local bound_set, bound_max = ARGV[6] or '', tonumber(ARGV[7]) or 0
if bound_set ~= '' and bound_max > 0 then
  local set = prefix .. bound_set
  if redis.call('SISMEMBER', set, key) == 0 and redis.call('SCARD', set) >= bound_max then
    for _, member in ipairs(redis.call('SRANDMEMBER', set, 16)) do
      if redis.call('EXISTS', prefix .. member) == 0 then redis.call('SREM', set, member) end
    end
    if redis.call('SCARD', set) >= bound_max then return 0 end
  end
end
local companion = prefix .. key .. ':idx'
for _, idx in ipairs(redis.call('SMEMBERS', companion)) do
  redis.call('SREM', prefix .. idx, key)
end
redis.call('UNLINK', companion)
redis.call('SET', prefix .. key, body, 'EX', ttl)
for i = 8, #ARGV do
  local idx = prefix .. ARGV[i]
  redis.call('SADD', idx, key)
  if redis.call('TTL', idx) < ttl then redis.call('EXPIRE', idx, ttl) end
  redis.call('SADD', companion, ARGV[i])
end
if #ARGV >= 8 then redis.call('EXPIRE', companion, ttl) end
return 1
"#;

/// Run one bounded step of a purge plan. `EVALSHA purge 0 plan_json prefix cursor limit`, with
/// `plan_json` from [`plan_json`], `cursor` empty for the first step, `limit` the most set members
/// to look at ([`DEFAULT_PURGE_BATCH`]). Returns `[next_cursor, [purged keys, sorted]]`; the host
/// calls again with `next_cursor` until it is empty. Each step is atomic; the steps together
/// purge exactly what [`PurgePlan::evaluate`] would (an entry put meanwhile by a fetch that read
/// after the purge began is fresh, and may stay or go).
///
/// The first step raises `{prefix}purges` and marks each scope's base set
/// (`{prefix}mark:{base}`, expiring after [`MARK_TTL_SECONDS`]), which fences the puts of fetches
/// that read before the purge (see the put script). Then, scope by scope, `SSCAN` the base set; a
/// member passes a term when `SISMEMBER param_equals` or not `SISMEMBER has_param` — exactly
/// `PurgePlan::evaluate`. A purged entry is `SREM`ed from every set its companion lists and from
/// its scope's own sets (which covers members whose companion already expired), and `UNLINK`ed
/// with its companion. Redis deletes a set when its last member goes.
pub const REDIS_PURGE_SCRIPT: &str = r#"-- mizan origin cache: purge, one bounded step (KERNEL.md 2.1; docs/SERVER.md)
local plan = cjson.decode(ARGV[1])
local prefix = ARGV[2] or ''
local cursor = ARGV[3] or ''
local budget = tonumber(ARGV[4]) or 256 -- DEFAULT_PURGE_BATCH
if budget < 1 then budget = 1 end
local scopes = plan.scopes or {}
if cursor == '' then
  local n = redis.call('INCR', prefix .. 'purges')
  for _, scope in ipairs(scopes) do
    redis.call('SET', prefix .. 'mark:' .. scope.base, n, 'EX', 86400) -- MARK_TTL_SECONDS
  end
  cursor = '1:0'
end
local at, scan = string.match(cursor, '^(%d+):(%d+)$')
at = tonumber(at) or (#scopes + 1)
local purged = {}
while at <= #scopes and budget > 0 do
  local scope = scopes[at]
  local terms = scope.terms or {}
  local reply = redis.call('SSCAN', prefix .. scope.base, scan, 'COUNT', budget)
  scan = reply[1]
  budget = budget - #reply[2]
  for _, entry in ipairs(reply[2]) do
    local pass = true
    for _, term in ipairs(terms) do
      if redis.call('SISMEMBER', prefix .. term.param_equals, entry) == 0
        and redis.call('SISMEMBER', prefix .. term.has_param, entry) == 1 then
        pass = false
        break
      end
    end
    if pass then
      local companion = prefix .. entry .. ':idx'
      for _, idx in ipairs(redis.call('SMEMBERS', companion)) do
        redis.call('SREM', prefix .. idx, entry)
      end
      redis.call('SREM', prefix .. scope.base, entry)
      for _, term in ipairs(terms) do
        redis.call('SREM', prefix .. term.has_param, entry)
        redis.call('SREM', prefix .. term.param_equals, entry)
      end
      redis.call('UNLINK', prefix .. entry, companion)
      purged[#purged + 1] = entry
    end
  end
  if scan == '0' then
    at = at + 1
  end
end
local next_cursor = ''
if at <= #scopes then next_cursor = at .. ':' .. scan end
table.sort(purged)
return {next_cursor, purged}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_carry_the_documented_constants() {
        assert!(REDIS_PURGE_SCRIPT.contains(&format!("or {DEFAULT_PURGE_BATCH} -- DEFAULT_PURGE_BATCH")));
        assert!(REDIS_PURGE_SCRIPT.contains(&format!("'EX', {MARK_TTL_SECONDS}) -- MARK_TTL_SECONDS")));
    }
}
