//! The Mizan HTTP protocol, client side: the three requests (docs/SERVER.md) and how an answer
//! is read. A host only joins `path` to its base URL and sends what it is given.

use super::{HttpRequest, Method, Operation, Request, RequestForm};
use crate::header::encode_uri_component;
use crate::store::RequestError;
use serde_json::{Value, json};

/// Build a request in the session's form: the HTTP form from the operation, or the operation.
fn request(id: u64, form: RequestForm, op: Operation, timeout_ms: u64) -> Request {
    let kind = op.kind();
    match form {
        RequestForm::Http => Request { id, kind, http: Some(http_form(&op)), op: None, timeout_ms },
        RequestForm::Operation => Request { id, kind, http: None, op: Some(op), timeout_ms },
    }
}

/// `GET ctx/{context}/?{query}`, `POST call/` with `{"fn", "args"}` (and the session's CSRF
/// token), `GET session/`.
fn http_form(op: &Operation) -> HttpRequest {
    match op {
        Operation::Fetch { context, query, .. } => fetch_http(context, query),
        Operation::Call { function, args_json, csrf_token } => {
            let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
            if let Some(token) = csrf_token.as_deref().filter(|t| !t.is_empty()) {
                headers.push(("X-CSRFToken".into(), token.to_string()));
            }
            // `args_json` is the kernel's own text of a JSON value: spliced in, not parsed again.
            let mut body = String::from("{\"args\":");
            body.push_str(args_json);
            body.push_str(",\"fn\":");
            crate::canon::write_json_string(&mut body, function);
            body.push('}');
            HttpRequest { method: Method::Post, path: "call/".into(), headers, body: Some(body) }
        }
        Operation::Session => HttpRequest { method: Method::Get, path: "session/".into(), headers: Vec::new(), body: None },
    }
}

/// `GET ctx/{context}/?{query}`.
fn fetch_http(context: &str, query: &str) -> HttpRequest {
    let mut path = format!("ctx/{}/", encode_uri_component(context));
    if !query.is_empty() {
        path.push('?');
        path.push_str(query);
    }
    HttpRequest { method: Method::Get, path, headers: Vec::new(), body: None }
}

/// The context and the query of an instance key (`{context}?{query}`, or the context alone:
/// `store::instance_key`), given the context's length in bytes.
pub(super) fn split_key(key: &str, context_len: usize) -> (&str, &str) {
    (key.get(..context_len).unwrap_or(key), key.get(context_len + 1..).unwrap_or(""))
}

/// A fetch of the instance `key`, whose context is `context_len` bytes long. Context and query
/// are read from the key, the bytes at hand, rather than from the instance's own copies (an
/// invalidation refetches a hundred instances whose memory is cold); the HTTP form copies
/// nothing more, the operation form copies them.
pub(super) fn fetch(id: u64, form: RequestForm, key: &str, context_len: usize, params_json: &str, timeout_ms: u64) -> Request {
    let kind = super::RequestKind::Fetch;
    let (context, query) = split_key(key, context_len);
    match form {
        RequestForm::Http => Request { id, kind, http: Some(fetch_http(context, query)), op: None, timeout_ms },
        RequestForm::Operation => {
            let (context, query) = (context.to_string(), query.to_string());
            let op = Operation::Fetch { key: key.to_string(), context, params_json: params_json.to_string(), query };
            Request { id, kind, http: None, op: Some(op), timeout_ms }
        }
    }
}

pub(super) fn call(id: u64, form: RequestForm, function: String, args: &Value, csrf_token: Option<&str>, timeout_ms: u64) -> Request {
    let op = Operation::Call { function, args_json: crate::canon::json_text(args), csrf_token: csrf_token.map(str::to_string) };
    request(id, form, op, timeout_ms)
}

pub(super) fn session(id: u64, form: RequestForm, timeout_ms: u64) -> Request {
    request(id, form, Operation::Session, timeout_ms)
}

/// The HTTP form of an operation, as the session builds it: for a transport that is asked for
/// an operation directly (the far end of a message channel) and speaks HTTP.
pub fn request_of(op: Operation) -> crate::error::Result<HttpRequest> {
    match &op {
        Operation::Fetch { params_json, .. } => {
            crate::canon::parse_object(params_json, "params")?;
        }
        Operation::Call { args_json, .. } => {
            crate::canon::parse_json(args_json, "args")?;
        }
        Operation::Session => {}
    }
    Ok(http_form(&op))
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
