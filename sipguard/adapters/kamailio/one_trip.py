"""One round trip per decision: the state ops of ``evaluate`` and its record, sent together.

Invariants:
- :class:`OneTripState` is the journal service's State for one worker.  During a decision
  it answers the ops it can guess without asking (a number's suspension from this worker's
  :class:`SuspensionCache`, a daily slot as granted, the ops that return nothing) and keeps
  them; :func:`decide` then sends them with the decision's entry in one ``decide`` request.
  The service runs them in order and appends the entry only if every guess was right, so
  an INVITE costs exactly one durable round trip and is decided as if each op had been
  asked in turn.  An op it cannot guess (a count, a violation) is asked at once, with the
  guesses before it.
- A wrong guess records nothing: the service answers with the results of the ops it ran
  (those up to the wrong one, which are in force), the cache learns them, and the decision
  is made again from the start with those results and every later op asked in turn
  (``evaluate`` is deterministic, so the same facts, rules, time and answers ask the same
  ops); its entry is then appended on its own.  So the verdict and the counts are always
  what the plain, one-op-a-trip :class:`~sipguard.journal.client.RemoteState` would give.
- Guesses are made only inside :func:`decide`: an op outside a decision (an inbound call
  starting or ending, a short-call suspension) is asked in turn, as RemoteState asks it.
- The cache holds only suspensions this worker has seen, at most :data:`CACHE_MAX`; a stale
  one (another worker suspended, an operator resumed) costs one wrong guess, never a wrong
  verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sipguard.errors import SipguardError
from sipguard.journal.cache import encode_op
from sipguard.journal.client import RemoteState, ServiceClient
from sipguard.journal.entries import decision_entry
from sipguard.journal.record import Entry
from sipguard.journal.wire import Wire
from sipguard.journal.writer import JournalUnavailable
from sipguard.policy import Ruleset, evaluate
from sipguard.policy.facts import CallFacts, Verdict
from sipguard.policy.state import State

CACHE_MAX = 100_000


class _NoGuess:
    """The answer of an op that cannot be guessed: it is asked at once."""


NO_GUESS = _NoGuess()
# Ops whose answer is known without asking (the suspension's is the cache's; see _guess).
_GUESSES: dict[str, Wire] = {
    "take_call_slot": True,
    "suspend": None,
    "record_call": None,
    "inbound_started": None,
    "inbound_ended": None,
}


class WrongGuess(Exception):
    """A guessed answer was not the service's: the decision is made again."""


class SuspensionCache:
    """A worker's view of suspensions (wire form), learned from the service's answers."""

    def __init__(self) -> None:
        self._known: dict[str, list[Wire]] = {}

    def get(self, number: str) -> list[Wire] | None:
        """The suspension last seen for ``number`` (None: not suspended, as far as known)."""
        return self._known.get(number)

    def learn(self, op: list[Wire], result: Wire) -> None:
        """Take in what the service answered to ``op``."""
        name, number = op[0], op[1] if len(op) > 1 else None
        if name == "suspension" and isinstance(number, str):
            self._set(number, result if isinstance(result, list) else None)
        elif name == "suspend" and isinstance(number, str) and number not in self._known:
            seen: list[Wire] = [str(v) for v in op[1:5]]
            self._set(number, seen)
        elif name == "resume" and isinstance(number, str):
            self._known.pop(number, None)

    def _set(self, number: str, value: list[Wire] | None) -> None:
        if value is None:
            self._known.pop(number, None)
            return
        if len(self._known) >= CACHE_MAX:
            self._known.clear()
        self._known[number] = value


