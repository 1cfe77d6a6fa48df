"""The wasmtime side: load the component, keep one instance, call its exports cheaply.

wasmtime-py's generic ``Func.__call__`` asks the store for the function's type on every call and
converts each value through Python type objects (~50 µs for a one-string call here). Every export
of the kernel takes strings, ``option<string>``, ``u32``/``u64``, ``list<string>`` or a resource
handle, so this module lowers arguments with one ``struct.pack_into`` into preallocated
``wasmtime_component_val_t`` slots (string slots point at the Python ``bytes``; the C API only
borrows its arguments) and lifts the result by reading the C structures in place. Signatures are checked against the component's own types
when the instance is created, so a WIT change fails loudly instead of corrupting memory.

This fast path relies on wasmtime-py internals (``wasmtime._ffi``, the C layout of the value
structs). ``_layout`` checks them against the installed wasmtime-py at import; on any mismatch,
or with ``MIZAN_KERNEL_CALL_PATH=public``, every call goes through wasmtime-py's public
``Func.__call__`` instead (``_public``), with a warning for a mismatch.

One instance, one lock: a wasmtime ``Store`` is not thread-safe. A trap poisons the instance;
it is re-created at once and the caller gets ``MizanKernelError(code="trap")``. Resources
(keyers, registries) remember their source and are re-created lazily in the new instance.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import struct
import sys
import threading
import time
import warnings
import weakref
from ctypes import (
    POINTER,
    c_size_t,
    c_uint64,
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
    String,
    U32,
    U64,
)

from . import _layout, _public
from ._errors import MizanKernelError, kernel_error

# --- C layout of wasmtime_component_val_t (wasmtime/component/val.h) ---------------------------
# 32 bytes: a kind byte, padding, a 24-byte union. Arguments are written with `struct` into
# preallocated buffers (see `_lowerer`); results are read in place with `struct` (see `_lift`).
# The layout and the kind numbers are checked against the installed wasmtime-py first.

#: Why the fast path cannot run with the installed wasmtime-py (empty: it can).
LAYOUT_PROBLEMS: List[str] = _layout.problems(ffi)
_K = _layout.kinds(ffi)
BOOL, U32_KIND, U64_KIND, STRING, LIST, RECORD, ENUM, OPTION, RESULT, RESOURCE = (
    _K[n] for n in ("BOOL", "U32", "U64", "STRING", "LIST", "RECORD", "ENUM", "OPTION", "RESULT", "RESOURCE")
)

if LAYOUT_PROBLEMS:
    warnings.warn(
        "mizan-kernel: the installed wasmtime-py differs from the C layout the fast call path packs ("
        + "; ".join(LAYOUT_PROBLEMS)
        + "); using wasmtime.component's public call path instead (correct, ~10x slower per call). "
        f"Install the pinned version: pip install 'wasmtime>={_layout.SUPPORTED_MAJOR},<{_layout.SUPPORTED_MAJOR + 1}'",
        RuntimeWarning,
        stacklevel=2,
    )
    _func_call = _val_delete = _resource_drop = _resource_delete = None
else:
    # Own prototypes (a separate CDLL handle, so wasmtime-py's own declarations stay untouched).
    _lib = ctypes.CDLL(str(ffi.filename))
    # The two per-call functions take prebuilt ctypes arguments (no argtypes conversion per call).
    _func_call = _lib["wasmtime_component_func_call"]  # (func, context, args, nargs, results, nresults)
    _func_call.restype = c_void_p
    _val_delete = _lib["wasmtime_component_val_delete"]  # (val)
    _val_delete.restype = None
    _resource_drop = _lib.wasmtime_component_resource_any_drop
    _resource_drop.restype = c_void_p
    _resource_drop.argtypes = [c_void_p, c_void_p]
    _resource_delete = _lib.wasmtime_component_resource_any_delete
    _resource_delete.restype = None
    _resource_delete.argtypes = [c_void_p]


def default_call_path() -> str:
    """``fast`` (hand-packed C values) unless the layout check failed or
    ``MIZAN_KERNEL_CALL_PATH=public`` asks for wasmtime-py's public API."""
    wanted = os.environ.get("MIZAN_KERNEL_CALL_PATH", "").strip().lower()
    if wanted not in ("", "fast", "public"):
        raise ValueError(f"MIZAN_KERNEL_CALL_PATH must be 'fast' or 'public', got {wanted!r}")
    return "public" if LAYOUT_PROBLEMS or wanted == "public" else "fast"

