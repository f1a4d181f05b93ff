"""Rules for the tests of trunk capacity, short calls, forwards, From rewrite and alerts."""

from __future__ import annotations

from pathlib import Path

from rulesdata import write_rules


def write_call_rules(
    folder: Path,
    *,
    port: int = 5270,
    max_calls: int = 2,
    webhook: str | None = None,
    events: tuple[str, ...] = ("number_suspended",),
    short: float = 6,
) -> Path:
    """The test rules with ``max_concurrent_calls`` on Acme's trunk, a short-call rule
    (under ``short`` s, more than 60% of the last 3) and, with ``webhook``, alerts."""
    rules = write_rules(folder, port=port, cap=20)
    text = rules.read_text(encoding="utf-8")
    text = _edit(text, "    forwarding: true\n", f"    max_concurrent_calls: {max_calls}\n")
    short_rule = f"  short_calls: {{seconds: {short}, ratio: 0.6, over_last: 3}}\n"
    text = _edit(text, '  violation_window: "1h"\n', short_rule)
    if webhook is not None:
        listed = ", ".join(events)
        text += f'alerts: {{webhook: "{webhook}", events: [{listed}], timeout: "1s"}}\n'
    rules.write_text(text, encoding="utf-8")
    return rules


def _edit(text: str, anchor: str, added: str) -> str:
    """``text`` with ``added`` after the first ``anchor``, which must be there."""
    assert anchor in text, f"the test rules no longer contain {anchor!r}"
    return text.replace(anchor, anchor + added, 1)
