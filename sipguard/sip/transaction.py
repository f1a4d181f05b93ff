"""The engine of the four RFC 3261 section 17 transaction state machines.

Everything that affects a transaction's state lives in the tables of
``sipguard.sip.transaction_table``; this engine only executes the listed actions in order.

Invariants:
- input is ``(event, now)``; output is a list of effects (send, pass up, arm/disarm a
  timer, timed out, terminated); nothing here reads a clock or touches a socket;
- a ``(state, event)`` pair absent from a table raises :class:`TransactionError` (h11
  style); pairs where the RFC says to absorb a message map to an empty action list;
- a timer event for a timer that is not armed is ignored (it was cancelled);
- the INVITE machines include RFC 6026's Accepted state: a client absorbs nothing there but
  hands each 2xx retransmission to the TU (which re-ACKs), and a server retransmits its 2xx
  on Timer G's schedule until the TU reports the ACK, or Timer L reports it missing;
- on a reliable transport no retransmission timer is armed and wait timers are zero, so
  the transaction moves on at once (section 17.1.1.2, 17.2.1).
- transaction keys (``sipguard.sip.keys``, re-exported here) follow sections 17.1.3 and
  17.2.3; the ACK of a non-2xx is built there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipguard.errors import SipguardError
from sipguard.sip.keys import MAGIC_COOKIE, TxKey, build_ack, client_key, kind_for, server_key
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.timers import RETRANSMIT, Timer, TimerConfig
from sipguard.sip.transaction_table import (
    EVENT_TIMER,
    TABLES,
    TIMER_EVENT,
    Event,
    Kind,
    Op,
    TxState,
)

__all__ = [
    "MAGIC_COOKIE",
    "Arm",
    "Disarm",
    "Event",
    "Kind",
    "PassUp",
    "Send",
    "Terminated",
    "TimedOut",
    "Transaction",
    "TransactionError",
    "TxEffect",
    "TxKey",
    "TxState",
    "build_ack",
    "client_key",
    "kind_for",
    "response_event",
    "server_key",
]


# Enum members bound once: ``Op.SEND`` goes through ``EnumType``'s attribute hook, several
# times the cost of reading a module name, and ``_run`` compares a few per action.
_SEND, _RESEND_REQUEST, _RESEND_RESPONSE, _SEND_ACK = (
    Op.SEND, Op.RESEND_REQUEST, Op.RESEND_RESPONSE, Op.SEND_ACK,
)  # fmt: skip
_PASS_UP, _ARM, _DISARM, _TIMEOUT = Op.PASS_UP, Op.ARM, Op.DISARM, Op.TIMEOUT
_TERMINATED, _PROCEEDING, _TIMER_E = TxState.TERMINATED, TxState.PROCEEDING, Timer.E
_CLIENT_KINDS = (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)
_MESSAGE_OPS = frozenset({_SEND, _RESEND_REQUEST, _RESEND_RESPONSE, _SEND_ACK, _PASS_UP})


class TransactionError(SipguardError):
    """An event that the transaction's current state does not allow."""


@dataclass(frozen=True, slots=True, init=False)
class Send:
    """Hand ``message`` to the transport."""

    message: Message

    def __init__(self, message: Message) -> None:
        object.__setattr__(self, "message", message)


@dataclass(frozen=True, slots=True, init=False)
class PassUp:
    """Deliver ``message`` to the transaction user."""

    message: Message

    def __init__(self, message: Message) -> None:
        object.__setattr__(self, "message", message)


@dataclass(frozen=True, slots=True, init=False)
class Arm:
    """Start (or restart) ``timer`` to fire at monotonic time ``at``."""

    timer: Timer
    at: float

    def __init__(self, timer: Timer, at: float) -> None:
        object.__setattr__(self, "timer", timer)
        object.__setattr__(self, "at", at)


@dataclass(frozen=True, slots=True, init=False)
class Disarm:
    """Stop ``timer``."""

    timer: Timer

    def __init__(self, timer: Timer) -> None:
        object.__setattr__(self, "timer", timer)


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction failed: ``timer`` expired (B, F, H, L) or, when None, the transport."""

    timer: Timer | None


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is over and may be forgotten."""


TxEffect = Send | PassUp | Arm | Disarm | TimedOut | Terminated


def response_event(status: int, *, sending: bool) -> Event:
    """The event a response of ``status`` raises, received (client) or sent (server)."""
    if status < 200:
        return Event.SEND_1XX if sending else Event.RECV_1XX
    if status < 300:
        return Event.SEND_2XX if sending else Event.RECV_2XX
    return Event.SEND_FINAL if sending else Event.RECV_FINAL


