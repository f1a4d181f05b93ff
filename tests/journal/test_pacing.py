"""The commit pacer: a batch is held only when more is expected and someone may send it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sipguard.journal.pacing import FULL, MISSES, PROBE, CommitPacer
from sipguard.journal.service import JournalService
from sipguard.journal.store import JournalStore
from sipguard.journal.wire import entry_body

from .conftest import decision
from .test_service import FakeConn

GAP = 0.001  # requests every millisecond
DELAY = 0.003


def steady(pacer: CommitPacer, conn: str, start: float, n: int, gap: float = GAP) -> float:
    """``n`` requests from ``conn``, each committed before the next (one at a time)."""
    t = start
    for _ in range(n):
        pacer.arrived(conn, t, 1)
        pacer.committed()
        t += gap
    return t


def test_no_delay_never_holds() -> None:
    """``delay`` 0 is the plain group commit: every batch at the end of its pass."""
    pacer = CommitPacer(0.0)
    t = 0.0
    for i in range(100):
        assert pacer.arrived(f"c{i % 3}", t, 1) == 0.0
        t += GAP / 10
    with pytest.raises(ValueError, match="negative"):
        CommitPacer(-1.0)


def test_an_idle_service_commits_at_once() -> None:
    """The first request after a quiet spell is not held: no gap is known to be short."""
    pacer = CommitPacer(DELAY)
    assert pacer.arrived("a", 10.0, 1) == 0.0
    pacer.committed()
    assert pacer.arrived("a", 12.0, 1) == 0.0  # two seconds apart


def test_a_pipelining_client_is_held_until_the_next_is_not_expected_in_time() -> None:
    """A client that sends without waiting is held, but never past ``delay`` from the first
    request, and not when the next request would come after the hold is over."""
    pacer = CommitPacer(DELAY)
    t = steady(pacer, "a", 0.0, 30)  # the gap settles at about a millisecond
    first = pacer.arrived("a", t, 1)
    assert first == pytest.approx(DELAY)
    second = pacer.arrived("a", t + GAP, 1)  # sent again before its answer
    assert second == pytest.approx(DELAY - GAP)
    assert pacer.arrived("a", t + 2.5 * GAP, 1) == 0.0  # the next would come too late
    pacer.committed()


def test_a_lone_blocking_client_stops_being_held() -> None:
    """One client that waits for every answer is held MISSES times, then only on a probe."""
    pacer = CommitPacer(DELAY)
    t = steady(pacer, "a", 0.0, 30)
    holds = 0
    for _ in range(200):  # 200 ms of one request at a time
        if pacer.arrived("a", t, 1):
            holds += 1
        pacer.committed()
        t += GAP
    assert pacer.waits_for_answers("a")
    assert holds <= MISSES + 200 * GAP / PROBE + 1


def test_blocking_clients_are_not_held_for_each_other() -> None:
    """Four blocking workers (Kamailio's): once each is known to wait for its answers, no
    batch waits for them, on their own or for each other; a probe now and then checks."""
    pacer = CommitPacer(DELAY)
    t, holds = 0.0, 0
    for _ in range(200):  # each sends one request per round; each round is one batch
        for k in range(4):
            holds += pacer.arrived(f"w{k}", t, 1) > 0
            t += GAP / 4
        pacer.committed()
    assert all(pacer.waits_for_answers(f"w{k}") for k in range(4))
    assert holds <= 4 * MISSES + 4 * (t / PROBE + 1)
    assert pacer.arrived("w0", t, 1) == 0.0


def test_a_pipelining_client_is_learnt_again_after_a_probe() -> None:
    """A client taken to block that is seen sending into its own held batch is held again."""
    pacer = CommitPacer(DELAY)
    t = steady(pacer, "a", 0.0, 30 + MISSES)  # the gap settles, then MISSES holds in vain
    assert pacer.waits_for_answers("a")
    for _ in range(int(PROBE / GAP) + 2):  # one request at a time, until the probe
        if pacer.arrived("a", t, 1) > 0:
            break
        pacer.committed()
        t += GAP
    else:
        pytest.fail("no probe within PROBE")
    pacer.arrived("a", t + GAP, 1)  # it sends again before its answer
    pacer.committed()
    assert not pacer.waits_for_answers("a")
    assert pacer.arrived("a", t + 2 * GAP, 1) > 0


def test_a_full_batch_and_a_quiet_connection_end_the_hold() -> None:
    """FULL waiting requests commit at once; a connection silent for long is not waited for."""
    pacer = CommitPacer(DELAY)
    t = steady(pacer, "a", 0.0, 30)
    assert pacer.arrived("a", t, FULL) == 0.0
    pacer.committed()
    pacer.forget("a")
    assert pacer.arrived("b", t + GAP, 1) > 0  # b may still send more
    pacer.committed()
    t = steady(pacer, "b", t + 2 * GAP, 2 * MISSES + 1)  # b waits for each answer
    assert pacer.waits_for_answers("b")
    assert pacer.arrived("b", t, 1) == 0.0  # and a, gone, is not waited for


def test_the_service_holds_a_batch_and_acks_it_only_after_its_commit(db: Path) -> None:
    """Held: two requests of two reads share one commit, and nothing is answered before it;
    a timer that a sooner commit replaced does nothing.  Not held (delay 0): the commit is
    due at the end of the pass, as before pacing."""
    timers: list[tuple[Callable[[], None], float]] = []
    service = JournalService(db, commit_delay=DELAY, schedule=lambda f, d: timers.append((f, d)))
    service.pacer.gap = GAP  # a steady millisecond between requests
    conn = FakeConn()
    service.received(conn, [[1, "append", entry_body(decision(1))]])  # type: ignore[arg-type]
    service.received(conn, [[2, "append", entry_body(decision(2))]])  # type: ignore[arg-type]
    assert [round(d, 3) for _, d in timers] == [DELAY]  # the second changed nothing
    assert conn.replies == [] and JournalStore(db).count() == 0
    timers[0][0]()
    assert [r[:3] for r in conn.replies] == [[1, "ok", 1], [2, "ok", 2]]
    assert service.commits == 1 and [s[2] for s in conn.stats] == [2]
    service.close()
    plain = JournalService(db, commit_delay=0.0, schedule=lambda f, d: timers.append((f, d)))
    plain.pacer.gap = GAP
    plain.received(conn, [[3, "append", entry_body(decision(3))]])  # type: ignore[arg-type]
    assert timers[-1][1] == 0.0
    plain.received(conn, [[4, "sync"]])  # type: ignore[arg-type]
    assert len(timers) == 2  # already due
    plain.commit()
    timers[-1][0]()  # the timer of a commit already done: nothing to do
    assert plain.commits == 1
    assert [r[:3] for r in conn.replies[2:]] == [[3, "ok", 3], [4, "ok", None]]
    plain.close()


def test_a_bad_commit_delay_is_refused_on_the_command_line(db: Path) -> None:
    """The service will not start with a negative or absurd delay, and says why."""
    from sipguard.journal import launch

    for bad in ("-1", "nan", "soon", "5000"):
        with pytest.raises(SystemExit) as exc:
            launch.main(["--journal", str(db), "--commit-delay", bad])
        assert exc.value.code == 2
