"""The pjsua2 test peer against sipp and itself on loopback, with no sipguard in between.

These tests show the peer is a trustworthy instrument before it is pointed at sipguard.
Addresses 127.0.0.20-29, ports 5300-5329.
"""

from __future__ import annotations

from pathlib import Path

import pytest

try:  # the e2e directory may or may not be a package
    from .pjsua_helpers import needs_pjsua2, needs_sipp, sipp, stop, uac, uas
except ImportError:
    from pjsua_helpers import needs_pjsua2, needs_sipp, sipp, stop, uac, uas  # type: ignore[no-redef]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60), needs_pjsua2]

UAS_403_WITH_REASON = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer INVITE with 403 and a Reason header">
  <recv request="INVITE" />
  <send>
    <![CDATA[
      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Reason: SIP;cause=403;text="CALLER_UNREGISTERED"
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" />
</scenario>
"""


@needs_sipp
def test_pjsua_uac_calls_sipp_uas(tmp_path: Path) -> None:
    """A pjsua2 UAC gets 200 with sipp's SDP, holds, then sends BYE and exits 0."""
    server = sipp(tmp_path, "-sn", "uas", "-i", "127.0.0.21", "-p", "5301", "-m", "1")
    try:
        with uac(
            tmp_path,
            "127.0.0.20:5300",
            "sip:4008001234@127.0.0.20",
            "sip:13800138000@127.0.0.21:5301",
            "--hold",
            "0.3",
        ) as peer:
            assert peer.finish() == 0, peer.describe()
            result = peer.wait_for("result")
    finally:
        assert stop(server) == 0
    assert result["status"] == 200 and result["answered"] is True
    assert "c=IN IP4 127.0.0.21" in result["remote_sdp"]
    assert "m=audio " in result["local_sdp"]
    assert result["hung_up_by"] == "local"


@needs_sipp
def test_pjsua_uac_calls_sipp_uas_over_tcp(tmp_path: Path) -> None:
    """Over TCP the same call completes: the peer adds transport=tcp and sipp answers."""
    server = sipp(tmp_path, "-sn", "uas", "-t", "t1", "-i", "127.0.0.21", "-p", "5303", "-m", "1")
    try:
        with uac(
            tmp_path,
            "127.0.0.20:5302",
            "sip:4008001234@127.0.0.20",
            "sip:13800138000@127.0.0.21:5303",
            "--hold",
            "0.3",
            "--transport",
            "tcp",
        ) as peer:
            assert peer.finish() == 0, peer.describe()
            result = peer.wait_for("result")
    finally:
        assert stop(server) == 0
    assert result["status"] == 200 and result["hung_up_by"] == "local"


@needs_sipp
def test_sipp_uac_calls_pjsua_uas(tmp_path: Path) -> None:
    """A sipp UAC reaches the pjsua2 UAS, which records the INVITE and sees sipp's BYE."""
    with uas(tmp_path, "127.0.0.22:5304") as peer:
        peer.wait_for("ready")
        client = sipp(
            tmp_path,
            "-sn",
            "uac",
            "-s",
            "13800138000",
            "-i",
            "127.0.0.23",
            "-p",
            "5305",
            "-m",
            "1",
            "-d",
            "300",
            "127.0.0.22:5304",
        )
        assert stop(client) == 0
        assert peer.finish() == 0, peer.describe()
    invite = peer.wait_for("incoming")
    assert invite["request_uri"] == "sip:13800138000@127.0.0.22:5304"
    assert "sip:sipp@127.0.0.23:5305" in invite["from"]
    assert "c=IN IP4 127.0.0.23" in invite["sdp"]
    assert invite["pai"] == [] and invite["privacy"] is None
    assert peer.wait_for("disconnected")["by"] == "remote"


@needs_sipp
def test_pjsua_uac_reports_status_and_reason_of_a_rejection(tmp_path: Path) -> None:
    """A 403 with an RFC 3326 Reason header is reported verbatim, and --expect 403 exits 0."""
    scenario = tmp_path / "uas_403.xml"
    scenario.write_text(UAS_403_WITH_REASON, encoding="utf-8")
    server = sipp(tmp_path, "-sf", str(scenario), "-i", "127.0.0.21", "-p", "5307", "-m", "1")
    try:
        with uac(
            tmp_path,
            "127.0.0.20:5306",
            "sip:4008001234@127.0.0.20",
            "sip:13800138000@127.0.0.21:5307",
            "--expect",
            "403",
        ) as peer:
            assert peer.finish() == 0, peer.describe()
            result = peer.wait_for("result")
    finally:
        assert stop(server) == 0
    assert result["status"] == 403 and result["answered"] is False
    assert result["reason_header"] == 'SIP;cause=403;text="CALLER_UNREGISTERED"'
    assert result["hung_up_by"] is None


def test_pjsua_uac_fails_when_the_status_is_not_the_expected_one(tmp_path: Path) -> None:
    """The UAC exits 1 when the final status differs from --expect (here 486 instead of 200)."""
    with uas(tmp_path, "127.0.0.24:5308", "--reply", "486") as callee:
        callee.wait_for("ready")
        with uac(
            tmp_path,
            "127.0.0.25:5309",
            "sip:4008001234@127.0.0.25",
            "sip:13800138000@127.0.0.24:5308",
        ) as caller:
            assert caller.finish() == 1
            assert caller.wait_for("result")["status"] == 486
        assert callee.finish() == 0, callee.describe()


def test_pjsua_uas_hangs_up_after_its_duration(tmp_path: Path) -> None:
    """With --duration the UAS sends the BYE; the UAC reports the remote hang-up."""
    with uas(tmp_path, "127.0.0.26:5310", "--duration", "0.3") as callee:
        callee.wait_for("ready")
        with uac(
            tmp_path,
            "127.0.0.27:5311",
            "sip:4008001234@127.0.0.27",
            "sip:13800138000@127.0.0.26:5310",
            "--hold",
            "8",
        ) as caller:
            assert caller.finish() == 0, caller.describe()
            result = caller.wait_for("result")
        assert callee.finish() == 0, callee.describe()
    assert result["hung_up_by"] == "remote"
    assert callee.wait_for("disconnected")["by"] == "local"
    offered = caller.wait_for("final")["local_sdp"]
    assert callee.wait_for("incoming")["sdp"] == offered
