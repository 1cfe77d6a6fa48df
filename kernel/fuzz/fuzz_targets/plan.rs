//! The server engine (KERNEL.md §8) over arbitrary requests: method, path, query, headers (with
//! real and damaged tokens), body, identity and predicate answers, then arbitrary function
//! outcomes through `finish_call` / `finish_fetch`. Never a panic; every response the engine
//! assembles has a known status and a JSON body (a cache hit's body is the host's own bytes).
#![no_main]

use libfuzzer_sys::arbitrary::{self, Unstructured};
use libfuzzer_sys::fuzz_target;
use mizan_kernel::server::{
    EngineConfig, FetchOutcome, Finished, Identity, Outcome, Plan, ProtocolCode, ProtocolError, Request, Response, ServerEngine,
};
use mizan_kernel::Registry;
use mizan_kernel_fuzz::{NAMES, json, json_text, object, short_string};
use std::sync::OnceLock;

const SHOP: &str = include_str!("../../../tests/fixtures/ir/shop.kdl");
/// Inputs of every kind the validator coerces, and each kind of auth guard.
const TYPED: &str = r#"{
  "functions": {
    "typed": {"inputs": {"count": "integer", "ratio": "number", "flag": "boolean", "tags": "list<string>",
              "maybe": "optional<integer>", "filter": {"type": "Filter", "required": false},
              "anything": {"type": "any", "required": false}, "nothing": {"type": "null", "required": false}},
              "output": "any", "affects": ["typed_ctx"], "merge": ["typed_ctx"]},
    "typed_read": {"context": "typed_ctx", "inputs": {"count": "integer", "ids": {"type": "list<integer>", "required": false},
                   "filter": {"type": "Filter", "required": false}, "maybe": "optional<integer>"}, "output": "list<Item>", "cache": 60},
    "guarded": {"context": "typed_ctx", "output": "any", "auth": "predicate:can_read"},
    "super_op": {"inputs": {"n": "integer"}, "output": "any", "auth": "superuser"},
    "staff_read": {"context": "reports", "output": "any", "auth": "staff"},
    "mine": {"context": "user", "inputs": {"user_id": "integer"}, "output": "any", "auth": "required"}
  },
  "types": {"Filter": {"name": "string", "limit": "optional<integer>"}, "Item": {"id": "integer", "name": "string"}}
}"#;
const CACHE: &str = "fuzz-cache-secret-of-32-bytes-ok";
const MWT: &str = "fuzz-mwt-secret-of-32-bytes-long";
const JWT: &str = "fuzz-jwt-secret-of-32-bytes-long";
const STATUSES: [u16; 11] = [200, 204, 400, 401, 403, 404, 405, 413, 422, 500, 501];

fn engines() -> &'static [ServerEngine; 3] {
    static ENGINES: OnceLock<[ServerEngine; 3]> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let full = EngineConfig {
            cache_secret: Some(CACHE.into()),
            mwt_secret: Some(MWT.into()),
            jwt_secret: Some(JWT.into()),
            body_limit: 4096,
            ..EngineConfig::default()
        };
        let shop = Registry::from_kdl(SHOP).expect("the shop fixture parses").to_json().to_string();
        [
            ServerEngine::from_json(&shop, full.clone()).expect("shop engine"),
            ServerEngine::from_json(TYPED, full).expect("typed engine"),
            ServerEngine::from_json(TYPED, EngineConfig { base_path: String::new(), ..EngineConfig::default() }).expect("bare engine"),
        ]
    })
}

fn identity(u: &mut Unstructured<'_>) -> arbitrary::Result<Identity> {
    Ok(Identity {
        subject: short_string(u)?,
        staff: u.arbitrary()?,
        superuser: u.arbitrary()?,
        perm: if u.arbitrary()? { Some(short_string(u)?) } else { None },
        session_id: if u.arbitrary()? { Some(short_string(u)?) } else { None },
        ..Identity::default()
    })
}

fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(u.arbitrary::<&str>()?.to_string())
}

fn path(u: &mut Unstructured<'_>, base: &str) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=5)? {
        0 => text(u)?,
        1 => format!("{base}/call/"),
        2 => format!("{base}/session/"),
        3 => format!("{base}/ctx/{}/", u.choose(NAMES)?),
        4 => format!("{base}/ctx/{}{}", short_string(u)?, text(u)?),
        _ => format!("{base}/{}", text(u)?),
    })
}

fn query(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.ratio(1, 4)? {
        return text(u);
    }
    let mut parts = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let key = if u.arbitrary()? { (*u.choose(NAMES)?).to_string() } else { short_string(u)? };
        let value = match u.int_in_range(0..=3)? {
            0 => u.arbitrary::<i64>()?.to_string(),
            1 => json_text(u, 1)?,
            _ => short_string(u)?,
        };
        parts.push(format!("{key}={value}"));
    }
    Ok(parts.join("&"))
}

