"""Coverage-guided fuzzing of one target with atheris (libFuzzer options pass through).

    python tests/fuzz/run.py TARGET [CORPUS_DIR ...] [-max_total_time=60] [-runs=N]

New inputs that reach new coverage are written into the first corpus folder; a crash is
written as ``crash-*`` in the current folder, and the exit code is non-zero.  sipguard's
modules are loaded from their source even where the compiled build sits beside them
(``sipguard.build.prefer_source``): the coverage that guides the fuzzer is of Python lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sipguard.build import prefer_source  # before any other sipguard module

prefer_source()
with atheris.instrument_imports(include=["sipguard"]):
    from targets import TARGETS


def main() -> None:
    """Pick the target named by the first argument and hand the rest to libFuzzer."""
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: run.py {{{'|'.join(TARGETS)}}} [CORPUS] [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
