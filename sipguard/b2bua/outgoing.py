"""Our outgoing messages, built without re-deriving what we already know.

The plain way to build a message is ``Headers.add`` field by field, then ``Dialog.request``
for requests inside a dialog.  Both recompute each name's lookup key and clear the header
cache on every field.  Here the fields are collected in lists and handed over at once, with
the keys of names we write ourselves known in advance.

Invariants:
- ``headers_of(pairs)`` equals ``Headers(pairs)``, field for field and key for key;
- ``dialog_request`` builds the very request ``Dialog.request`` builds (section 12.2.1.1:
  Request-URI = remote target, Route = route set, CSeq from the dialog), ACK and CANCEL
  excepted from the CSeq increment and from Contact;
- nothing here parses: a result's parsed views are computed on first use, as usual.
"""

from __future__ import annotations

from collections.abc import Iterable

from sipguard.memo import UsedMemo
from sipguard.sip.dialog import Dialog
from sipguard.sip.headers import Headers, canonical
from sipguard.sip.message import MAX_FORWARDS_TEXT, Request

_KEYS: UsedMemo[str, str] = UsedMemo(256)  # kept while used: see ``sweep_memo``


def key_of(name: str) -> str:
    """The lookup key of ``name`` (memoised for the few names that occur)."""
    key = _KEYS.get(name)
    if key is None:
        key = canonical(name)
        _KEYS.put(name, key)
    return key


def sweep_memo() -> None:
    """Forget the names not written since the last call (see ``sipguard.memo``)."""
    _KEYS.sweep()


def headers_of(pairs: Iterable[tuple[str, str]]) -> Headers:
    """``Headers(pairs)``, built in one step (a name's key read from the memo inline)."""
    fields = pairs if isinstance(pairs, list) else list(pairs)
    names = [name for name, _ in fields]
    known = _KEYS.get
    keys = [known(name) or key_of(name) for name in names]
    return Headers.from_lists(names, [value for _, value in fields], keys)


def dialog_request(
    dialog: Dialog,
    method: str,
    via: str,
    contact: str | None = None,
    seq: int | None = None,
    body: bytes = b"",
    extra: Iterable[tuple[str, str]] = (),
) -> Request:
    """What ``dialog.request(method, via, contact, seq, body, extra)`` returns."""
    if seq is None:
        seq = dialog.next_seq()
    pairs = [("Via", via), ("Max-Forwards", MAX_FORWARDS_TEXT)]
    pairs += [("Route", route) for route in dialog.route_set]
    pairs += [("From", dialog.local), ("To", dialog.remote), ("Call-ID", dialog.id.call_id)]
    pairs.append(("CSeq", f"{seq} {method}"))
    if contact is not None and method not in ("ACK", "BYE", "CANCEL"):
        pairs.append(("Contact", contact))
    pairs.extend(extra)
    return Request(method, dialog.remote_target, headers_of(pairs), body)


def dialog_ack(dialog: Dialog, invite_seq: int, via: str, body: bytes = b"") -> Request:
    """What ``dialog.ack(invite_seq, via, body)`` returns (section 13.2.2.4)."""
    return dialog_request(dialog, "ACK", via, seq=invite_seq, body=body)
