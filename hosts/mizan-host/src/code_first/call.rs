//! What a `#[client]` shim does around the function: the engine's arguments (JSON text, already
//! validated and coerced by the kernel against the IR) into typed parameters, the request
//! context out of the host's box, the result into an [`Outcome`].
//!
//! **When a value passes the kernel but not the Rust type** — the IR says `integer` and the
//! parameter is a `u8` given 300, or an `i64` given 2^63 — the call is answered like any other
//! validation failure: a `VALIDATION_ERROR` outcome with `{"fields": {path: [serde's message]}}`
//! (the path dotted like the kernel's: `filter.ids.1`), which the engine turns into its 422
//! envelope. The function does not run, nothing panics, and the kernel still writes the
//! envelope and the status.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::any::Any;
use std::collections::BTreeMap;

use crate::server::{Outcome, ProtocolCode, ProtocolError};

/// The request context as the host hands it to a registration: the host's own context type
/// (`mizan_host::app::Ctx`), boxed. The shim takes it back out with the type the
/// function declared; the host checks at start that the two agree.
pub type AnyCtx = Box<dyn Any + Send>;

/// The arguments of one call, taken one parameter at a time; every problem is kept so one 422
/// lists them all.
pub struct Args {
    values: Map<String, Value>,
    problems: BTreeMap<String, Vec<String>>,
}

/// The kernel's message for an absent required input (`Field required`), so a Rust-side
/// refusal reads like the kernel's own.
const FIELD_REQUIRED: &str = "Field required";

impl Args {
    /// The engine's argument object. Anything else is an engine bug: a 500, with the text in
    /// the diagnostics.
    pub fn parse(json: &str) -> Result<Args, Outcome> {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(values)) => Ok(Args { values, problems: BTreeMap::new() }),
            Ok(other) => Err(Outcome::Exception(format!("the engine passed arguments that are not an object: {other}"))),
            Err(e) => Err(Outcome::Exception(format!("the engine passed arguments that are not JSON: {e}"))),
        }
    }

    /// The parameter `name` as `T`. Absent: what `T` makes of `null` (`None` for an `Option`),
    /// else a `Field required` problem. `None` means a problem was recorded.
    pub fn take<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.values.remove(name) {
            Some(value) => self.convert(name, value),
            None => match T::deserialize(Value::Null) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.problem(name.to_string(), FIELD_REQUIRED.to_string());
                    None
                }
            },
        }
    }

    /// The parameter `name` as `T`, or `default()` when it is absent.
    pub fn take_or<T: DeserializeOwned>(&mut self, name: &str, default: impl FnOnce() -> T) -> Option<T> {
        match self.values.remove(name) {
            Some(value) => self.convert(name, value),
            None => Some(default()),
        }
    }

    fn convert<T: DeserializeOwned>(&mut self, name: &str, value: Value) -> Option<T> {
        // From the value's JSON text, not the `Value`: with `arbitrary_precision` (numbers keep
        // their digits, docs/SERVER.md) a `Value`'s number reports a misfit as a bare "invalid
        // number", where the text deserializer names it ("invalid value: integer `300`,
        // expected u8").
        let text = value.to_string();
        match serde_path_to_error::deserialize::<_, T>(&mut serde_json::Deserializer::from_str(&text)) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut path = name.to_string();
                for segment in e.path().iter() {
                    use serde_path_to_error::Segment;
                    match segment {
                        Segment::Seq { index } => path.push_str(&format!(".{index}")),
                        Segment::Map { key } => path.push_str(&format!(".{key}")),
                        Segment::Enum { variant } => path.push_str(&format!(".{variant}")),
                        Segment::Unknown => {}
                    }
                }
                let e = e.into_inner();
                // The text's position means nothing to the caller (it is this value's text).
                let message = e.to_string();
                let at = format!(" at line {} column {}", e.line(), e.column());
                self.problem(path, message.strip_suffix(&at).unwrap_or(&message).to_string());
                None
            }
        }
    }

    fn problem(&mut self, path: String, message: String) {
        self.problems.entry(path).or_default().push(message);
    }

    /// The 422 for every problem recorded.
    pub fn into_outcome(self) -> Outcome {
        Outcome::Error(
            ProtocolError::new(ProtocolCode::ValidationError, "Input validation failed")
                .with_details(&json!({ "fields": self.problems })),
        )
    }
}

