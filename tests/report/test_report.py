"""``sipguard report`` over a journal filled by a real replay of the sample captures.

Every figure is checked against ``sipguard calls`` and ``journal entries`` on the same
journal; the HTML is rendered by headless Chromium and its charts checked for content; the
PDF's text is extracted with ``pdftotext``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report extra is not installed")
pytest.importorskip("reportlab", reason="the report extra is not installed")
from PIL import Image, ImageStat

from tests.e2e.harness import sipguard_command

ROOT = Path(__file__).resolve().parents[2]
# From before the captures to two days from now, so the operator actions taken now are inside; the
# capture dated 2031 (an expired licence) is outside.
UNTIL = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()  # in any zone
PERIOD = ["--since", "2026-06-01", "--until", UNTIL]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def sg(*args: str, cwd: Path) -> str:
    """Run the real console script; fail the test on a non-zero exit."""
    res = subprocess.run(
        [*sipguard_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example rules, and a journal filled by replaying every sample capture."""
    folder = tmp_path_factory.mktemp("report")
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(ROOT / name, folder / name)
    captures = sorted(str(p) for p in (ROOT / "captures").glob("*.pcap"))
    sg("replay", "--rules", "rules.yaml", "--journal", "journal.db", "--no-progress", *captures,
       cwd=folder)  # fmt: skip
    sg("numbers", "suspend", "--rules", "rules.yaml", "95123", "--why", "complaint 118",
       "--by", "alice", cwd=folder)  # fmt: skip
    sg("numbers", "resume", "--rules", "rules.yaml", "95123", "--by", "bob", cwd=folder)
    return folder


@pytest.fixture(scope="module")
def calls(work: Path) -> list[dict[str, object]]:
    """``sipguard calls`` over the report's period, as JSON."""
    out = sg("calls", "--rules", "rules.yaml", *PERIOD, "--format", "json", cwd=work)
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module")
def tables(work: Path) -> dict[str, list[list[str]]]:
    """The report's CSV, as rows per table key."""
    out = sg("report", "--rules", "rules.yaml", *PERIOD, "--format", "csv", cwd=work)
    found: dict[str, list[list[str]]] = {}
    for row in csv.reader(io.StringIO(out)):
        if row[0] != "table":
            found.setdefault(row[0], []).append(row[1:])
    return found


def test_figures_match_calls(
    tables: dict[str, list[list[str]]], calls: list[dict[str, object]]
) -> None:
    """Totals, per-day reasons and refusals by operator, trunk and number match ``calls``."""
    refused = [c for c in calls if c["verdict"] == "reject"]
    summary = dict(tables["summary"])
    assert len(calls) > 20 and summary["calls"] == str(len(calls))
    assert summary["refused"] == str(len(refused))
    assert summary["allowed"] == str(len(calls) - len(refused))
    assert all(str(c["time"]) < "2031" for c in calls)
    per_reason: Counter[tuple[str, str]] = Counter()
    for c in calls:
        per_reason[(str(c["time"])[:10], str(c["reason"]))] += 1
    assert {(d, r): int(n) for d, r, n in tables["per_day_by_reason"]} == dict(per_reason)
    by_op = Counter(str(c["operator"] or "(none)") for c in refused)
    assert {k: int(v) for k, v in tables["refused_by_operator"]} == dict(by_op)
    by_number = Counter(str(c["number"] or "(no filed number)") for c in refused)
    assert {k: int(v) for k, v in tables["refused_by_number"]} == dict(by_number)
    assert tables["top_numbers"][0] == ["4008001234", str(by_number["4008001234"])]
    assert sum(int(n) for _, _, q, f in [(0, *r) for r in tables["time_refusals_by_hour"]]
               for n in (q, f)) == sum(1 for c in refused if c["reason"] in
                                       ("QUIET_HOURS", "FREQUENCY_CAP"))  # fmt: skip


