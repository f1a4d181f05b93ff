"""What a transaction keeps of its messages once it has answered or been answered.

Invariants:
- ``slim`` keeps the fields that name a request (its top Via field, From, To, Call-ID and
  CSeq) and no body; the kept fields share the original's strings, so a flood of big
  requests does not stay whole until Timer H, J or L;
- ``stand_in`` keeps a sent response's status line only: the response copies every Via of
  its request, so kept parsed it would cost a few Python objects per header field; its
  bytes are kept beside it for retransmissions;
- ``forget_parsed`` drops the values memoised on a transaction's messages; any later read
  parses afresh and answers what a fresh parse of the same bytes answers.
"""

from __future__ import annotations

from dataclasses import replace

from sipguard.sip.headers import Headers
from sipguard.sip.message import Request, Response
from sipguard.sip.transaction import Transaction

_NAMING = frozenset({"via", "from", "to", "call-id", "cseq"})


def slim(request: Request) -> Request:
    """``request`` with only the fields that name it and no body (see the module header)."""
    names: list[str] = []
    values: list[str] = []
    keys: list[str] = []
    via = False
    for name, value, key in request.headers.triples():
        if key in _NAMING and not (key == "via" and via):
            via = via or key == "via"
            names.append(name)
            values.append(value)
            keys.append(key)
    return replace(request, headers=Headers.from_lists(names, values, keys), body=b"")


def stand_in(response: Response) -> Response:
    """What a server transaction keeps of a response it sent, beside its bytes: the status
    line, no header fields, no body."""
    bare = Headers.from_lists([], [], [])
    return Response(response.status, response.reason, bare, b"", response.version)


def forget_parsed(tx: Transaction) -> None:
    """Drop what was parsed from a transaction's request and last response."""
    tx.request.headers.forget_parsed()
    if tx.last_response is not None:
        tx.last_response.headers.forget_parsed()
