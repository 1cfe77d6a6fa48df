//! The host's error type: the kernel's typed errors, traps, and setup failures.

use serde_json::Value;
use std::fmt;

use crate::bindings::exports::mizan::kernel::types as wit;

/// The kernel's machine-readable error codes (the WIT `error-code` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Input text is not valid JSON, or JSON of the wrong shape.
    InvalidJson,
    /// A well-formed argument the operation refuses (empty secret, negative rev…).
    InvalidArgument,
    /// An `X-Mizan-Invalidate` header that does not parse or exceeds the limits.
    InvalidHeader,
    /// KDL IR text that does not parse or does not follow the IR grammar.
    InvalidIr,
    /// A registry whose graph is inconsistent.
    InvalidRegistry,
    /// A function, context or slot the registry does not have.
    NotFound,
}

impl ErrorCode {
    /// The wire spelling (`invalid-json`, …), the same in every host.
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

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error the kernel returned (it did not trap): the instance is fine and stays in use.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelError {
    pub code: ErrorCode,
    pub message: String,
    /// Structured details (`{"position"}`, `{"line", "column"}`, `{"problems"}`…).
    pub details: Option<Value>,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for KernelError {}

impl From<wit::Error> for KernelError {
    fn from(e: wit::Error) -> Self {
        let code = match e.code {
            wit::ErrorCode::InvalidJson => ErrorCode::InvalidJson,
            wit::ErrorCode::InvalidArgument => ErrorCode::InvalidArgument,
            wit::ErrorCode::InvalidHeader => ErrorCode::InvalidHeader,
            wit::ErrorCode::InvalidIr => ErrorCode::InvalidIr,
            wit::ErrorCode::InvalidRegistry => ErrorCode::InvalidRegistry,
            wit::ErrorCode::NotFound => ErrorCode::NotFound,
        };
        // Details are JSON text; keep them as a string should the kernel ever send something else.
        let details = e.details.map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)));
        KernelError { code, message: e.message, details }
    }
}

/// Everything a host call can fail with.
#[derive(Debug, Clone)]
pub enum Error {
    /// The kernel refused the input (a typed error; the instance keeps serving).
    Kernel(KernelError),
    /// The instance trapped (or hit the store's memory cap). It has been discarded; the next call
    /// runs on a fresh instance, so the host keeps serving. The string is wasmtime's report.
    Trap(String),
    /// The host could not compile or instantiate the component, or read what it returned.
    Host(String),
    /// An origin-cache store failed (Redis unreachable, a script error…).
    Cache(String),
    /// The code-first registrations (`#[client]`, `#[predicate]`, `context!`) cannot make a
    /// registry, or disagree with a given IR or with the host serving them; the message names
    /// every function, type or context concerned.
    Registration(String),
}

impl Error {
    /// The kernel's error code, for [`Error::Kernel`].
    pub fn code(&self) -> Option<ErrorCode> {
        self.as_kernel().map(|e| e.code)
    }

    /// The kernel's error, for [`Error::Kernel`].
    pub fn as_kernel(&self) -> Option<&KernelError> {
        match self {
            Error::Kernel(e) => Some(e),
            _ => None,
        }
    }

    pub fn is_trap(&self) -> bool {
        matches!(self, Error::Trap(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel(e) => e.fmt(f),
            Error::Trap(msg) => write!(f, "the kernel instance trapped (discarded; the next call uses a fresh one): {msg}"),
            Error::Host(msg) => write!(f, "mizan-host: {msg}"),
            Error::Cache(msg) => write!(f, "mizan-host origin cache: {msg}"),
            Error::Registration(msg) => write!(f, "mizan-host registration: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Kernel(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KernelError> for Error {
    fn from(e: KernelError) -> Self {
        Error::Kernel(e)
    }
}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        Error::Kernel(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
