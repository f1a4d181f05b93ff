"""The journal service: one process that owns the journal and the state, on a Unix socket.

Invariants:
- One process per journal file: it holds an exclusive lock on ``<socket>.lock`` for its
  whole life, so a second one started for the same journal exits at once (status 3) and
  its starter simply connects to the first.
- Group commit on one event loop: requests are read as they arrive (the frames of one read
  taken together); a batch is committed at the end of the loop pass in which its first
  waiting request arrived, or, when :class:`CommitPacer` expects more soon from someone,
  up to ``commit_delay`` later (see ``pacing``); it takes everything that arrived meanwhile.
  One commit is: the state statements of the batch (``synchronous=NORMAL`` file; if that
  file fails they wait for the next batch, logged and counted, and the journal goes on),
  then the journal entries (one ``BEGIN IMMEDIATE`` transaction, ``synchronous=FULL``
  unless started with ``--sync normal``; in SQLite straight from their checked bodies,
  ``store.append_bodies``), then every reply of the batch, one write per connection
  (``replies``).  So an ``append`` is acked only once durable, and a state op a client
  sent before an entry is on disk before that entry's ack (while the state file can be
  written at all).  An entry body that cannot be stored is refused on receipt, alone.
- ``do`` state ops run at once on the in-memory state (:class:`CachedState`, loaded from the
  state file at start) and are answered at once; a change they make is committed with the
  next batch, at the latest :data:`STATE_DELAY` later (a read commits nothing); a request
  with id 0 gets no answer (an ``append`` then waits at most :data:`LATER_DELAY`).  ``put``
  and ``sync`` wait for the commit.  Another process writing the state file (``sipguard
  numbers``) is noticed through SQLite's ``data_version`` (looked at after a commit at
  most every :data:`RELOAD_EVERY`, and every half second) and the memory reloaded.
- ``decide`` (``[id, "decide", [[op, expected?], ...], entry body or null]``) runs its ops
  like ``do``, up to the first whose result is not its ``expected``.  If all held and there
  is an entry, that is queued like an ``append`` (acked once durable, the ops' changes in
  its commit); else the answer is at once ``[id, "ok", results of the ops run]`` and no
  entry is written: one round trip for a decision and its counts, nothing on a wrong guess.
- After a commit with entries, each connection that had a request in it also gets
  ``[0, "stats", entries, seconds]`` (the batch size and commit time, for the metrics).
- Nothing kills the loop: a failed commit (full disk, locked, I/O, anything) fails exactly
  that batch's requests with ``[id, "error", kind, detail]``, logged; a malformed frame
  closes only its connection.
- It stops on SIGTERM (and SIGINT, unless it has a ``--watch-pid``) or when the process
  named by ``--watch-pid`` is gone, after committing what it holds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from sipguard import metrics
from sipguard.journal.backends import Store
from sipguard.journal.cache import CachedState, apply_op, count_floor
from sipguard.journal.lockfile import alive, take_lock
from sipguard.journal.pacing import CommitPacer
from sipguard.journal.record import Entry, checked_body
from sipguard.journal.replies import Acks, Appends, Link, answers, failures
from sipguard.journal.state import SqliteState, state_path_for
from sipguard.journal.store import JournalStore
from sipguard.journal.wire import Op, ProtocolError, frame
from sipguard.journal.writer import JournalUnavailable

__all__ = ["Conn", "JournalService", "take_lock"]
_log = structlog.get_logger("sipguard.journal.service")
STATE_DELAY = 0.005  # a state change with no entry behind it is committed this soon
LATER_DELAY = 0.02  # an entry nobody waits for rides the next commit, at most this late
COMMIT_DELAY = 0.003  # the longest a batch a client waits on is held open (see pacing)
RELOAD_EVERY = 0.05  # outside changes to the state file are looked for at most this often


class Conn(Protocol):
    """A client connection, as the service answers it (see ``journal.listener``)."""

    def send(self, data: bytes) -> None:
        """Write ``data`` to the client (dropped once it is gone)."""


class JournalService:
    """The journal store, the state and the group commit; driven by an asyncio loop."""

    def __init__(
        self,
        journal_path: str | Path,
        state_path: str | Path | None = None,
        *,
        sync: str = "full",
        commit_delay: float = COMMIT_DELAY,
        retention_days: int | None = None,
        purge_every: float = 86_400.0,
        clock: Callable[[], datetime] | None = None,
        schedule: Callable[[Callable[[], None], float], object] | None = None,
        store: Store | None = None,
    ) -> None:
        self.store = JournalStore(journal_path) if store is None else store
        if sync == "normal" and isinstance(self.store, JournalStore):
            self.store.conn.execute("PRAGMA synchronous=NORMAL")
        self.state_db = SqliteState(state_path or state_path_for(journal_path))
        self.state = CachedState(persist=True)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.state_db.load(self.state, counts_from=count_floor(self._clock()))
        self._appends: Appends = []
        self._acks: Acks = []
        self._due: float | None = None  # when the next commit is scheduled
        self._token = 0  # names the scheduled commit; an older one is void
        self._next_reload = 0.0
        self.pacer = CommitPacer(commit_delay)
        self._retention = retention_days
        self._purge_every = purge_every
        self.commits = 0
        self._call_soon = schedule or _on_loop

    def handle(self, conn: Conn, message: list[Any]) -> None:
        """Take one request; answer it now or queue it for the next commit."""
        self.received(conn, [message])

    def received(self, conn: Conn, messages: list[list[Any]]) -> None:
        """Take the requests of one read, in order; answer each now or queue it."""
        waiting = 0
        for message in messages:
            try:
                waiting += self._take(conn, int(message[0]), message[1], message)
            except (ProtocolError, ValueError, TypeError, IndexError) as exc:
                rid = message[0] if message and isinstance(message[0], int) else 0
                conn.send(frame([rid, "error", "request", str(exc)]))
        if waiting:
            now = time.monotonic()
            self._schedule(self.pacer.arrived(conn, now, waiting), now)

    def _take(self, conn: Conn, rid: int, op: object, message: list[Any]) -> bool:
        """Run or queue request ``rid``; True when it waits for the next commit."""
        if op == Op.APPEND:
            self._appends.append((conn, rid, checked_body(message[2])))
            if not rid:  # nobody waits for it: it rides the next commit
                self._schedule(LATER_DELAY)
            return bool(rid)
        if op == Op.DO:
            result = apply_op(self.state, message[2])
            if rid:  # id 0: the client wants no answer
                conn.send(frame([rid, "ok", result]))
            if self.state.dirty:  # rides the next commit, or its own shortly
                self._schedule(STATE_DELAY)
            return False
        if op == Op.PUT:
            apply_op(self.state, message[2])
        elif op == Op.DECIDE:
            return self._decide(conn, rid, message[2], message[3])
        elif op != Op.SYNC:
            raise ProtocolError(f"unknown op {op!r}")
        self._acks.append((conn, rid))
        return True

    def _decide(self, conn: Conn, rid: int, ops: list[Any], body: list[Any] | None) -> bool:
        """Run a ``decide``; True when its entry was queued for the next commit."""
        entry = checked_body(body) if body is not None else None  # refused before any op runs
        results = []
        for item in ops:
            result = apply_op(self.state, item[0])
            results.append(result)
            if len(item) > 1 and result != item[1]:
                entry = None  # a wrong guess: nothing is recorded on it
                break
        if entry is not None:
            self._appends.append((conn, rid, entry))
            return True
        conn.send(frame([rid, "ok", results]))
        if self.state.dirty:
            self._schedule(STATE_DELAY)
        return False

    def _schedule(self, delay: float = 0.0, now: float | None = None) -> None:
        """Commit after ``delay`` (0: at the end of this loop pass), unless one is due sooner."""
        due = (time.monotonic() if now is None else now) + delay
        if self._due is not None and self._due <= due + 1e-9:
            return
        self._due, self._token = due, self._token + 1
        token = self._token
        self._call_soon(lambda: self._fire(token), delay)

    def _fire(self, token: int) -> None:
        if token == self._token:  # else a sooner commit took its place
            self.commit()

    def commit(self) -> None:
        """Make everything received durable, then answer it (or fail it, never die)."""
        self._due, self._token = None, self._token + 1
        self.pacer.committed()
        if not self._appends and not self._acks and not self.state.dirty:
            return
        appends, acks = self._appends, self._acks
        self._appends, self._acks = [], []
        started = time.perf_counter()
        try:
            self._commit_state()
            links = self._append([body for _, _, body in appends]) if appends else []
        except Exception as exc:  # every failure fails the batch, loudly, and the loop goes on
            replies = failures(appends, acks, exc)
        else:
            self.commits += 1
            replies = answers(appends, links, acks, time.perf_counter() - started)
        for conn, parts in replies.items():
            conn.send(b"".join(parts))
        if started >= self._next_reload:
            self._next_reload = started + RELOAD_EVERY
            self._reload_if_changed()

    def _append(self, bodies: list[tuple[Any, ...]]) -> list[Link]:
        """Chain and store the batch's entries: straight from their bodies in SQLite."""
        if isinstance(self.store, JournalStore):
            return self.store.append_bodies(bodies)
        stored = self.store.append([Entry(*body) for body in bodies])
        return [(int(e.seq or 0), e.prev_hash or "", e.hash or "") for e in stored]

    def _commit_state(self) -> None:
        """Commit the state statements; on failure keep them for the next batch (the
        journal goes on: counts still hold in memory, and records matter more)."""
        statements = self.state.drain()
        if not statements:
            return
        try:
            self.state_db.commit(statements)
        except sqlite3.Error as exc:
            dropped = self.state.requeue(statements)
            metrics.JOURNAL_WRITE_FAILURES.labels(error="state").inc()
            _log.error("journal_service.state_failed", detail=str(exc), dropped=dropped)

    def _reload_if_changed(self) -> None:
        try:
            if not self.state_db.changed_elsewhere():
                return
            fresh = CachedState(persist=True)
            fresh.counts = self.state.counts  # counts are written by this process alone
            self.state_db.load(fresh, counts=False)
        except sqlite3.Error as exc:
            _log.error("journal_service.state_reload_failed", detail=str(exc))
            return
        self.state = fresh
        _log.info("journal_service.state_reloaded")

    def purge(self) -> None:
        """Apply retention (between batches: the loop runs one thing at a time)."""
        if self._retention is None:
            return
        try:
            deleted = self.store.purge(self._clock(), self._retention)
        except (sqlite3.Error, JournalUnavailable) as exc:
            _log.error("journal_service.purge_failed", detail=str(exc))
            return
        if deleted:
            _log.info("journal.purged", deleted=deleted, retention_days=self._retention)

    async def housekeeping(self, watch_pid: int | None, stop: asyncio.Event) -> None:
        """Purge on schedule, notice outside state changes, stop when the watched pid is gone."""
        next_purge = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_purge:
                self.purge()
                next_purge = time.monotonic() + self._purge_every
            if self._due is None and not self.state.dirty:
                self._reload_if_changed()
            self.state.forget_counts_before(count_floor(self._clock()))
            if watch_pid is not None and not alive(watch_pid):
                stop.set()
            await asyncio.sleep(0.5)

    def close(self) -> None:
        """Close both files."""
        self.store.close()
        self.state_db.close()


def _on_loop(callback: Callable[[], None], delay: float) -> object:
    loop = asyncio.get_running_loop()
    return loop.call_later(delay, callback) if delay else loop.call_soon(callback)
