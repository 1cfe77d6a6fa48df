//! The Mizan HTTP protocol, client side: the three requests (docs/SERVER.md) and how an answer
//! is read. A host only joins `path` to its base URL and sends what it is given.

use super::{Operation, Request};
use crate::header::encode_uri_component;
use crate::store::RequestError;
use serde_json::{Value, json};

const ACCEPT: (&str, &str) = ("Accept", "application/json");

fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

/// `GET ctx/{context}/?{query}`: `query` is the instance's canonical query string.
pub(super) fn fetch(id: u64, key: &str, context: &str, params_json: String, query: &str, timeout_ms: u64) -> Request {
    let mut path = format!("ctx/{}/", encode_uri_component(context));
    if !query.is_empty() {
        path.push('?');
        path.push_str(query);
    }
    Request {
        id,
        op: Operation::Fetch { key: key.to_string(), context: context.to_string(), params_json, query: query.to_string() },
        method: "GET".into(),
        path,
        headers: headers(&[ACCEPT]),
        body: None,
        timeout_ms,
    }
}

/// `POST call/` with `{"fn", "args"}`; the CSRF token of the session, when it gave one.
pub(super) fn call(id: u64, function: &str, args: &Value, csrf_token: Option<&str>, timeout_ms: u64) -> Request {
    let mut h = headers(&[ACCEPT, ("Content-Type", "application/json")]);
    if let Some(token) = csrf_token.filter(|t| !t.is_empty()) {
        h.push(("X-CSRFToken".into(), token.to_string()));
    }
    Request {
        id,
        op: Operation::Call {
            function: function.to_string(),
            args_json: args.to_string(),
            csrf_token: csrf_token.map(str::to_string),
        },
        method: "POST".into(),
        path: "call/".into(),
        headers: h,
        body: Some(json!({"fn": function, "args": args}).to_string()),
        timeout_ms,
    }
}

/// `GET session/`: `{"csrfToken"}`.
pub(super) fn session(id: u64, timeout_ms: u64) -> Request {
    Request {
        id,
        op: Operation::Session,
        method: "GET".into(),
        path: "session/".into(),
        headers: headers(&[ACCEPT]),
        body: None,
        timeout_ms,
    }
}

/// The HTTP form of an operation, as the session builds it (id 0): for a transport that is asked
/// for an operation directly (the far end of a message channel) and speaks HTTP.
pub fn request_of(op: Operation, timeout_ms: u64) -> crate::error::Result<Request> {
    Ok(match op {
        Operation::Fetch { key, context, params_json, query } => {
            crate::canon::parse_object(&params_json, "params")?;
            fetch(0, &key, &context, params_json, &query, timeout_ms)
        }
        Operation::Call { function, args_json, csrf_token } => {
            call(0, &function, &crate::canon::parse_json(&args_json, "args")?, csrf_token.as_deref(), timeout_ms)
        }
        Operation::Session => session(0, timeout_ms),
    })
}

/// Read an HTTP answer: a 2xx with a JSON body is the body; a 2xx without one is
/// `502 INVALID_RESPONSE`; anything else is the error its `{"error": {code, message, details}}`
/// envelope names (`INTERNAL_ERROR` for a 5xx without one, `HTTP_{status}` otherwise).
pub fn read_response(status: u16, body: &str) -> Result<Value, RequestError> {
    let parsed: Option<Value> = if body.trim().is_empty() { None } else { serde_json::from_str(body).ok() };
    if (200..300).contains(&status) {
        return parsed.ok_or_else(|| RequestError::invalid_response(format!("The server answered {status} without a JSON body")));
    }
    let mut report = json!({"status": status});
    if let Some(b) = parsed {
        report["body"] = b;
    }
    // A status and a body are a shape `from_json` always reads; the fallback is for completeness.
    Err(RequestError::from_json(&report).unwrap_or_else(|e| RequestError::local(Some(status), "HTTP_ERROR", e.message)))
}
