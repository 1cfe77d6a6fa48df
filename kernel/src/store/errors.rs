//! Failed requests, as the host reports them, and which ones are worth retrying.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// The wire status of a protocol error code, for errors that arrive without an HTTP status
/// (Tauri IPC's bare `{code, message}`): the engine's own table.
pub use crate::protocol_code::status_of_code;

/// A request failure: a network failure (no response) or an error response.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    /// `None` for a network failure.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
    /// The status the failure arrived with (an HTTP status), as opposed to `status`, which is
    /// derived from the code when there was none (IPC): what a host shows its user.
    pub reported_status: Option<u16>,
    /// The parsed body of an error response, when it had one.
    pub body: Option<Value>,
}

impl RequestError {
    /// Read what a host reports. Accepted shapes:
    /// `{"network": true, "message"?}`; `{"status": 503, "body"?: <response JSON>}` where the body
    /// may be the error envelope `{"error": {code, message, details?}}`; or a bare
    /// `{code, message, details?}` (Tauri IPC), whose status follows from its code.
    pub fn from_json(value: &Value) -> Result<Self> {
        let m = value.as_object().ok_or_else(|| Error::invalid_json("a request error must be a JSON object"))?;
        let text = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        if m.get("network").and_then(Value::as_bool) == Some(true) {
            return Ok(RequestError {
                status: None,
                code: "NETWORK_ERROR".into(),
                message: text(m, "message").unwrap_or_else(|| "Network request failed".into()),
                details: None,
                reported_status: None,
                body: None,
            });
        }
        let envelope = m.get("body").and_then(|b| b.get("error")).and_then(Value::as_object);
        let source = envelope.unwrap_or(m);
        let code = text(source, "code");
        let reported_status = match m.get("status").and_then(Value::as_u64) {
            Some(s) => Some(u16::try_from(s).map_err(|_| Error::invalid_json("status out of range"))?),
            None => None,
        };
        let status = reported_status.or_else(|| code.as_deref().map(status_of_code));
        let status = status.ok_or_else(|| Error::invalid_json("a request error needs \"network\", \"status\" or \"code\""))?;
        Ok(RequestError {
            status: Some(status),
            code: code.unwrap_or_else(|| if status >= 500 { "INTERNAL_ERROR".into() } else { format!("HTTP_{status}") }),
            message: text(source, "message").unwrap_or_else(|| format!("Request failed with status {status}")),
            details: source.get("details").cloned(),
            reported_status,
            body: m.get("body").cloned().filter(|b| !b.is_null()),
        })
    }

    /// An error the client itself decides (`INVALID_RESPONSE`, `RESET`, `CLOSED`…).
    pub fn local(status: Option<u16>, code: &str, message: impl Into<String>) -> Self {
        RequestError { status, code: code.into(), message: message.into(), details: None, reported_status: status, body: None }
    }

    /// A network failure (no answer): retried.
    pub fn from_network(message: impl Into<String>) -> Self {
        RequestError { status: None, code: "NETWORK_ERROR".into(), message: message.into(), details: None, reported_status: None, body: None }
    }

    /// The answer was not usable (not JSON, not an object…): `502 INVALID_RESPONSE`.
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::local(Some(502), "INVALID_RESPONSE", message)
    }

    /// Network errors and 5xx are retried; 4xx are answers.
    pub fn retryable(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }

    pub fn to_json(&self) -> Value {
        let mut members = vec![("code", Value::from(self.code.as_str())), ("message", Value::from(self.message.as_str()))];
        if let Some(d) = &self.details {
            members.push(("details", d.clone()));
        }
        crate::canon::object(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ipc_errors_take_the_engines_statuses() {
        // An IPC error has no HTTP status: its code decides, through the engine's one table.
        for (code, status) in [("PAYLOAD_TOO_LARGE", 413), ("METHOD_NOT_ALLOWED", 405), ("NOT_FOUND", 404), ("INTERNAL_ERROR", 500)] {
            let e = RequestError::from_json(&json!({"code": code, "message": "m"})).unwrap();
            assert_eq!(e.status, Some(status), "{code}");
            assert_eq!(e.retryable(), status >= 500, "{code}");
        }
    }
}
