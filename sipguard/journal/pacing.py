"""When the journal service commits a batch: at once, or held open a little for more.

Invariants:
- A commit costs about the same CPU (a write of each changed page and one fsync) whether
  it holds one record or twenty, so at a steady moderate rate, where each commit would
  hold one record, a short wait for the next arrival saves most of a commit per record.
  The rule follows PostgreSQL's ``commit_delay`` and ``commit_siblings``: a batch that a
  client waits on is held open for at most ``delay`` seconds from its first such request,
  and only when that wait is likely to pay, that is, when both:

  - the recent gap between arrivals (a moving average) is no longer than ``delay``, so at
    least one more request is expected within it; and
  - a connection heard from within :data:`ACTIVE` seconds may send more without waiting
    for its answers (``sipguard serve``'s asynchronous client does).

  A blocking client (one request at a time, each answer awaited: a Kamailio worker) is
  never waited for: while it waits it sends nothing, and a longer wait for each of its
  requests would cost it more calls than the fsyncs saved.  Which connections block is
  learnt: one that sent nothing more while its batch was held, :data:`MISSES` times in a
  row, is taken to block until it is seen sending into a batch that already holds one of
  its requests; every :data:`PROBE` seconds each gets one more hold, to check.  So a
  blocking client is held :data:`MISSES` times, then once per :data:`PROBE`.
- A held batch is committed at once when no more may come, when it holds :data:`FULL`
  requests, or when the next request is not expected before the hold is over (the last
  arrival plus the recent gap would come too late).
- Holding only moves a commit later; an answer still leaves only after its commit, so what
  an ack promises is unchanged.  ``delay`` 0 turns holding off: every batch is committed
  at the end of the loop pass in which its first request arrived.
- No clock is read here: times come in, in seconds of a monotonic clock.
"""

from __future__ import annotations

__all__ = ["ACTIVE", "FULL", "MISSES", "CommitPacer"]
ACTIVE = 0.05  # a connection heard from this recently may still add to a batch
FULL = 64  # a batch with this many waiting requests is committed without more waiting
MISSES = 3  # held batches in a row a connection added nothing to: it waits for answers
PROBE = 5.0  # how often one taken to wait for answers is given one more hold, to check
_WEIGHT = 0.2  # the moving average's weight of the newest gap
_IDLE = 1.0  # a longer gap counts as this long


class CommitPacer:
    """Told of each read that brings waiting requests; says how long the batch may wait."""

    def __init__(self, delay: float) -> None:
        if delay < 0:
            raise ValueError(f"a commit delay cannot be negative: {delay}")
        self.delay = delay
        self.gap = _IDLE
        self.held = False  # the open batch was held at least once
        self._last: float | None = None
        self._seen: dict[object, float] = {}
        self._misses: dict[object, int] = {}
        self._reads: dict[object, int] = {}  # reads per connection in the open batch
        self._waiting = 0
        self._until: float | None = None  # the open batch is held at most until then
        self._probe_at = 0.0

    def arrived(self, conn: object, now: float, new: int) -> float:
        """``conn`` sent ``new`` requests that wait for the commit; return how long the
        open batch may still wait, from ``now`` (0: commit at the end of this pass)."""
        if self._last is not None:
            self.gap += _WEIGHT * (min(now - self._last, _IDLE) - self.gap)
        self._last, self._seen[conn] = now, now
        if now >= self._probe_at:  # a client whose pace changed is noticed again
            self._probe_at = now + PROBE
            for c, misses in self._misses.items():
                self._misses[c] = min(misses, MISSES - 1)
        reads = self._reads[conn] = self._reads.get(conn, 0) + 1
        if reads > 1:  # it sent again before its answer: it does not wait for answers
            self._misses[conn] = 0
        self._waiting += new
        if not self.delay or self.gap > self.delay or self._waiting >= FULL:
            return 0.0
        if self._until is None:
            self._until = now + self.delay
        if now + self.gap > self._until or not self._more_may_come(now):
            return 0.0  # the next request is not expected in time, or none may come
        self.held = True
        return self._until - now

    def _more_may_come(self, now: float) -> bool:
        for conn in [c for c, seen in self._seen.items() if now - seen > ACTIVE]:
            self.forget(conn)
        return any(self._misses.get(c, 0) < MISSES for c in self._seen)

    def committed(self) -> None:
        """The open batch was committed; learn from it who waits for answers."""
        if self.held:
            for conn, reads in self._reads.items():
                if reads == 1:
                    self._misses[conn] = self._misses.get(conn, 0) + 1
        self._reads.clear()
        self._waiting, self.held, self._until = 0, False, None

    def waits_for_answers(self, conn: object) -> bool:
        """True once ``conn`` is taken for a blocking client."""
        return self._misses.get(conn, 0) >= MISSES

    def forget(self, conn: object) -> None:
        """``conn`` is gone, or has been quiet for longer than :data:`ACTIVE`."""
        self._seen.pop(conn, None)
        self._misses.pop(conn, None)