# --- the exports -------------------------------------------------------------------------------

_V = "@0.1.0"
_CANON, _KEYS, _HEADER, _REGISTRY, _MERGE, _STORE = (
    f"mizan:kernel/{n}{_V}" for n in ("canon", "keys", "header", "registry", "merge", "store")
)
#: Interfaces a component may lack (newer than some builds): their calls are simply unavailable.
OPTIONAL_INTERFACES = {_STORE}

#: name -> (interface, export, parameter kinds). Kinds: s string, o option<string>, u u32,
#: U u64, l list<string>, b borrow<resource> (the `self` of a method).
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
    "store.create": (_STORE, "[static]store.create", "o"),
    "store.start": (_STORE, "[method]store.start", "b"),
    "store.session_ok": (_STORE, "[method]store.session-ok", "bUs"),
    "store.subscribe": (_STORE, "[method]store.subscribe", "bssU"),
    "store.unsubscribe": (_STORE, "[method]store.unsubscribe", "bsU"),
    "store.prefetch": (_STORE, "[method]store.prefetch", "bssU"),
    "store.refetch": (_STORE, "[method]store.refetch", "bs"),
    "store.fetch_ok": (_STORE, "[method]store.fetch-ok", "bUsU"),
    "store.fetch_err": (_STORE, "[method]store.fetch-err", "bUsU"),
    "store.mutate": (_STORE, "[method]store.mutate", "bsso"),
    "store.call_ok": (_STORE, "[method]store.call-ok", "bUso"),
    "store.call_err": (_STORE, "[method]store.call-err", "bUs"),
    "store.release_mutation": (_STORE, "[method]store.release-mutation", "bU"),
    "store.invalidate": (_STORE, "[method]store.invalidate", "bs"),
    "store.remove": (_STORE, "[method]store.remove", "bo"),
    "store.reset": (_STORE, "[method]store.reset", "b"),
    "store.tick": (_STORE, "[method]store.tick", "bU"),
    "store.focus": (_STORE, "[method]store.focus", "bU"),
    "store.online": (_STORE, "[method]store.online", "bU"),
    "store.dehydrate": (_STORE, "[method]store.dehydrate", "b"),
    "store.hydrate": (_STORE, "[method]store.hydrate", "bsU"),
    "store.snapshot": (_STORE, "[method]store.snapshot", "bsU"),
    "store.mutation": (_STORE, "[method]store.mutation", "bU"),
    "store.instance_count": (_STORE, "[method]store.instance-count", "b"),
    "store.drain": (_STORE, "[method]store.drain", "bU"),
}

DEFAULT_MEMORY_LIMIT = 256 << 20
_ENGINE_TAG = "default-config"  # part of the artifact cache key: change it with the Engine config


def _kind_of(ty: Any) -> str:
    if isinstance(ty, String):
        return "s"
    if isinstance(ty, U32):
        return "u"
    if isinstance(ty, U64):
        return "U"
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


