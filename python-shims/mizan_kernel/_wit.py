"""Typed calls: exports whose parameters are records, variants, enums, options and lists of
them (the ``server`` interface), on the same lean path as ``_runtime``.

``_runtime`` lowers the flat signatures of the first interfaces (strings, ``u32``/``u64``,
``option<string>``, ``list<string>``) with one generated ``struct.pack_into``. The server
interface passes records (a request, an identity, an engine config, outcomes, purge plans), so
this module compiles a small writer per parameter type **from the component's own types** (read
once per process from ``func.type(store)``, so field names, field order, case names and enum
names always match the WIT) and writes ``wasmtime_component_val_t`` values with
``struct.pack_into`` into one preallocated arena:

- a record is a contiguous array of 48-byte entries (name, value); a field that is a string is
  packed with its name in one call;
- a list is a contiguous array of 32-byte values; ``list<u8>`` is built with two strided slice
  assignments into a ``bytearray`` (no per-byte Python work);
- an option or a variant payload is one more 32-byte value in the arena;
- strings point at the Python ``bytes`` buffer (the C API borrows its arguments), kept alive
  until the call returns.

Python values: a record is a tuple in WIT field order, a variant is ``(case, payload)``, an
enum a ``str``, an option ``None`` or the value, a list any sequence (``list<u8>``: ``bytes``),
a resource its handle. Results are lifted generically (records to dicts keyed by WIT names,
variants to ``(case, payload)``), then freed with ``wasmtime_component_val_delete``.

Everything runs under the runtime's lock (one arena, one result slot); a trap re-creates the
instance exactly as ``_runtime`` does and raises ``MizanKernelError("trap")``. When the runtime
uses the public call path (``_layout`` found a mismatch), exports go through ``_public`` instead.
"""

from __future__ import annotations

import copy
import ctypes
import struct
from ctypes import c_size_t, c_uint64, c_void_p
from typing import Any, Callable, Dict, List, Optional, Tuple

from wasmtime.component import (
    Bool,
    BorrowType,
    EnumType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResultType,
    String,
    U8,
    U16,
    U32,
    U64,
    VariantType,
)

from . import _public
from . import _runtime as R
from ._errors import MizanKernelError, kernel_error

# The library's own kind numbers (checked by `_layout`, like the struct layout).
BOOL, U8_KIND, U16_KIND, U32_KIND, U64_KIND = (R._K[n] for n in ("BOOL", "U8", "U16", "U32", "U64"))
STRING, LIST, RECORD, VARIANT, ENUM, OPTION, RESULT, RESOURCE = (
    R._K[n] for n in ("STRING", "LIST", "RECORD", "VARIANT", "ENUM", "OPTION", "RESULT", "RESOURCE")
)

if R._func_call is not None:
    _func_call = ctypes.CDLL(str(R.ffi.filename))["wasmtime_component_func_call"]  # own argtypes
    _func_call.restype = c_void_p
    _func_call.argtypes = [c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t]
_val_delete = R._val_delete
_call_prebuilt = R._func_call  # no argtypes: takes the prebuilt ctypes values of `Export.cargs`

_addr = R._addr
_read = R._read
_text = R._text

_P_STR = struct.Struct("<B7xQQ8x").pack_into  # kind, size, data (string, list)
_P_PTR = struct.Struct("<B7xQ16x").pack_into  # kind, pointer or u64 (option, resource, u64)
_P_U32 = struct.Struct("<B7xI20x").pack_into
_P_U16 = struct.Struct("<B7xH22x").pack_into
_P_U8 = struct.Struct("<B7xB23x").pack_into
_P_BOOL = struct.Struct("<B7x?23x").pack_into
_P_VARIANT = struct.Struct("<B7xQQQ").pack_into  # kind, case name size, data, payload pointer
_P_NAME = struct.Struct("<QQ").pack_into  # a record entry's name
_P_NAMED_STR = struct.Struct("<QQB7xQQ8x").pack_into  # a record entry: name + string value


