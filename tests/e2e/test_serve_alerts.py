"""serve posts a number_suspended alert to a real local webhook, once, off the call path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_alerts import Hook

from .harness import ACME, Served, run_uac, serve_in

ALERTS = 'alerts:\n  webhook: "{url}"\n  events: [number_suspended]\n  timeout: 2s\n'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "serve").mkdir()
    served = serve_in(tmp_path / "serve")
    try:
        yield served
    finally:
        assert served.stop() == 0, served.log_text()[-3000:]


def test_a_suspension_posts_exactly_one_alert(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    hook = Hook()
    try:
        rules = server.folder / "rules.yaml"
        text = rules.read_text().replace(
            "suspend_after_violations: 100000", "suspend_after_violations: 2"
        )
        rules.write_text(text + ALERTS.format(url=hook.url))
        deadline = time.monotonic() + 10
        while "rules.reloaded" not in server.log_text():
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.1)
        reasons = [_refused(server, tmp_path) for _ in range(3)]
        assert reasons == ["NO_CONSENT", "NO_CONSENT", "NUMBER_SUSPENDED"]
        assert hook.got.wait(10), server.log_text()[-2000:]
        time.sleep(0.5)  # a second alert would have arrived by now
        assert len(hook.bodies) == 1
        (body,) = hook.bodies
        assert body["event"] == "number_suspended" and body["number"] == "4008001234"
        assert body["reason"] == "NO_CONSENT" and body["trunk"] == "acme-sh-1"
        assert str(body["time"]).startswith("20") and body["call_id"]
    finally:
        hook.server.shutdown()


def _refused(served: Served, folder: Path) -> str:
    """The Reason of a call from the filed 4008001234 to a callee without consent."""
    keys = ("-key", "caller", "4008001234", "-key", "callee", "13911112222", "-m", "1")
    run = run_uac(folder, "uac_reject.xml", ACME, f"{served.host}:{served.port}", *keys)
    assert run.returncode == 0, run.errors[-2000:]
    return run.logs.split("REASON ")[-1].split()[-1]


def test_a_failed_reload_posts_one_alert_and_keeps_the_old_rules(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    hook = Hook()
    try:
        rules = server.folder / "rules.yaml"
        good = rules.read_text() + ALERTS.format(url=hook.url).replace(
            "[number_suspended]", "[rules_reload_failed]"
        )
        rules.write_text(good)
        deadline = time.monotonic() + 10
        while "rules.reloaded" not in server.log_text():
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.1)
        rules.write_text(good.replace("retention_days: 30", "retention_days: 7"))
        assert hook.got.wait(10), server.log_text()[-2000:]
        (body,) = hook.bodies
        assert body["event"] == "rules_reload_failed" and str(body["rules"]).endswith("rules.yaml")
        assert "retention_days" in str(body["problem"])
        assert _refused(server, tmp_path) == "NO_CONSENT"  # the old rules still decide
    finally:
        hook.server.shutdown()


def test_the_call_reaching_80_percent_of_the_daily_cap_posts_a_limit_warning(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .harness import NETWORK, Uas

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    hook = Hook()
    try:
        rules = server.folder / "rules.yaml"
        text = rules.read_text().replace(
            "max_calls_per_callee_per_day: 100000", "max_calls_per_callee_per_day: 2"
        )
        rules.write_text(
            text + ALERTS.format(url=hook.url).replace("number_suspended", "limit_warning")
        )
        deadline = time.monotonic() + 10
        while "rules.reloaded" not in server.log_text():
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.1)
        uas = Uas(tmp_path, "uas_call.xml", NETWORK, server.net_port, "-m", "2", "-d", "0")
        try:
            keys = ("-key", "caller", "4008001234", "-key", "callee", "13800138000")
            target = f"{server.host}:{server.port}"
            run = run_uac(tmp_path, "uac_call.xml", ACME, target, *keys, "-m", "2", "-d", "0")
            assert run.returncode == 0, run.errors[-2000:]
        finally:
            uas.kill()
        assert hook.got.wait(10), server.log_text()[-2000:]
        time.sleep(0.3)
        (body,) = hook.bodies
        assert body["event"] == "limit_warning" and body["number"] == "4008001234"
        assert (body["limit"], body["count"], body["of"]) == ("max_calls_per_callee_per_day", 2, 2)
    finally:
        hook.server.shutdown()
