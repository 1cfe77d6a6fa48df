use super::*;
use crate::server::engine::EngineConfig;
use crate::server::http::Request;
use crate::server::Outcome;

const REGISTRY: &str = r#"{
  "functions": {
    "items_list": {"context": "items", "inputs": {"page": "optional<integer>"}, "output": "any", "cache": 60},
    "user_profile": {"context": "user", "inputs": {"user_id": "integer"}, "output": "any", "auth": "required"},
    "audit_log": {"context": "audit", "output": "any", "auth": "predicate:can_audit"},
    "rename_item": {"inputs": {"id": "integer", "name": "string"}, "output": "any", "affects": ["items"]}
  }
}"#;

fn server(hooks: Hooks) -> Server {
    let config = EngineConfig {
        cache_secret: Some("c".repeat(32)),
        mwt_secret: Some("m".repeat(32)),
        ..EngineConfig::default()
    };
    Server::new(ServerEngine::from_json(REGISTRY, config).unwrap(), hooks)
}

const BOTH: Hooks = Hooks { identity: true, revocation: true };

fn arrival(request: Request) -> Arrival {
    Arrival { request, pending: None, now_ms: 1_700_000_000_000, identity: None }
}

fn arrived(request: Request) -> Event {
    Event::Arrived(arrival(request))
}

fn response(effects: &[Effect]) -> &Response {
    match effects.last() {
        Some(Effect::Respond(r)) => r,
        other => panic!("expected a response last, got {other:?}"),
    }
}

fn ok(v: &str) -> RunOutcome {
    RunOutcome::Done(Outcome::Ok(v.to_string()))
}

