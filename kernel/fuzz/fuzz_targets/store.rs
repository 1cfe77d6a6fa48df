//! The client store (KERNEL.md §7) driven by arbitrary event streams, through the same steps the
//! component's glue takes (JSON text in, parsed by the kernel): subscribe, fetch results and
//! errors, mutations with optimistic entries and server headers, invalidation, timers, focus,
//! hydration... Invariants after every step: no panic; every snapshot and drain is JSON that
//! reads back the same; the instance count stays within `max_instances` plus the instances
//! someone still observes.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Unstructured};
use libfuzzer_sys::fuzz_target;
use mizan_kernel::canon::{parse_json, parse_object};
use mizan_kernel::invalidation::entries_from_json;
use mizan_kernel::merge::MergeEntry;
use mizan_kernel::store::{RequestError, Store, StoreConfig};
use mizan_kernel_fuzz::{NAMES, json, json_text, object, short_string};
use serde_json::{Value, json};
use std::collections::BTreeMap;

struct World {
    store: Store,
    max_instances: usize,
    now: u64,
    keys: Vec<String>,
    /// Subscriptions not yet undone, per key: those instances may exceed the bound.
    observed: BTreeMap<String, u32>,
    requests: Vec<u64>,
    mutations: Vec<u64>,
    dehydrated: Option<String>,
}

fn pick<T: Copy>(u: &mut Unstructured<'_>, seen: &[T], fresh: T) -> arbitrary::Result<T> {
    Ok(if !seen.is_empty() && u.ratio(7, 8)? { *u.choose(seen)? } else { fresh })
}

fn request_error(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=4)? {
        0 => json!({"network": true, "message": short_string(u)?}).to_string(),
        1 => json!({"status": u.int_in_range(100..=599u16)?}).to_string(),
        2 => json!({"status": u.arbitrary::<u64>()?, "body": {"error": {"code": short_string(u)?, "message": short_string(u)?, "details": json(u, 1)?}}}).to_string(),
        3 => json!({"code": *u.choose(&["NOT_FOUND", "PAYLOAD_TOO_LARGE", "METHOD_NOT_ALLOWED", "VALIDATION_ERROR", "INTERNAL_ERROR"])?, "message": "x"}).to_string(),
        _ => json_text(u, 2)?,
    })
}

fn entries(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.ratio(1, 4)? {
        return json_text(u, 2);
    }
    let mut list = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let context = (*u.choose(NAMES)?).to_string();
        list.push(if u.arbitrary()? { Value::String(context) } else { json!({"context": context, "params": object(u, 1)?}) });
    }
    Ok(Value::Array(list).to_string())
}

fn header(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<String>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(format!("{};user_id={}", u.choose(NAMES)?, u.arbitrary::<i32>()?)),
        2 => Some((*u.choose(NAMES)?).to_string()),
        _ => Some(u.arbitrary::<&str>()?.to_string()),
    })
}

#[track_caller]
fn reads_back(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(v.to_string(), text, "JSON that does not read back the same");
    v
}

