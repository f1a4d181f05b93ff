"""Starting the journal service: its command line, a supervised child, a detached daemon.

Invariants:
- ``python -m sipguard.journal.launch --journal PATH`` runs the service in the foreground;
  it exits 3 at once if a service already holds that journal (see ``service``).  With a
  ``postgresql://`` URL instead of a path, ``--socket`` and ``--state`` are required (the
  service is per node, see ``backends``); an unreachable database exits 1 at once.
- :func:`spawn` starts it as a child and waits until its socket answers (``sipguard
  serve`` supervises that child).  :func:`ensure_running` is for a process that must not
  get a child of its own (Kamailio's main process shuts down when a child exits): it
  connects if a service is there, else starts one through an intermediate process that it
  reaps at once, so the service is a grandchild that stays in the caller's process group
  and watches the caller's pid.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sipguard.journal.backends import is_pg_url, pg_module
from sipguard.journal.wire import socket_path_for
from sipguard.journal.writer import JournalUnavailable

if TYPE_CHECKING:
    from sipguard.journal.service import JournalService

ALREADY_RUNNING = 3  # the service's exit status when another one holds the journal
COMMIT_DELAY_MS = 3.0  # see journal.pacing
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes on Linux, the last one a NUL


def command(
    journal: str | Path,
    *,
    state: str | Path | None = None,
    socket: Path | None = None,
    sync: str = "full",
    retention_days: int | None = None,
    watch_pid: int | None = None,
) -> list[str]:
    """The argv that runs the service for ``journal``."""
    argv = [_python(), "-m", "sipguard.journal.launch", "--journal", str(journal), "--sync", sync]
    if state is not None:
        argv += ["--state", str(state)]
    if socket is not None:
        argv += ["--socket", str(socket)]
    if retention_days is not None:
        argv += ["--retention-days", str(retention_days)]
    if watch_pid is not None:
        argv += ["--watch-pid", str(watch_pid)]
    return argv


def _python() -> str:
    exe = Path(sys.executable or "")
    if exe.name.startswith("python"):
        return str(exe)
    return str(Path(sys.exec_prefix) / "bin" / f"python{sys.version_info[0]}")


def answers(socket_path: Path) -> bool:
    """True if something accepts connections on ``socket_path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(socket_path))
        except OSError:
            return False
    return True


def wait_ready(socket_path: Path, timeout: float, proc: subprocess.Popen[bytes] | None) -> None:
    """Wait until the socket answers; JournalUnavailable if it does not in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(socket_path):
            return
        if proc is not None and proc.poll() is not None and proc.returncode != ALREADY_RUNNING:
            raise JournalUnavailable(f"journal service exited with {proc.returncode}", "down")
        time.sleep(0.02)
    raise JournalUnavailable(f"journal service did not start on {socket_path}", "down")


def spawn(argv: list[str], socket_path: Path, timeout: float = 15.0) -> subprocess.Popen[bytes]:
    """Start the service as a child and wait until it listens."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    wait_ready(socket_path, timeout, proc)
    return proc


def ensure_running(argv: list[str], socket_path: Path, timeout: float = 15.0) -> None:
    """Connect to a running service, or start one as a grandchild and wait for it."""
    if answers(socket_path):
        return
    pid = os.fork()
    if pid == 0:  # the intermediate: start the service, then leave at once
        try:
            subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    wait_ready(socket_path, timeout, None)


def main(argv: list[str] | None = None) -> int:
    """Run the service in the foreground until SIGTERM, SIGINT or the watched pid ends."""
    from sipguard.journal.listener import serve
    from sipguard.journal.service import take_lock

    args = _parser().parse_args(argv)
    if is_pg_url(args.journal) and (args.socket is None or args.state is None):
        print("journal service: a PostgreSQL journal needs --socket and --state", file=sys.stderr)
        return 2
    sock = args.socket or socket_path_for(args.journal)
    if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
        print(f"journal service: socket path too long for AF_UNIX: {sock}", file=sys.stderr)
        return 2
    lock = take_lock(sock)
    if lock is None:
        return ALREADY_RUNNING
    _configure_logs()
    try:
        service = _service(args)
    except JournalUnavailable as exc:
        print(f"journal service: {exc}", file=sys.stderr)
        lock.close()
        return 1
    try:
        _run(serve(service, sock, args.watch_pid))
    finally:
        service.close()
        lock.close()
    return 0


def _delay_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1000.0:  # NaN fails both
        raise argparse.ArgumentTypeError(f"a delay in ms from 0 to 1000, not {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    """The service's command line."""
    p = argparse.ArgumentParser(prog="python -m sipguard.journal.launch")
    p.add_argument("--journal", required=True, help="an SQLite file or a postgresql:// URL")
    p.add_argument("--state", type=Path)
    p.add_argument("--socket", type=Path)
    p.add_argument("--sync", choices=("full", "normal"), default="full")
    p.add_argument("--retention-days", type=int)
    p.add_argument(
        "--commit-delay",
        type=_delay_ms,
        default=COMMIT_DELAY_MS,
        metavar="MS",
        help="the longest a batch is held open for more requests, in ms (0: never)",
    )
    p.add_argument("--watch-pid", type=int)
    return p


def _service(args: argparse.Namespace) -> JournalService:
    """The service for ``--journal``: an SQLite file, or a PostgreSQL database."""
    from sipguard.journal.service import JournalService

    store = None
    if is_pg_url(args.journal):
        durable = args.sync == "full"  # normal: synchronous_commit=off, as SQLite's NORMAL
        store = pg_module().PgJournalStore(args.journal, timeout=1.0, durable=durable)
    return JournalService(
        args.journal,
        args.state,
        sync=args.sync,
        commit_delay=args.commit_delay / 1000,
        retention_days=args.retention_days,
        store=store,
    )


def _run(main: object) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


def _configure_logs() -> None:
    from sipguard import logs

    logs.configure()


if __name__ == "__main__":
    sys.exit(main())
