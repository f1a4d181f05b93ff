"""The front's configuration: what it routes with, and that Kamailio itself accepts it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sipguard.adapters.kamailio import front_cfg as fc
from sipguard.adapters.kamailio.cfg import Listen
from sipguard.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def options(tmp: Path, nodes: tuple[Listen, ...] = (Listen("127.0.0.1", 5071),
                                                     Listen("127.0.0.1", 5072))) -> fc.FrontOptions:
    return fc.FrontOptions(listen=(Listen("127.0.0.1", 5090),), nodes=nodes,
                           module_dir="/usr/lib/kamailio/modules",
                           list_file=tmp / "dispatcher.list")  # fmt: skip


def test_the_config_hashes_over_call_id_probes_and_fails_over(tmp_path: Path) -> None:
    text = fc.render(options(tmp_path))
    assert 'ds_select_dst("1", "0")' in text  # algorithm 0: hash over Call-ID
    assert 'modparam("dispatcher", "ds_probing_mode", 1)' in text
    assert 'modparam("dispatcher", "ds_ping_interval", 2)' in text
    assert 'modparam("dispatcher", "flags", 2)' in text  # fail-over list kept
    assert "record_route();" in text and "loose_route()" in text
    assert 't_on_failure("NODE_FAILED")' in text and "ds_next_dst()" in text
    assert "t_branch_timeout() && !t_branch_replied()" in text
    assert 'remove_hf("X-Sipguard-Source");' in text
    assert f'list_file", "{tmp_path / "dispatcher.list"}"' in text


def test_the_list_names_every_node_in_set_one(tmp_path: Path) -> None:
    nodes = (Listen("127.0.0.1", 5071), Listen("::1", 5072))
    lines = fc.render_list(options(tmp_path, nodes)).splitlines()
    assert lines[1:] == ["1 sip:127.0.0.1:5071 0 0 node=1", "1 sip:[::1]:5072 0 0 node=2"]


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ((), "at least one node"),
        ((Listen("127.0.0.1", 5071), Listen("127.0.0.1", 5071)), "same node twice"),
        ((Listen("127.0.0.1", 5090),), "cannot listen on its node"),
    ],
)
def test_bad_node_lists_are_refused(
    tmp_path: Path, nodes: tuple[Listen, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fc.check(options(tmp_path, nodes))


@pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio is not installed")
def test_kamailio_accepts_the_printed_config(tmp_path: Path) -> None:
    """``kamailio config --front`` output passes ``kamailio -c`` (parse and fixup)."""
    argv = [sys.executable, "-m", "sipguard", "kamailio", "config", "--front",
            "127.0.0.1:5071", "127.0.0.1:5072", "--listen", "127.0.0.1:5090",
            "--list-file", str(tmp_path / "d.list")]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d.list").read_text().count("\n1 sip:127.0.0.1:507") == 2
    cfg = tmp_path / "front.cfg"
    cfg.write_text(out.stdout)
    check = subprocess.run(["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_config_refuses_a_bad_node_with_a_clear_message(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "sipguard", "kamailio", "config", "--front", "nowhere",
            "--list-file", str(tmp_path / "d.list")]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert out.returncode == 2
    assert "HOST:PORT" in out.stderr and "Traceback" not in out.stderr


def readme_fleet_commands() -> list[list[str]]:
    """The sipguard command lines of the README's "Running a fleet" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Running a fleet", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line.strip().rstrip("&")) for line in lines
            if line.strip().startswith("sipguard ")]  # fmt: skip


def test_the_readme_fleet_commands_are_accepted_and_agree() -> None:
    """The README's nodes and front parse, and the front dispatches to exactly those nodes."""
    parsed = [build_parser().parse_args(cmd[1:]) for cmd in readme_fleet_commands()]
    nodes = [a for a in parsed if a.command == "serve"]
    (front,) = [a for a in parsed if a.command == "kamailio"]
    assert len(nodes) == 2 and all(callable(a.func) for a in parsed)
    assert sorted(front.front) == sorted(a.listen[0] for a in nodes)
    front_host = front.listen[0].rsplit(":", 1)[0]
    assert all(a.trust_front == [front_host] for a in nodes)
    assert len({a.admin for a in nodes}) == 2  # one admin port per node


def test_a_too_short_node_timeout_is_refused(tmp_path: Path) -> None:
    opts = options(tmp_path)
    short = fc.FrontOptions(opts.listen, opts.nodes, opts.module_dir, opts.list_file,
                            node_timeout_ms=50)  # fmt: skip
    with pytest.raises(ValueError, match="node-timeout"):
        fc.check(short)


def test_serve_takes_only_ip_addresses_as_trusted_fronts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A name would never match a packet's source; IPv6 is compared in its short form."""
    args = build_parser().parse_args(["serve", "--trust-front", "[::0001]", "--trust-front",
                                      "127.0.0.1"])  # fmt: skip
    assert args.trust_front == ["::1", "127.0.0.1"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--trust-front", "front.example"])
    assert "not an IP address: 'front.example'" in capsys.readouterr().err
