"""Packaging hook: every build carries the kernel component and the licenses.

`build_py` copies the component (``$MIZAN_KERNEL_WASM``, else ``../target/mizan-kernel.wasm``,
built by ``scripts/build-component.sh``) into ``mizan_kernel/mizan-kernel.wasm``, so the wheel
ships the exact bytes every other host loads. The repository's LICENSE-MIT and LICENSE-APACHE
are copied next to this file (pyproject's ``license-files``). Metadata lives in pyproject.toml.
"""

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PACKAGED = HERE / "mizan_kernel" / "mizan-kernel.wasm"


def component_source() -> Path:
    env = os.environ.get("MIZAN_KERNEL_WASM")
    return Path(env) if env else HERE.parent / "target" / "mizan-kernel.wasm"


def sync_component(required: bool = True) -> None:
    src = component_source()
    if src.is_file():
        if not PACKAGED.is_file() or PACKAGED.read_bytes() != src.read_bytes():
            shutil.copyfile(src, PACKAGED)
    elif not PACKAGED.is_file() and required:
        raise SystemExit(
            f"mizan-kernel: no component at {src}; run scripts/build-component.sh "
            "or set MIZAN_KERNEL_WASM"
        )


class BuildPy(build_py):
    def run(self) -> None:
        # An editable install finds target/mizan-kernel.wasm at run time; a wheel must carry it.
        sync_component(required=not getattr(self, "editable_mode", False))
        super().run()


class Sdist(sdist):
    def run(self) -> None:
        sync_component()
        super().run()


def sync_licenses() -> None:
    for name in ("LICENSE-MIT", "LICENSE-APACHE"):
        src = HERE.parent / name
        if src.is_file() and (not (HERE / name).is_file() or (HERE / name).read_bytes() != src.read_bytes()):
            shutil.copyfile(src, HERE / name)


sync_licenses()  # before setup(): the license files are read with the metadata
setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
