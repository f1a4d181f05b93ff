"""The ``admin:`` block of the rules and ``sipguard serve --admin``."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e.harness import write_rules

from sipguard.cli.serve_admin import admin_config
from sipguard.errors import RulesError
from sipguard.policy import load_rules

from .conftest import OPS_TOKEN


def rules_with(folder: Path, block: str) -> Path:
    path = write_rules(folder, 5070, 5080)
    path.write_text(path.read_text() + block)
    return path


def test_no_block_means_off(tmp_path: Path) -> None:
    ruleset = load_rules(write_rules(tmp_path, 5070, 5080))
    assert ruleset.admin_listen is None and ruleset.admin_token_path is None
    assert admin_config(None, ruleset) is None


def test_block_defaults_to_loopback_and_resolves_the_token_file(tmp_path: Path) -> None:
    ruleset = load_rules(rules_with(tmp_path, 'admin:\n  token_file: "secrets/admin.token"\n'))
    assert ruleset.admin_listen == "127.0.0.1:9060"
    assert ruleset.admin_token_path == tmp_path / "secrets" / "admin.token"


def test_token_file_is_required_and_listen_is_checked(tmp_path: Path) -> None:
    path = rules_with(tmp_path, 'admin:\n  listen: "127.0.0.1:99999"\n')
    with pytest.raises(RulesError) as info:
        load_rules(path)
    text = str(info.value)
    assert "token_file" in text and "bad listen address" in text
    assert f"{path}:" in text  # located


def test_serve_admin_flag_overrides_listen_and_reads_tokens(tmp_path: Path) -> None:
    (tmp_path / "admin.token").write_text(f"ops:{OPS_TOKEN}\n")
    ruleset = load_rules(rules_with(tmp_path, 'admin:\n  token_file: "admin.token"\n'))
    (host, port), tokens = admin_config("[::1]:9999", ruleset)
    assert (host, port) == ("::1", 9999)
    assert tokens.identify(OPS_TOKEN) == "ops"
    (host, port), _ = admin_config(None, ruleset)
    assert (host, port) == ("127.0.0.1", 9060)


def test_serve_admin_flag_without_block_or_tokens_is_an_error(tmp_path: Path) -> None:
    plain = load_rules(write_rules(tmp_path, 5070, 5080))
    with pytest.raises(ValueError, match="needs an admin: block"):
        admin_config("127.0.0.1:9061", plain)
    ruleset = load_rules(rules_with(tmp_path, 'admin:\n  token_file: "missing.token"\n'))
    with pytest.raises(ValueError, match="cannot read token file"):
        admin_config(None, ruleset)
