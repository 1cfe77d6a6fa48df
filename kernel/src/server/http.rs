//! Requests, responses and the error envelope (KERNEL.md §8). Every response the engine assembles
//! goes through here, so every host sends the same status, the same headers in the same order and
//! the same body bytes.

use crate::canon::write_json_string;
use serde_json::Value;

pub use crate::protocol_code::ProtocolCode;

/// `{"error": {"code", "message", "details"?}}` on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub code: ProtocolCode,
    pub message: String,
    pub details: Option<Value>,
}

/// The fixed messages. Hosts never write their own: that is how messages stopped differing per adapter.
pub mod messages {
    pub const NOT_FOUND: &str = "Not found";
    pub const FUNCTION_NOT_FOUND: &str = "Function not found";
    pub const CONTEXT_NOT_FOUND: &str = "Context not found";
    pub const INVALID_BODY: &str = "Invalid request body";
    pub const INVALID_QUERY: &str = "Invalid query string";
    pub const TOO_LARGE: &str = "Request body too large";
    pub const METHOD_NOT_ALLOWED: &str = "Method not allowed";
    pub const NOT_CLIENT_CALLABLE: &str = "Function is not client-callable";
    pub const AUTH_REQUIRED: &str = "Authentication required";
    pub const STAFF_REQUIRED: &str = "Staff access required";
    pub const SUPERUSER_REQUIRED: &str = "Superuser access required";
    pub const PERMISSION_DENIED: &str = "Permission denied";
    pub const INVALID_TOKEN: &str = "Invalid token";
    pub const VALIDATION_FAILED: &str = "Input validation failed";
    pub const NOT_IMPLEMENTED: &str = "Not implemented";
    pub const INTERNAL: &str = "Internal server error";
}

impl ProtocolError {
    pub fn new(code: ProtocolCode, message: impl Into<String>) -> Self {
        ProtocolError { code, message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// From a host's parts; `details_json` that is not JSON is kept as a string.
    pub fn from_parts(code: ProtocolCode, message: impl Into<String>, details_json: Option<&str>) -> Self {
        let details =
            details_json.map(|t| crate::canon::parse_json_bytes(t.as_bytes()).unwrap_or_else(|| Value::String(t.to_string())));
        ProtocolError { code, message: message.into(), details }
    }

    /// The message is fixed: whatever went wrong stays in the host's log, not in the response.
    pub fn internal() -> Self {
        Self::new(ProtocolCode::InternalError, messages::INTERNAL)
    }

    pub fn bad_body() -> Self {
        Self::new(ProtocolCode::BadRequest, messages::INVALID_BODY)
    }

    /// The envelope text: `{"error":{"code":…,"message":…,"details":…}}`, keys in that order.
    pub fn body(&self) -> String {
        let mut out = String::with_capacity(64 + self.message.len());
        out.push_str("{\"error\":{\"code\":");
        write_json_string(&mut out, self.code.as_str());
        out.push_str(",\"message\":");
        write_json_string(&mut out, &self.message);
        if let Some(details) = &self.details {
            out.push_str(",\"details\":");
            push_value(&mut out, details);
        }
        out.push_str("}}");
        out
    }
}

/// Append a JSON value as compact text: object keys in code-point order, integers as their
/// digits, other numbers in one spelling whatever the host's JSON library wrote.
pub(crate) fn push_value(out: &mut String, value: &Value) {
    crate::canon::write_json(out, value);
}

/// [`push_value`] of a function's result, parsed with `parse_json_unchecked`: false when a
/// number in it was beyond a double's range.
pub(crate) fn push_result(out: &mut String, value: &Value) -> bool {
    crate::canon::write_json(out, value)
}

pub const CONTENT_TYPE: &str = "Content-Type";
pub const CACHE_CONTROL: &str = "Cache-Control";
pub const X_MIZAN_INVALIDATE: &str = "X-Mizan-Invalidate";
pub const X_MIZAN_CACHE: &str = "X-Mizan-Cache";
pub const X_MIZAN_TOKEN: &str = "X-Mizan-Token";
pub const AUTHORIZATION: &str = "Authorization";
pub const ALLOW: &str = "Allow";

/// The request headers the engine reads (names compare case-insensitively): a host copies
/// these into [`Request::headers`] and no other. Hosts ask for this list, lower-cased (WIT
/// `request-headers`), instead of writing the names again.
pub const REQUEST_HEADERS: [&str; 2] = [X_MIZAN_TOKEN, AUTHORIZATION];

/// What the host passes in. `headers` need only hold the ones the kernel reads
/// ([`REQUEST_HEADERS`]); names compare case-insensitively. `path` may carry the query string
/// after `?` when `query` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Django's CSRF token for `GET /session/` (`null` elsewhere).
    pub csrf_token: Option<String>,
}

impl Request {
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Request { method: method.into(), path: path.into(), ..Default::default() }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Request { body: body.into(), ..Self::new("POST", path) }
    }

    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The last value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the host sends: status, headers in this order, body bytes (UTF-8 JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// A JSON response with the headers every response carries.
    pub fn json(status: u16, body: String) -> Self {
        Response {
            status,
            headers: vec![
                (CONTENT_TYPE.to_string(), "application/json".to_string()),
                (CACHE_CONTROL.to_string(), "no-store".to_string()),
            ],
            body,
        }
    }

    pub fn error(error: &ProtocolError) -> Self {
        Self::json(error.code.status(), error.body())
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_order_and_statuses() {
        let e = ProtocolError::new(ProtocolCode::ValidationError, "Input validation failed")
            .with_details(json!({"fields": {"a": ["Field required"]}}));
        assert_eq!(
            e.body(),
            r#"{"error":{"code":"VALIDATION_ERROR","message":"Input validation failed","details":{"fields":{"a":["Field required"]}}}}"#
        );
    }
}
