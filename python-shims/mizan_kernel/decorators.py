"""``@client(...)``: register server functions and build the registry (KERNEL.md §3) from type
hints; the IR is emitted by the kernel (``Registry.to_kdl``).

```python
from typing import Optional, TypedDict
from mizan_kernel.decorators import Functions, current_user

mizan = Functions()

class Item(TypedDict):
    id: int
    name: str

@mizan.client(context="items", cache=60)
def items_list(page: Optional[int] = None) -> list[Item]: ...

@mizan.client(affects=["items"], merge=["items"], auth="staff")
def rename_item(id: int, name: str) -> Item: ...

print(mizan.to_kdl())          # the canonical KDL IR, written by the kernel
```

``@client`` (module level) registers into ``default_functions``. The caller's identity is not a
parameter: a function reads it with :func:`current_identity` / :func:`current_user` (and the
framework request with :func:`current_request`) — context variables the hosts set around every
call, in the thread or task that runs the function.

Types: ``int`` → ``integer``, ``float`` → ``number``, ``str`` → ``string``, ``bool`` →
``boolean``, ``None`` → ``null``, ``Optional[T]``/``T | None`` → ``optional<T>``,
``list[T]``/``Sequence[T]``/``tuple[T, ...]`` → ``list<T>``, ``dict[str, T]``/``Mapping`` →
``map<T>``, ``Any``/no hint/other unions → ``any``, :class:`Upload` → ``upload``; a
``TypedDict``, a dataclass or a pydantic model → a named object type with its fields (a field or
parameter with a default, or a ``NotRequired``/non-total key, is ``required=false``).

String enums (IR version 2): an ``enum.Enum`` subclass whose values are all strings (``class
OrderStatus(str, Enum)``, ``StrEnum``) → the enum named after the class, its values in definition
order; a ``Literal["a", "b"]`` of strings bound to a name (``OrderStatus = Literal[…]`` at module
level, or ``type OrderStatus = Literal[…]``) → the enum of that name. A ``Literal`` of strings
with no name stays ``string``. Arguments arrive as the strings (the kernel has checked them).
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import inspect
import sys
import typing
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .server import Identity

# --- the request's identity --------------------------------------------------------------------


class RequestContext:
    """What a running function can see: the effective identity (a token's, else the host's
    session), the framework request, and the host (``MizanApp``)."""

    __slots__ = ("identity", "request", "app")

    def __init__(self, identity: Optional[Identity], request: Any, app: Any) -> None:
        self.identity = identity
        self.request = request
        self.app = app


_CURRENT: contextvars.ContextVar[Optional[RequestContext]] = contextvars.ContextVar("mizan_request", default=None)


def current_identity() -> Optional[Identity]:
    """The caller's identity (``None``: anonymous, or outside a request)."""
    ctx = _CURRENT.get()
    return None if ctx is None else ctx.identity


def current_user() -> Optional[str]:
    """The caller's subject (user id as text), or ``None`` when anonymous."""
    ctx = _CURRENT.get()
    return None if ctx is None or ctx.identity is None else ctx.identity.subject


def current_request() -> Any:
    """The framework's request object (Starlette ``Request``, Django ``HttpRequest``)."""
    ctx = _CURRENT.get()
    return None if ctx is None else ctx.request


def current_app() -> Any:
    """The serving ``MizanApp`` (``purge``, ``purge_user``, ``engine``…)."""
    ctx = _CURRENT.get()
    return None if ctx is None else ctx.app


# --- types -------------------------------------------------------------------------------------


class Upload:
    """Marks an ``upload`` input (a file part of a form call)."""


_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__annotations__") and hasattr(tp, "__total__")


