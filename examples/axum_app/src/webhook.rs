//! `POST /webhooks/stripe/`: the private function `stripe_webhook` (a view) on a route of its
//! own, outside the protocol. Only the payment provider may call it (a valid `Stripe-Signature`
//! over the body, else 401 in the engine's envelope); then it runs and purges what its
//! `affects` covers — the kernel resolves the entries, the header and the plan.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mizan_host::ProtocolCode;
use mizan_host::axum::{Mizan, to_axum};
use serde_json::json;

use crate::functions::stripe_webhook;

/// The wire suite's webhook secret (tests/wire/probes.json "config"): a test-only value.
pub const WEBHOOK_SECRET: &str = "wire-webhook-secret-for-tests-only-4";
/// How old a webhook's signature may be (Stripe's default tolerance), seconds.
pub const WEBHOOK_TOLERANCE: u64 = 300;

/// Stripe's scheme: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
/// (several `v1` during a secret rotation): one `v1` must match (in constant time) and `t` be
/// within the tolerance of `now` (seconds).
pub fn webhook_signature_ok(header: Option<&str>, payload: &[u8], secret: &str, now: u64) -> bool {
    use hmac::{Hmac, Mac};
    let Some(header) = header else { return false };
    let parts: Vec<(&str, &str)> = header.split(',').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let stamps: Vec<&str> = parts.iter().filter(|(k, _)| *k == "t").map(|(_, v)| *v).collect();
    let [stamp] = stamps[..] else { return false };
    let Some(t) = stamp.parse::<u64>().ok().filter(|_| stamp.bytes().all(|b| b.is_ascii_digit())) else { return false };
    if now.abs_diff(t) > WEBHOOK_TOLERANCE {
        return false;
    }
    parts.iter().filter(|(k, _)| *k == "v1").any(|(_, sig)| {
        let Ok(sig) = hex::decode(sig) else { return false };
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else { return false };
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        mac.verify_slice(&sig).is_ok()
    })
}

/// The route's handler.
pub async fn serve(mizan: Mizan, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    if !webhook_signature_ok(signature, &body, WEBHOOK_SECRET, mizan_host::now_ms() / 1000) {
        return to_axum(mizan.error_response(ProtocolCode::Unauthorized, "Invalid signature"));
    }
    let result = stripe_webhook();
    let internal = || (StatusCode::INTERNAL_SERVER_ERROR, "webhook failed").into_response();
    let Ok(inv) = mizan.registry().resolve_invalidation("stripe_webhook", &json!({}), None) else { return internal() };
    if let Err(e) = mizan.purge(&inv.entries).await {
        eprintln!("mizan: webhook purge failed: {e}");
    }
    let mut resp = result.to_string().into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = inv.header.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert("x-mizan-invalidate", value);
    }
    resp
}
