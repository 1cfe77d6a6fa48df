"""The package's extras (optional dependencies), and the error a missing one raises: it names
the extra and the command that installs it, not only the module Python could not find."""

from __future__ import annotations

import importlib
from types import ModuleType


def need(module: str, extra: str, feature: str) -> ModuleType:
    """Import `module`, which `feature` needs and the ``[extra]`` extra installs."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{feature} needs the [{extra}] extra ({e}): pip install 'mizan-kernel[{extra}]'",
            name=e.name,
        ) from e
