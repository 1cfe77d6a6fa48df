//! The MWT/JWT verifier (KERNEL.md §10) on arbitrary tokens, and on minted tokens with bytes
//! changed: never a panic; a minted token verifies at its own `now` with its claims; a changed
//! token either fails or (base64 allows a few spellings of the same bytes) says exactly what the
//! minted one said.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mizan_kernel::server::token::{self, TokenKind};
use mizan_kernel::server::{EngineConfig, Identity, ServerEngine};
use std::sync::OnceLock;

const MWT: &str = "fuzz-mwt-secret-of-32-bytes-long";
const JWT: &str = "fuzz-jwt-secret-of-32-bytes-long";

fn engine() -> &'static ServerEngine {
    static ENGINE: OnceLock<ServerEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = EngineConfig { mwt_secret: Some(MWT.into()), jwt_secret: Some(JWT.into()), ..EngineConfig::default() };
        ServerEngine::from_json(r#"{"functions": {}}"#, config).expect("an empty registry")
    })
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    raw: &'a str,
    subject: &'a str,
    staff: bool,
    superuser: bool,
    perm: Option<&'a str>,
    session: &'a str,
    now_ms: u64,
    later_ms: u32,
    leeway: u8,
    /// (position, replacement) pairs applied to a minted token.
    edits: Vec<(u16, u8)>,
}

const KINDS: [TokenKind; 3] = [TokenKind::Mwt, TokenKind::Access, TokenKind::Refresh];

fn edit(token: &str, edits: &[(u16, u8)]) -> String {
    let mut bytes = token.as_bytes().to_vec();
    for &(at, b) in edits {
        if !bytes.is_empty() {
            let i = usize::from(at) % bytes.len();
            bytes[i] = b" !.-_=+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[usize::from(b) % 70];
        }
    }
    String::from_utf8(bytes).expect("ASCII edits of an ASCII token")
}

fuzz_target!(|input: Input<'_>| {
    for kind in KINDS {
        for secret in [MWT, JWT, ""] {
            let _ = token::verify(secret, input.raw, kind, input.now_ms, u64::from(input.leeway));
        }
    }
    let e = engine();
    let identity = Identity {
        subject: input.subject.to_string(),
        staff: input.staff,
        superuser: input.superuser,
        perm: input.perm.map(str::to_string),
        ..Identity::default()
    };
    let now = input.now_ms;
    let later = now.saturating_add(u64::from(input.later_ms));
    if let Ok(mwt) = e.mint_mwt(&identity, now) {
        let claims = e.verify_mwt(&mwt, now).unwrap_or_else(|err| panic!("a fresh MWT must verify: {err}"));
        assert_eq!((claims.subject.as_str(), claims.staff, claims.superuser), (input.subject, input.staff, input.superuser));
        assert!(e.verify_jwt(&mwt, TokenKind::Access, now).is_err(), "an MWT is not an access JWT");
        let _ = e.verify_mwt(&mwt, later);
        if let Ok(changed) = e.verify_mwt(&edit(&mwt, &input.edits), now) {
            assert_eq!(changed, claims, "an edited MWT verified with other claims");
        }
    }
    if let Ok(pair) = e.mint_jwt_pair(&identity, input.session, now) {
        let access = e.verify_jwt(&pair.access, TokenKind::Access, now).unwrap_or_else(|err| panic!("a fresh access JWT must verify: {err}"));
        assert_eq!(access.session_id.as_deref(), Some(input.session));
        e.verify_jwt(&pair.refresh, TokenKind::Refresh, now).unwrap_or_else(|err| panic!("a fresh refresh JWT must verify: {err}"));
        assert!(e.verify_jwt(&pair.refresh, TokenKind::Access, now).is_err(), "a refresh token is not an access token");
        if let Ok(changed) = e.verify_jwt(&edit(&pair.access, &input.edits), TokenKind::Access, later) {
            let original = e.verify_jwt(&pair.access, TokenKind::Access, later).expect("the original verifies when the edit does");
            assert_eq!(changed, original, "an edited access JWT verified with other claims");
        }
    }
});
