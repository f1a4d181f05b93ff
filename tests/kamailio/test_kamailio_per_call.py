"""What a call costs the plugin's worker, pinned to the plain behaviour: no pseudo-variable
name per call, the state spec worked out once per rules and setting, no reply route for an
ACK, and Kamailio started with the TLSF allocators (as the benchmark's baseline is)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_ksr import FakeKSR
from livecalls import write_call_rules
from test_kamailio_calls import answer, bye, place, worker

from sipguard.adapters.kamailio import cfg
from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.adapters.kamailio.settings import Settings
from sipguard.adapters.kamailio.state import state_for
from sipguard.cli import main
from sipguard.policy import load_rules


def ack(kemi: SipguardKemi, ksr: FakeKSR, cid: str) -> None:
    """The caller's ACK of the 200, on the route set."""
    ksr.request(**{"$ci": cid, "$si": "127.0.0.2"})
    ksr.method, ksr.totag, ksr.loose = "ACK", True, True
    kemi.ksr_request_route(None)


def whole_call(kemi: SipguardKemi, ksr: FakeKSR, cid: str) -> None:
    """An allowed outbound call: INVITE, its 200, ACK and BYE."""
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", cid) == []
    answer(kemi, ksr, cid)
    ack(kemi, ksr, cid)
    bye(kemi, ksr, cid)


def test_no_pseudo_variable_name_is_made_per_call(tmp_path: Path) -> None:
    """Kamailio keeps every pseudo-variable name it parses: the calls' records go through
    KSR.htable, so three calls use exactly the names one call uses, and each call's record
    is in the ``sipguard`` htable while it is up and gone after its BYE."""
    kemi, ksr = worker(write_call_rules(tmp_path))
    whole_call(kemi, ksr, "first")
    names = set(ksr.pv.names)
    assert not [n for n in names if n.startswith("$sht(")]
    place(kemi, ksr, "127.0.0.2", "4008001234", "13900139000", "second")
    key = kemi.calls._key("second")
    assert str(ksr.htable.sht_get("sipguard", key)).startswith("outbound|")
    answer(kemi, ksr, "second")
    bye(kemi, ksr, "second")
    assert ksr.htable.sht_get("sipguard", key) is None
    whole_call(kemi, ksr, "third")
    assert ksr.pv.names == names


def test_the_state_spec_is_state_for_of_the_rules_and_setting(tmp_path: Path) -> None:
    """The memo answers what ``state_for`` does, for new rules and a changed setting."""
    rules_path = write_call_rules(tmp_path)
    kemi, ksr = worker(rules_path)
    clock = [0.0]
    kemi.settings = Settings(ksr, kemi.env, lambda: clock[0])
    kemi.settings.routing = True
    rules = kemi.watch.rules if kemi.watch is not None else load_rules(rules_path)
    ksr.pv.values["$sel(cfg_get.sipguard.state)"] = "sqlite"
    assert kemi._state_spec(rules) == state_for(rules, "sqlite")
    ksr.pv.values["$sel(cfg_get.sipguard.state)"] = "memory"
    clock[0] += 2  # past the settings' TTL: the cfg value is read again
    assert kemi._state_spec(rules) == state_for(rules, "memory") == "memory"
    fresh = load_rules(rules_path)
    assert kemi._state_spec(fresh) == state_for(fresh, "memory")
    assert kemi._spec_memo is not None and kemi._spec_memo[0] is fresh


def test_an_ack_is_relayed_without_a_reply_route_a_bye_with_one(tmp_path: Path) -> None:
    """An ACK has no response, so no reply route is armed for it; a BYE's 200 is screened."""
    kemi, ksr = worker(write_call_rules(tmp_path))
    place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", "a1")
    answer(kemi, ksr, "a1")
    ack(kemi, ksr, "a1")
    assert ksr.relayed == [None] and "reply" not in ksr.callbacks
    bye(kemi, ksr, "a1")
    assert ksr.relayed == [None] and ksr.callbacks["reply"] == "ksr_onreply_sipguard"


def test_kamailio_starts_with_the_tlsf_allocators(tmp_path: Path) -> None:
    """The plugin's Kamailio runs on TLSF for shared and private memory."""
    argv = cfg.run_command(tmp_path / "kamailio.cfg")
    assert argv[:6] == ["kamailio", "-DD", "-E", "-f", str(tmp_path / "kamailio.cfg"), "-m"]
    assert cfg.MEMORY_MANAGERS == ("-x", "tlsf", "-X", "tlsf")
    start = argv.index("-x")
    assert argv[start : start + 4] == list(cfg.MEMORY_MANAGERS)


def test_the_printed_config_says_to_start_with_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sipguard kamailio config`` tells an operator the same allocators ``run`` uses."""
    assert main(["kamailio", "config", "--rules", str(write_call_rules(tmp_path))]) == 0
    start = next(line for line in capsys.readouterr().out.splitlines() if "Start with" in line)
    assert start.endswith("kamailio -DD -E -x tlsf -X tlsf -f kamailio.cfg")


def test_shared_memory_is_sized_by_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kamailio run --shm-mb`` sets Kamailio's ``-m`` (tm keeps every transaction in shared
    memory, so the size follows the call rate); a size under 16 MB is refused at once."""
    assert cfg.run_command(tmp_path / "k.cfg")[6] == str(cfg.SHM_MB)
    started: list[list[str]] = []

    def execvpe(file: str, argv: list[str], env: dict[str, str]) -> None:
        started.append(argv)
        raise OSError("not started in a test")

    monkeypatch.setattr("os.execvpe", execvpe)
    rules = str(write_call_rules(tmp_path))
    args = ["kamailio", "run", "--rules", rules, "--workdir", str(tmp_path / "w")]
    assert main([*args, "--shm-mb", "1024"]) == 2  # exec refused: the argv was built
    (argv,) = started
    assert argv[argv.index("-m") + 1] == "1024"
    with pytest.raises(SystemExit) as refused:
        main([*args, "--shm-mb", "8"])
    assert refused.value.code == 2
    assert "not a size in MB of at least 16" in capsys.readouterr().err