/// The host's context, as the type the function takes; a host that passes another type is
/// refused at start, so this failing is a host bug: a 500.
pub fn downcast_ctx<C: Any>(ctx: AnyCtx, function: &str) -> Result<C, Outcome> {
    ctx.downcast::<C>().map(|c| *c).map_err(|_| {
        Outcome::Exception(format!("`{function}` takes a `{}` that this host does not provide", std::any::type_name::<C>()))
    })
}

/// A function's return value as the outcome.
pub fn value_outcome<T: Serialize + ?Sized>(function: &str, value: &T) -> Outcome {
    match serde_json::to_string(value) {
        Ok(text) => Outcome::Ok(text),
        Err(e) => Outcome::Exception(format!("`{function}` returned a value that is not JSON: {e}")),
    }
}

/// A function's `Result` as the outcome: `Err` is an error on purpose (a `FnError`, a
/// `ProtocolError`) or anything else that converts into an [`Outcome`].
pub fn result_outcome<T: Serialize, E: Into<Outcome>>(function: &str, result: Result<T, E>) -> Outcome {
    match result {
        Ok(value) => value_outcome(function, &value),
        Err(e) => e.into(),
    }
}

impl From<ProtocolError> for Outcome {
    fn from(e: ProtocolError) -> Outcome {
        Outcome::Error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(outcome: Outcome) -> Value {
        match outcome {
            Outcome::Error(e) => {
                assert_eq!(e.code, ProtocolCode::ValidationError);
                serde_json::from_str(e.details_json.as_deref().unwrap_or("null")).unwrap()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn typed_parameters() {
        let mut a = Args::parse(r#"{"id": 5, "tags": ["a"], "note": null}"#).unwrap();
        assert_eq!(a.take::<i64>("id"), Some(5));
        assert_eq!(a.take::<Vec<String>>("tags"), Some(vec!["a".to_string()]));
        assert_eq!(a.take::<Option<String>>("note"), Some(None));
        assert_eq!(a.take::<Option<i64>>("page"), Some(None));
        assert_eq!(a.take_or::<i64>("size", || 20), Some(20));
    }

    #[test]
    fn a_number_keeps_its_digits_through_the_call() {
        let mut a = Args::parse(r#"{"ratio": 18446744073709551616, "small": 2.50}"#).unwrap();
        let ratio = a.take::<serde_json::Number>("ratio").unwrap();
        assert_eq!(ratio.to_string(), "18446744073709551616");
        assert_eq!(value_outcome("f", &json!({"ratio": ratio})), Outcome::Ok(r#"{"ratio":18446744073709551616}"#.into()));
        assert_eq!(a.take::<serde_json::Number>("small").unwrap().to_string(), "2.50");
    }

    #[test]
    fn values_the_rust_type_refuses_are_a_422_naming_the_path() {
        let mut a = Args::parse(r#"{"small": 300, "ids": [1, -2], "big": 18446744073709551615}"#).unwrap();
        assert_eq!(a.take::<u8>("small"), None);
        assert_eq!(a.take::<Vec<u32>>("ids"), None);
        assert_eq!(a.take::<i64>("big"), None);
        assert_eq!(a.take::<String>("missing"), None);
        let d = details(a.into_outcome());
        assert_eq!(d["fields"]["small"][0], "invalid value: integer `300`, expected u8");
        assert_eq!(d["fields"]["ids.1"][0], "invalid value: integer `-2`, expected u32");
        assert!(d["fields"]["big"][0].as_str().unwrap().contains("expected i64"), "{d}");
        assert_eq!(d["fields"]["missing"], json!(["Field required"]));
    }

    #[test]
    fn engine_bugs_are_exceptions() {
        assert!(matches!(Args::parse("[1]"), Err(Outcome::Exception(_))));
        assert!(matches!(Args::parse("{"), Err(Outcome::Exception(_))));
        assert!(matches!(downcast_ctx::<String>(Box::new(5u8), "f"), Err(Outcome::Exception(t)) if t.contains("`f` takes a `alloc::string::String`")));
        assert_eq!(downcast_ctx::<u8>(Box::new(5u8), "f").unwrap(), 5);
    }

    #[test]
    fn results() {
        assert_eq!(result_outcome::<_, ProtocolError>("f", Ok(json!({"a": 1}))), Outcome::Ok(r#"{"a":1}"#.into()));
        let err = ProtocolError::new(ProtocolCode::NotFound, "No such item");
        assert_eq!(result_outcome::<Value, _>("f", Err(err.clone())), Outcome::Error(err));
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1); // a map with non-string keys is not JSON
        assert!(matches!(value_outcome("f", &bad), Outcome::Exception(t) if t.contains("`f` returned a value that is not JSON")));
    }
}