class _Arena:
    """Bump allocation for one call's argument values; reset after every call."""

    CHUNK = 1 << 16

    def __init__(self) -> None:
        self.main = (c_uint64 * (self.CHUNK // 8))()
        self.main_base = ctypes.addressof(self.main)
        self.keep: List[Any] = []
        self.reset()

    def reset(self) -> None:
        self.buf: Any = self.main
        self.base = self.main_base
        self.off = 0
        self.cap = self.CHUNK
        self.keep.clear()

    def alloc(self, n: int) -> Tuple[Any, int, int]:
        off = self.off
        if off + n > self.cap:
            size = max(n, self.CHUNK)
            chunk = (c_uint64 * ((size + 7) // 8))()
            self.keep.append(chunk)
            self.buf, self.base, self.cap, off = chunk, ctypes.addressof(chunk), size, 0
        self.off = off + n
        return self.buf, off, self.base + off


_ARENA = _Arena()
#: Names (record fields, variant cases, enum values) live as long as the process.
_NAMES: Dict[str, bytes] = {}


def _name(text: str) -> bytes:
    b = _NAMES.get(text)
    if b is None:
        b = _NAMES[text] = text.encode()
    return b


Writer = Callable[[Any, Any, int, _Arena], None]


def _u_range(kind: str, hi: int) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if type(v) is not int:
            raise TypeError(f"expected an int ({kind}), got {type(v).__name__}")
        if not 0 <= v <= hi:
            raise MizanKernelError("invalid-argument", f"{v} is outside the {kind} range")

    return check


def writer(ty: Any) -> Writer:
    """A function writing a Python value of WIT type `ty` as one 32-byte value at (buf, off)."""
    if isinstance(ty, String):

        def w_string(v: Any, buf: Any, off: int, A: _Arena) -> None:
            b = str.encode(v)
            A.keep.append(b)
            _P_STR(buf, off, STRING, len(b), _addr(b))

        return w_string
    if isinstance(ty, Bool):

        def w_bool(v: Any, buf: Any, off: int, A: _Arena) -> None:
            _P_BOOL(buf, off, BOOL, bool(v))

        return w_bool
    for cls, kind, hi, pack, label in (
        (U8, U8_KIND, 0xFF, _P_U8, "u8"),
        (U16, U16_KIND, 0xFFFF, _P_U16, "u16"),
        (U32, U32_KIND, 0xFFFFFFFF, _P_U32, "u32"),
        (U64, U64_KIND, 0xFFFFFFFFFFFFFFFF, _P_PTR, "u64"),
    ):
        if isinstance(ty, cls):
            check = _u_range(label, hi)

            def w_uint(v: Any, buf: Any, off: int, A: _Arena, kind: int = kind, hi: int = hi, pack: Any = pack) -> None:
                if type(v) is not int or not 0 <= v <= hi:
                    check(v)
                pack(buf, off, kind, v)

            return w_uint
    if isinstance(ty, (BorrowType, OwnType)):

        def w_resource(v: Any, buf: Any, off: int, A: _Arena) -> None:
            _P_PTR(buf, off, RESOURCE, v)

        return w_resource
    if isinstance(ty, OptionType):
        inner = writer(ty.payload)

        def w_option(v: Any, buf: Any, off: int, A: _Arena) -> None:
            if v is None:
                _P_PTR(buf, off, OPTION, 0)
                return
            pbuf, poff, paddr = A.alloc(32)
            inner(v, pbuf, poff, A)
            _P_PTR(buf, off, OPTION, paddr)

        return w_option
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):

            def w_bytes(v: Any, buf: Any, off: int, A: _Arena) -> None:
                data = bytes(v)
                n = len(data)
                arr = bytearray(32 * n)
                arr[0::32] = bytes((U8_KIND,)) * n
                arr[8::32] = data
                cbuf = (ctypes.c_char * max(len(arr), 1)).from_buffer(arr) if n else None
                A.keep.append((arr, cbuf))
                _P_STR(buf, off, LIST, n, ctypes.addressof(cbuf) if cbuf is not None else 0)

            return w_bytes
        elem = writer(ty.element)

        def w_list(v: Any, buf: Any, off: int, A: _Arena) -> None:
            if isinstance(v, (str, bytes)):
                raise TypeError("expected a list, got a single string")
            n = len(v)
            if not n:
                _P_STR(buf, off, LIST, 0, 0)
                return
            lbuf, loff, laddr = A.alloc(32 * n)
            for item in v:
                elem(item, lbuf, loff, A)
                loff += 32
            _P_STR(buf, off, LIST, n, laddr)

        return w_list
    if isinstance(ty, RecordType):
        fields = [(_name(n), t) for n, t in ty.fields]
        nf = len(fields)
        plan: List[Tuple[bytes, int, Optional[Writer]]] = []
        for nb, t in fields:
            if isinstance(t, String):
                plan.append((nb, _addr(nb), None))  # packed with its name in one call
            else:
                plan.append((nb, _addr(nb), writer(t)))
        names = [n for n, _ in ty.fields]

        def w_record(v: Any, buf: Any, off: int, A: _Arena) -> None:
            if len(v) != nf:
                raise TypeError(f"expected a record ({', '.join(names)}), got {len(v)} values")
            rbuf, roff, raddr = A.alloc(48 * nf)
            for (nb, naddr, w), item in zip(plan, v):
                if w is None:
                    b = str.encode(item)
                    A.keep.append(b)
                    _P_NAMED_STR(rbuf, roff, len(nb), naddr, STRING, len(b), _addr(b))
                else:
                    _P_NAME(rbuf, roff, len(nb), naddr)
                    w(item, rbuf, roff + 16, A)
                roff += 48
            _P_STR(buf, off, RECORD, nf, raddr)

        return w_record
    if isinstance(ty, VariantType):
        cases: Dict[str, Tuple[bytes, int, Optional[Writer]]] = {}
        for case, payload in ty.cases:
            nb = _name(case)
            cases[case] = (nb, _addr(nb), None if payload is None else writer(payload))

        def w_variant(v: Any, buf: Any, off: int, A: _Arena) -> None:
            case, payload = v
            try:
                nb, naddr, w = cases[case]
            except KeyError:
                raise TypeError(f"unknown case {case!r}: expected one of {', '.join(cases)}") from None
            paddr = 0
            if w is not None:
                pbuf, poff, paddr = A.alloc(32)
                w(payload, pbuf, poff, A)
            _P_VARIANT(buf, off, VARIANT, len(nb), naddr, paddr)

        return w_variant
    if isinstance(ty, EnumType):
        values = {n: (_name(n), _addr(_name(n))) for n in ty.names}

        def w_enum(v: Any, buf: Any, off: int, A: _Arena) -> None:
            try:
                nb, naddr = values[v]
            except KeyError:
                raise TypeError(f"unknown enum value {v!r}: expected one of {', '.join(values)}") from None
            _P_STR(buf, off, ENUM, len(nb), naddr)

        return w_enum
    raise TypeError(f"mizan-kernel: no writer for component type {type(ty).__name__}")


class _Gen:
    """Generates one function lowering a whole signature: the same layout as `writer`, inlined
    (no call per value), as `_runtime._lowerer` does for the flat signatures."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.names = [0]  # shared with the generators of its case functions (`case_function`)
        self.scope: Dict[str, Any] = {
            "_enc": str.encode, "_P_STR": _P_STR, "_P_PTR": _P_PTR, "_P_U32": _P_U32, "_P_U16": _P_U16,
            "_P_U8": _P_U8, "_P_BOOL": _P_BOOL, "_P_VARIANT": _P_VARIANT, "_P_NAME": _P_NAME,
            "_P_NAMED_STR": _P_NAMED_STR, "_addr": _addr, "_u_range": _u_range, "_OFF": R._OFF,
        }

    def var(self, prefix: str) -> str:
        self.names[0] += 1
        return f"{prefix}{self.names[0]}"

    def case_function(self, params: str, body: Callable[["_Gen"], None], result: str, label: str) -> str:
        """A variant case's code as a function of its own in the shared scope; its name. A
        variant's cases inlined into one function gave it hundreds of locals (the exchange's
        events: 448), which CPython zeroes and clears on every call whichever case is taken."""
        sub = copy.copy(self)
        sub.lines = []
        name = self.var("case_")
        body(sub)
        src = f"def {name}({params}):\n" + "\n".join(sub.lines) + f"\n    return {result}\n"
        exec(compile(src, f"<mizan_kernel lower {label}>", "exec"), self.scope)
        return name

    def const(self, value: Any) -> str:
        name = self.var("C")
        self.scope[name] = value
        return name

    def emit(self, ind: int, line: str) -> None:
        self.lines.append("    " * ind + line)

    @staticmethod
    def addr(b: str) -> str:
        return f"id({b}) + _OFF" if R._OFF is not None else f"_addr({b})"

    def string(self, v: str, ind: int) -> str:
        b = self.var("b")
        self.emit(ind, f"{b} = _enc({v})")
        self.emit(ind, f"K({b})")
        return b

    def write(self, ty: Any, v: str, buf: str, off: str, ind: int) -> None:
        e = self.emit
        if isinstance(ty, String):
            b = self.string(v, ind)
            e(ind, f"_P_STR({buf}, {off}, {STRING}, len({b}), {self.addr(b)})")
        elif isinstance(ty, Bool):
            e(ind, f"_P_BOOL({buf}, {off}, {BOOL}, {v})")
        elif isinstance(ty, (U8, U16, U32, U64)):
            kind, hi, pack, label = {
                U8: (U8_KIND, 0xFF, "_P_U8", "u8"), U16: (U16_KIND, 0xFFFF, "_P_U16", "u16"),
                U32: (U32_KIND, 0xFFFFFFFF, "_P_U32", "u32"), U64: (U64_KIND, 0xFFFFFFFFFFFFFFFF, "_P_PTR", "u64"),
            }[type(ty)]
            e(ind, f"if type({v}) is not int or not 0 <= {v} <= {hi}: _u_range({label!r}, {hi})({v})")
            e(ind, f"{pack}({buf}, {off}, {kind}, {v})")
        elif isinstance(ty, (BorrowType, OwnType)):
            e(ind, f"_P_PTR({buf}, {off}, {RESOURCE}, {v})")
        elif isinstance(ty, OptionType):
            x, pb, po, pa = self.var("x"), self.var("pb"), self.var("po"), self.var("pa")
            e(ind, f"{x} = {v}")
            e(ind, f"if {x} is None:")
            e(ind + 1, f"_P_PTR({buf}, {off}, {OPTION}, 0)")
            e(ind, "else:")
            e(ind + 1, f"{pb}, {po}, {pa} = A_alloc(32)")
            self.write(ty.payload, x, pb, po, ind + 1)
            e(ind + 1, f"_P_PTR({buf}, {off}, {OPTION}, {pa})")
        elif isinstance(ty, ListType) and isinstance(ty.element, U8):
            w = self.const(writer(ty))
            e(ind, f"{w}({v}, {buf}, {off}, A)")
        elif isinstance(ty, ListType):
            x, n, lb, lo, la, it = (self.var(p) for p in ("x", "n", "lb", "lo", "la", "it"))
            e(ind, f"{x} = {v}")
            e(ind, f"if isinstance({x}, (str, bytes)): raise TypeError('expected a list, got a single string')")
            e(ind, f"{n} = len({x})")
            e(ind, f"if {n}:")
            e(ind + 1, f"{lb}, {lo}, {la} = A_alloc(32 * {n})")
            e(ind + 1, f"for {it} in {x}:")
            self.write(ty.element, it, lb, lo, ind + 2)
            e(ind + 2, f"{lo} += 32")
            e(ind + 1, f"_P_STR({buf}, {off}, {LIST}, {n}, {la})")
            e(ind, "else:")
            e(ind + 1, f"_P_STR({buf}, {off}, {LIST}, 0, 0)")
        elif isinstance(ty, RecordType):
            fields = ty.fields
            rb, ro, ra = self.var("rb"), self.var("ro"), self.var("ra")
            names = [self.var("f") for _ in fields]
            e(ind, f"{', '.join(names)}{',' if len(names) == 1 else ''} = {v}")
            e(ind, f"{rb}, {ro}, {ra} = A_alloc({48 * len(fields)})")
            for i, ((fname, fty), fv) in enumerate(zip(fields, names)):
                nb = _name(fname)
                entry = f"{ro} + {48 * i}" if i else ro
                if isinstance(fty, String):
                    b = self.string(fv, ind)
                    e(ind, f"_P_NAMED_STR({rb}, {entry}, {len(nb)}, {_addr(nb)}, {STRING}, len({b}), {self.addr(b)})")
                else:
                    e(ind, f"_P_NAME({rb}, {entry}, {len(nb)}, {_addr(nb)})")
                    self.write(fty, fv, rb, f"{ro} + {48 * i + 16}", ind)
            e(ind, f"_P_STR({buf}, {off}, {RECORD}, {len(fields)}, {ra})")
        elif isinstance(ty, VariantType):
            c, pl = self.var("c"), self.var("pl")
            e(ind, f"{c}, {pl} = {v}")
            cases = ty.cases
            for i, (case, payload) in enumerate(cases):
                nb = _name(case)
                e(ind, f"{'if' if i == 0 else 'elif'} {c} == {case!r}:")
                if payload is None:
                    e(ind + 1, f"_P_VARIANT({buf}, {off}, {VARIANT}, {len(nb)}, {_addr(nb)}, 0)")
                else:
                    def body(g: "_Gen", payload: Any = payload) -> None:
                        g.emit(1, "pb, po, pa = A_alloc(32)")
                        g.write(payload, "pl", "pb", "po", 1)

                    f = self.case_function("pl, A, A_alloc, K", body, "pa", case)
                    e(ind + 1, f"_P_VARIANT({buf}, {off}, {VARIANT}, {len(nb)}, {_addr(nb)}, {f}({pl}, A, A_alloc, K))")
            expected = ", ".join(c for c, _ in cases)
            e(ind, "else:")
            e(ind + 1, f"raise TypeError('unknown case %r: expected one of {expected}' % ({c},))")
        elif isinstance(ty, EnumType):
            table = self.const({n: (len(_name(n)), _addr(_name(n))) for n in ty.names})
            nl, na = self.var("nl"), self.var("na")
            e(ind, f"{nl}, {na} = {table}.get({v}, (None, None))")
            e(ind, f"if {nl} is None: raise TypeError('unknown enum value %r: expected one of %s' % ({v}, ', '.join({table})))")
            e(ind, f"_P_STR({buf}, {off}, {ENUM}, {nl}, {na})")
        else:
            raise TypeError(f"mizan-kernel: no writer for component type {type(ty).__name__}")

    def function(self, params: List[Any], label: str) -> Callable[..., int]:
        n = len(params)
        args = [f"a{i}" for i in range(n)]
        self.emit(1, "A_alloc = A.alloc")
        self.emit(1, "K = A.keep.append")
        self.emit(1, f"abuf, aoff, aaddr = A_alloc({32 * n or 32})")
        if n:
            self.emit(1, f"{', '.join(args)}{',' if n == 1 else ''} = args")
        for i, (ty, a) in enumerate(zip(params, args)):
            self.write(ty, a, "abuf", f"aoff + {32 * i}" if i else "aoff", 1)
        self.emit(1, "return aaddr")
        src = "def lower(args, A):\n" + "\n".join(self.lines) + "\n"
        exec(compile(src, f"<mizan_kernel lower {label}>", "exec"), self.scope)
        return self.scope["lower"]  # type: ignore[no-any-return]


def _static_size(ty: Any) -> int:
    """Bytes a value of `ty` needs below its own 32-byte slot when its shape is fixed: a record's
    entries, an option's payload, every payload-bearing case of a variant (each its own region,
    so each keeps its constant bytes), a list's element when it has one, and theirs. A list of
    another length is allocated per call."""
    if isinstance(ty, RecordType):
        return 48 * len(ty.fields) + sum(_static_size(t) for _, t in ty.fields)
    if isinstance(ty, OptionType):
        return 32 + _static_size(ty.payload)
    if isinstance(ty, VariantType):
        return sum(32 + _static_size(t) for _, t in ty.cases if t is not None)
    if isinstance(ty, ListType) and not isinstance(ty.element, U8):
        return 32 + _static_size(ty.element)  # a list of one (most are): its element
    return 0


class _Static(_Gen):
    """One function lowering a signature whose fixed-shape parts (records, options, variant
    payloads: everything but list elements) sit at constant offsets of one block at the start of
    the arena. The block's constant bytes (kinds, field and case names, record counts, pointers
    inside the block) are a template copied in with one slice assignment; each call packs only
    what varies (scalars, strings, variant cases, option presence, lists). A record's nesting
    then costs no allocation and no name packing: the exchange's events (a list of variants of
    records of variants) lower at about the cost of a flat signature."""

    def __init__(self, base: int) -> None:
        super().__init__()
        self.base = base  # the arena's first allocation: the block's address

    def fill(self, ty: Any, tpl: bytearray, slot: int, region: int) -> None:
        """Write `ty`'s constant bytes into the template: its slot at `slot`, its region at `region`."""
        if isinstance(ty, RecordType):
            n = len(ty.fields)
            _P_STR(tpl, slot, RECORD, n, self.base + region)
            child = region + 48 * n
            for i, (fname, fty) in enumerate(ty.fields):
                nb = _name(fname)
                _P_NAME(tpl, region + 48 * i, len(nb), _addr(nb))
                self.fill(fty, tpl, region + 48 * i + 16, child)
                child += _static_size(fty)
        elif isinstance(ty, OptionType):
            self.fill(ty.payload, tpl, region, region + 32)
        elif isinstance(ty, VariantType):
            at = region
            for _, t in ty.cases:
                if t is not None:
                    self.fill(t, tpl, at, at + 32)
                    at += 32 + _static_size(t)
        elif isinstance(ty, ListType) and not isinstance(ty.element, U8):
            self.fill(ty.element, tpl, region, region + 32)

    def place(self, ty: Any, v: str, slot: int, region: int, ind: int) -> None:
        """Emit the code writing what varies of value `v` of `ty` (slot and region as in `fill`)."""
        e = self.emit
        if isinstance(ty, RecordType):
            names = [self.var("f") for _ in ty.fields]
            e(ind, f"{', '.join(names)}{',' if len(names) == 1 else ''} = {v}")
            child = region + 48 * len(ty.fields)
            for i, ((_, fty), fv) in enumerate(zip(ty.fields, names)):
                self.place(fty, fv, region + 48 * i + 16, child, ind)
                child += _static_size(fty)
        elif isinstance(ty, OptionType):
            x = self.var("x")
            e(ind, f"{x} = {v}")
            e(ind, f"if {x} is None:")
            e(ind + 1, f"_P_PTR(abuf, {slot}, {OPTION}, 0)")
            e(ind, "else:")
            self.place(ty.payload, x, region, region + 32, ind + 1)
            e(ind + 1, f"_P_PTR(abuf, {slot}, {OPTION}, {self.base + region})")
        elif isinstance(ty, VariantType):
            c, pl = self.var("c"), self.var("pl")
            e(ind, f"{c}, {pl} = {v}")
            at = region
            for i, (case, payload) in enumerate(ty.cases):
                nb = _name(case)
                e(ind, f"{'if' if i == 0 else 'elif'} {c} == {case!r}:")
                if payload is None:
                    e(ind + 1, f"_P_VARIANT(abuf, {slot}, {VARIANT}, {len(nb)}, {_addr(nb)}, 0)")
                else:
                    def body(g: "_Gen", payload: Any = payload, at: int = at) -> None:
                        g.place(payload, "pl", at, at + 32, 1)  # type: ignore[attr-defined]

                    f = self.case_function("pl, abuf, A, A_alloc, K", body, "None", case)
                    e(ind + 1, f"{f}({pl}, abuf, A, A_alloc, K)")
                    e(ind + 1, f"_P_VARIANT(abuf, {slot}, {VARIANT}, {len(nb)}, {_addr(nb)}, {self.base + at})")
                    at += 32 + _static_size(payload)
            expected = ", ".join(c for c, _ in ty.cases)
            e(ind, "else:")
            e(ind + 1, f"raise TypeError('unknown case %r: expected one of {expected}' % ({c},))")
        elif isinstance(ty, ListType) and not isinstance(ty.element, U8):
            x, it = self.var("x"), self.var("it")
            e(ind, f"{x} = {v}")
            e(ind, f"if len({x}) == 1 and not isinstance({x}, (str, bytes)):")
            e(ind + 1, f"{it}, = {x}")
            self.place(ty.element, it, region, region + 32, ind + 1)
            e(ind + 1, f"_P_STR(abuf, {slot}, {LIST}, 1, {self.base + region})")
            e(ind, "else:")
            self.write(ty, x, "abuf", str(slot), ind + 1)
        else:  # a scalar, a string, an enum, a resource, bytes
            self.write(ty, v, "abuf", str(slot), ind)

    def function(self, params: List[Any], label: str) -> Callable[..., int]:
        n = len(params)
        size = 32 * n + sum(_static_size(t) for t in params)
        tpl = bytearray(size)
        region = 32 * n
        regions = []
        for i, ty in enumerate(params):
            self.fill(ty, tpl, 32 * i, region)
            regions.append(region)
            region += _static_size(ty)
        self.scope["_TPL"] = bytes(tpl)
        args = [f"a{i}" for i in range(n)]
        self.emit(1, "A_alloc = A.alloc")
        self.emit(1, "K = A.keep.append")
        self.emit(1, f"abuf, aoff, aaddr = A_alloc({size or 32})")
        self.emit(1, f"if aaddr != {self.base}: return _generic(args, A)  # not the arena's first allocation")
        if size:
            self.emit(1, f"_VIEW[0:{size}] = _TPL")
        if n:
            self.emit(1, f"{', '.join(args)}{',' if n == 1 else ''} = args")
        for i, (ty, a) in enumerate(zip(params, args)):
            self.place(ty, a, 32 * i, regions[i], 1)
        self.emit(1, "return aaddr")
        src = "def lower(args, A):\n" + "\n".join(self.lines) + "\n"
        exec(compile(src, f"<mizan_kernel lower {label}>", "exec"), self.scope)
        return self.scope["lower"]  # type: ignore[no-any-return]


