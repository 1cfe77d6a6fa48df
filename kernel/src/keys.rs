//! Origin-cache keys (KERNEL.md §2): `ctx:{context}:{hex}` where hex is HMAC-SHA256 over the
//! canonical JSON message `{"a"?,"c","p","r","u"?}`. Param values are stringified, so `5` and
//! `"5"` (a query string and a typed mutation argument) give the same key. `a` is the caller's
//! [`Privilege`] when it has any (KERNEL.md §8: a hit never outlives the authorization that
//! produced it); a plain user's key has none, so it is §2's key exactly.

use crate::canon::{self, write_json_string};
use crate::error::{Error, Result};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Below this many bytes a secret is accepted but reported by [`check_secret`].
pub const RECOMMENDED_SECRET_BYTES: usize = 32;

/// What one cache entry is keyed by. `user` is the identity's subject, already stringified;
/// `None` is a public entry.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInput {
    pub context: String,
    pub params: Map<String, Value>,
    pub user: Option<String>,
    pub rev: u64,
}

/// What an identity may do beyond being its subject: staff, superuser, a token's permission-set
/// hash (`perm`). A function may read them (`if identity.staff`), so an answer produced under one
/// privilege is keyed apart from the same subject's answer under another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Privilege {
    pub staff: bool,
    pub superuser: bool,
    pub perm: Option<String>,
}

impl Privilege {
    /// A plain user: no flag, no permission set. Its keys carry no `a`.
    pub fn is_plain(&self) -> bool {
        !self.staff && !self.superuser && self.perm.is_none()
    }

    /// `"a":{"perm"?,"staff","superuser"},` — canonical (keys sorted), first in the message.
    fn write(&self, out: &mut String) {
        out.push_str("\"a\":{");
        if let Some(perm) = &self.perm {
            out.push_str("\"perm\":");
            write_json_string(out, perm);
            out.push(',');
        }
        out.push_str(if self.staff { "\"staff\":true," } else { "\"staff\":false," });
        out.push_str(if self.superuser { "\"superuser\":true}," } else { "\"superuser\":false}," });
    }
}

/// A user id in its one spelling (KERNEL.md §8: `01` and `1` are one user): an integer subject
/// (`-?[0-9]+`) loses its leading zeros (`-0` is `0`), so a session that says `01`, a token that
/// says `1` and `forget_user(1)` name the same user. Any other subject (a UUID, a username) is
/// kept exactly as given.
pub fn canonical_subject(subject: &str) -> std::borrow::Cow<'_, str> {
    let (sign, digits) = match subject.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", subject),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return std::borrow::Cow::Borrowed(subject);
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        return std::borrow::Cow::Borrowed("0");
    }
    if trimmed.len() == digits.len() {
        return std::borrow::Cow::Borrowed(subject);
    }
    std::borrow::Cow::Owned(format!("{sign}{trimmed}"))
}

impl KeyInput {
    pub fn new(context: impl Into<String>, params: Map<String, Value>) -> Self {
        KeyInput { context: context.into(), params, user: None, rev: 0 }
    }

    /// Build from host-supplied JSON pieces: params as a JSON object text, user as JSON text
    /// (a string or a number; `null` means public).
    pub fn from_json(context: &str, params_json: &str, user_json: Option<&str>, rev: u64) -> Result<Self> {
        let params = canon::parse_object(params_json, "params")?;
        let user = match user_json {
            Some(text) => user_subject(&canon::parse_json(text, "user")?)?,
            None => None,
        };
        Ok(KeyInput { context: context.to_string(), params, user, rev })
    }

    /// The HMAC message: canonical JSON of `{"c": context, "p": {k: stringify(v)}, "r": rev, "u"?: user}`.
    pub fn message(&self) -> String {
        self.message_with(&Privilege::default())
    }

    /// The message of this input as seen by a caller with `privilege`: `{"a"?: privilege, "c", …}`.
    pub fn message_with(&self, privilege: &Privilege) -> String {
        let mut out = String::with_capacity(32 + self.context.len() + 16 * self.params.len());
        out.push('{');
        if !privilege.is_plain() {
            privilege.write(&mut out);
        }
        out.push_str("\"c\":");
        write_json_string(&mut out, &self.context);
        out.push_str(",\"p\":{");
        for (i, (k, v)) in canon::stringified_params(&self.params).iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_string(&mut out, k);
            out.push(':');
            write_json_string(&mut out, v);
        }
        out.push_str("},\"r\":");
        out.push_str(&self.rev.to_string());
        if let Some(user) = &self.user {
            out.push_str(",\"u\":");
            write_json_string(&mut out, user);
        }
        out.push('}');
        out
    }
}

