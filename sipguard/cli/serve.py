"""``sipguard serve``: run the B2BUA on UDP and TCP, with hot reload and graceful shutdown."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sipguard.cli._common import DEFAULT_RULES, RULES_HELP, report_rules_error
from sipguard.policy.hostport import DEFAULT_LISTEN, SIP_PORT, parse_hostport


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
    parser.add_argument(
        "--rules", type=Path, default=DEFAULT_RULES, metavar="FILE", help=RULES_HELP
    )
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
    tcp = parser.add_argument_group("TCP limits")
    tcp.add_argument("--tcp-max-connections", type=int, default=4096, metavar="N",
                     help="accepted TCP connections at most (default 4096)")
    tcp.add_argument("--tcp-max-per-source", type=int, default=64, metavar="N",
                     help="accepted TCP connections per source address (default 64)")
    tcp.add_argument("--tcp-idle-timeout", type=float, default=120.0, metavar="SECONDS",
                     help="close a TCP connection with no message for this long (default 120)")
    parser.set_defaults(func=run)


def parse_listen(text: str, default_port: int = SIP_PORT) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``[V6][:PORT]`` from the command line; port 0 picks a free port."""
    return parse_hostport(text, ephemeral=True).with_port(default_port)


def run(args: argparse.Namespace) -> int:
    """Load the rules, then serve until SIGTERM/SIGINT; 2 on bad rules or arguments."""
    from sipguard.cli._common import load_rules_once
    from sipguard.errors import RulesError

    try:
        ruleset = load_rules_once(args.rules)
    except RulesError as exc:
        report_rules_error(args.rules, exc)
        return 2
    try:
        texts = args.listen or list(getattr(ruleset, "listen", None) or []) or [DEFAULT_LISTEN]
        listen = [parse_listen(t) for t in texts]
        metrics_at = parse_listen(args.metrics, 9090) if args.metrics else None
    except ValueError as exc:
        print(f"sipguard serve: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_serve(args, ruleset, listen, metrics_at))
    return uvloop.run(_serve(args, ruleset, listen, metrics_at))


def _tcp_limits(args: argparse.Namespace) -> Any:
    from sipguard.adapters.server.tcp import TcpLimits

    return TcpLimits(
        max_connections=args.tcp_max_connections,
        max_per_source=args.tcp_max_per_source,
        idle_timeout=args.tcp_idle_timeout,
    )


def _reload_guard(old: Any, new: Any) -> Any:
    """Hold a reload that drops more filings than the new rules' ``reload_guard`` allows."""
    from sipguard.reloadguard import hold_for

    return hold_for(old, new, new.model.reload_guard.max_drop)


async def _serve(
    args: argparse.Namespace,
    ruleset: Any,
    listen: list[tuple[str, int]],
    metrics_at: tuple[str, int] | None,
) -> int:
    from sipguard.adapters.server.reload import RulesWatcher
    from sipguard.adapters.server.shell import Server
    from sipguard.alerts import Alert, AsyncAlertSender, Event, delivery_of
    from sipguard.errors import RulesError
    from sipguard.metrics import rules_loaded
    from sipguard.policy import load_rules

    log = _logger()
    journal, core = _build(ruleset, listen[0], args)
    server = Server(
        core, journal, log, queue_limit=args.udp_queue, tcp=_tcp_limits(args),
        listed=lambda host: core.rules.classify_source(host)[0] is not None,
    )  # fmt: skip
    server.gate.rules_hash = ruleset.version_hash
    alerts = AsyncAlertSender(delivery_of(ruleset.model.alerts))
    alerts.start()  # off the hot path: decisions only enqueue
    server.gate.alert = alerts.send
    server.gate.warn_limits = _warns(alerts)
    try:
        bound = await server.start(listen)
    except OSError as exc:
        log.error("serve.bind_failed", error=str(exc))
        await server.close()
        if journal is not None:
            journal.close()
        return 1
    consents = getattr(ruleset, "consents_path", None)

    def apply(new: Any) -> None:
        core.reload(new)
        server.gate.rules_hash = new.version_hash
        alerts.delivery = delivery_of(new.model.alerts)
        server.gate.warn_limits = _warns(alerts)
        rules_loaded(new.version_hash, time.time())
        gc.freeze()  # the new rules live long: keep them out of every collection

    rules_loaded(ruleset.version_hash, time.time())

    loop = asyncio.get_running_loop()

    def loading(path: Any) -> Any:
        """``load_rules``, with an alert when a reload fails (called in a worker thread)."""
        try:
            return load_rules(path)
        except (RulesError, OSError, ValueError) as exc:
            first = exc.issues[0] if isinstance(exc, RulesError) and exc.issues else exc
            details: dict[str, str | int | float | None] = {"rules": str(path)}
            details["problem"] = str(first)
            alert = Alert(Event.RULES_RELOAD_FAILED, _utc(), details)
            loop.call_soon_threadsafe(alerts.send, alert)
            raise

    watcher = RulesWatcher(
        args.rules, consents, loading, apply, log, current=ruleset, guard=_reload_guard
    )
    watcher.start()
    if metrics_at is not None:
        _expose_metrics(metrics_at, server, watcher)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, watcher.request, "SIGHUP")
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = loop.create_task(_watch_journal(server))
    log.info("serve.ready", listen=[_show(h, p) for h, p in bound], rules=str(args.rules))
    await stop.wait()
    log.info("serve.stopping")
    health.cancel()
    watcher.stop()
    await server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(alerts.drain(), 5)
    await alerts.close()
    if journal is not None:
        journal.close()
    log.info("serve.stopped")
    return 0


def _warns(alerts: Any) -> bool:
    from sipguard.alerts import Event

    return alerts.delivery is not None and Event.LIMIT_WARNING in alerts.delivery.events


def _utc() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _build(ruleset: Any, local: tuple[str, int], args: argparse.Namespace) -> tuple[Any, Any]:
    """The journal writer (None when the rules name no journal) and the B2BUA core.

    Counts, violations and suspensions live in the state file beside the journal, shared
    with ``sipguard numbers``; without a journal they are kept in memory.
    """
    from sipguard.b2bua import B2BUA, Addr, B2BUAConfig
    from sipguard.journal import JournalWriter, SqliteState, state_path_for

    journal = None
    state = None
    if ruleset.journal_path is not None:
        retention = ruleset.model.journal.retention_days
        journal = JournalWriter(ruleset.journal_path, retention_days=retention)
        state = SqliteState(state_path_for(ruleset.journal_path))
    config = B2BUAConfig(
        local=Addr(local[0], local[1]),
        max_concurrent=args.max_calls,
        max_duration=args.max_duration,
        ring_timeout=args.ring_timeout,
    )
    return journal, B2BUA(ruleset, state=state, config=config)


async def _watch_journal(server: Any) -> None:
    while True:
        await asyncio.sleep(0.5)
        server.check_journal()


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