#: The arena's first chunk as bytes, for the template copy (None where ctypes arrays do not
#: expose their buffer: every value is then allocated per call).
try:
    _VIEW: Optional[memoryview] = memoryview(_ARENA.main).cast("B")
except (TypeError, ValueError):  # pragma: no cover - CPython exposes it
    _VIEW = None


def lowerer(params: List[Any], label: str) -> Callable[..., int]:
    """`lower(args, A) -> address of the argument array` for a signature: the fixed-shape parts
    from a template (`_Static`) when they fit the arena's first chunk, else allocated per value."""
    generic = _Gen().function(params, label)
    size = 32 * len(params) + sum(_static_size(t) for t in params)
    if size > _Arena.CHUNK // 2 or _VIEW is None:
        return generic
    gen = _Static(_ARENA.main_base)
    gen.scope["_generic"] = generic
    gen.scope["_VIEW"] = _VIEW
    return gen.function(params, label)


# --- results -----------------------------------------------------------------------------------

_VAL = struct.Struct("<B7xQQQ")
_PAIR = struct.Struct("<QQ")
_RESULT_HEAD = struct.Struct("<B7x?7xQ")


def lift(addr: int) -> Any:
    """The Python value of the wasmtime_component_val_t at `addr`."""
    kind, w1, w2, w3 = _VAL.unpack_from(_read(addr, 32))
    if kind == STRING or kind == ENUM:
        return str(_read(w2, w1), "utf-8") if w1 else ""
    if kind == RECORD:
        out = {}
        for e in range(w2, w2 + 48 * w1, 48):
            size, data = _PAIR.unpack_from(_read(e, 16))
            out[_text(data, size)] = lift(e + 16)
        return out
    if kind == LIST:
        return [lift(w2 + 32 * i) for i in range(w1)]
    if kind == OPTION:
        return lift(w1) if w1 else None
    if kind == VARIANT:
        return (_text(w2, w1), lift(w3) if w3 else None)
    if kind == BOOL:
        return bool(w1 & 0xFF)
    if kind == U16_KIND:
        return w1 & 0xFFFF
    if kind == U32_KIND:
        return w1 & 0xFFFFFFFF
    if kind == U64_KIND:
        return w1
    if kind == U8_KIND:
        return w1 & 0xFF
    if kind == RESOURCE:
        R._clear_kind(addr)  # ours now: wasmtime_component_val_delete must leave it alone
        return w1
    if kind == RESULT:
        inner = lift(w2) if w2 else None
        return ("ok", inner) if w1 & 0xFF else ("err", inner)
    raise AssertionError(f"unexpected component value kind {kind}")


