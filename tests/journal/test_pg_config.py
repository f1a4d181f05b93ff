"""journal.url and state.url in the rules: validation, precedence, and every journal
command (calls, numbers, journal verify/purge/entries) on a PostgreSQL journal."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sipguard.cli import main
from sipguard.errors import RulesError
from sipguard.journal.backends import (
    is_pg_url,
    journal_target,
    open_state,
    service_socket,
    sqlite_state_path,
    state_spec,
)
from sipguard.journal.state import SqliteState
from sipguard.policy import MemoryState, load_rules
from sipguard.policy.facts import Reason
from tests.journal.conftest import decision
from tests.pg_cluster import PgCluster, pg_available, pg_cluster_fixture

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"
pg_cluster = pg_cluster_fixture()
needs_pg = pytest.mark.skipif(not pg_available(), reason="PostgreSQL or psycopg not installed")


def _rules(folder: Path, journal: str, state: str | None = None) -> Path:
    """The example rules with ``journal:`` replaced (and a ``state:`` block if given)."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, folder / name)
    path = folder / "rules.yaml"
    text = path.read_text()
    start = text.index("journal:")
    end = text.index("\n", text.index("retention_days", start))
    text = text[:start] + f"journal:\n{journal}\n  retention_days: 30" + text[end:]
    if state is not None:
        text += f"\nstate:\n  url: {state!r}\n"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("journal", "problem"),
    [
        ('  path: j.db\n  url: "postgresql://h/j"', "exactly one of path"),
        ("  retention_days: 31", "exactly one of path"),
        ('  url: "mysql://h/j"', "should match pattern"),
    ],
)
def test_journal_block_errors_are_located(tmp_path: Path, journal: str, problem: str) -> None:
    """Both or neither of path and url, or a url that is not PostgreSQL's: a located error."""
    with pytest.raises(RulesError) as info:
        load_rules(_rules(tmp_path, journal))
    text = str(info.value)
    assert problem in text and "rules.yaml:" in text


def test_bad_state_url_is_located(tmp_path: Path) -> None:
    """state.url names sqlite:PATH, redis://... or memory; anything else is located."""
    with pytest.raises(RulesError) as info:
        load_rules(_rules(tmp_path, "  path: j.db", "mysql://x"))
    assert "state.url: bad state url 'mysql://x'" in str(info.value)


def test_state_precedence_and_defaults(tmp_path: Path) -> None:
    """An override beats state.url, which beats the SQLite file beside the journal; a
    relative sqlite:PATH is beside the rules file; a PostgreSQL journal's default is
    state.db beside the rules."""
    lite = load_rules(_rules(tmp_path, "  path: j.db"))
    assert journal_target(lite) == tmp_path / "j.db"
    assert state_spec(lite) == f"sqlite:{tmp_path / 'j.state.db'}"
    assert state_spec(lite, "memory") == "memory"
    pg = load_rules(_rules(tmp_path, '  url: "postgresql://u@h/j"', "sqlite:s/x.db"))
    assert journal_target(pg) == "postgresql://u@h/j" and pg.journal_path is None
    assert state_spec(pg) == f"sqlite:{tmp_path / 's/x.db'}"
    assert sqlite_state_path(state_spec(pg), pg) == tmp_path / "s/x.db"
    bare = load_rules(_rules(tmp_path, '  url: "postgresql://u@h/j"'))
    assert state_spec(bare) == f"sqlite:{tmp_path / 'state.db'}"
    redis = load_rules(_rules(tmp_path, "  path: j.db", "redis://127.0.0.1:6379/2"))
    assert state_spec(redis) == "redis://127.0.0.1:6379/2"


def test_plugin_state_override(tmp_path: Path) -> None:
    """The plugin's sipguard.state overrides state.url, except the front end's default."""
    from sipguard.adapters.kamailio.state import state_for

    rules = load_rules(_rules(tmp_path, "  path: j.db", "redis://127.0.0.1:6379/2"))
    assert state_for(rules, None) == state_for(rules, "sqlite") == "redis://127.0.0.1:6379/2"
    assert state_for(rules, "memory") == "memory"
    assert state_for(rules, "sqlite:/x.db") == "sqlite:/x.db"