def _u64(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an int (ids and times are u64), got {type(value).__name__}")
    raise MizanKernelError("invalid-argument", f"{value} is outside the u64 range")


# Strings are passed without copying: a slot holds the length and the address of the bytes
# object's own buffer (CPython keeps it at a fixed offset from id(); checked here, with a
# portable fallback). The bytes objects stay referenced until the call returns.
def _bytes_offset() -> Optional[int]:
    if sys.implementation.name != "cpython":
        return None
    probes = [b"mizan-kernel-probe", bytes(range(40))]
    offsets = {ctypes.cast(b, c_void_p).value - id(b) for b in probes}  # type: ignore[arg-type, operator]
    if len(offsets) != 1:
        return None
    off = offsets.pop()
    return off if all(string_at(id(b) + off, len(b)) == b for b in probes) else None


_OFF = _bytes_offset()
_ADDR = "id({0}) + _OFF" if _OFF is not None else "_cast({0}, c_void_p).value"

# struct layouts of one 32-byte wasmtime_component_val_t per argument kind:
# kind byte, padding, then the union (string: size + data; option/borrow: a pointer; u32).
_SLOT = {"s": "B7xQQ8x", "l": "B7xQQ8x", "o": "B7xQ16x", "b": "B7xQ16x", "u": "B7xI20x", "U": "B7xQ16x"}
_STRING_SLOT = struct.Struct("<B7xQQ8x")
_RESULT_HEAD = struct.Struct("<B7x?7xQ")  # kind, result.is_ok, result.val


# Results are read in place through one memoryview spanning the address space (slicing and
# struct.unpack_from on it cost a fraction of a ctypes.string_at call). Only addresses that
# wasmtime just handed back are ever read.
def _address_space() -> Optional[memoryview]:
    try:
        mem = memoryview((ctypes.c_ubyte * (1 << 62)).from_address(0)).cast("B")
        probe = ctypes.create_string_buffer(b"mizan")
        return mem if bytes(mem[ctypes.addressof(probe) : ctypes.addressof(probe) + 5]) == b"mizan" else None
    except (ValueError, OverflowError, MemoryError, TypeError):
        return None


_MEM = _address_space()


if _MEM is not None:

    def _read(addr: int, n: int) -> Any:
        return _MEM[addr : addr + n]  # type: ignore[index]

    def _clear_kind(addr: int) -> None:
        _MEM[addr] = BOOL  # type: ignore[index]

else:

    def _read(addr: int, n: int) -> Any:
        return string_at(addr, n)

    def _clear_kind(addr: int) -> None:
        ctypes.memset(addr, BOOL, 1)


def _text(data: int, size: int) -> str:
    """The UTF-8 text of `size` bytes at address `data`."""
    return str(_read(data, size), "utf-8") if size else ""


def _string_list(a: Any) -> Tuple[Any, ...]:
    """A list<string> argument: a separate array of string values, kept alive by the caller."""
    if isinstance(a, (str, bytes)):
        raise TypeError("expected a list of strings, got a single string")
    items = [_encode(s) for s in a]
    arr = (c_uint64 * (4 * len(items) or 1))()
    for i, b in enumerate(items):
        _STRING_SLOT.pack_into(arr, 32 * i, STRING, len(b), _addr(b))
    return arr, items, len(items), ctypes.addressof(arr)


def _addr(b: bytes) -> int:
    return id(b) + _OFF if _OFF is not None else ctypes.cast(b, c_void_p).value  # type: ignore[arg-type, return-value]


def _lowerer(kinds: str) -> Tuple[Callable[..., Any], Any]:
    """Generate `lower(a0, a1, …)`: one struct.pack_into writing every argument slot (options
    point at extra string slots after the arguments). Returns it with the argument buffer."""
    n = len(kinds)
    inner = [i for i, k in enumerate(kinds) if k == "o"]
    fmt = "<" + "".join(_SLOT[k] for k in kinds) + "B7xQQ8x" * len(inner)
    buf = (c_uint64 * (4 * (n + len(inner)) or 1))()
    base = ctypes.addressof(buf)
    params = ", ".join(f"a{i}" for i in range(n))
    body, packed, extra, keep = [], [], [], []
    for i, k in enumerate(kinds):
        a = f"a{i}"
        if k == "s":
            body.append(f"b{i} = _encode({a})")
            packed.append(f"{STRING}, len(b{i}), {_ADDR.format(f'b{i}')}")
            keep.append(f"b{i}")
        elif k == "o":
            slot = base + 32 * (n + inner.index(i))
            body.append(f"if {a} is None: b{i} = b''; o{i} = 0")
            body.append(f"else: b{i} = _encode({a}); o{i} = {slot}")
            packed.append(f"{OPTION}, o{i}")
            extra.append(f"{STRING}, len(b{i}), {_ADDR.format(f'b{i}')}")
            keep.append(f"b{i}")
        elif k == "u":
            body.append(f"if type({a}) is not int or not 0 <= {a} <= 4294967295: _u32({a})")
            packed.append(f"{U32_KIND}, {a}")
        elif k == "U":
            body.append(f"if type({a}) is not int or not 0 <= {a} <= 18446744073709551615: _u64({a})")
            packed.append(f"{U64_KIND}, {a}")
        elif k == "b":
            packed.append(f"{RESOURCE}, {a}")
        elif k == "l":
            body.append(f"l{i} = _string_list({a})")
            packed.append(f"{LIST}, l{i}[2], l{i}[3]")
            keep.append(f"l{i}")
    src = (
        f"def lower({params}):\n"
        + "".join(f"    {line}\n" for line in body)
        + f"    _pack(_buf, 0, {', '.join(packed + extra)})\n"
        + f"    return ({', '.join(keep)}{',' if keep else ''})\n"
    )
    scope: Dict[str, Any] = {
        "_encode": _encode, "_u32": _u32, "_u64": _u64, "_string_list": _string_list, "_OFF": _OFF,
        "_cast": ctypes.cast, "c_void_p": c_void_p, "_pack": struct.Struct(fmt).pack_into, "_buf": buf,
    }
    exec(compile(src, f"<mizan_kernel lower {kinds}>", "exec"), scope)
    return scope["lower"], buf


def _error_text(err: int) -> str:
    """The text of a wasmtime_error_t* returned by a C call (and free it)."""
    return str(WasmtimeError._from_ptr(ctypes.cast(err, POINTER(ffi.wasmtime_error_t))))


def _flat_checks(kinds: str) -> Dict[int, Callable[[Any], None]]:
    """The flat exports' own integer checks (their messages name `rev`), for the public path."""
    return {i: (_u32 if k == "u" else _u64) for i, k in enumerate(kinds) if k in "uU"}


class _Call:
    """One export: its argument buffer and lowering, and its func in the current instance."""

    __slots__ = ("func", "buf", "args_addr", "nargs", "nresults", "lower", "cargs")

    def __init__(self, kinds: str) -> None:
        self.func: Any = None
        self.cargs: Tuple[Any, ...] = ()
        self.nargs = len(kinds)
        self.nresults = 1
        self.lower, self.buf = _lowerer(kinds)
        self.args_addr = ctypes.addressof(self.buf)

    def unavailable(self, why: str) -> None:
        def lower(*_: Any) -> Any:
            raise MizanKernelError("not-found", why)

        self.lower = lower

    def bind(self, func: Any, ctx: int, result_addr: int) -> None:
        self.func = func  # keeps the wasmtime_component_func_t alive
        self.cargs = (
            c_void_p(ctypes.addressof(func._func)),
            c_void_p(ctx),
            c_void_p(self.args_addr),
            c_size_t(self.nargs),
            c_void_p(result_addr),
            c_size_t(self.nresults),
        )


# --- results -----------------------------------------------------------------------------------


_VAL = struct.Struct("<B7xQQ")  # kind, then the first two words of the union
_PAIR = struct.Struct("<QQ")


def _lift(addr: int) -> Any:
    """The Python value of the wasmtime_component_val_t at `addr` (kinds the kernel returns)."""
    kind, w1, w2 = _VAL.unpack_from(_read(addr, 24))
    if kind == STRING or kind == ENUM:  # (size, data)
        return str(_read(w2, w1), "utf-8") if w1 else ""
    if kind == LIST:  # (size, data): 32-byte values
        return [_lift(w2 + 32 * i) for i in range(w1)]
    if kind == RECORD:  # (size, data): 48-byte entries of name (size, data) and value
        out = {}
        for e in range(w2, w2 + 48 * w1, 48):
            size, data = _PAIR.unpack_from(_read(e, 16))
            out[_text(data, size)] = _lift(e + 16)
        return out
    if kind == OPTION:  # a pointer to the boxed value, or null
        return _lift(w1) if w1 else None
    if kind == BOOL:
        return bool(w1 & 0xFF)
    if kind == U32_KIND:
        return w1 & 0xFFFFFFFF
    if kind == U64_KIND:
        return w1
    if kind == RESOURCE:
        # Take ownership of the handle (a wasmtime_component_resource_any_t*, kept as a plain
        # int so no finalizer can free it behind the runtime's back); mark the value as a bool
        # so wasmtime_component_val_delete leaves the handle alone.
        _clear_kind(addr)
        return w1
    if kind == RESULT:  # (is_ok, pointer to the boxed payload or null)
        inner = _lift(w2) if w2 else None
        return ("ok", inner) if w1 & 0xFF else ("err", inner)
    raise AssertionError(f"unexpected component value kind {kind}")


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
    """One compiled component, one store + instance, one lock.

    ``call_path``: ``"fast"`` (hand-packed C values; refused when the layout check failed) or
    ``"public"`` (wasmtime-py's ``Func.__call__``); default `default_call_path()`."""

    def __init__(self, path: Optional[Path] = None, memory_limit: Optional[int] = None, call_path: Optional[str] = None) -> None:
        self.lock = threading.Lock()
        call_path = call_path or default_call_path()
        if call_path == "fast" and LAYOUT_PROBLEMS:
            raise ValueError(f"mizan-kernel: the fast call path is unavailable: {'; '.join(LAYOUT_PROBLEMS)}")
        if call_path not in ("fast", "public"):
            raise ValueError(f"call_path must be 'fast' or 'public', got {call_path!r}")
        self.fast = call_path == "fast"
        self.info: Dict[str, Any] = {"call_path": call_path}
        env_limit = os.environ.get("MIZAN_KERNEL_MEMORY_LIMIT")
        self.memory_limit = memory_limit or (int(env_limit) if env_limit else DEFAULT_MEMORY_LIMIT)
        self.engine = Engine()
        self.component = _load_component(self.engine, path or component_path(), self.info)
        self.linker = Linker(self.engine)
        self.generation = 0
        self.pending_drops: List[Tuple[int, int]] = []  # (resource handle, generation)
        self.poisoned = False
        self.result = (c_uint64 * 4)()  # one wasmtime_component_val_t
        self.result_addr = ctypes.addressof(self.result)
        self.result_ptr = c_void_p(self.result_addr)
        self.calls = {name: _Call(kinds) for name, (_, _, kinds) in EXPORTS.items()} if self.fast else {}
        self.public: Dict[str, _public.Call] = {}  # the public path's calls, per export name
        if not self.fast:
            self.invoke = self._invoke_public  # type: ignore[method-assign]
        self.disabled: Dict[str, str] = {}  # exports of optional interfaces this component lacks
        self._instantiate()
        _RUNTIMES.add(self)

    def _instantiate(self) -> None:
        t0 = time.perf_counter()
        store = Store(self.engine)
        store.set_limits(memory_size=self.memory_limit)
        instance = self.linker.instantiate(store, self.component)
        funcs: Dict[str, Any] = {}
        interfaces: Dict[str, Any] = {}
        for name, (iface, export, kinds) in EXPORTS.items():
            if name in self.disabled:
                continue
            if iface not in interfaces:
                interfaces[iface] = instance.get_export_index(store, iface)
            if interfaces[iface] is None and iface in OPTIONAL_INTERFACES:
                self._disable(name, f"this build of the component has no {iface} interface")
                continue
            index = instance.get_export_index(store, export, interfaces[iface])
            func = instance.get_func(store, index) if index is not None else None
            problem = ""
            if func is None:
                problem = f"the component has no export {iface}#{export}"
            elif self.generation == 0:  # check the signatures once per process
                found = "".join(_kind_of(ty) for _, ty in func.type(store).params)
                if found != kinds:
                    problem = (
                        f"{iface}#{export} takes ({found}), this host expects ({kinds}); "
                        "the component and the package disagree about the WIT contract"
                    )
                if self.fast:
                    self.calls[name].nresults = 0 if func.type(store).result is None else 1
            if problem:
                if iface not in OPTIONAL_INTERFACES:
                    raise RuntimeError(f"mizan-kernel: {problem}")
                self._disable(name, problem)
                continue
            funcs[name] = func
        ctx = ctypes.cast(store._context(), c_void_p).value if self.fast else 0
        for name, func in funcs.items():
            if self.fast:
                self.calls[name].bind(func, ctx, self.result_addr)  # type: ignore[arg-type]
            elif name in self.public:
                self.public[name].func = func
            else:
                self.public[name] = _public.Call(EXPORTS[name][1], func, store, _flat_checks(EXPORTS[name][2]))
        self.available = set(funcs)
        self.store = store
        self.instance = instance
        self.ctx = ctx
        self.poisoned = False
        self.generation += 1
        self.info.update(generation=self.generation, instantiate_ms=(time.perf_counter() - t0) * 1e3)

    def _disable(self, name: str, why: str) -> None:
        self.disabled[name] = why
        if self.fast:
            self.calls[name].unavailable(why)

    def set_memory_limit(self, nbytes: Optional[int]) -> None:
        with self.lock:
            self.memory_limit = nbytes or DEFAULT_MEMORY_LIMIT
            self.store.set_limits(memory_size=self.memory_limit)

    # Callers hold `self.lock` from here on.

    def invoke(self, name: str, *args: Any) -> Any:
        c = self.calls[name]
        try:
            keep = c.lower(*args)  # the bytes the argument slots point at, alive until we return
        except UnicodeEncodeError as e:
            raise MizanKernelError("invalid-argument", f"text is not valid Unicode: {e}") from None
        err = _func_call(*c.cargs)
        if err:
            self._trap(_error_text(err), EXPORTS[name][1])
        del keep
        if not c.nresults:
            return None
        res = self.result
        try:
            kind, is_ok, ptr = _RESULT_HEAD.unpack_from(res)
            if kind == RESULT:  # result<T, error>: the payload is boxed behind `ptr`
                if not ptr:
                    return None
                if is_ok:
                    return _lift(ptr)
                raise kernel_error(_lift(ptr))
            return _lift(self.result_addr)
        finally:
            _val_delete(self.result_ptr)
            res[0] = 0  # kind = bool: nothing left to free

    def _invoke_public(self, name: str, *args: Any) -> Any:
        call = self.public.get(name)
        if call is None:
            raise MizanKernelError("not-found", self.disabled.get(name, f"no export {name}"))
        return call(self, args)

    def _trap(self, text: str, export: str) -> None:
        """The instance trapped in `export` (wasmtime's error `text`): re-create it and raise."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        what = f"the kernel trapped in {export} ({lines[-1] if lines else 'unknown'})"
        self.poisoned = True
        try:
            self._instantiate()
        except Exception as e:  # e.g. the memory limit is below the initial memory
            raise MizanKernelError(
                "trap", f"{what}; re-creating the instance failed ({e}), the next call retries", {"wasmtime": text}
            ) from None
        raise MizanKernelError("trap", f"{what}; the instance was re-created", {"wasmtime": text})

    def _prepare(self) -> None:
        if self.poisoned:
            try:
                self._instantiate()
            except Exception as e:
                raise MizanKernelError("trap", f"the kernel instance cannot be re-created: {e}") from None
        drops, self.pending_drops = self.pending_drops, []
        for handle, generation in drops:
            if generation == self.generation and not self._destroy(handle):
                self.poisoned = True  # a trapping destructor poisons the instance too
                self._instantiate()
            if self.fast:  # the host-side handle
                _resource_delete(handle)
            else:
                _public.forget(handle)

    def _destroy(self, handle: Any) -> bool:
        """Run the guest destructor of a resource of the current instance; False if it trapped."""
        if not self.fast:
            try:
                _public.drop(self, handle)
                return True
            except Exception:
                return False
        err = _resource_drop(self.ctx, handle)
        if err:
            _error_text(err)  # frees it
        return not err

    def ensure(self, owner: "ResourceOwner") -> int:
        """The handle address of `owner` in the current instance, re-creating it if needed."""
        if owner._gen != self.generation:
            if owner._handle and not owner._RECREATE:
                raise MizanKernelError(
                    "trap", f"this {type(owner).__name__} lost its state when the kernel trapped; create a new one"
                )
            handle = self.invoke(owner._ctor, owner._source)
            if owner._handle:  # from an instance that trapped: free the host-side handle
                self.pending_drops.append((owner._handle, owner._gen))
            owner._handle = handle
            owner._gen = self.generation
        return owner._handle

    def call(self, name: str, *args: Any) -> Any:
        with self.lock:
            if self.poisoned or self.pending_drops:
                self._prepare()
            return self.invoke(name, *args)

    def method(self, owner: "ResourceOwner", name: str, *args: Any) -> Any:
        with self.lock:
            if self.poisoned or self.pending_drops:
                self._prepare()
            handle = owner._handle if owner._gen == self.generation else self.ensure(owner)
            return self.invoke(name, handle, *args)


class ResourceOwner:
    """A Python object owning a kernel resource; after a trap the resource is re-created from
    its constructor and source the next time the object is used."""

    __slots__ = ("_ctor", "_source", "_handle", "_gen", "_rt", "__weakref__")
    #: Keyers and registries are rebuilt from their source after a trap; a stateful resource
    #: (the client store) is not: using it after a trap raises.
    _RECREATE = True

    def _bind(self, ctor: str, source: Optional[str]) -> None:
        self._ctor = ctor
        self._source = source
        self._handle = 0
        self._gen = -1
        self._rt = rt = runtime()
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            rt.ensure(self)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        if handle:
            # Dropped under the lock at the start of the next call (never from a finalizer).
            self._rt.pending_drops.append((handle, self._gen))


_RUNTIME: Optional[Runtime] = None
_RUNTIME_LOCK = threading.Lock()
_RUNTIMES: "weakref.WeakSet[Runtime]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Another thread may have held a lock at fork time; the child has only the forking thread.
    # The store itself is copied with the process and stays usable.
    global _RUNTIME_LOCK
    _RUNTIME_LOCK = threading.Lock()
    for rt in list(_RUNTIMES):
        rt.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
