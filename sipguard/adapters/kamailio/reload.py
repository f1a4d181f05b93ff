"""Per-worker rules holder with mtime-polled hot reload, for the Kamailio plugin.

Invariants:
- Each Kamailio worker is its own process, so each holds its own :class:`RulesWatch`; the
  files are the shared truth.  A worker stats the rules file, its consents file and its
  numbers CSV (``sipguard.reloadguard.data_files``) at most
  once every ``interval`` seconds (on the request path, so an idle worker costs nothing)
  and reloads when either file's signature (``sipguard.filesig``) changed.
- A reload is taken only when the files are the same after they were read as before (a
  file still being written is tried again at the next check), and not when it would drop
  most of the consents or numbers without a confirmation (``sipguard.reloadguard``).
- A reload that fails keeps the rules in force and logs every located issue
  (``FILE:LINE:COL: message``) once for that version of the files; a later change is tried
  again.
- ``failed`` (if set) is told the issues of each failed version of the files, once, for
  the ``rules_reload_failed`` alert.
- Time comes from the injected monotonic ``clock``; the loader and the loggers are injected,
  so the behaviour is testable without Kamailio.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sipguard.errors import RulesError
from sipguard.filesig import Signature, files_signature
from sipguard.policy import Ruleset
from sipguard.reloadguard import confirm_path, confirmed, data_files, hold_for

Log = Callable[[str], None]


class RulesWatch:
    """Holds the rules in force for one worker and swaps them when the files change."""

    def __init__(
        self,
        path: Path,
        loader: Callable[[Path], Ruleset],
        clock: Callable[[], float],
        info: Log,
        err: Log,
        interval: float = 2.0,
    ) -> None:
        self.path = path
        self._loader = loader
        self._clock = clock
        self._info = info
        self._err = err
        self.interval = interval
        self.rules: Ruleset = loader(path)
        self._sig = self._signature(self.rules)
        self._failed: tuple[Signature, ...] | None = None
        self._next_check = clock() + interval
        self.reloads = 0
        self.failed: Callable[[list[str]], None] | None = None
        self.failures = 0  # reloads refused (invalid, unreadable or held files)

    def _signature(self, rules: Ruleset) -> tuple[Signature, ...]:
        return files_signature(self.path, *data_files(rules), confirm_path(self.path))

    def current(self) -> Ruleset:
        """The rules in force, reloading first if the check interval passed and files changed."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self.interval
            self.check()
        return self.rules

    def check(self) -> bool:
        """Stat the files now and reload if they changed; True when new rules were swapped in."""
        sig = self._signature(self.rules)
        if sig == self._sig or sig == self._failed:
            return False
        try:
            fresh = self._loader(self.path)
        except RulesError as exc:
            self._failed = sig
            self.failures += 1
            self._err(f"sipguard: rules reload failed, keeping {self.rules.version_hash[:12]}\n")
            for issue in exc.issues:
                self._err(f"sipguard: {issue}\n")
            self._tell([str(issue) for issue in exc.issues])
            return False
        except OSError as exc:
            self._failed = sig
            self.failures += 1
            self._err(f"sipguard: rules reload failed ({exc}), keeping the rules in force\n")
            self._tell([str(exc)])
            return False
        if self._signature(self.rules) != sig or self._held(fresh, sig):
            return False  # changed while read (tried again next time), or held and logged
        self.rules = fresh
        self._sig = self._signature(fresh)
        self._failed = None
        self.reloads += 1
        self._info(f"sipguard: rules reloaded from {self.path} ({fresh.version_hash[:12]})\n")
        return True

    def _tell(self, issues: list[str]) -> None:
        if self.failed is not None:
            self.failed(issues)

    def _held(self, fresh: Ruleset, sig: tuple[Signature, ...]) -> bool:
        """True, logged once, when ``fresh`` drops too many filings and is not confirmed."""
        hold = hold_for(self.rules, fresh, fresh.model.reload_guard.max_drop)
        if hold is None or confirmed(self.path, fresh.version_hash):
            return False
        self._failed = sig
        self.failures += 1
        self._err(
            f"sipguard: rules reload held ({hold}); keeping {self.rules.version_hash[:12]}; "
            f"confirm with: echo {fresh.version_hash[:16]} > {confirm_path(self.path)}\n"
        )
        return True
