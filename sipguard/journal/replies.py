"""The journal service's answers to one commit: its acks, or its failure, per connection.

Invariants:
- Each connection gets all its answers to one commit in one write (the caller joins the
  parts): the acks ``[id, "ok", seq, prev_hash, hash]`` of its entries (an entry sent with
  id 0 gets none), ``[id, "ok", null]`` for its ``put`` and ``sync`` requests, then the
  commit's statistics ``[0, "stats", entries, seconds]`` when the commit wrote entries.
- A failed commit answers every request in it, id 0 included (so a client counts what it
  sent without waiting), with ``[id, "error", kind, detail]``, and is logged once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import structlog

from sipguard.journal.wire import frame
from sipguard.journal.writer import JournalUnavailable, error_class

__all__ = ["Acks", "Appends", "Link", "answers", "failures"]
_log = structlog.get_logger("sipguard.journal.service")
Link = tuple[int, str, str]  # an appended entry's seq, prev_hash and hash
Appends = list[tuple[Any, int, tuple[Any, ...]]]  # (connection, request id, entry body)
Acks = list[tuple[Any, int]]
Replies = dict[Any, list[bytes]]


def failures(appends: Appends, acks: Acks, exc: Exception) -> Replies:
    """Every request of a failed commit answered with the failure's kind (logged once)."""
    kind = error_class(exc) if isinstance(exc, sqlite3.Error) else "internal"
    kind = exc.error if isinstance(exc, JournalUnavailable) else kind  # PostgreSQL's
    _log.error("journal_service.commit_failed", error=kind, detail=str(exc))
    replies: Replies = {}
    for conn, rid in [(c, r) for c, r, _ in appends] + acks:
        replies.setdefault(conn, []).append(frame([rid, "error", kind, str(exc)]))
    return replies


def answers(appends: Appends, links: Sequence[Link], acks: Acks, seconds: float) -> Replies:
    """The acks of a commit, and its statistics to every connection that had a request in it."""
    replies: Replies = {}
    for (conn, rid, _), (seq, prev, digest) in zip(appends, links, strict=True):
        if rid:  # id 0 wants no answer (a failure is still answered, to be counted)
            replies.setdefault(conn, []).append(frame([rid, "ok", seq, prev, digest]))
    for conn, rid in acks:
        replies.setdefault(conn, []).append(frame([rid, "ok", None]))
    if appends:
        stats = frame([0, "stats", len(appends), seconds])
        for parts in replies.values():
            parts.append(stats)
    return replies
