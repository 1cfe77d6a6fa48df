//! Glue for the `store` interface: JSON text in and out, the kernel's `Store` behind a RefCell
//! (a component instance is single-threaded; WIT methods take `&self`).

use crate::exports::mizan::kernel::store as wstore;
use crate::{Kernel, R, err};
use mizan_kernel::canon::{parse_json, parse_object};
use mizan_kernel::invalidation::entries_from_json;
use mizan_kernel::merge::MergeEntry;
use mizan_kernel::store::{RequestError, Store as KernelStore, StoreConfig};
use std::cell::RefCell;

pub struct Store(RefCell<KernelStore>);

impl wstore::Guest for Kernel {
    type Store = Store;

    fn instance_key(context: String, params_json: String) -> R<String> {
        let params = parse_object(&params_json, "params").map_err(err)?;
        Ok(mizan_kernel::store::instance_key(&context, &params).0)
    }
}

fn request_error(text: &str) -> R<RequestError> {
    RequestError::from_json(&parse_json(text, "error").map_err(err)?).map_err(err)
}

fn entries(text: &str) -> R<Vec<mizan_kernel::InvalidateEntry>> {
    entries_from_json(&parse_json(text, "entries").map_err(err)?).map_err(err)
}

impl wstore::GuestStore for Store {
    fn create(config_json: Option<String>) -> R<wstore::Store> {
        let config = match config_json {
            Some(text) => StoreConfig::from_json(&text).map_err(err)?,
            None => StoreConfig::default(),
        };
        Ok(wstore::Store::new(Store(RefCell::new(KernelStore::new(config)))))
    }

    fn start(&self) {
        self.0.borrow_mut().start();
    }

    fn session_ok(&self, request_id: u64, body_json: String) -> R<()> {
        let body = parse_json(&body_json, "body").map_err(err)?;
        self.0.borrow_mut().session_ok(request_id, &body);
        Ok(())
    }

    fn subscribe(&self, context: String, params_json: String, now: u64) -> R<String> {
        let params = parse_object(&params_json, "params").map_err(err)?;
        Ok(self.0.borrow_mut().subscribe(&context, &params, now))
    }

    fn unsubscribe(&self, key: String, now: u64) -> R<()> {
        self.0.borrow_mut().unsubscribe(&key, now).map_err(err)
    }

    fn prefetch(&self, context: String, params_json: String, now: u64) -> R<String> {
        let params = parse_object(&params_json, "params").map_err(err)?;
        Ok(self.0.borrow_mut().prefetch(&context, &params, now))
    }

    fn refetch(&self, key: String) -> R<()> {
        self.0.borrow_mut().refetch(&key).map_err(err)
    }

    fn fetch_ok(&self, request_id: u64, body_json: String, now: u64) -> R<()> {
        let body = parse_json(&body_json, "body").map_err(err)?;
        self.0.borrow_mut().fetch_ok(request_id, body, now);
        Ok(())
    }

    fn fetch_err(&self, request_id: u64, error_json: String, now: u64) -> R<()> {
        let error = request_error(&error_json)?;
        self.0.borrow_mut().fetch_err(request_id, error, now);
        Ok(())
    }

    fn mutate(&self, function: String, args_json: String, optimistic_json: Option<String>) -> R<u64> {
        let args = parse_json(&args_json, "args").map_err(err)?;
        let optimistic: Vec<MergeEntry> = match optimistic_json {
            None => vec![],
            Some(text) => match parse_json(&text, "optimistic").map_err(err)? {
                serde_json::Value::Array(items) => items.iter().map(MergeEntry::from_json).collect::<Result<_, _>>().map_err(err)?,
                _ => return Err(err(mizan_kernel::Error::invalid_json("optimistic must be a list of merge entries"))),
            },
        };
        self.0.borrow_mut().mutate(&function, args, &optimistic).map_err(err)
    }

    fn call_ok(&self, request_id: u64, body_json: String, header: Option<String>) -> R<()> {
        let body = parse_json(&body_json, "body").map_err(err)?;
        self.0.borrow_mut().call_ok(request_id, &body, header.as_deref()).map_err(err)
    }

    fn call_err(&self, request_id: u64, error_json: String) -> R<()> {
        let error = request_error(&error_json)?;
        self.0.borrow_mut().call_err(request_id, error);
        Ok(())
    }

    fn release_mutation(&self, mutation_id: u64) {
        self.0.borrow_mut().release_mutation(mutation_id);
    }

    fn invalidate(&self, entries_json: String) -> R<()> {
        let entries = entries(&entries_json)?;
        self.0.borrow_mut().invalidate(&entries);
        Ok(())
    }

    fn remove(&self, entries_json: Option<String>) -> R<()> {
        let scope = entries_json.as_deref().map(entries).transpose()?;
        self.0.borrow_mut().remove(scope.as_deref());
        Ok(())
    }

    fn reset(&self) {
        self.0.borrow_mut().reset();
    }

    fn tick(&self, now: u64) {
        self.0.borrow_mut().tick(now);
    }

    fn focus(&self, now: u64) {
        self.0.borrow_mut().focus(now);
    }

    fn online(&self, now: u64) {
        self.0.borrow_mut().online(now);
    }

    fn dehydrate(&self) -> String {
        self.0.borrow().dehydrate().to_string()
    }

    fn hydrate(&self, payload_json: String, now: u64) -> R<()> {
        let payload = parse_json(&payload_json, "payload").map_err(err)?;
        self.0.borrow_mut().hydrate(&payload, now).map_err(err)
    }

    fn snapshot(&self, key: String, now: u64) -> Option<String> {
        self.0.borrow().snapshot(&key, now).map(|v| v.to_string())
    }

    fn mutation(&self, mutation_id: u64) -> Option<String> {
        self.0.borrow().mutation_snapshot(mutation_id).map(|v| v.to_string())
    }

    fn instance_count(&self) -> u32 {
        u32::try_from(self.0.borrow().instance_count()).unwrap_or(u32::MAX)
    }

    fn drain(&self, now: u64) -> String {
        self.0.borrow_mut().drain(now).to_json().to_string()
    }
}
