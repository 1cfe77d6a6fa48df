//! The session's rules, each in simulated time.

use super::*;
use serde_json::{Value, json};

struct Sim {
    s: ClientSession,
    now: u64,
}

fn inst(context: &str, params: Value) -> InstanceRef {
    InstanceRef { context: context.into(), params_json: params.to_string() }
}

fn http(request: u64, status: u16, body: Value) -> Event {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    Event::Answer(Answer { request, outcome: Outcome::Http(HttpAnswer { status, body, invalidate: None }) })
}

fn with_header(request: u64, body: Value, header: &str) -> Event {
    Event::Answer(Answer {
        request,
        outcome: Outcome::Http(HttpAnswer { status: 200, body: body.to_string(), invalidate: Some(header.into()) }),
    })
}

fn fetch(waiter: u64, context: &str, params: Value) -> Event {
    Event::Fetch(FetchWait { waiter, instance: inst(context, params), force: false })
}

fn call(waiter: u64, function: &str, args: Value) -> Event {
    Event::Call(CallWait { waiter, function: function.into(), args_json: args.to_string(), optimistic_json: None })
}

impl Sim {
    fn new(config: Value) -> Self {
        let mut c = config;
        c["seed"] = json!(7);
        Sim { s: ClientSession::new(SessionConfig::from_json(&c.to_string()).unwrap()), now: 1_000 }
    }

    fn go(&mut self, events: Vec<Event>) -> Output {
        let out = self.s.update(events, self.now);
        for r in &out.results {
            assert!(r.is_ok(), "event refused: {r:?}");
        }
        out
    }

    fn snapshot(&self, key: &str) -> Value {
        self.s.store().snapshot(key, self.now).unwrap_or(Value::Null)
    }
}

fn path(out: &Output, i: usize) -> &str {
    &out.requests[i].http.as_ref().unwrap().path
}

fn ids(out: &Output) -> Vec<u64> {
    out.requests.iter().map(|r| r.id).collect()
}

fn settled(out: &Output) -> Vec<(u64, Result<String, String>)> {
    out.settled.iter().map(|s| (s.waiter, s.outcome.clone().map_err(|e| e.code))).collect()
}

#[test]
fn requests_in_both_forms_and_a_first_view_with_every_slot() {
    let mut sim = Sim::new(json!({"stale_time_ms": 60_000}));
    let out = sim.go(vec![Event::Subscribe(inst("todos", json!({"list_id": 2, "q": "a b"})))]);
    assert_eq!(out.results, vec![Ok(Some("todos?list_id=2&q=a%20b".into()))]);
    let r = &out.requests[0];
    let h = r.http.as_ref().unwrap();
    assert_eq!((h.method.as_str(), h.path.as_str()), ("GET", "ctx/todos/?list_id=2&q=a%20b"));
    assert!(h.headers.is_empty() && r.op.is_none(), "an HTTP session: the HTTP form only");
    assert_eq!((r.kind, r.timeout_ms), (RequestKind::Fetch, 10_000));
    // A new instance: the host gets its first view (loading) with its context and params.
    assert_eq!(out.views.len(), 1);
    assert_eq!((out.views[0].status, out.views[0].fetching), (Status::Loading, true));
    assert_eq!(out.views[0].instance.as_ref().unwrap().context, "todos");

    let out = sim.go(vec![http(r.id, 200, json!({"todo_list": [1], "title": "x"}))]);
    let v = &out.views[0];
    assert_eq!((v.status, v.fetching, v.instance.is_none()), (Status::Success, false, true));
    assert_eq!(v.values, vec![("title".into(), "\"x\"".into()), ("todo_list".into(), "[1]".into())]);

    // Subscribing again changes nothing visible: no view, no request.
    let out = sim.go(vec![Event::Subscribe(inst("todos", json!({"list_id": "2", "q": "a b"})))]);
    assert!(out.views.is_empty() && out.requests.is_empty());
}