_Q = struct.Struct("<Q")
_QQ = struct.Struct("<QQ")
_QQQ = struct.Struct("<QQQ")
_B = struct.Struct("<B")
_H = struct.Struct("<H")
_I = struct.Struct("<I")
_MEM = R._MEM

Lifter = Callable[[int], Any]


def lifter(ty: Any) -> Lifter:
    """A function reading a value of WIT type `ty` at an address, compiled from the type: no
    kind dispatch, record field names not read back (records become dicts keyed by WIT names,
    variants ``(case, payload)``). Needs the address-space view (CPython); else `lift`."""
    M = _MEM
    if M is None:
        return lift
    if isinstance(ty, (String, EnumType)):

        def l_string(addr: int) -> str:
            size, data = _QQ.unpack_from(M, addr + 8)
            return str(M[data : data + size], "utf-8") if size else ""

        return l_string
    if isinstance(ty, Bool):
        return lambda addr: bool(_B.unpack_from(M, addr + 8)[0])
    if isinstance(ty, U8):
        return lambda addr: _B.unpack_from(M, addr + 8)[0]
    if isinstance(ty, U16):
        return lambda addr: _H.unpack_from(M, addr + 8)[0]
    if isinstance(ty, U32):
        return lambda addr: _I.unpack_from(M, addr + 8)[0]
    if isinstance(ty, U64):
        return lambda addr: _Q.unpack_from(M, addr + 8)[0]
    if isinstance(ty, OptionType):
        inner = lifter(ty.payload)

        def l_option(addr: int) -> Any:
            p = _Q.unpack_from(M, addr + 8)[0]
            return inner(p) if p else None

        return l_option
    if isinstance(ty, ListType):
        if isinstance(ty.element, String):

            def l_strings(addr: int) -> List[str]:
                n, data = _QQ.unpack_from(M, addr + 8)
                out = []
                for e in range(data, data + 32 * n, 32):
                    size, sdata = _QQ.unpack_from(M, e + 8)
                    out.append(str(M[sdata : sdata + size], "utf-8") if size else "")
                return out

            return l_strings
        elem = lifter(ty.element)

        def l_list(addr: int) -> List[Any]:
            n, data = _QQ.unpack_from(M, addr + 8)
            return [elem(e) for e in range(data, data + 32 * n, 32)]

        return l_list
    if isinstance(ty, RecordType):
        fields = [(n, lifter(t), 48 * i + 16) for i, (n, t) in enumerate(ty.fields)]

        def l_record(addr: int) -> Dict[str, Any]:
            data = _Q.unpack_from(M, addr + 16)[0]
            return {n: f(data + o) for n, f, o in fields}

        return l_record
    if isinstance(ty, VariantType):
        cases = {n: (None if t is None else lifter(t)) for n, t in ty.cases}

        def l_variant(addr: int) -> Tuple[str, Any]:
            size, data, payload = _QQQ.unpack_from(M, addr + 8)
            case = str(M[data : data + size], "utf-8")
            f = cases[case]
            return (case, f(payload) if f is not None and payload else None)

        return l_variant
    if isinstance(ty, (OwnType, BorrowType)):

        def l_resource(addr: int) -> int:
            handle = _Q.unpack_from(M, addr + 8)[0]
            R._clear_kind(addr)  # ours now: wasmtime_component_val_delete must leave it alone
            return handle

        return l_resource
    return lift