/// A user subject from JSON: a string as is, a number stringified, `null` for none.
pub fn user_subject(value: &Value) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(canonical_subject(s).into_owned())),
        Value::Number(_) => Ok(Some(canon::stringify(value))),
        other => Err(Error::invalid_argument(format!(
            "user must be a string, a number or null, got {}",
            canon::json_kind(other)
        ))),
    }
}

/// Problems with a secret that do not stop it from being used (today: shorter than 32 bytes).
/// An empty secret is an error.
pub fn check_secret(secret: &str) -> Result<Vec<String>> {
    if secret.is_empty() {
        return Err(Error::invalid_argument("the cache secret must not be empty"));
    }
    let mut warnings = Vec::new();
    if secret.len() < RECOMMENDED_SECRET_BYTES {
        warnings.push(format!(
            "the cache secret is {} bytes; use at least {RECOMMENDED_SECRET_BYTES} random bytes",
            secret.len()
        ));
    }
    Ok(warnings)
}

/// Derives keys under one secret. Built once per secret: the HMAC key schedule is computed here,
/// not per key.
#[derive(Clone)]
pub struct Keyer {
    mac: HmacSha256,
}

impl Keyer {
    pub fn new(secret: &str) -> Result<Self> {
        check_secret(secret)?;
        let mac = HmacSha256::new_from_slice(secret.as_bytes())
            .map_err(|_| Error::invalid_argument("the cache secret cannot be used as an HMAC key"))?;
        Ok(Keyer { mac })
    }

