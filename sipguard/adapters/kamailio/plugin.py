"""sipguard as a Kamailio KEMI plugin (app_python3): same rules, verdicts and journal.

Invariants:
- Kamailio carries SIP; this module only decides.  ``ksr_request_route`` is a complete
  stateful edge proxy (RFC 3261 section 16): Max-Forwards and sanity checks, CANCEL and ACK
  matching, in-dialog requests on their route set (``loose_route``), record-routing, and
  ``t_relay`` of allowed initial INVITEs to the ruleset's ``deliver_to``.
- Every initial INVITE gets a transaction (``t_newtran``) *before* it is evaluated, so a
  retransmission is absorbed by tm and never decided, counted or journaled twice.
- A rejection answers ``status`` with ``Reason: SIP;cause=NNN;text="REASON"`` (RFC 3326);
  an allowed outbound call carries the identity of ``egress.asserted_identity`` only.
- Each worker holds its own rules (reloaded from the files, see kamailio_reload) and its
  own connection to the journal service, opened in ``child_init`` (again on a request if
  the service was away).  ``mod_init`` starts the service before the fork unless one runs;
  a worker that finds it gone starts it again.  Decisions, outcomes and (by default) the
  shared state go through it: no worker waits on SQLite's write lock.
- Each initial INVITE is decided and recorded in one round trip to the service
  (``one_trip``): the decision is durable before the call is answered or relayed, and an
  allowed outbound call whose record failed is answered 503.  One info line per call only
  with ``sipguard.log_calls`` (or ``SIPGUARD_LOG_CALLS``) set: the journal has them all.
- Call outcomes (``outcomes``): a final failure reply or the BYE of an answered call adds an
  outcome entry; one that cannot be written is counted (``lost_outcomes``) and logged.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from sipguard.adapters.kamailio.calls import CallTracker
from sipguard.adapters.kamailio.egress import rewrite
from sipguard.adapters.kamailio.facts import facts_from_pv
from sipguard.adapters.kamailio.ksr import Ksr
from sipguard.adapters.kamailio.metrics import PluginMetrics
from sipguard.adapters.kamailio.one_trip import Decided, append_decision, decide, entry_maker
from sipguard.adapters.kamailio.outcomes import Outcomes
from sipguard.adapters.kamailio.reload import RulesWatch
from sipguard.adapters.kamailio.settings import Settings, yes
from sipguard.adapters.kamailio.signalling import reject, strip_unlisted
from sipguard.adapters.kamailio.state import open_state, service_command, state_for
from sipguard.errors import RulesError, SipguardError
from sipguard.journal import decision_entry
from sipguard.journal.backends import journal_target, service_socket
from sipguard.journal.client import ServiceClient
from sipguard.journal.launch import ensure_running
from sipguard.policy import Ruleset, load_rules
from sipguard.policy.facts import CallFacts, Direction, Verdict
from sipguard.policy.state import State

DONE = -255
_NOT_READY = (RulesError, OSError, sqlite3.Error, SipguardError)


class SipguardKemi:
    """The object whose methods Kamailio calls: ``child_init`` and the route callbacks."""

    def __init__(self, ksr: Ksr, environ: dict[str, str] | None = None) -> None:
        self.ksr = ksr
        self.env = dict(os.environ if environ is None else environ)
        self.watch: RulesWatch | None = None
        self.state: State | None = None
        self.journal: ServiceClient | None = None
        self.metrics = PluginMetrics.from_env(self.env)
        self.calls = CallTracker(ksr)  # trunk slots, inbound calls, short calls, alerts
        self.outcomes = Outcomes(ksr, self.calls, self._ready, _NOT_READY, self.metrics)
        self.rank = 0
        self.main_pid = os.getpid()  # the process that outlives the workers
        self.settings = Settings(ksr, self.env, time.monotonic)
        self._spec = self._rules_text = ""
        #: (rules, override, spec) of the last state spec worked out: a call pays no paths.
        self._spec_memo: tuple[Ruleset, str | None, str] | None = None
        #: One info line per decided call (sipguard.log_calls / SIPGUARD_LOG_CALLS); the
        #: journal holds every decision, so it is off unless asked for.
        self.log_calls = yes(self.env.get("SIPGUARD_LOG_CALLS"))
        path = self.env.get("SIPGUARD_RULES")
        if path:  # fail Kamailio's start-up on invalid rules, with located errors
            self.watch = self._watch(Path(path))

    # -- set-up -----------------------------------------------------------------
    def _watch(self, path: Path) -> RulesWatch:
        try:
            watch = RulesWatch(path, load_rules, time.monotonic, self.ksr.info, self.ksr.err)
            return self.calls.watched(watch)  # its failures are alerted
        except RulesError as exc:
            for issue in exc.issues:
                self.ksr.err(f"sipguard: {issue}\n")
            raise

    def child_init(self, rank: int) -> int:
        """Called in every process after the fork: SIP workers connect to the service."""
        self.rank = rank
        if rank <= 0:  # the main, timer and other helper processes route no SIP
            return 0
        try:
            self.metrics.track(self._ready())
        except _NOT_READY as exc:
            self.ksr.err(f"sipguard: worker {rank} not ready yet ({exc})\n")
        return 0

    def _state_spec(self, rules: Ruleset) -> str:
        """``state_for`` of these rules and the ``state`` setting, worked out once for each."""
        override = self.settings.get("state", "SIPGUARD_STATE")
        memo = self._spec_memo
        if memo is None or memo[0] is not rules or memo[1] != override:
            memo = self._spec_memo = (rules, override, state_for(rules, override))
        return memo[2]

    def start_service(self) -> None:
        """Make sure the journal service for the rules' journal runs (mod_init, workers)."""
        rules = self._ready_rules().rules
        sync = self.settings.get("journal_sync", "SIPGUARD_JOURNAL_SYNC")
        argv = service_command(rules, self._state_spec(rules), sync, self.main_pid)
        target = journal_target(rules)
        if argv is not None and target is not None:
            ensure_running(argv, service_socket(target, self.main_pid))

    def _ready_rules(self) -> RulesWatch:
        path = self.settings.get("rules", "SIPGUARD_RULES")
        if path is None:
            raise FileNotFoundError("no rules: set sipguard.rules or SIPGUARD_RULES")
        if self.watch is None or path != self._rules_text:
            if self.watch is None or self.watch.path != Path(path):
                self.watch = self._watch(Path(path))
            self._rules_text = path
            self.log_calls = yes(self.settings.get("log_calls", "SIPGUARD_LOG_CALLS"))
        return self.watch

    def _ready(self) -> RulesWatch:
        """Rules, the journal service connection and the state for this worker."""
        watch = self._ready_rules()
        jpath = journal_target(watch.rules)
        if jpath is not None and (self.journal is None or not self.journal.connected):
            self.start_service()  # a no-op while the service runs; else starts it again
            if self.journal is None:
                self.journal = ServiceClient(service_socket(jpath, self.main_pid))
                self.journal.on_stats = self.metrics.committed
            self.journal.sync()  # connected, and the service answers
        spec = self._state_spec(watch.rules)
        if self.state is None or spec != self._spec:
            self.state, self._spec = open_state(spec, watch.rules, self.journal), spec
        return watch

    # -- request route ------------------------------------------------------------
    def ksr_request_route(self, msg: object) -> int:
        """Route one request (Kamailio's ``request_route``)."""
        k = self.ksr
        self.settings.routing = True
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
        self._out_of_dialog()
        return 1

    def _out_of_dialog(self) -> None:
        k = self.ksr
        if k.is_INVITE():
            self._initial_invite()
        elif k.is_OPTIONS():
            k.sl.send_reply(200, "OK")
        elif not k.is_ACK():
            k.hdr.append_to_reply("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n")
            k.sl.send_reply(405, "Method Not Allowed")

    def _in_dialog(self) -> None:
        k = self.ksr
        if k.rr.loose_route() > 0:
            self.calls.in_dialog(self.watch)  # no display name of a call center goes on
            if k.is_BYE():
                self.outcomes.bye(self)
            strip_unlisted(k, self.watch)
            if not k.is_ACK():  # an ACK has no response (RFC 3261 section 17.1.1.3)
                k.tm.t_on_reply("ksr_onreply_sipguard")
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
        except _NOT_READY as exc:
            k.err(f"sipguard: not ready ({exc}); answering 500\n")
            k.sl.send_reply(500, "Server Error")
            return
        rules = watch.current()
        self.metrics.track(watch)
        facts = facts_from_pv(k.pv)
        if not self.calls.admit(rules, facts.source_ip):
            return  # the call center's trunk is full: 503 before any count is spent
        now = datetime.now(UTC)
        assert self.state is not None
        try:
            decided = decide(facts, rules, self.state, now, entry_maker(facts, rules, now))
        except SipguardError as exc:  # the service went away mid-call: no state, no decision
            k.err(f"sipguard: state unavailable ({exc}); answering 500\n")
            self.state = None
            k.sl.send_reply(500, "Server Error")
            return
        verdict = decided.verdict
        self.metrics.decided(verdict)
        self.calls.alerts.decided(facts, verdict, rules, self.state, now)
        if self.log_calls:
            k.info(f"sipguard: {verdict.verdict} {verdict.status} {verdict.reason.value} "
                   f"{verdict.caller} -> {verdict.callee}\n")  # fmt: skip
        if decided.stored is None and not self._record(facts, verdict, rules, now, decided):
            return
        if not verdict.allowed:
            reject(k, verdict, rules)
            return
        self._forward(facts, verdict, rules, now)

    def _record(
        self, facts: CallFacts, verdict: Verdict, rules: Ruleset, now: datetime, decided: Decided
    ) -> bool:
        """Record the decision; False (call answered 503) if an outbound record failed."""
        if self.journal is None:
            return True
        entry = decision_entry(facts, verdict, now, rules_hash=rules.version_hash)
        failed = append_decision(self.journal, entry, decided)
        if failed is None:
            return True
        self.ksr.err(f"sipguard: journal write failed ({failed}): {entry.as_dict()}\n")
        self.metrics.write_failed(getattr(failed, "error", "internal"))
        self.calls.alerts.journal_failed(rules, now, str(failed))
        if verdict.direction is Direction.OUTBOUND and verdict.allowed:
            self.metrics.refused_503("journal")
            self.ksr.sl.send_reply(503, "Service Unavailable")
            return False
        return True

    def _forward(self, facts: CallFacts, verdict: Verdict, rules: Ruleset, now: datetime) -> None:
        k = self.ksr
        if verdict.direction is Direction.OUTBOUND:
            rewrite(k, verdict, rules, facts.from_host)  # only the verified number goes on
        strip_unlisted(k, rules)
        assert verdict.direction is not None
        target = rules.deliver_to(verdict.direction, verdict.trunk)
        if target is None:
            k.sl.send_reply(500, "Server Error")
            return
        if not self.calls.started(facts, verdict, rules, self.state, now):
            self.outcomes.record(self, facts.call_id, None, 503, "sipguard")  # trunk full
            return
        k.pv.sets("$du", target.uri)
        k.rr.record_route()
        self.outcomes.opened(facts.call_id, facts.source_ip)
        k.tm.t_on_reply("ksr_onreply_sipguard")
        k.tm.t_on_failure("ksr_failure_sipguard")
        self._relay()

    # -- outcomes ---------------------------------------------------------------------
    def ksr_reply_route(self, msg: object) -> int:
        """Kamailio's global reply route (called for every reply): let tm handle it."""
        return 1

    def ksr_onreply_sipguard(self, msg: object) -> int:
        """tm reply route of a relayed request: strip headers, note an INVITE's answer."""
        strip_unlisted(self.ksr, self.watch)
        self.outcomes.replied()
        return 1

    def ksr_failure_sipguard(self, msg: object) -> int:
        """tm failure route: the allowed call ended without an answer."""
        self.outcomes.failed(self)
        return 1

    @property
    def lost_outcomes(self) -> int:
        """Outcomes this worker could not write (each logged with its record)."""
        return self.outcomes.lost
