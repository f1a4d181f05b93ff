"""Hot reload of the rules: SIGHUP or a changed file, validated off the loop, swapped whole.

Invariants:
- The rules file, its consents file and its numbers CSV (``reloadguard.data_files`` of the
  rules in force) are polled about once a second for a changed
  signature (mtime, size, inode: ``sipguard.filesig``); a change, or ``request()`` (wired
  to SIGHUP), schedules one reload.
- Only a stable file is loaded: a change seen by polling must be the same on two polls in a
  row, and the files must not change while they are read (``sipguard.reloadguard``); an
  unstable read is not a failure, it is simply tried again at the next poll.
- A reload that ``guard`` says must be held keeps the old rules and is logged once; writing
  the new rules' hash into the confirm file (watched like the rules) lets it through.
- Loading and validation run in a worker thread, so the loop keeps serving calls; the new
  ruleset is applied with a single ``apply(ruleset)`` call on the loop (an atomic swap).
  The cyclic garbage collector is paused while the thread loads (``paused_gc``): building
  10^5 to 10^6 number entries otherwise sets off full collections that hold the GIL for
  tens of milliseconds each, and every call in flight waits on the loop meanwhile
  (``bench/reload_stall.py``).  Reference counting still frees everything; the pause ends
  with the load, once a successful load is frozen out of later collections (as serve
  freezes the rules it swaps in; a reload then held or unstable leaves its rules frozen,
  still freed by reference counting).  The interpreter's switch interval is lowered to
  ``LOAD_SWITCH`` meanwhile (``loading``), so the loop waits less for the GIL it asks for.
- The old rules are let go in a worker thread too (``release_rules``): once no one else
  holds them (calls in flight get ``RELEASE_GRACE`` seconds), their number index is emptied
  there in short steps, so the loop never runs the one long deallocation of 10^6 entries.
  Rules still held after the grace are left to whoever drops them last.
- An invalid file keeps the old rules: every located issue is logged, the failure counted.
- Reloads never overlap; a request during a reload runs one more reload right after it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import structlog

from sipguard.errors import RulesError
from sipguard.filesig import Signature, files_signature
from sipguard.policy.numbers import NumberIndex
from sipguard.policy.ruleset import Ruleset
from sipguard.reloadguard import Hold, confirm_path, confirmed, data_files

Guard = Callable[[Ruleset, Ruleset], Hold | None]
R = TypeVar("R")
#: How long the thread letting old rules go waits for calls in flight to drop them.
RELEASE_GRACE = 2.0
#: The switch interval while rules load (CPython's default is 5 ms).
LOAD_SWITCH = 0.001


@dataclass(slots=True)
class ReloadStats:
    """How many reloads succeeded and failed."""

    ok: int = 0
    failed: int = 0
    unstable: int = 0
    held: int = 0


class RulesWatcher:
    """Watches the rules and consents files and reloads them through ``load``/``apply``."""

    def __init__(
        self,
        rules_path: Path,
        consents_path: Path | None,
        load: Callable[[Path], Ruleset],
        apply: Callable[[Ruleset], None],
        log: structlog.stdlib.BoundLogger,
        interval: float = 1.0,
        *,
        current: Ruleset | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.stats = ReloadStats()
        self._current = current
        self._guard = guard
        self._candidate: tuple[Signature, ...] | None = None
        self._rules_path = rules_path
        numbers = data_files(current)[1] if current is not None else None
        self._data: tuple[Path | None, ...] = (consents_path, numbers)
        self._load = load
        self._apply = apply
        self._log = log
        self._interval = interval
        self._seen = self._signatures()
        self._busy = False
        self._again = False
        self._task: asyncio.Task[None] | None = None
        self._reloads: set[asyncio.Task[bool]] = set()

    def start(self) -> None:
        """Begin polling the files on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._poll())

    def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
        for task in list(self._reloads):
            task.cancel()

    def request(self, trigger: str = "signal") -> None:
        """Schedule a reload (safe to call from a signal handler on the loop)."""
        task = asyncio.get_running_loop().create_task(self.reload(trigger))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def reload(self, trigger: str) -> bool:
        """Load, validate and apply the rules now; True when the new rules are in force."""
        if self._busy:
            self._again = True
            return False
        self._busy = True
        try:
            ok = await self._reload_once(trigger)
            while self._again:
                self._again = False
                ok = await self._reload_once(trigger)
            return ok
        finally:
            self._busy = False

    def _signatures(self) -> tuple[Signature, ...]:
        confirm = confirm_path(self._rules_path)
        return files_signature(self._rules_path, *self._data, confirm)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            now = self._signatures()
            if now == self._seen or self._busy:
                self._candidate = None
            elif now == self._candidate:  # unchanged over a whole poll interval: stable
                self._candidate = None
                await self.reload("file-change")
            else:
                self._candidate = now

    async def _reload_once(self, trigger: str) -> bool:
        before = self._seen = self._signatures()
        loop = asyncio.get_running_loop()
        try:
            ruleset = await loop.run_in_executor(None, loading, self._load, self._rules_path)
        except RulesError as exc:
            self.stats.failed += 1
            for issue in exc.issues:
                self._log.error("rules.invalid", issue=str(issue), trigger=trigger)
            self._log.error("rules.reload_failed", issues=len(exc.issues), kept="old rules")
            return False
        except (OSError, ValueError) as exc:
            self.stats.failed += 1
            self._log.error("rules.reload_failed", error=str(exc), kept="old rules")
            return False
        if self._signatures() != before:
            self.stats.unstable += 1
            self._seen = ()  # not taken: the next poll sees a change and tries again
            self._log.warning("rules.unstable", trigger=trigger, retry="next poll")
            return False
        if self._held(ruleset, trigger):
            return False
        old: list[Ruleset | None] = [self._current]
        self._apply(ruleset)
        self._current = ruleset
        self.stats.ok += 1
        self._data = data_files(ruleset)
        self._seen = self._signatures()
        self._log.info("rules.reloaded", trigger=trigger, rules=str(self._rules_path))
        emptied = await loop.run_in_executor(None, release_rules, old)
        self._log.debug("rules.old_released", emptied_in_reload_thread=emptied)
        return True

    def _held(self, ruleset: Ruleset, trigger: str) -> bool:
        """True (and logged) when the guard holds ``ruleset`` and no one confirmed it."""
        if self._guard is None or self._current is None:
            return False
        hold = self._guard(self._current, ruleset)
        if hold is None or confirmed(self._rules_path, ruleset.version_hash):
            return False
        self.stats.held += 1
        self._log.error(
            "rules.reload_held",
            reason=str(hold),
            trigger=trigger,
            kept="old rules",
            confirm=f"echo {ruleset.version_hash[:16]} > {confirm_path(self._rules_path)}",
        )
        return True


