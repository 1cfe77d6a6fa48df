//! Names the generators derive from IR names, and the check that two generated names never
//! collide (with each other, with the language's reserved words, or with what a file imports).

use mizan_kernel::{Error, ErrorCode, Result};
use std::collections::BTreeMap;

/// `user_profile` → `UserProfile`, `userProfile` → `UserProfile`: the first letter of every
/// `_`-separated part upper-cased, the rest kept. A name that is only underscores stays as is.
pub fn pascal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() { name.to_string() } else { out }
}

/// An enum value as an identifier part: `in-progress` → `InProgress`, `2x` → `V2x`, `` → `Empty`.
pub fn pascal_value(value: &str) -> String {
    let mut out = String::new();
    for part in value.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    match out.chars().next() {
        None => "Empty".to_string(),
        Some(c) if !c.is_alphabetic() => format!("V{out}"),
        Some(_) => out,
    }
}

/// Top-level names of one generated file: each claimed once, none reserved.
pub struct Names {
    target: &'static str,
    reserved: &'static [&'static str],
    claimed: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl Names {
    pub fn new(target: &'static str, reserved: &'static [&'static str]) -> Self {
        Names { target, reserved, claimed: BTreeMap::new(), problems: Vec::new() }
    }

    /// Claim `name` for `origin` (e.g. "the params of context `user`").
    pub fn claim(&mut self, name: &str, origin: impl Into<String>) {
        let origin = origin.into();
        if self.reserved.contains(&name) {
            self.problems.push(format!("{origin} would be named `{name}`, which is reserved in the {} target", self.target));
        } else if let Some(first) = self.claimed.get(name) {
            self.problems.push(format!("{origin} and {first} would both be named `{name}` in the {} target", self.target));
        } else {
            self.claimed.insert(name.to_string(), origin);
        }
    }

    /// Every collision at once, as one `invalid-registry` error.
    pub fn finish(self) -> Result<()> {
        if self.problems.is_empty() {
            return Ok(());
        }
        let message = format!("cannot generate the {} target: {}", self.target, self.problems[0]);
        Err(Error::new(ErrorCode::InvalidRegistry, message).with_details(serde_json::json!({ "problems": self.problems })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(pascal("user_profile"), "UserProfile");
        assert_eq!(pascal("userProfile"), "UserProfile");
        assert_eq!(pascal("__x__y"), "XY");
        assert_eq!(pascal("_"), "_");
        assert_eq!(pascal("élan_vital"), "ÉlanVital");
        assert_eq!(pascal_value("in-progress"), "InProgress");
        assert_eq!(pascal_value("2x"), "V2x");
        assert_eq!(pascal_value("--"), "Empty");
    }

    #[test]
    fn collisions_and_reserved_words_are_reported_together() {
        let mut names = Names::new("x", &["Promise"]);
        names.claim("UserParams", "the params of context `user`");
        names.claim("UserParams", "the type `UserParams`");
        names.claim("Promise", "the type `Promise`");
        let e = names.finish().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRegistry);
        assert!(e.message.contains("the type `UserParams` and the params of context `user`"), "{}", e.message);
        assert_eq!(e.details.unwrap()["problems"].as_array().unwrap().len(), 2);
    }
}
