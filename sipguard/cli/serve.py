"""``sipguard serve``: run the B2BUA on UDP and TCP, with hot reload and graceful shutdown."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:5060"


def register(sub: Any) -> None:
    """Add the ``serve`` command."""
    parser = sub.add_parser(
        "serve",
        help="run the B2BUA",
        description=(
            "Screen every INVITE against the rules, bridge allowed calls and reject the rest, "
            "journaling each decision.  SIGHUP (or editing the rules or consents file) "
            "reloads the rules; SIGTERM or SIGINT stops the server."
        ),
    )
    parser.add_argument("--rules", required=True, type=Path, metavar="FILE", help="rules.yaml")
    parser.add_argument(
        "--listen",
        action="append",
        metavar="HOST:PORT",
        help=f"UDP+TCP address to serve (repeatable; overrides listen:; default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--metrics", metavar="HOST:PORT", help="expose Prometheus metrics over HTTP here"
    )
    parser.add_argument(
        "--udp-queue", type=int, default=8192, metavar="N", help="UDP intake queue bound"
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=None,
        metavar="N",
        help="concurrent calls at most; beyond it new calls get 503 with Retry-After "
        "(per-trunk call rates are each trunk's max_cps in the rules)",
    )
    parser.add_argument(
        "--max-duration",
        type=float,
        default=4 * 3600.0,
        metavar="SECONDS",
        help="end a call with BYE on both legs after this long (default 4 hours)",
    )
    parser.add_argument(
        "--ring-timeout",
        type=float,
        default=181.0,
        metavar="SECONDS",
        help="cancel a call the callee lets ring this long after its last provisional "
        "(RFC 3261 Timer C; default 181)",
    )
    parser.set_defaults(func=run)


def parse_hostport(text: str, default_port: int = 5060) -> tuple[str, int]:
    """Split ``HOST:PORT`` or ``[V6]:PORT`` (the port is optional)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError(f"no host in {text!r}")
    number = int(port) if port else default_port
    if not 0 <= number <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host, number


def run(args: argparse.Namespace) -> int:
    """Load the rules, then serve until SIGTERM/SIGINT; 2 on bad rules or arguments."""
    from sipguard.errors import RulesError
    from sipguard.policy import load_rules

    try:
        ruleset = load_rules(args.rules)
    except RulesError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    try:
        texts = args.listen or list(getattr(ruleset, "listen", None) or []) or [DEFAULT_LISTEN]
        listen = [parse_hostport(t) for t in texts]
        metrics_at = parse_hostport(args.metrics, 9090) if args.metrics else None
    except ValueError as exc:
        print(f"sipguard serve: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_serve(args, ruleset, listen, metrics_at))
    return uvloop.run(_serve(args, ruleset, listen, metrics_at))


async def _serve(
    args: argparse.Namespace,
    ruleset: Any,
    listen: list[tuple[str, int]],
    metrics_at: tuple[str, int] | None,
) -> int:
    from sipguard.adapters.server.shell import Server
    from sipguard.errors import SipguardError

    log = _logger()
    try:
        journal, state = await _journal(ruleset)
    except SipguardError as exc:
        log.error("serve.journal_failed", error=str(exc))
        return 1
    core = _core(ruleset, state, listen[0], args)
    server = Server(core, journal, log, queue_limit=args.udp_queue)
    server.gate.rules_hash = ruleset.version_hash
    try:
        bound = await server.start(listen)
    except OSError as exc:
        log.error("serve.bind_failed", error=str(exc))
        await server.close()
        _close(journal, state)
        return 1
    watcher = _watch_rules(args, ruleset, core, server, log)
    if metrics_at is not None:
        _expose_metrics(metrics_at, server, watcher)
    tasks = _background(server, journal, state)
    log.info("serve.ready", listen=[_show(h, p) for h, p in bound], rules=str(args.rules))
    await _stopped(watcher)
    log.info("serve.stopping")
    for task in tasks:
        task.cancel()
    watcher.stop()
    await server.close()
    _close(journal, state)
    log.info("serve.stopped")
    return 0


def _watch_rules(args: argparse.Namespace, ruleset: Any, core: Any, server: Any, log: Any) -> Any:
    from sipguard.adapters.server.reload import RulesWatcher
    from sipguard.policy import load_rules

    def apply(new: Any) -> None:
        core.reload(new)
        server.gate.rules_hash = new.version_hash

    consents = getattr(ruleset, "consents_path", None)
    watcher = RulesWatcher(args.rules, consents, load_rules, apply, log)
    watcher.start()
    return watcher


async def _stopped(watcher: Any) -> None:
    """Return on SIGTERM or SIGINT; SIGHUP meanwhile asks for a reload."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, watcher.request, "SIGHUP")
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _background(server: Any, journal: Any, state: Any) -> list[asyncio.Task[None]]:
    """The health watch and, with a journal, the service's supervisor."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(_watch_journal(server, state))]
    if journal is not None:
        tasks.append(loop.create_task(journal.supervise()))
    return tasks


async def _journal(ruleset: Any) -> tuple[Any, Any]:
    """The journal service (started and connected) and the write-behind state over it.

    Both are None when the rules name no journal: counts are then kept in memory.  The
    state file beside the journal stays shared with ``sipguard numbers``.
    """
    from sipguard.errors import SipguardError
    from sipguard.journal import launch
    from sipguard.journal.behind import WriteBehindState
    from sipguard.journal.state import SqliteState, state_path_for
    from sipguard.journal.supervise import ServiceJournal
    from sipguard.journal.wire import socket_path_for

    if ruleset.journal_path is None:
        return None, None
    argv = launch.command(
        ruleset.journal_path,
        retention_days=ruleset.model.journal.retention_days,
        watch_pid=os.getpid(),
    )
    journal = ServiceJournal(argv, socket_path_for(ruleset.journal_path))
    try:
        await journal.start()
    except SipguardError:
        journal.close()
        raise
    state = WriteBehindState(SqliteState(state_path_for(ruleset.journal_path)), journal)
    return journal, state


def _core(ruleset: Any, state: Any, local: tuple[str, int], args: argparse.Namespace) -> Any:
    """The B2BUA core."""
    from sipguard.b2bua import B2BUA, Addr, B2BUAConfig

    config = B2BUAConfig(
        local=Addr(local[0], local[1]),
        max_concurrent=args.max_calls,
        max_duration=args.max_duration,
        ring_timeout=args.ring_timeout,
    )
    return B2BUA(ruleset, state=state, config=config)


def _close(journal: Any, state: Any) -> None:
    if journal is not None:
        journal.close()
    if state is not None:
        state.close()


async def _watch_journal(server: Any, state: Any) -> None:
    log = _logger()
    while True:
        await asyncio.sleep(0.5)
        server.check_journal()
        if state is not None:
            try:
                state.refresh()
            except sqlite3.Error as exc:
                log.error("serve.state_refresh_failed", error=str(exc))


def _expose_metrics(at: tuple[str, int], server: Any, watcher: Any) -> None:
    from prometheus_client import start_http_server

    from sipguard.adapters.server.metrics import ServeCollector
    from sipguard.metrics import REGISTRY

    with contextlib.suppress(ValueError):  # registered already (a second server in-process)
        REGISTRY.register(ServeCollector(server, watcher))
    start_http_server(at[1], addr=at[0], registry=REGISTRY)


def _logger() -> Any:
    import structlog

    try:
        from sipguard import logs
    except ImportError:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
            cache_logger_on_first_use=True,
        )
    else:
        logs.configure()
    return structlog.get_logger("sipguard.serve")


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