def loading(load: Callable[[Path], R], path: Path) -> R:
    """``paused_gc(load, path)`` with the switch interval at ``LOAD_SWITCH`` (restored)."""
    was = sys.getswitchinterval()
    sys.setswitchinterval(min(was, LOAD_SWITCH))
    try:
        return paused_gc(load, path)
    finally:
        sys.setswitchinterval(was)


def paused_gc(load: Callable[[Path], R], path: Path) -> R:
    """``load(path)`` with the cyclic collector paused (left as it was found afterwards).

    What a successful load made is frozen before the collector resumes: its allocation
    count would otherwise start, at the next allocation, one young-generation pass over
    every object of the new rules (hundreds of milliseconds for 10^6 numbers).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        loaded = load(path)
        gc.freeze()
        return loaded
    finally:
        if was:
            gc.enable()


def release_rules(box: list[Ruleset | None], grace: float = RELEASE_GRACE) -> bool:
    """Drop the rules in ``box`` (its only reference) here, emptying their number index.

    True when the index was emptied in this thread: no one else held the rules within
    ``grace`` seconds, and no one else holds the index.
    """
    rules = box.pop()
    if rules is None:
        return False
    numbers = getattr(rules, "numbers", None)
    del rules  # once nobody else holds the rules, only this frame holds their index
    if not isinstance(numbers, NumberIndex):
        return False
    deadline = time.monotonic() + grace
    while _held_elsewhere(numbers) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _held_elsewhere(numbers):
        return False
    numbers.release()
    return True


def _held_elsewhere(numbers: NumberIndex) -> bool:
    """Does anything but the caller's name hold ``numbers`` (rules that are still alive
    included)?  Counted as references: this function's argument and the caller's name."""
    return sys.getrefcount(numbers) > 3  # the caller's name, this argument, getrefcount's
