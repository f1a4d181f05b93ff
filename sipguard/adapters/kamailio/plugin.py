"""sipguard as a Kamailio KEMI plugin (app_python3): same rules, verdicts and journal.

Invariants:
- Kamailio carries SIP; this module only decides.  ``ksr_request_route`` is a complete
  stateful edge proxy (RFC 3261 section 16): Max-Forwards and sanity checks, CANCEL and ACK
  matching, in-dialog requests on their route set (``loose_route``), record-routing, and
  ``t_relay`` of allowed initial INVITEs to the ruleset's ``deliver_to``.
- Every initial INVITE gets a transaction (``t_newtran``) *before* it is evaluated, so a
  retransmission is absorbed by tm and never decided, counted or journaled twice.
- A rejection answers ``status`` with ``Reason: SIP;cause=NNN;text="REASON"`` (RFC 3326);
  an allowed outbound call loses any PAI and Privacy from the call center and carries
  ``P-Asserted-Identity: <tel:+CC NSN>`` of its filed number (RFC 3325).
- Each worker process holds its own rules (reloaded from the files, see kamailio_reload)
  and its own connections to the shared state and the journal, opened after the fork.
- Call outcomes: a final failure reply (failure route) or the BYE of an answered call adds
  an outcome entry; answered calls are remembered in Kamailio's shared ``htable``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sipguard.adapters.kamailio.facts import facts_from_pv
from sipguard.adapters.kamailio.reload import RulesWatch
from sipguard.adapters.kamailio.state import CallLedger, open_state
from sipguard.errors import RulesError
from sipguard.journal import JournalStore, decision_entry, outcome_entry
from sipguard.policy import Ruleset, evaluate, load_rules
from sipguard.policy.facts import CallFacts, Direction, Verdict
from sipguard.policy.state import State

DONE = -255
REASON_TEXT = {403: "Forbidden", 404: "Not Found", 500: "Server Error", 503: "Unavailable"}


def mod_init() -> SipguardKemi:
    """app_python3's entry point: build the plugin in Kamailio's main process."""
    import KSR  # provided by Kamailio's app_python3

    return SipguardKemi(KSR)


class SipguardKemi:
    """The object whose methods Kamailio calls: ``child_init`` and the route callbacks."""

    def __init__(self, ksr: Any, environ: dict[str, str] | None = None) -> None:
        self.ksr = ksr
        self.env = dict(os.environ if environ is None else environ)
        self.watch: RulesWatch | None = None
        self.state: State | None = None
        self.journal: JournalStore | None = None
        self.ledger = CallLedger(ksr.pv)
        self.rank = 0
        path = self.env.get("SIPGUARD_RULES")
        if path:  # fail Kamailio's start-up on invalid rules, with located errors
            self.watch = self._watch(Path(path))

    # -- set-up -----------------------------------------------------------------
    def _watch(self, path: Path) -> RulesWatch:
        try:
            return RulesWatch(path, load_rules, time.monotonic, self.ksr.info, self.ksr.err)
        except RulesError as exc:
            for issue in exc.issues:
                self.ksr.err(f"sipguard: {issue}\n")
            raise

    def child_init(self, rank: int) -> int:
        """Called in every process after the fork; connections are opened lazily."""
        self.rank = rank
        return 0

    def _param(self, name: str) -> str | None:
        value = self.ksr.pv.get(f"$sel(cfg_get.sipguard.{name})")
        return value if isinstance(value, str) and value else None

    def _ready(self) -> RulesWatch:
        """Rules, state and journal for this worker, set up on its first request."""
        path = self._param("rules") or self.env.get("SIPGUARD_RULES")
        if path is None:
            raise FileNotFoundError("no rules: set sipguard.rules or SIPGUARD_RULES")
        if self.watch is None or self.watch.path != Path(path):
            self.watch = self._watch(Path(path))
        if self.state is None:
            spec = self._param("state") or self.env.get("SIPGUARD_STATE") or "sqlite"
            self.state = open_state(spec, self.watch.rules)
            jpath = self.watch.rules.journal_path
            self.journal = JournalStore(jpath) if jpath is not None else None
            sync = self._param("journal_sync") or self.env.get("SIPGUARD_JOURNAL_SYNC")
            if self.journal is not None and sync == "normal":
                # WAL + NORMAL: a record survives a Kamailio crash, not a power loss.
                self.journal.conn.execute("PRAGMA synchronous=NORMAL")
        return self.watch

    # -- request route ------------------------------------------------------------
    def ksr_request_route(self, msg: object) -> int:
        """Route one request (Kamailio's ``request_route``)."""
        k = self.ksr
        if k.maxfwd.process_maxfwd(10) < 0:
            k.sl.send_reply(483, "Too Many Hops")
            return 1
        if k.sanity.sanity_check(1511, 7) < 0:
            return 1
        if k.is_CANCEL():
            if k.tm.t_check_trans() > 0:
                self._relay()
            return 1
        if k.siputils.has_totag() > 0:
            self._in_dialog()
            return 1
        if k.tmx.t_precheck_trans() > 0:
            k.tm.t_check_trans()
            return 1
        if k.tm.t_check_trans() == 0:
            return 1
        k.hdr.remove("Route")
        if k.is_INVITE():
            self._initial_invite()
        elif k.is_OPTIONS():
            k.sl.send_reply(200, "OK")
        elif not k.is_ACK():
            k.hdr.append_to_reply("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n")
            k.sl.send_reply(405, "Method Not Allowed")
        return 1

    def _in_dialog(self) -> None:
        k = self.ksr
        if k.rr.loose_route() > 0:
            if k.is_BYE():
                self._bye_outcome()
            self._relay()
        elif k.is_ACK():
            if k.tm.t_check_trans() > 0:
                self._relay()
        else:
            k.sl.send_reply(404, "Not Here")

    def _relay(self) -> int:
        if self.ksr.tm.t_relay() < 0:
            self.ksr.sl.sl_reply_error()
        return DONE

    # -- screening ------------------------------------------------------------------
    def _initial_invite(self) -> None:
        k = self.ksr
        k.tm.t_newtran()
        try:
            watch = self._ready()
        except (RulesError, OSError, sqlite3.Error) as exc:
            k.err(f"sipguard: not ready ({exc}); answering 500\n")
            k.sl.send_reply(500, "Server Error")
            return
        rules = watch.current()
        facts = facts_from_pv(k.pv)
        now = datetime.now(UTC)
        assert self.state is not None
        verdict = evaluate(facts, rules, self.state, now)
        k.info(
            f"sipguard: {verdict.verdict} {verdict.status} {verdict.reason.value} "
            f"{verdict.caller} -> {verdict.callee}\n"
        )
        if not self._journal_decision(facts, verdict, rules, now):
            return
        if not verdict.allowed:
            self._reject(verdict)
            return
        self._forward(facts, verdict, rules)

    def _journal_decision(
        self, facts: CallFacts, verdict: Verdict, rules: Ruleset, now: datetime
    ) -> bool:
        """Record the decision; False (call answered 503) if an outbound record failed."""
        if self.journal is None:
            return True
        entry = decision_entry(facts, verdict, now, rules_hash=rules.version_hash)
        try:
            self.journal.append([entry])
        except sqlite3.Error as exc:
            self.ksr.err(f"sipguard: journal write failed ({exc}): {entry.as_dict()}\n")
            if verdict.direction is Direction.OUTBOUND and verdict.allowed:
                self.ksr.sl.send_reply(503, "Service Unavailable")
                return False
        return True

    def _reject(self, verdict: Verdict) -> None:
        k = self.ksr
        k.hdr.append_to_reply(f"Reason: {verdict.reason_header}\r\n")
        k.sl.send_reply(verdict.status, REASON_TEXT.get(verdict.status, "Forbidden"))

    def _forward(self, facts: CallFacts, verdict: Verdict, rules: Ruleset) -> None:
        k = self.ksr
        if verdict.direction is Direction.OUTBOUND:
            # Only the verified number goes on: every identity header of the trunk goes.
            for name in ("P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID"):
                k.hdr.remove(name)
            k.hdr.remove("Privacy")
            # A verified forward asserts the user's number (its caller); it carries no
            # display name, and its Diversion and History-Info stay.
            own = verdict.number if not verdict.forwarded else None
            filed = rules.numbers.get(own) if own else None
            shown = f'"{filed.display_name}" ' if filed and filed.display_name else ""
            k.hdr.append(
                f"P-Asserted-Identity: {shown}<tel:+{rules.country_code}{verdict.caller}>\r\n"
            )
        assert verdict.direction is not None
        target = rules.deliver_to(verdict.direction, verdict.trunk)
        if target is None:
            k.sl.send_reply(500, "Server Error")
            return
        k.pv.sets("$du", target.uri)
        k.rr.record_route()
        self.ledger.open(facts.call_id, facts.source_ip)
        k.tm.t_on_reply("ksr_onreply_sipguard")
        k.tm.t_on_failure("ksr_failure_sipguard")
        self._relay()

    # -- outcomes ---------------------------------------------------------------------
    def ksr_reply_route(self, msg: object) -> int:
        """Kamailio's global reply route (called for every reply): let tm handle it."""
        return 1

    def ksr_onreply_sipguard(self, msg: object) -> int:
        """tm reply route of an allowed INVITE: remember when it was answered."""
        status = self.ksr.pv.get("$rs")
        if self.ksr.pv.get("$rm") == "INVITE" and str(status).startswith("2"):
            self.ledger.answered(str(self.ksr.pv.get("$ci")), datetime.now(UTC))
        return 1

    def ksr_failure_sipguard(self, msg: object) -> int:
        """tm failure route: the allowed call ended without an answer."""
        call_id = str(self.ksr.pv.get("$ci"))
        code = self.ksr.pv.get("$T_reply_code")
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else 500
        self.ledger.close(call_id)
        self._outcome(call_id, None, status, "caller" if status == 487 else "callee")
        return 1

    def _bye_outcome(self) -> None:
        call_id = str(self.ksr.pv.get("$ci"))
        opened = self.ledger.close(call_id)
        if opened is None or opened.answered_at is None:
            return
        by = "caller" if self.ksr.pv.get("$si") == opened.caller_ip else "callee"
        self._outcome(call_id, opened.answered_at, 200, by)

    def _outcome(self, call_id: str, answered: datetime | None, status: int, by: str) -> None:
        if self.journal is None:
            return
        entry = outcome_entry(call_id, answered, datetime.now(UTC), status, by)
        try:
            self.journal.append([entry])
        except sqlite3.Error as exc:
            self.ksr.err(f"sipguard: journal write failed ({exc}): {entry.as_dict()}\n")
