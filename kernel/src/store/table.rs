//! The store's instances, filed by number with an index by key.
//!
//! An instance's number (`Instance::id`) is given when it is made and never reused. The context
//! index, the requests and the host's views name instances by number, so the hot paths (an
//! invalidation refetching a hundred instances, a fetch's answer) find them with one integer
//! hash. The key leads to the number only where a caller names an instance by its key.

use super::KeyMap;
use super::instance::Instance;
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Instances {
    by_id: HashMap<u64, Instance, FxBuildHasher>,
    /// Key → number.
    ids: KeyMap<u64>,
}

impl Instances {
    pub(super) fn get(&self, key: &str) -> Option<&Instance> {
        self.ids.get(key).and_then(|id| self.by_id.get(id))
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Instance> {
        let id = self.ids.get(key)?;
        self.by_id.get_mut(id)
    }

    pub(super) fn by_id(&self, id: u64) -> Option<&Instance> {
        self.by_id.get(&id)
    }

    pub(super) fn by_id_mut(&mut self, id: u64) -> Option<&mut Instance> {
        self.by_id.get_mut(&id)
    }

    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.ids.contains_key(key)
    }

    /// File `inst` under its number and key; an instance with the same number is replaced.
    pub(super) fn insert(&mut self, inst: Instance) {
        if !self.by_id.contains_key(&inst.id) {
            self.ids.insert(inst.key.clone(), inst.id);
        }
        self.by_id.insert(inst.id, inst);
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Instance> {
        let id = self.ids.remove(key)?;
        self.by_id.remove(&id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// In no order: callers that show an order sort by key.
    pub(super) fn values(&self) -> impl Iterator<Item = &Instance> {
        self.by_id.values()
    }
}
