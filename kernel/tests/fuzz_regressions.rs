//! Every input the fuzzers (kernel/fuzz, scripts/fuzz.sh) found to crash a target, kept as a
//! test of the behaviour that fixed it. docs/RELIABILITY.md lists the runs.

use mizan_kernel::header::{format_header, parse_header};
use mizan_kernel::invalidation::entries_from_json;
use mizan_kernel::server::{EngineConfig, Identity, ServerEngine};
use mizan_kernel::ErrorCode;
use serde_json::json;

/// fuzz target `header`: the context `*` formatted as itself, a header the parser refuses.
#[test]
fn a_context_the_parser_refuses_is_not_formatted() {
    let entries = entries_from_json(&json!(["*", "-1157442765409222699"])).unwrap();
    let e = format_header(&entries).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidHeader, "{e}");
    assert!(parse_header("*").is_err(), "the parser refuses `*` too");
    assert!(entries_from_json(&json!([""])).is_err(), "an empty context never becomes an entry");
    // A context that merely contains `*` is an ordinary name.
    let entries = entries_from_json(&json!(["a*b"])).unwrap();
    assert_eq!(parse_header(&format_header(&entries).unwrap()).unwrap(), entries);
}

/// fuzz target `header`: an empty param name was formatted as `;=…`, which the parser refuses.
#[test]
fn an_empty_param_or_function_name_is_not_formatted() {
    let entries = entries_from_json(&json!([{"context": "id", "params": {"": "7306357456645743973"}}, "-169988809464475", "0"])).unwrap();
    assert_eq!(format_header(&entries).unwrap_err().code, ErrorCode::InvalidHeader);
    assert!(parse_header("id;=7306357456645743973").is_err(), "the parser refuses it too");
    if let Ok(entries) = entries_from_json(&json!([{"context": "user", "function": "", "params": {"id": 1}}])) {
        assert_eq!(format_header(&entries).unwrap_err().code, ErrorCode::InvalidHeader);
    }
    // An empty value is fine both ways.
    let entries = entries_from_json(&json!([{"context": "user", "params": {"q": ""}}])).unwrap();
    assert_eq!(parse_header(&format_header(&entries).unwrap()).unwrap(), entries);
}

/// fuzz target `token`: an MWT minted with `perm: ""` was refused by its own verifier.
#[test]
fn an_empty_perm_is_refused_when_minting() {
    let config = EngineConfig { mwt_secret: Some("fuzz-mwt-secret-of-32-bytes-long".into()), ..EngineConfig::default() };
    let engine = ServerEngine::from_json(r#"{"functions": {}}"#, config).unwrap();
    let now = 16_191;
    let mut who = Identity { subject: "\0\0\0".into(), staff: true, perm: Some(String::new()), ..Identity::default() };
    let e = engine.mint_mwt(&who, now).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    who.perm = Some("p1".into());
    let claims = engine.verify_mwt(&engine.mint_mwt(&who, now).unwrap(), now).unwrap();
    assert_eq!((claims.subject.as_str(), claims.perm.as_deref()), ("\0\0\0", Some("p1")));
}

/// fuzz target `token`: at `now = u64::MAX` ms a freshly minted token was already expired
/// (the expiry in milliseconds saturated to `now`).
#[test]
fn a_token_minted_at_the_end_of_time_is_valid_until_it_expires() {
    let config = EngineConfig { jwt_secret: Some("fuzz-jwt-secret-of-32-bytes-long".into()), ..EngineConfig::default() };
    let engine = ServerEngine::from_json(r#"{"functions": {}}"#, config).unwrap();
    let now = u64::MAX;
    let pair = engine.mint_jwt_pair(&Identity::user("k"), "\0\0\u{f}\0\0\0", now).unwrap();
    let claims = engine.verify_jwt(&pair.access, mizan_kernel::server::TokenKind::Access, now).unwrap();
    assert_eq!(claims.expires_at, now / 1000 + 300);
    let mwt_config = EngineConfig { mwt_secret: Some("fuzz-mwt-secret-of-32-bytes-long".into()), ..EngineConfig::default() };
    let mwt_engine = ServerEngine::from_json(r#"{"functions": {}}"#, mwt_config).unwrap();
    assert!(mwt_engine.verify_mwt(&mwt_engine.mint_mwt(&Identity::user("k"), now).unwrap(), now).is_ok());
}
