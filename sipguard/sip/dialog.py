"""Dialogs (RFC 3261 section 12): identity, sequence numbers, route set, remote target.

Invariants:
- a dialog is identified by Call-ID, local tag and remote tag (section 12); it is created
  from a request/response pair that carries a To tag (a 2xx, or a 1xx for an early dialog);
- the UAC's route set is the response's Record-Route reversed, the UAS's the request's
  Record-Route in order (sections 12.1.1 and 12.1.2); both are only set when the dialog is
  created and never change afterwards;
- the remote target is the peer's Contact URI and is refreshed by target-refresh requests
  and their 2xx (re-INVITE, UPDATE; section 12.2);
- requests we build use loose routing (RFC 3261 section 16.12): Request-URI = remote
  target, Route = route set; the local CSeq grows by one per request except ACK and CANCEL;
- a remote CSeq lower than or equal to the last one seen is out of order (section 12.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipguard.sip.headers import Headers
from sipguard.sip.message import MAX_FORWARDS_TEXT, Request, Response


@dataclass(frozen=True, slots=True, init=False)
class DialogId:
    """Call-ID, local tag and remote tag, seen from our side."""

    call_id: str
    local_tag: str
    remote_tag: str

    def __init__(self, call_id: str, local_tag: str, remote_tag: str) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "local_tag", local_tag)
        object.__setattr__(self, "remote_tag", remote_tag)


def _target(msg: Request | Response) -> str | None:
    contacts = msg.addresses("contact") if "contact" in msg.headers else []
    return str(contacts[0].uri) if contacts else None


def _with_tag(header: str, tag: str) -> str:
    return header if ";tag=" in header.replace(" ", "").lower() else f"{header};tag={tag}"


@dataclass(slots=True, init=False)
class Dialog:
    """One side's view of a dialog; ``local``/``remote`` are From/To values with their tags."""

    id: DialogId
    local: str
    remote: str
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    early: bool = False

    def __init__(
        self,
        id: DialogId,
        local: str,
        remote: str,
        remote_target: str,
        route_set: list[str] | None = None,
        local_seq: int = 0,
        remote_seq: int | None = None,
        early: bool = False,  # noqa: FBT001, FBT002 (the dataclass field, in order)
    ) -> None:
        self.id, self.local, self.remote = id, local, remote
        self.remote_target = remote_target
        self.route_set = [] if route_set is None else route_set
        self.local_seq, self.remote_seq, self.early = local_seq, remote_seq, early

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a UAC gets from ``response`` (with To tag) to its ``request``."""
        tag = response.to.tag
        if not tag or not request.from_.tag:
            raise ValueError("a dialog needs both tags")
        routes = list(reversed(response.headers.get_all("record-route")))
        return cls(
            id=DialogId(request.call_id, request.from_.tag, tag),
            local=request.headers.get("from") or "",
            remote=response.headers.get("to") or "",
            remote_target=_target(response) or request.uri,
            route_set=routes,
            local_seq=request.cseq.seq,
            early=response.status < 200,
        )

    @classmethod
    def as_uas(cls, request: Request, local_tag: str, *, early: bool = False) -> Dialog:
        """The dialog a UAS gets by answering ``request`` with To tag ``local_tag``."""
        from_tag = request.from_.tag or ""
        return cls(
            id=DialogId(request.call_id, local_tag, from_tag),
            local=_with_tag(request.headers.get("to") or "", local_tag),
            remote=request.headers.get("from") or "",
            remote_target=_target(request) or str(request.from_.uri),
            route_set=list(request.headers.get_all("record-route")),
            remote_seq=request.cseq.seq,
            early=early,
        )

    def confirm(self, response: Response | None = None) -> None:
        """A 2xx confirmed the dialog; ``response`` may refresh the remote target."""
        self.early = False
        if response is not None:
            self.refresh_target(response)

    def refresh_target(self, msg: Request | Response) -> None:
        """Take the Contact of a target-refresh request or its 2xx as the remote target."""
        target = _target(msg)
        if target is not None:
            self.remote_target = target

    def accept_remote_cseq(self, seq: int) -> bool:
        """Record an in-dialog request's CSeq; False when it is out of order (section 12.2.2)."""
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def next_seq(self) -> int:
        """Take the next local CSeq number."""
        self.local_seq += 1
        return self.local_seq

    def request(
        self,
        method: str,
        via: str,
        contact: str | None = None,
        seq: int | None = None,
        body: bytes = b"",
        extra: list[tuple[str, str]] | None = None,
    ) -> Request:
        """Build an in-dialog request (section 12.2.1.1) with our ``via`` on top.

        ``seq`` defaults to the next local CSeq; pass the INVITE's number for an ACK.
        """
        if seq is None:
            seq = self.next_seq()
        headers = Headers([("Via", via), ("Max-Forwards", MAX_FORWARDS_TEXT)])
        for route in self.route_set:
            headers.add("Route", route)
        headers.add("From", self.local)
        headers.add("To", self.remote)
        headers.add("Call-ID", self.id.call_id)
        headers.add("CSeq", f"{seq} {method}")
        if contact is not None and method not in ("ACK", "BYE", "CANCEL"):
            headers.add("Contact", contact)
        for name, value in extra or []:
            headers.add(name, value)
        return Request(method, self.remote_target, headers, body)

    def ack(self, invite_seq: int, via: str, body: bytes = b"") -> Request:
        """The ACK for a 2xx to the INVITE numbered ``invite_seq`` (section 13.2.2.4)."""
        return self.request("ACK", via, seq=invite_seq, body=body)


def dialog_id_of(request: Request, *, as_uas: bool = True) -> DialogId:
    """The dialog id an in-dialog request points to, seen from the receiving side."""
    to_tag = request.to.tag or ""
    from_tag = request.from_.tag or ""
    if as_uas:
        return DialogId(request.call_id, to_tag, from_tag)
    return DialogId(request.call_id, from_tag, to_tag)
