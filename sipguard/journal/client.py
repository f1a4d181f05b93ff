"""Blocking client of the journal service, and the State it offers to separate processes.

Invariants:
- One request at a time per client (pipelined only inside :meth:`ServiceClient.append`), so
  a client belongs to one thread; Kamailio workers, the CLI and replay each hold their own.
  :meth:`ServiceClient.append_later` sends without waiting; the answers to such requests
  are read, and failures counted, by the next exchange.
- Any failure (no service, the connection lost, a failed commit, a timeout) raises
  :class:`JournalUnavailable`; the connection is dropped and the next call dials again, so a
  restarted service is picked up without the caller doing anything.
- :class:`RemoteState` runs every State op in the service, in memory, one round trip each;
  mutations are persisted in the service's next group commit, which is before the ack of
  any entry this client appends afterwards (a count rides its decision's commit).
  :meth:`ServiceClient.decide` carries guessed state ops and the decision's entry in one
  round trip (see ``adapters.kamailio.one_trip``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sipguard.journal.cache import encode_op, suspension_in
from sipguard.journal.record import Entry
from sipguard.journal.wire import FrameReader, Op, ProtocolError, Wire, entry_body, frame, stored
from sipguard.journal.writer import JournalUnavailable
from sipguard.policy.state import Suspension


class ServiceClient:
    """A connection to the journal service at ``socket_path``."""

    def __init__(self, socket_path: str | Path, *, timeout: float = 10.0) -> None:
        self.path = Path(socket_path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader = FrameReader()
        self._next = 0
        #: Entries sent with :meth:`append_later` whose commit the service reported failed.
        self.failed_later = 0
        #: Called with (entries, seconds) of each commit a request of ours was in.
        self.on_stats: Callable[[int, float], None] | None = None

    @property
    def connected(self) -> bool:
        """True while a connection is open (a failure drops it)."""
        return self._sock is not None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except OSError as exc:
                sock.close()
                raise JournalUnavailable(f"journal service not reachable: {exc}", "down") from exc
            self._sock, self._reader = sock, FrameReader()
        return self._sock

    def close(self) -> None:
        """Drop the connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exchange(self, requests: list[list[Any]]) -> dict[int, list[Any]]:
        """Send ``[op, *args]`` requests together; their replies by request index."""
        sock = self._connect()
        ids = {}
        out = []
        for i, request in enumerate(requests):
            self._next += 1
            ids[self._next] = i
            out.append(frame([self._next, *request]))
        replies: dict[int, list[Any]] = {}
        try:
            sock.sendall(b"".join(out))
            while len(replies) < len(requests):
                data = sock.recv(1 << 16)
                if not data:
                    raise ConnectionResetError("journal service closed the connection")
                for reply in self._reader.feed(data):
                    if reply[0] in ids:
                        replies[ids[reply[0]]] = reply
                    elif reply[0] == 0 and reply[1] == "error":
                        self.failed_later += 1
                    elif reply[0] == 0 and reply[1] == "stats" and self.on_stats is not None:
                        self.on_stats(int(reply[2]), float(reply[3]))
        except (OSError, ProtocolError) as exc:
            self.close()
            raise JournalUnavailable(f"journal service failed: {exc}", "down") from exc
        return replies

    @staticmethod
    def _result(reply: list[Any]) -> list[Any]:
        if reply[1] != "ok":
            kind = str(reply[2]) if len(reply) > 2 else "internal"
            detail = str(reply[3]) if len(reply) > 3 else ""
            raise JournalUnavailable(f"journal write failed: {detail}", kind)
        return reply[2:]

    def append(self, entries: Sequence[Entry]) -> list[Entry]:
        """Append ``entries``; return them as stored, once durable."""
        replies = self._exchange([[Op.APPEND.value, entry_body(e)] for e in entries])
        out = []
        for i, entry in enumerate(entries):
            seq, prev, digest = self._result(replies[i])
            out.append(stored(entry, int(seq), str(prev), str(digest)))
        return out

    def append_later(self, entry: Entry) -> None:
        """Send ``entry`` without waiting for its commit (for records no answer waits for).

        It is committed with the service's next batch; a failed commit is counted in
        :attr:`failed_later` when a later exchange reads its answer.  JournalUnavailable
        when it cannot even be sent.
        """
        sock = self._connect()
        try:
            sock.sendall(frame([0, Op.APPEND.value, entry_body(entry)]))
        except OSError as exc:
            self.close()
            raise JournalUnavailable(f"journal service failed: {exc}", "down") from exc

    def record(self, entry: Entry) -> Entry:
        """Append one entry and return it as stored, once durable."""
        return self.append([entry])[0]

    def state_op(self, op: list[Wire], *, durable: bool = False) -> Wire:
        """Run one wire state op in the service; with ``durable`` wait for its commit."""
        kind = Op.PUT if durable else Op.DO
        answer: Wire = self._result(self._exchange([[kind.value, op]])[0])[0]
        return answer

    def decide(self, ops: list[list[Any]], entry: Entry | None) -> tuple[list[Any], Entry | None]:
        """Run ``[op, expected?]`` items, then append ``entry`` if every expectation held.

        Returns the ops' results and ``entry`` as stored, once durable; when a result was not
        the one expected, the results of the ops run up to it and None (nothing recorded).
        """
        body = entry_body(entry) if entry is not None else None
        result = self._result(self._exchange([[Op.DECIDE.value, ops, body]])[0])
        if entry is None or isinstance(result[0], list):
            return list(result[0]), None
        seq, prev, digest = result
        return [item[1] for item in ops], stored(entry, int(seq), str(prev), str(digest))

    def sync(self) -> None:
        """Wait until everything sent before is durable."""
        self._result(self._exchange([[Op.SYNC.value]])[0])