def test_open_state_and_sockets(tmp_path: Path) -> None:
    """open_state opens what a spec names; a PostgreSQL journal's service is per owner."""
    assert isinstance(open_state("memory"), MemoryState)
    lite = open_state(f"sqlite:{tmp_path / 's.db'}")
    assert isinstance(lite, SqliteState)
    lite.close()
    with pytest.raises(ValueError, match="unknown state"):
        open_state("ftp://x")
    url = "postgresql://u@h/j"
    assert is_pg_url(url) and not is_pg_url(tmp_path / "j.db")
    assert service_socket(url, 10) != service_socket(url, 11)
    assert service_socket(url, 10).parent.stat().st_mode & 0o777 == 0o700
    assert service_socket(tmp_path / "j.db", 10) == tmp_path / "j.sock"
    assert len(os.fsencode(service_socket(url, 4_194_304))) < 107


@needs_pg
def test_journal_commands_on_postgresql(
    pg_cluster: PgCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """calls, numbers suspend/resume, journal entries, verify and purge, all with --rules
    naming a PostgreSQL journal, exactly as with an SQLite one."""
    from sipguard.journal.pg_store import PgJournalStore

    url = pg_cluster.create_database("commands")
    rules = str(_rules(tmp_path, f'  url: "{url}"'))
    now = datetime.now(UTC)
    store = PgJournalStore(url)
    store.append([decision(1, now - timedelta(days=40)), decision(2, now, Reason.QUIET_HOURS)])
    store.close()
    assert main(["calls", "--rules", rules, "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["call_id"] for r in rows] == ["call-1", "call-2"]
    assert main(["numbers", "suspend", "--rules", rules, "4008001234", "--why", "t"]) == 0
    assert main(["numbers", "suspended", "--rules", rules, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["number"] == "4008001234"
    assert (tmp_path / "state.db").exists()  # the state of a PostgreSQL journal's rules
    assert main(["numbers", "resume", "--rules", rules, "4008001234"]) == 0
    assert capsys.readouterr().out == "4008001234: resumed\n"
    entries = ["journal", "entries", "--rules", rules, "--kind", "admin", "--format", "json"]
    assert main(entries) == 0
    actions = [json.loads(line)["action"] for line in capsys.readouterr().out.splitlines()]
    assert actions == ["suspend", "resume"]
    assert main(["journal", "purge", "--rules", rules]) == 0
    assert "1 entries older than 30 days purged" in capsys.readouterr().out
    assert main(["journal", "verify", "--journal", url]) == 0
    assert "chain intact, 4 entries checked" in capsys.readouterr().out


def test_unreachable_journal_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PostgreSQL journal that does not answer: exit 2 with a message, no traceback."""
    pytest.importorskip("psycopg")
    from tests.pg_cluster import free_port

    url = f"postgresql://u:pw@127.0.0.1:{free_port()}/j"
    assert main(["journal", "verify", "--journal", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: journal database") and "pw" not in err


def test_service_needs_socket_and_state_for_postgresql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal service of a PostgreSQL journal is per node: no --socket/--state, exit 2;
    a database that does not answer, exit 1 with the reason (the starter reports it)."""
    pytest.importorskip("psycopg")
    from sipguard.journal import launch
    from tests.pg_cluster import free_port

    monkeypatch.setattr(launch, "_configure_logs", lambda: None)  # keep pytest's logging

    url = f"postgresql://u@127.0.0.1:{free_port()}/j"
    assert launch.main(["--journal", url]) == 2
    assert "needs --socket and --state" in capsys.readouterr().err
    argv = ["--journal", url, "--socket", str(tmp_path / "s.sock"), "--state", str(tmp_path / "s")]
    assert launch.main(argv) == 1
    assert "unreachable" in capsys.readouterr().err
