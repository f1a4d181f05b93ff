"""Numbers at registry scale: loading a numbers CSV, and deciding calls against it.

    .venv/bin/python bench/bench_numbers.py [--numbers 1000000] [--trunks 10000] [--small 100000]

Writes one rules file with ``numbers: {file: numbers.csv}`` of ``--numbers`` rows, one with
``--small`` rows, and (the baseline) one with ``--small`` numbers inline in the YAML.  Each
is loaded in a fresh child process, the way every command loads rules, and reports its
load time and peak RSS; every child then decides the same bounded set of outbound and
inbound calls and reports decisions per CPU second.  It prints the figures and the ratios:

- load of the large CSV against the inline baseline (per number and absolute), and whether
  it meets 10 s and 600 MB;
- evaluate with ``--numbers`` filed against evaluate with ``--small`` filed, on the same
  calls (callers drawn from the first ``--small`` numbers, which both files hold): the
  target is ~1, since only the size of the index differs;
- the same ratio with callers spread over every filed number, which also measures the CPU
  caches missing more often over a ten times bigger working set.

Each child is run ``--rounds`` times, small and large alternately, and the best rate of each
is kept, so a busy moment of the machine does not land on one side only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS = 20_000


def _head(trunks: int) -> list[str]:
    ops = max(1, trunks // 10)
    lines = [
        "version: 1",
        'country_code: "86"',
        'national_prefix: "0"',
        'timezone: "Asia/Shanghai"',
        "operators:",
    ]
    for o in range(ops):
        lines += [
            f"  op{o}:",
            f'    name: "Operator {o}"',
            f'    licence: "B2-{20200000 + o}"',
            "    licence_expires: 2030-12-31",
            "    harassment_pledge: true",
            "    outbound_commitment: true",
        ]
    lines.append("trunks:")
    for t in range(trunks):
        peer = f"10.{t // 62500}.{t // 250 % 250}.{t % 250 + 1}"
        lines += [f"  t{t}:", f"    operator: op{t % ops}", f'    peers: ["{peer}"]']
        lines.append(f'    deliver_to: "sip:{peer}:5070"')
    lines += ["network:", '  peers: ["127.0.0.4"]', '  deliver_to: "sip:127.0.0.4:5070"']
    lines += ["outbound:", "  require_consent: false"]
    return lines


def _number(i: int) -> str:
    return str(4000000000 + i * 7)


def write(out: Path, numbers: int, trunks: int, *, inline: bool) -> Path:
    """A rules file of ``numbers`` numbers across ``trunks`` trunks, inline or in a CSV."""
    out.mkdir(parents=True, exist_ok=True)
    ops = max(1, trunks // 10)
    lines = _head(trunks)
    rows = (
        (_number(i), f"op{i % trunks % ops}", f"t{i % trunks}", "true", str(i % 2 == 0).lower())
        for i in range(numbers)
    )
    if inline:
        lines.append("numbers:")
        for n, o, t, inbound, outbound in rows:
            lines.append(f'  - {{number: "{n}", operator: {o}, trunk: {t}, ')
            lines[-1] += f"inbound: {inbound}, outbound: {outbound}}}"
    else:
        lines += ["numbers:", "  file: numbers.csv"]
        with (out / "numbers.csv").open("w", encoding="utf-8") as f:
            f.write("number,operator,trunk,inbound,outbound,usage,valid_from,valid_until\n")
            for n, o, t, inbound, outbound in rows:
                f.write(f"{n},{o},{t},{inbound},{outbound},,2026-01-01,\n")
    (out / "rules.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "rules.yaml"


def child(rules: Path, numbers: int, trunks: int, sample: int) -> None:
    """Load ``rules``, decide CALLS calls twice over (callers among the first ``sample``
    numbers, then among all), print the figures as JSON."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sipguard.cli._common import load_rules_once
    from sipguard.policy import CallFacts, MemoryState, evaluate

    start = time.perf_counter()
    ruleset = load_rules_once(rules)  # as every command loads its rules
    load_s = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    rates = []
    for among in (sample, numbers):
        calls = []
        for k in range(CALLS):
            i = (k * 7919) % among
            t = i % trunks
            peer = f"10.{t // 62500}.{t // 250 % 250}.{t % 250 + 1}"
            callee = str(13800000000 + k)
            calls.append(CallFacts(f"c{k}", peer, 5060, _number(i), peer, None, callee))
            calls.append(CallFacts(f"i{k}", "127.0.0.4", 5060, callee, "gw", None, _number(i)))
        best = float("inf")
        for _ in range(3):
            state = MemoryState()
            cpu = time.process_time()
            for facts in calls:
                evaluate(facts, ruleset, state, now)
            best = min(best, time.process_time() - cpu)
        rates.append(len(calls) / best)
    print(json.dumps({"load_s": load_s, "rss_mb": rss_mb, "rate": rates[0], "spread": rates[1]}))


def run(rules: Path, numbers: int, trunks: int, sample: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, __file__, "--child", str(rules), str(numbers), str(trunks),
            str(sample)]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=True)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--trunks", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3, help="runs of each child, interleaved")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cases = {
            "inline YAML (baseline)": (
                write(base / "y", args.small, args.trunks, inline=True),
                args.small,
            ),
            "CSV, small": (write(base / "s", args.small, args.trunks, inline=False), args.small),
            "CSV, large": (
                write(base / "l", args.numbers, args.trunks, inline=False),
                args.numbers,
            ),
        }
        got: dict[str, dict[str, float]] = {}
        for _ in range(max(1, args.rounds)):
            for name, (path, n) in cases.items():
                fresh = run(path, n, args.trunks, min(n, args.small))
                got[name] = _best(got.get(name), fresh)
    for name, (_, n) in cases.items():
        f = got[name]
        print(
            f"{name:24} {n:>9,} numbers  load {f['load_s']:6.2f} s  peak RSS {f['rss_mb']:6.0f} MB"
            f"  evaluate {f['rate']:>9,.0f}/CPU s"
        )
    yaml, small, large = got["inline YAML (baseline)"], got["CSV, small"], got["CSV, large"]
    per = (large["load_s"] / args.numbers) / (yaml["load_s"] / args.small)
    print(f"load time per number, CSV large / inline YAML: {per:.3f}")
    ratio = large["rate"] / small["rate"]
    print(f"evaluate rate, {args.numbers:,} / {args.small:,} numbers, same calls: {ratio:.2f}")
    spread = large["spread"] / small["spread"]
    print(f"evaluate rate, callers spread over every filed number: {spread:.2f}")
    ok = large["load_s"] < 10 and large["rss_mb"] < 600
    print(f"large CSV within 10 s and 600 MB: {'yes' if ok else 'no'}")


def _best(old: dict[str, float] | None, new: dict[str, float]) -> dict[str, float]:
    """The faster load and rates, the larger RSS, of two runs of one child."""
    if old is None:
        return new
    return {"load_s": min(old["load_s"], new["load_s"]), "rss_mb": max(old["rss_mb"],
            new["rss_mb"]), "rate": max(old["rate"], new["rate"]),
            "spread": max(old["spread"], new["spread"])}  # fmt: skip


if __name__ == "__main__":
    main()
