"""The transition tables of the four RFC 3261 section 17 transaction state machines.

Everything that affects a transaction's state lives here, as data: for each kind of
transaction, a table maps ``(state, event)`` to the next state and the actions to carry out
in order.  ``sipguard.sip.transaction`` holds the engine that runs them.

Invariants:
- a ``(state, event)`` pair absent from a table is illegal (the engine raises);
- a pair where the RFC says to absorb a message maps to an empty action list;
- the INVITE machines include RFC 6026's Accepted state.
"""

from __future__ import annotations

from enum import StrEnum

from sipguard.sip.timers import Timer


class Kind(StrEnum):
    """The four transaction types."""

    INVITE_CLIENT = "invite-client"
    NON_INVITE_CLIENT = "non-invite-client"
    INVITE_SERVER = "invite-server"
    NON_INVITE_SERVER = "non-invite-server"


class TxState(StrEnum):
    """Transaction states (section 17 figures 5-8, RFC 6026 figures 5 and 7)."""

    NEW = "new"
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class Event(StrEnum):
    """Inputs to a transaction."""

    START = "start"  # the TU hands a client transaction its request
    RECV_1XX = "recv-1xx"
    RECV_2XX = "recv-2xx"
    RECV_FINAL = "recv-300-699"
    REQUEST = "request"  # a server transaction receives its request (or a retransmission)
    ACK = "ack"  # an ACK for the INVITE (non-2xx: matched here; 2xx: reported by the TU)
    SEND_1XX = "send-1xx"
    SEND_2XX = "send-2xx"
    SEND_FINAL = "send-300-699"
    TRANSPORT_ERROR = "transport-error"
    TIMER_A = "timer-A"
    TIMER_B = "timer-B"
    TIMER_D = "timer-D"
    TIMER_E = "timer-E"
    TIMER_F = "timer-F"
    TIMER_G = "timer-G"
    TIMER_H = "timer-H"
    TIMER_I = "timer-I"
    TIMER_J = "timer-J"
    TIMER_K = "timer-K"
    TIMER_L = "timer-L"
    TIMER_M = "timer-M"


class Op(StrEnum):
    """Actions a table entry lists."""

    SEND = "send"  # send the message of the event (request or TU response)
    RESEND_REQUEST = "resend-request"
    RESEND_RESPONSE = "resend-response"  # send the last response again, if any
    SEND_ACK = "send-ack"  # ACK a 300-699 response (section 17.1.1.3)
    PASS_UP = "pass-up"
    ARM = "arm"
    DISARM = "disarm"
    TIMEOUT = "timeout"
    TERMINATE = "terminate"


Action = tuple[Op, Timer | None]


def _do(op: Op) -> Action:
    return (op, None)


def _arm(timer: Timer) -> Action:
    return (Op.ARM, timer)


def _disarm(timer: Timer) -> Action:
    return (Op.DISARM, timer)


SEND, PASS_UP, RESEND_REQ = _do(Op.SEND), _do(Op.PASS_UP), _do(Op.RESEND_REQUEST)
RESEND_RSP, SEND_ACK, TIMEOUT = _do(Op.RESEND_RESPONSE), _do(Op.SEND_ACK), _do(Op.TIMEOUT)
END = _do(Op.TERMINATE)
S = TxState
E = Event
T = Timer
Table = dict[tuple[TxState, Event], tuple[TxState, tuple[Action, ...]]]