def _case_keys(names: List[str]) -> Tuple[str, Dict[str, Any]]:
    """How `_LiftGen` tells the names of one variant or enum apart, and each name's key: its
    length where lengths are unique ("size"), else length * 256 + first byte where those are
    ("first"), else the name itself ("name"). See `_LiftGen.key_expr`."""
    encoded = {n: _name(n) for n in names}
    for way, key in (("size", lambda b: len(b)), ("first", lambda b: len(b) * 256 + b[0])):
        keys = {n: key(b) for n, b in encoded.items()}
        if len(set(keys.values())) == len(names):
            return way, keys
    return "name", {n: n for n in names}


class _LiftGen:
    """Generates one function lifting a whole result type: the shapes of `lifter` (records as
    dicts keyed by WIT names, variants ``(case, payload)``), inlined (no call per value), so a
    deeply nested result (the exchange's effects) costs about what its leaves cost."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.names = [0]  # shared with the generators of its case functions
        self.scope: Dict[str, Any] = {
            "M": _MEM, "_Q": _Q.unpack_from, "_QQ": _QQ.unpack_from, "_QQQ": _QQQ.unpack_from,
            "_H": _H.unpack_from, "_I": _I.unpack_from, "_clear": R._clear_kind,
        }

    def var(self, prefix: str) -> str:
        self.names[0] += 1
        return f"{prefix}{self.names[0]}"

    def emit(self, ind: int, line: str) -> None:
        self.lines.append("    " * ind + line)

    def case_function(self, ty: Any, label: str) -> str:
        """Lifting a variant case's payload as a function of its own (see `_Gen.case_function`:
        one function per result had 200 locals, zeroed and cleared per call); its name."""
        sub = copy.copy(self)
        sub.lines = []
        name = self.var("case_")
        out = sub.value(ty, "p", 1)
        src = f"def {name}(p):\n" + "\n".join(sub.lines) + f"\n    return {out}\n"
        exec(compile(src, f"<mizan_kernel lift {label}>", "exec"), self.scope)
        return name

    @staticmethod
    def key_expr(way: str, size: str, data: str) -> str:
        """The expression computing the key (`_case_keys`) of a case or enum value from the bytes
        of its name. Reading one byte costs a fraction of decoding the name (a slice and a decode
        per value)."""
        if way == "size":
            return size
        if way == "first":
            return f"{size} * 256 + M[{data}]"
        return f"str(M[{data}:{data} + {size}], 'utf-8')"

    def value(self, ty: Any, addr: str, ind: int) -> str:
        """Emit statements reading the value at `addr`; the name holding it."""
        e, v = self.emit, self.var("v")
        if isinstance(ty, EnumType):
            size, data = self.var("n"), self.var("d")
            e(ind, f"{size}, {data} = _QQ(M, {addr} + 8)")
            way, keys = _case_keys(list(ty.names))
            table = self.var("T")
            self.scope[table] = {k: name for name, k in keys.items()}
            e(ind, f"{v} = {table}[{self.key_expr(way, size, data)}]")
        elif isinstance(ty, String):
            size, data = self.var("n"), self.var("d")
            e(ind, f"{size}, {data} = _QQ(M, {addr} + 8)")
            e(ind, f"{v} = str(M[{data}:{data} + {size}], 'utf-8') if {size} else ''")
        elif isinstance(ty, Bool):
            e(ind, f"{v} = M[{addr} + 8] != 0")
        elif isinstance(ty, U8):
            e(ind, f"{v} = M[{addr} + 8]")
        elif isinstance(ty, (U16, U32, U64)):
            fn = {U16: "_H", U32: "_I", U64: "_Q"}[type(ty)]
            e(ind, f"{v} = {fn}(M, {addr} + 8)[0]")
        elif isinstance(ty, OptionType):
            p = self.var("p")
            e(ind, f"{p} = _Q(M, {addr} + 8)[0]")
            e(ind, f"if {p}:")
            inner = self.value(ty.payload, p, ind + 1)
            e(ind + 1, f"{v} = {inner}")
            e(ind, "else:")
            e(ind + 1, f"{v} = None")
        elif isinstance(ty, ListType):
            n, data, it = self.var("n"), self.var("d"), self.var("a")
            e(ind, f"{n}, {data} = _QQ(M, {addr} + 8)")
            # Most lists the kernel answers hold one value (one effect, one call, one member):
            # that one is read without a range and its iterator.
            e(ind, f"if {n} == 1:")
            one = self.value(ty.element, data, ind + 1)
            e(ind + 1, f"{v} = [{one}]")
            e(ind, "else:")
            e(ind + 1, f"{v} = []")
            e(ind + 1, f"for {it} in range({data}, {data} + 32 * {n}, 32):")
            inner = self.value(ty.element, it, ind + 2)
            e(ind + 2, f"{v}.append({inner})")
        elif isinstance(ty, RecordType):
            data = self.var("r")
            e(ind, f"{data} = _Q(M, {addr} + 16)[0]")
            fields = [(name, self.value(t, f"{data} + {48 * i + 16}", ind)) for i, (name, t) in enumerate(ty.fields)]
            e(ind, f"{v} = {{{', '.join(f'{name!r}: {fv}' for name, fv in fields)}}}")
        elif isinstance(ty, VariantType):
            size, data, p, key = self.var("n"), self.var("d"), self.var("p"), self.var("k")
            e(ind, f"{size}, {data}, {p} = _QQQ(M, {addr} + 8)")
            way, keys = _case_keys([name for name, _ in ty.cases])
            e(ind, f"{key} = {self.key_expr(way, size, data)}")
            payloads = [(name, t) for name, t in ty.cases if t is not None]
            if len(payloads) > 3:
                # Many cases (the exchange's effects): one dict lookup instead of a chain of
                # comparisons that reaches a late case (`respond`) only after all the others.
                table = self.var("T")
                funcs = {name: self.scope[self.case_function(t, name)] for name, t in payloads}
                self.scope[table] = {k: (name, funcs.get(name)) for name, k in keys.items()}
                c, f = self.var("c"), self.var("f")
                e(ind, f"{c}, {f} = {table}[{key}]")
                e(ind, f"{v} = ({c}, {f}({p}) if {f} is not None and {p} else None)")
                return v
            for i, (name, t) in enumerate(ty.cases):
                e(ind, f"{'if' if i == 0 else 'elif'} {key} == {keys[name]!r}:")
                if t is None:
                    e(ind + 1, f"{v} = ({name!r}, None)")
                elif isinstance(t, (RecordType, ListType, VariantType, OptionType)):
                    e(ind + 1, f"{v} = ({name!r}, {self.case_function(t, name)}({p}) if {p} else None)")
                else:
                    e(ind + 1, f"if {p}:")
                    inner = self.value(t, p, ind + 2)
                    e(ind + 2, f"{v} = ({name!r}, {inner})")
                    e(ind + 1, "else:")
                    e(ind + 2, f"{v} = ({name!r}, None)")
            e(ind, "else:")
            e(ind + 1, f"raise AssertionError('unexpected case %r' % str(M[{data}:{data} + {size}], 'utf-8'))")
        elif isinstance(ty, (OwnType, BorrowType)):
            e(ind, f"{v} = _Q(M, {addr} + 8)[0]")
            e(ind, f"_clear({addr})  # ours now: wasmtime_component_val_delete must leave it alone")
        else:
            f = self.var("L")
            self.scope[f] = lift
            e(ind, f"{v} = {f}({addr})")
        return v

    def function(self, ty: Any, label: str) -> Lifter:
        out = self.value(ty, "addr", 1)
        src = "def lift_result(addr):\n" + "\n".join(self.lines) + f"\n    return {out}\n"
        exec(compile(src, f"<mizan_kernel lift {label}>", "exec"), self.scope)
        return self.scope["lift_result"]  # type: ignore[no-any-return]


def result_lifter(ty: Any, label: str) -> Lifter:
    """`lift(addr)` for a result type: generated (`_LiftGen`) where the address space can be read
    directly (CPython), else `lifter`'s."""
    return lifter(ty) if _MEM is None else _LiftGen().function(ty, label)