class RemoteState:
    """Implements :class:`sipguard.policy.state.State` through the journal service."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def _do(self, name: str, *args: object) -> Wire:
        return self.client.state_op(encode_op(name, *args))

    def take_call_slot(self, operator: str, callee: str, day: date, limit: int | None) -> bool:
        return bool(self._do("take_call_slot", operator, callee, day, limit))

    def calls_on(self, operator: str, callee: str, day: date) -> int:
        return _number(self._do("calls_on", operator, callee, day))

    def add_violation(self, number: str, at: datetime, window: timedelta) -> int:
        return _number(self._do("add_violation", number, at, window))

    def suspension(self, number: str) -> Suspension | None:
        raw = self._do("suspension", number)
        return suspension_in(_texts(raw)) if raw is not None else None

    def suspend(self, number: str, since: datetime, reason: str, by: str) -> None:
        self._do("suspend", number, since, reason, by)

    def resume(self, number: str) -> bool:
        return bool(self._do("resume", number))

    def suspensions(self) -> list[Suspension]:
        return [suspension_in(_texts(raw)) for raw in _items(self._do("suspensions"))]

    # The behavioural windows live in the service's memory, shared by every worker.
    def calls_since(self, number: str, since: float) -> int:
        return _number(self._do("calls_since", number, since))

    def callee_seen(self, number: str, callee: str, since: float) -> tuple[bool, int]:
        seen, distinct = _items(self._do("callee_seen", number, callee, since), 2)
        return bool(seen), _number(distinct)

    def record_call(self, number: str, callee: str, at: float, keep: float) -> None:
        self._do("record_call", number, callee, at, keep)

    def record_outcome(self, number: str, *, short: bool, keep: int) -> tuple[int, int]:
        ended, short_ones = _items(self._do("record_outcome", number, short, keep), 2)
        return _number(ended), _number(short_ones)

    # So do the inbound calls that are up, for verifying forwards (rules 1.1 section 3).
    def inbound_started(self, call_id: str, caller: str, number: str, at: datetime) -> None:
        self._do("inbound_started", call_id, caller, number, at)

    def inbound_ended(self, call_id: str) -> None:
        self._do("inbound_ended", call_id)

    def inbound_up(self, caller: str, number: str, since: datetime) -> bool:
        return bool(self._do("inbound_up", caller, number, since))


def _number(value: Wire) -> int:
    """A count the service answered (ProtocolError when the answer is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"journal service answered {value!r} where a number was due")
    return int(value)


def _items(value: Wire, size: int | None = None) -> list[Wire]:
    """A list the service answered (of ``size`` items, when given)."""
    if not isinstance(value, list) or (size is not None and len(value) != size):
        raise ProtocolError(f"journal service answered {value!r} where a list was due")
    return value


def _texts(value: Wire) -> list[str]:
    """A suspension as it travels: four texts."""
    raw = _items(value, 4)
    if not all(isinstance(v, str) for v in raw):
        raise ProtocolError(f"journal service answered {value!r} where a suspension was due")
    return [str(v) for v in raw]
