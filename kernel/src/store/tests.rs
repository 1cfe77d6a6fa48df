//! Every behaviour of §7 as a scenario with simulated time.

use super::*;
use serde_json::json;

struct Sim {
    store: Store,
    now: u64,
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn network() -> RequestError {
    RequestError::from_json(&json!({"network": true})).unwrap()
}

fn http(status: u16) -> RequestError {
    RequestError::from_json(&json!({"status": status})).unwrap()
}

impl Sim {
    fn new(config: StoreConfig) -> Self {
        Sim { store: Store::new(config), now: 1_000 }
    }

    fn drain(&mut self) -> Drained {
        self.store.drain(self.now)
    }

    fn fetches(&mut self) -> Vec<(u64, String)> {
        self.drain()
            .effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Fetch { request_id, key, .. } => Some((request_id, key)),
                _ => None,
            })
            .collect()
    }

    fn snap(&self, key: &str) -> Value {
        self.store.snapshot(key, self.now).unwrap_or(Value::Null)
    }

    /// Subscribe and answer the fetch with `data`.
    fn loaded(&mut self, context: &str, params: Value, data: Value) -> String {
        let key = self.store.subscribe(context, &obj(params), self.now);
        let f = self.fetches();
        assert_eq!(f.len(), 1, "one fetch for {key}");
        self.store.fetch_ok(f[0].0, data, self.now);
        key
    }
}

#[test]
fn subscribe_fetches_once_with_the_query_and_notifies() {
    let mut s = Sim::new(StoreConfig::default());
    let key = s.store.subscribe("user", &obj(json!({"user_id": 5, "tab": "a b"})), s.now);
    assert_eq!(key, "user?tab=a%20b&user_id=5");
    let _second = s.store.subscribe("user", &obj(json!({"tab": "a b", "user_id": "5"})), s.now);
    let d = s.drain();
    let fetches: Vec<_> = d.effects.iter().filter(|e| matches!(e, Effect::Fetch { .. })).collect();
    assert_eq!(fetches.len(), 1, "in-flight de-duplication");
    assert!(matches!(fetches[0], Effect::Fetch { query, .. } if query == "tab=a%20b&user_id=5"));
    assert_eq!(d.changed, vec![key.clone()]);
    assert_eq!(s.snap(&key)["status"], "loading");
    assert_eq!(s.snap(&key)["subscribers"], 2);
    let Effect::Fetch { request_id, .. } = fetches[0] else { unreachable!() };
    s.store.fetch_ok(*request_id, json!({"user_profile": {"name": "R"}}), s.now);
    assert_eq!(s.drain().changed, vec![key.clone()]);
    let snap = s.snap(&key);
    assert_eq!(snap["status"], "success");
    assert_eq!(snap["data"]["user_profile"]["name"], "R");
    assert_eq!(snap["is_fetching"], false);
}

#[test]
fn stale_time_decides_whether_a_new_subscriber_refetches() {
    let mut s = Sim::new(StoreConfig { stale_time_ms: 10_000, ..Default::default() });
    let key = s.loaded("c", json!({}), json!({"f": 1}));
    s.store.unsubscribe(&key, s.now).unwrap();
    s.now += 5_000;
    s.store.subscribe("c", &Map::new(), s.now);
    assert!(s.fetches().is_empty(), "fresh data is served from cache");
    assert_eq!(s.snap(&key)["is_stale"], false);
    s.now += 6_000;
    assert_eq!(s.snap(&key)["is_stale"], true);
    s.store.subscribe("c", &Map::new(), s.now);
    assert_eq!(s.fetches().len(), 1);
}

#[test]
fn gc_after_the_last_subscriber_leaves_and_resubscribing_cancels_it() {
    let mut s = Sim::new(StoreConfig::default());
    let key = s.loaded("c", json!({}), json!({"f": 1}));
    s.drain();
    s.store.unsubscribe(&key, s.now).unwrap();
    let d = s.drain();
    assert!(d.effects.contains(&Effect::Schedule { at_ms: s.now + 300_000, delay_ms: 300_000 }));
    s.now += 299_999;
    s.store.tick(s.now);
    assert!(s.store.instance(&key).is_some());
    s.store.subscribe("c", &Map::new(), s.now);
    s.now += 10;
    s.store.tick(s.now);
    assert!(s.store.instance(&key).is_some(), "observed again: not collected");
    s.store.unsubscribe(&key, s.now).unwrap();
    s.now += 300_000;
    s.store.tick(s.now);
    assert!(s.store.instance(&key).is_none());
    assert!(s.drain().changed.contains(&key));
}

