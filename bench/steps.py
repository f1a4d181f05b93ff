"""Rate steps with sipp: what counts as a clean step, and how a ramp finds a system's capacity.

Shared by ``bench_serve.py``, ``bench_kamailio.py`` and ``bench_ceiling.py`` so all count
capacity the same way:
- a step is *clean* only when no call failed AND the INVITE-to-final-response p99 is at
  most ``P99_LIMIT_MS`` (50 ms): a rate at which calls queue for seconds is not capacity;
- a ramp steps the rate up until the system's first unclean step (each unclean step is tried
  once more, since near the knee a run either stays clean or collapses), through the listed
  steps and then on past them by 25% at a time while the system stays clean, up to
  ``MAX_RATE``, so the baseline's own limit is found rather than a top step it still passes;
- CPU is the user + system time of a whole process group (a server and its children), in
  all and by process name.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

P99_LIMIT_MS = 50.0
MAX_RATE = 12_000
TICKS = os.sysconf("SC_CLK_TCK")

ROOT = Path(__file__).resolve().parents[1]  # the project root


@dataclass
class Step:
    """One sipp run at a fixed rate."""

    rate: int
    created: int
    ok: int
    rtts_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    cpu_by_name: dict[str, float] = field(default_factory=dict)  # CPU seconds by process

    @property
    def failed(self) -> int:
        """Calls that did not complete their scenario."""
        return max(0, self.created - self.ok) if self.created else self.rate

    def percentile(self, q: float) -> float:
        """The ``q`` quantile of the response times (ms), NaN when none was traced."""
        values = sorted(self.rtts_ms)
        if not values:
            return float("nan")
        if q == 0.5:
            return float(statistics.median(values))
        return values[min(len(values) - 1, int(len(values) * q))]

    @property
    def clean(self) -> bool:
        """No failed call, and a p99 within the limit."""
        p99 = self.percentile(0.99)
        return self.created > 0 and self.failed == 0 and p99 == p99 and p99 <= P99_LIMIT_MS

    def row(self) -> dict[str, float | int | bool]:
        """A JSON-friendly summary."""
        return {"rate": self.rate, "created": self.created, "ok": self.ok,
                "failed": self.failed, "p50_ms": round(self.percentile(0.5), 2),
                "p99_ms": round(self.percentile(0.99), 2), "clean": self.clean,
                "cpu_us_per_call": round(self.cpu_s / max(1, self.ok) * 1e6, 1)}  # fmt: skip

    def by_process(self) -> dict[str, int]:
        """CPU per call in microseconds by process name (empty unless measured by name)."""
        return {name: round(cpu / max(1, self.ok) * 1e6)
                for name, cpu in sorted(self.cpu_by_name.items())}  # fmt: skip


def run_sipp(args: list[str], work: Path, rate: int, timeout: float) -> Step:
    """Run one sipp UAC (with ``-trace_rtt``) in ``work``; parse its counts and delays."""
    try:
        proc = subprocess.run(args, capture_output=True, cwd=work, timeout=timeout, check=False)
        screen = proc.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:  # the system collapsed: sipp never finished
        screen = ""
    return Step(rate, _last(screen, "Outgoing calls created"), _last(screen, "Successful call"),
                _rtts(work))  # fmt: skip


def _last(screen: str, label: str) -> int:
    """The cumulative column of a row of sipp's final statistics screen."""
    rows = re.findall(rf"{label}\s*\|\s*(\d+)\s*\|\s*(\d+)", screen)
    return int(rows[-1][1]) if rows else 0


def _rtts(work: Path) -> list[float]:
    values: list[float] = []
    for path in work.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    values.append(float(parts[1]))
                except ValueError:
                    continue
    return values


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process in group ``pgid``."""
    return sum(group_cpu_by_name(pgid).values())


def group_cpu_by_name(pgid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far in group ``pgid``, by process name."""
    totals: dict[str, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
            fields = rest.split()
        except (OSError, ValueError):
            continue
        if int(fields[2]) == pgid:
            name = head.partition("(")[2]
            totals[name] = totals.get(name, 0) + int(fields[11]) + int(fields[12])
    return {name: ticks / TICKS for name, ticks in totals.items()}


def rates_from(steps: list[int], top: int = MAX_RATE) -> list[int]:
    """The listed steps, then 25% more at a time up to ``top``."""
    rates = [rate for rate in steps if rate <= top]
    while rates and rates[-1] < top:
        rates.append(min(top, int(rates[-1] * 1.25 / 100 + 0.5) * 100))
    return rates


def ramp(
    run: Callable[[int], Step], steps: list[int], label: str, top: int = MAX_RATE
) -> tuple[int, list[Step]]:
    """The highest clean rate, and every step run (the retried ones included)."""
    best, runs = 0, []
    for rate in rates_from(steps, top):
        result = run(rate)
        runs.append(result)
        if not result.clean:
            time.sleep(2)
            result = run(rate)
            runs.append(result)
        print(f"  {label:22} {rate:6} cps: {result.ok}/{result.created} ok, "
              f"p99 {result.percentile(0.99):8.1f} ms, {'clean' if result.clean else 'NOT clean'}",
              flush=True)  # fmt: skip
        if not result.clean:
            break
        best = rate
        time.sleep(1.5)
    return best, runs


def wait_for_line(proc: subprocess.Popen[bytes], log: Path, marker: bytes, seconds: float) -> None:
    """Until ``marker`` shows in ``log``, the started process's output; RuntimeError (with
    the log) if the process exits first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while marker not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{proc.args!r} did not start:\n{tail}")
        time.sleep(0.05)


def start_plain(
    work: Path,
    port: int,
    target: str,
    module_dir: str,
    *,
    memory: tuple[int, int] = (256, 16),
    managers: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """The baseline Kamailio of kamailio_plugin/plain.cfg (4 children) on 127.0.0.1:``port``,
    relaying to ``target``; ``memory`` is its shared and private memory in MB, ``managers``
    the allocator options it starts with (``-x``/``-X``; none: Kamailio's default)."""
    text = (Path(__file__).with_name("kamailio_plugin") / "plain.cfg").read_text()
    for key, value in {"@LISTEN@": f"127.0.0.1:{port}", "@CHILDREN@": "4",
                       "@MPATH@": module_dir, "@TARGET@": target}.items():  # fmt: skip
        text = text.replace(key, value)
    cfg = work / "plain.cfg"
    cfg.write_text(text)
    argv = ["kamailio", "-DD", "-E", "-f", str(cfg), "-m", str(memory[0]), "-M", str(memory[1]),
            *managers, "-w", str(work)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    time.sleep(1.5)
    if proc.poll() is not None:
        raise RuntimeError(f"plain Kamailio did not start (exit {proc.returncode})")
    return proc


def extract(rev: str, into: Path) -> Path:
    """Write the ``sipguard`` package of git revision ``rev`` under ``into`` (made if missing)."""
    into.mkdir(exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "sipguard"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        sys.exit(f"cannot take revision {rev}: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into
