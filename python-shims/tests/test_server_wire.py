"""The wire probe suite (tests/wire/probes.json, tests/wire/run_wire.py) against the example
apps, each started here as a real HTTP server on a free port: FastAPI (uvicorn) with the
in-memory store, with Redis (a redis-server started here) and without a cache; Django (its own
threaded server) with the in-memory store and with Redis; Axum (examples/axum_app, the Rust
binary) with the in-memory store, with Redis and without a cache; Node (examples/node_app,
node:http through @mizan/kernel-wasm/server) with the in-memory store, with Redis and without a
cache; the same fetch handler in an edge-style runtime (examples/edge_app under `deno serve`) with
the in-memory store and without a cache. Every app must pass every probe that applies to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "wire"))
import run_wire  # noqa: E402

from test_server_redis import free_port, start_redis, stop  # noqa: E402

APPS = {
    "fastapi": (REPO / "examples" / "fastapi_app" / "app.py", ["fastapi", "uvicorn"]),
    "django": (REPO / "examples" / "django_app" / "serve.py", ["django"]),
}

#: The Axum app's dev binary. `cargo test --workspace` (scripts/test.sh) builds it, because the
#: crate has an integration test; `MIZAN_AXUM_APP` points at another build (e.g. a release one).
AXUM_BIN = REPO / "target" / "debug" / "axum_app"
AXUM_SOURCES = [
    REPO / "examples" / "axum_app",
    REPO / "hosts" / "mizan-host" / "src",
    REPO / "hosts" / "mizan-host" / "Cargo.toml",
    REPO / "target" / "mizan-kernel.wasm",
    REPO / "Cargo.lock",
]


def _newest(paths: List[Path]) -> float:
    newest = 0.0
    for p in paths:
        if p.is_file():
            newest = max(newest, p.stat().st_mtime)
        elif p.is_dir():
            for f in p.rglob("*"):
                if f.is_file() and "target" not in f.parts:
                    newest = max(newest, f.stat().st_mtime)
    return newest


def axum_binary() -> Path:
    """The built `axum_app`; built here (dev profile) when missing or older than its sources."""
    override = os.environ.get("MIZAN_AXUM_APP")
    if override:
        return Path(override)
    if AXUM_BIN.is_file() and AXUM_BIN.stat().st_mtime >= _newest(AXUM_SOURCES):
        return AXUM_BIN
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        pytest.skip("cargo is not installed: cannot build the Axum app")
    if not (REPO / "target" / "mizan-kernel.wasm").is_file():
        pytest.skip("target/mizan-kernel.wasm is missing (scripts/build-component.sh)")
    subprocess.run([cargo, "build", "-q", "-p", "mizan-axum-app", "--bin", "axum_app"], cwd=str(REPO), check=True, timeout=1800)
    return AXUM_BIN


NODE_APP = REPO / "examples" / "node_app" / "app.js"


def node_command() -> List[str]:
    """`node examples/node_app/app.js`; skipped without Node or the app's npm packages
    (scripts/setup.sh installs them) or the built package (js-shims/dist)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_APP.parent / "node_modules" / "redis").is_dir():
        pytest.skip("examples/node_app has no node_modules (scripts/setup.sh)")
    if not (REPO / "js-shims" / "dist" / "kernel.js").is_file():
        pytest.skip("js-shims/dist is missing (cd js-shims && node scripts/build.mjs)")
    return [node, str(NODE_APP)]


EDGE_APP = REPO / "examples" / "edge_app"


def edge_command(port: int) -> List[str]:
    """`deno serve` on examples/edge_app/main.js (Deno installed from npm by scripts/setup.sh)."""
    deno = EDGE_APP / "node_modules" / ".bin" / "deno"
    if not deno.exists():
        pytest.skip("examples/edge_app has no deno (scripts/setup.sh installs it from npm)")
    node_command()  # the functions are node_app's: the same checks
    return [str(deno), "serve", "--host", "127.0.0.1", "--port", str(port), "--allow-read", "--allow-env", "main.js"]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    pytest.importorskip("redis")
    proc, port = start_redis()
    yield f"redis://127.0.0.1:{port}/0"
    stop(proc)


def serve(kind: str, cache: str, prefix: str) -> "tuple[subprocess.Popen, str]":
    port = free_port()
    args = ["--port", str(port), "--cache", cache, "--redis-prefix", prefix]
    if kind == "axum":
        command, cwd = [str(axum_binary()), *args], REPO
    elif kind == "node":
        command, cwd = [*node_command(), *args], NODE_APP.parent
    elif kind == "edge":  # the Workers-shaped module under `deno serve`; the cache comes from the environment
        command, cwd = edge_command(port), EDGE_APP
    else:
        script, needs = APPS[kind]
        for mod in needs:
            pytest.importorskip(mod)
        command, cwd = [sys.executable, str(script), *args], script.parent
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"mizan-wire-{kind}-{port}.log", "w")
    env = dict(os.environ, MIZAN_CACHE=cache, NO_COLOR="1")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=str(cwd), env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/api/mizan/session/", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"{kind} app did not start: {Path(log.name).read_text()[-2000:]}")
        time.sleep(0.1)


CASES = [
    ("fastapi", "memory"),
    ("fastapi", "redis"),
    ("fastapi", "none"),
    ("django", "memory"),
    ("django", "redis"),
    ("axum", "memory"),
    ("axum", "redis"),
    ("axum", "none"),
    ("node", "memory"),
    ("node", "redis"),
    ("node", "none"),
    ("edge", "memory"),
    ("edge", "none"),
]


@pytest.mark.parametrize("kind,cache", CASES, ids=[f"{k}-{c}" for k, c in CASES])
def test_wire_probes(kind: str, cache: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture) -> None:
    url: Optional[str] = request.getfixturevalue("redis_url") if cache == "redis" else cache
    proc, base = serve(kind, url, f"wire-{kind}:")  # type: ignore[arg-type]
    try:
        runs: List[tuple] = []
        for _ in range(2):  # twice against the same app and store: probes are repeatable
            runs.append(run_wire.run(base, cache=cache != "none", csrf=kind == "django"))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
    out = capsys.readouterr().out
    probes = run_wire.load()["probes"]
    needs = "cache" if cache == "none" else "no-cache"  # what this app lacks: those probes are skipped
    for passed, failed, skipped in runs:
        assert failed == 0, out
        assert passed + skipped == len(probes)
        assert skipped == sum(1 for p in probes if needs in p.get("requires", []))