INVITE_CLIENT: Table = {
    (S.NEW, E.START): (S.CALLING, (SEND, _arm(T.A), _arm(T.B))),
    (S.CALLING, E.TIMER_A): (S.CALLING, (RESEND_REQ, _arm(T.A))),
    (S.CALLING, E.TIMER_B): (S.TERMINATED, (TIMEOUT, END)),
    (S.CALLING, E.RECV_1XX): (S.PROCEEDING, (_disarm(T.A), _disarm(T.B), PASS_UP)),
    (S.CALLING, E.RECV_2XX): (S.ACCEPTED, (_disarm(T.A), _disarm(T.B), PASS_UP, _arm(T.M))),
    (S.CALLING, E.RECV_FINAL): (
        S.COMPLETED,
        (_disarm(T.A), _disarm(T.B), PASS_UP, SEND_ACK, _arm(T.D)),
    ),
    (S.CALLING, E.TRANSPORT_ERROR): (S.TERMINATED, (_disarm(T.A), _disarm(T.B), TIMEOUT, END)),
    (S.PROCEEDING, E.RECV_1XX): (S.PROCEEDING, (PASS_UP,)),
    (S.PROCEEDING, E.RECV_2XX): (S.ACCEPTED, (PASS_UP, _arm(T.M))),
    (S.PROCEEDING, E.RECV_FINAL): (S.COMPLETED, (PASS_UP, SEND_ACK, _arm(T.D))),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (S.TERMINATED, (TIMEOUT, END)),
    (S.COMPLETED, E.RECV_1XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.RECV_2XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.RECV_FINAL): (S.COMPLETED, (SEND_ACK,)),
    (S.COMPLETED, E.TRANSPORT_ERROR): (S.TERMINATED, (_disarm(T.D), TIMEOUT, END)),
    (S.COMPLETED, E.TIMER_D): (S.TERMINATED, (END,)),
    (S.ACCEPTED, E.RECV_1XX): (S.ACCEPTED, ()),
    (S.ACCEPTED, E.RECV_2XX): (S.ACCEPTED, (PASS_UP,)),
    (S.ACCEPTED, E.RECV_FINAL): (S.ACCEPTED, ()),
    (S.ACCEPTED, E.TIMER_M): (S.TERMINATED, (END,)),
}

_NICT_DONE = (_disarm(T.E), _disarm(T.F), PASS_UP, _arm(T.K))
NON_INVITE_CLIENT: Table = {
    (S.NEW, E.START): (S.TRYING, (SEND, _arm(T.E), _arm(T.F))),
    (S.TRYING, E.TIMER_E): (S.TRYING, (RESEND_REQ, _arm(T.E))),
    (S.TRYING, E.TIMER_F): (S.TERMINATED, (_disarm(T.E), TIMEOUT, END)),
    (S.TRYING, E.RECV_1XX): (S.PROCEEDING, (PASS_UP,)),
    (S.TRYING, E.RECV_2XX): (S.COMPLETED, _NICT_DONE),
    (S.TRYING, E.RECV_FINAL): (S.COMPLETED, _NICT_DONE),
    (S.TRYING, E.TRANSPORT_ERROR): (S.TERMINATED, (_disarm(T.E), _disarm(T.F), TIMEOUT, END)),
    (S.PROCEEDING, E.TIMER_E): (S.PROCEEDING, (RESEND_REQ, _arm(T.E))),
    (S.PROCEEDING, E.TIMER_F): (S.TERMINATED, (_disarm(T.E), TIMEOUT, END)),
    (S.PROCEEDING, E.RECV_1XX): (S.PROCEEDING, (PASS_UP,)),
    (S.PROCEEDING, E.RECV_2XX): (S.COMPLETED, _NICT_DONE),
    (S.PROCEEDING, E.RECV_FINAL): (S.COMPLETED, _NICT_DONE),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (
        S.TERMINATED,
        (_disarm(T.E), _disarm(T.F), TIMEOUT, END),
    ),
    (S.COMPLETED, E.RECV_1XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.RECV_2XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.RECV_FINAL): (S.COMPLETED, ()),
    (S.COMPLETED, E.TIMER_K): (S.TERMINATED, (END,)),
}

