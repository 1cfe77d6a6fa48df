//! Tokens (KERNEL.md §10): the MWT (`X-Mizan-Token`) and the JWT access/refresh pair. Both are
//! JWS compact HS256 tokens, written with `hmac` + `sha2` + `base64` directly: the `jsonwebtoken`
//! crate reads the system clock in its validation and, for wasm32-unknown-unknown, pulls `js-sys`
//! and `getrandom` (imports the component must not have). Here the host passes `now_ms`.
//!
//! Verification: three dot-separated base64url parts (no padding), header `alg` exactly `HS256`
//! (so `none` and every other algorithm are refused before any signature work), header `typ`
//! naming the token kind (`mwt+jwt` for the MWT, `JWT` plus a `type` claim for access/refresh, so
//! one kind never passes as another even under one secret), the signature checked in constant time
//! (`Mac::verify_slice`), then the claims: `exp` required and compared with `now`, `nbf` honoured,
//! leeway only when configured.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::canon::write_json_string;
use crate::error::Error;

type HmacSha256 = Hmac<Sha256>;

/// Longest token text looked at; anything longer is malformed (a cheap bound on work per request).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
pub const DEFAULT_MWT_TTL_SECONDS: u64 = 300;
pub const DEFAULT_ACCESS_TTL_SECONDS: u64 = 300;
pub const DEFAULT_REFRESH_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

const MWT_TYP: &str = "mwt+jwt";
const JWT_TYP: &str = "JWT";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Mwt,
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Mwt => "mwt",
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    fn typ(self) -> &'static str {
        match self {
            TokenKind::Mwt => MWT_TYP,
            TokenKind::Access | TokenKind::Refresh => JWT_TYP,
        }
    }
}

/// Why a token was refused. Every variant is a 401 on the wire; the reason goes in `details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts of JSON objects, or over the size bound.
    Malformed,
    /// `alg` other than `HS256` (including `none`).
    Algorithm,
    /// `typ` or the `type` claim names another kind of token.
    WrongKind,
    Signature,
    MissingExp,
    Expired,
    NotYetValid,
    /// A claim of the wrong type, or a required claim missing (`sub`, `sid`).
    Claims,
    /// The request carries the credential more than once (two header lines, or one line with a
    /// comma, which is how proxies and WSGI servers join repeated lines): which one is meant is
    /// ambiguous, so neither is taken. Only the engine reports it.
    Ambiguous,
}

impl TokenError {
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Algorithm => "algorithm",
            TokenError::WrongKind => "wrong-kind",
            TokenError::Signature => "signature",
            TokenError::MissingExp => "missing-exp",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not-yet-valid",
            TokenError::Claims => "claims",
            TokenError::Ambiguous => "ambiguous",
        }
    }

    /// As a kernel error: `invalid-argument` with `{"reason"}`.
    pub fn to_error(self) -> Error {
        Error::invalid_argument(format!("invalid token: {}", self.reason()))
            .with_details(serde_json::json!({"reason": self.reason()}))
    }
}

/// What a token says. `perm` is the MWT's permission-set hash; `session_id` the JWT's `sid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub kind: TokenKind,
    pub subject: String,
    pub staff: bool,
    pub superuser: bool,
    pub perm: Option<String>,
    pub session_id: Option<String>,
    /// Seconds since the epoch.
    pub issued_at: u64,
    pub expires_at: u64,
}

/// A signing key for one kind of token.
fn mac(secret: &str) -> Result<HmacSha256, Error> {
    if secret.is_empty() {
        return Err(Error::invalid_argument("a token secret must not be empty"));
    }
    HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| Error::invalid_argument("the token secret cannot be used as an HMAC key"))
}

fn push_bool(out: &mut String, key: &str, value: bool) {
    out.push_str(&format!(",\"{key}\":{value}"));
}

/// Sign claims. The payload's keys are in a fixed order: `sub`, `sid`?, `staff`, `super`,
/// `perm`?, `type`?, `iat`, `exp`.
pub fn mint(secret: &str, claims: &Claims) -> Result<String, Error> {
    let mac = mac(secret)?;
    if claims.subject.is_empty() {
        return Err(Error::invalid_argument("a token needs a non-empty subject"));
    }
    let mut header = String::from("{\"alg\":\"HS256\",\"typ\":");
    write_json_string(&mut header, claims.kind.typ());
    header.push('}');
    let mut payload = String::from("{\"sub\":");
    write_json_string(&mut payload, &claims.subject);
    if claims.kind != TokenKind::Mwt {
        let sid = claims.session_id.as_deref().unwrap_or_default();
        if sid.is_empty() {
            return Err(Error::invalid_argument("an access or refresh token needs a non-empty session id"));
        }
        payload.push_str(",\"sid\":");
        write_json_string(&mut payload, sid);
    }
    push_bool(&mut payload, "staff", claims.staff);
    push_bool(&mut payload, "super", claims.superuser);
    if claims.kind == TokenKind::Mwt {
        if let Some(perm) = &claims.perm {
            // `verify` refuses an empty claim: never mint one (found by fuzzing).
            if perm.is_empty() {
                return Err(Error::invalid_argument("an MWT's perm must not be empty (leave it out instead)"));
            }
            payload.push_str(",\"perm\":");
            write_json_string(&mut payload, perm);
        }
    } else {
        payload.push_str(",\"type\":");
        write_json_string(&mut payload, claims.kind.as_str());
    }
    payload.push_str(&format!(",\"iat\":{},\"exp\":{}}}", claims.issued_at, claims.expires_at));
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let mut mac = mac;
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(format!("{signing_input}.{signature}"))
}

