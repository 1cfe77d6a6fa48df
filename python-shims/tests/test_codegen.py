"""The IR out of a Python backend (``python -m mizan_kernel ir``, Django's ``export_mizan_ir``) and
the typed Python client generated from it (tests/codegen/python/*): ``mypy --strict`` of the
golden files with their uses, and the generated client against a live FastAPI app."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[2]
WIRE_KDL = (REPO / "tests" / "wire" / "app.kdl").read_text()
FASTAPI_APP = REPO / "examples" / "fastapi_app"
DJANGO_APP = REPO / "examples" / "django_app"


def run(args: List[str], cwd: Path, **env: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=dict(os.environ, **env), timeout=120)


# --- the IR out of a backend ---------------------------------------------------------------------


@pytest.mark.parametrize("target", ["app:app", "app", "functions:functions", "functions"])
def test_python_m_mizan_kernel_ir_prints_the_canonical_ir(target: str) -> None:
    """The wire app's functions, named as the FastAPI app, its module, the Functions or theirs."""
    out = run([sys.executable, "-m", "mizan_kernel", "ir", target], FASTAPI_APP)
    assert out.returncode == 0, out.stderr
    assert out.stdout == WIRE_KDL


@pytest.mark.parametrize(
    "target, message",
    [
        ("functions:nope", "functions has no attribute 'nope'"),
        ("functions:session_identity", "functions:session_identity is a function: expected Functions"),
        ("json", "json registers no functions"),
        (":x", "expected MODULE or MODULE:ATTR"),
    ],
)
def test_python_m_mizan_kernel_ir_says_what_it_found_instead(target: str, message: str) -> None:
    out = run([sys.executable, "-m", "mizan_kernel", "ir", target], FASTAPI_APP)
    assert out.returncode == 2
    assert out.stdout == ""
    assert message in out.stderr


def test_a_module_with_two_different_registries_must_name_one(tmp_path: Path) -> None:
    (tmp_path / "two.py").write_text(
        "from mizan_kernel import Functions\n"
        "a = Functions()\nb = Functions()\n"
        "@a.client(context='x')\ndef f() -> int: ...\n"
        "@b.client(context='y')\ndef g() -> int: ...\n"
    )
    out = run([sys.executable, "-m", "mizan_kernel", "ir", "two"], tmp_path)
    assert out.returncode == 2
    assert "two has registries with different functions (a / b): name one, two:ATTR" in out.stderr
    assert run([sys.executable, "-m", "mizan_kernel", "ir", "two:b"], tmp_path).stdout.startswith("mizan-ir version=1\n\ncontext y")


@pytest.mark.parametrize("args", [[], ["functions:functions"]])
def test_django_export_mizan_ir_prints_the_urlconfs_functions(args: List[str]) -> None:
    out = run([sys.executable, "manage.py", "export_mizan_ir", *args], DJANGO_APP, PYTHONPATH=str(FASTAPI_APP))
    assert out.returncode == 0, out.stderr
    assert out.stdout == WIRE_KDL


def test_django_export_mizan_ir_refuses_what_is_not_functions() -> None:
    out = run([sys.executable, "manage.py", "export_mizan_ir", "json"], DJANGO_APP)
    assert out.returncode != 0
    assert "json registers no functions" in out.stderr


# --- the generated Python client -----------------------------------------------------------------


def mypy(files: List[Path], cwd: Path) -> "subprocess.CompletedProcess[str]":
    # follow-imports=silent: mizan_kernel is checked as a library (its own errors are not the
    # generated file's), as when it is installed from a wheel.
    return run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--cache-dir", str(REPO / "target" / "mypy-cache"), *map(str, files)],
        cwd,
        MYPYPATH=str(REPO / "python-shims"),
    )


