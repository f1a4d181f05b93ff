"""Replay: what sipguard would have decided for every INVITE transaction in packet captures.

Invariants:
- Pipeline: captured frames -> SIP messages (``adapters.capture``) -> INVITE transactions
  -> verdicts.  Nothing here prints; the CLI formats the results.
- An INVITE transaction is the key (source IP, Call-ID, CSeq number, top Via branch);
  a later INVITE with the same key is a retransmission (RFC 3261 section 17.2.1) and is
  counted, never evaluated again.  Keys are remembered for ``_KEY_WINDOW_NS`` of capture
  time (far beyond INVITE Timer B, 64*T1 = 32 s) and at most ``_MAX_KEYS`` of them, so
  memory stays flat however long the capture.
- Only initial INVITEs (no To tag, RFC 3261 section 12.1) are screened.  An INVITE with a
  To tag is a re-INVITE inside a dialog: it is reported as ``in_dialog`` with no verdict.
- The call time is the capture timestamp of the packet that completed the INVITE, as a
  timezone-aware UTC datetime; the policy converts it to the rules' zone.
- Allowed inbound calls are kept in the state until the capture ends them
  (``inbound.InboundCalls``), so forwarded calls are verified as serve verifies them.
- Allowed calls are followed to their ends (``outcomes.CallOutcomes``): trunk capacity is
  reported (``trunk_full``), short calls suspend as in serve, and alerts are counted.
- Several files are merged by capture timestamp (records of one file keep their order),
  so policy state (daily caps, violations, suspensions) evolves in time order across the
  whole run.
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sipguard.adapters.replay.capture import (
    CapturedMessage,
    CaptureError,
    CaptureReader,
    Frame,
    PacketDecoder,
)
from sipguard.adapters.replay.inbound import InboundCalls
from sipguard.adapters.replay.outcomes import CallOutcomes
from sipguard.adapters.replay.scan import scan_invite
from sipguard.errors import SipParseError
from sipguard.policy import CallFacts, Ruleset, State, Verdict, evaluate
from sipguard.policy.instant import Instant
from sipguard.screening import facts_from_request
from sipguard.sip import Request, parse

TransactionKey = tuple[str, str, int, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_KEYS = 200_000
_KEY_WINDOW_NS = 180 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class InviteTransaction:
    """One INVITE transaction found in the captures, with its verdict if it was screened."""

    key: TransactionKey
    time: datetime
    source_port: int
    transport: str
    cseq: int
    branch: str
    facts: CallFacts
    verdict: Verdict | None
    parse_error: SipParseError | None = None
    trunk_full: bool = False  # its trunk had max_concurrent_calls up: serve answers 503

    @property
    def in_dialog(self) -> bool:
        """True for a re-INVITE (To tag present): not screened, no verdict."""
        return self.verdict is None and self.parse_error is None

    @property
    def malformed(self) -> bool:
        """True when the parser refused the INVITE: it answers it, the policy never sees it."""
        return self.parse_error is not None


@dataclass(slots=True)
class ReplaySummary:
    """Counts for the whole run; ``partial`` when some input could not be read."""

    files: int = 0
    unreadable_files: int = 0
    frames: int = 0
    sip_messages: int = 0
    invites: int = 0
    screened: int = 0
    in_dialog: int = 0
    retransmissions: int = 0
    malformed: int = 0
    undecodable_frames: int = 0
    partial: bool = False
    by_reason: Counter[str] = field(default_factory=Counter)
    monitored: Counter[str] = field(default_factory=Counter)  # what watched checks would refuse
    warnings: list[str] = field(default_factory=list)
    calls: CallOutcomes | None = None  # trunk capacity, short calls and alerts of the run

    def as_dict(self) -> dict[str, object]:
        """The ``summary`` object printed after the verdicts."""
        return {
            "files": self.files,
            "unreadable_files": self.unreadable_files,
            "frames": self.frames,
            "sip_messages": self.sip_messages,
            "invite_transactions": self.invites,
            "screened": self.screened,
            "in_dialog": self.in_dialog,
            "retransmissions": self.retransmissions,
            "malformed_invites": self.malformed,
            "by_reason": dict(sorted(self.by_reason.items())),
            "monitored": dict(sorted(self.monitored.items())),
            **(self.calls.report.as_dict() if self.calls is not None else {}),
            "partial": self.partial,
        }

    def warn(self, message: str, *, partial: bool = True) -> None:
        """Record a warning about the input; it makes the result partial by default."""
        self.warnings.append(message)
        self.partial = self.partial or partial


def capture_time(ts_ns: int) -> datetime:
    """A capture timestamp (ns since the epoch) as an aware UTC datetime that keeps its
    nanoseconds (``policy.instant.Instant``), so violation windows compare it exactly."""
    return Instant.from_ns(ts_ns)


class Replayer:
    """Turns SIP messages from captures into INVITE transactions and verdicts."""

    def __init__(self, rules: Ruleset, state: State, summary: ReplaySummary | None = None):
        self.rules = rules
        self.state = state
        self.summary = summary or ReplaySummary()
        self.calls = self.summary.calls = self.summary.calls or CallOutcomes(rules, state, None)
        self._seen: OrderedDict[TransactionKey, int] = OrderedDict()
        self.inbound = InboundCalls(state)

    def feed(self, message: CapturedMessage) -> InviteTransaction | None:
        """Evaluate one captured SIP message; a result only for a new INVITE transaction."""
        if not message.data.startswith(b"INVITE "):
            self.inbound.observe(message.data)
            self.calls.observe(message.data, message.ts_ns)
            return None
        try:
            request = parse(message.data)
            if not isinstance(request, Request):
                return None
            key: TransactionKey = (
                message.src,
                request.call_id,
                request.cseq.seq,
                request.top_via.branch or "",
            )
        except SipParseError as exc:
            return self._malformed(message, exc)
        if not self._is_new(key, message.ts_ns):
            return None
        return self._transaction(key, request, message)

    def _is_new(self, key: TransactionKey, ts_ns: int) -> bool:
        seen = self._seen
        if key in seen:
            self.summary.retransmissions += 1
            return False
        while seen and (
            len(seen) >= _MAX_KEYS or next(iter(seen.values())) < ts_ns - _KEY_WINDOW_NS
        ):
            seen.popitem(last=False)
        seen[key] = ts_ns
        return True

    def _malformed(
        self, message: CapturedMessage, error: SipParseError
    ) -> InviteTransaction | None:
        scanned = scan_invite(message.data)
        if scanned is None:
            self.summary.malformed += 1
            return None
        key: TransactionKey = (message.src, scanned.call_id, scanned.cseq, scanned.branch)
        if not self._is_new(key, message.ts_ns):
            return None
        self.summary.invites += 1
        self.summary.malformed += 1
        facts = CallFacts(
            call_id=scanned.call_id,
            source_ip=message.src,
            source_port=message.sport,
            from_user=scanned.from_user,
            from_host=None,
            pai_user=scanned.pai_user,
            ruri_user=scanned.ruri_user,
            transport=message.transport,
        )
        when = capture_time(message.ts_ns)
        return InviteTransaction(
            key, when, message.sport, message.transport, key[2], key[3], facts, None, error
        )

    def _transaction(
        self, key: TransactionKey, request: Request, message: CapturedMessage
    ) -> InviteTransaction | None:
        try:
            facts = facts_from_request(request, message.src, message.sport, message.transport)
            in_dialog = request.to.tag is not None
        except SipParseError as exc:
            self._seen.pop(key, None)
            return self._malformed(message, exc)
        now = capture_time(message.ts_ns)
        verdict = None if in_dialog else evaluate(facts, self.rules, self.state, now)
        self.summary.invites += 1
        if verdict is None:
            self.summary.in_dialog += 1
        else:
            self.summary.screened += 1
            self.summary.by_reason[verdict.reason.value] += 1
            if verdict.monitored is not None:
                self.summary.monitored[verdict.monitored.value] += 1
            self.inbound.screened(facts, verdict, now)
        full = verdict is not None and self.calls.screened(facts, verdict, now)
        return InviteTransaction(
            key, now, message.sport, message.transport, key[2], key[3], facts, verdict,
            trunk_full=full,
        )  # fmt: skip


def _frames(
    path: Path, summary: ReplaySummary, progress: Callable[[int], None] | None
) -> Iterator[Frame]:
    """Every record of one file; problems become warnings on ``summary``."""
    try:
        reader = CaptureReader(path)
    except CaptureError as exc:
        summary.unreadable_files += 1
        summary.warn(str(exc))
        return
    with reader:
        summary.files += 1
        done = 0
        for count, frame in enumerate(reader, 1):
            if progress is not None and count % 4096 == 0:
                now = reader.offset()
                progress(now - done)
                done = now
            yield frame
        if progress is not None:
            progress(reader.offset() - done)
        if reader.truncated:
            summary.warn(f"{path}: capture is truncated; the records before the cut were read")


def merged_frames(
    paths: Iterable[str | Path],
    summary: ReplaySummary,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Frame]:
    """The records of several captures merged by timestamp, each file read as a stream."""
    streams = [_frames(Path(p), summary, progress) for p in paths]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda frame: frame[0])


def replay(
    paths: Iterable[str | Path],
    rules: Ruleset,
    state: State,
    summary: ReplaySummary | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[InviteTransaction]:
    """Every INVITE transaction in the captures, in capture order, screened once each.

    ``summary`` (created if not given) collects counts and warnings as the iterator runs;
    ``progress`` is called with the number of file bytes consumed since its last call.
    """
    summary = summary if summary is not None else ReplaySummary()
    decoder = PacketDecoder()
    replayer = Replayer(rules, state, summary)
    for ts_ns, linktype, data in merged_frames(paths, summary, progress):
        try:
            messages = decoder.decode(ts_ns, linktype, data)
        except (ValueError, IndexError, OverflowError):
            summary.undecodable_frames += 1
            continue
        for message in messages:
            transaction = replayer.feed(message)
            if transaction is not None:
                yield transaction
    summary.frames = decoder.stats.frames
    summary.sip_messages = decoder.stats.sip_messages
    if summary.files == 0:
        summary.partial = True
