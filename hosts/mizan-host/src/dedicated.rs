//! A WIT resource (keyer, registry) lives in one store: each host-side handle owns a dedicated
//! instance holding exactly that resource, behind a mutex. When a call traps, the instance is
//! dropped and rebuilt on the next call from what the handle kept (the secret, the registry's
//! JSON form), so the handle keeps working. A resource whose state cannot be rebuilt (the
//! client `store`) uses [`Rebuild::Never`]: after a trap every call fails with a trap error and
//! the owner must create a new one.

use std::sync::{Mutex, MutexGuard};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::bindings;
use crate::bindings::exports::mizan::kernel::types::Error as WitError;
use crate::error::{Error, Result};
use crate::kernel::{Instance, Kernel, State};

/// How to (re)create the resource in a fresh instance.
pub(crate) type Create<'a> =
    &'a dyn Fn(&mut Store<State>, &bindings::Kernel) -> wasmtime::Result<Result<ResourceAny, WitError>>;

struct Resident {
    instance: Instance,
    handle: ResourceAny,
}

/// What happens after a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rebuild {
    /// Build a fresh instance and resource on the next call (stateless resources, caches).
    Always,
    /// Never: the resource's state is gone, every later call fails with [`Error::Trap`].
    Never,
}

pub(crate) struct Dedicated {
    kernel: Kernel,
    rebuild: Rebuild,
    slot: Mutex<Option<Resident>>,
}

impl Dedicated {
    /// A new instance holding the resource `create` makes.
    pub(crate) fn new(kernel: &Kernel, rebuild: Rebuild, create: Create<'_>) -> Result<Dedicated> {
        let resident = Self::build(kernel, create)?;
        Ok(Dedicated { kernel: kernel.clone(), rebuild, slot: Mutex::new(Some(resident)) })
    }

    fn build(kernel: &Kernel, create: Create<'_>) -> Result<Resident> {
        let mut instance = kernel.instantiate()?;
        match create(&mut instance.store, &instance.bindings) {
            Ok(Ok(handle)) => Ok(Resident { instance, handle }),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(kernel.trapped(e)),
        }
    }

    /// True when no instance is resident (after a trap, before the next call rebuilds it).
    pub(crate) fn is_empty(&self) -> bool {
        self.slot().is_none()
    }

    pub(crate) fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    fn slot(&self) -> MutexGuard<'_, Option<Resident>> {
        match self.slot.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A panic mid-call: the instance's state is unknown, so rebuild it.
                let mut guard = poisoned.into_inner();
                *guard = None;
                self.slot.clear_poison();
                guard
            }
        }
    }

    /// Call `f` on the resource, rebuilding the instance first when an earlier call trapped.
    pub(crate) fn call<T, E>(
        &self,
        create: Create<'_>,
        f: impl FnOnce(&mut Store<State>, &bindings::Kernel, ResourceAny) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<T>
    where
        Error: From<E>,
    {
        let mut slot = self.slot();
        let resident = match &mut *slot {
            Some(resident) => resident,
            None if self.rebuild == Rebuild::Never => {
                return Err(Error::Trap(
                    "this resource's instance trapped earlier and its state is lost: create a new one".into(),
                ));
            }
            empty => empty.insert(Self::build(&self.kernel, create)?),
        };
        match f(&mut resident.instance.store, &resident.instance.bindings, resident.handle) {
            Ok(result) => result.map_err(Error::from),
            Err(e) => {
                *slot = None;
                Err(self.kernel.trapped(e))
            }
        }
    }
}
