"""RFC 4475 torture tests: every message gets the answer EXPECTED.tsv allows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sipguard.sip import Request, SipUri, classify, parse

CORPUS = Path(__file__).resolve().parent.parent / "data" / "rfc4475"


def _rows() -> list[dict[str, str]]:
    with (CORPUS / "EXPECTED.tsv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _allowed(expected: str) -> set[str]:
    if expected.startswith("either:"):
        return set(expected.removeprefix("either:").split("|"))
    return {expected}


def _load(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_corpus_is_complete() -> None:
    """The shipped corpus holds the 50 messages that EXPECTED.tsv lists."""
    rows = _rows()
    assert len(rows) == 50
    assert {r["file"] for r in rows} == {p.name for p in CORPUS.glob("*.dat")}


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["file"])
def test_classify_matches_expected(row: dict[str, str]) -> None:
    """classify() answers each torture message as EXPECTED.tsv's b2bua_expected column says."""
    outcome = classify(_load(row["file"]))
    got = outcome.action if outcome.status is None else f"{outcome.action}:{outcome.status}"
    assert got in _allowed(row["b2bua_expected"]), outcome.detail


def _request(name: str) -> Request:
    msg = parse(_load(name))
    assert isinstance(msg, Request)
    return msg


def test_esc01_decodes_escapes() -> None:
    """%HH escapes in SIP URI user parts and parameters are decoded (RFC 4475 3.1.1.3)."""
    req = _request("esc01.dat")
    ruri = req.request_uri
    assert isinstance(ruri, SipUri)
    assert ruri.user == "sips:user@example.com"
    assert isinstance(req.to.uri, SipUri) and req.to.uri.user == "user"
    assert isinstance(req.from_.uri, SipUri) and req.from_.uri.user == "I have spaces"
    contact = req.addresses("Contact")[0].uri
    assert isinstance(contact, SipUri)
    assert contact.user == "caller"
    assert contact.params == (("lr", None), ("name", "value%41"))


def test_escnull_keeps_two_distinct_contacts() -> None:
    """%00 is a character, so the two Contact users stay distinct (RFC 4475 3.1.1.4)."""
    users = [
        a.uri.user for a in _request("escnull.dat").addresses("m") if isinstance(a.uri, SipUri)
    ]
    assert users == ["\x00", "\x00\x00"]


def test_semiuri_user_part_holds_semicolon() -> None:
    """The Request-URI user part is 'user;par=u@example.net' with no URI params (3.1.1.9)."""
    ruri = _request("semiuri.dat").request_uri
    assert isinstance(ruri, SipUri)
    assert (ruri.user, ruri.host, ruri.params) == ("user;par=u@example.net", "example.com", ())


def test_dblreq_parses_only_the_register() -> None:
    """Octets past Content-Length on UDP are ignored: only the REGISTER is seen (3.1.1.8)."""
    req = _request("dblreq.dat")
    assert req.method == "REGISTER"
    assert req.body == b""
    assert req.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def test_mpart01_binary_body_framed_by_length() -> None:
    """The multipart body with NUL octets is exactly Content-Length octets long (3.1.1.11)."""
    req = _request("mpart01.dat")
    assert req.content_length == len(req.body) == 553
    assert b"\x00" in req.body


def test_wsinv_whitespace_and_folding() -> None:
    """Folded, oddly spaced headers still yield the right values (RFC 4475 3.1.1.1)."""
    req = _request("wsinv.dat")
    assert req.to.tag == "1918181833n"
    assert req.from_.display == 'J Rosenberg \\"'
    assert req.from_.tag == "98asjd8"
    assert req.max_forwards == 68
    assert (req.cseq.seq, req.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in req.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert req.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"


def test_cparam01_unbracketed_param_is_header_param() -> None:
    """In an addr-spec Contact, ';unknownparam' is a contact param, not a URI param (3.3.12)."""
    contact = _request("cparam01.dat").addresses("Contact")[0]
    assert contact.params == (("unknownparam", None),)
    assert isinstance(contact.uri, SipUri) and contact.uri.params == ()


def test_cparam02_bracketed_param_is_uri_param() -> None:
    """In a name-addr Contact, ';unknownparam' inside <> is a URI parameter (3.3.13)."""
    contact = _request("cparam02.dat").addresses("Contact")[0]
    assert contact.params == ()
    assert isinstance(contact.uri, SipUri) and contact.uri.params == (("unknownparam", None),)
