"""The pieces of a running ``sipguard serve``, and the order they start and stop in.

Invariants:
- Start: the journal service (when the rules name a journal) and the write-behind state
  over it, then the call core, the shell's sockets, the rules watcher, the metrics and the
  background tasks; ``serve.ready`` is logged only when all of them are up.
- Stop (SIGTERM or SIGINT): background tasks, watcher, shell (pending journal writes get a
  grace period), then journal and state; ``serve.stopped`` is the last line.
- Without a journal the counts are kept in memory and nothing is written to disk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sqlite3
import time
from dataclasses import dataclass

import structlog

from sipguard import allocator, build, logs
from sipguard.adapters.admin.server import AdminServer
from sipguard.adapters.server.memory import trim_every
from sipguard.adapters.server.reload import RulesWatcher
from sipguard.adapters.server.shell import Server
from sipguard.adapters.server.tcp import TcpLimits
from sipguard.alerts import AsyncAlertSender
from sipguard.b2bua import B2BUA, Addr, B2BUAConfig
from sipguard.cli import serve_admin, serve_alerts
from sipguard.cli.serve_admin import AdminConfig, admin_config
from sipguard.cli.serve_journal import start_journal
from sipguard.errors import SipguardError
from sipguard.journal.backends import journal_target
from sipguard.journal.behind import WriteBehindState
from sipguard.journal.supervise import ServiceJournal
from sipguard.metrics import rules_loaded
from sipguard.policy import Ruleset
from sipguard.policy.state import State
from sipguard.reloadguard import Hold, hold_for

Address = tuple[str, int]

__all__ = ["Plan", "admin_config", "serve"]


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the server listens, from the command line and the rules."""

    listen: list[Address]
    metrics: Address | None = None
    admin: AdminConfig | None = None


async def serve(args: argparse.Namespace, ruleset: Ruleset, plan: Plan) -> int:
    """Run the server until SIGTERM or SIGINT; 1 when it cannot start."""
    log = logger()
    try:
        journal, state = await start_journal(ruleset, getattr(args, "state", None))
    except SipguardError as exc:
        log.error("serve.journal_failed", error=str(exc))
        return 1
    core = build_core(ruleset, state, plan.listen[0], args)
    server = Server(
        core, journal, log, queue_limit=args.udp_queue, tcp=tcp_limits(args),
        listed=lambda host: core.rules.classify_source(host)[0] is not None,
    )  # fmt: skip
    server.gate.rules_hash = ruleset.version_hash
    alerts = serve_alerts.start(ruleset, server.gate)
    try:
        bound = await server.start(plan.listen)
    except OSError as exc:
        log.error("serve.bind_failed", error=str(exc))
        await server.close()
        await serve_alerts.stop(alerts)
        close(journal, state)
        return 1
    code = await run(args, ruleset, plan, (core, server, alerts), journal, state, bound)
    close(journal, state)
    log.info("serve.stopped")
    return code


async def run(
    args: argparse.Namespace, ruleset: Ruleset, plan: Plan,
    parts: tuple[B2BUA, Server, AsyncAlertSender], journal: ServiceJournal | None,
    state: State | None, bound: list[Address],
) -> int:  # fmt: skip
    """The bound server's life: reload, metrics, admin API, then serve until stopped."""
    core, server, alerts = parts
    log = logger()
    watcher = watch_rules(args, ruleset, core, server, alerts)
    exposed = plan.metrics is None or expose_metrics(plan.metrics, server, watcher)
    tasks = background(core, server, journal, state)
    api = await start_admin(plan, args, (core, server, watcher), journal, ruleset)
    bound_all = exposed and (plan.admin is None or api is not None)
    if bound_all:
        log.info("serve.ready", listen=[show(h, p) for h, p in bound], rules=str(args.rules),
                 allocator=allocator.active(), build=build.state().kind)  # fmt: skip
        await stopped(watcher)
    log.info("serve.stopping")
    if api is not None:
        await api.close()
    for task in tasks:
        task.cancel()
    watcher.stop()
    await server.close()
    await serve_alerts.stop(alerts)
    return 0 if bound_all else 1


async def start_admin(
    plan: Plan, args: argparse.Namespace, parts: tuple[B2BUA, Server, RulesWatcher],
    journal: ServiceJournal | None, ruleset: Ruleset,
) -> AdminServer | None:  # fmt: skip
    """The admin API when configured; None when off, or (logged) when it cannot bind."""
    if plan.admin is None:
        return None
    try:
        return await serve_admin.start(plan.admin, args.rules, parts, journal,
                                       journal_target(ruleset), logger())  # fmt: skip
    except OSError as exc:
        logger().error("admin.bind_failed", error=str(exc))
        return None


