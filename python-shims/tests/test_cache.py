"""The compiled-artifact cache, and the wheel carrying the component."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import mizan_kernel as mk
from mizan_kernel import _runtime
from conftest import REPO


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("MIZAN_KERNEL_CACHE_DIR", str(d))
    return d


def _smoke(rt: _runtime.Runtime) -> None:
    with rt.lock:
        assert rt.invoke("stringify", "1.0") == "1"


def test_compile_once_then_deserialize(cache_dir: Path) -> None:
    first = _runtime.Runtime()
    assert first.info["loaded"] == "compiled" and first.info["cached"] is True
    artifacts = list(cache_dir.glob("*.cwasm"))
    assert len(artifacts) == 1
    name = artifacts[0].name
    assert first.info["sha256"][:32] in name and first.info["wasmtime"] in name
    second = _runtime.Runtime()
    assert second.info["loaded"] == "cache"
    assert second.info["load_ms"] < first.info["compile_ms"]
    _smoke(second)


def test_corrupt_artifact_is_recompiled(cache_dir: Path) -> None:
    _runtime.Runtime()
    (artifact,) = cache_dir.glob("*.cwasm")
    artifact.write_bytes(b"not a wasmtime artifact")
    rt = _runtime.Runtime()
    assert rt.info["loaded"] == "compiled" and "cache_error" in rt.info
    _smoke(rt)
    assert _runtime.Runtime().info["loaded"] == "cache"  # rewritten


def test_unwritable_cache_compiles_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MIZAN_KERNEL_CACHE_DIR", str(blocker / "cache"))
    rt = _runtime.Runtime()
    assert rt.info["loaded"] == "compiled" and rt.info["cached"] is False
    _smoke(rt)


def test_another_component_gets_its_own_artifact(cache_dir: Path, tmp_path: Path) -> None:
    wasm = _runtime.component_path().read_bytes()
    copy = tmp_path / "other.wasm"
    copy.write_bytes(wasm + b"\x00\x04\x03pad")  # a trailing custom section changes the hash
    _runtime.Runtime()
    rt = _runtime.Runtime(copy)
    assert rt.info["loaded"] == "compiled"
    assert len(list(cache_dir.glob("*.cwasm"))) == 2


def test_runtime_info() -> None:
    info = mk.runtime_info()
    assert Path(info["wasm"]).is_file()
    assert info["loaded"] in ("cache", "compiled")
    assert info["generation"] >= 1 and info["memory_limit"] > 0


@pytest.mark.skipif(not (REPO / "target" / "mizan-kernel.wasm").is_file(), reason="component not built")
def test_wheel_carries_the_component(tmp_path: Path) -> None:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "-w", str(tmp_path), str(REPO / "python-shims")],
        check=True, env=env, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("mizan_kernel-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert {"mizan_kernel/__init__.py", "mizan_kernel/py.typed", "mizan_kernel/mizan-kernel.wasm"} <= names
        # `python -m mizan_kernel ir …` and Django's `manage.py export_mizan_ir`
        assert {"mizan_kernel/__main__.py", "mizan_kernel/management/commands/export_mizan_ir.py"} <= names
        packaged = zf.read("mizan_kernel/mizan-kernel.wasm")
        for name in ("LICENSE-MIT", "LICENSE-APACHE"):
            (licensed,) = [n for n in names if n.endswith(f".dist-info/licenses/{name}")]
            assert zf.read(licensed) == (REPO / name).read_bytes()
    built = (REPO / "target" / "mizan-kernel.wasm").read_bytes()
    assert hashlib.sha256(packaged).digest() == hashlib.sha256(built).digest()
