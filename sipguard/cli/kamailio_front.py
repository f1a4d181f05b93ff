"""``sipguard kamailio config|run --front NODE…``: a Kamailio front over ``serve`` nodes.

``config --front`` writes the dispatcher list (``--list-file``, default ``dispatcher.list``)
and prints the front's kamailio.cfg; ``run --front`` writes both into its work directory
and replaces itself with Kamailio in the foreground.  The front reads no rules: the
nodes behind it screen every call.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from sipguard.adapters.kamailio import cfg as kc
from sipguard.adapters.kamailio import front_cfg as fc
from sipguard.policy.hostport import DEFAULT_LISTEN


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The front's options, added to ``kamailio config`` and ``kamailio run``."""
    front = p.add_argument_group("front over serve nodes")
    front.add_argument("--front", nargs="+", metavar="HOST:PORT",
                       help="instead of the plugin: a dispatcher front that spreads calls "
                       "over these sipguard serve nodes")  # fmt: skip
    front.add_argument("--ping-interval", type=int, default=2, metavar="SECONDS",
                       help="OPTIONS probe of every node this often (default 2)")  # fmt: skip
    front.add_argument("--node-timeout", type=int, default=2000, metavar="MS",
                       help="an INVITE a node does not answer within this long goes to the "
                       "next node (default 2000)")  # fmt: skip


def options(args: argparse.Namespace, list_file: Path) -> fc.FrontOptions:
    """The front's options from the command line; ValueError or KamailioSetupError."""
    opts = fc.FrontOptions(
        listen=tuple(kc.parse_listen(t) for t in (args.listen or [DEFAULT_LISTEN])),
        nodes=tuple(kc.parse_listen(t) for t in args.front),
        module_dir=fc.find_module_dir(),
        list_file=list_file.resolve(),
        children=args.children,
        tcp=not args.no_tcp,
        debug=args.debug,
        ping_interval=args.ping_interval,
        node_timeout_ms=args.node_timeout,
    )
    fc.check(opts)
    return opts


def _write(opts: fc.FrontOptions, cfg: Path | None) -> str:
    opts.list_file.parent.mkdir(parents=True, exist_ok=True)
    opts.list_file.write_text(fc.render_list(opts), encoding="utf-8")
    text = fc.render(opts)
    if cfg is not None:
        cfg.write_text(text, encoding="utf-8")
    return text


def config_command(args: argparse.Namespace) -> int:
    """Write the dispatcher list and print the front's configuration."""
    list_file: Path = args.list_file or Path("dispatcher.list")
    try:
        opts = options(args, list_file)
        text = _write(opts, None)
    except (kc.KamailioSetupError, ValueError, OSError) as exc:
        print(f"sipguard kamailio: {exc}", file=sys.stderr)
        return 2
    head, _, rest = text.partition("\n")
    print(head)
    print(f"# Nodes: {opts.list_file}. Start with: kamailio -DD -E -f kamailio.cfg")
    print(rest, end="")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Write the list and configuration into the work directory and exec Kamailio."""
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="sipguard-front-"))
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        opts = options(args, workdir / "dispatcher.list")
        cfg = workdir / "kamailio.cfg"
        _write(opts, cfg)
    except (kc.KamailioSetupError, ValueError, OSError) as exc:
        print(f"sipguard kamailio: {exc}", file=sys.stderr)
        return 2
    argv = fc.run_command(cfg)
    print(f"sipguard kamailio: {' '.join(argv)}", file=sys.stderr, flush=True)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"sipguard kamailio: cannot start kamailio: {exc}", file=sys.stderr)
    return 2