#[test]
fn a_view_carries_only_the_slots_that_changed() {
    let mut sim = Sim::new(json!({}));
    let out = sim.go(vec![Event::Subscribe(inst("board", json!({"id": 1})))]);
    sim.go(vec![http(out.requests[0].id, 200, json!({"cards": [1], "info": {"n": "b"}}))]);
    let out = sim.go(vec![Event::Invalidate(json!(["board"]).to_string())]);
    let v = &out.views[0];
    assert!(v.fetching && v.values.is_empty(), "refetching: no value resent");
    let out = sim.go(vec![http(out.requests[0].id, 200, json!({"cards": [1, 2], "info": {"n": "b"}}))]);
    assert_eq!(out.views[0].values, vec![("cards".into(), "[1,2]".into())]);
    assert_eq!(out.views[0].slots.as_ref().unwrap().len(), 2);
}

#[test]
fn a_fetch_waiter_waits_for_the_refetch_of_an_invalidation_that_landed_meanwhile() {
    let mut sim = Sim::new(json!({}));
    let out = sim.go(vec![fetch(1, "user", json!({"id": 5}))]);
    let first = out.requests[0].id;
    assert_eq!(sim.snapshot("user?id=5")["subscribers"], 1, "the waiter observes the instance");
    let out = sim.go(vec![Event::Invalidate(json!(["user"]).to_string()), http(first, 200, json!({"p": 1}))]);
    assert!(out.settled.is_empty(), "the answer is outdated: wait for the refetch");
    let out = sim.go(vec![http(ids(&out)[0], 200, json!({"p": 2}))]);
    assert_eq!(settled(&out), vec![(1, Ok("user?id=5".into()))]);
    assert_eq!(out.views.last().unwrap().values, vec![("p".into(), "2".into())]);
    assert_eq!(sim.snapshot("user?id=5")["subscribers"], 0);
}

#[test]
fn a_fresh_instance_settles_at_once_and_the_host_gets_its_view() {
    let mut sim = Sim::new(json!({"stale_time_ms": 60_000}));
    let out = sim.go(vec![Event::Prefetch(inst("user", json!({"id": 5})))]);
    sim.go(vec![http(out.requests[0].id, 200, json!({"p": 1}))]);
    let out = sim.go(vec![fetch(9, "user", json!({"id": 5}))]);
    assert!(out.requests.is_empty());
    assert_eq!(settled(&out), vec![(9, Ok("user?id=5".into()))]);
    // The host named it before (prefetch) and got its first view then: nothing new to send.
    assert!(out.views.is_empty());
}

#[test]
fn retries_wait_for_the_timer_and_4xx_settles_at_once_with_its_status() {
    let mut sim = Sim::new(json!({"retries": 2, "retry_base_ms": 100}));
    let out = sim.go(vec![fetch(1, "user", json!({"id": 5}))]);
    let out = sim.go(vec![http(out.requests[0].id, 503, Value::Null)]);
    assert!(out.settled.is_empty() && out.requests.is_empty());
    let timer = out.timer.expect("a retry timer");
    assert!((50..=100).contains(&timer.delay_ms), "{timer:?}");
    sim.now = timer.at_ms;
    let out = sim.go(vec![Event::Tick]);
    let out = sim.go(vec![http(out.requests[0].id, 200, json!({"p": 1}))]);
    assert_eq!(settled(&out), vec![(1, Ok("user?id=5".into()))]);

    let out = sim.go(vec![fetch(2, "user", json!({"id": 6}))]);
    let body = json!({"error": {"code": "NOT_FOUND", "message": "No such user", "details": {"id": 6}}});
    let out = sim.go(vec![http(out.requests[0].id, 404, body)]);
    let e = out.settled[0].outcome.clone().unwrap_err();
    assert_eq!((e.code.as_str(), e.message.as_str(), e.status, e.details_json.as_deref()), ("NOT_FOUND", "No such user", Some(404), Some("{\"id\":6}")));
    assert!(out.requests.is_empty() && out.timer.is_none(), "4xx is an answer: no retry");
    // Retries exhausted: the last error settles the waiter.
    let out = sim.go(vec![fetch(3, "user", json!({"id": 7}))]);
    let mut id = out.requests[0].id;
    for _ in 0..2 {
        let out = sim.go(vec![Event::Answer(Answer { request: id, outcome: Outcome::Failed(json!({"network": true, "message": "down"}).to_string()) })]);
        assert!(out.settled.is_empty());
        sim.now = out.timer.unwrap().at_ms;
        id = sim.go(vec![Event::Tick]).requests[0].id;
    }
    let out = sim.go(vec![Event::Answer(Answer { request: id, outcome: Outcome::Failed(json!({"network": true, "message": "down"}).to_string()) })]);
    let e = out.settled[0].outcome.clone().unwrap_err();
    assert_eq!((e.code.as_str(), e.network, e.status), ("NETWORK_ERROR", true, None));
}

