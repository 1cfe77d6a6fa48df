"""May this process pack wasmtime's C values by hand? Checked once, at import.

The fast call path (``_runtime``, ``_wit``) writes and reads ``wasmtime_component_val_t`` values
with ``struct`` formats instead of going through wasmtime-py's generic conversion. That relies on
things wasmtime-py does not promise: the C layout of the value structs, the numbering of value
kinds, and a few private names (``wasmtime._ffi``, ``Func._func``, ``Store._context``). This
module compares every one of those assumptions with what the installed wasmtime-py ships: the
ctypes description of its C API (generated from the headers of the very library it loads), its
kind constants and its version. Any difference is a *problem*; with a problem the runtime uses
wasmtime-py's public ``wasmtime.component`` API instead (slower, never wrong) and warns once.
"""

from __future__ import annotations

import ctypes
import sys
from importlib import metadata
from typing import Any, Dict, List, Optional, Tuple

#: The wasmtime-py major version the layout below was verified against (pyproject pins it).
SUPPORTED_MAJOR = 50

#: The value kinds the fast path writes or reads, by their C name (``WASMTIME_COMPONENT_<NAME>``).
KIND_NAMES = ("BOOL", "U8", "U16", "U32", "U64", "STRING", "LIST", "RECORD", "VARIANT", "ENUM", "OPTION", "RESULT", "RESOURCE")

# What the struct formats assume (64-bit, little-endian): (C struct, field) -> byte offset, and
# C struct -> size. A union member's offset is always 0; its size bounds what we write into it.
OFFSETS: Dict[Tuple[str, str], int] = {
    ("wasmtime_component_val_t", "kind"): 0,
    ("wasmtime_component_val_t", "of"): 8,
    ("wasm_name_t", "size"): 0,
    ("wasm_name_t", "data"): 8,
    ("wasmtime_component_vallist_t", "size"): 0,
    ("wasmtime_component_vallist_t", "data"): 8,
    ("wasmtime_component_valrecord_t", "size"): 0,
    ("wasmtime_component_valrecord_t", "data"): 8,
    ("wasmtime_component_valrecord_entry_t", "name"): 0,
    ("wasmtime_component_valrecord_entry_t", "val"): 16,
    ("wasmtime_component_valvariant_t", "discriminant"): 0,
    ("wasmtime_component_valvariant_t", "val"): 16,
    ("wasmtime_component_valresult_t", "is_ok"): 0,
    ("wasmtime_component_valresult_t", "val"): 8,
}
SIZES: Dict[str, int] = {
    "wasmtime_component_val_t": 32,
    "wasmtime_component_valunion_t": 24,
    "wasmtime_component_valrecord_entry_t": 48,
    "wasm_name_t": 16,
    "wasmtime_component_vallist_t": 16,
    "wasmtime_component_valrecord_t": 16,
    "wasmtime_component_valvariant_t": 24,
    "wasmtime_component_valresult_t": 16,
}
#: Union members used, with the size the formats give them.
UNION_MEMBERS: Dict[str, int] = {
    "boolean": 1, "u8": 1, "u16": 2, "u32": 4, "u64": 8, "string": 16, "list": 16, "record": 16,
    "variant": 24, "enumeration": 16, "option": 8, "result": 16, "resource": 8,
}
#: C functions called directly.
SYMBOLS = (
    "wasmtime_component_func_call",
    "wasmtime_component_val_delete",
    "wasmtime_component_resource_any_drop",
    "wasmtime_component_resource_any_delete",
)


def kinds(ffi: Any) -> Dict[str, int]:
    """The library's own value-kind constants (-1 where one is missing: a problem below)."""
    out = {}
    for name in KIND_NAMES:
        const = getattr(ffi, f"WASMTIME_COMPONENT_{name}", None)
        out[name] = getattr(const, "value", const) if const is not None else -1
    return out


def _struct_problems(ffi: Any) -> List[str]:
    out = []
    for name, size in SIZES.items():
        cls = getattr(ffi, name, None)
        if cls is None:
            out.append(f"wasmtime._ffi has no {name}")
        elif ctypes.sizeof(cls) != size:
            out.append(f"sizeof({name}) is {ctypes.sizeof(cls)}, the fast path packs {size}")
    for (name, field), offset in OFFSETS.items():
        cls = getattr(ffi, name, None)
        desc = getattr(cls, field, None) if cls is not None else None
        if desc is None:
            out.append(f"{name} has no field {field}")
        elif desc.offset != offset:
            out.append(f"offsetof({name}, {field}) is {desc.offset}, the fast path packs {offset}")
    union = getattr(ffi, "wasmtime_component_valunion_t", None)
    for member, size in UNION_MEMBERS.items():
        desc = getattr(union, member, None) if union is not None else None
        if desc is None:
            out.append(f"wasmtime_component_valunion_t has no member {member}")
        elif desc.offset != 0 or desc.size != size:
            out.append(f"union member {member} is {desc.size} bytes at {desc.offset}, the fast path packs {size} at 0")
    return out


def problems(ffi: Any = None, version: Optional[str] = None) -> List[str]:
    """Every way the installed wasmtime-py differs from what the fast path packs (empty: safe)."""
    if ffi is None:
        from wasmtime import _ffi as ffi
    out: List[str] = []
    if version is None:
        try:
            version = metadata.version("wasmtime")
        except metadata.PackageNotFoundError:
            version = "unknown"
    if version.split(".")[0] != str(SUPPORTED_MAJOR):
        out.append(f"wasmtime {version} is not the {SUPPORTED_MAJOR}.x this package verified its C layout against")
    if sys.byteorder != "little" or ctypes.sizeof(ctypes.c_void_p) != 8 or ctypes.sizeof(ctypes.c_size_t) != 8:
        out.append("the fast path packs 64-bit little-endian values")
    found = kinds(ffi)
    missing = [n for n, v in found.items() if v < 0]
    if missing:
        out.append(f"wasmtime._ffi has no kind constant for {', '.join(missing)}")
    elif len(set(found.values())) != len(found):
        out.append(f"wasmtime._ffi's kind constants are not distinct: {found}")
    out += _struct_problems(ffi)
    lib = getattr(ffi, "dll", None)
    for symbol in SYMBOLS:
        if lib is None or not hasattr(lib, symbol):
            out.append(f"the wasmtime library exports no {symbol}")
    from wasmtime import Store, WasmtimeError
    from wasmtime.component import Func

    for owner, attr in ((Store, "_context"), (WasmtimeError, "_from_ptr")):
        if not hasattr(owner, attr):
            out.append(f"wasmtime.{owner.__name__} has no {attr}")
    if "_func" not in getattr(Func, "__annotations__", {}):
        out.append("wasmtime.component.Func no longer keeps its C handle in _func")
    return out
