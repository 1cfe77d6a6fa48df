"""A missing extra says which one and how to install it, not only `No module named ...`."""

from __future__ import annotations

import importlib
import sys

import pytest

import mizan_kernel as mk


@pytest.mark.parametrize(
    "module, missing, extra",
    [
        ("mizan_kernel.fastapi", "starlette", "fastapi"),
        ("mizan_kernel.fastapi", "fastapi", "fastapi"),
        ("mizan_kernel.django", "django", "django"),
    ],
)
def test_a_missing_framework_extra_names_the_extra(module: str, missing: str, extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setitem(sys.modules, missing, None)  # what Python does for a module it cannot import
    with pytest.raises(ImportError) as info:
        importlib.import_module(module)
    message = str(info.value)
    assert f"{module} needs the [{extra}] extra" in message, message
    assert f"pip install 'mizan-kernel[{extra}]'" in message
    assert missing in message


def test_a_missing_client_or_redis_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(ImportError, match=r"the HTTP transport needs the \[client\] extra .*pip install 'mizan-kernel\[client\]'"):
        mk.HttpTransport("http://127.0.0.1:9/api/mizan")
    monkeypatch.setitem(sys.modules, "redis", None)
    store = mk.RedisOriginStore(url="redis://127.0.0.1:9/0")
    with pytest.raises(ImportError, match=r"RedisOriginStore needs the \[redis\] extra .*pip install 'mizan-kernel\[redis\]'"):
        store.client
