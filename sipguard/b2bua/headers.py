"""Building the messages of one leg from those of the other (RFC 3261 sections 8.2.6, 16.6).

Invariants:
- topology hiding: a message built here carries only our own Via, Contact and the route set
  of its own dialog; no Via, Record-Route, Route or Contact of the other side is copied;
- only headers on the allow-list cross from one leg to the other, plus the body and its
  Content-Type; the list is the rules' (``relay_keys``: the call-control headers plus
  ``sip.relay_headers``), so User-Agent, Server and the like (they name the peers'
  software) are stripped unless the rules name them, and nothing we build names ours;
- responses copy Via, From, To, Call-ID and CSeq of the request they answer (8.2.6.2); a
  To tag is added when the request had none and one is given; a dialog-forming 1xx/2xx
  also copies the request's own Record-Route (12.1.1), so proxies on that leg stay on it;
- P-Asserted-Identity and Privacy never cross from an untrusted peer (RFC 3325 section 5):
  outbound calls carry the verified number as ``<tel:+CC NSN>``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sipguard.b2bua.outgoing import headers_of
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.signalling import CALL_CONTROL, refusal_phrase, relayed
from sipguard.sip.headers import Headers, canonical
from sipguard.sip.message import Request, Response

#: Headers copied between legs whatever the rules say (lower-case canonical names).
DEFAULT_ALLOW: frozenset[str] = CALL_CONTROL

REASONS: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    481: "Call/Transaction Does Not Exist",
    483: "Too Many Hops",
    487: "Request Terminated",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

ALLOW_METHODS = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO"
# Methods of the SIP RFCs: one of these outside a dialog is "not allowed here" (405); any
# other method is not recognised at all (501, RFC 3261 section 8.2.1).
KNOWN_METHODS = frozenset(
    [
        "INVITE",
        "ACK",
        "CANCEL",
        "BYE",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "UPDATE",
        "INFO",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "MESSAGE",
        "PUBLISH",
    ]
)


def reason_phrase(status: int) -> str:
    """A reason phrase for ``status``."""
    return REASONS.get(status, "Unknown")


def relay_keys(rules: Ruleset) -> frozenset[str]:
    """The lookup keys of the headers that cross the legs under ``rules``.

    Computed once per ruleset, so relaying a header costs one frozenset probe.  The rules
    hold full lower-case names, which are their own lookup keys (``canonical``).
    """
    return relayed(rules.model.sip.relay_headers)


def refusal_status_phrase(rules: Ruleset, status: int, reason: str) -> str:
    """A refusal's status-line phrase: its reason (``Quiet Hours``) if the rules ask."""
    return refusal_phrase(reason) if rules.model.sip.refusal_phrase else reason_phrase(status)


def make_response(
    req: Request,
    status: int,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    reason: str | None = None,
) -> Response:
    """A response to ``req`` (section 8.2.6.2), with ``extra`` headers appended."""
    h = req.headers
    pairs = [("Via", via) for via in h.get_fields("via")]
    to = h.get("to") or ""
    if to_tag and status != 100 and req.to.tag is None:
        to = f"{to};tag={to_tag}"
    pairs += [("From", h.get("from") or ""), ("To", to), ("Call-ID", req.call_id)]
    pairs.append(("CSeq", str(req.cseq)))
    pairs.extend(extra)
    return Response(status, reason or reason_phrase(status), headers_of(pairs), body)


def allowed_fields(src: Headers, allow: frozenset[str], body: bytes) -> list[tuple[str, str]]:
    """The allow-listed fields of ``src``, and its Content-Type when there is a body.

    The one filter every relayed message goes through (leg B's INVITE, responses, in-dialog
    requests, both directions): a field crosses when its lookup key is in ``allow``.
    """
    out = src.select(allow)
    if body:
        ctype = src.get("content-type")
        if ctype is not None:
            out.append(("Content-Type", ctype))
    return out


def relay_response(
    src: Response,
    answering: Request,
    to_tag: str | None,
    contact: str | None,
    allow: frozenset[str],
    rseq: int | None = None,
) -> Response:
    """The response to ``answering`` that mirrors ``src`` from the other leg."""
    extra: list[tuple[str, str]] = []
    if contact is not None and src.status > 100 and src.status < 300:
        extra.append(("Contact", contact))
    if rseq is not None:
        extra.append(("RSeq", str(rseq)))
    if to_tag is not None and 100 < src.status < 300:  # dialog-forming: RFC 3261 12.1.1
        extra += [("Record-Route", rr) for rr in answering.headers.get_fields("record-route")]
    extra += allowed_fields(src.headers, allow, src.body)
    return make_response(answering, src.status, to_tag, extra, src.body, src.reason)


def user_part(uri: str) -> str:
    """The user part of a sip/sips/tel URI string ('' when it has none)."""
    scheme, _, rest = uri.partition(":")
    if scheme.lower() == "tel":
        return rest.split(";", 1)[0]
    if "@" not in rest:
        return ""
    return rest.rsplit("@", 1)[0].split(";", 1)[0].split(":", 1)[0]


def host_uri(user: str, host: str, port: int | None = None) -> str:
    """``sip:user@host[:port]`` (no user part when ``user`` is empty)."""
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    hostport = bracketed if port is None else f"{bracketed}:{port}"
    return f"sip:{user}@{hostport}" if user else f"sip:{hostport}"


def display_of(header: str) -> str:
    """The display-name part of a name-addr header value ('' when there is none)."""
    head = header.split("<", 1)[0].strip() if "<" in header else ""
    return f"{head} " if head else ""


def raw_fields(data: bytes) -> tuple[str, list[tuple[str, str]]] | None:
    """The start line and header fields of unparseable bytes, or None if not a request."""
    head = data.lstrip(b"\r\n").split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].startswith("SIP/"):
        return None
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name.strip(), value.strip()))
    return lines[0], fields


def error_response(data: bytes, status: int) -> bytes | None:
    """Answer bytes that failed to parse with ``status``, copying what can be copied."""
    found = raw_fields(data)
    if found is None:
        return None
    _, fields = found
    keep = {"via", "from", "to", "call-id", "cseq"}
    lines = [f"SIP/2.0 {status} {reason_phrase(status)}"]
    lines += [f"{n}: {v}" for n, v in fields if canonical(n) in keep]
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8")