#[test]
fn timers_past_2_pow_31_ms_do_not_fire_early() {
    let gc = (1u64 << 31) + 5_000;
    let mut s = Sim::new(StoreConfig { gc_time_ms: gc, ..Default::default() });
    let key = s.loaded("c", json!({}), json!({"f": 1}));
    s.store.unsubscribe(&key, s.now).unwrap();
    let d = s.drain();
    assert!(d.effects.contains(&Effect::Schedule { at_ms: s.now + gc, delay_ms: MAX_TIMER_DELAY_MS }));
    // The host's timer fires after the clamped delay: nothing is collected, it is re-scheduled.
    s.now += MAX_TIMER_DELAY_MS;
    s.store.tick(s.now);
    assert!(s.store.instance(&key).is_some());
    let d = s.drain();
    assert!(d.effects.iter().any(|e| matches!(e, Effect::Schedule { delay_ms: 5_001, .. })), "{:?}", d.effects);
    s.now += 5_001;
    s.store.tick(s.now);
    assert!(s.store.instance(&key).is_none());
}

#[test]
fn network_errors_and_5xx_retry_with_capped_jittered_backoff_4xx_do_not() {
    let mut s = Sim::new(StoreConfig::default());
    let key = s.store.subscribe("c", &Map::new(), s.now);
    let mut request = s.fetches()[0].0;
    let mut delays = Vec::new();
    for attempt in 1..=3u32 {
        s.store.fetch_err(request, if attempt == 2 { http(503) } else { network() }, s.now);
        let d = s.drain();
        let at = d.effects.iter().find_map(|e| match e { Effect::Schedule { at_ms, .. } => Some(*at_ms), _ => None }).unwrap();
        let delay = at - s.now;
        let full = (1000u64 << (attempt - 1)).min(30_000);
        assert!(delay >= full / 2 && delay <= full, "attempt {attempt}: {delay} within [{}, {full}]", full / 2);
        assert_eq!(s.snap(&key)["status"], "loading", "still loading while retrying");
        delays.push(delay);
        s.now = at;
        s.store.tick(s.now);
        let f = s.fetches();
        assert_eq!(f.len(), 1);
        request = f[0].0;
    }
    s.store.fetch_err(request, network(), s.now);
    s.drain();
    assert_eq!(s.snap(&key)["status"], "error");
    assert_eq!(s.snap(&key)["error"]["code"], "NETWORK_ERROR");
    // A 4xx is an answer: no retry.
    let other = s.store.subscribe("d", &Map::new(), s.now);
    let f = s.fetches();
    s.store.fetch_err(f[0].0, RequestError::from_json(&json!({"status": 403, "body": {"error": {"code": "FORBIDDEN", "message": "Staff access required"}}})).unwrap(), s.now);
    assert!(s.drain().effects.is_empty());
    assert_eq!(s.snap(&other)["error"], json!({"code": "FORBIDDEN", "message": "Staff access required"}));
}

#[test]
fn backoff_caps_at_30_seconds() {
    let mut s = Sim::new(StoreConfig { retries: 10, ..Default::default() });
    for attempt in 6..10 {
        let d = s.store.backoff(attempt);
        assert!((15_000..=30_000).contains(&d), "{d}");
    }
}

#[test]
fn focus_and_reconnect_refetch_stale_observed_instances_only() {
    let mut s = Sim::new(StoreConfig { stale_time_ms: 1_000, ..Default::default() });
    let observed = s.loaded("a", json!({}), json!({"f": 1}));
    let fresh = s.loaded("b", json!({}), json!({"f": 1}));
    let unobserved = s.loaded("c", json!({}), json!({"f": 1}));
    s.store.unsubscribe(&unobserved, s.now).unwrap();
    s.drain();
    s.store.focus(s.now);
    assert!(s.fetches().is_empty(), "nothing stale yet");
    s.now += 2_000;
    s.store.invalidate(&[]);
    s.store.focus(s.now);
    let keys: Vec<String> = s.fetches().into_iter().map(|f| f.1).collect();
    assert_eq!(keys, vec![observed.clone(), fresh.clone()]);
    // Waiting retries go at once on reconnect.
    let s2 = &mut Sim::new(StoreConfig::default());
    let k = s2.store.subscribe("x", &Map::new(), s2.now);
    let r = s2.fetches()[0].0;
    s2.store.fetch_err(r, network(), s2.now);
    s2.drain();
    s2.store.online(s2.now);
    let keys: Vec<String> = s2.fetches().into_iter().map(|f| f.1).collect();
    assert_eq!(keys, vec![k], "the waiting retry goes at once");
}

