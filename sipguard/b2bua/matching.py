"""Transaction keys of received messages, from the Via list validation already parsed.

``sipguard.sip.transaction.server_key`` and ``client_key`` read ``top_via``, which parses the
first Via value again although ``classify`` has just parsed every Via (``vias``).  These
functions take the first element of ``vias`` instead.

Invariants:
- ``server_key(req) == sipguard.sip.transaction.server_key(req)`` and
  ``client_key(msg) == sipguard.sip.transaction.client_key(msg)`` for every message that
  passed ``classify`` (it has at least one Via); RFC 3261 sections 17.1.3 and 17.2.3.
"""

from __future__ import annotations

from sipguard.sip.message import Message, Request
from sipguard.sip.transaction import MAGIC_COOKIE, TxKey


def client_key(message: Message) -> TxKey:
    """The client transaction a response matches: top Via branch and CSeq method."""
    return (message.vias[0].branch or "", message.cseq.method)


def server_key(request: Request) -> TxKey:
    """The server transaction a request matches (ACK folded onto INVITE; RFC 2543 fallback)."""
    via = request.vias[0]
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        return (branch, via.host.lower(), str(via.port or ""), method)
    return (
        "rfc2543",
        request.call_id,
        request.from_.tag or "",
        str(request.cseq.seq),
        str(via),
        method,
    )