# --- exports -----------------------------------------------------------------------------------


class Export:
    """One export of an interface, bound to the runtime's current instance (re-bound after a
    trap re-created it)."""

    __slots__ = ("iface", "export", "lower", "nargs", "nresults", "func", "fptr", "gen", "ctx", "ok", "is_result", "public", "rt", "cargs")

    def __init__(self, iface: str, export: str) -> None:
        self.iface = iface
        self.export = export
        self.lower: Any = None
        self.nargs = 0
        self.nresults = 1
        self.func: Any = None
        self.fptr = 0
        self.ctx = 0
        self.gen = -1
        self.rt: Any = None  # the runtime bound to (a process may hold more than one)
        self.ok: Lifter = lift
        self.is_result = False
        self.public: Optional[_public.Call] = None
        self.cargs: Tuple[Any, ...] = ()

    def bind(self, rt: R.Runtime) -> None:
        inst, store = rt.instance, rt.store
        iface = inst.get_export_index(store, self.iface)
        index = inst.get_export_index(store, self.export, iface) if iface is not None else None
        func = inst.get_func(store, index) if index is not None else None
        if func is None:
            raise MizanKernelError(
                "not-found",
                f"this build of the component has no {self.iface}#{self.export} "
                "(rebuild it: scripts/build-component.sh)",
            )
        self.gen = rt.generation
        self.rt = rt
        if not rt.fast:
            if self.public is None:
                self.public = _public.Call(self.export, func, store)
            self.public.func = func
            return
        if self.lower is None:
            ft = func.type(store)
            params = [t for _, t in ft.params]
            self.lower = lowerer(params, self.export)
            self.nargs = len(params)
            self.nresults = 0 if ft.result is None else 1
            result = ft.result
            if isinstance(result, ResultType):
                self.is_result = True
                self.ok = result_lifter(result.ok, self.export) if result.ok is not None else (lambda addr: None)
            elif result is not None:
                self.ok = result_lifter(result, self.export)
        self.func = func
        self.fptr = ctypes.addressof(func._func)
        self.ctx = rt.ctx
        # The call's C arguments, built once: the argument array is always the arena's first
        # allocation (`lowerer`), so its address is fixed; ctypes converts nothing per call.
        self.cargs = (
            c_void_p(self.fptr), c_void_p(self.ctx), c_void_p(_ARENA.main_base),
            c_size_t(self.nargs), rt.result_ptr, c_size_t(self.nresults),
        )