#[test]
fn invalidation_matches_params_and_refetches_observed_instances() {
    let mut s = Sim::new(StoreConfig::default());
    let u5 = s.loaded("user", json!({"user_id": 5}), json!({"p": 5}));
    let u6 = s.loaded("user", json!({"user_id": 6}), json!({"p": 6}));
    let all = s.loaded("user", json!({}), json!({"p": "all"}));
    let other = s.loaded("orders", json!({"user_id": 5}), json!({"o": 1}));
    s.store.unsubscribe(&all, s.now).unwrap();
    s.drain();
    s.store.invalidate(&[InvalidateEntry::scoped("user", obj(json!({"user_id": "5"})))]);
    let d = s.store.drain(s.now);
    let fetched: Vec<&String> = d.effects.iter().filter_map(|e| match e { Effect::Fetch { key, .. } => Some(key), _ => None }).collect();
    assert_eq!(fetched, vec![&u5], "only the observed matching instance refetches");
    assert_eq!(s.snap(&all)["is_stale"], true, "unobserved and matching: marked stale");
    assert_eq!(s.snap(&u5)["data"]["p"], 5, "invalidate keeps data");
    assert!(!d.changed.contains(&u6) && !d.changed.contains(&other));
    // An unobserved stale instance refetches when next observed.
    s.store.subscribe("user", &Map::new(), s.now);
    assert_eq!(s.fetches().len(), 1);
}

#[test]
fn invalidation_during_a_fetch_refetches_once_after_it_settles() {
    let mut s = Sim::new(StoreConfig::default());
    let key = s.store.subscribe("feed", &Map::new(), s.now);
    let first = s.fetches()[0].0;
    for _ in 0..3 {
        s.store.invalidate(&[InvalidateEntry::Broad("feed".into())]);
    }
    assert!(s.fetches().is_empty(), "no second request while one runs");
    s.store.fetch_ok(first, json!({"posts": [1]}), s.now);
    let f = s.fetches();
    assert_eq!(f.len(), 1, "exactly one refetch after settling (TanStack #2154, RTK #3622)");
    s.store.fetch_ok(f[0].0, json!({"posts": [1, 2]}), s.now);
    assert!(s.fetches().is_empty(), "coalesced: no further refetch");
    assert_eq!(s.snap(&key)["data"]["posts"], json!([1, 2]));
    assert_eq!(s.snap(&key)["is_stale"], true, "stale_time 0");
}

#[test]
fn remove_and_reset_drop_data_at_once_and_ignore_running_requests() {
    let mut s = Sim::new(StoreConfig::default());
    s.store.start();
    s.drain();
    let key = s.loaded("me", json!({}), json!({"name": "alice"}));
    s.store.invalidate(&[InvalidateEntry::Broad("me".into())]);
    let running = s.fetches()[0].0;
    s.store.reset();
    let d = s.drain();
    assert!(d.effects.iter().any(|e| matches!(e, Effect::Session { .. })), "a new session for the new identity");
    let refetch = d.effects.iter().find_map(|e| match e { Effect::Fetch { request_id, .. } => Some(*request_id), _ => None }).unwrap();
    assert_eq!(s.snap(&key)["data"], Value::Null, "no flash of the previous user's data");
    assert_eq!(s.snap(&key)["status"], "loading");
    s.store.fetch_ok(running, json!({"name": "alice"}), s.now);
    assert_eq!(s.snap(&key)["data"], Value::Null, "the old identity's answer is ignored");
    s.store.fetch_ok(refetch, json!({"name": "bob"}), s.now);
    assert_eq!(s.snap(&key)["data"]["name"], "bob");
    // remove(scope) of an unobserved instance deletes it.
    let k2 = s.loaded("x", json!({"id": 1}), json!({"v": 1}));
    s.store.unsubscribe(&k2, s.now).unwrap();
    s.store.remove(Some(&[InvalidateEntry::scoped("x", obj(json!({"id": 1})))]));
    assert!(s.store.instance(&k2).is_none());
}