#[test]
fn a_miss_runs_the_members_then_puts_and_responds() {
    let mut x = server(BOTH).exchange();
    let e = x.update(vec![arrived(Request::get("/api/mizan/ctx/items/").with_query("page=2"))]).unwrap();
    assert_eq!(e, vec![Effect::ResolveIdentity]);
    let e = x.update(vec![Event::Identity(None)]).unwrap();
    let [Effect::Lookup(key)] = e.as_slice() else { panic!("{e:?}") };
    assert!(key.starts_with("ctx:items:"));
    let e = x.update(vec![Event::Found { body: None, ticket: Some(7) }]).unwrap();
    let [Effect::Run { calls, identity: None }] = e.as_slice() else { panic!("{e:?}") };
    assert_eq!(calls[0].function, "items_list");
    assert_eq!(calls[0].args["page"], 2);
    let e = x.update(vec![Event::Ran { outcomes: vec![ok("[1]")], pending: None }]).unwrap();
    let [Effect::Put { entry, ticket: Some(7) }, Effect::Respond(r)] = e.as_slice() else { panic!("{e:?}") };
    assert_eq!(entry.body, r#"{"items_list":[1]}"#);
    assert_eq!(r.header("X-Mizan-Cache"), Some("MISS"));
    assert!(x.done(), "responded: the put is answered only if it fails");
    assert_eq!(x.update(vec![Event::Stored]).unwrap(), vec![], "a success may still be told");
    assert!(x.update(vec![Event::Stored]).is_err(), "nothing after the response but the put's answer");
}

#[test]
fn a_failed_put_is_logged_after_the_response() {
    let mut x = server(Hooks::default()).exchange();
    x.update(vec![arrived(Request::get("/api/mizan/ctx/items/"))]).unwrap();
    x.update(vec![Event::Found { body: None, ticket: Some(1) }]).unwrap();
    let e = x.update(vec![Event::Ran { outcomes: vec![ok("[]")], pending: None }]).unwrap();
    assert!(matches!(e.as_slice(), [Effect::Put { .. }, Effect::Respond(_)]), "{e:?}");
    let e = x.update(vec![Event::PutFailed("full".into())]).unwrap();
    assert!(matches!(e.as_slice(), [Effect::Log { level: LogLevel::Warning, text }] if text == "cache write failed: full"), "{e:?}");
    assert!(x.update(vec![Event::PutFailed("again".into())]).is_err(), "one answer");
    assert!(x.update(vec![Event::Refused(ProtocolError::internal())]).is_err(), "responded");
}

#[test]
fn a_hit_is_sent_as_stored() {
    let mut x = server(Hooks::default()).exchange();
    let e = x.update(vec![arrived(Request::get("/api/mizan/ctx/items/"))]).unwrap();
    assert!(matches!(e.as_slice(), [Effect::Lookup(_)]), "no session resolver: not asked");
    let e = x.update(vec![Event::Found { body: Some("{\"items_list\":[]}".into()), ticket: Some(1) }]).unwrap();
    let r = response(&e);
    assert_eq!((r.status, r.body.as_str(), r.header("X-Mizan-Cache")), (200, "{\"items_list\":[]}", Some("HIT")));
}

#[test]
fn a_failed_purge_is_logged_kept_and_the_call_still_answers() {
    let mut x = server(BOTH).exchange();
    let body = r#"{"fn":"rename_item","args":{"id":1,"name":"x"}}"#;
    x.update(vec![arrived(Request::post("/api/mizan/call/", body)), Event::Identity(None)]).unwrap();
    let e = x.update(vec![Event::Ran { outcomes: vec![ok("{}")], pending: None }]).unwrap();
    let [Effect::Purge(plan), Effect::Respond(r)] = e.as_slice() else { panic!("{e:?}") };
    assert_eq!(r.status, 200, "the purge comes with the response, before it");
    let plan = plan.clone();
    let e = x.update(vec![Event::PurgeFailed("redis down".into())]).unwrap();
    assert!(matches!(&e[0], Effect::Log { level: LogLevel::Error, text } if text.contains("redis down")));
    assert_eq!(e[1..], [Effect::KeepPending(plan.clone())]);

    // The next fetch of what the plan covers retries it, and is served without the cache while it fails.
    let mut x = server(BOTH).exchange();
    let e = x
        .update(vec![
            Event::Arrived(Arrival { pending: Some(plan.clone()), ..arrival(Request::get("/api/mizan/ctx/items/")) }),
            Event::Identity(None),
        ])
        .unwrap();
    assert_eq!(e, vec![Effect::ResolveIdentity, Effect::RetryPurge(plan.clone())]);
    let e = x.update(vec![Event::Retried(Some(plan.clone()))]).unwrap();
    assert!(matches!(e.as_slice(), [Effect::Run { .. }]), "fenced: no lookup: {e:?}");
    let e = x.update(vec![Event::Ran { outcomes: vec![ok("[]")], pending: Some(plan) }]).unwrap();
    assert!(matches!(e.as_slice(), [Effect::Respond(_)]), "fenced: no put: {e:?}");
}

#[test]
fn a_cache_read_failure_is_a_miss() {
    let mut x = server(Hooks::default()).exchange();
    x.update(vec![arrived(Request::get("/api/mizan/ctx/items/"))]).unwrap();
    let e = x.update(vec![Event::LookupFailed("timeout".into())]).unwrap();
    assert!(matches!(&e[0], Effect::Log { level: LogLevel::Warning, text } if text.contains("served as a miss")));
    let e2 = x.update(vec![Event::Ran { outcomes: vec![ok("[]")], pending: None }]).unwrap();
    assert!(matches!(&e[1], Effect::Run { .. }));
    assert!(matches!(e2.as_slice(), [Effect::Put { ticket: None, .. }, Effect::Respond(_)]), "{e2:?}");
}

#[test]
fn a_token_header_replaces_the_session_so_it_is_never_resolved() {
    let s = server(BOTH);
    let token = s.engine().mint_mwt(&Identity::user("5"), 1_700_000_000_000).unwrap();
    let mut x = s.exchange();
    let request = Request::get("/api/mizan/ctx/user/").with_query("user_id=5").with_header("X-Mizan-Token", token);
    let e = x.update(vec![arrived(request)]).unwrap();
    assert!(matches!(e.as_slice(), [Effect::Lookup(_)]), "{e:?}");

    let mut x = s.exchange();
    let request = Request::get("/api/mizan/ctx/user/").with_query("user_id=5").with_header("X-Mizan-Token", "bogus");
    let e = x.update(vec![arrived(request)]).unwrap();
    assert_eq!(response(&e).status, 401);
}

#[test]
fn errors_the_engine_answers_alone_ask_nothing() {
    for (request, status) in [
        (Request::get("/api/mizan/nope/"), 404),
        (Request::get("/api/mizan/call/"), 405),
        (Request::post("/api/mizan/call/", vec![b' '; crate::server::engine::DEFAULT_BODY_LIMIT + 1]), 413),
    ] {
        let e = server(BOTH).exchange().update(vec![arrived(request)]).unwrap();
        assert_eq!(response(&e).status, status);
        assert_eq!(e.len(), 1);
    }
}

#[test]
fn a_revoked_session_and_unknown_predicates_are_refused() {
    let s = server(BOTH);
    let mut who = Identity::user("5");
    who.session_id = Some("sid-1".into());
    let mut x = s.exchange();
    let request = Request::get("/api/mizan/ctx/user/").with_query("user_id=5");
    x.update(vec![arrived(request), Event::Identity(Some(who))]).unwrap();
    let e = x.update(vec![Event::Revoked(true)]).unwrap();
    assert_eq!((response(&e).status, response(&e).body.contains("Session revoked")), (401, true));

    let mut x = s.exchange();
    let e = x.update(vec![arrived(Request::get("/api/mizan/ctx/audit/")), Event::Identity(Some(Identity::user("1")))]).unwrap();
    assert!(matches!(&e[1], Effect::CheckPredicates(c) if c.predicates == ["can_audit"]), "{e:?}");
    let e = x.update(vec![Event::Predicates(vec![("can_audit".into(), Verdict::Missing)])]).unwrap();
    assert!(matches!(&e[0], Effect::Log { level: LogLevel::Warning, .. }));
    assert_eq!(response(&e).status, 403);
}

#[test]
fn misplaced_events_and_wrong_counts_are_typed_errors_and_change_nothing() {
    let mut x = server(BOTH).exchange();
    let err = x.update(vec![Event::Purged]).unwrap_err();
    assert_eq!(err.code, crate::ErrorCode::InvalidArgument);
    assert!(err.message.contains("expected arrived"), "{}", err.message);
    x.update(vec![arrived(Request::get("/api/mizan/ctx/items/")), Event::Identity(None), Event::Found { body: None, ticket: None }])
        .unwrap();
    assert!(x.update(vec![Event::Ran { outcomes: vec![], pending: None }]).is_err());
    let e = x.update(vec![Event::Ran { outcomes: vec![RunOutcome::Missing], pending: None }]).unwrap();
    assert!(matches!(&e[0], Effect::Log { level: LogLevel::Error, text } if text.contains("no implementation registered")));
    assert_eq!(response(&e).status, 500);
}

#[test]
fn an_identity_failure_and_a_host_refusal_answer_in_the_envelope() {
    let mut x = server(BOTH).exchange();
    x.update(vec![arrived(Request::get("/api/mizan/ctx/items/"))]).unwrap();
    let e = x.update(vec![Event::IdentityFailed("panicked".into())]).unwrap();
    assert_eq!(response(&e).status, 500);
    assert!(!response(&e).body.contains("panicked"));

    let mut x = server(BOTH).exchange();
    let refusal = ProtocolError::new(crate::server::ProtocolCode::PayloadTooLarge, "Request body too large");
    let e = x.update(vec![Event::Refused(refusal)]).unwrap();
    assert_eq!(response(&e).status, 413);
}

#[test]
fn the_json_form_reads_every_event() {
    for text in [
        r#""purged""#,
        r#""stored""#,
        r#"{"arrived": {"request": {"method": "GET", "path": "/x"}, "pending": null, "now": 5}}"#,
        r#"{"refused": {"code": "FORBIDDEN", "message": "CSRF"}}"#,
        r#"{"identity": {"subject": "5"}}"#,
        r#"{"identity_failed": "boom"}"#,
        r#"{"revoked": false}"#,
        r#"{"predicates": [{"name": "p", "verdict": "allow"}, {"name": "q", "verdict": {"raised": "x"}}]}"#,
        r#"{"ran": {"outcomes": [{"ok": 1}, "missing", {"exception": "e"}], "pending": null}}"#,
        r#"{"retried": {"scopes": []}}"#,
        r#"{"found": {"body": null, "ticket": 3}}"#,
        r#"{"lookup_failed": "x"}"#,
        r#"{"purge_failed": "x"}"#,
        r#"{"put_failed": "x"}"#,
    ] {
        json::event_from(&serde_json::from_str(text).unwrap()).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    assert!(json::event_from(&serde_json::json!({"bogus": 1})).is_err());
    assert!(json::event_from(&serde_json::json!({"revoked": "yes"})).is_err());
}

#[test]
fn begin_takes_the_arrival_and_a_host_without_the_hook_gives_the_session_up_front() {
    let s = server(Hooks::default());
    let request = Request::get("/api/mizan/ctx/user/").with_query("user_id=5");
    let (_, e) = s.begin(arrival(request.clone()));
    assert_eq!(response(&e).status, 401, "no session given: anonymous");
    let (mut x, e) = s.begin(Arrival { identity: Some(Identity::user("5")), ..arrival(request.clone()) });
    assert!(matches!(e.as_slice(), [Effect::Lookup(_)]), "{e:?}");
    assert!(x.update(vec![arrived(request.clone())]).is_err(), "arrived twice");
    // With the hook, an identity in the arrival is not the session: the exchange asks.
    let (_, e) = server(BOTH).begin(Arrival { identity: Some(Identity::user("5")), ..arrival(request) });
    assert_eq!(e, vec![Effect::ResolveIdentity]);
}

#[test]
fn a_responded_exchange_takes_the_next_request_as_a_new_one() {
    let s = server(Hooks::default());
    let mut x = s.exchange();
    let miss = |x: &mut Exchange| {
        let e = x.update(vec![arrived(Request::get("/api/mizan/ctx/items/"))]).unwrap();
        assert!(matches!(e.as_slice(), [Effect::Lookup(_)]), "{e:?}");
        x.update(vec![Event::Found { body: Some("{\"items_list\":[]}".into()), ticket: Some(1) }]).unwrap()
    };
    let first = miss(&mut x);
    assert!(x.done());
    assert!(x.update(vec![Event::Found { body: None, ticket: None }]).is_err(), "a late answer is still refused");
    assert_eq!(miss(&mut x), first, "the second request is served as the first");
    let mut fresh = s.exchange();
    assert_eq!(miss(&mut fresh), first);
    let (mut again, e) = s.begin(arrival(Request::get("/api/mizan/session/")));
    assert!(matches!(e.as_slice(), [Effect::Respond(_)]));
    assert_eq!(miss(&mut again), first, "a begun exchange is reused the same way");
}

#[test]
fn an_arrival_mid_exchange_is_refused() {
    let mut x = server(Hooks::default()).exchange();
    x.update(vec![arrived(Request::get("/api/mizan/ctx/items/"))]).unwrap();
    let e = x.update(vec![arrived(Request::get("/api/mizan/ctx/items/"))]).unwrap_err();
    assert!(e.to_string().contains("expected found or lookup-failed"), "{e}");
    assert!(!x.done(), "the exchange still waits for its lookup");
}

#[test]
fn next_is_update_with_one_arrival() {
    let s = server(Hooks::default());
    let (mut by_next, mut by_update) = (s.exchange(), s.exchange());
    let items = || arrival(Request::get("/api/mizan/ctx/items/"));
    assert_eq!(by_next.next(items()).unwrap(), by_update.update(vec![Event::Arrived(items())]).unwrap());
    let mid = by_next.next(items()).unwrap_err();
    assert_eq!(mid.to_string(), by_update.update(vec![Event::Arrived(items())]).unwrap_err().to_string());
    assert!(mid.to_string().contains("expected found or lookup-failed"), "{mid}");
    let found = || vec![Event::Found { body: Some("{\"items_list\":[]}".into()), ticket: Some(1) }];
    assert_eq!(by_next.update(found()).unwrap(), by_update.update(found()).unwrap());
    let session = || arrival(Request::get("/api/mizan/session/"));
    assert_eq!(by_next.next(session()).unwrap(), by_update.update(vec![Event::Arrived(session())]).unwrap(), "a responded exchange");
    assert!(by_next.done() && by_update.done());
}