def tcp_limits(args: argparse.Namespace) -> TcpLimits:
    """The TCP limits given on the command line."""
    return TcpLimits(max_connections=args.tcp_max_connections,
                     max_per_source=args.tcp_max_per_source,
                     idle_timeout=args.tcp_idle_timeout)  # fmt: skip


def reload_guard(old: Ruleset, new: Ruleset) -> Hold | None:
    """Hold a reload that drops more filings than the new rules' ``reload_guard`` allows."""
    return hold_for(old, new, new.model.reload_guard.max_drop)


def parties(ruleset: Ruleset) -> list[tuple[str, str]]:
    """Each trunk of ``ruleset`` with its operator, for the metrics' decision series."""
    return [(name, trunk.operator) for name, trunk in ruleset.model.trunks.items()]


def watch_rules(
    args: argparse.Namespace, ruleset: Ruleset, core: B2BUA, server: Server,
    alerts: AsyncAlertSender,
) -> RulesWatcher:  # fmt: skip
    """Hot reload: apply new rules to the core, the journal gate and the alerts, freeze them."""

    def apply(new: Ruleset) -> None:
        core.reload(new)
        server.gate.rules_hash = new.version_hash
        serve_alerts.reloaded(alerts, server.gate, new)
        rules_loaded(new.version_hash, time.time(), parties(new))
        gc.freeze()  # the new rules live long: keep them out of every collection

    rules_loaded(ruleset.version_hash, time.time(), parties(ruleset))
    load = serve_alerts.loader(alerts)
    watcher = RulesWatcher(args.rules, ruleset.consents_path, load, apply, logger(),
                           current=ruleset, guard=reload_guard)  # fmt: skip
    watcher.start()
    return watcher


async def stopped(watcher: RulesWatcher) -> None:
    """Return on SIGTERM or SIGINT; SIGHUP meanwhile asks for a reload."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, watcher.request, "SIGHUP")
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def background(
    core: B2BUA, server: Server, journal: ServiceJournal | None, state: State | None
) -> list[asyncio.Task[None]]:
    """The health watch, the memo sweep and heap trim, and with a journal its supervisor."""
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(watch_journal(server, state)),
        loop.create_task(trim_every(lambda: sweep(core, server), lambda: live_state(core))),
    ]
    if journal is not None:
        tasks.append(loop.create_task(journal.supervise()))
    return tasks


def sweep(core: B2BUA, server: Server) -> None:
    """The periodic sweep: the core's memos and tables, the shell's tables."""
    core.sweep()
    server.sweep()


def live_state(core: B2BUA) -> int:
    """What the call core holds now: transactions, settled records and calls."""
    return core.transactions + core.settled + core.active_calls


def build_core(
    ruleset: Ruleset, state: State | None, local: Address, args: argparse.Namespace
) -> B2BUA:
    """The B2BUA call core."""
    config = B2BUAConfig(
        local=Addr(local[0], local[1]), max_concurrent=args.max_calls,
        max_duration=args.max_duration, ring_timeout=args.ring_timeout,
        fronts=frozenset(args.trust_front),
    )  # fmt: skip
    return B2BUA(ruleset, state=state, config=config)


def close(journal: ServiceJournal | None, state: State | None) -> None:
    """Close the journal client (and the service it supervises) and the state."""
    if journal is not None:
        journal.close()
    if isinstance(state, WriteBehindState):
        state.close()


async def watch_journal(server: Server, state: State | None) -> None:
    """Every 0.5 s: mirror the journal's health into the core and refresh the state."""
    log = logger()
    while True:
        await asyncio.sleep(0.5)
        server.check_journal()
        if isinstance(state, WriteBehindState):
            try:
                state.refresh()
            except sqlite3.Error as exc:
                log.error("serve.state_refresh_failed", error=str(exc))


def expose_metrics(at: Address, server: Server, watcher: RulesWatcher) -> bool:
    """Serve the Prometheus exposition on ``at``; False (logged) when it cannot bind."""
    from prometheus_client import start_http_server

    from sipguard.adapters.server.metrics import ServeCollector
    from sipguard.metrics import REGISTRY

    with contextlib.suppress(ValueError):  # registered already (a second server in-process)
        REGISTRY.register(ServeCollector(server, watcher))
    try:
        start_http_server(at[1], addr=at[0], registry=REGISTRY)
    except OSError as exc:
        logger().error("metrics.bind_failed", address=show(*at), error=str(exc))
        return False
    return True


def logger() -> structlog.stdlib.BoundLogger:
    """The server's logger, with logging configured."""
    logs.configure()
    return structlog.get_logger("sipguard.serve")  # type: ignore[no-any-return]


def show(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