#[test]
fn call_ok_applies_merges_before_invalidation_and_reads_the_header() {
    let mut s = Sim::new(StoreConfig::default());
    s.store.start();
    let session = s.drain().effects.iter().find_map(|e| match e { Effect::Session { request_id } => Some(*request_id), _ => None }).unwrap();
    s.store.session_ok(session, &json!({"csrfToken": "tok"}));
    let items = s.loaded("items", json!({}), json!({"items_list": [{"id": 1, "name": "a"}], "count": 1}));
    let user = s.loaded("user", json!({"user_id": 5}), json!({"p": 1}));
    s.drain();
    let v_before = s.snap(&items)["slot_versions"]["count"].clone();
    let m = s.store.mutate("set_item_name", json!({"id": 1, "name": "b"}), &[]).unwrap();
    let call = s.drain().effects.into_iter().find_map(|e| match e { Effect::Call { request_id, csrf_token, .. } => Some((request_id, csrf_token)), _ => None }).unwrap();
    assert_eq!(call.1.as_deref(), Some("tok"));
    let body = json!({"result": {"id": 1, "name": "b"}, "invalidate": ["items"],
                      "merge": [{"context": "items", "slot": "items_list", "value": {"id": 1, "name": "b"}}]});
    s.store.call_ok(call.0, &body, Some("user;user_id=5")).unwrap();
    let d = s.drain();
    assert_eq!(s.snap(&items)["data"]["items_list"], json!([{"id": 1, "name": "b"}]), "merged before the refetch");
    assert_eq!(s.snap(&items)["slot_versions"]["count"], v_before, "untouched slot keeps its version");
    let fetched: Vec<String> = d.effects.iter().filter_map(|e| match e { Effect::Fetch { key, .. } => Some(key.clone()), _ => None }).collect();
    assert_eq!(fetched, vec![items.clone(), user.clone()], "body and header invalidations");
    assert_eq!(d.mutations, vec![m]);
    assert_eq!(s.store.mutation_snapshot(m).unwrap()["status"], "success");
}

#[test]
fn optimistic_patch_rolls_back_exactly_and_failure_invalidates_nothing() {
    let mut s = Sim::new(StoreConfig::default());
    let key = s.loaded("items", json!({}), json!({"items_list": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}));
    s.drain();
    let before = s.snap(&key)["data"].clone();
    let patch = MergeEntry { context: "items".into(), slot: "items_list".into(), value: json!({"id": 2, "name": "B!"}), params: Map::new(), key: None };
    let m = s.store.mutate("rename", json!({"id": 2}), &[patch]).unwrap();
    assert_eq!(s.snap(&key)["data"]["items_list"][1]["name"], "B!", "applied immediately");
    let call = s.drain().effects.into_iter().find_map(|e| match e { Effect::Call { request_id, .. } => Some(request_id), _ => None }).unwrap();
    s.store.call_err(call, http(500));
    let d = s.drain();
    assert_eq!(s.snap(&key)["data"], before, "rolled back exactly");
    assert!(!d.effects.iter().any(|e| matches!(e, Effect::Fetch { .. })), "a failure invalidates nothing");
    assert_eq!(s.store.mutation_snapshot(m).unwrap()["status"], "error");

    // A fetch that lands during the mutation wins over the rollback.
    let patch = MergeEntry { context: "items".into(), slot: "items_list".into(), value: json!({"id": 1, "name": "opt"}), params: Map::new(), key: None };
    s.store.mutate("rename", json!({"id": 1}), &[patch]).unwrap();
    s.store.refetch(&key).unwrap();
    let effects = s.drain().effects;
    let call = effects.iter().find_map(|e| match e { Effect::Call { request_id, .. } => Some(*request_id), _ => None }).unwrap();
    let fetch = effects.iter().find_map(|e| match e { Effect::Fetch { request_id, .. } => Some(*request_id), _ => None }).unwrap();
    s.store.fetch_ok(fetch, json!({"items_list": [{"id": 1, "name": "server"}]}), s.now);
    s.store.call_err(call, network());
    assert_eq!(s.snap(&key)["data"]["items_list"], json!([{"id": 1, "name": "server"}]));
}