@pytest.mark.parametrize("fixture", ["edge", "parity", "shop"])
def test_generated_python_passes_mypy_strict(fixture: str, tmp_path: Path) -> None:
    shutil.copy(REPO / "tests" / "codegen" / "python" / fixture / "mizan_client.py", tmp_path)
    files = [tmp_path / "mizan_client.py"]
    usage = REPO / "tests" / "codegen" / "usage" / f"{fixture}.py"
    if usage.is_file():  # uses with `# type: ignore[...]` where the types must refuse
        files.append(Path(shutil.copy(usage, tmp_path)))
    out = mypy(files, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_catches_a_wrong_use_of_the_generated_client(tmp_path: Path) -> None:
    """The check above can fail: a call missing a required argument is an error."""
    shutil.copy(REPO / "tests" / "codegen" / "python" / "shop" / "mizan_client.py", tmp_path)
    (tmp_path / "wrong.py").write_text("from mizan_kernel import Client\nfrom mizan_client import MizanApi\n\ndef f(c: Client) -> None:\n    MizanApi(c).fetch_user(page=1)\n")
    out = mypy([tmp_path / "mizan_client.py", tmp_path / "wrong.py"], tmp_path)
    assert out.returncode == 1
    assert 'Missing named argument "user_id" for "fetch_user"' in out.stdout


@pytest.fixture(scope="module")
def wire_server() -> Iterator[str]:
    """The wire app on FastAPI (examples/fastapi_app), in-memory cache, on a free port."""
    uvicorn = pytest.importorskip("uvicorn")
    sys.path.insert(0, str(FASTAPI_APP))
    try:
        import app as wire_app  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    config = uvicorn.Config(wire_app.create_app(cache="memory"), host="127.0.0.1", port=0, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/api/mizan"
    server.should_exit = True
    thread.join(5)


def generated_wire_client(tmp_path: Path) -> Any:
    """The Python target for tests/wire/app.kdl, generated by the CLI's crate through the
    kernel-free path the tools share (mizan generate), imported from a temporary directory."""
    mizan = REPO / "target" / "debug" / "mizan"
    if not mizan.is_file():
        subprocess.run(["cargo", "build", "--quiet", "--bin", "mizan"], cwd=REPO, check=True)
    (tmp_path / "mizan.toml").write_text(f'output = "."\ntargets = ["python"]\n[source]\nkdl = "{REPO / "tests" / "wire" / "app.kdl"}"\n')
    out = run([str(mizan), "generate"], tmp_path)
    assert out.returncode == 0, out.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        sys.modules.pop("mizan_client", None)
        import mizan_client  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return mizan_client


def test_generated_client_against_the_live_app(wire_server: str, tmp_path: Path) -> None:
    """fetch_* returns the bundle, call_* the result; a call's invalidation refetches what the
    client observes; keyword-only arguments, optional ones left out of the request."""
    import mizan_kernel as mk

    gen = generated_wire_client(tmp_path)
    assert mypy([tmp_path / "mizan_client.py"], tmp_path).returncode == 0
    with mk.Client(wire_server, headers={"X-Wire-User": "1"}) as client:
        api = gen.MizanApi(client)
        items = api.fetch_items(page=1)
        assert (items["item_count"], len(items["items_list"])) == (3, 2)
        echoed = api.fetch_echo(count=2, flag=True, ratio=0.5, maybe=None, tags=["a", "b"])["echo_types"]
        assert echoed == {"count": 2, "flag": True, "label": None, "maybe": None, "ratio": 0.5, "tags": ["a", "b"]}
        user = api.fetch_user(user_id=1)
        assert user["user_profile"] == {"id": 1, "name": "alice"}
        watched = client.subscribe("user", {"user_id": 1})
        order = api.call_place_order(item_id=1, quantity=2, user_id=1)
        assert (order["item_id"], order["quantity"], order["user_id"]) == (1, 2, 1)
        client.wait_idle(5)
        assert len(watched.data["user_orders"]) == len(user["user_orders"]) + 1, "the call's invalidation refetched user"
        with pytest.raises(mk.MizanRequestError) as e:
            api.call_rename_item(id=1, name="x")  # staff only
        assert e.value.code == "FORBIDDEN"


def test_generated_async_client_against_the_live_app(wire_server: str, tmp_path: Path) -> None:
    import mizan_kernel as mk

    gen = generated_wire_client(tmp_path)

    async def main() -> None:
        async with mk.AsyncClient(wire_server, headers={"X-Wire-User": "2"}) as client:
            api = gen.AsyncMizanApi(client)
            assert (await api.fetch_global())["current_user"] == {"id": 2, "name": "bob"}
            assert await api.call_update_profile(name="Bobby") == {"id": 2, "name": "Bobby"}

    asyncio.run(asyncio.wait_for(main(), 20))
