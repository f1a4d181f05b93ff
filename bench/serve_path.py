"""CPU per call of serve's whole path in one process, without sipp: old code against new.

    .venv/bin/python bench/serve_path.py [--calls 600] [--rounds 3] [--old REV]

The real server shell (``adapters.server.shell.Server``) around the real call core, on the
real journal service (a child process, as ``serve`` runs it), with structured logging on
(to a file) and the metrics counted.  Only the sockets are left out: datagrams are handed
to the shell's UDP input as the endpoint would, and its sends are collected, so there are no
retransmissions, no sipp, and nothing else on the machine changes how many messages a call
takes.  Fake peers answer at once, one call at a time, on ``bench_serve.py``'s rules and
calls: a bridged call is an outbound call with consent (INVITE, 100, the leg-B INVITE after
the journal's ack, 200, ACK, BYE, 200); a rejected call is one from an unfiled number (100,
403 after the ack, ACK).

Reported per call: the CPU time of this process (the shell, core, gate, journal client,
logging and the fake peers, which are the same code on both sides) and of the journal
service.  With ``--old REV`` the code of revision ``REV`` (``git archive``) runs the same
calls, each side in a fresh interpreter, in turns; medians and new/old are printed, and
the median of each turn's new/old (the two runs of a turn see about the same machine).  For
a figure no other load can move, count instructions: valgrind's ``callgrind`` on
``--child --calls 120`` minus ``--child --calls 20``, each revision on ``PYTHONPATH``, over
100 gives the instructions of one bridged plus one rejected call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class FakeUdp:
    """Stands in for the shell's UDP endpoint: collects what it sends, by destination."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, int], list[bytes]] = {}
        self.waiter: asyncio.Future[None] | None = None  # woken by the next send

    def send(self, data: bytes, host: str, port: int) -> None:
        self.sent.setdefault((host, port), []).append(data)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def take(self, dest: tuple[str, int]) -> list[bytes]:
        return self.sent.pop(dest, [])


