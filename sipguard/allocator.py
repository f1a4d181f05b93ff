"""The memory allocator ``sipguard serve`` runs on, and handing freed memory back to the system.

CPython's small-object allocator takes memory in 1 MiB arenas and gives an arena back only
when every object in it is gone.  After a burst (a flood of INVITEs, each call held 32 s by
the RFC's timers), the few objects allocated while it drained, and the ones allocated after
it in the holes it left, keep most of the burst's arenas: a server flooded with a million
datagrams kept 90% more memory than before, with nothing live behind it.  jemalloc
(Debian's ``libjemalloc2``) gives memory back per page run of one size class, so the same
flood leaves a small fraction of that behind.  ``serve`` therefore runs on jemalloc when
the library is installed: it starts again at once (``os.execve``, same process id) with
the library preloaded and ``PYTHONMALLOC=malloc``, so that every Python object comes from
it.

Invariants:
- only the ``serve`` command, run as its own process, restarts itself, and at most once:
  the new environment carries ``SIPGUARD_ALLOCATOR_TRIED``, and a process that has it never
  restarts again, whether or not the library could be loaded;
- ``--allocator python`` (or ``SIPGUARD_ALLOCATOR=python``) keeps CPython's allocator; the
  default ``auto`` takes jemalloc when it is found and CPython's otherwise; ``jemalloc``
  fails (exit 2) when the library cannot be found;
- a ``MALLOC_CONF`` in the environment is the operator's and is kept as it is;
- ``release`` frees nothing in use: jemalloc purges its unused dirty pages, glibc trims the
  heap (``malloc_trim``); ``flush_thread_cache`` empties the calling thread's jemalloc
  cache, so it must run on the thread that allocates (the event loop).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

CHOICES = ("auto", "jemalloc", "python")
TRIED = "SIPGUARD_ALLOCATOR_TRIED"
#: One arena (serve allocates on one thread); one-page slabs for the small size classes
#: (3 to 7 pages by default), so an object left behind keeps 4 KiB in use rather than up to
#: 28; unused pages decay within a second, and the server's periodic task purges them.
JEMALLOC_CONF = "narenas:1,slab_sizes:1-4096:1,dirty_decay_ms:1000,muzzy_decay_ms:0"
_ALL_ARENAS = 4096  # jemalloc's MALLCTL_ARENAS_ALL


class AllocatorError(Exception):
    """The allocator asked for cannot be had."""


@dataclass(frozen=True, slots=True)
class Restart:
    """Start this process again with ``env``: ``library`` preloaded."""

    library: str
    env: dict[str, str]


def plan(choice: str, env: Mapping[str, str], find: Callable[[], str | None]) -> Restart | None:
    """Whether to restart with jemalloc, and how; ``find`` names the library (None when it
    is not installed), and is asked only when a restart is still possible."""
    choice = env.get("SIPGUARD_ALLOCATOR", choice) if choice == "auto" else choice
    if choice not in CHOICES:
        raise AllocatorError(f"unknown allocator {choice!r} (one of {', '.join(CHOICES)})")
    if choice == "python" or TRIED in env:
        return None
    library = find()
    if library is None:
        if choice == "jemalloc":
            raise AllocatorError("jemalloc was asked for but libjemalloc is not installed")
        return None
    new = dict(env)
    preload = env.get("LD_PRELOAD", "")
    new["LD_PRELOAD"] = f"{library} {preload}".strip()
    new["PYTHONMALLOC"] = "malloc"
    new.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    new[TRIED] = "1"
    return Restart(library, new)


def find_jemalloc() -> str | None:
    """The name of the installed jemalloc library, or None."""
    return ctypes.util.find_library("jemalloc")


def _mallctl() -> Callable[..., int] | None:
    try:
        func = ctypes.CDLL(None).mallctl
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                     ctypes.c_size_t]  # fmt: skip
    func.restype = ctypes.c_int
    mallctl: Callable[..., int] = func
    return mallctl


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        func = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_size_t]
    func.restype = ctypes.c_int
    trim: Callable[[int], int] = func
    return trim


_MALLCTL = _mallctl()
_TRIM = None if _MALLCTL is not None else _malloc_trim()


def active() -> str:
    """What Python objects are allocated with: ``jemalloc``, ``malloc`` or ``pymalloc``."""
    if os.environ.get("PYTHONMALLOC", "").startswith("malloc"):
        return "jemalloc" if _MALLCTL is not None else "malloc"
    return "pymalloc"


def flush_thread_cache() -> None:
    """Give the calling thread's jemalloc cache back to its arena (nothing elsewhere)."""
    if _MALLCTL is not None:
        _MALLCTL(b"thread.tcache.flush", None, None, None, 0)


def release() -> bool:
    """Return unused memory to the system now; False when the allocator cannot."""
    if _MALLCTL is not None:
        return _MALLCTL(f"arena.{_ALL_ARENAS}.purge".encode(), None, None, None, 0) == 0
    if _TRIM is not None:
        _TRIM(0)
        return True
    return False