    /// Lowercase hex HMAC-SHA256 of `message`.
    pub fn hmac_hex(&self, message: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn derive(&self, input: &KeyInput) -> String {
        self.derive_for(input, &Privilege::default())
    }

    /// The key of `input` for a caller with `privilege` (the same as [`derive`](Self::derive) for
    /// a plain user).
    pub fn derive_for(&self, input: &KeyInput, privilege: &Privilege) -> String {
        format!("ctx:{}:{}", input.context, self.hmac_hex(&input.message_with(privilege)))
    }

    /// Many keys in one call: `items_json` is a JSON array of `{"context", "params"?, "user"?, "rev"?}`.
    pub fn derive_batch_json(&self, items_json: &str) -> Result<Vec<String>> {
        parse_key_inputs(items_json)?.iter().map(|input| Ok(self.derive(input))).collect()
    }
}

/// Derive one key: the convenience form of [`Keyer::derive`].
pub fn derive_cache_key(secret: &str, input: &KeyInput) -> Result<String> {
    Ok(Keyer::new(secret)?.derive(input))
}

/// The key under each secret, current secret first, so a host can read through old keys during
/// a rotation window.
pub fn derive_rotation(secrets: &[String], input: &KeyInput) -> Result<Vec<String>> {
    if secrets.is_empty() {
        return Err(Error::invalid_argument("rotation needs at least one secret"));
    }
    secrets.iter().map(|s| derive_cache_key(s, input)).collect()
}

/// Parse `[{"context", "params"?, "user"?, "rev"?}, …]`.
pub fn parse_key_inputs(items_json: &str) -> Result<Vec<KeyInput>> {
    let items = match canon::parse_json(items_json, "items")? {
        Value::Array(items) => items,
        other => {
            return Err(Error::invalid_json(format!(
                "items must be a JSON array, got {}",
                canon::json_kind(&other)
            )));
        }
    };
    items.iter().enumerate().map(|(i, item)| key_input_from_value(item, i)).collect()
}

fn key_input_from_value(item: &Value, index: usize) -> Result<KeyInput> {
    let at = |msg: String| Error::invalid_json(format!("items[{index}]: {msg}"));
    let obj = item.as_object().ok_or_else(|| at("must be an object".into()))?;
    let context = obj
        .get("context")
        .and_then(Value::as_str)
        .ok_or_else(|| at("\"context\" must be a string".into()))?;
    let params = match obj.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(at("\"params\" must be an object".into())),
    };
    let user = match obj.get("user") {
        None => None,
        Some(v) => user_subject(v).map_err(|e| at(e.message))?,
    };
    let rev = match obj.get("rev") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| at("\"rev\" must be a non-negative integer".into()))?,
    };
    Ok(KeyInput { context: context.to_string(), params, user, rev })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PIN: &str = "test-pin-secret-that-is-32bytes!";

    fn input(context: &str, params: Value, user: Option<&str>, rev: u64) -> KeyInput {
        KeyInput {
            context: context.into(),
            params: params.as_object().cloned().unwrap_or_default(),
            user: user.map(str::to_string),
            rev,
        }
    }

    #[test]
    fn pinned_seed_keys() {
        let k = Keyer::new(PIN).unwrap();
        assert_eq!(
            k.derive(&input("user", json!({"user_id": "5"}), None, 0)),
            "ctx:user:605a1ca5ad5994e9b765c8d1b330474c2a0d51a7b8fbbdc402f992da7ba902f6"
        );
        assert_eq!(
            k.derive(&input("user", json!({"user_id": "5"}), Some("5"), 0)),
            "ctx:user:30fc08eb46ee4ff2cf7d317e97dca90fd616511e0587304416f71dc863338dc2"
        );
    }

    #[test]
    fn subjects_have_one_spelling() {
        for (given, canonical) in [("1", "1"), ("01", "1"), ("007", "7"), ("0", "0"), ("000", "0"), ("-0", "0"), ("-012", "-12"),
            ("abc", "abc"), ("0a", "0a"), ("", ""), ("-", "-"), (" 1", " 1"), ("uuid-0001", "uuid-0001")] {
            assert_eq!(canonical_subject(given), canonical, "{given:?}");
        }
    }

    #[test]
    fn privilege_is_keyed_and_a_plain_user_keeps_the_spec_key() {
        let k = Keyer::new(PIN).unwrap();
        let i = input("user", json!({"user_id": "5"}), Some("5"), 0);
        assert_eq!(k.derive_for(&i, &Privilege::default()), k.derive(&i));
        let staff = Privilege { staff: true, ..Privilege::default() };
        assert_eq!(i.message_with(&staff), r#"{"a":{"staff":true,"superuser":false},"c":"user","p":{"user_id":"5"},"r":0,"u":"5"}"#);
        let perm = Privilege { perm: Some("h\"1".into()), ..Privilege::default() };
        assert_eq!(i.message_with(&perm), r#"{"a":{"perm":"h\"1","staff":false,"superuser":false},"c":"user","p":{"user_id":"5"},"r":0,"u":"5"}"#);
        assert_ne!(k.derive_for(&i, &staff), k.derive(&i));
        assert_ne!(k.derive_for(&i, &staff), k.derive_for(&i, &perm));
    }

    #[test]
    fn key_properties() {
        let k = Keyer::new(PIN).unwrap();
        let base = k.derive(&input("user", json!({"a": "1", "b": "2"}), None, 0));
        assert_eq!(base, k.derive(&input("user", json!({"b": 2, "a": 1}), None, 0)));
        assert_ne!(base, k.derive(&input("user", json!({"a": "1", "b": "2"}), Some("1"), 0)));
        assert_ne!(base, k.derive(&input("user", json!({"a": "1", "b": "2"}), None, 1)));
        assert_ne!(base, k.derive(&input("users", json!({"a": "1", "b": "2"}), None, 0)));
        // No delimiter collisions.
        assert_ne!(
            k.derive(&input("user", json!({"id": "3"}), Some("12"), 0)),
            k.derive(&input("user1", json!({"id": "3"}), Some("2"), 0))
        );
        let len = "ctx:user:".len() + 64;
        assert_eq!(base.len(), len);
    }

    #[test]
    fn secrets_empty_refused_short_warned() {
        assert!(Keyer::new("").is_err());
        assert_eq!(check_secret("short").unwrap().len(), 1);
        assert!(check_secret(PIN).unwrap().is_empty());
    }

    #[test]
    fn rotation_current_first() {
        let i = input("user", json!({"user_id": "5"}), None, 0);
        let keys = derive_rotation(&[PIN.to_string(), "old-secret".to_string()], &i).unwrap();
        assert_eq!(keys[0], derive_cache_key(PIN, &i).unwrap());
        assert_eq!(keys[1], derive_cache_key("old-secret", &i).unwrap());
        assert!(derive_rotation(&[], &i).is_err());
    }

    #[test]
    fn batch_matches_single_and_rejects_bad_items() {
        let k = Keyer::new(PIN).unwrap();
        let keys = k
            .derive_batch_json(r#"[{"context":"user","params":{"user_id":5}},{"context":"user","params":{"user_id":"5"},"user":5}]"#)
            .unwrap();
        assert_eq!(keys[0], k.derive(&input("user", json!({"user_id": "5"}), None, 0)));
        assert_eq!(keys[1], k.derive(&input("user", json!({"user_id": "5"}), Some("5"), 0)));
        assert!(k.derive_batch_json(r#"[{"params":{}}]"#).is_err());
        assert!(k.derive_batch_json(r#"[{"context":"c","rev":-1}]"#).is_err());
        assert!(k.derive_batch_json(r#"[{"context":"c","user":{"id":1}}]"#).is_err());
        assert!(k.derive_batch_json("{}").is_err());
    }
}