@dataclass(slots=True, init=False)
class Transaction:
    """One transaction of any of the four kinds; feed it events, carry out its effects."""

    kind: Kind
    request: Request
    reliable: bool = False
    config: TimerConfig = field(default_factory=TimerConfig)
    state: TxState = TxState.NEW
    last_response: Response | None = None
    armed: dict[Timer, float] = field(default_factory=dict)
    _intervals: dict[Timer, float] = field(default_factory=dict)

    def __init__(
        self,
        kind: Kind,
        request: Request,
        reliable: bool = False,  # noqa: FBT001, FBT002 (the dataclass field, in order)
        config: TimerConfig | None = None,
        state: TxState = TxState.NEW,
        last_response: Response | None = None,
        armed: dict[Timer, float] | None = None,
        _intervals: dict[Timer, float] | None = None,
    ) -> None:
        self.kind, self.request, self.reliable = kind, request, reliable
        self.config = TimerConfig() if config is None else config
        self.state, self.last_response = state, last_response
        self.armed = {} if armed is None else armed
        self._intervals = {} if _intervals is None else _intervals

    @property
    def is_client(self) -> bool:
        """True for the two client kinds."""
        return self.kind in _CLIENT_KINDS

    @property
    def terminated(self) -> bool:
        """True once the transaction reached Terminated."""
        return self.state is _TERMINATED

    def handle(self, event: Event, now: float, message: Message | None = None) -> list[TxEffect]:
        """Run one event through the table; raise TransactionError if it is not allowed."""
        timer = EVENT_TIMER.get(event)
        if timer is not None:
            if timer not in self.armed:
                return []
            del self.armed[timer]
        entry = TABLES[self.kind].get((self.state, event))
        if entry is None:
            raise TransactionError(f"{self.kind.value}: {event.value} not allowed in {self.state}")
        self.state, actions = entry
        out: list[TxEffect] = []
        due: list[Timer] = []
        for op, which in actions:
            self._run(op, which, event, message, now, out, due)
        for which in due:
            out.extend(self.handle(TIMER_EVENT[which], now))
        return out

    def start(self, now: float) -> list[TxEffect]:
        """Client: send the request."""
        return self.handle(Event.START, now)

    def receive_response(self, response: Response, now: float) -> list[TxEffect]:
        """Client: a response matched this transaction."""
        return self.handle(response_event(response.status, sending=False), now, response)

    def receive_request(self, request: Request, now: float) -> list[TxEffect]:
        """Server: the request, a retransmission of it, or (INVITE) its ACK arrived."""
        event = Event.ACK if request.method == "ACK" else Event.REQUEST
        return self.handle(event, now, request)

    def respond(self, response: Response, now: float) -> list[TxEffect]:
        """Server: the TU sends ``response``."""
        return self.handle(response_event(response.status, sending=True), now, response)

    def acked(self, now: float) -> list[TxEffect]:
        """Server INVITE: the TU matched the ACK of our 2xx (RFC 6026 Accepted state)."""
        return self.handle(Event.ACK, now)

    def interval(self, timer: Timer) -> float | None:
        """The interval a retransmission timer was last armed with (None: never armed)."""
        return self._intervals.get(timer)

    def fire(self, timer: Timer, now: float) -> list[TxEffect]:
        """A timer armed by this transaction fired (ignored if no longer armed)."""
        return self.handle(TIMER_EVENT[timer], now)

    def transport_error(self, now: float) -> list[TxEffect]:
        """The transport could not deliver a message of this transaction."""
        return self.handle(Event.TRANSPORT_ERROR, now)

    def _run(
        self,
        op: Op,
        timer: Timer | None,
        event: Event,
        message: Message | None,
        now: float,
        out: list[TxEffect],
        due: list[Timer],
    ) -> None:
        if op in _MESSAGE_OPS:
            self._run_message(op, message, out)
        elif op is _ARM:
            assert timer is not None
            self._arm(timer, now, out, due)
        elif op is _DISARM:
            assert timer is not None
            if self.armed.pop(timer, None) is not None:
                out.append(Disarm(timer))
        elif op is _TIMEOUT:
            out.append(TimedOut(EVENT_TIMER.get(event)))
        else:
            out.extend(Disarm(t) for t in self.armed)
            self.armed.clear()
            out.append(Terminated())

    def _run_message(self, op: Op, message: Message | None, out: list[TxEffect]) -> None:
        """The actions that send a message or hand one up."""
        if op is _SEND:
            if isinstance(message, Response):
                self.last_response = message
                out.append(Send(message))
            else:
                out.append(Send(self.request))
        elif op is _RESEND_REQUEST:
            out.append(Send(self.request))
        elif op is _RESEND_RESPONSE:
            if self.last_response is not None:
                out.append(Send(self.last_response))
        elif op is _SEND_ACK:
            assert isinstance(message, Response)
            out.append(Send(build_ack(self.request, message)))
        elif message is not None:  # PASS_UP
            out.append(PassUp(message))

    def _arm(self, timer: Timer, now: float, out: list[TxEffect], due: list[Timer]) -> None:
        if timer in RETRANSMIT:
            if self.reliable:
                return
            previous = self._intervals.get(timer)
            if previous is None:
                interval = self.config.duration(timer, reliable=False)
            elif timer is _TIMER_E and self.state is _PROCEEDING:
                interval = self.config.t2
            else:
                interval = self.config.next_interval(timer, previous)
            self._intervals[timer] = interval
        else:
            interval = self.config.duration(timer, reliable=self.reliable)
        if interval <= 0:
            due.append(timer)
            self.armed[timer] = now
            return
        self.armed[timer] = now + interval
        out.append(Arm(timer, now + interval))
