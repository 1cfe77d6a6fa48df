"""``python -m mizan_kernel ir MODULE[:ATTR]``: print the IR (canonical KDL) of a backend's
functions, for ``mizan generate`` / ``npx mizan-generate`` (``[source.fastapi]`` in mizan.toml)
or to commit as ``app.kdl``. Run it where ``MODULE`` imports (the current directory is on the
path). See :mod:`mizan_kernel.ir_export` for what ``MODULE[:ATTR]`` may name."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mizan_kernel", description="The Mizan kernel for Python.")
    sub = parser.add_subparsers(dest="command", required=True)
    ir = sub.add_parser("ir", help="print the IR (canonical KDL) of a backend's functions")
    ir.add_argument("target", metavar="MODULE[:ATTR]", help="e.g. main:app, app.mizan:functions, or main")
    args = parser.parse_args(argv)

    from .ir_export import ExportError, export

    try:
        kdl = export(args.target)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(kdl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
