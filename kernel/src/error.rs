//! The one error type of the kernel. Every entry point that takes outside input returns it instead
//! of panicking: a panic would trap the WebAssembly instance and poison it for every later call.

use serde_json::Value;
use std::fmt;

/// What went wrong, as a stable machine-readable code. The wire spelling (`as_str`) is kebab-case,
/// the same in every host (it is the WIT enum's spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Input text is not valid JSON, or JSON of the wrong shape.
    InvalidJson,
    /// A well-formed argument with a value the operation refuses (empty secret, non-finite number…).
    InvalidArgument,
    /// An `X-Mizan-Invalidate` header that does not parse or exceeds the limits.
    InvalidHeader,
    /// KDL IR text that does not parse or does not follow the IR grammar.
    InvalidIr,
    /// A registry whose graph is inconsistent (unknown `affects` target, duplicates…).
    InvalidRegistry,
    /// A function, context or slot that the registry does not have.
    NotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid-json",
            ErrorCode::InvalidArgument => "invalid-argument",
            ErrorCode::InvalidHeader => "invalid-header",
            ErrorCode::InvalidIr => "invalid-ir",
            ErrorCode::InvalidRegistry => "invalid-registry",
            ErrorCode::NotFound => "not-found",
        }
    }
}

/// `{code, message, details?}`; `details` is structured (a position, a list of problems…).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidJson, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::NotFound, message)
    }

    /// The error as `{"code", "message", "details"?}` JSON, keys in that order.
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("code".into(), Value::from(self.code.as_str()));
        map.insert("message".into(), Value::from(self.message.clone()));
        if let Some(details) = &self.details {
            map.insert("details".into(), details.clone());
        }
        Value::Object(map)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}
