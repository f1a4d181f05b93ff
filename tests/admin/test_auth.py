"""Bearer tokens: the token file, the constant-time check and every 401 path."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from sipguard.adapters.admin import tokens as tokens_module
from sipguard.adapters.admin.app import ROUTES, make_app
from sipguard.adapters.admin.tokens import TokenFileError, Tokens, load_tokens, parse_tokens

from .conftest import AUDIT_TOKEN, OPS_TOKEN, TOKENS, FakeBackend, with_client

Client = TestClient[Any, Any]
BARE = "bare-token-0123456789"


def test_token_file_names_and_bare_token() -> None:
    """``NAME:TOKEN`` lines and a bare token (named admin); comments and blanks skipped."""
    text = f"# operators\n\nops:{OPS_TOKEN}\n  audit:{AUDIT_TOKEN}  \n{BARE}\n"
    tokens = parse_tokens(text, "admin.token")
    assert tokens.identify(OPS_TOKEN) == "ops"
    assert tokens.identify(AUDIT_TOKEN) == "audit"
    assert tokens.identify(BARE) == "admin"
    assert tokens.identify("ops-0123456789abcdeX") is None
    assert tokens.identify("") is None


def test_token_file_problems_are_all_located() -> None:
    text = "\n".join(
        [
            "short:abc",
            f"bad name:{OPS_TOKEN}",
            f"ops:{OPS_TOKEN}",
            f"ops:{AUDIT_TOKEN}",
            f"other:{OPS_TOKEN}",
            "sp:has space in the token",
        ]
    )
    with pytest.raises(TokenFileError) as info:
        parse_tokens(text, "t.txt")
    lines = str(info.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        "t.txt:1", "t.txt:2", "t.txt:4", "t.txt:5", "t.txt:6",
    ]  # fmt: skip
    assert "shorter than 16" in lines[0]
    assert "appears twice" in lines[2]
    assert "also another name's token" in lines[3]


def test_empty_or_missing_token_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.token"
    empty.write_text("# nothing\n")
    with pytest.raises(TokenFileError, match="no token in the file"):
        load_tokens(empty)
    with pytest.raises(TokenFileError, match="cannot read token file"):
        load_tokens(tmp_path / "missing.token")
    binary = tmp_path / "bin.token"
    binary.write_bytes(b"\xff\xfe\xfd")
    with pytest.raises(TokenFileError, match="not UTF-8"):
        load_tokens(binary)


def test_every_token_is_compared_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check uses hmac.compare_digest on equal-length digests, for every known token."""
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(tokens_module.hmac, "compare_digest", spy)
    tokens = Tokens.of({"a": "a" * 20, "b": "b" * 20, "c": "c" * 20})
    assert tokens.identify("a" * 20) == "a"  # a match on the first does not stop the loop
    assert tokens.identify("x") is None  # a short token is not compared by its length
    assert calls == [(32, 32)] * 6


def _status_for(
    headers: dict[str, str], method: str = "GET", path: str = "/stats"
) -> tuple[int, Any, str | None]:
    app = make_app(FakeBackend(), TOKENS)

    async def scenario(client: Client) -> tuple[int, Any, str | None]:
        resp = await client.request(method, path, headers=headers)
        return resp.status, await resp.json(), resp.headers.get("WWW-Authenticate")

    return with_client(app, scenario)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer wrong-token-0123456789"}, "invalid token"),
        ({"Authorization": f"Bearer {OPS_TOKEN}x"}, "invalid token"),
        ({"Authorization": f"Basic {OPS_TOKEN}"}, "malformed Authorization header"),
        ({"Authorization": "Bearer"}, "malformed Authorization header"),
        ({"Authorization": "Bearer   "}, "malformed Authorization header"),
        ({"Authorization": f"Bearer {OPS_TOKEN} extra"}, "malformed Authorization header"),
        ({"Authorization": OPS_TOKEN}, "malformed Authorization header"),
    ],
)
def test_missing_wrong_or_malformed_token_is_401(headers: dict[str, str], message: str) -> None:
    status, body, challenge = _status_for(headers)
    assert status == 401
    assert message in body["error"]
    assert challenge == 'Bearer realm="sipguard"'


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in ROUTES if p != "/openapi.yaml"])
def test_every_route_needs_a_token(method: str, path: str) -> None:
    """No route but the description answers without a token, and nothing changes."""
    path = path.replace("{number}", "95123")
    status, _, _ = _status_for({"Authorization": "Bearer nope-nope-nope-nope"}, method, path)
    assert status == 401


def test_unknown_path_without_token_is_401_not_404() -> None:
    status, _, _ = _status_for({}, "GET", "/secret/place")
    assert status == 401


def test_scheme_is_case_insensitive() -> None:
    status, _, _ = _status_for({"Authorization": f"bearer {AUDIT_TOKEN}"})
    assert status == 200


def test_a_token_file_others_can_read_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    path.write_text(f"ops:{OPS_TOKEN}\n")
    path.chmod(0o600)
    assert load_tokens(path).readable_by_others is False
    path.chmod(0o644)
    assert load_tokens(path).readable_by_others is True
