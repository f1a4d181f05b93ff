"""One way to tell that a rules or consents file changed: its (mtime, size, inode).

Invariants:
- A signature is a plain tuple, comparable with ``==``; an absent or unreadable file has the
  signature ``None``, so a file that disappears, or comes back, counts as a change.
- The inode is part of it, so a file replaced by an atomic rename is seen even when its size
  and modification time happen to match the old one.
- Both front ends that hot-reload (the server's watcher and each Kamailio worker) use this
  module, so they can never disagree about whether a file changed.
"""

from __future__ import annotations

import os
from pathlib import Path

Signature = tuple[int, int, int] | None


def file_signature(path: Path | None) -> Signature:
    """(mtime_ns, size, inode) of ``path``, or None when it is absent or unreadable."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def files_signature(*paths: Path | None) -> tuple[Signature, ...]:
    """The signatures of several files, in order."""
    return tuple(file_signature(path) for path in paths)