INVITE_SERVER: Table = {
    (S.NEW, E.REQUEST): (S.PROCEEDING, (PASS_UP,)),
    (S.PROCEEDING, E.REQUEST): (S.PROCEEDING, (RESEND_RSP,)),
    (S.PROCEEDING, E.SEND_1XX): (S.PROCEEDING, (SEND,)),
    (S.PROCEEDING, E.SEND_2XX): (S.ACCEPTED, (SEND, _arm(T.G), _arm(T.L))),
    (S.PROCEEDING, E.SEND_FINAL): (S.COMPLETED, (SEND, _arm(T.G), _arm(T.H))),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (S.TERMINATED, (TIMEOUT, END)),
    (S.COMPLETED, E.REQUEST): (S.COMPLETED, (RESEND_RSP,)),
    (S.COMPLETED, E.TIMER_G): (S.COMPLETED, (RESEND_RSP, _arm(T.G))),
    (S.COMPLETED, E.ACK): (S.CONFIRMED, (_disarm(T.G), _disarm(T.H), _arm(T.I))),
    (S.COMPLETED, E.TIMER_H): (S.TERMINATED, (_disarm(T.G), TIMEOUT, END)),
    (S.COMPLETED, E.TRANSPORT_ERROR): (
        S.TERMINATED,
        (_disarm(T.G), _disarm(T.H), TIMEOUT, END),
    ),
    (S.CONFIRMED, E.REQUEST): (S.CONFIRMED, ()),
    (S.CONFIRMED, E.ACK): (S.CONFIRMED, ()),
    (S.CONFIRMED, E.TIMER_I): (S.TERMINATED, (END,)),
    (S.ACCEPTED, E.REQUEST): (S.ACCEPTED, ()),
    (S.ACCEPTED, E.SEND_2XX): (S.ACCEPTED, (SEND,)),
    (S.ACCEPTED, E.TIMER_G): (S.ACCEPTED, (RESEND_RSP, _arm(T.G))),
    (S.ACCEPTED, E.ACK): (S.CONFIRMED, (_disarm(T.G), _disarm(T.L), _arm(T.I))),
    (S.ACCEPTED, E.TIMER_L): (S.TERMINATED, (_disarm(T.G), TIMEOUT, END)),
    (S.ACCEPTED, E.TRANSPORT_ERROR): (S.TERMINATED, (_disarm(T.G), _disarm(T.L), TIMEOUT, END)),
}

NON_INVITE_SERVER: Table = {
    (S.NEW, E.REQUEST): (S.TRYING, (PASS_UP,)),
    (S.TRYING, E.REQUEST): (S.TRYING, ()),
    (S.TRYING, E.SEND_1XX): (S.PROCEEDING, (SEND,)),
    (S.TRYING, E.SEND_2XX): (S.COMPLETED, (SEND, _arm(T.J))),
    (S.TRYING, E.SEND_FINAL): (S.COMPLETED, (SEND, _arm(T.J))),
    (S.PROCEEDING, E.REQUEST): (S.PROCEEDING, (RESEND_RSP,)),
    (S.PROCEEDING, E.SEND_1XX): (S.PROCEEDING, (SEND,)),
    (S.PROCEEDING, E.SEND_2XX): (S.COMPLETED, (SEND, _arm(T.J))),
    (S.PROCEEDING, E.SEND_FINAL): (S.COMPLETED, (SEND, _arm(T.J))),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (S.TERMINATED, (TIMEOUT, END)),
    (S.COMPLETED, E.REQUEST): (S.COMPLETED, (RESEND_RSP,)),
    (S.COMPLETED, E.SEND_1XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.SEND_2XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.SEND_FINAL): (S.COMPLETED, ()),
    (S.COMPLETED, E.TIMER_J): (S.TERMINATED, (END,)),
    (S.COMPLETED, E.TRANSPORT_ERROR): (S.TERMINATED, (_disarm(T.J), TIMEOUT, END)),
}

TABLES: dict[Kind, Table] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}

TIMER_EVENT: dict[Timer, Event] = {t: Event(f"timer-{t.value}") for t in Timer}
EVENT_TIMER: dict[Event, Timer] = {e: t for t, e in TIMER_EVENT.items()}
