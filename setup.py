"""Build hook: compile the call path with mypyc (the modules ``sipguard/build.py`` lists).

``SIPGUARD_PURE=1`` builds without compiling: the same code then runs interpreted.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


def _plan() -> list[str]:
    spec = importlib.util.spec_from_file_location("_sipguard_build", HERE / "sipguard" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return list(module.sources(HERE))


def extensions() -> list[object]:
    """The compiled modules, unless ``SIPGUARD_PURE=1``."""
    if os.environ.get("SIPGUARD_PURE") == "1":
        return []
    from mypyc.build import mypycify

    return list(mypycify(_plan(), opt_level="3", multi_file=True, group_name="sipguard"))


class ParallelBuildExt(build_ext):
    """Compile the C files on every core."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1


setup(ext_modules=extensions(), cmdclass={"build_ext": ParallelBuildExt})
