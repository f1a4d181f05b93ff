"""Transaction keys, the ACK of a non-2xx and the CANCEL (RFC 3261 sections 9.1, 17.1.1.3,
17.1.3, 17.2.3).

Invariants:
- a client key is (top Via branch, CSeq method), so a CANCEL never matches its INVITE;
- a server key is (branch, sent-by host, port, method) with ACK folded onto INVITE; a
  branch without the magic cookie falls back to an RFC 2543 style key;
- keys only read accessors that ``classify`` guarantees after ``process`` (top Via, CSeq,
  Call-ID, From), so computing one never raises for a processed message;
- the ACK of a non-2xx and the CANCEL are one builder (``hop_request``): both copy the
  INVITE's top Via, Request-URI, Route set, From, Call-ID and CSeq number.
"""

from __future__ import annotations

from sipguard.sip.headers import Headers
from sipguard.sip.message import MAX_FORWARDS_TEXT, Message, Request, Response
from sipguard.sip.transaction_table import Kind

MAGIC_COOKIE = "z9hG4bK"


def build_ack(request: Request, response: Response) -> Request:
    """The ACK for a 300-699 response to ``request`` (section 17.1.1.3).

    It takes To (with its tag) from the response and carries no body.
    """
    return hop_request(request, "ACK", response.headers.get("to") or "")


def hop_request(invite: Request, method: str, to: str) -> Request:
    """A request of ``invite``'s own transaction: the ACK of a non-2xx or the CANCEL (9.1).

    It copies the INVITE's top Via (branch included), Request-URI, Route set, From,
    Call-ID and CSeq number, with ``method`` in CSeq, ``to`` as To and no body.
    """
    h = invite.headers
    headers = Headers([("Via", h.get_all("via")[0])])
    for route in h.get_fields("route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", MAX_FORWARDS_TEXT)
    headers.add("From", h.get("from") or "")
    headers.add("To", to)
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} {method}")
    headers.add("Content-Length", "0")
    return Request(method, invite.uri, headers)


TxKey = tuple[str, ...]


def client_key(message: Message) -> TxKey:
    """Key of the client transaction a request creates or a response matches (17.1.3).

    The top Via branch and the CSeq method; a CANCEL thus never matches its INVITE.
    """
    return (message.top_via.branch or "", message.cseq.method)


def server_key(request: Request) -> TxKey:
    """Key of the server transaction a request creates or matches (section 17.2.3).

    Branch, sent-by and method, with ACK folded onto INVITE.  A branch without the magic
    cookie falls back to an RFC 2543 style key: Call-ID, From tag, CSeq number, top Via and
    method (the To tag is left out so that the ACK of a non-2xx still matches).
    """
    via = request.top_via
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


def kind_for(request: Request, *, client: bool) -> Kind:
    """The transaction kind ``request`` needs on the client or the server side."""
    if request.method == "INVITE":
        return Kind.INVITE_CLIENT if client else Kind.INVITE_SERVER
    return Kind.NON_INVITE_CLIENT if client else Kind.NON_INVITE_SERVER