#[test]
fn a_success_without_json_is_invalid_and_not_retried() {
    let mut sim = Sim::new(json!({}));
    let out = sim.go(vec![fetch(1, "user", json!({"id": 5}))]);
    let out = sim.go(vec![Event::Answer(Answer {
        request: out.requests[0].id,
        outcome: Outcome::Http(HttpAnswer { status: 200, body: "<html>".into(), invalidate: None }),
    })]);
    let e = out.settled[0].outcome.clone().unwrap_err();
    assert_eq!((e.code.as_str(), e.status), ("INVALID_RESPONSE", Some(502)));
    assert!(out.requests.is_empty());
    assert_eq!(out.timer.unwrap().delay_ms, 300_000, "only the gc timer of the now unobserved instance");
}

#[test]
fn calls_wait_for_the_session_and_carry_its_token() {
    let mut sim = Sim::new(json!({}));
    let out = sim.go(vec![Event::Start(Some(100)), call(1, "add", json!({"x": 1}))]);
    assert_eq!(out.requests.len(), 1, "the call is held for the session");
    assert_eq!(path(&out, 0), "session/");
    let out = sim.go(vec![http(out.requests[0].id, 200, json!({"csrfToken": "tok"}))]);
    assert_eq!(settled(&out), vec![(100, Ok("{\"csrfToken\":\"tok\"}".into()))]);
    let c = out.requests[0].http.as_ref().unwrap();
    assert_eq!((c.method.as_str(), c.path.as_str()), ("POST", "call/"));
    assert!(c.headers.contains(&("X-CSRFToken".into(), "tok".into())));
    assert_eq!(serde_json::from_str::<Value>(c.body.as_deref().unwrap()).unwrap(), json!({"fn": "add", "args": {"x": 1}}));
    let out = sim.go(vec![with_header(out.requests[0].id, json!({"result": 7, "invalidate": []}), "user;id=5")]);
    assert_eq!(settled(&out), vec![(1, Ok("7".into()))]);
    // A later start() answers at once with the same session.
    let out = sim.go(vec![Event::Start(Some(101))]);
    assert_eq!(settled(&out), vec![(101, Ok("{\"csrfToken\":\"tok\"}".into()))]);
    assert!(out.requests.is_empty());
}

#[test]
fn the_session_retries_like_a_fetch_and_fails_fast_on_4xx() {
    let mut sim = Sim::new(json!({"retry_base_ms": 100}));
    let out = sim.go(vec![Event::Start(Some(100)), call(1, "add", json!({}))]);
    let out = sim.go(vec![http(out.requests[0].id, 503, Value::Null)]);
    // start() fails fast; the session retries for the call it holds.
    assert_eq!(settled(&out), vec![(100, Err("INTERNAL_ERROR".into()))]);
    assert!(out.requests.is_empty());
    sim.now = out.timer.unwrap().at_ms;
    let out = sim.go(vec![Event::Start(Some(101)), Event::Tick]);
    assert_eq!(path(&out, 0), "session/");
    let out = sim.go(vec![http(out.requests[0].id, 403, json!({"error": {"code": "FORBIDDEN", "message": "no"}}))]);
    assert_eq!(settled(&out), vec![(101, Err("FORBIDDEN".into()))]);
    // The held call goes, without a token: the server decides.
    assert_eq!(path(&out, 0), "call/");
    assert!(!out.requests[0].http.as_ref().unwrap().headers.iter().any(|(k, _)| k == "X-CSRFToken"));
    // start() again tries again.
    let out = sim.go(vec![Event::Start(None)]);
    assert_eq!(path(&out, 0), "session/");
}

