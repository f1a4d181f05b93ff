"""The bare responders of ``bench/bench_ceiling.py`` build well-formed SIP, checked by the
project's own parser: the 403 answers its INVITE, and the relay's rewrites keep the Via
stack a proxy must keep (RFC 3261 sections 16.6 and 16.7), both for Via lines of their own
and for the comma-joined Via line sipp echoes in its responses."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sipguard.sip import Request, Response, classify, parse

PATH = Path(__file__).resolve().parents[1] / "bench" / "bare" / "responder.py"
ME = ("127.0.0.1", 5070)
UAC_VIA = "SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-77-1-0;rport"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bare_responder", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bare = _load()


def _invite(*, compact: bool = False, route: bool = False) -> bytes:
    names = ("v", "f", "t", "i") if compact else ("Via", "From", "To", "Call-ID")
    lines = [
        "INVITE sip:13800138000@127.0.0.1:5070 SIP/2.0",
        f"{names[0]}: {UAC_VIA}",
        f"{names[1]}: <sip:4001112222@127.0.0.2>;tag=77SIPpTag001",
        f"{names[2]}: <sip:13800138000@127.0.0.1>",
        f"{names[3]}: 1-77@127.0.0.2",
        "CSeq: 1 INVITE",
        "Contact: <sip:4001112222@127.0.0.2:5061>",
        *(["Route: <sip:127.0.0.1:5070;lr>"] if route else []),
        "Max-Forwards: 70",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("form", ["full", "compact"])
def test_the_403_answers_its_invite(form: str) -> None:
    invite = parse(_invite(compact=form == "compact"))
    reply = bare.reject(_invite(compact=form == "compact"))
    assert classify(reply).action == "process"
    answer = parse(reply)
    assert isinstance(answer, Response) and answer.status == 403
    assert answer.vias == invite.vias
    assert (answer.call_id, answer.cseq, answer.from_) == (
        invite.call_id, invite.cseq, invite.from_,
    )  # fmt: skip
    assert answer.to.tag and answer.to.uri == invite.to.uri
    assert b'Reason: SIP;cause=403;text="CALLER_UNREGISTERED"' in reply


def test_the_relay_puts_its_via_on_top_and_record_routes_the_invite() -> None:
    relay = bare.Relay(ME)
    out = parse(relay.request(_invite(route=True)))
    assert isinstance(out, Request) and out.method == "INVITE"
    top, below = out.vias
    assert (top.host, top.port) == ME and top.branch == "z9hG4bKbare.z9hG4bK-77-1-0"
    assert (below.host, below.port, below.branch) == ("127.0.0.2", 5061, "z9hG4bK-77-1-0")
    assert out.headers.get("record-route") == "<sip:127.0.0.1:5070;lr>"
    assert out.headers.get("route") is None  # the Route naming this relay is consumed


def test_an_in_dialog_request_gets_no_record_route() -> None:
    bye = _invite(route=True).replace(b"INVITE sip:", b"BYE sip:", 1)
    bye = bye.replace(b"CSeq: 1 INVITE", b"CSeq: 2 BYE")
    out = parse(bare.Relay(ME).request(bye))
    assert out.headers.get("record-route") is None and len(out.vias) == 2


@pytest.mark.parametrize("vias", ["lines", "joined"])
def test_a_response_loses_the_relays_via_and_goes_to_the_next_sent_by(vias: str) -> None:
    relay = bare.Relay(ME)
    forwarded = relay.request(_invite())
    ours = forwarded.split(b"\r\n")[1].removeprefix(b"Via: ")
    lines = [b"Via: " + ours + b", " + UAC_VIA.encode()] if vias == "joined" else [
        b"Via: " + ours, b"Via: " + UAC_VIA.encode()]  # fmt: skip
    response = b"\r\n".join([b"SIP/2.0 200 OK", *lines, b"From: <sip:a@b>;tag=1",
                             b"To: <sip:c@d>;tag=2", b"Call-ID: 1-77@127.0.0.2",
                             b"CSeq: 1 INVITE", b"Content-Length: 0", b"", b""])  # fmt: skip
    back = relay.response(response)
    assert back is not None
    data, dest = back
    assert dest == ("127.0.0.2", 5061)
    answer = parse(data)
    assert [(v.host, v.port, v.branch) for v in answer.vias] == [
        ("127.0.0.2", 5061, "z9hG4bK-77-1-0")
    ]


def test_a_response_whose_top_via_is_not_the_relays_is_dropped() -> None:
    response = _invite().replace(b"INVITE sip:13800138000@127.0.0.1:5070 SIP/2.0",
                                 b"SIP/2.0 200 OK")  # fmt: skip
    assert bare.Relay(ME).response(response) is None
