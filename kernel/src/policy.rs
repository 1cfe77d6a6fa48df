//! The effective origin-cache policy of a context (KERNEL.md §2): `rev` is the largest `rev` of
//! its functions; `cache` is off if any function says `cache=False`, else the smallest TTL, else
//! the host's safety TTL. (The seed computed `min(60, True)` and never applied the TTL.)

use crate::error::{Error, Result};
use crate::ir::{CacheSetting, Registry};

/// The safety TTL a host applies when no function of a context names one: 24 hours.
pub const DEFAULT_SAFETY_TTL_SECONDS: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextPolicy {
    pub rev: u64,
    /// `false` when some member says `cache=False`.
    pub cacheable: bool,
    /// The smallest TTL any member names, if any.
    pub ttl_seconds: Option<u64>,
}

impl ContextPolicy {
    /// How long to keep an entry: `None` means do not cache; otherwise never above `safety_ttl`.
    pub fn effective_ttl(&self, safety_ttl: u64) -> Option<u64> {
        if !self.cacheable {
            return None;
        }
        Some(self.ttl_seconds.map_or(safety_ttl, |t| t.min(safety_ttl)))
    }
}

impl Registry {
    pub fn context_policy(&self, context: &str) -> Result<ContextPolicy> {
        if self.context(context).is_none() {
            return Err(Error::not_found(format!("no context named `{context}`")));
        }
        let mut policy = ContextPolicy { rev: 0, cacheable: true, ttl_seconds: None };
        for f in self.members(context) {
            policy.rev = policy.rev.max(f.rev);
            match f.cache {
                Some(CacheSetting::Never) => policy.cacheable = false,
                Some(CacheSetting::Ttl(t)) => policy.ttl_seconds = Some(policy.ttl_seconds.map_or(t, |m| m.min(t))),
                None => {}
            }
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_ttl_max_rev_and_never_wins() {
        let r = Registry::from_json(
            r#"{"functions":{
                "a":{"context":"c","rev":1,"cache":60},
                "b":{"context":"c","rev":3,"cache":true},
                "d":{"context":"c","cache":120},
                "x":{"context":"n","cache":30},
                "y":{"context":"n","cache":false},
                "z":{"context":"plain"}}}"#,
        )
        .unwrap();
        let c = r.context_policy("c").unwrap();
        assert_eq!(c, ContextPolicy { rev: 3, cacheable: true, ttl_seconds: Some(60) });
        // Seed defect: min(60, True) == True. Here `cache=True` means "default", not a TTL of 1.
        assert_eq!(c.effective_ttl(DEFAULT_SAFETY_TTL_SECONDS), Some(60));
        assert_eq!(r.context_policy("n").unwrap().effective_ttl(DEFAULT_SAFETY_TTL_SECONDS), None);
        assert_eq!(r.context_policy("plain").unwrap().effective_ttl(500), Some(500));
        assert!(r.context_policy("missing").is_err());
    }
}
