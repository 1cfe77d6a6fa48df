"""The wasmtime side: load the component, keep one instance, call its exports cheaply.

wasmtime-py's generic ``Func.__call__`` asks the store for the function's type on every call and
converts each value through Python type objects (~50 µs for a one-string call here). Every export
of the kernel takes strings, ``option<string>``, ``u32``, ``list<string>`` or a resource handle,
so this module lowers arguments straight into preallocated ``wasmtime_component_val_t`` slots
(string slots point at the Python ``bytes``; the C API only borrows its arguments) and lifts the
result by reading the C structures. Signatures are checked against the component's own types
when the instance is created, so a WIT change fails loudly instead of corrupting memory.

One instance, one lock: a wasmtime ``Store`` is not thread-safe. A trap poisons the instance;
it is re-created at once and the caller gets ``MizanKernelError(code="trap")``. Resources
(keyers, registries) remember their source and are re-created lazily in the new instance.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import threading
import time
from ctypes import (
    POINTER,
    Structure,
    Union,
    c_bool,
    c_char_p,
    c_size_t,
    c_uint8,
    c_uint32,
    c_void_p,
    string_at,
)
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from wasmtime import Engine, Store, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import (
    BorrowType,
    Component,
    Linker,
    ListType,
    OptionType,
    ResourceAny,
    String,
    U32,
)

from ._errors import MizanKernelError

# --- C layout of wasmtime_component_val_t (wasmtime/component/val.h) ---------------------------
# Two views of the same layout: arguments hold `c_char_p` so a slot can point at a Python bytes
# object (ctypes keeps it alive), results hold `c_void_p` so strings are read with `string_at`.

BOOL, U32_KIND, STRING, LIST, RECORD, ENUM, OPTION, RESULT, RESOURCE = 0, 6, 12, 13, 14, 17, 18, 19, 21


class _AStr(Structure):
    _fields_ = [("size", c_size_t), ("data", c_char_p)]


class _AVal(Structure):
    pass


class _AList(Structure):
    _fields_ = [("size", c_size_t), ("data", POINTER(_AVal))]


class _AUnion(Union):
    _fields_ = [
        ("u32", c_uint32),
        ("string", _AStr),
        ("list", _AList),
        ("option", POINTER(_AVal)),
        ("resource", c_void_p),
        ("_pad", c_uint8 * 24),
    ]


_AVal._fields_ = [("kind", c_uint8), ("of", _AUnion)]


class _RStr(Structure):
    _fields_ = [("size", c_size_t), ("data", c_void_p)]


class _RVal(Structure):
    pass


class _RList(Structure):
    _fields_ = [("size", c_size_t), ("data", POINTER(_RVal))]


class _REntry(Structure):
    pass


class _RRecord(Structure):
    _fields_ = [("size", c_size_t), ("data", POINTER(_REntry))]


class _RResult(Structure):
    _fields_ = [("is_ok", c_bool), ("val", POINTER(_RVal))]


class _RUnion(Union):
    _fields_ = [
        ("boolean", c_bool),
        ("u32", c_uint32),
        ("string", _RStr),
        ("list", _RList),
        ("record", _RRecord),
        ("option", POINTER(_RVal)),
        ("result", _RResult),
        ("resource", c_void_p),
        ("_pad", c_uint8 * 24),
    ]


_RVal._fields_ = [("kind", c_uint8), ("of", _RUnion)]
_REntry._fields_ = [("name", _RStr), ("val", _RVal)]

assert ctypes.sizeof(_AVal) == ctypes.sizeof(_RVal) == ctypes.sizeof(ffi.wasmtime_component_val_t)

# Own prototypes (a separate CDLL handle, so wasmtime-py's own declarations stay untouched).
_lib = ctypes.CDLL(str(ffi.filename))
_func_call = _lib.wasmtime_component_func_call
_func_call.restype = c_void_p
_func_call.argtypes = [c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t]
_val_delete = _lib.wasmtime_component_val_delete
_val_delete.restype = None
_val_delete.argtypes = [c_void_p]

# --- the exports -------------------------------------------------------------------------------

_V = "@0.1.0"
_CANON, _KEYS, _HEADER, _REGISTRY, _MERGE = (
    f"mizan:kernel/{n}{_V}" for n in ("canon", "keys", "header", "registry", "merge")
)

#: name -> (interface, export, parameter kinds). Kinds: s string, o option<string>, u u32,
#: l list<string>, b borrow<resource> (the `self` of a method).
EXPORTS: Dict[str, Tuple[str, str, str]] = {
    "stringify": (_CANON, "stringify", "s"),
    "canonical_json": (_CANON, "canonical-json", "s"),
    "check_secret": (_KEYS, "check-secret", "s"),
    "derive_cache_key": (_KEYS, "derive-cache-key", "sssou"),
    "derive_cache_key_rotation": (_KEYS, "derive-cache-key-rotation", "lssou"),
    "keyer.create": (_KEYS, "[static]keyer.create", "s"),
    "keyer.derive": (_KEYS, "[method]keyer.derive", "bssou"),
    "keyer.derive_batch": (_KEYS, "[method]keyer.derive-batch", "bs"),
    "keyer.index_entry": (_KEYS, "[method]keyer.index-entry", "bssou"),
    "keyer.purge_plan": (_KEYS, "[method]keyer.purge-plan", "bs"),
    "keyer.purge_user_plan": (_KEYS, "[method]keyer.purge-user-plan", "bls"),
    "format_invalidate_header": (_HEADER, "format-invalidate-header", "s"),
    "parse_invalidate_header": (_HEADER, "parse-invalidate-header", "s"),
    "registry.from_kdl": (_REGISTRY, "[static]registry.from-kdl", "s"),
    "registry.from_json": (_REGISTRY, "[static]registry.from-json", "s"),
    "registry.to_kdl": (_REGISTRY, "[method]registry.to-kdl", "b"),
    "registry.to_json": (_REGISTRY, "[method]registry.to-json", "b"),
    "registry.resolve_invalidation": (_REGISTRY, "[method]registry.resolve-invalidation", "bsso"),
    "registry.resolve_merges": (_REGISTRY, "[method]registry.resolve-merges", "bsss"),
    "registry.manifest": (_REGISTRY, "[method]registry.manifest", "bso"),
    "registry.context_policy": (_REGISTRY, "[method]registry.context-policy", "bs"),
    "apply_merge": (_MERGE, "apply-merge", "ss"),
}

DEFAULT_MEMORY_LIMIT = 256 << 20
_ENGINE_TAG = "default-config"  # part of the artifact cache key: change it with the Engine config


def _kind_of(ty: Any) -> str:
    if isinstance(ty, String):
        return "s"
    if isinstance(ty, U32):
        return "u"
    if isinstance(ty, BorrowType):
        return "b"
    if isinstance(ty, OptionType) and isinstance(ty.payload, String):
        return "o"
    if isinstance(ty, ListType) and isinstance(ty.element, String):
        return "l"
    return "?"


_encode = str.encode


def _u32(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"rev must be an int, got {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise MizanKernelError("invalid-argument", f"rev must be in 0..=4294967295, got {value}")
    return value


def _setter(kind: str, val: _AVal, keep: List[Any]) -> Callable[[Any], None]:
    """A function writing one Python argument into its preallocated slot."""
    of = val.of
    if kind == "s":
        val.kind = STRING
        st = of.string

        def set_string(a: Any) -> None:
            b = _encode(a)
            st.size = len(b)
            st.data = b

        return set_string
    if kind == "o":
        val.kind = OPTION
        inner = _AVal()
        inner.kind = STRING
        inner_ptr = ctypes.pointer(inner)
        keep.append(inner_ptr)
        ist = inner.of.string

        def set_option(a: Any) -> None:
            if a is None:
                of.option = None
            else:
                b = _encode(a)
                ist.size = len(b)
                ist.data = b
                of.option = inner_ptr

        return set_option
    if kind == "u":
        val.kind = U32_KIND

        def set_u32(a: Any) -> None:
            of.u32 = _u32(a)

        return set_u32
    if kind == "l":
        val.kind = LIST
        lst = of.list

        def set_list(a: Any) -> None:
            if isinstance(a, (str, bytes)):
                raise TypeError("expected a list of strings, got a single string")
            items = [_encode(s) for s in a]
            arr = (_AVal * len(items))()
            for i, b in enumerate(items):
                e = arr[i]
                e.kind = STRING
                es = e.of.string
                es.size = len(b)
                es.data = b
            lst.size = len(items)
            lst.data = arr

        return set_list
    if kind == "b":
        val.kind = RESOURCE

        def set_borrow(a: Any) -> None:
            of.resource = a

        return set_borrow
    raise AssertionError(kind)


class _Call:
    """One export bound to one instance: its func handle and preallocated argument slots."""

    __slots__ = ("func", "addr", "args", "args_addr", "nargs", "setters", "keep")

    def __init__(self, func: Any, kinds: str) -> None:
        self.func = func  # keeps the wasmtime_component_func_t alive
        self.addr = ctypes.addressof(func._func)
        self.nargs = len(kinds)
        self.args = (_AVal * max(1, self.nargs))()
        self.args_addr = ctypes.addressof(self.args)
        self.keep: List[Any] = []
        self.setters = tuple(_setter(k, self.args[i], self.keep) for i, k in enumerate(kinds))


# --- results -----------------------------------------------------------------------------------


def _str(s: _RStr) -> str:
    n = s.size
    return string_at(s.data, n).decode() if n else ""


def _lift(v: _RVal) -> Any:
    k = v.kind
    if k == STRING:
        return _str(v.of.string)
    if k == LIST:
        lst = v.of.list
        data = lst.data
        return [_lift(data[i]) for i in range(lst.size)]
    if k == RECORD:
        rec = v.of.record
        data = rec.data
        out = {}
        for i in range(rec.size):
            e = data[i]
            out[_str(e.name)] = _lift(e.val)
        return out
    if k == OPTION:
        p = v.of.option
        return _lift(p.contents) if p else None
    if k == ENUM:
        return _str(v.of.string)
    if k == BOOL:
        return bool(v.of.boolean)
    if k == U32_KIND:
        return int(v.of.u32)
    if k == RESOURCE:
        # Take ownership of the handle: mark the slot so wasmtime_component_val_delete skips it.
        ptr = v.of.resource
        v.kind = BOOL
        v.of.boolean = False
        return ResourceAny._from_ptr(ctypes.cast(ptr, POINTER(ffi.wasmtime_component_resource_any_t)))
    if k == RESULT:
        r = v.of.result
        inner = _lift(r.val.contents) if r.val else None
        return ("ok", inner) if r.is_ok else ("err", inner)
    raise AssertionError(f"unexpected component value kind {k}")


def _kernel_error(rec: Dict[str, Any]) -> MizanKernelError:
    details = rec.get("details")
    if details is not None:
        try:
            details = json.loads(details)
        except ValueError:
            pass
    return MizanKernelError(rec["code"], rec["message"], details)


# --- loading and the artifact cache -------------------------------------------------------------


def component_path() -> Path:
    """The component this process loads: ``$MIZAN_KERNEL_WASM``, else the copy inside the
    package, else ``target/mizan-kernel.wasm`` of a source checkout."""
    env = os.environ.get("MIZAN_KERNEL_WASM")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "mizan-kernel.wasm", here.parent.parent / "target" / "mizan-kernel.wasm"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "mizan-kernel: the component is missing (no mizan_kernel/mizan-kernel.wasm); "
        "build it with scripts/build-component.sh or set MIZAN_KERNEL_WASM"
    )


def cache_dir() -> Path:
    env = os.environ.get("MIZAN_KERNEL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "mizan-kernel"


def _load_component(engine: Engine, path: Path, info: Dict[str, Any]) -> Component:
    """Deserialize the cached compiled artifact, or compile and cache it.

    The key is the sha256 of the component bytes, the wasmtime version, the machine and the
    engine configuration, so a rebuilt component or an upgraded wasmtime never loads a stale
    artifact. An unreadable or incompatible artifact is recompiled; an unwritable cache
    directory means compiling in memory on every start.
    """
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    version = metadata.version("wasmtime")
    info.update(wasm=str(path), sha256=digest, wasmtime=version)
    name = f"mizan-kernel-{digest[:32]}-wasmtime-{version}-{platform.machine()}-{_ENGINE_TAG}.cwasm"
    try:
        cached: Optional[Path] = cache_dir() / name
    except RuntimeError:  # no home directory
        cached = None
    info["artifact"] = str(cached) if cached else None
    if cached is not None and cached.is_file():
        t0 = time.perf_counter()
        try:
            component = Component.deserialize_file(engine, str(cached))
            info.update(loaded="cache", load_ms=(time.perf_counter() - t0) * 1e3)
            return component
        except WasmtimeError as e:  # corrupt, truncated, or another engine's artifact
            info["cache_error"] = str(e).splitlines()[0]
    t0 = time.perf_counter()
    component = Component(engine, data)
    info.update(loaded="compiled", compile_ms=(time.perf_counter() - t0) * 1e3)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(component.serialize())
            os.replace(tmp, cached)
            info["cached"] = True
        except OSError as e:
            info.update(cached=False, cache_error=str(e))
    return component


# --- the runtime -------------------------------------------------------------------------------


class Runtime:
    """One compiled component, one store + instance, one lock."""

    def __init__(self, path: Optional[Path] = None, memory_limit: Optional[int] = None) -> None:
        self.lock = threading.Lock()
        self.info: Dict[str, Any] = {}
        env_limit = os.environ.get("MIZAN_KERNEL_MEMORY_LIMIT")
        self.memory_limit = memory_limit or (int(env_limit) if env_limit else DEFAULT_MEMORY_LIMIT)
        self.engine = Engine()
        self.component = _load_component(self.engine, path or component_path(), self.info)
        self.linker = Linker(self.engine)
        self.generation = 0
        self.pending_drops: List[Tuple[ResourceAny, int]] = []
        self.result = _RVal()
        self.result_addr = ctypes.addressof(self.result)
        self.result_of = self.result.of
        self._instantiate()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # Another thread may have held the lock at fork time; the child has only this thread.
        self.lock = threading.Lock()

    def _instantiate(self) -> None:
        t0 = time.perf_counter()
        store = Store(self.engine)
        store.set_limits(memory_size=self.memory_limit)
        instance = self.linker.instantiate(store, self.component)
        calls: Dict[str, _Call] = {}
        interfaces: Dict[str, Any] = {}
        for name, (iface, export, kinds) in EXPORTS.items():
            if iface not in interfaces:
                interfaces[iface] = instance.get_export_index(store, iface)
            index = instance.get_export_index(store, export, interfaces[iface])
            func = instance.get_func(store, index) if index is not None else None
            if func is None:
                raise RuntimeError(f"mizan-kernel: the component has no export {iface}#{export}")
            if self.generation == 0:  # check the signatures once per process
                found = "".join(_kind_of(ty) for _, ty in func.type(store).params)
                if found != kinds:
                    raise RuntimeError(
                        f"mizan-kernel: {iface}#{export} takes ({found}), this host expects ({kinds}); "
                        "the component and the package disagree about the WIT contract"
                    )
            calls[name] = _Call(func, kinds)
        self.store = store
        self.instance = instance
        self.ctx = ctypes.cast(store._context(), c_void_p).value
        self.calls = calls
        self.generation += 1
        self.info.update(generation=self.generation, instantiate_ms=(time.perf_counter() - t0) * 1e3)

    def set_memory_limit(self, nbytes: Optional[int]) -> None:
        with self.lock:
            self.memory_limit = nbytes or DEFAULT_MEMORY_LIMIT
            self.store.set_limits(memory_size=self.memory_limit)

    # Callers hold `self.lock` from here on.

    def invoke(self, name: str, *args: Any) -> Any:
        c = self.calls[name]
        try:
            for setter, a in zip(c.setters, args):
                setter(a)
        except UnicodeEncodeError as e:
            raise MizanKernelError("invalid-argument", f"text is not valid Unicode: {e}") from None
        err = _func_call(c.addr, self.ctx, c.args_addr, c.nargs, self.result_addr, 1)
        if err:
            self._trapped(err, name)
        result = self.result
        try:
            if result.kind == RESULT:
                r = self.result_of.result
                if r.is_ok:
                    return _lift(r.val.contents) if r.val else None
                raise _kernel_error(_lift(r.val.contents))
            return _lift(result)
        finally:
            _val_delete(self.result_addr)
            result.kind = BOOL

    def _trapped(self, err: int, name: str) -> None:
        error = WasmtimeError._from_ptr(ctypes.cast(err, POINTER(ffi.wasmtime_error_t)))
        text = str(error)
        self._instantiate()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        raise MizanKernelError(
            "trap",
            f"the kernel trapped in {EXPORTS[name][1]} ({lines[-1] if lines else 'unknown'}); "
            "the instance was re-created",
            {"wasmtime": text},
        )

    def drain_drops(self) -> None:
        drops, self.pending_drops = self.pending_drops, []
        for handle, generation in drops:
            if generation == self.generation:
                try:
                    handle.drop(self.store)
                except WasmtimeError:
                    self._instantiate()

    def ensure(self, owner: "ResourceOwner") -> int:
        """The handle address of `owner` in the current instance, re-creating it if needed."""
        if owner._gen != self.generation:
            handle = self.invoke(owner._ctor, owner._source)
            owner._handle = handle
            owner._addr = ctypes.cast(handle.ptr(), c_void_p).value
            owner._gen = self.generation
        return owner._addr

    def call(self, name: str, *args: Any) -> Any:
        with self.lock:
            if self.pending_drops:
                self.drain_drops()
            return self.invoke(name, *args)

    def method(self, owner: "ResourceOwner", name: str, *args: Any) -> Any:
        with self.lock:
            if self.pending_drops:
                self.drain_drops()
            return self.invoke(name, self.ensure(owner), *args)


class ResourceOwner:
    """A Python object owning a kernel resource; after a trap the resource is re-created from
    its constructor and source the next time the object is used."""

    __slots__ = ("_ctor", "_source", "_handle", "_addr", "_gen", "_rt", "__weakref__")

    def _bind(self, ctor: str, source: str) -> None:
        self._ctor = ctor
        self._source = source
        self._handle: Optional[ResourceAny] = None
        self._addr = 0
        self._gen = -1
        self._rt = rt = runtime()
        with rt.lock:
            rt.ensure(self)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            # Dropped under the lock at the start of the next call (never from a finalizer).
            self._rt.pending_drops.append((handle, self._gen))


_RUNTIME: Optional[Runtime] = None
_RUNTIME_LOCK = threading.Lock()


def runtime() -> Runtime:
    rt = _RUNTIME
    if rt is None:
        rt = _start()
    return rt


def _start() -> Runtime:
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = Runtime()
        return _RUNTIME