#[test]
fn optimistic_patches_show_at_once_and_roll_back_exactly_on_failure() {
    let mut sim = Sim::new(json!({}));
    let out = sim.go(vec![Event::Subscribe(inst("user", json!({"id": 1})))]);
    sim.go(vec![http(out.requests[0].id, 200, json!({"profile": {"id": 1, "name": "A"}}))]);
    let optimistic = json!([{"context": "user", "params": {"id": 1}, "slot": "profile", "value": {"id": 1, "name": "B"}}]);
    let out = sim.go(vec![Event::Call(CallWait {
        waiter: 1,
        function: "rename".into(),
        args_json: "{}".into(),
        optimistic_json: Some(optimistic.to_string()),
    })]);
    assert_eq!(out.views[0].values, vec![("profile".into(), "{\"id\":1,\"name\":\"B\"}".into())]);
    let out = sim.go(vec![http(out.requests[0].id, 500, json!({"error": {"code": "INTERNAL_ERROR", "message": "boom"}}))]);
    assert_eq!(out.views[0].values, vec![("profile".into(), "{\"id\":1,\"name\":\"A\"}".into())]);
    let e = out.settled[0].outcome.clone().unwrap_err();
    assert_eq!((e.code.as_str(), e.status), ("INTERNAL_ERROR", Some(500)));
    assert!(out.requests.is_empty(), "a failed call invalidates nothing and is not retried");
}

#[test]
fn reset_settles_waiters_with_reset_and_starts_a_new_session() {
    let mut sim = Sim::new(json!({}));
    let out = sim.go(vec![Event::Subscribe(inst("user", json!({"id": 1}))), fetch(2, "user", json!({"id": 2})), call(3, "f", json!({}))]);
    let old: Vec<u64> = ids(&out);
    let out = sim.go(vec![Event::Reset]);
    let mut got = settled(&out);
    got.sort();
    assert_eq!(got, vec![(2, Err("RESET".into())), (3, Err("RESET".into()))]);
    let paths: Vec<&str> = (0..out.requests.len()).map(|i| path(&out, i)).collect();
    assert_eq!(paths, vec!["session/", "ctx/user/?id=1"], "a new session; the observed instance refetches");
    // Answers to the old requests change nothing.
    let out = sim.go(old.iter().map(|&id| http(id, 200, json!({"result": 1, "p": 1}))).collect());
    assert!(out.settled.is_empty() && out.views.is_empty());
    assert_eq!(sim.s.store().instance_count(), 1, "the unobserved instance is gone");
}

#[test]
fn close_settles_everything_with_closed_and_cancel_stops_waiting() {
    let mut sim = Sim::new(json!({}));
    let out = sim.go(vec![fetch(1, "user", json!({"id": 1})), Event::Start(Some(2))]);
    let fetch_id = out.requests[0].id;
    sim.go(vec![Event::Cancel(1)]);
    assert_eq!(sim.snapshot("user?id=1")["subscribers"], 0);
    let out = sim.go(vec![fetch(3, "user", json!({"id": 1})), Event::Close]);
    let mut got = settled(&out);
    got.sort();
    assert_eq!(got, vec![(2, Err("CLOSED".into())), (3, Err("CLOSED".into()))]);
    let out = sim.go(vec![http(fetch_id, 200, json!({"p": 1}))]);
    assert!(out.settled.is_empty());
}

