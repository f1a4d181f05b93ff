"""The compiled build: what it covers, that the suite runs on it, and that the same code
interpreted passes the call core's tests too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sipguard import build

ROOT = Path(__file__).resolve().parents[1]
PURE = os.environ.get("SIPGUARD_PURE") == "1"


def _python(code: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the project root."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_the_plan_is_every_module_of_the_call_path_but_the_named_exceptions() -> None:
    listed = set(build.sources(ROOT))
    for package in build.PACKAGES:
        for path in (ROOT / package).glob("*.py"):
            name = str(path.relative_to(ROOT))
            assert (name in listed) != (name in build.INTERPRETED), name
    assert {"sipguard/memo.py", "sipguard/screening.py", "sipguard/sip/wire.py"} <= listed
    assert all((ROOT / name).is_file() for name in build.INTERPRETED)
    assert build.module_name("sipguard/sip/__init__.py") == "sipguard.sip"


@pytest.mark.skipif(PURE, reason="SIPGUARD_PURE=1 installs the interpreted build on purpose")
def test_the_suite_runs_on_an_up_to_date_compiled_build() -> None:
    """scripts/setup compiles the call path and rebuilds it when a source is newer."""
    found = build.state(ROOT)
    assert found.kind == "compiled", found
    assert found.compiled == found.total == len(build.sources(ROOT))


def test_a_source_newer_than_its_extension_is_stale() -> None:
    """An edit after the build outdates it: the module is named, and touching nothing else."""
    source = ROOT / "sipguard" / "memo.py"
    ext = build._extension_of("sipguard.memo")
    if ext is None:
        pytest.skip("this install is interpreted: there is no extension to outdate")
    kept = source.stat()
    try:
        os.utime(source, (kept.st_atime, ext.stat().st_mtime + 10))
        found = build.state(ROOT)
        assert found.kind == "stale" and found.stale == ("sipguard.memo",)
    finally:
        os.utime(source, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert build.state(ROOT).kind == "compiled"


def test_prefer_source_loads_every_module_from_its_file() -> None:
    code = (
        "from sipguard.build import prefer_source, state\n"
        "prefer_source()\n"
        "import sys, sipguard.b2bua.core, sipguard.sip, sipguard.policy.evaluate\n"
        "names = ['sipguard.b2bua.core', 'sipguard.sip', 'sipguard.policy.evaluate']\n"
        "mods = [sys.modules[name] for name in names]\n"
        "assert all(m.__file__.endswith('.py') for m in mods), [m.__file__ for m in mods]\n"
        "print(state().kind)\n"
    )
    out = _python(code, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "interpreted"


@pytest.mark.slow
def test_the_interpreted_code_passes_the_call_core_and_sip_tests() -> None:
    """The source the build compiles behaves the same when it is not compiled: the SIP and
    call-core tests, and those of the server shell and the journal entries and frames."""
    tests = [
        "tests/sip",
        "tests/b2bua",
        "tests/adapters/test_server_shell.py",
        "tests/adapters/test_journal_gate_paths.py",
        "tests/journal/test_wire.py",
        "tests/journal/test_cache.py",
        "tests/journal/test_service.py",
        "tests/journal/test_columns.py",
        "tests/journal/test_canonical.py",
        "tests/journal/test_c1_text.py",
        "tests/journal/test_aclient_then.py",
    ]
    code = (
        "import sys\n"
        "from sipguard.build import prefer_source\n"
        "prefer_source()\n"
        "import pytest\n"
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *{tests!r}]))\n"
    )
    out = _python(code, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " failed" not in out.stdout


def test_an_extension_of_a_module_no_longer_compiled_is_stale(tmp_path: Path) -> None:
    """A build left behind by a longer list would shadow the source: it is named."""
    package = tmp_path / "sipguard"
    package.mkdir()
    (package / "gone.py").write_text("")
    (package / "gone.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (package / "kept.py").write_text("")
    found = build.state(tmp_path)
    assert found.kind == "stale" and found.stale == ("sipguard.gone",)