impl World {
    fn step(&mut self, u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
        let s = &mut self.store;
        let op = u.int_in_range(0..=22)?;
        if std::env::var_os("MIZAN_FUZZ_TRACE").is_some() {
            eprintln!("op {op} (instances {}, observed {:?})", s.instance_count(), self.observed);
        }
        match op {
            0 => s.start(),
            1 => {
                let id = pick(u, &self.requests, 1)?;
                if let Ok(body) = parse_json(&json_text(u, 2)?, "body") {
                    s.session_ok(id, &body);
                }
            }
            2 | 3 => {
                if let Ok(params) = parse_object(&json_text(u, 2)?, "params") {
                    let key = s.subscribe(u.choose(NAMES)?, &params, self.now);
                    *self.observed.entry(key.clone()).or_default() += 1;
                    self.keys.push(key);
                }
            }
            4 => {
                let key = pick(u, &self.keys.iter().map(String::as_str).collect::<Vec<_>>(), "ghost")?.to_string();
                if s.unsubscribe(&key, self.now).is_ok() {
                    if let Some(n) = self.observed.get_mut(&key) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            5 => {
                if let Ok(params) = parse_object(&json_text(u, 2)?, "params") {
                    self.keys.push(s.prefetch(u.choose(NAMES)?, &params, self.now));
                }
            }
            6 => {
                let key = pick(u, &self.keys.iter().map(String::as_str).collect::<Vec<_>>(), "ghost")?.to_string();
                let _ = s.refetch(&key);
            }
            7 | 8 => {
                let id = pick(u, &self.requests, 1)?;
                if let Ok(body) = parse_json(&json_text(u, 3)?, "body") {
                    s.fetch_ok(id, body, self.now);
                }
            }
            9 => {
                let id = pick(u, &self.requests, 1)?;
                if let Ok(err) = parse_json(&request_error(u)?, "error").and_then(|v| RequestError::from_json(&v)) {
                    s.fetch_err(id, err, self.now);
                }
            }
            10 => {
                let args = parse_json(&json_text(u, 2)?, "args");
                let optimistic: Option<Vec<MergeEntry>> = if u.arbitrary()? {
                    let entry = json!({"context": *u.choose(NAMES)?, "slot": *u.choose(NAMES)?, "op": *u.choose(&["append", "prepend", "replace", "remove", "patch", "x"])?, "value": json(u, 2)?, "key": *u.choose(NAMES)?});
                    MergeEntry::from_json(&entry).ok().map(|e| vec![e])
                } else {
                    Some(vec![])
                };
                if let (Ok(args), Some(optimistic)) = (args, optimistic) {
                    if let Ok(id) = s.mutate(u.choose(NAMES)?, args, &optimistic) {
                        self.mutations.push(id);
                    }
                }
            }
            11 => {
                let id = pick(u, &self.requests, 1)?;
                if let Ok(body) = parse_json(&json_text(u, 2)?, "body") {
                    let _ = s.call_ok(id, &body, header(u)?.as_deref());
                }
            }
            12 => {
                let id = pick(u, &self.requests, 1)?;
                if let Ok(err) = parse_json(&request_error(u)?, "error").and_then(|v| RequestError::from_json(&v)) {
                    s.call_err(id, err);
                }
            }
            13 => s.release_mutation(pick(u, &self.mutations, 1)?),
            14 => {
                if let Ok(list) = parse_json(&entries(u)?, "entries").and_then(|v| entries_from_json(&v)) {
                    s.invalidate(&list);
                }
            }
            15 => {
                if u.arbitrary()? {
                    s.remove(None);
                } else if let Ok(list) = parse_json(&entries(u)?, "entries").and_then(|v| entries_from_json(&v)) {
                    s.remove(Some(&list));
                }
            }
            16 => s.reset(), // drops data, keeps what is observed (its subscribers still watch)
            17 => {
                self.now = self.now.saturating_add(u64::from(u.arbitrary::<u16>()?) * u64::from(u.int_in_range(1..=100u16)?));
                s.tick(self.now);
            }
            18 => {
                if u.arbitrary()? {
                    s.focus(self.now)
                } else {
                    s.online(self.now)
                }
            }
            19 => self.dehydrated = Some(s.dehydrate().to_string()),
            20 => {
                let payload = match (&self.dehydrated, u.arbitrary()?) {
                    (Some(d), true) => d.clone(),
                    _ => json!({"instances": [{"context": *u.choose(NAMES)?, "params": object(u, 1)?, "data": object(u, 2)?}]}).to_string(),
                };
                if let Ok(v) = parse_json(&payload, "payload") {
                    let _ = s.hydrate(&v, self.now);
                }
            }
            21 => {
                let id = pick(u, &self.mutations, 1)?;
                if let Some(m) = s.mutation_snapshot(id) {
                    reads_back(&m.to_string());
                }
            }
            _ => {
                let drained = s.drain(self.now).to_json().to_string();
                let v = reads_back(&drained);
                for effect in v["effects"].as_array().into_iter().flatten() {
                    if let Some(id) = effect["request_id"].as_u64() {
                        self.requests.push(id);
                    }
                }
            }
        }
        for key in self.keys.iter().rev().take(3) {
            if let Some(snapshot) = self.store.snapshot(key, self.now) {
                reads_back(&snapshot.to_string());
            }
        }
        let observed = self.observed.values().filter(|n| **n > 0).count();
        let count = self.store.instance_count();
        assert!(
            count <= self.max_instances + observed + 1,
            "{count} instances with max_instances {} and {observed} observed",
            self.max_instances
        );
        Ok(())
    }
}

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let max_instances = u.int_in_range(1..=6usize)?;
    let config = json!({
        "max_instances": max_instances,
        "stale_time_ms": u.int_in_range(0..=5000u64)?,
        "gc_time_ms": u.int_in_range(0..=10_000u64)?,
        "retries": u.int_in_range(0..=3u32)?,
        "retry_base_ms": u.int_in_range(0..=2000u64)?,
        "seed": u.arbitrary::<u64>()?,
    });
    let config = StoreConfig::from_json(&config.to_string()).expect("a generated config is valid");
    let _ = StoreConfig::from_json(&json_text(u, 1)?);
    let mut world = World {
        store: Store::new(config),
        max_instances,
        now: u64::from(u.arbitrary::<u32>()?),
        keys: vec![],
        observed: BTreeMap::new(),
        requests: vec![],
        mutations: vec![],
        dehydrated: None,
    };
    for _ in 0..u.int_in_range(1..=64)? {
        world.step(u)?;
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