#[test]
fn slot_versions_give_structural_sharing() {
    let mut s = Sim::new(StoreConfig::default());
    let key = s.loaded("c", json!({}), json!({"a": [1], "b": {"x": 1}}));
    let v1 = s.snap(&key)["slot_versions"].clone();
    s.store.refetch(&key).unwrap();
    let r = s.fetches()[0].0;
    s.store.fetch_ok(r, json!({"a": [1], "b": {"x": 2}}), s.now);
    let v2 = s.snap(&key)["slot_versions"].clone();
    assert_eq!(v1["a"], v2["a"]);
    assert_ne!(v1["b"], v2["b"]);
}

#[test]
fn dehydrate_hydrate_gives_first_paint_data() {
    let mut server = Sim::new(StoreConfig::default());
    server.loaded("user", json!({"user_id": 5}), json!({"p": {"name": "R"}}));
    server.loaded("pending", json!({}), json!({"x": 1}));
    let payload = server.store.dehydrate();
    assert_eq!(payload["instances"].as_array().unwrap().len(), 2);

    let mut client = Sim::new(StoreConfig { stale_time_ms: 60_000, ..Default::default() });
    client.store.hydrate(&payload, client.now).unwrap();
    let key = client.store.subscribe("user", &obj(json!({"user_id": "5"})), client.now);
    assert!(client.fetches().is_empty(), "hydrated data is fresh: no request on first paint");
    assert_eq!(client.snap(&key)["data"]["p"]["name"], "R");
    assert!(client.store.hydrate(&json!({"instances": [{"context": "c", "data": 5}]}), 0).is_err());
}

#[test]
fn cached_instances_are_bounded_lru_among_unobserved() {
    let mut s = Sim::new(StoreConfig { max_instances: 3, ..Default::default() });
    let observed = s.store.subscribe("keep", &Map::new(), s.now);
    let a = s.store.prefetch("a", &Map::new(), s.now);
    let b = s.store.prefetch("b", &Map::new(), s.now);
    let c = s.store.prefetch("c", &Map::new(), s.now);
    let d = s.store.prefetch("d", &Map::new(), s.now);
    assert_eq!(s.store.instance_count(), 3);
    assert!(s.store.instance(&observed).is_some());
    assert!(s.store.instance(&a).is_none() && s.store.instance(&b).is_none());
    assert!(s.store.instance(&c).is_some() && s.store.instance(&d).is_some());
}

#[test]
fn session_is_requested_once_and_bad_input_is_an_error() {
    let mut s = Sim::new(StoreConfig::default());
    s.store.start();
    s.store.start();
    assert_eq!(s.drain().effects.iter().filter(|e| matches!(e, Effect::Session { .. })).count(), 1);
    assert!(s.store.mutate("f", json!([1]), &[]).is_err());
    assert!(s.store.unsubscribe("ghost", 0).is_err());
    assert!(StoreConfig::from_json(r#"{"stale_time_ms": -1}"#).is_err());
    assert!(StoreConfig::from_json(r#"{"nope": 1}"#).is_err());
    assert!(RequestError::from_json(&json!({})).is_err());
    assert_eq!(RequestError::from_json(&json!({"code": "NOT_FOUND", "message": "x"})).unwrap().status, Some(404));
    // A non-object bundle is an error on the instance, not a panic.
    let key = s.store.subscribe("c", &Map::new(), s.now);
    let r = s.fetches()[0].0;
    s.store.fetch_ok(r, json!([1]), s.now);
    assert_eq!(s.snap(&key)["error"]["code"], "INVALID_RESPONSE");
    // A malformed call body fails the mutation.
    let m = s.store.mutate("f", json!({}), &[]).unwrap();
    let call = s.drain().effects.into_iter().find_map(|e| match e { Effect::Call { request_id, .. } => Some(request_id), _ => None }).unwrap();
    assert!(s.store.call_ok(call, &json!({"invalidate": 5}), None).is_err());
    assert_eq!(s.store.mutation_snapshot(m).unwrap()["status"], "error");
}