fn headers(u: &mut Unstructured<'_>, e: &ServerEngine, now: u64) -> arbitrary::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let who = identity(u)?;
        let (name, value) = match u.int_in_range(0..=4)? {
            0 => ("X-Mizan-Token".to_string(), e.mint_mwt(&who, now).unwrap_or_default()),
            1 => {
                let pair = e.mint_jwt_pair(&who, "s1", now).ok();
                let t = pair.map(|p| if u.arbitrary().unwrap_or(true) { p.access } else { p.refresh }).unwrap_or_default();
                ("Authorization".to_string(), format!("Bearer {t}"))
            }
            2 => ((*u.choose(&["X-Mizan-Token", "Authorization", "authorization", "x-mizan-token"])?).to_string(), text(u)?),
            _ => (text(u)?, text(u)?),
        };
        // Damage a real token now and then.
        let value = if u.ratio(1, 4)? && !value.is_empty() {
            let mut b = value.into_bytes();
            let i = u.choose_index(b.len())?;
            b[i] = b'A' + u.int_in_range(0..=25)?;
            String::from_utf8_lossy(&b).into_owned()
        } else {
            value
        };
        out.push((name, value));
    }
    Ok(out)
}

fn body(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.arbitrary::<&[u8]>()?.to_vec(),
        1 => json_text(u, 3)?.into_bytes(),
        _ => {
            let mut call = serde_json::Map::new();
            call.insert("fn".into(), serde_json::Value::String((*u.choose(NAMES)?).to_string()));
            call.insert("args".into(), serde_json::Value::Object(object(u, 2)?));
            serde_json::Value::Object(call).to_string().into_bytes()
        }
    })
}

fn outcome(u: &mut Unstructured<'_>) -> arbitrary::Result<Outcome> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Outcome::Ok(text(u)?),
        1 => {
            let code = *u.choose(&ProtocolCode::ALL)?;
            let mut err = ProtocolError::new(code, short_string(u)?);
            if u.arbitrary()? {
                err = err.with_details(json(u, 2)?);
            }
            Outcome::Error(err)
        }
        2 => Outcome::Exception(text(u)?),
        _ => Outcome::Ok(json(u, 3)?.to_string()),
    })
}

#[track_caller]
fn check(r: &Response, json_body: bool) {
    assert!(STATUSES.contains(&r.status), "unexpected status {} ({})", r.status, r.body);
    if json_body {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&r.body) {
            panic!("status {}: the body is not JSON ({e}): {:?}", r.status, r.body);
        }
    }
    for (name, value) in &r.headers {
        assert!(!name.is_empty() && !name.contains(['\r', '\n', ':']), "bad header name {name:?}");
        assert!(!value.contains(['\r', '\n']), "header {name} has a line break: {value:?}");
    }
}

fn finished(f: &Finished, json_body: bool) {
    check(&f.response, json_body);
}

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let e = u.choose(engines())?;
    let base = e.config().base_path.clone();
    let now: u64 = if u.arbitrary()? { 1_700_000_000_000 + u64::from(u.arbitrary::<u32>()?) } else { u.arbitrary()? };
    let method = match u.int_in_range(0..=5)? {
        0 | 1 => "GET".to_string(),
        2 | 3 => "POST".to_string(),
        4 => (*u.choose(&["HEAD", "PUT", "get", "post", "OPTIONS", "PROPFIND"])?).to_string(),
        _ => text(u)?,
    };
    let request = Request {
        method,
        path: path(u, &base)?,
        query: query(u)?,
        headers: headers(u, e, now)?,
        body: body(u)?,
        csrf_token: if u.arbitrary()? { Some(text(u)?) } else { None },
        ..Request::default()
    };
    let who = if u.arbitrary()? { Some(identity(u)?) } else { None };
    let mut plan = e.plan(&request, who.as_ref(), now);
    if let Plan::CheckPredicates(check) = &plan {
        let mut answers = Vec::new();
        for p in &check.predicates {
            answers.push((p.clone(), u.arbitrary()?));
        }
        plan = e.plan_with(&request, who.as_ref(), now, &answers);
        assert!(!matches!(plan, Plan::CheckPredicates(_)), "every predicate was answered, yet the engine asks again");
    }
    if let Plan::Respond(r) = &plan {
        check(r, true);
    }
    if let Plan::Call(call) = &plan {
        finished(&e.finish_call(call, outcome(u)?), true);
    }
    if let Plan::Fetch(fetch) = &plan {
        if fetch.cache.is_some() && u.ratio(1, 4)? {
            finished(&e.finish_fetch(&fetch.context, fetch.cache.as_ref(), FetchOutcome::Hit(text(u)?)), false);
        }
        let mut results = Vec::new();
        for m in &fetch.members {
            results.push((m.function.clone(), outcome(u)?));
        }
        if u.ratio(1, 8)? {
            results.push((short_string(u)?, outcome(u)?)); // an outcome for no member
        }
        finished(&e.finish_fetch(&fetch.context, fetch.cache.as_ref(), FetchOutcome::Results(results)), true);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
