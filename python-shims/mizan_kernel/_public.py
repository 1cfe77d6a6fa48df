"""The public call path: wasmtime-py's own ``Func.__call__``, no hand-packed C structs.

Used when ``_layout`` finds that the installed wasmtime-py differs from what the fast path packs
(or with ``MIZAN_KERNEL_CALL_PATH=public``). It is ~10x slower per call and never wrong: every
value goes through ``wasmtime.component``'s documented conversions.

The rest of the package speaks one representation whichever path runs: a record is a tuple in
WIT field order going in and a dict keyed by WIT names coming out, a variant is
``(case, payload)``, an enum a ``str``, an option ``None`` or the value, a resource an opaque
handle (here an int naming a ``wasmtime.component.ResourceAny`` kept in this module's table, so
that no garbage-collector finalizer can free it before its guest destructor ran). This module
converts between that and
wasmtime-py's (``Record`` objects, ``Variant(tag, payload)`` where the cases' Python classes
overlap, the bare payload where they do not), with converters compiled once per WIT type.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from wasmtime import Trap, WasmtimeError
from wasmtime.component import (
    Bool,
    BorrowType,
    EnumType,
    ListType,
    OptionType,
    OwnType,
    Record,
    RecordType,
    ResultType,
    String,
    TupleType,
    U8,
    U16,
    U32,
    U64,
    ValType,
    Variant,
    VariantType,
)

from ._errors import MizanKernelError, kernel_error

Convert = Callable[[Any], Any]
_HI = {U8: (0xFF, "u8"), U16: (0xFFFF, "u16"), U32: (0xFFFFFFFF, "u32"), U64: (0xFFFFFFFFFFFFFFFF, "u64")}


def _same(v: Any) -> Any:
    return v


# Resources handed out by the public path, by handle. A ResourceAny frees its host-side handle
# when collected; held here, it lives until `drop`/`forget`, like the fast path's raw handles.
_RESOURCES: Dict[int, Any] = {}
_NEXT = itertools.count(1)


def _adopt(res: Any) -> int:
    handle = next(_NEXT)
    _RESOURCES[handle] = res
    return handle


def _resource(handle: Any) -> Any:
    try:
        return _RESOURCES[handle]
    except (KeyError, TypeError):
        raise MizanKernelError("not-found", f"no live kernel resource {handle!r} (it was dropped)") from None


def _classes(ty: Optional[ValType]) -> Set[type]:
    """The Python classes wasmtime-py produces and accepts for a case payload (None: no payload)."""
    s: Set[type] = set()
    if ty is None:
        s.add(object)
    else:
        ty.add_classes(s)
    return s


def _cases(ty: Any) -> List[Tuple[str, Optional[ValType]]]:
    if isinstance(ty, OptionType):
        return [("none", None), ("some", ty.payload)]
    if isinstance(ty, ResultType):
        return [("ok", ty.ok), ("err", ty.err)]
    return list(ty.cases)


def _tagged(cases: List[Tuple[str, Optional[ValType]]]) -> bool:
    """wasmtime-py wraps a variant's value in ``Variant`` only when the cases' classes overlap."""
    seen: Set[type] = set()
    for _, ty in cases:
        c = _classes(ty)
        if c & seen:
            return True
        seen |= c
    return False


# --- into wasmtime-py's values -------------------------------------------------------------------


def lowerer(ty: Any, check: Optional[Callable[[Any], None]] = None) -> Convert:
    """A function converting this package's value of WIT type `ty` into wasmtime-py's. `check`
    replaces the default range check of an integer (the flat exports word theirs differently)."""
    if isinstance(ty, String):
        return _same
    if isinstance(ty, (BorrowType, OwnType)):
        return _resource
    if isinstance(ty, Bool):
        return bool
    if type(ty) in _HI:
        hi, label = _HI[type(ty)]

        def default_check(v: Any) -> None:
            if type(v) is not int:
                raise TypeError(f"expected an int ({label}), got {type(v).__name__}")
            raise MizanKernelError("invalid-argument", f"{v} is outside the {label} range")

        fail = check or default_check

        def integer(v: Any) -> Any:
            if type(v) is not int or not 0 <= v <= hi:
                fail(v)
            return v

        return integer
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):
            return bytes
        elem = lowerer(ty.element)

        def seq(v: Any) -> List[Any]:
            if isinstance(v, (str, bytes)):
                raise TypeError("expected a list, got a single string")
            return [elem(x) for x in v]

        return seq
    if isinstance(ty, TupleType):
        elems = [lowerer(t) for t in ty.elements]
        return lambda v: tuple(conv(x) for conv, x in zip(elems, v))
    if isinstance(ty, RecordType):
        fields = [(name, lowerer(t)) for name, t in ty.fields]
        names = ", ".join(n for n, _ in fields)

        def record(v: Any) -> Record:
            if len(v) != len(fields):
                raise TypeError(f"expected a record ({names}), got {len(v)} values")
            rec = Record()
            for (name, conv), x in zip(fields, v):
                setattr(rec, name, conv(x))
            return rec

        return record
    if isinstance(ty, EnumType):
        names_set = set(ty.names)

        def enum(v: Any) -> str:
            if v not in names_set:
                raise TypeError(f"unknown enum value {v!r}: expected one of {', '.join(ty.names)}")
            return v  # type: ignore[no-any-return]

        return enum
    if isinstance(ty, OptionType):
        inner = lowerer(ty.payload)
        if _tagged(_cases(ty)):
            return lambda v: Variant("none") if v is None else Variant("some", inner(v))
        return lambda v: None if v is None else inner(v)
    if isinstance(ty, VariantType):
        cases = {name: (None if t is None else lowerer(t)) for name, t in ty.cases}
        tagged = _tagged(_cases(ty))

        def variant(v: Any) -> Any:
            case, payload = v
            if case not in cases:
                raise TypeError(f"unknown case {case!r}: expected one of {', '.join(cases)}")
            conv = cases[case]
            value = None if conv is None else conv(payload)
            return Variant(case, value) if tagged else value

        return variant
    raise TypeError(f"mizan-kernel: no conversion for component type {type(ty).__name__}")


# --- back from wasmtime-py's values --------------------------------------------------------------


def lifter(ty: Any) -> Convert:
    """A function converting wasmtime-py's value of WIT type `ty` into this package's."""
    if ty is None or isinstance(ty, (String, Bool, EnumType)) or type(ty) in _HI:
        return _same
    if isinstance(ty, (BorrowType, OwnType)):
        return _adopt
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):
            return list
        elem = lifter(ty.element)
        return lambda v: [elem(x) for x in v]
    if isinstance(ty, TupleType):
        elems = [lifter(t) for t in ty.elements]
        return lambda v: tuple(conv(x) for conv, x in zip(elems, v))
    if isinstance(ty, RecordType):
        fields = [(name, lifter(t)) for name, t in ty.fields]
        return lambda v: {name: conv(getattr(v, name)) for name, conv in fields}
    if isinstance(ty, OptionType):
        inner = lifter(ty.payload)
        if _tagged(_cases(ty)):
            return lambda v: None if v.tag == "none" else inner(v.payload)
        return lambda v: None if v is None else inner(v)
    if isinstance(ty, (VariantType, ResultType)):
        split = case_splitter(ty)
        convs = {name: lifter(t) for name, t in _cases(ty)}

        def variant(v: Any) -> Tuple[str, Any]:
            case, payload = split(v)
            return case, convs[case](payload)

        return variant
    raise TypeError(f"mizan-kernel: no conversion for component type {type(ty).__name__}")


def case_splitter(ty: Any) -> Callable[[Any], Tuple[str, Any]]:
    """``(case, payload)`` of a variant-like value: from its tag when wasmtime-py tags it, else
    from the payload's class (untagged cases have disjoint classes; no payload means None)."""
    cases = _cases(ty)
    if _tagged(cases):
        return lambda v: (v.tag, v.payload)
    by_class = [(name, _classes(t)) for name, t in cases]

    def split(v: Any) -> Tuple[str, Any]:
        for name, classes in by_class:
            if (object in classes and v is None) or type(v) in classes:
                return name, v
        raise TypeError(f"mizan-kernel: a {type(v).__name__} matches no case of {[n for n, _ in cases]}")

    return split


