"""A stand-in for Kamailio's ``KSR`` module: records what the plugin asks Kamailio to do.

Only the functions the plugin calls exist; each returns what Kamailio would for the request
set up with :meth:`FakeKSR.request`.  Replies, header changes, relays and log lines are
kept in lists for the tests to assert on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """A reply the plugin sent (stateless or stateful)."""

    status: int
    text: str
    headers: list[str]


# What ``KSR.pv.get`` gives: a string, an integer, or None when the variable is unset.
PvValue = str | int | None


class _Pv:
    def __init__(self, owner: FakeKSR) -> None:
        self.o = owner
        self.values: dict[str, PvValue] = {}
        self.htable: dict[str, PvValue] = {}
        #: Every pseudo-variable name the plugin used (Kamailio caches each one it parses).
        self.names: set[str] = set()

    def get(self, name: str) -> PvValue:
        self.names.add(name)
        if name.startswith("$sht(sipguard=>"):
            return self.htable.get(name)
        return self.values.get(name)

    def sets(self, name: str, value: str) -> None:
        self.names.add(name)
        if name.startswith("$sht(sipguard=>"):
            self.htable[name] = value
        else:
            self.values[name] = value

    def unset(self, name: str) -> None:
        self.names.add(name)
        self.htable.pop(name, None)
        self.values.pop(name, None)


class _Hdr:
    def __init__(self, owner: FakeKSR) -> None:
        self.o = owner

    def remove(self, name: str) -> int:
        self.o.removed.append(name)
        return 1

    def append(self, text: str) -> int:
        self.o.appended.append(text)
        return 1

    def append_to_reply(self, text: str) -> int:
        self.o.reply_headers.append(text)
        return 1


class _Sl:
    def __init__(self, owner: FakeKSR) -> None:
        self.o = owner

    def send_reply(self, status: int, text: str) -> int:
        self.o.replies.append(Reply(status, text, list(self.o.reply_headers)))
        self.o.reply_headers.clear()
        return 1

    def sl_reply_error(self) -> int:
        self.o.replies.append(Reply(500, "relay error", []))
        return 1


class _Tm:
    def __init__(self, owner: FakeKSR) -> None:
        self.o = owner

    def t_check_trans(self) -> int:
        return self.o.check_trans

    def t_newtran(self) -> int:
        self.o.transactions += 1
        return 1

    def t_relay(self) -> int:
        self.o.relayed.append(self.o.pv.values.get("$du"))
        return 1

    def t_on_reply(self, name: str) -> None:
        self.o.callbacks["reply"] = name

    def t_on_failure(self, name: str) -> None:
        self.o.callbacks["failure"] = name


class _Htable:
    """``KSR.htable`` over the same items as ``$sht()`` in ``KSR.pv``, as Kamailio's shared
    tables: text items, and integer ones with atomic inc/dec."""

    def __init__(self, items: dict[str, PvValue]) -> None:
        self.items = items

    @staticmethod
    def _name(table: str, key: str) -> str:
        return f"$sht({table}=>{key})"

    def sht_get(self, table: str, key: str) -> PvValue:
        return self.items.get(self._name(table, key))

    def sht_sets(self, table: str, key: str, value: str) -> int:
        self.items[self._name(table, key)] = value
        return 1

    def sht_rm(self, table: str, key: str) -> int:
        return 1 if self.items.pop(self._name(table, key), None) is not None else -1

    def sht_inc(self, table: str, key: str) -> int:
        value = int(self.items.get(self._name(table, key)) or 0) + 1
        self.items[self._name(table, key)] = value
        return value

    def sht_dec(self, table: str, key: str) -> int:
        value = int(self.items.get(self._name(table, key)) or 0) - 1
        self.items[self._name(table, key)] = value
        return value


class _Uac:
    """``KSR.uac``: records each From rewrite as (display, uri)."""

    def __init__(self) -> None:
        self.from_rewrites: list[tuple[str, str]] = []

    def uac_replace_from(self, display: str, uri: str) -> int:
        self.from_rewrites.append((display, uri))
        return 1


class _Textops:
    """``KSR.textops``: records each header substitution as (header, expression, flags)."""

    def __init__(self) -> None:
        self.substs: list[tuple[str, str, str]] = []

    def subst_hf(self, header: str, subst: str, flags: str) -> int:
        self.substs.append((header, subst, flags))
        return 1


class _Ns:
    """A namespace of constant-returning functions (maxfwd, sanity, rr, siputils, tmx)."""

    def __init__(self, **funcs: Callable[..., int]) -> None:
        for name, fn in funcs.items():
            setattr(self, name, fn)


@dataclass
class FakeKSR:
    """One fake ``KSR`` module instance per test."""

    method: str = "INVITE"
    check_trans: int = -1
    maxfwd: Any = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    reply_headers: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    appended: list[str] = field(default_factory=list)
    relayed: list[Any] = field(default_factory=list)
    callbacks: dict[str, str] = field(default_factory=dict)
    transactions: int = 0
    totag: bool = False
    loose: bool = False
    maxfwd_ok: bool = True
    record_routed: int = 0

    def __post_init__(self) -> None:
        self.pv = _Pv(self)
        self.hdr = _Hdr(self)
        self.sl = _Sl(self)
        self.tm = _Tm(self)
        self.uac = _Uac()
        self.textops = _Textops()
        self.maxfwd = _Ns(process_maxfwd=lambda n: 1 if self.maxfwd_ok else -1)
        self.sanity = _Ns(sanity_check=lambda mode, uri: 1)
        self.siputils = _Ns(has_totag=lambda: 1 if self.totag else -1)
        self.tmx = _Ns(t_precheck_trans=lambda: -1)
        self.rr = _Ns(loose_route=lambda: 1 if self.loose else -1, record_route=self._rr)
        self.htable = _Htable(self.pv.htable)  # the same items as $sht() in KSR.pv

    def _rr(self) -> int:
        self.record_routed += 1
        return 1

    def info(self, text: str) -> None:
        self.logs.append(("info", text))

    def err(self, text: str) -> None:
        self.logs.append(("err", text))

    def is_CANCEL(self) -> bool:
        return self.method == "CANCEL"

    def is_INVITE(self) -> bool:
        return self.method == "INVITE"

    def is_OPTIONS(self) -> bool:
        return self.method == "OPTIONS"

    def is_ACK(self) -> bool:
        return self.method == "ACK"

    def is_BYE(self) -> bool:
        return self.method == "BYE"

    def request(self, **pv: PvValue) -> FakeKSR:
        """Reset the per-message records and set pseudo-variables for the next request."""
        self.replies.clear()
        self.removed.clear()
        self.appended.clear()
        self.relayed.clear()
        self.callbacks.clear()
        self.pv.values = {"$sel(cfg_get.sipguard.state)": "memory", **pv}
        return self

    def errors(self) -> list[str]:
        """Every line logged at error level."""
        return [text for level, text in self.logs if level == "err"]
