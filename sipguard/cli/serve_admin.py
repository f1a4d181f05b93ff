"""The admin API of ``sipguard serve``: its configuration, its start, and its ``/calls`` glue.

Invariants:
- The API is off unless the rules carry an ``admin`` block with a token file; ``--admin``
  only moves its address.  A bad address or token file stops serve before it starts.
- It runs on serve's own event loop; its backend reads the call core, the shell's journal
  gate, the journal and the rules watcher, and writes the journal only through admin
  entries (see ``sipguard.adapters.admin``).
- ``GET /calls`` uses the same filters and query as ``sipguard calls``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import structlog

from sipguard.adapters.admin.backend import BadRequest, CallFilters, CallTable
from sipguard.adapters.admin.serve_backend import RulesView
from sipguard.adapters.admin.server import DEFAULT_PORT, AdminServer, is_loopback, start_admin
from sipguard.adapters.admin.tokens import Tokens, load_tokens
from sipguard.adapters.admin.wiring import CoreView, serve_backend
from sipguard.adapters.server.metrics import ServeCollector
from sipguard.adapters.server.reload import RulesWatcher
from sipguard.adapters.server.shell import Server
from sipguard.cli.calls import FIELDS, call_dict, query_from_args
from sipguard.cli.journal import Target, UsageError
from sipguard.journal.backends import open_store
from sipguard.journal.supervise import ServiceJournal
from sipguard.metrics import REGISTRY
from sipguard.policy import Ruleset
from sipguard.policy.hostport import parse_hostport

AdminConfig = tuple[tuple[str, int], Tokens]


def admin_config(address: str | None, ruleset: Ruleset) -> AdminConfig | None:
    """((host, port), tokens) of the admin API, or None when it is off; ValueError if bad."""
    token_path = ruleset.admin_token_path
    if token_path is None:
        if address:
            raise ValueError("--admin needs an admin: block with token_file in the rules")
        return None
    text = address or ruleset.admin_listen or ""
    where = parse_hostport(text, ephemeral=True).with_port(DEFAULT_PORT)
    return where, load_tokens(token_path)


async def start(
    admin: AdminConfig, rules_path: Path, parts: tuple[CoreView, Server, RulesWatcher],
    journal: ServiceJournal | None, journal_path: Path | str | None,
    log: structlog.stdlib.BoundLogger,
) -> AdminServer:  # fmt: skip
    """Start the admin API on this loop; OSError when its address cannot be bound."""
    core, server, watcher = parts
    with contextlib.suppress(ValueError):  # registered already (--metrics, or in-process)
        REGISTRY.register(ServeCollector(server, watcher))
    (host, port), tokens = admin
    backend = serve_backend(core, server, journal, watcher, rules_path, admin_calls, journal_path)
    api = await start_admin(backend, tokens, host, port, log.error)
    if not is_loopback(host):
        log.warning("admin.not_loopback", listen=f"{host}:{port}", advice="use a TLS proxy")
    if tokens.readable_by_others:
        log.warning("admin.token_file_readable", advice="chmod 600 the token file")
    log.info("admin.ready", listen=[f"{h}:{p}" for h, p in api.addresses])
    return api


def admin_calls(
    path: Path | str, rules: Callable[[], RulesView]
) -> Callable[[CallFilters], CallTable]:
    """``GET /calls``: the filters and query of ``sipguard calls``, run against the journal.

    Times are shown and read in the rules' zone, as ``sipguard calls --rules`` does.
    """

    def query(filters: CallFilters) -> CallTable:
        ruleset = rules()
        assert isinstance(ruleset, Ruleset)  # serve's core holds a full ruleset
        target = Target(path, ruleset)
        try:
            q = query_from_args(argparse.Namespace(**asdict(filters)), target)
        except UsageError as exc:
            raise BadRequest(str(exc)) from exc
        store = open_store(path)
        try:
            rows = [call_dict(r.decision, r.outcome, target.zone) for r in store.calls(q)]
        finally:
            store.close()
        return CallTable(FIELDS, rows)

    return query