def invoke(rt: R.Runtime, ex: Export, args: Tuple[Any, ...]) -> Any:
    """Call `ex` with `args` (Python values per the WIT types). The caller holds `rt.lock`."""
    if ex.gen != rt.generation or ex.rt is not rt:
        ex.bind(rt)
    if not rt.fast:
        return ex.public(rt, args)  # type: ignore[misc]
    A = _ARENA
    try:
        try:
            aaddr = ex.lower(args, A)
        except UnicodeEncodeError as e:
            raise MizanKernelError("invalid-argument", f"text is not valid Unicode: {e}") from None
        if aaddr == A.main_base:
            err = _call_prebuilt(*ex.cargs)
        else:  # pragma: no cover - the first allocation is always the argument array
            err = _func_call(ex.fptr, ex.ctx, aaddr, ex.nargs, rt.result_addr, ex.nresults)
    finally:
        A.reset()
    if err:
        rt._trap(R._error_text(err), ex.export)
    if not ex.nresults:
        return None
    res = rt.result
    try:
        if ex.is_result:
            kind, is_ok, ptr = _RESULT_HEAD.unpack_from(res)
            if not ptr:
                return None
            if is_ok:
                return ex.ok(ptr)
            raise kernel_error(lift(ptr))
        return ex.ok(rt.result_addr)
    finally:
        _val_delete(rt.result_ptr)
        res[0] = 0


