//! The component glue: translate between the WIT contract (`wit/`) and mizan-kernel. No logic
//! lives here; every rule is in the kernel crate, so the native crate and the component cannot
//! disagree.
//!
//! Two components from one crate: feature `full` (default) builds `world kernel`, every
//! interface; without it, `world client` (wit/session.wit), the browser's component: the client
//! session alone, built from the kernel without its `server` feature.

#[cfg(feature = "full")]
use mizan_kernel::canon;
#[cfg(feature = "full")]
use mizan_kernel::{header as kheader, invalidation, merge as kmerge};

#[cfg(feature = "full")]
wit_bindgen::generate!({
    path: "../../wit",
    world: "kernel",
});

#[cfg(not(feature = "full"))]
wit_bindgen::generate!({
    path: "../../wit",
    world: "client",
});

use exports::mizan::kernel::types::{Error, ErrorCode};
#[cfg(feature = "full")]
use exports::mizan::kernel::{header as wheader, merge as wmerge};

#[cfg(feature = "full")]
mod full;
#[cfg(feature = "full")]
mod exchange;
#[cfg(feature = "full")]
mod server;
mod session;
#[cfg(feature = "full")]
mod store;

pub(crate) struct Kernel;

pub(crate) fn err(e: mizan_kernel::Error) -> Error {
    use mizan_kernel::ErrorCode as K;
    Error {
        code: match e.code {
            K::InvalidJson => ErrorCode::InvalidJson,
            K::InvalidArgument => ErrorCode::InvalidArgument,
            K::InvalidHeader => ErrorCode::InvalidHeader,
            K::InvalidIr => ErrorCode::InvalidIr,
            K::InvalidRegistry => ErrorCode::InvalidRegistry,
            K::NotFound => ErrorCode::NotFound,
        },
        message: e.message,
        details: e.details.as_ref().map(mizan_kernel::canon::json_text),
    }
}

pub(crate) type R<T> = Result<T, Error>;

// `header` and `merge` are the full world's only: the client world leaves them out (wit/session.wit).
#[cfg(feature = "full")]
impl wheader::Guest for Kernel {
    fn format_invalidate_header(entries_json: String) -> R<String> {
        let value = canon::parse_json(&entries_json, "entries").map_err(err)?;
        kheader::format_header(&invalidation::entries_from_json(&value).map_err(err)?).map_err(err)
    }

    fn parse_invalidate_header(text: String) -> R<String> {
        let entries = kheader::parse_header(&text).map_err(err)?;
        Ok(canon::json_text(&invalidation::entries_to_json(&entries)))
    }
}

#[cfg(feature = "full")]
impl wmerge::Guest for Kernel {
    fn apply_merge(bundle_json: String, entry_json: String) -> R<Option<String>> {
        let mut bundle = canon::parse_object(&bundle_json, "bundle").map_err(err)?;
        let entry = kmerge::MergeEntry::from_json(&canon::parse_json(&entry_json, "entry").map_err(err)?).map_err(err)?;
        let changed = kmerge::apply_merge(&mut bundle, &entry).map_err(err)?;
        Ok(changed.then(|| canon::json_text(&serde_json::Value::Object(bundle))))
    }
}

export!(Kernel);
