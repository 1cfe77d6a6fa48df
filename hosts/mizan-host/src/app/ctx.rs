//! What a function (or a predicate) sees besides its arguments, and the error it returns.

use serde_json::Value;
use std::any::Any;
use std::sync::Arc;

use super::Mizan;
use crate::server::{Identity, Outcome, ProtocolCode, ProtocolError};

/// The request as the host received it: `axum::http::request::Parts` under Axum, the invoking
/// `tauri::Webview<R>` under the Tauri plugin. Functions read it with [`Ctx::request`].
pub type HostRequest = Arc<dyn Any + Send + Sync>;

/// What a function (or a predicate) gets besides its arguments: the effective identity (a
/// token's, else the session's), the host's request, and the app (for purges).
#[derive(Clone)]
pub struct Ctx {
    pub(crate) identity: Option<Identity>,
    pub(crate) request: HostRequest,
    pub(crate) mizan: Mizan,
}

impl Ctx {
    /// The caller; `None` when anonymous.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The caller's subject (user id); `None` when anonymous.
    pub fn user(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| i.subject.as_str())
    }

    /// The host's request as `T`: `axum::http::request::Parts` (method, URI, headers,
    /// extensions) under Axum, `tauri::Webview<R>` under the Tauri plugin (its app handle
    /// reaches the app's state). `None` under another host, so one function serves both.
    pub fn request<T: Any>(&self) -> Option<&T> {
        self.request.downcast_ref::<T>()
    }

    /// The app's value of type `T` ([`super::MizanBuilder::state`]); `None` when the app has none.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.mizan.state::<T>()
    }

    /// The app: [`Mizan::purge`], [`Mizan::purge_user`], the engine, the registry.
    pub fn mizan(&self) -> &Mizan {
        &self.mizan
    }
}

/// An error a function returns: a protocol error on purpose (`FnError::not_found("No such
/// item")` → 404 with that message), or anything else (`?` on any `std::error::Error`) → an
/// exception: 500 "Internal server error", its text only in the diagnostics.
#[derive(Debug, Clone)]
pub struct FnError(Outcome);

impl FnError {
    /// An error on purpose with this code and message (the envelope and status are the kernel's;
    /// an `INTERNAL_ERROR`'s message is never sent).
    pub fn new(code: ProtocolCode, message: impl Into<String>) -> FnError {
        FnError(Outcome::Error(ProtocolError::new(code, message)))
    }

    /// With JSON details (e.g. `{"fields": {...}}`).
    pub fn with_details(self, details: &Value) -> FnError {
        match self.0 {
            Outcome::Error(e) => FnError(Outcome::Error(e.with_details(details))),
            other => FnError(other),
        }
    }

    pub fn not_found(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::Forbidden, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::Unauthorized, message)
    }

    pub fn bad_request(message: impl Into<String>) -> FnError {
        Self::new(ProtocolCode::BadRequest, message)
    }

    /// `NOT_IMPLEMENTED` with the kernel's message ("Not implemented").
    pub fn not_implemented() -> FnError {
        Self::new(ProtocolCode::NotImplemented, "")
    }

    /// A 422 `{"fields": fields}` (`fields`: `{"name": ["message", …]}`), "Input validation failed".
    pub fn validation(fields: Value) -> FnError {
        Self::new(ProtocolCode::ValidationError, "Input validation failed").with_details(&serde_json::json!({ "fields": fields }))
    }

    /// An unexpected failure: 500, `text` to the diagnostics only.
    pub fn exception(text: impl Into<String>) -> FnError {
        FnError(Outcome::Exception(text.into()))
    }

    /// The outcome the engine gets.
    pub fn into_outcome(self) -> Outcome {
        self.0
    }
}

/// What a `#[client]` function's `Err(FnError)` becomes (`code_first::result_outcome`).
impl From<FnError> for Outcome {
    fn from(e: FnError) -> Outcome {
        e.into_outcome()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for FnError {
    /// An exception whose text is the whole error chain, `outer: cause: root cause` (what the
    /// host logs at error level; the client gets 500 "Internal server error").
    fn from(e: E) -> Self {
        FnError::exception(error_chain(&e))
    }
}

/// `error: its source: that one's source…`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