async def until(udp: FakeUdp, sent: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait, without spinning, for sends (the journal's ack arrives) until ``sent()`` holds."""
    while not sent():
        udp.waiter = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(udp.waiter, limit)


async def run_calls(calls: int, warmup: int) -> dict[str, float]:
    """Child side: the calls through this interpreter's ``sipguard``; CPU per call."""
    import bench_b2bua as b  # the sipguard on PYTHONPATH, old or new
    import bench_serve  # its rules: no cps cap, consent for the callee

    from sipguard import logs
    from sipguard.adapters.server.shell import Server
    from sipguard.journal import launch
    from sipguard.journal.supervise import ServiceJournal
    from sipguard.journal.wire import socket_path_for

    logs.configure()
    folder = Path(tempfile.mkdtemp(prefix="serve-path-"))
    net = 5090
    (folder / "rules.yaml").write_text(bench_serve.RULES.format(net_port=net))
    (folder / "consents.csv").write_text(bench_serve.CONSENTS)
    db = folder / "journal.db"
    journal = ServiceJournal(launch.command(db, watch_pid=os.getpid()), socket_path_for(db))
    await journal.start()
    core = b.B2BUA(b.load_rules(folder / "rules.yaml"),
                   config=b.B2BUAConfig(local=b.Addr("127.0.0.1", 5060)))  # fmt: skip
    server = Server(core, journal, None)
    udp = FakeUdp()
    server._udp_by_family[2] = udp
    trunk, network = (bench_serve.UAC_IP, 5062), (bench_serve.UAS_IP, net)
    caller, callee = bench_serve.CALLER, bench_serve.CALLEE

    async def bridged(i: int) -> None:
        server._on_udp(b.invite(i, caller, callee, b.Addr(*trunk)), *trunk)
        await until(udp, lambda: network in udp.sent)
        udp.take(trunk)  # 100 Trying
        (b_inv,) = udp.take(network)
        server._on_udp(b.answer(b_inv, b"200 OK", b"cc%d" % i, b.SDP), *network)
        udp.take(network)  # our ACK
        (ok,) = udp.take(trunk)
        server._on_udp(b.request_after(ok, b"ACK", 1, b"z9hG4bKack%d" % i), *trunk)
        server._on_udp(b.request_after(ok, b"BYE", 2, b"z9hG4bKbye%d" % i), *trunk)
        udp.take(trunk)  # 200 to the BYE
        (bye,) = udp.take(network)
        server._on_udp(b.answer(bye, b"200 OK"), *network)

    rejections: dict[bytes, int] = {}

    def is_final(message: bytes) -> bool:
        return message.startswith(b"SIP/2.0 ") and not message.startswith(b"SIP/2.0 1")

    async def rejected(i: int) -> None:
        server._on_udp(b.invite(i, bench_serve.UNFILED, callee, b.Addr(*trunk)), *trunk)
        await until(udp, lambda: any(is_final(m) for m in udp.sent.get(trunk, [])))
        final = udp.take(trunk)[-1]
        status = final.split(b" ", 2)[1]
        rejections[status] = rejections.get(status, 0) + 1
        branch = b.fields(final)[1][b"via"].split(b";branch=")[1].split(b";")[0]
        server._on_udp(b.request_after(final, b"ACK", 1, branch), *trunk)

    out: dict[str, float] = {}
    assert journal._proc is not None
    service = journal._proc.pid
    for name, call in (("bridged", bridged), ("rejected", rejected)):
        for i in range(warmup):
            await call(10_000_000 + i + (0 if name == "bridged" else 5_000_000))
        own, theirs = time.process_time(), process_cpu(service)
        for i in range(calls):
            await call(i + (0 if name == "bridged" else 1_000_000))
        await asyncio.sleep(0.05)  # the outcomes' late flush, acked
        out[f"{name}_us"] = (time.process_time() - own) / calls * 1e6
        out[f"{name}_service_us"] = (process_cpu(service) - theirs) / calls * 1e6
    await server.close()
    journal.close()
    if set(rejections) != {b"403"}:
        raise RuntimeError(f"rejected calls were answered {rejections}, not all 403")
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(code: Path, args: argparse.Namespace) -> dict[str, float]:
    """One side's figures, from a fresh interpreter with ``code`` first on the path.

    The figures come back in a file, not on a pipe: the journal service the run starts
    would hold a pipe open after a crashed run, and the wait for its end would hang.
    """
    env = {**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{HERE}"}
    with tempfile.TemporaryFile() as log, tempfile.NamedTemporaryFile("r") as out:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--calls",
               str(args.calls), "--out", out.name]  # fmt: skip
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log,
                              check=False, timeout=600)  # fmt: skip
        if done.returncode != 0:
            log.seek(0)
            sys.exit(f"the run failed:\n{log.read()[-3000:].decode(errors='replace')}")
        result: dict[str, float] = json.loads(out.read())
    return result


def main() -> int:
    """Run the sides in turns and print their medians (and new/old with ``--old``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=600, help="calls of each kind per run")
    ap.add_argument("--rounds", type=int, default=3, help="runs per side")
    ap.add_argument("--old", help="git revision run in turns with this checkout")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        text = json.dumps(asyncio.run(run_calls(args.calls, warmup=50)))
        if args.out:
            Path(args.out).write_text(text)
        else:
            print(text)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"new": ROOT}
        if args.old:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.old, "sipguard"],
                                     capture_output=True, check=True)  # fmt: skip
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            sides = {"old": Path(tmp), "new": ROOT}
        rows: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, code in sides.items():
                rows[side].append(child(code, args))
                print(f"  {side:3} {json.dumps({k: round(v) for k, v in rows[side][-1].items()})}",
                      flush=True)  # fmt: skip
    medians = {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
               for side, rs in rows.items()}  # fmt: skip
    for side, figures in medians.items():
        rounded = {k: round(v) for k, v in figures.items()}
        print(f"{side:3} medians, us per call: {json.dumps(rounded)}")
    if args.old:
        ratio = {k: round(medians["new"][k] / medians["old"][k], 3) for k in medians["new"]}
        print(f"new/old of the medians: {json.dumps(ratio)}")
        turns = {k: round(statistics.median(n[k] / o[k] for o, n in zip(rows["old"], rows["new"],
                                                                         strict=True)), 3)
                 for k in medians["new"]}  # fmt: skip
        print(f"median of each turn's new/old: {json.dumps(turns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
