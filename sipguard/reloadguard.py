"""When a hot reload may swap the rules in: a stable file, and no sudden loss of filings.

Both front ends that reload while serving (the server's watcher and every Kamailio worker)
ask this module, so they follow one rule.

Invariants:
- A file is *stable* when its signature (``sipguard.filesig``) is the same before and after
  it was read: a rules or consents file still being written by an editor is never taken.
  Writing by atomic rename (write a temporary file, then ``mv`` it over) is always stable.
- A reload that would drop more than ``max_drop`` of the consents or of the filed numbers
  in force is *held*: the old rules stay, the hold is logged with both counts, and the new
  rules go in only once an operator confirms them by writing their hash into the confirm
  file (``<rules file>.confirm``; ``sipguard rules confirm`` does it).  A truncated export
  can therefore never wipe the consents, which would refuse every outbound call and then
  suspend the numbers that made them.
- The files a reload watches besides the rules file are :func:`data_files`: the consents
  file and the registry CSV of the numbers (``numbers: {file: ...}``), so a new export of
  either is picked up like an edit of the rules.
- Pure decisions on values the caller passes in, plus one small file read.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_MAX_DROP = 0.5


class Filings(Protocol):
    """What the guard needs of a ruleset."""

    @property
    def version_hash(self) -> str:
        """The hash of the rules' content."""
        ...

    @property
    def numbers(self) -> Sized:
        """The filed numbers."""
        ...

    @property
    def consents(self) -> Sized:
        """The consent index."""
        ...


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a reload is held: what would be dropped, from how many to how many."""

    what: str
    before: int
    after: int

    def __str__(self) -> str:
        return f"{self.what} would fall from {self.before} to {self.after}"


def hold_for(old: Filings, new: Filings, max_drop: float = DEFAULT_MAX_DROP) -> Hold | None:
    """The reason to hold the swap from ``old`` to ``new``, or None when it may go ahead."""
    for what, before, after in (
        ("consents", len(old.consents), len(new.consents)),
        ("numbers", len(old.numbers), len(new.numbers)),
    ):
        if before and (before - after) / before > max_drop:
            return Hold(what, before, after)
    return None


def confirm_path(rules_path: Path) -> Path:
    """Where an operator confirms a held reload."""
    return rules_path.with_name(rules_path.name + ".confirm")


def confirmed(rules_path: Path, version_hash: str) -> bool:
    """True when the confirm file names ``version_hash`` (or a prefix of 12 or more of it)."""
    try:
        text = confirm_path(rules_path).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return len(text) >= 12 and version_hash.startswith(text)


def data_files(ruleset: object) -> tuple[Path | None, Path | None]:
    """(consents file, numbers CSV) a ruleset was loaded from; None where it has none."""
    consents = getattr(ruleset, "consents_path", None)
    numbers = getattr(getattr(ruleset, "model", None), "numbers", None)
    name, rules_path = getattr(numbers, "file", None), getattr(ruleset, "path", None)
    csv = Path(rules_path).parent / name if isinstance(name, str) and rules_path else None
    return (Path(consents) if consents is not None else None), csv
