"""Every subcommand explains itself, a bad option shows that subcommand's usage, and
``--rules`` is the same option with the same default in every command."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from sipguard.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "sipguard" / "data"
LEAVES = [
    ("serve",), ("check",), ("replay",), ("rules", "validate"), ("rules", "confirm"),
    ("calls",), ("report",),
    ("journal", "verify"), ("journal", "purge"), ("journal", "entries"),
    ("numbers", "suspended"), ("numbers", "suspend"), ("numbers", "resume"),
    ("kamailio", "config"), ("kamailio", "run"),
]  # fmt: skip


def _help(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("words", LEAVES, ids=" ".join)
def test_help_has_a_description(words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    """Between the usage and the options there is a sentence saying what the command does."""
    text = _help(capsys, *words)
    between = text.split("\n\n")[1]
    assert not between.startswith(("options:", "positional arguments:")), text
    assert len(between.split()) >= 5


@pytest.mark.parametrize("words", LEAVES, ids=" ".join)
def test_rules_option_is_the_same_everywhere(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """--rules FILE, defaulting to ./rules.yaml, in every command."""
    text = " ".join(_help(capsys, *words).split())
    assert "--rules FILE the rules file (default: ./rules.yaml)" in text


@pytest.mark.parametrize("words", LEAVES, ids=" ".join)
def test_bad_option_prints_the_subcommand_usage(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown option is reported with the usage of the command it was given to."""
    with pytest.raises(SystemExit) as done:
        main([*words, "--no-such-option"])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert err.startswith(f"usage: sipguard {' '.join(words)} ")
    # (a command with required arguments may name those first)
    assert f"sipguard {' '.join(words)}: error:" in err


def test_rules_default_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --rules, ./rules.yaml is used by validate and by the journal commands."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "validate"]) == 0
    assert "rules.yaml: ok:" in capsys.readouterr().out
    assert main(["numbers", "suspended"]) == 0
    assert "0 suspended" in capsys.readouterr().out
    (tmp_path / "rules.yaml").unlink()
    assert main(["numbers", "suspended"]) == 2
    assert "rules.yaml" in capsys.readouterr().err


def test_unknown_option_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    """Once the required arguments are there, the unknown option itself is named."""
    with pytest.raises(SystemExit):
        main(["journal", "verify", "--jurnal", "x.db"])
    err = capsys.readouterr().err
    assert err.startswith("usage: sipguard journal verify ")
    assert "unrecognized arguments: --jurnal x.db" in err


def test_every_leaf_is_listed() -> None:
    """LEAVES names every command, so the checks above cover all of them."""
    leaves: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            leaves.append(words)
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*words, name))

    walk(build_parser(), ())
    assert sorted(leaves) == sorted(LEAVES)


BAD_RULES_ARGS = {
    ("check",): ["--source", "127.0.0.2", str(ROOT / "examples" / "invite-outbound.sip")],
    ("replay",): [str(ROOT / "captures" / "quiet_hours.pcap")],
    ("report",): ["--since", "7d", "--until", "0d"],
    ("numbers", "suspend"): ["4008001234", "--why", "x"],
    ("numbers", "resume"): ["4008001234"],
}


@pytest.mark.parametrize("words", LEAVES, ids=" ".join)
def test_bad_rules_are_reported_alike(
    words: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every command prints each located issue and one summary line, and exits 2."""
    bad = tmp_path / "rules.yaml"
    bad.write_text((DATA / "rules.yaml").read_text().replace("version: 1", "version: 1\nspeed: 3"))
    shutil.copy(DATA / "consents.csv", tmp_path / "consents.csv")
    extra = BAD_RULES_ARGS.get(words, [])
    args = [*words, *extra] if words != ("rules", "validate") else [*words]
    assert main([*args, "--rules", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-2].endswith("unknown key 'speed'") and err[-2].startswith(str(bad))
    assert err[-1] == f"{bad}: 1 error(s); rules not loaded"
