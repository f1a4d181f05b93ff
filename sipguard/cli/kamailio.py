"""``sipguard kamailio config|run``: sipguard as a plugin inside a real Kamailio.

``config`` prints a complete kamailio.cfg that loads the plugin; ``run`` validates the rules,
checks that Kamailio's embedded Python can import sipguard, writes the config and replaces
itself with Kamailio in the foreground (so signals reach Kamailio directly).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sipguard.adapters.kamailio import cfg as kc
from sipguard.cli import kamailio_front as front
from sipguard.cli._common import DEFAULT_RULES, RULES_HELP, report_rules_error
from sipguard.errors import RulesError
from sipguard.policy.hostport import DEFAULT_LISTEN

if TYPE_CHECKING:
    from sipguard.cli._common import Subparsers


def register(sub: Subparsers) -> None:
    """Add the ``kamailio`` command group."""
    parser = sub.add_parser(
        "kamailio",
        help="run sipguard as a Kamailio plugin",
        description="Run sipguard's screening inside Kamailio through KEMI (app_python3).",
    )
    group = parser.add_subparsers(dest="kamailio_command", metavar="COMMAND", required=True)
    config = group.add_parser(
        "config",
        help="print a kamailio.cfg that loads the plugin",
        description=(
            "Validate the rules and print a complete kamailio.cfg that screens every initial "
            "INVITE with sipguard and relays allowed calls to their deliver_to."
        ),
    )
    _common(config)
    config.add_argument("--list-file", type=Path, metavar="FILE",
                        help="with --front: where to write the dispatcher list "
                        "(default dispatcher.list)")  # fmt: skip
    config.set_defaults(func=config_command)
    run = group.add_parser(
        "run",
        help="start Kamailio with the plugin in the foreground",
        description=(
            "Validate the rules, check that Kamailio's embedded Python can import sipguard, "
            "write kamailio.cfg and run Kamailio in the foreground with it."
        ),
    )
    _common(run)
    run.add_argument("--workdir", type=Path, help="where to write kamailio.cfg (default: temp)")
    run.add_argument("--shm-mb", type=_megabytes, default=kc.SHM_MB, metavar="MB",
                     help="Kamailio's shared memory in MB, sized to the call rate "
                          f"(default {kc.SHM_MB}; see docs/kamailio.md)")  # fmt: skip
    run.set_defaults(func=run_command)


def _megabytes(text: str) -> int:
    """A shared-memory size for Kamailio's ``-m``: a whole number of MB, 16 or more."""
    if not text.isdigit() or int(text) < 16:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size in MB of at least 16")
    return int(text)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rules", type=Path, default=DEFAULT_RULES, metavar="FILE", help=RULES_HELP)
    p.add_argument("--listen", action="append", metavar="HOST:PORT", help="UDP+TCP address")
    p.add_argument("--children", type=int, default=4, help="SIP worker processes per socket")
    p.add_argument(
        "--state", default="sqlite", help="shared state: sqlite[:PATH] (default), memory, redis://"
    )
    p.add_argument(
        "--journal-sync",
        choices=("full", "normal"),
        default="full",
        help="full: each record fsynced before the call goes on; normal: survives a crash "
        "of Kamailio, not of the machine (much faster)",
    )
    p.add_argument("--debug", type=int, default=2, help="Kamailio log level (1 notice, 2 info)")
    p.add_argument("--no-tcp", action="store_true", help="listen on UDP only")
    front.add_arguments(p)


def _options(args: argparse.Namespace) -> kc.KamailioOptions:
    from sipguard.policy import load_rules

    rules = load_rules(args.rules)
    listen = args.listen or rules.listen or [DEFAULT_LISTEN]
    return kc.KamailioOptions(
        rules=args.rules.resolve(),
        listen=tuple(kc.parse_listen(text) for text in listen),
        module_dir=kc.find_module_dir(),
        children=args.children,
        state=args.state,
        journal_sync=args.journal_sync,
        debug=args.debug,
        tcp=not args.no_tcp,
    )


def _prepare(args: argparse.Namespace) -> tuple[kc.KamailioOptions, dict[str, str]] | None:
    try:
        opts = _options(args)
        env = kc.environment(opts, dict(os.environ))
    except RulesError as exc:
        report_rules_error(args.rules, exc)
        return None
    except (kc.KamailioSetupError, ValueError, OSError) as exc:
        print(f"sipguard kamailio: {exc}", file=sys.stderr)
        return None
    return opts, env


def config_command(args: argparse.Namespace) -> int:
    """Print the configuration, headed by the environment Kamailio needs."""
    if args.front:
        return front.config_command(args)
    prepared = _prepare(args)
    if prepared is None:
        return 2
    opts, env = prepared
    text = kc.render(opts)
    head, _, rest = text.partition("\n")
    keys = ("PYTHONPATH", "SIPGUARD_RULES", "SIPGUARD_STATE")
    run = " ".join(f"{k}={shlex.quote(env[k])}" for k in keys)
    print(head)
    managers = " ".join(kc.MEMORY_MANAGERS)
    print(f"# Start with: {run} kamailio -DD -E {managers} -f kamailio.cfg")
    print(rest, end="")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Write the configuration and exec Kamailio in the foreground."""
    if args.front:
        return front.run_command(args)
    prepared = _prepare(args)
    if prepared is None:
        return 2
    opts, env = prepared
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sipguard-kamailio-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(kc.render(opts), encoding="utf-8")
    argv = kc.run_command(cfg, args.shm_mb)
    print(f"sipguard kamailio: {' '.join(argv)}", file=sys.stderr, flush=True)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"sipguard kamailio: cannot start kamailio: {exc}", file=sys.stderr)
    return 2
