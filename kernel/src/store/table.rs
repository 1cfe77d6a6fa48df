//! The store's instances, in numbered places with an index by key.
//!
//! An instance's number (`Instance::id`) names its place and how many instances held that place
//! before it, so a number is never given twice (the host's views rely on it) and finding an
//! instance by its number is an array access. The context index, the requests and the host's
//! views name instances by number, so the hot paths (an invalidation refetching a hundred
//! instances, a fetch's answer) neither hash a key nor probe a table; the key leads to the number
//! only where a caller names an instance by its key.

use super::KeyMap;
use super::instance::Instance;

#[derive(Default)]
pub(super) struct Instances {
    places: Vec<Place>,
    /// Empty places, reused before the list grows.
    free: Vec<u32>,
    /// Key → number.
    ids: KeyMap<u64>,
}

struct Place {
    /// How many instances this place has held (the high half of their numbers).
    generation: u32,
    inst: Option<Instance>,
}

/// The number of the instance in place `place` of generation `generation` (never 0).
fn number(place: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(place)
}

/// The place a number names (its low half).
fn place_of(id: u64) -> usize {
    id as u32 as usize
}

impl Place {
    /// Whether the number names this place's current generation.
    fn is(&self, id: u64) -> bool {
        u64::from(self.generation) == id >> 32
    }
}

impl Instances {
    /// File a new instance (its key not filed yet) and give it its number.
    pub(super) fn add(&mut self, mut inst: Instance) -> u64 {
        let place = match self.free.pop() {
            Some(place) => place,
            None => {
                self.places.push(Place { generation: 0, inst: None });
                // More than 2^32 instances at once cannot fit in a wasm32 memory anyway.
                u32::try_from(self.places.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let Some(p) = self.places.get_mut(place as usize) else { return 0 };
        p.generation = p.generation.wrapping_add(1).max(1);
        let id = number(place, p.generation);
        inst.id = id;
        self.ids.insert(inst.key.clone(), id);
        p.inst = Some(inst);
        id
    }

    /// Put `inst` in the place of the instance with its number, which it replaces.
    pub(super) fn replace(&mut self, inst: Instance) {
        if let Some(slot) = self.by_id_mut(inst.id) {
            *slot = inst;
        }
    }

    pub(super) fn by_id(&self, id: u64) -> Option<&Instance> {
        self.places.get(place_of(id)).filter(|p| p.is(id))?.inst.as_ref()
    }

    pub(super) fn by_id_mut(&mut self, id: u64) -> Option<&mut Instance> {
        self.places.get_mut(place_of(id)).filter(|p| p.is(id))?.inst.as_mut()
    }

    pub(super) fn get(&self, key: &str) -> Option<&Instance> {
        self.by_id(*self.ids.get(key)?)
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Instance> {
        let id = *self.ids.get(key)?;
        self.by_id_mut(id)
    }

    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.ids.contains_key(key)
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Instance> {
        let id = self.ids.remove(key)?;
        let place = place_of(id);
        let inst = self.places.get_mut(place)?.inst.take();
        self.free.push(place as u32);
        inst
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// In place order, which says nothing: callers that show an order sort by key.
    pub(super) fn values(&self) -> impl Iterator<Item = &Instance> {
        self.places.iter().filter_map(|p| p.inst.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn inst(key: &str) -> Instance {
        Instance::new(key.into(), "c".into(), Map::new(), String::new())
    }

    #[test]
    fn a_place_is_reused_under_a_new_number_and_the_old_number_finds_nothing() {
        let mut t = Instances::default();
        let a = t.add(inst("a"));
        let b = t.add(inst("b"));
        assert!(a != 0 && b != 0 && a != b);
        assert_eq!(t.by_id(a).map(|i| i.key.as_str()), Some("a"));
        assert_eq!(t.remove("a").map(|i| i.id), Some(a));
        assert!(t.by_id(a).is_none() && t.get("a").is_none());
        let c = t.add(inst("c"));
        assert_eq!(place_of(c), place_of(a), "the empty place is reused");
        assert_ne!(c, a, "under a number never given before");
        assert!(t.by_id(a).is_none(), "the old number does not find the new instance");
        assert_eq!(t.get("c").map(|i| i.id), Some(c));
        assert_eq!((t.len(), t.values().count()), (2, 2));
    }
}
