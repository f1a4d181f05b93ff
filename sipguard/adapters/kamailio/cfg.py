"""Generate a Kamailio configuration that runs sipguard as a KEMI (app_python3) plugin.

Invariants:
- The generated text is a complete ``kamailio.cfg``: core parameters, the modules the plugin
  calls (tm, tmx, sl, rr, uac, maxfwd, sanity, siputils, textops, htable, app_python3) and
  ``cfgengine "python"``.  The routing logic lives in Python, not in the config.
- ``uac`` rewrites the From of allowed outbound calls (``egress.rewrite``) with
  ``restore_mode`` "auto": the original From travels in the Record-Route (``vsf``) and
  is put back on every request and reply towards the caller, so both ends keep their
  dialog identifiers (RFC 3261 section 12).
- Two shared-memory htables: ``sipguard`` (the call ledger, entries expire after a day)
  and ``sipguard_up`` (calls up per trunk, for ``max_concurrent_calls``: integer counters
  from ``initval`` 0, which never expire; they go up and down with the calls).
- Custom parameters come first, before any ``listen``: Kamailio 5.6 refuses
  ``group.name = value`` lines that follow a ``listen`` line.  The plugin reads them per
  message through ``$sel(cfg_get.sipguard.NAME)``.
- ``kemi.onsend_route_callback`` is set to "none": the plugin defines no onsend route, and
  app_python3 on 5.6 complains about a missing ``ksr_onsend_route`` otherwise.
- ``kemi.reply_route_callback`` is "none" too: no Python runs for each reply; the plugin
  sees only the replies of the INVITEs it relays, through tm's onreply and failure routes.
- Kamailio runs with the TLSF allocator for shared and private memory
  (:data:`MEMORY_MANAGERS`).
- Kamailio embeds its own libpython; :func:`embedded_python` reads its version from the
  module file and :func:`python_path_for` refuses to mix minor versions.
"""

from __future__ import annotations

import re
import site
import sys
from dataclasses import dataclass, field
from pathlib import Path

import sipguard
from sipguard.errors import SipguardError
from sipguard.policy.hostport import parse_hostport

MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib64/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/local/lib64/kamailio/modules",
    "/usr/local/lib/kamailio/modules",
)
KEMI_SCRIPT = Path(__file__).with_name("kemi.py")
MODULES = (
    "kex", "corex", "tm", "tmx", "sl", "rr", "uac", "pv", "maxfwd", "sanity",
    "siputils", "textops", "htable", "xlog", "app_python3",
)  # fmt: skip


#: Kamailio's TLSF allocator for shared (-x) and private (-X) memory.  The default, q_malloc,
#: searches free lists that grow as memory fragments; under the plugin's load that search
#: took a tenth of the workers' perf samples (``qm_malloc`` under ``t_relay``), where TLSF
#: allocates in constant time.
MEMORY_MANAGERS = ("-x", "tlsf", "-X", "tlsf")
#: Shared memory (MB) by default.  tm keeps each transaction there until its wait timer
#: runs out (about 5 s after the final response), so what it needs grows with the call
#: rate: past the size, t_relay fails and callers get ``500 No error``.  At 1,000 calls a
#: second 128 MB is nearly full; ``sipguard kamailio run --shm-mb`` sizes it.
SHM_MB = 128


class KamailioSetupError(SipguardError):
    """Kamailio or its Python module cannot run the plugin as installed."""


