#!/usr/bin/env python3
"""Where a component's code bytes go: function body sizes from the core module's code section,
attributed by the name section to crates and modules, plus the data segments.

    scripts/wasm-bytes.sh [--write]          builds the browser component with names, then runs this
    scripts/wasm-bytes.py CORE.wasm [--top N] [--write-docs]

CORE.wasm must keep its name section (cargo profile `wasm-names`: the `wasm` profile, unstripped).
Sizes are before `wasm-opt -Oz`, which shrinks the total by roughly a tenth; the shares are what
to look at. No dependency: the wasm binary format is read here (sections, LEB128, the `name`
custom section's function-name subsection).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path


def leb(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(buf: bytes):
    i = 8  # magic + version
    while i < len(buf):
        sid = buf[i]
        size, j = leb(buf, i + 1)
        yield sid, buf[j : j + size]
        i = j + size


def read(path: Path) -> tuple[dict[int, int], dict[int, str], int, int]:
    """Body size per function index, names per index, imported function count, data bytes."""
    buf = path.read_bytes()
    imported = 0
    bodies: dict[int, int] = {}
    names: dict[int, str] = {}
    data = 0
    for sid, body in sections(buf):
        if sid == 2:  # imports: count the functions, they come first in the index space
            n, i = leb(body, 0)
            for _ in range(n):
                for _ in range(2):  # module, name
                    ln, i = leb(body, i)
                    i += ln
                kind = body[i]
                i += 1
                if kind == 0:
                    imported += 1
                    _, i = leb(body, i)
                elif kind == 1:  # table: reftype, limits
                    i += 1
                    flags, i = leb(body, i)
                    _, i = leb(body, i)
                    if flags & 1:
                        _, i = leb(body, i)
                elif kind == 2:  # memory: limits
                    flags, i = leb(body, i)
                    _, i = leb(body, i)
                    if flags & 1:
                        _, i = leb(body, i)
                else:  # global: valtype, mut
                    i += 2
        elif sid == 10:
            n, i = leb(body, 0)
            for k in range(n):
                size, j = leb(body, i)
                bodies[imported + k] = size + (j - i)
                i = j + size
        elif sid == 11:
            data = len(body)
        elif sid == 0:
            ln, i = leb(body, 0)
            if body[i : i + ln] != b"name":
                continue
            i += ln
            while i < len(body):
                sub = body[i]
                size, j = leb(body, i + 1)
                if sub == 1:
                    n, k = leb(body, j)
                    for _ in range(n):
                        idx, k = leb(body, k)
                        ln, k = leb(body, k)
                        names[idx] = body[k : k + ln].decode("utf-8", "replace")
                        k += ln
                i = j + size
    return bodies, names, imported, data


LEGACY_ESCAPES = {"$LT$": "<", "$GT$": ">", "$RF$": "&", "$BP$": "*", "$C$": ",", "$LP$": "(", "$RP$": ")", "$u20$": " ", "$u7b$": "{", "$u7d$": "}", "$u5b$": "[", "$u5d$": "]", "$u27$": "'", "$SP$": "@"}


def idents(mangled: str) -> list[str]:
    """The length-prefixed identifiers of a Rust symbol (legacy `_ZN` or v0 `_R`), in order: enough
    to name its crate and module (a full demangler is `rustfilt`; none is needed here)."""
    out, i = [], 0
    v0 = mangled.startswith("_R")
    while i < len(mangled):
        # v0 (a std rebuilt with -Zbuild-std is mangled so): skip disambiguators (`s<base62>_`,
        # the crate hash in `Cs68zsYPbpKAk_10serde_json`) and back-references (`B<base62>_`),
        # whose digits are not lengths.
        skip = v0 and re.compile(r"[sB][0-9A-Za-z]*_").match(mangled, i)
        if skip:
            i = skip.end()
            continue
        m = re.compile(r"\d+").match(mangled, i)
        if not m:
            i += 1
            continue
        n, i = int(m.group()), m.end()
        if i < len(mangled) and mangled[i] == "_" and mangled.startswith("_R"):
            i += 1
        ident = mangled[i : i + n]
        i += n
        if re.fullmatch(r"h[0-9a-f]{16}", ident):
            continue
        for k, v in LEGACY_ESCAPES.items():
            ident = ident.replace(k, v)
        out.append(ident.replace("..", "::").lstrip("_"))
    return out


def demangle(name: str) -> str:
    if name.startswith(("_ZN", "_R")):
        return "::".join(idents(name))
    return name


# Groups, first match wins: the crate (and for ours, the module), or the WIT glue by interface.
GROUPS = [
    (re.compile(r"^mizan:kernel/([\w-]+)|cabi_post_mizan:kernel/([\w-]+)"), lambda m: f"WIT glue: {m.group(1) or m.group(2)}"),
    (re.compile(r"mizan_kernel_component"), lambda m: "WIT glue: mizan_kernel_component"),
    (re.compile(r"mizan_kernel::(\w+)"), lambda m: f"mizan_kernel::{m.group(1)}"),
    (re.compile(r"alloc::collections::btree"), lambda m: "alloc: BTreeMap/BTreeSet"),
    (re.compile(r"core::slice::sort"), lambda m: "core: slice sorts"),
    (re.compile(r"core::fmt|<&?\w+ as core::fmt|core::panicking|core::result::unwrap_failed"), lambda m: "core: fmt and panics"),
    (re.compile(r"core::num::(dec2flt|flt2dec)|f64 as core::str"), lambda m: "core: float parsing/printing"),
    (re.compile(r"^(<)?(serde_json|serde_core|serde|hashbrown|dlmalloc|wit_bindgen|zmij|ryu_js|itoa|rustc_hash|std|alloc|core)\b"), lambda m: m.group(2)),
    (re.compile(r"\b(serde_json|serde_core|hashbrown|dlmalloc|wit_bindgen|zmij|ryu_js|itoa)\b"), lambda m: m.group(1)),
    (re.compile(r"\b(alloc|core|std)::"), lambda m: m.group(1)),
]


def group(name: str) -> str:
    for pattern, label in GROUPS:
        m = pattern.search(name)
        if m:
            return label(m)
    return "other"


def table(path: Path, top: int) -> str:
    bodies, names, _, data = read(path)
    idx = sorted(bodies)
    pretty = [demangle(names.get(i, f"func[{i}]")) for i in idx]
    by_group: Counter[str] = Counter()
    for i, name in zip(idx, pretty):
        by_group[group(name)] += bodies[i]
    code = sum(bodies.values())
    total = code + data
    lines = ["| part | bytes | share |", "|---|---|---|"]
    for g, b in by_group.most_common(top):
        lines.append(f"| {g} | {b:,} | {100 * b / total:.1f} % |")
    rest = code - sum(b for _, b in by_group.most_common(top))
    if rest:
        lines.append(f"| everything else ({len(by_group) - top} more groups) | {rest:,} | {100 * rest / total:.1f} % |")
    lines.append(f"| data segments (strings, tables) | {data:,} | {100 * data / total:.1f} % |")
    lines.append(f"| **code + data** | **{total:,}** | |")
    return "\n".join(lines)


def main() -> None:
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    top = int(args[args.index("--top") + 1]) if "--top" in args else 18
    text = table(Path(args[0]), top)
    print(text)
    if "--write-docs" in args:
        doc = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from docblock import replace_block  # noqa: E402

        replace_block(doc, "client-bytes", text)
        print(f"wrote the client-bytes block of {doc}")


if __name__ == "__main__":
    main()
