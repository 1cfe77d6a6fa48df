"""Python values to JSON text and back: the only serialization this package does."""

from __future__ import annotations

import json
from typing import Any

from ._errors import MizanKernelError

_loads = json.loads
# json.dumps(value, ensure_ascii=False, allow_nan=False) with compact separators, built once:
# json.dumps builds a new encoder on every call that passes options. The C encoder is reused
# directly (without circular-reference markers, so it is thread-safe; a cycle is a
# RecursionError, reported like any other unserializable value).
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
try:
    from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]

    _c_encode = _c_make_encoder(
        None, _encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    _join = "".join

    def _dump(value: Any) -> str:
        return _join(_c_encode(value, 0))

    assert _dump({"a": [1, 2.5, "é", None, True]}) == _encoder.encode({"a": [1, 2.5, "é", None, True]})
except (ImportError, TypeError, AssertionError):  # no C accelerator, or another signature
    _dump = _encoder.encode  # type: ignore[assignment]

_NOT_JSON = (TypeError, ValueError, RecursionError)


def _not_json(what: str, e: Exception) -> MizanKernelError:
    return MizanKernelError("invalid-json", f"{what} cannot be sent as JSON: {e}")


def _json(value: Any, what: str) -> str:
    try:
        return _dump(value)
    except _NOT_JSON as e:
        raise _not_json(what, e) from None