def call(ex: Export, *args: Any) -> Any:
    """A free function: take the lock, prepare the runtime, invoke."""
    rt = R.runtime()
    with rt.lock:
        if rt.poisoned or rt.pending_drops:
            rt._prepare()
        return invoke(rt, ex, args)


class Resource:
    """A Python object owning a kernel resource created by a typed export. Subclasses define
    `_create(rt)` (runs under the lock, returns the handle in the current instance); after a
    trap the resource is created again, lazily, by the next method call."""

    __slots__ = ("_handle", "_gen", "_rt", "__weakref__")

    def _create(self, rt: R.Runtime) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_resource(self) -> None:
        self._handle = 0
        self._gen = -1
        self._rt = rt = R.runtime()
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            self._ensure(rt)

    def _ensure(self, rt: R.Runtime) -> int:
        if self._gen != rt.generation:
            handle = self._create(rt)
            if self._handle:  # from an instance that trapped: free the host-side handle
                rt.pending_drops.append((self._handle, self._gen))
            self._handle = handle
            self._gen = rt.generation
        return self._handle

    def _m(self, ex: Export, *args: Any) -> Any:
        rt = self._rt
        with rt.lock:
            if rt.poisoned or rt.pending_drops:
                rt._prepare()
            handle = self._handle if self._gen == rt.generation else self._ensure(rt)
            return invoke(rt, ex, (handle,) + args)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        rt = getattr(self, "_rt", None)
        if handle and rt is not None:
            rt.pending_drops.append((handle, self._gen))  # dropped under the lock at the next call
