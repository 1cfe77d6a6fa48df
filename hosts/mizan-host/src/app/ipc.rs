//! IPC transports (Tauri's `plugin:mizan|mizan_invoke`, any webview bridge): an envelope is
//! answered by the same flow as the HTTP request it stands for.
//!
//! | envelope | request |
//! |---|---|
//! | `{"op": "fetch", "context": C, "params": {…}}` | `GET {base}/ctx/{C}/?{the kernel's canonical query of params}` |
//! | `{"op": "call", "fn": F, "args": {…}}` | `POST {base}/call/` with the body `{"fn": F, "args": {…}}` |
//! | `{"op": "session"}` | `GET {base}/session/` |
//!
//! The query string is the one `@mizan/kernel-wasm/client` sends over HTTP for the same params
//! (the kernel's instance key), so a context's params are coerced, validated, keyed and cached
//! exactly as over HTTP. IPC has no status and no headers: a success is the response body (a
//! call's carries `result`, `merge` and `invalidate`), an error the body's bare
//! `{code, message, details?}` (what `tauriTransport` re-wraps). An envelope that is not one of
//! the three is the engine's 400 "Invalid request body".

use serde_json::{Map, Value, json};

use super::exchange::Session;
use super::{HostRequest, Mizan};
use crate::origin::BoxFuture;
use crate::server::{Identity, ProtocolCode, Request, Response};

/// What an IPC command answers: the response body, or the bare error.
pub type Reply = std::result::Result<Value, Value>;

impl Mizan {
    /// Serve one IPC envelope (see [`crate::app::ipc`]) as `identity`; `host_request` is what
    /// [`crate::app::Ctx::request`] gives the functions (the Tauri plugin passes the webview).
    pub async fn handle_ipc(&self, envelope: &Value, host_request: HostRequest, identity: Option<Identity>) -> Reply {
        self.serve_ipc(envelope, host_request, Session::Held(identity)).await
    }

    /// [`Mizan::handle_ipc`] with the session read by `resolve` only when the exchange asks for
    /// it ([`Mizan::handle_asking`]); a lookup that panics is the kernel's 500, logged.
    pub async fn handle_ipc_asking<'a>(
        &self,
        envelope: &Value,
        host_request: HostRequest,
        resolve: impl FnOnce() -> BoxFuture<'a, Option<Identity>> + Send + 'a,
    ) -> Reply {
        self.serve_ipc(envelope, host_request, Session::Ask(Box::new(resolve))).await
    }

    async fn serve_ipc(&self, envelope: &Value, host_request: HostRequest, session: Session<'_>) -> Reply {
        let response = match self.ipc_request(envelope) {
            Ok(request) => self.converse(&request, host_request, session).await,
            Err(refused) => refused,
        };
        reply(response)
    }

    /// The HTTP request an envelope stands for, or the response refusing it.
    fn ipc_request(&self, envelope: &Value) -> std::result::Result<Request, Response> {
        let invalid = || self.error_response(ProtocolCode::BadRequest, "Invalid request body");
        let base = self.engine().base_path().trim_end_matches('/');
        let get = |path: String, query: String| Request::new("GET", path, query, Vec::new(), Vec::new());
        match envelope.get("op").and_then(Value::as_str) {
            Some("session") => Ok(get(format!("{base}/session/"), String::new())),
            Some("fetch") => {
                let context = envelope.get("context").and_then(Value::as_str).ok_or_else(invalid)?;
                let params = match envelope.get("params") {
                    None | Some(Value::Null) => Value::Object(Map::new()),
                    Some(p @ Value::Object(_)) => p.clone(),
                    Some(_) => return Err(invalid()),
                };
                let key = self.kernel().instance_key(context, &params).map_err(|_| invalid())?;
                let query = key.strip_prefix(context).and_then(|rest| rest.strip_prefix('?')).unwrap_or("");
                Ok(get(format!("{base}/ctx/{}/", encode_path_segment(context)), query.to_string()))
            }
            Some("call") => {
                // The engine judges `fn` and `args` as it judges an HTTP body: same 400s.
                let mut body = Map::new();
                for field in ["fn", "args"] {
                    if let Some(v) = envelope.get(field) {
                        body.insert(field.to_string(), v.clone());
                    }
                }
                let bytes = serde_json::to_vec(&body).map_err(|_| invalid())?;
                Ok(Request::new("POST", format!("{base}/call/"), "", Vec::new(), bytes))
            }
            _ => Err(invalid()),
        }
    }
}

/// The engine's response as an IPC reply: the body of a 2xx, else the envelope's `error` object.
pub fn reply(response: Response) -> Reply {
    let body: Option<Value> = serde_json::from_str(&response.body).ok();
    if (200..300).contains(&response.status) {
        return body.ok_or_else(internal);
    }
    match body {
        Some(Value::Object(mut envelope)) => match envelope.remove("error") {
            Some(error @ Value::Object(_)) => Err(error),
            _ => Err(internal()),
        },
        _ => Err(internal()),
    }
}

/// What a reply says when the engine's own response cannot be read (never expected).
fn internal() -> Value {
    json!({"code": "INTERNAL_ERROR", "message": "Internal server error"})
}

/// A context name as one path segment: every byte but RFC 3986's unreserved ones
/// percent-encoded (the engine percent-decodes the segment), so no name can reach another path.
fn encode_path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.into() }
    }

    #[test]
    fn replies() {
        assert_eq!(reply(response(200, r#"{"a":1}"#)), Ok(json!({"a": 1})));
        assert_eq!(
            reply(response(404, r#"{"error":{"code":"NOT_FOUND","message":"Function not found"}}"#)),
            Err(json!({"code": "NOT_FOUND", "message": "Function not found"}))
        );
        assert_eq!(reply(response(500, "<html>")), Err(internal()));
        assert_eq!(reply(response(200, "not json")), Err(internal()));
        assert_eq!(reply(response(400, r#"{"error":"x"}"#)), Err(internal()));
    }

    #[test]
    fn context_names_stay_one_segment() {
        assert_eq!(encode_path_segment("user_profile-2.x~"), "user_profile-2.x~");
        assert_eq!(encode_path_segment("../call"), "..%2Fcall");
        assert_eq!(encode_path_segment("a b?c#é"), "a%20b%3Fc%23%C3%A9");
    }
}