fn decode_object(part: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    match crate::canon::parse_json_bytes(&bytes) {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(TokenError::Malformed),
    }
}

/// A NumericDate in whole seconds (fractions truncated; negative is 0).
fn numeric_date(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|_| 0)).or_else(|| n.as_f64().map(|f| if f <= 0.0 { 0 } else { f as u64 })),
        _ => None,
    }
}

fn flag(claims: &Map<String, Value>, key: &str) -> Result<bool, TokenError> {
    match claims.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(TokenError::Claims),
    }
}

fn text(claims: &Map<String, Value>, key: &str) -> Result<Option<String>, TokenError> {
    match claims.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::Claims),
    }
}

/// Verify a token of `kind` at `now_ms`, allowing `leeway_seconds` on `exp` and `nbf`.
/// An unusable (empty) secret refuses every token.
pub fn verify(secret: &str, token: &str, kind: TokenKind, now_ms: u64, leeway_seconds: u64) -> Result<Claims, TokenError> {
    let mut mac = mac(secret).map_err(|_| TokenError::Signature)?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header = decode_object(h)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(_)) => return Err(TokenError::Algorithm),
        _ => return Err(TokenError::Malformed),
    }
    if header.contains_key("crit") {
        // No extension is understood, so none may be critical (RFC 7515 §4.1.11).
        return Err(TokenError::Malformed);
    }
    if header.get("typ").and_then(Value::as_str) != Some(kind.typ()) {
        return Err(TokenError::WrongKind);
    }
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&signature).map_err(|_| TokenError::Signature)?;
    let claims = decode_object(p)?;
    // Milliseconds in u128: exact at any u64 time (saturating u64 arithmetic expired a token
    // minted at the very end of the range at once; found by fuzzing).
    let ms = |seconds: u64| u128::from(seconds) * 1000;
    let (now, leeway) = (u128::from(now_ms), ms(leeway_seconds));
    let exp = claims.get("exp").ok_or(TokenError::MissingExp)?;
    let exp = numeric_date(exp).ok_or(TokenError::Claims)?;
    if now >= ms(exp) + leeway {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = numeric_date(nbf).ok_or(TokenError::Claims)?;
        if now + leeway < ms(nbf) {
            return Err(TokenError::NotYetValid);
        }
    }
    let typ_claim = claims.get("type").map(|t| t.as_str().ok_or(TokenError::Claims)).transpose()?;
    match (kind, typ_claim) {
        (TokenKind::Mwt, None) => {}
        (TokenKind::Access, Some("access")) | (TokenKind::Refresh, Some("refresh")) => {}
        _ => return Err(TokenError::WrongKind),
    }
    let subject = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(TokenError::Claims),
    };
    let session_id = text(&claims, "sid")?;
    if kind != TokenKind::Mwt && session_id.is_none() {
        return Err(TokenError::Claims);
    }
    let issued_at = match claims.get("iat") {
        None => 0,
        Some(v) => numeric_date(v).ok_or(TokenError::Claims)?,
    };
    Ok(Claims {
        kind,
        subject,
        staff: flag(&claims, "staff")?,
        superuser: flag(&claims, "super")?,
        perm: text(&claims, "perm")?,
        session_id,
        issued_at,
        expires_at: exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "token-test-secret-32-bytes-long!";

    fn claims(kind: TokenKind) -> Claims {
        Claims {
            kind,
            subject: "7".into(),
            staff: true,
            superuser: false,
            perm: (kind == TokenKind::Mwt).then(|| "p1".to_string()),
            session_id: (kind != TokenKind::Mwt).then(|| "s1".to_string()),
            issued_at: 1000,
            expires_at: 1300,
        }
    }

    #[test]
    fn round_trip_and_payload_order() {
        let t = mint(S, &claims(TokenKind::Access)).unwrap();
        let payload = URL_SAFE_NO_PAD.decode(t.split('.').nth(1).unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            r#"{"sub":"7","sid":"s1","staff":true,"super":false,"type":"access","iat":1000,"exp":1300}"#
        );
        assert_eq!(verify(S, &t, TokenKind::Access, 1_299_999, 0).unwrap(), claims(TokenKind::Access));
        assert_eq!(verify(S, &t, TokenKind::Access, 1_300_000, 0), Err(TokenError::Expired));
        assert!(verify(S, &t, TokenKind::Access, 1_300_000, 1).is_ok());
        assert_eq!(verify(S, &t, TokenKind::Refresh, 1_000_000, 0), Err(TokenError::WrongKind));
        assert_eq!(verify(S, &t, TokenKind::Mwt, 1_000_000, 0), Err(TokenError::WrongKind));
    }
}
