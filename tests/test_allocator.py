"""``sipguard serve`` restarts on jemalloc once, only when it may, and says what it runs on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipguard import allocator
from sipguard.allocator import TRIED, AllocatorError, plan

LIB = "libjemalloc.so.2"
DATA = Path(allocator.__file__).resolve().parent / "data"


def test_auto_restarts_on_jemalloc_with_python_objects_from_it() -> None:
    restart = plan("auto", {"PATH": "/bin", "LD_PRELOAD": "libfoo.so"}, lambda: LIB)
    assert restart is not None and restart.library == LIB
    assert restart.env["LD_PRELOAD"] == f"{LIB} libfoo.so"  # the operator's preload stays
    assert restart.env["PYTHONMALLOC"] == "malloc"
    assert restart.env["MALLOC_CONF"] == allocator.JEMALLOC_CONF
    assert restart.env[TRIED] == "1" and restart.env["PATH"] == "/bin"


def test_the_operators_malloc_conf_is_kept() -> None:
    restart = plan("jemalloc", {"MALLOC_CONF": "narenas:2"}, lambda: LIB)
    assert restart is not None and restart.env["MALLOC_CONF"] == "narenas:2"


def test_never_twice_and_never_when_python_is_asked_for() -> None:
    assert plan("auto", {TRIED: "1"}, lambda: LIB) is None  # the restarted process goes on
    assert plan("jemalloc", {TRIED: "1"}, lambda: LIB) is None
    assert plan("python", {}, lambda: LIB) is None
    assert plan("auto", {"SIPGUARD_ALLOCATOR": "python"}, lambda: LIB) is None


def test_without_the_library_auto_stays_and_jemalloc_is_an_error() -> None:
    assert plan("auto", {}, lambda: None) is None
    with pytest.raises(AllocatorError, match="not installed"):
        plan("jemalloc", {}, lambda: None)
    with pytest.raises(AllocatorError, match="unknown allocator 'tcmalloc'"):
        plan("auto", {"SIPGUARD_ALLOCATOR": "tcmalloc"}, lambda: LIB)


def test_this_test_process_runs_on_cpythons_allocator_and_can_give_back() -> None:
    if os.environ.get("PYTHONMALLOC"):
        pytest.skip("the test run itself chose an allocator")
    assert allocator.active() == "pymalloc"
    allocator.flush_thread_cache()  # nothing to flush without jemalloc: a no-op
    assert allocator.release() is (allocator._TRIM is not None)


def serve_once(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Start ``sipguard serve``, read its ready line and its mapped libraries, stop it."""
    for name in ("rules.yaml", "consents.csv"):  # the journal is made beside the rules
        shutil.copy(DATA / name, tmp_path / name)
    cmd = [sys.executable, "-m", "sipguard", "serve", "--rules", str(tmp_path / "rules.yaml"),
           "--listen", "127.0.0.1:0", *extra]  # fmt: skip
    run_env = {k: v for k, v in os.environ.items() if k not in (TRIED, "PYTHONMALLOC")}
    run_env.update(env or {})
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=run_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if '"serve.ready"' in line:
                ready = json.loads(line)
                maps = Path(f"/proc/{proc.pid}/maps").read_text()
                ready["mapped"] = "jemalloc" if "libjemalloc" in maps else "none"
                return ready  # type: ignore[no-any-return]
            if not line and proc.poll() is not None:
                break
        raise AssertionError(f"serve did not get ready (exit {proc.poll()})")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.mark.skipif(allocator.find_jemalloc() is None, reason="libjemalloc2 is not installed")
def test_serve_runs_on_jemalloc_by_default_in_the_same_process(tmp_path: Path) -> None:
    ready = serve_once(tmp_path)
    assert ready["allocator"] == "jemalloc" and ready["mapped"] == "jemalloc"


def test_serve_keeps_cpythons_allocator_when_told(tmp_path: Path) -> None:
    ready = serve_once(tmp_path, "--allocator", "python")
    assert ready["allocator"] == "pymalloc" and ready["mapped"] == "none"
    ready = serve_once(tmp_path, env={"SIPGUARD_ALLOCATOR": "python"})
    assert ready["allocator"] == "pymalloc"


def test_serve_refuses_an_allocator_it_cannot_have(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TRIED}
    env["SIPGUARD_ALLOCATOR"] = "tcmalloc"
    done = subprocess.run([sys.executable, "-m", "sipguard", "serve", "--listen",
                           "127.0.0.1:0"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert "unknown allocator 'tcmalloc'" in done.stderr