@dataclass(frozen=True, slots=True)
class Listen:
    """One address Kamailio listens on (UDP and TCP)."""

    host: str
    port: int

    def socket(self, proto: str) -> str:
        """The ``listen=`` value for ``proto`` ("udp" or "tcp")."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{proto}:{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class KamailioOptions:
    """Everything the generated configuration depends on."""

    rules: Path
    listen: tuple[Listen, ...]
    module_dir: str
    children: int = 4
    state: str = "sqlite"
    journal_sync: str = "full"
    debug: int = 2
    tcp: bool = True
    script: Path = KEMI_SCRIPT
    extra: dict[str, str] = field(default_factory=dict)


def parse_listen(text: str) -> Listen:
    """Parse ``HOST:PORT`` or ``[V6]:PORT`` into a :class:`Listen`."""
    address = parse_hostport(text)
    if address.port is None:
        raise ValueError(f"listen address must be HOST:PORT, got {text!r}")
    return Listen(address.host, address.port)


def find_module_dir(candidates: tuple[str, ...] = MODULE_DIRS) -> str:
    """The first directory that holds ``app_python3.so``; raise when there is none."""
    for cand in candidates:
        if (Path(cand) / "app_python3.so").is_file():
            return cand
    raise KamailioSetupError(
        "Kamailio's app_python3 module was not found (looked in "
        + ", ".join(candidates)
        + "); on Debian install kamailio-python3-modules"
    )


def embedded_python(module_dir: str) -> tuple[int, int]:
    """The (major, minor) version of the libpython that app_python3.so is linked against."""
    data = (Path(module_dir) / "app_python3.so").read_bytes()
    found = re.search(rb"libpython(\d+)\.(\d+)", data)
    if found is None:
        raise KamailioSetupError(f"cannot tell which Python {module_dir}/app_python3.so embeds")
    return int(found.group(1)), int(found.group(2))


def python_path_for(embedded: tuple[int, int]) -> list[str]:
    """The PYTHONPATH entries that let Kamailio's Python import sipguard and its dependencies.

    They are the directory holding the ``sipguard`` package and this interpreter's
    site-packages; both only work when the minor versions match (compiled extensions such
    as pydantic-core are built for one minor version).
    """
    running = sys.version_info[:2]
    if tuple(embedded) != running:
        raise KamailioSetupError(
            f"Kamailio's app_python3 embeds Python {embedded[0]}.{embedded[1]} but sipguard runs "
            f"on Python {running[0]}.{running[1]}; compiled dependencies cannot cross minor "
            f"versions. Install sipguard for python{embedded[0]}.{embedded[1]} "
            f"(python{embedded[0]}.{embedded[1]} -m pip install sipguard) or create the "
            "virtual environment with that interpreter (see docs/kamailio.md)"
        )
    root = str(Path(sipguard.__file__).resolve().parents[1])
    paths = [root]
    for sp in site.getsitepackages():
        if sp not in paths:
            paths.append(sp)
    return paths


def _core(opts: KamailioOptions) -> list[str]:
    lines = [
        "#!KAMAILIO",
        "# Generated by `sipguard kamailio config`: Kamailio carries SIP, sipguard decides.",
        f'sipguard.rules = "{opts.rules}" desc "rules.yaml of sipguard"',
        f'sipguard.state = "{opts.state}" desc "shared state: sqlite, memory or redis://..."',
        f'sipguard.journal_sync = "{opts.journal_sync}" desc "journal fsync: full or normal"',
    ]
    lines += [f'sipguard.{k} = "{v}" desc "sipguard option"' for k, v in opts.extra.items()]
    lines += process_lines(opts.debug, opts.children, opts.listen, tcp=opts.tcp)
    lines += ['kemi.onsend_route_callback="none"', 'kemi.reply_route_callback="none"',
              f'mpath="{opts.module_dir}"']  # fmt: skip
    return lines


def process_lines(debug: int, children: int, listen: tuple[Listen, ...], *, tcp: bool) -> list[str]:
    """Kamailio's core settings and listen sockets, as every generated config writes them."""
    lines = [
        f"debug={debug}",
        "log_stderror=yes",
        f"children={children}",
        f"tcp_children={children if tcp else 0}",
        f"disable_tcp={'no' if tcp else 'yes'}",
        "auto_aliases=no",
        "server_signature=no",
    ]
    for addr in listen:
        lines.append(f"listen={addr.socket('udp')}")
        if tcp:
            lines.append(f"listen={addr.socket('tcp')}")
        lines.append(f"alias={addr.host}:{addr.port}")
    return lines


def _modules(opts: KamailioOptions) -> list[str]:
    lines = [f'loadmodule "{name}.so"' for name in MODULES]
    lines += [
        'modparam("tm", "fr_timer", 5000)',
        'modparam("tm", "fr_inv_timer", 60000)',
        'modparam("rr", "append_fromtag", 1)',
        'modparam("uac", "restore_mode", "auto")',
        'modparam("htable", "htable", "sipguard=>size=12;autoexpire=86400;")',
        'modparam("htable", "htable", "sipguard_up=>size=8;initval=0;")',
        f'modparam("app_python3", "load", "{opts.script}")',
        'cfgengine "python"',
    ]
    return lines


def render(opts: KamailioOptions) -> str:
    """The complete Kamailio configuration text for ``opts``."""
    return "\n".join([*_core(opts), "", *_modules(opts), ""])


def run_command(cfg_path: Path, shm_mb: int = SHM_MB) -> list[str]:
    """The argv that starts Kamailio in the foreground on ``cfg_path``, with ``shm_mb`` MB
    of shared memory (tm keeps every transaction there until its wait timer ends)."""
    return ["kamailio", "-DD", "-E", "-f", str(cfg_path), "-m", str(shm_mb), "-M", "16",
            *MEMORY_MANAGERS, "-w", str(cfg_path.parent)]  # fmt: skip


def environment(opts: KamailioOptions, base: dict[str, str]) -> dict[str, str]:
    """The environment Kamailio must start with: PYTHONPATH, SIPGUARD_RULES, SIPGUARD_STATE."""
    env = dict(base)
    paths = python_path_for(embedded_python(opts.module_dir))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = ":".join(paths)
    env["SIPGUARD_RULES"] = str(opts.rules)
    env["SIPGUARD_STATE"] = opts.state
    env["SIPGUARD_JOURNAL_SYNC"] = opts.journal_sync  # read by mod_init, before cfg values
    return env
