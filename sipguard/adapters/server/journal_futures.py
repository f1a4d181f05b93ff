"""The journal gate's one way of writing, ``submit_then``, for journals that return futures.

The journal service client settles a write by calling ``done(arg, stored)`` from its reply.
A journal that hands back a future instead (the in-process writer thread's
``concurrent.futures.Future``, or an asyncio future) is wrapped here, so the gate has a
single path and both kinds settle the same way.

Invariants:
- ``done(arg, stored)`` runs exactly once per submitted entry, on the loop's thread: with
  the entry the journal made durable, or None when the write failed or was cancelled.
- A thread's future is settled back onto the loop with ``call_soon_threadsafe``; once the
  loop is closed (the server is gone) the call is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sipguard.journal.record import Entry

T = TypeVar("T")
AnyFuture = concurrent.futures.Future[Any] | asyncio.Future[Any]


class FutureJournal(Protocol):
    """A journal whose ``submit`` hands back a future of the stored entry."""

    @property
    def healthy(self) -> bool:
        """False once the writer can no longer make records durable."""
        ...

    def submit(self, entry: Entry) -> AnyFuture:
        """Queue an entry; the future completes once it is durable."""
        ...


def stored_of(future: AnyFuture) -> Entry | None:
    """The durable entry a settled future holds, or None (failed, cancelled, no entry)."""
    if future.cancelled() or future.exception() is not None:
        return None
    result = future.result()
    return result if isinstance(result, Entry) else None


class FutureSubmit:
    """``submit_then`` over a journal that returns futures."""

    def __init__(self, loop: asyncio.AbstractEventLoop, journal: FutureJournal) -> None:
        self._loop = loop
        self._journal = journal

    def submit_then(self, entry: Entry, done: Callable[[T, Entry | None], None], arg: T) -> None:
        """Submit ``entry``; ``done(arg, stored)`` on the loop once its future settles."""
        future = self._journal.submit(entry)
        settle = functools.partial(_settled, done, arg)
        if isinstance(future, asyncio.Future):
            future.add_done_callback(settle)
            return
        loop = self._loop

        def back_to_loop(fut: concurrent.futures.Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is gone
                loop.call_soon_threadsafe(settle, fut)

        future.add_done_callback(back_to_loop)


def _settled(done: Callable[[T, Entry | None], None], arg: T, future: AnyFuture) -> None:
    done(arg, stored_of(future))
