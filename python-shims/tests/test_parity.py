"""FastAPI ≡ Django: the parity fixture (tests/fixtures/ir/parity.kdl), registered in each
framework's style (tests/parity/), exports that file byte for byte through each framework's
export command, and the export is the kernel's canonical form (``mizan ir fmt --check``). Also
the decorator's string enums: ``str`` ``Enum`` subclasses and named ``Literal``s."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

import pytest

from mizan_kernel import Functions, MizanApp, Registry
from mizan_kernel.server import Identity, Request

REPO = Path(__file__).resolve().parents[2]
PARITY = REPO / "tests" / "fixtures" / "ir" / "parity.kdl"
HERE = Path(__file__).resolve().parent / "parity"


def export(framework: str) -> bytes:
    if framework == "fastapi":
        args, cwd = [sys.executable, "-m", "mizan_kernel", "ir", "shop_fastapi:app"], HERE
    else:
        args, cwd = [sys.executable, "manage.py", "export_mizan_ir"], HERE / "shop_django"
    out = subprocess.run(args, cwd=cwd, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


@pytest.fixture(scope="module")
def exports() -> Dict[str, bytes]:
    return {framework: export(framework) for framework in ("fastapi", "django")}


def test_fastapi_and_django_registrations_export_the_parity_fixture_byte_for_byte(exports: Dict[str, bytes]) -> None:
    expected = PARITY.read_bytes()
    assert exports["fastapi"] == expected
    assert exports["django"] == expected


def mizan_cli() -> Path:
    mizan = REPO / "target" / "debug" / "mizan"
    if not mizan.is_file():
        subprocess.run(["cargo", "build", "--quiet", "--bin", "mizan"], cwd=REPO, check=True)
    return mizan


@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_the_export_round_trips_through_mizan_ir_fmt(framework: str, exports: Dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / f"{framework}.kdl"
    path.write_bytes(exports[framework])
    check = subprocess.run([str(mizan_cli()), "ir", "fmt", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "canonical" in check.stderr
    text = exports[framework].decode()
    assert Registry.from_kdl(text).to_kdl() == text


def test_mizan_ir_fmt_check_can_fail(exports: Dict[str, bytes], tmp_path: Path) -> None:
    """The round trip above is a real check: a reordered export is not canonical."""
    lines = exports["django"].decode().split("\n\n")
    path = tmp_path / "shuffled.kdl"
    path.write_text("\n\n".join([lines[0], *reversed(lines[1:-1]), lines[-1]]))
    assert subprocess.run([str(mizan_cli()), "ir", "fmt", "--check", str(path)], capture_output=True).returncode == 1


def test_django_style_functions_serve_enum_members_as_their_values() -> None:
    """The Django-style module returns dataclasses holding `OrderStatus` members; the wire has
    the strings, and the kernel refuses a value outside the enum (422) before the function runs."""
    sys.path.insert(0, str(HERE / "shop_django"))
    try:
        from shop_site import shop  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    app = MizanApp(shop.functions)
    staff = Identity("1", staff=True)

    def call(fn: str, args: Dict[str, Any]) -> Any:
        resp = app.handle(Request("POST", "/api/mizan/call/", body=json.dumps({"fn": fn, "args": args})), None, staff)
        return resp.status, json.loads(resp.body)

    status, placed = call("place_order", {"user_id": 1, "lines": [{"product_id": 1, "quantity": 2}]})
    assert status == 200, placed
    assert placed["result"]["status"] == "pending"
    assert placed["result"]["totals"] == {"total": 8.0}
    status, shipped = call("set_order_status", {"order_id": placed["result"]["id"], "status": "shipped"})
    assert (status, shipped["result"]["status"]) == (200, "shipped")
    status, refused = call("set_order_status", {"order_id": placed["result"]["id"], "status": "lost"})
    assert status == 422
    assert refused["error"]["details"]["fields"]["status"] == ["Input should be 'pending', 'paid', 'shipped', 'delivered' or 'cancelled'"]


# --- string enums in the decorator ----------------------------------------------------------------

Size = Literal["s", "m", "l"]


class Colour(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.Enum):
    LOW = 1


def test_named_literals_and_string_enums_are_ir_enums() -> None:
    functions = Functions()

    @functions.client(context="shop")
    def shirts(size: Optional[Size] = None, colours: List[Colour] = [], level: Level = Level.LOW, free: Literal["x", "y"] = "x") -> Dict[str, Colour]:
        return {}

    reg = functions.registry_json()
    assert reg["version"] == 2
    assert reg["enums"] == {"Size": ["s", "m", "l"], "Colour": ["red", "green"]}
    inputs = reg["functions"]["shirts"]["inputs"]
    assert inputs["size"]["type"] == "optional<Size>"
    assert inputs["colours"]["type"] == "list<Colour>"
    assert inputs["level"]["type"] == "any", "an enum of non-strings is not an IR enum"
    assert inputs["free"]["type"] == "string", "a Literal with no name has no enum name"
    assert reg["functions"]["shirts"]["output"] == "map<Colour>"
    kdl = functions.to_kdl()
    assert kdl.startswith("mizan-ir version=2\n")
    assert kdl.endswith('enum Colour {\n    value red\n    value green\n}\n\nenum Size {\n    value s\n    value m\n    value l\n}\n')


def test_a_type_alias_statement_names_its_enum() -> None:
    typing_extensions = pytest.importorskip("typing_extensions")
    Tone = typing_extensions.TypeAliasType("Tone", Literal["warm", "cold"])
    functions = Functions()

    @functions.client(context="tones")
    def tone(t: Tone) -> str:  # type: ignore[valid-type]
        return str(t)

    assert functions.registry_json()["enums"] == {"Tone": ["warm", "cold"]}


def test_without_enums_the_registry_stays_version_1() -> None:
    functions = Functions()

    @functions.client(context="c")
    def f(x: int) -> str:
        return ""

    assert functions.registry_json()["version"] == 1
    assert "enums" not in functions.registry_json()
    assert functions.to_kdl().startswith("mizan-ir version=1\n")


def test_two_different_enums_of_one_name_are_refused() -> None:
    functions = Functions()
    Colour2 = enum.Enum("Colour", {"BLUE": "blue"}, type=str)  # type: ignore[misc]

    @functions.client(context="a")
    def a(c: Colour) -> str:
        return ""

    @functions.client(context="b")
    def b(c: Colour2) -> str:  # type: ignore[valid-type]
        return ""

    with pytest.raises(TypeError, match="two different types are named 'Colour'"):
        functions.registry_json()