#[test]
fn idle_tracks_requests_retries_and_held_calls() {
    let mut sim = Sim::new(json!({"retry_base_ms": 10}));
    assert!(sim.s.idle());
    let out = sim.go(vec![fetch(1, "user", json!({"id": 1}))]);
    assert!(!sim.s.idle());
    let out = sim.go(vec![http(out.requests[0].id, 503, Value::Null)]);
    assert!(!sim.s.idle(), "a retry waits");
    sim.now = out.timer.unwrap().at_ms;
    let out = sim.go(vec![Event::Tick]);
    sim.go(vec![http(out.requests[0].id, 200, json!({"p": 1}))]);
    assert!(sim.s.idle());
}

#[test]
fn an_operation_session_gives_requests_in_operation_form() {
    let mut sim = Sim::new(json!({"transport": "operation"}));
    let out = sim.go(vec![Event::Subscribe(inst("user", json!({"id": 5}))), call(1, "f", json!({"a": 1}))]);
    assert!(out.requests.iter().all(|r| r.http.is_none()));
    assert!(matches!(&out.requests[0].op, Some(Operation::Fetch { key, query, .. }) if key == "user?id=5" && query == "id=5"));
    assert!(matches!(&out.requests[1].op, Some(Operation::Call { args_json, .. }) if args_json == "{\"a\":1}"));
}

#[test]
fn events_the_session_refuses_fail_alone() {
    let mut sim = Sim::new(json!({}));
    let out = sim.s.update(
        vec![Event::Subscribe(inst("a", json!([1]))), Event::Unsubscribe("nope".into()), Event::Subscribe(inst("a", json!({})))],
        1,
    );
    assert_eq!(out.results[0].as_ref().unwrap_err().code.as_str(), "invalid-json");
    assert_eq!(out.results[1].as_ref().unwrap_err().code.as_str(), "not-found");
    assert_eq!(out.results[2], Ok(Some("a".into())));
    assert!(SessionConfig::from_json(r#"{"stalTime": 1}"#).is_err(), "a typo is refused");
    assert!(SessionConfig::from_json(r#"{"transport": "ipc"}"#).is_err());
}

/// A fetch reads its context and query out of the instance key: for every shape of key
/// (no params, several, characters that need encoding, a context that is not ASCII) the split
/// gives back what `instance_key` put in.
#[test]
fn a_key_splits_into_its_context_and_query() {
    for (context, params) in [
        ("stats", json!({})),
        ("todos", json!({"list_id": 7, "page": 2})),
        ("user", json!({"name": "a b&c=d?é"})),
        ("café", json!({"q": "ünï"})),
    ] {
        let Value::Object(params) = params else { unreachable!() };
        let (key, query) = crate::store::instance_key(context, &params);
        assert_eq!(super::http::split_key(&key, context.len()), (context, query.as_str()), "{key}");
    }
}

#[test]
fn an_instance_dropped_and_made_anew_in_one_update_gets_the_view_of_the_new_one() {
    let mut sim = Sim::new(json!({"stale_time_ms": 60_000}));
    let out = sim.go(vec![Event::View(inst("board", json!({"id": 1})))]);
    let first = out.requests[0].id;
    sim.go(vec![http(first, 200, json!({"cards": [1]}))]);
    // Marked (invalidated), dropped (unobserved: removed), then named again: the views follow
    // the key to the instance made anew, not to the one that went.
    let entries = json!(["board"]).to_string();
    let out = sim.go(vec![
        Event::Invalidate(entries.clone()),
        Event::Remove(Some(entries)),
        Event::View(inst("board", json!({"id": 1}))),
    ]);
    assert_eq!(out.views.len(), 1, "one view of the key: {:?}", out.views);
    let v = &out.views[0];
    assert_eq!((v.key.as_str(), v.gone, v.status, v.fetching), ("board?id=1", false, Status::Loading, true));
    assert_eq!(out.requests.len(), 1, "the new instance fetches");
}