def _is_pydantic(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_fields") and hasattr(tp, "model_json_schema")


class TypeBuilder:
    """Python annotations → IR type strings, collecting named object types."""

    def __init__(self) -> None:
        self.types: Dict[str, Dict[str, Any]] = {}
        self.enums: Dict[str, List[str]] = {}
        self._origins: Dict[str, Any] = {}
        # Namespaces where the hints being read were written: a `Literal` is named by the global
        # (or local) it is bound to.
        self._scopes: List[Mapping[str, Any]] = []

    def scope(self, *namespaces: Mapping[str, Any]) -> "_Scope":
        """``with builder.scope(globals, locals): builder.ir(hint)``."""
        return _Scope(self, namespaces)

    def ir(self, tp: Any) -> str:
        if tp is inspect.Parameter.empty or tp is Any or tp is object:
            return "any"
        alias_value = getattr(tp, "__value__", None)  # `type X = …` (TypeAliasType, 3.12)
        if alias_value is not None and isinstance(getattr(tp, "__name__", None), str) and typing.get_origin(tp) is None:
            values = _string_literal(alias_value)
            return self.enum(tp.__name__, values, tp) if values is not None else self.ir(alias_value)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            values = [m.value for m in tp]
            return self.enum(tp.__name__, values, tp) if values and all(isinstance(v, str) for v in values) else "any"
        if tp is None or tp is type(None):
            return "null"
        if isinstance(tp, str):  # an unresolved forward reference
            return tp
        if tp in _SCALARS:
            return _SCALARS[tp]
        if tp is Upload:
            return "upload"
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is _ANNOTATED:  # Annotated[T, …] is T
            return self.ir(args[0])
        if origin is Union or (sys.version_info >= (3, 10) and origin is getattr(__import__("types"), "UnionType", None)):
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                inner = self.ir(rest[0])
                return inner if len(rest) == len(args) else f"optional<{inner}>"
            if len(rest) < len(args):
                return "optional<any>"
            return "any"
        if origin is typing.Literal:
            values = _string_literal(tp)
            name = self._alias_name(tp) if values is not None else None
            if name is not None and values is not None:
                return self.enum(name, values, tp)
            kinds = {type(a) for a in args}
            return _SCALARS.get(kinds.pop(), "any") if len(kinds) == 1 else "any"
        if origin in (list, tuple, set, frozenset) or origin in _abc("Sequence", "MutableSequence", "Set", "Iterable"):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                return "list<any>"
            return f"list<{self.ir(args[0]) if args else 'any'}>"
        if origin in (dict,) or origin in _abc("Mapping", "MutableMapping"):
            return f"map<{self.ir(args[1]) if len(args) == 2 else 'any'}>"
        if tp in (list, tuple, set, frozenset):
            return "list<any>"
        if tp is dict:
            return "map<any>"
        if _is_typeddict(tp) or dataclasses.is_dataclass(tp) or _is_pydantic(tp):
            return self.named(tp)
        return "any"

    def enum(self, name: str, values: List[str], origin: Any) -> str:
        """Register the string enum ``name`` (its values in order); the same origin twice is one
        enum, two different origins of one name are an error."""
        seen = self._origins.get(name)
        if seen is origin or (seen is not None and self.enums.get(name) == values and not isinstance(seen, type)):
            return name
        if seen is not None:
            raise TypeError(f"two different types are named {name!r} ({seen!r} and {origin!r})")
        self._origins[name] = origin
        self.enums[name] = list(values)
        return name

    def _alias_name(self, tp: Any) -> Optional[str]:
        for namespace in reversed(self._scopes):
            for name, value in namespace.items():
                if value is tp:
                    return name
        return None

    def named(self, cls: type) -> str:
        name = cls.__name__
        seen = self._origins.get(name)
        if seen is cls:
            return name
        if seen is not None:
            raise TypeError(f"two different types are named {name!r} ({seen!r} and {cls!r})")
        self._origins[name] = cls
        self.types[name] = {}  # placeholder: recursive types refer to the name
        with self.scope(vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else {}):
            self._fields(cls, name)
        return name

    def _fields(self, cls: type, name: str) -> None:
        fields: Dict[str, Dict[str, Any]] = {}
        if _is_typeddict(cls):
            # With extras, so a `NotRequired[...]`/`Required[...]` key is seen even where the class's
            # own `__required_keys__` misses it (postponed annotations before Python 3.12).
            hints = typing.get_type_hints(cls, include_extras=True)
            required = getattr(cls, "__required_keys__", set(hints) if cls.__total__ else set())
            for f, tp in hints.items():
                marker = typing.get_origin(tp)
                if marker in _NOT_REQUIRED or marker in _REQUIRED:
                    fields[f] = self._member(typing.get_args(tp)[0], marker in _REQUIRED)
                else:
                    fields[f] = self._member(tp, f in required)
        elif dataclasses.is_dataclass(cls):
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
                fields[f.name] = self._member(hints.get(f.name, Any), not has_default)
        else:  # pydantic
            for f, info in cls.model_fields.items():  # type: ignore[attr-defined]
                fields[info.alias or f] = self._member(info.annotation, info.is_required())
        self.types[name] = {"fields": fields}

    def _member(self, tp: Any, required: bool) -> Dict[str, Any]:
        return {"type": self.ir(tp), "required": required}


class _Scope:
    def __init__(self, builder: TypeBuilder, namespaces: Tuple[Mapping[str, Any], ...]) -> None:
        self.builder = builder
        self.namespaces = namespaces

    def __enter__(self) -> None:
        self.builder._scopes.extend(self.namespaces)

    def __exit__(self, *exc: Any) -> None:
        del self.builder._scopes[len(self.builder._scopes) - len(self.namespaces) :]


def _typing_forms(name: str) -> Tuple[Any, ...]:
    """A special form from ``typing`` and from ``typing_extensions`` (when installed)."""
    forms = [getattr(typing, name, None)]
    try:
        import typing_extensions

        forms.append(getattr(typing_extensions, name, None))
    except ImportError:
        pass
    return tuple(f for f in forms if f is not None)


_NOT_REQUIRED = _typing_forms("NotRequired")
_REQUIRED = _typing_forms("Required")
_ANNOTATED = getattr(typing, "Annotated", None)


def _string_literal(tp: Any) -> Optional[List[str]]:
    """The values of a ``Literal`` of strings, in order (``None`` for anything else)."""
    if typing.get_origin(tp) is not typing.Literal:
        return None
    args = list(typing.get_args(tp))
    return args if args and all(isinstance(a, str) for a in args) else None


def _abc(*names: str) -> Tuple[Any, ...]:
    import collections.abc as c

    return tuple(getattr(c, n) for n in names)


# --- functions ---------------------------------------------------------------------------------

AuthSpec = Union[None, bool, str, Callable[..., Any]]


class FunctionSpec:
    """A registered function: the callable and its registry entry."""

    __slots__ = ("name", "fn", "entry", "is_async", "predicate")

    def __init__(self, name: str, fn: Callable[..., Any], entry: Dict[str, Any], predicate: Optional[Tuple[str, Callable[..., Any]]]) -> None:
        self.name = name
        self.fn = fn
        self.entry = entry
        self.is_async = inspect.iscoroutinefunction(fn)
        self.predicate = predicate

    def __repr__(self) -> str:
        return f"FunctionSpec({self.name!r})"


class Functions:
    """A set of server functions (and context flags, predicates): what a host serves and what
    its registry says. ``@functions.client(...)`` registers; ``registry_json()`` / ``registry()`` /
    ``to_kdl()`` describe it."""

    def __init__(self) -> None:
        self.functions: Dict[str, FunctionSpec] = {}
        self.contexts: Dict[str, Dict[str, Any]] = {}
        self.predicates: Dict[str, Callable[..., Any]] = {}
        self._types: Optional[TypeBuilder] = None
        self._registry: Any = None

    def __repr__(self) -> str:
        return f"Functions({sorted(self.functions)})"

    def __contains__(self, name: str) -> bool:
        return name in self.functions

    def __getitem__(self, name: str) -> FunctionSpec:
        return self.functions[name]

    def context(self, name: str, *, shared: bool = False) -> None:
        """Declare a context's flags: ``shared=True`` (same data for every caller, so its
        origin-cache entries are not keyed by user)."""
        self.contexts.setdefault(name, {})["shared"] = bool(shared)
        self._registry = None

    def predicate(self, name: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a named auth predicate ``fn(identity, request) -> bool`` (may be async),
        referenced as ``auth="predicate:NAME"``."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.predicates[name or fn.__name__] = fn
            return fn

        return register

    def client(
        self,
        fn: Optional[Callable[..., Any]] = None,
        *,
        name: Optional[str] = None,
        context: Optional[str] = None,
        affects: Union[None, str, Iterable[Union[str, Callable[..., Any]]]] = None,
        merge: Union[None, str, Iterable[str]] = None,
        auth: AuthSpec = None,
        private: bool = False,
        route: Optional[str] = None,
        methods: Union[None, str, Iterable[str]] = None,
        rev: int = 0,
        cache: Union[None, bool, int] = None,
        websocket: bool = False,
        view: bool = False,
        shared: Optional[bool] = None,
        output: Optional[str] = None,
        inputs: Optional[Mapping[str, Union[str, Mapping[str, Any]]]] = None,
    ) -> Any:
        """Register a server function.

        ``context``: the context it reads into; ``affects``: contexts/functions (names or the
        decorated functions) a mutation invalidates; ``merge``: contexts its result merges into;
        ``auth``: ``True``/``"required"``, ``"staff"``, ``"superuser"``, ``"predicate:NAME"``, or a
        callable ``(identity, request) -> bool`` (registered as the predicate of that name);
        ``private``: not client-callable; ``route``/``methods``: a view route; ``rev``: cache
        revision; ``cache``: ``False`` or a TTL in seconds; ``websocket``; ``shared``: the
        function's context is shared; ``output``/``inputs``: IR types overriding the hints.
        """

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            fname = name or f.__name__
            localns = _caller_locals()
            if fname in self.functions:
                raise ValueError(f"function {fname!r} is registered twice")
            predicate = None
            if callable(auth):
                pname = getattr(auth, "__name__", None) or "predicate"
                predicate = (pname, auth)
                self.predicates[pname] = auth
                auth_value: Any = f"predicate:{pname}"
            elif auth is True:
                auth_value = "required"
            elif auth is None or auth is False:
                auth_value = None
            elif isinstance(auth, str) and (auth in ("required", "staff", "superuser") or auth.startswith("predicate:")):
                auth_value = auth
            else:
                raise ValueError(f"auth must be True, 'required', 'staff', 'superuser', 'predicate:NAME' or a callable, not {auth!r}")
            entry: Dict[str, Any] = {
                "_fn": f,
                "_inputs": inputs,
                "_output": output,
                "_localns": localns,
                "context": context,
                "affects": _names(affects),
                "merge": _names(merge),
                "auth": auth_value,
                "private": bool(private),
                "view": bool(view),
                "websocket": bool(websocket),
                "route": route,
                "methods": [m.upper() for m in _names(methods)],
                "rev": int(rev),
                "cache": None if cache is None or cache is True else (False if cache is False else int(cache)),
            }
            if shared is not None:
                if context is None:
                    raise ValueError("shared= needs a context")
                self.context(context, shared=shared)
            self.functions[fname] = FunctionSpec(fname, f, entry, predicate)
            self._registry = None
            self._types = None
            return f

        return register(fn) if fn is not None else register

    # --- the registry --------------------------------------------------------------------------

    def registry_json(self) -> Dict[str, Any]:
        """The registry's JSON form (``Registry.from_json`` reads it)."""
        tb = TypeBuilder()
        functions: Dict[str, Any] = {}
        for fname, spec in self.functions.items():
            e = dict(spec.entry)
            f = e.pop("_fn")
            override_inputs = e.pop("_inputs")
            override_output = e.pop("_output")
            localns = e.pop("_localns")
            sig = inspect.signature(f)
            hints = _hints(f, localns)
            ins: Dict[str, Any] = {}
            with tb.scope(getattr(f, "__globals__", {}), localns):
                for pname, p in sig.parameters.items():
                    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                        continue
                    ins[pname] = {"type": tb.ir(hints.get(pname, p.annotation)), "required": p.default is p.empty}
                if override_inputs:
                    for k, v in override_inputs.items():
                        ins[k] = {"type": v, "required": True} if isinstance(v, str) else dict(v)
                e["inputs"] = ins
                e["output"] = override_output or tb.ir(hints.get("return", sig.return_annotation))
            e["affects"] = [getattr(a, "__name__", a) for a in e["affects"]]
            functions[fname] = e
        self._types = tb
        out: Dict[str, Any] = {
            "version": 2 if tb.enums else 1,  # enums are IR version 2; version 1 refuses them
            "contexts": {k: dict(v) for k, v in self.contexts.items()},
            "functions": functions,
            "types": tb.types,
        }
        if tb.enums:
            out["enums"] = {name: list(values) for name, values in tb.enums.items()}
        return out

    def registry(self) -> Any:
        """The kernel's :class:`~mizan_kernel.Registry` (graph-checked)."""
        if self._registry is None:
            from . import Registry

            self._registry = Registry.from_json(self.registry_json())
        return self._registry

    def to_kdl(self) -> str:
        """The canonical KDL IR (``mizan-ir version=1``), as the kernel writes it."""
        return self.registry().to_kdl()


def _caller_locals() -> Dict[str, Any]:
    """The locals of the code that applied the decorator (the first frame outside this module),
    so hints naming classes defined in a function body still resolve."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    return dict(frame.f_locals) if frame is not None and frame.f_locals is not frame.f_globals else {}


def _hints(f: Callable[..., Any], localns: Dict[str, Any]) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(f, localns=localns)
    except Exception:
        pass
    out: Dict[str, Any] = {}
    globalns = getattr(f, "__globals__", {})
    for key, ann in getattr(f, "__annotations__", {}).items():
        if isinstance(ann, str):
            try:
                ann = eval(ann, globalns, localns)  # noqa: S307 - the function's own annotation
            except Exception as e:
                raise TypeError(f"cannot resolve the annotation {ann!r} of {f.__qualname__}: {e}") from None
        out[key] = ann
    return out


def _names(v: Any) -> List[Any]:
    if v is None:
        return []
    if isinstance(v, str) or callable(v):
        return [v]
    return list(v)


#: Where the module-level ``@client`` registers.
default_functions = Functions()


def client(fn: Optional[Callable[..., Any]] = None, **options: Any) -> Any:
    """``@client`` / ``@client(context=…, affects=…, …)`` into ``default_functions``."""
    return default_functions.client(fn, **options)


__all__ = [
    "Functions",
    "FunctionSpec",
    "client",
    "default_functions",
    "current_identity",
    "current_user",
    "current_request",
    "current_app",
    "RequestContext",
    "Upload",
    "TypeBuilder",
]
