//! What the host holds of each instance it named, so a view carries only what changed: nothing
//! when the visible state is what the host last saw, and the values of only the slots whose
//! version the host does not hold. The host keeps the objects of every other slot (structural
//! sharing: an unchanged slot keeps its identity in a UI framework).

use super::{ErrorRecord, InstanceRef, View};
use crate::store::{Instance, KeyMap, RequestError, Status};
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;

/// The part of an instance a host shows. Equal states send no view.
///
/// The data is summed up by its newest slot version and its number of slots: slot versions are
/// unique and only grow, so any change of a value gives a newer one, and a slot that goes changes
/// the count.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Visible {
    status: Status,
    fetching: bool,
    stale: bool,
    updated_at: Option<u64>,
    error: Option<RequestError>,
    data: Option<(u64, usize)>,
}

impl Visible {
    pub(super) fn of(inst: &Instance, now: u64, stale_time: u64) -> Self {
        Visible {
            status: inst.status,
            fetching: inst.in_flight.is_some(),
            stale: inst.is_stale(now, stale_time),
            updated_at: inst.updated_at,
            error: inst.error.clone(),
            data: inst.data.as_ref().map(|_| (inst.slot_versions.iter().map(|(_, v)| *v).max().unwrap_or(0), inst.slot_versions.len())),
        }
    }
}

struct Watch {
    /// The state the host last saw: sent in a view, or the state when it started watching
    /// (`None`: the instance did not exist then).
    seen: Option<Visible>,
    /// The host holds the value of every slot whose version is at most this (the newest version
    /// of the instance when its last view was sent; 0: none).
    held: u64,
    /// The host knows the instance's context and params (from a view, or its own hydration).
    introduced: bool,
    /// The host got a view of this instance.
    viewed: bool,
}

/// The host's watches. Rendering runs after every change of a watched instance (a hundred per
/// invalidation), so a watch is filed under the store's number of its instance (`Instance::id`,
/// never reused): found by a number, without hashing the key or reading it again. The key leads
/// to the number only when a watch is made, and when its instance is gone or made anew.
#[derive(Default)]
pub(super) struct Views {
    by_instance: HashMap<u64, Watch, FxBuildHasher>,
    /// Key → the number its watch is filed under.
    numbers: KeyMap<u64>,
    /// Watches of keys that had no instance when the host named them.
    unborn: KeyMap<Watch>,
}

impl Views {
    /// The host named `key`; `current` is its instance before this event touched it.
    pub(super) fn watch(&mut self, key: &str, current: Option<(&Instance, Visible)>) {
        if self.watched(key) {
            return;
        }
        match current {
            Some((inst, seen)) => self.file(key.to_string(), inst.id, Watch { seen: Some(seen), held: 0, introduced: false, viewed: false }),
            None => {
                self.unborn.insert(key.to_string(), Watch { seen: None, held: 0, introduced: false, viewed: false });
            }
        }
    }

    /// The host keeps the values of `inst` as they are now (it hydrated them itself).
    pub(super) fn hold(&mut self, inst: &Instance, now: Visible) {
        let newest = now.data.map_or(0, |(newest, _)| newest);
        match self.find(&inst.key, inst.id) {
            Some(w) => w.held = newest,
            None => self.file(inst.key.clone(), inst.id, Watch { seen: Some(now), held: newest, introduced: true, viewed: false }),
        }
    }

    pub(super) fn watched(&self, key: &str) -> bool {
        self.numbers.contains_key(key) || self.unborn.contains_key(key)
    }

    fn file(&mut self, key: String, id: u64, watch: Watch) {
        self.numbers.insert(key, id);
        self.by_instance.insert(id, watch);
    }

    /// The watch of `key`, whose instance is number `id`: filed under it, or moved there from
    /// where it was (no instance yet, or an earlier instance of the key).
    fn find(&mut self, key: &str, id: u64) -> Option<&mut Watch> {
        if !self.by_instance.contains_key(&id) {
            let watch = self.take(key)?;
            self.file(key.to_string(), id, watch);
        }
        self.by_instance.get_mut(&id)
    }

    /// Forget the watch of `key`, wherever it is filed.
    fn take(&mut self, key: &str) -> Option<Watch> {
        if let Some(watch) = self.unborn.remove(key) {
            return Some(watch);
        }
        let id = self.numbers.remove(key)?;
        self.by_instance.remove(&id)
    }

    /// The view to send for `key` after it changed (or was `forced`: the host needs it now),
    /// `None` when the host already has it.
    pub(super) fn render(&mut self, key: String, inst: Option<&Instance>, now: u64, stale_time: u64, forced: bool) -> Option<View> {
        let Some(inst) = inst else {
            self.take(&key)?;
            return Some(View {
                key,
                instance: None,
                gone: true,
                status: Status::Idle,
                fetching: false,
                stale: false,
                updated_at: None,
                error: None,
                slots: None,
                values: Vec::new(),
            });
        };
        let w = self.find(&key, inst.id)?;
        let visible = Visible::of(inst, now, stale_time);
        if w.seen.as_ref() == Some(&visible) && (w.viewed || !forced) {
            return None;
        }
        let mut values = Vec::new();
        if let Some(data) = &inst.data {
            for (slot, version) in &inst.slot_versions {
                if *version > w.held
                    && let Some(value) = data.get(slot)
                {
                    values.push((slot.clone(), crate::canon::json_text(value)));
                }
            }
        }
        let instance =
            (!w.introduced).then(|| InstanceRef { context: inst.context.clone(), params_json: inst.params_json.clone() });
        let view = View {
            key,
            instance,
            gone: false,
            status: visible.status,
            fetching: visible.fetching,
            stale: visible.stale,
            updated_at: visible.updated_at,
            error: visible.error.as_ref().map(ErrorRecord::of),
            slots: inst.data.as_ref().map(|_| inst.slot_versions.iter().map(|(k, n)| (k.clone(), *n)).collect()),
            values,
        };
        w.held = visible.data.map_or(0, |(newest, _)| newest);
        w.seen = Some(visible);
        w.introduced = true;
        w.viewed = true;
        Some(view)
    }
}
