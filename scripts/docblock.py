#!/usr/bin/env python3
"""Replace the generated block NAME of a document with new text.

    scripts/docblock.py FILE NAME < text

A block is everything between the lines `<!-- generated: NAME (COMMAND) -->` and
`<!-- end: NAME -->`; the opening line names the command that produced it, so a reader knows how
to regenerate a figure and nobody types one by hand. Used by scripts/sizes.sh and
python-shims/bench.py --write-docs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def replace_block(path: Path, name: str, text: str) -> None:
    doc = path.read_text(encoding="utf-8")
    pattern = re.compile(
        rf"(<!-- generated: {re.escape(name)} \(.*?\) -->\n)(.*?)(<!-- end: {re.escape(name)} -->)", re.S
    )
    found = pattern.findall(doc)
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one generated block {name!r}, found {len(found)}")
    body = text if text.endswith("\n") else text + "\n"
    path.write_text(pattern.sub(lambda m: m.group(1) + body + m.group(3), doc), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    replace_block(Path(sys.argv[1]), sys.argv[2], sys.stdin.read())
