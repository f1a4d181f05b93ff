"""``rules validate``: a "did you mean" for an unknown key in every mapping of the schema,
however deep, reported in the same round as the other problems."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sipguard.cli import main
from sipguard.policy.model import Outbound, Rules, ShortCalls, Sip, Trunk
from sipguard.policy.schema_keys import known_keys

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"
SLIPS = """\
sip:
  refusal_phrases: true
reload_guard:
  max_dorp: 0.2
alerts:
  webhok: "http://127.0.0.1:9/"
  events: [number_suspended]
"""


def test_every_nested_mapping_suggests_its_own_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(DATA / "consents.csv", tmp_path / "consents.csv")
    text = (DATA / "rules.yaml").read_text(encoding="utf-8") + SLIPS
    text = text.replace(
        "outbound:\n", "outbound:\n  short_calls: {seconds: 5, ratio: 0.5, over_lst: 3}\n", 1
    )
    text = text.replace("deliver_to:", "deliver_too:", 1)
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    assert main(["rules", "validate", "--rules", str(tmp_path / "rules.yaml")]) == 2
    err = capsys.readouterr().err
    for slip, key in [("refusal_phrases", "refusal_phrase"), ("max_dorp", "max_drop"),
                      ("webhok", "webhook"), ("over_lst", "over_last"),
                      ("deliver_too", "deliver_to")]:  # fmt: skip
        assert f"unknown key {slip!r} (did you mean {key!r}?)" in err, err


def test_known_keys_walk_the_models() -> None:
    assert known_keys(()) == list(Rules.model_fields)
    assert known_keys(("trunks", "acme-sh-1")) == list(Trunk.model_fields)
    assert known_keys(("outbound",)) == list(Outbound.model_fields)
    assert known_keys(("outbound", "short_calls")) == list(ShortCalls.model_fields)
    assert known_keys(("sip",)) == list(Sip.model_fields)
    assert "number" in known_keys(("numbers", 0)) and known_keys(("numbers",)) == ["file"]
    assert known_keys(("timezone",)) == [] and known_keys(("nowhere", "x")) == []