def test_consent_and_actions(
    tables: dict[str, list[list[str]]], calls: list[dict[str, object]]
) -> None:
    """Each allowed outbound call with its credential; every suspension and resume."""
    allowed_out = [
        [str(c["time"]).replace("T", " "), c["caller"], c["callee"], c["credential"]]
        for c in calls
        if c["verdict"] == "allow" and c["direction"] == "outbound"
    ]
    assert allowed_out and tables["consent"] == allowed_out
    actions = [(a[1], a[2], a[3]) for a in tables["actions"]]
    assert ("suspend", "4008001234", "sipguard") in actions
    assert actions[-2:] == [("suspend", "95123", "alice"), ("resume", "95123", "bob")]
    assert tables["actions"][-2][4] == "complaint 118"
    assert all(re.search(r"\+08:00$", a[0]) for a in tables["actions"])


def test_rules_and_chain(
    work: Path, tables: dict[str, list[list[str]]], calls: list[dict[str, object]]
) -> None:
    """The rules hash in force and the chain head are the journal's own."""
    hashes = {str(c["rules_hash"]) for c in calls}
    assert [r[0] for r in tables["rules"]] == sorted(hashes)
    assert tables["rules"][0][3] == str(len(calls))
    entries = sg("journal", "entries", "--rules", "rules.yaml", "--format", "json", cwd=work)
    head = max((json.loads(line) for line in entries.splitlines()), key=lambda e: e["seq"])
    chain = dict(tables["chain"])
    assert chain["status"] == "intact" and chain["head hash"] == head["hash"]
    assert chain["head entry"] == str(head["seq"])


def _varied(png: bytes) -> float:
    """The mean standard deviation of an image's RGB channels: 0 for a blank image."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(ImageStat.Stat(image).stddev) / 3


def test_html_charts_are_drawn_and_render(work: Path, tmp_path: Path) -> None:
    """The embedded chart PNGs have content, and Chromium renders the page non-blank."""
    page = tmp_path / "report.html"
    sg("report", "--rules", "rules.yaml", *PERIOD, "--output", str(page), cwd=work)
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text  # self-contained
    pngs = re.findall(r'id="chart-([a-z_]+)"[^>]*src="data:image/png;base64,([^"]+)"', text)
    assert [key for key, _ in pngs] == ["per_day", "by_hour"]
    for _, data in pngs:
        assert _varied(base64.b64decode(data)) > 10
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup --system installs it)")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,2000", page.as_uri()],
        capture_output=True, timeout=120, check=True, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2000)
    chart_band = image.crop((0, 350, 1200, 800))  # the per-day chart, below the summary
    assert _varied(shot.read_bytes()) > 10 and sum(ImageStat.Stat(chart_band).stddev) / 3 > 10


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_text(work: Path, tmp_path: Path, tables: dict[str, list[list[str]]]) -> None:
    """The PDF carries the same figures as text."""
    pdf = tmp_path / "report.pdf"
    sg("report", "--rules", "rules.yaml", *PERIOD, "--format", "pdf", "--output", str(pdf),
       cwd=work)  # fmt: skip
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    summary = dict(tables["summary"])
    assert f"{summary['calls']} calls: {summary['allowed']} allowed" in text
    for needle in ("Consent coverage", "CONSENT-2026-000001", "complaint 118",
                   dict(tables["chain"])["head hash"], "Asia/Shanghai"):  # fmt: skip
        assert needle in text, needle


def test_operator_filter_and_bad_operator(work: Path) -> None:
    """--operator keeps one operator's calls; an unknown operator is a usage error."""
    out = sg("report", "--rules", "rules.yaml", *PERIOD, "--operator", "beta", "--format", "csv",
             cwd=work)  # fmt: skip
    beta = sg("calls", "--rules", "rules.yaml", *PERIOD, "--operator", "beta", "--format", "json",
              cwd=work)  # fmt: skip
    assert f"summary,calls,{len(beta.splitlines())}" in out
    assert "95123" not in out.split("table,time,action")[1].split("table,")[0]
    res = subprocess.run(
        [*sipguard_command(), "report", "--rules", "rules.yaml", *PERIOD, "--operator", "zed"],
        cwd=work, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2 and "unknown operator 'zed'" in res.stderr