class OneTripState(RemoteState):
    """RemoteState whose ops of one decision travel together (see the module invariants)."""

    def __init__(self, client: ServiceClient, cache: SuspensionCache | None = None) -> None:
        super().__init__(client)
        self.cache = cache or SuspensionCache()
        self.pending: list[list[Any]] = []  # guessed ops not yet sent: [op, guess]
        self._ran: list[Any] = []  # results of this decision's ops the service ran, in order
        self._replay: list[Any] | None = None  # answers for a decision made again
        self._asked = 0
        self.deciding = False  # guesses are made only inside a decision

    def start(self) -> None:
        """Begin a decision."""
        self.pending, self._ran, self._replay, self._asked = [], [], None, 0
        self.deciding = True

    def end(self) -> None:
        """End the decision: from now on every op is asked in turn, as RemoteState does
        (a call's later ops, such as an inbound call starting or ending, are never held)."""
        self.deciding = False

    def again(self) -> None:
        """Make the decision again: the ops the service ran answer from their results."""
        self.pending, self._replay, self._asked = [], self._ran, 0

    def _do(self, name: str, *args: object) -> Wire:
        if not self.deciding:
            return super()._do(name, *args)
        op = encode_op(name, *args)
        self._asked += 1
        if self._replay is not None:
            if self._asked <= len(self._replay):
                replayed: Wire = self._replay[self._asked - 1]
                return replayed
            return self.client.state_op(op)  # past the wrong guess: one op a trip
        guess = self._guess(op)
        if not isinstance(guess, _NoGuess):
            self.pending.append([op, guess])
            return guess
        results, _ = self.client.decide([*self.pending, [op]], None)
        self._settle([*self.pending, [op]], results)
        last: Wire = results[-1]
        return last

    def _guess(self, op: list[Wire]) -> Wire | _NoGuess:
        name, number = str(op[0]), op[1] if len(op) > 1 else None
        if name == "suspension":
            return self.cache.get(number) if isinstance(number, str) else NO_GUESS
        return _GUESSES.get(name, NO_GUESS)

    def _settle(self, sent: list[list[Any]], results: list[Any]) -> None:
        """Record what the service ran; WrongGuess when it stopped at a wrong guess."""
        self.pending = []
        for item, result in zip(sent, results, strict=False):
            self._ran.append(result)
            self.cache.learn(item[0], result)
            if len(item) > 1 and result != item[1]:
                raise WrongGuess
        if len(results) < len(sent):
            raise WrongGuess

    def finish(self, entry: Entry) -> Entry:
        """Send the guesses with the decision's entry; the entry as stored, once durable."""
        sent = self.pending
        results, stored = self.client.decide(sent, entry)
        if stored is None:
            self._settle(sent, results)
            raise WrongGuess  # every guess held but nothing was stored: never expected
        for item in sent:
            self.cache.learn(item[0], item[1])
        self.pending = []
        return stored


@dataclass(frozen=True, slots=True)
class Decided:
    """A verdict; its entry as stored when the one trip recorded it, or why that failed.

    Neither (``stored`` and ``failed`` None): a guess was wrong, the verdict is the
    one-op-a-trip one, and its entry is still to be appended.
    """

    verdict: Verdict
    stored: Entry | None = None
    failed: JournalUnavailable | None = None


def entry_maker(facts: CallFacts, rules: Ruleset, now: datetime) -> Callable[[Verdict], Entry]:
    """The maker of this call's decision entry, for :func:`decide`."""
    return lambda verdict: decision_entry(facts, verdict, now, rules_hash=rules.version_hash)


def decide(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    make: Callable[[Verdict], Entry],
) -> Decided:
    """Evaluate and, on a :class:`OneTripState`, record in the same round trip.

    ``make(verdict)`` builds the entry.  On any other State the verdict comes back with
    its entry still to be appended.  A JournalUnavailable while evaluating (the state could
    not be read) passes through.
    """
    if not isinstance(state, OneTripState):
        return Decided(evaluate(facts, rules, state, now))
    state.start()
    try:
        return _one_trip(facts, rules, state, now, make)
    finally:
        state.end()


def _one_trip(
    facts: CallFacts,
    rules: Ruleset,
    state: OneTripState,
    now: datetime,
    make: Callable[[Verdict], Entry],
) -> Decided:
    try:
        verdict = evaluate(facts, rules, state, now)
    except WrongGuess:
        return _again(facts, rules, state, now)
    try:
        return Decided(verdict, state.finish(make(verdict)))
    except WrongGuess:
        return _again(facts, rules, state, now)
    except JournalUnavailable as exc:  # the record failed: the caller answers for that
        return Decided(verdict, failed=exc)


def _again(facts: CallFacts, rules: Ruleset, state: OneTripState, now: datetime) -> Decided:
    state.again()
    return Decided(evaluate(facts, rules, state, now))


def append_decision(journal: ServiceClient, entry: Entry, decided: Decided) -> SipguardError | None:
    """Make ``entry`` durable unless :func:`decide` already did; the failure, if one."""
    if decided.failed is not None:
        return decided.failed
    try:
        journal.append([entry])
    except SipguardError as exc:
        return exc
    return None
