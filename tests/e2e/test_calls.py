"""Real calls through ``sipguard serve`` between sipp peers on loopback addresses."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import ACME, NETWORK, STRANGER, Served, SippRun, Uas, run_uac

CALLER, CALLEE = "4008001234", "13800138000"


def call(
    served: Served,
    tmp_path: Path,
    pair: tuple[str, str],
    *,
    outbound: bool = True,
    uac_extra: tuple[str, ...] = (),
    uas_extra: tuple[str, ...] = (),
) -> tuple[SippRun, SippRun]:
    """Run one UAC/UAS scenario pair through the server; returns (uac, uas) outcomes."""
    uac_ip, uas_ip, uas_port = (
        (ACME, NETWORK, served.net_port) if outbound else (NETWORK, ACME, served.trunk_port)
    )
    caller, callee = (CALLER, CALLEE) if outbound else (CALLEE, CALLER)
    uas = Uas(tmp_path, pair[1], uas_ip, uas_port, "-m", "1", "-d", "0", *uas_extra)
    try:
        target = f"{served.host}:{served.port}"
        keys = ("-key", "caller", caller, "-key", "callee", callee, "-m", "1", "-d", "0")
        uac = run_uac(tmp_path, pair[0], uac_ip, target, *keys, *uac_extra)
        return uac, uas.wait(15)
    finally:
        uas.kill()


def assert_ok(runs: tuple[SippRun, SippRun], served: Served) -> None:
    """Both peers completed their scenario."""
    for side, run in zip(("uac", "uas"), runs, strict=True):
        assert run.returncode == 0, (
            f"{side} failed ({run.returncode}):\n{run.errors[-2000:]}\n{run.output[-1500:]}\n"
            f"serve log:\n{served.log_text()[-2000:]}"
        )


def test_allowed_outbound_call_end_to_end(served: Served, tmp_path: Path) -> None:
    """A consented outbound call is bridged to the network; offer and answer SDP cross intact."""
    assert_ok(call(served, tmp_path, ("uac_call.xml", "uas_call.xml")), served)


def test_allowed_inbound_call_end_to_end(served: Served, tmp_path: Path) -> None:
    """An inbound call to a filed number is delivered to its trunk, SDP checked both ways."""
    runs = call(served, tmp_path, ("uac_call.xml", "uas_call.xml"), outbound=False)
    assert_ok(runs, served)


def test_cancel_before_answer(served: Served, tmp_path: Path) -> None:
    """A CANCEL while ringing reaches the callee; the caller gets 200 and 487."""
    assert_ok(call(served, tmp_path, ("uac_cancel.xml", "uas_cancel.xml")), served)


def test_bye_from_callee(served: Served, tmp_path: Path) -> None:
    """The callee hangs up; its BYE crosses to the caller, whose 200 comes back."""
    runs = call(served, tmp_path, ("uac_callee_hangs_up.xml", "uas_hangs_up.xml"))
    assert_ok(runs, served)


def test_reinvite_crosses_with_new_offer(served: Served, tmp_path: Path) -> None:
    """A re-INVITE's new offer and answer cross the B2BUA within the dialog."""
    assert_ok(call(served, tmp_path, ("uac_reinvite.xml", "uas_reinvite.xml")), served)


def test_100rel_with_prack(served: Served, tmp_path: Path) -> None:
    """A reliable 183 reaches the caller, whose PRACK reaches the callee before the 200."""
    assert_ok(call(served, tmp_path, ("uac_prack.xml", "uas_prack.xml")), served)


def test_tcp_caller(served: Served, tmp_path: Path) -> None:
    """A caller on TCP is bridged like one on UDP."""
    runs = call(served, tmp_path, ("uac_call.xml", "uas_call.xml"), uac_extra=("-t", "t1"))
    assert_ok(runs, served)


REJECTIONS = [
    (STRANGER, CALLER, CALLEE, 403, "UNKNOWN_SOURCE"),
    (ACME, "anonymous", CALLEE, 403, "CALLER_HIDDEN"),
    (ACME, "40080012345", CALLEE, 403, "NUMBER_LENGTH_CHANGED"),
    (ACME, "4001112222", CALLEE, 403, "CALLER_UNREGISTERED"),
    (ACME, "4006601234", CALLEE, 403, "CALLER_NOT_ON_TRUNK"),
    (ACME, "95123", CALLEE, 403, "INBOUND_ONLY"),
    (ACME, CALLER, "13911112222", 403, "NO_CONSENT"),
    (NETWORK, CALLEE, "400800123", 404, "CALLEE_LENGTH_CHANGED"),
    (NETWORK, CALLEE, "4009998888", 404, "CALLEE_UNREGISTERED"),
]


@pytest.mark.parametrize(("source", "caller", "callee", "status", "reason"), REJECTIONS)
def test_rejection_status_and_reason_header(
    served: Served, tmp_path: Path, source: str, caller: str, callee: str, status: int, reason: str
) -> None:
    """A refused call gets the reason's status and an RFC 3326 Reason header naming it."""
    keys = ("-key", "caller", caller, "-key", "callee", callee, "-m", "1")
    run = run_uac(tmp_path, "uac_reject.xml", source, f"{served.host}:{served.port}", *keys)
    assert run.returncode == 0, f"{run.errors[-2000:]}\n{run.output[-1000:]}"
    assert f"STATUS {status} REASON {status} {reason}" in run.logs


def test_outbound_egress_asserts_only_the_verified_number(served: Served, tmp_path: Path) -> None:
    """Spoofed display names, PPI and RPID never reach the network; From and PAI carry +86 NSN."""
    assert_ok(call(served, tmp_path, ("uac_spoof.xml", "uas_identity.xml")), served)


# Last in this module on purpose: a BYE whose answer the loss swallowed is retransmitted by
# the server for up to 32 s, toward the network port every test here shares; a callee of a
# later test would take it as an unexpected BYE and abort.
def test_calls_survive_packet_loss(served: Served, tmp_path: Path) -> None:
    """With 5% loss at both peers, retransmissions still complete every one of 10 calls."""
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, served.net_port, "-d", "3000", "-lost", "5")
    try:
        keys = ("-key", "caller", CALLER, "-key", "callee", CALLEE)
        uac = run_uac(
            tmp_path, "uac_call.xml", ACME, f"{served.host}:{served.port}", *keys,
            "-m", "10", "-r", "5", "-lost", "5", "-recv_timeout", "20000", timeout=90,
        )  # fmt: skip
    finally:
        uas.kill()
    assert uac.returncode == 0, f"{uac.errors[-2000:]}\n{uac.output[-2000:]}"
