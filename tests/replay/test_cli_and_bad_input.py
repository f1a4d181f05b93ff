"""The replay command: output formats, filters, exit codes and bad input without tracebacks."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sipguard.cli import main

ROOT = Path(__file__).resolve().parents[2]
RULES = str(ROOT / "rules.yaml")
CAP = ROOT / "captures"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", "--rules", RULES, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_prints_one_verdict_per_line_then_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints spec section 5 objects and a final summary with counts by reason."""
    code, out, _ = run(capsys, "--json", str(CAP / "frequency_cap.pcap"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [v["reason"] for v in lines[:-1]] == ["ALLOWED", "ALLOWED", "FREQUENCY_CAP"]
    assert lines[0]["time"] == "2026-06-02T10:00:00+08:00"
    assert lines[0]["source"] == "127.0.0.2:5060" and lines[0]["credential"]
    summary = lines[-1]["summary"]
    assert summary["by_reason"] == {"ALLOWED": 2, "FREQUENCY_CAP": 1}
    assert summary["partial"] is False


def test_filters_and_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--only reject and --reason keep matching rows; --csv writes the same table."""
    target = tmp_path / "out.csv"
    code, out, _ = run(
        capsys, "--only", "reject", "--csv", str(target), str(CAP / "number_suspended.pcap")
    )
    assert code == 0
    rows = target.read_text().splitlines()
    assert rows[0] == "time,source,caller,callee,verdict,reason"
    assert len(rows) == 7 and all(",reject," in r for r in rows[1:])
    assert "NUMBER_SUSPENDED" in out and "NO_CONSENT" in out
    _, out, _ = run(
        capsys, "--json", "--reason", "NUMBER_SUSPENDED", str(CAP / "number_suspended.pcap")
    )
    assert [json.loads(x).get("reason") for x in out.splitlines()[:-1]] == ["NUMBER_SUSPENDED"]


def test_table_lists_rows_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """The default table has one row per transaction and counts by reason at the end."""
    code, out, _ = run(capsys, str(CAP / "tcp_split.pcap"))
    assert code == 0
    assert out.splitlines()[0].split() == [
        "time",
        "source",
        "caller",
        "callee",
        "verdict",
        "reason",
    ]
    assert out.count("ALLOWED") == 3 and "CALLEE_UNREGISTERED" in out


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is not a capture\n", gzip.compress(b"not a capture either")],
    ids=["empty", "text", "gzip-text"],
)
def test_unreadable_input_exits_2_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    """A file that is no capture gives a clear warning and exit status 2."""
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    code, out, err = run(capsys, "--json", str(bad))
    assert code == 2
    assert "warning:" in err and "Traceback" not in err
    assert json.loads(out.splitlines()[-1])["summary"]["partial"] is True


def test_truncated_capture_is_partial(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A capture cut inside a record keeps what was read and says it is partial."""
    data = (CAP / "frequency_cap.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 50])
    code, out, err = run(capsys, "--json", str(cut))
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0
    assert [v["reason"] for v in lines[:-1]] == ["ALLOWED", "ALLOWED"]
    assert lines[-1]["summary"]["partial"] is True and "truncated" in err


def test_truncated_gzip_capture_is_partial(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A gzip capture whose stream breaks off is read up to the break and marked partial."""
    packed = gzip.compress((CAP / "frequency_cap.pcap").read_bytes())
    whole, cut = tmp_path / "whole.pcap.gz", tmp_path / "cut.pcap.gz"
    whole.write_bytes(packed)
    cut.write_bytes(packed[: len(packed) // 2])
    code, out, _ = run(capsys, "--json", str(whole))
    assert code == 0 and json.loads(out.splitlines()[-1])["summary"]["by_reason"]["ALLOWED"] == 2
    code, out, err = run(capsys, "--json", str(cut))
    assert code == 0 and json.loads(out.splitlines()[-1])["summary"]["partial"] is True
    assert "Traceback" not in err


def test_garbage_payloads_are_ignored(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Random frames of every link type decode to nothing instead of failing the run."""
    import random
    import struct

    rng = random.Random(7)
    records = b"".join(
        struct.pack("<IIII", 1_700_000_000 + i, 0, n, n) + rng.randbytes(n)
        for i, n in enumerate(rng.randrange(0, 200) for _ in range(300))
    )
    for linktype in (0, 1, 101, 113, 276):
        path = tmp_path / f"garbage{linktype}.pcap"
        path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype) + records)
        code, out, err = run(capsys, "--json", str(path))
        assert code == 0 and "Traceback" not in err
        assert json.loads(out.splitlines()[-1])["summary"]["frames"] == 300


def test_bad_rules_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A rules error is printed with its location and the command exits 2."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nbogus: true\n")
    code = main(["replay", "--rules", str(rules), str(CAP / "no_consent.pcap")])
    assert code == 2
    assert "rules.yaml:" in capsys.readouterr().err


def test_journal_records_every_decision(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--journal appends one decision entry per screened INVITE, and the chain verifies."""
    from sipguard.journal import JournalStore

    journal = tmp_path / "j.db"
    code, _, _ = run(
        capsys,
        "--journal",
        str(journal),
        "--state",
        str(tmp_path / "s.db"),
        str(CAP / "frequency_cap.pcap"),
    )
    assert code == 0
    store = JournalStore(journal)
    try:
        assert store.count() == 3
        assert store.verify().ok
    finally:
        store.close()
