//! The wire protocol's error codes and their HTTP statuses (KERNEL.md §8): the one table. The
//! server engine answers with it (`server::http`) and the client store reads errors with it
//! (`store::errors`, for Tauri IPC's bare `{code, message}` that arrive without a status), so an
//! IPC `PAYLOAD_TOO_LARGE` is the same 413 — an answer, not a retried 500 — on both sides.

/// The error codes of the wire protocol. `PayloadTooLarge` and `MethodNotAllowed` extend the
/// spec's list (413 and 405 are what HTTP says; docs/SERVER.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolCode {
    NotFound,
    BadRequest,
    ValidationError,
    Unauthorized,
    Forbidden,
    NotImplemented,
    InternalError,
    PayloadTooLarge,
    MethodNotAllowed,
}

impl ProtocolCode {
    pub const ALL: [ProtocolCode; 9] = [
        ProtocolCode::NotFound,
        ProtocolCode::BadRequest,
        ProtocolCode::ValidationError,
        ProtocolCode::Unauthorized,
        ProtocolCode::Forbidden,
        ProtocolCode::NotImplemented,
        ProtocolCode::InternalError,
        ProtocolCode::PayloadTooLarge,
        ProtocolCode::MethodNotAllowed,
    ];

    /// The wire spelling, `SCREAMING_SNAKE_CASE`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolCode::NotFound => "NOT_FOUND",
            ProtocolCode::BadRequest => "BAD_REQUEST",
            ProtocolCode::ValidationError => "VALIDATION_ERROR",
            ProtocolCode::Unauthorized => "UNAUTHORIZED",
            ProtocolCode::Forbidden => "FORBIDDEN",
            ProtocolCode::NotImplemented => "NOT_IMPLEMENTED",
            ProtocolCode::InternalError => "INTERNAL_ERROR",
            ProtocolCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ProtocolCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
        }
    }

    pub fn parse(text: &str) -> Option<ProtocolCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn status(self) -> u16 {
        match self {
            ProtocolCode::NotFound => 404,
            ProtocolCode::BadRequest => 400,
            ProtocolCode::ValidationError => 422,
            ProtocolCode::Unauthorized => 401,
            ProtocolCode::Forbidden => 403,
            ProtocolCode::NotImplemented => 501,
            ProtocolCode::InternalError => 500,
            ProtocolCode::PayloadTooLarge => 413,
            ProtocolCode::MethodNotAllowed => 405,
        }
    }
}

/// The status of a wire code; an unknown code is a 500.
pub fn status_of_code(code: &str) -> u16 {
    ProtocolCode::parse(code).map_or(500, ProtocolCode::status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_statuses() {
        for c in ProtocolCode::ALL {
            assert_eq!(ProtocolCode::parse(c.as_str()), Some(c));
            assert_eq!(status_of_code(c.as_str()), c.status());
        }
        assert_eq!(ProtocolCode::parse("nope"), None);
        assert_eq!(status_of_code("PAYLOAD_TOO_LARGE"), 413);
        assert_eq!(status_of_code("METHOD_NOT_ALLOWED"), 405);
        assert_eq!(status_of_code("SOMETHING_NEW"), 500);
    }
}