# --- calls ---------------------------------------------------------------------------------------


class Call:
    """One export called through ``Func.__call__``; converters built once from its type."""

    __slots__ = ("label", "params", "result", "is_result", "func")

    def __init__(self, label: str, func: Any, store: Any, checks: Optional[Dict[int, Callable[[Any], None]]] = None) -> None:
        ft = func.type(store)
        checks = checks or {}
        self.label = label
        self.params = [lowerer(t, checks.get(i)) for i, (_, t) in enumerate(ft.params)]
        result = ft.result
        self.is_result = isinstance(result, ResultType)
        self.result = lifter(result) if result is not None else _same
        self.func = func

    def __call__(self, rt: Any, args: Tuple[Any, ...]) -> Any:
        """Call with this package's values; the caller holds ``rt.lock``."""
        if len(args) != len(self.params):
            raise TypeError(f"{self.label} takes {len(self.params)} arguments, got {len(args)}")
        lowered = [conv(a) for conv, a in zip(self.params, args)]
        try:
            out = self.func(rt.store, *lowered)
        except UnicodeEncodeError as e:  # raised while lowering, before the guest ran
            raise MizanKernelError("invalid-argument", f"text is not valid Unicode: {e}") from None
        except (WasmtimeError, Trap) as e:
            rt._trap(str(e), self.label)
        if not self.is_result:
            return self.result(out)
        case, payload = self.result(out)
        if case == "ok":
            return payload
        raise kernel_error(payload)


def drop(rt: Any, handle: int) -> None:
    """Run the guest destructor of a resource of the current instance."""
    res = _RESOURCES.get(handle)
    if res is not None:
        res.drop(rt.store)


def forget(handle: int) -> None:
    """Free the host-side handle (wasmtime-py deletes it with the object)."""
    _RESOURCES.pop(handle, None)
