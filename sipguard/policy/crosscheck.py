"""Checks that relate two places of a rules file (rules spec section 1, "Validation").

Invariants:
- Each check yields ``(loc, message, other)`` where ``loc`` is a data path such as
  ``("numbers", 3, "trunk")`` and ``other`` the path of the entry it clashes with (or
  None); ``load.py`` turns paths into ``FILE:LINE:COL`` and "line N" references.
- Checks work on whatever validated: a missing operator model (because it failed the
  schema) is not reported again as an unknown reference, since its id is still known.
- Peer overlap is found by one sort and a stack sweep: CIDR blocks either nest or are
  disjoint, so every block still open on the stack contains the next one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from sipguard.policy.model import Number, Operator, Trunk
from sipguard.policy.numbers import normalise

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, Loc | None]


@dataclass(slots=True)
class Parts:
    """The sections of a rules file that the cross-reference checks read."""

    country_code: str
    national_prefix: str
    operator_ids: set[str]
    operators: dict[str, Operator]
    trunk_ids: set[str]
    trunks: dict[str, Trunk]
    numbers: list[tuple[int, Number]]
    network_peers: list[str]


def cross_check(parts: Parts) -> list[Problem]:
    """Every cross-reference problem of ``parts``."""
    problems = list(_trunk_refs(parts))
    problems.extend(_number_refs(parts))
    problems.extend(_duplicates(parts))
    problems.extend(_overlaps(parts))
    return problems


def _trunk_refs(parts: Parts) -> Iterator[Problem]:
    for tid, trunk in parts.trunks.items():
        if trunk.operator not in parts.operator_ids:
            yield ("trunks", tid, "operator"), f"unknown operator {trunk.operator!r}", None


def _number_refs(parts: Parts) -> Iterator[Problem]:
    for i, num in parts.numbers:
        if num.operator not in parts.operator_ids:
            yield ("numbers", i, "operator"), f"unknown operator {num.operator!r}", None
        if num.trunk not in parts.trunk_ids:
            yield ("numbers", i, "trunk"), f"unknown trunk {num.trunk!r}", None
        trunk = parts.trunks.get(num.trunk)
        known = num.operator in parts.operator_ids and trunk is not None
        known = known and trunk.operator in parts.operator_ids  # type: ignore[union-attr]
        if trunk is not None and known and trunk.operator != num.operator:
            text = (
                f"number {num.number} is filed for operator {num.operator!r} but trunk "
                f"{num.trunk!r} belongs to operator {trunk.operator!r}"
            )
            yield ("numbers", i, "trunk"), text, ("trunks", num.trunk, "operator")
        op = parts.operators.get(num.operator)
        if num.outbound and op is not None and not op.outbound_commitment:
            text = (
                f"number {num.number} is outbound-enabled but operator {num.operator!r} "
                "has no outbound_commitment"
            )
            yield ("numbers", i, "outbound"), text, ("operators", num.operator)


def _duplicates(parts: Parts) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, num in parts.numbers:
        nsn = normalise(num.number, parts.country_code, parts.national_prefix)
        if nsn is None:
            yield ("numbers", i, "number"), f"number {num.number!r} is not all digits", None
            continue
        first = seen.setdefault(nsn, i)
        if first != i:
            yield ("numbers", i, "number"), f"duplicate number {nsn}", ("numbers", first, "number")


Block = tuple[int, int, int, str, str]  # version, first, last, owner, peer text


def _blocks(parts: Parts) -> list[Block]:
    owned = [(f"trunk {tid!r}", p) for tid, t in parts.trunks.items() for p in t.peers]
    owned.extend(("the network", p) for p in parts.network_peers)
    blocks: list[Block] = []
    for owner, peer in owned:
        try:
            net = ipaddress.ip_network(peer, strict=False)
        except ValueError:
            continue
        first = int(net.network_address)
        blocks.append((net.version, first, first + net.num_addresses - 1, owner, peer))
    blocks.sort(key=lambda b: (b[0], b[1], -b[2]))
    return blocks


def _overlaps(parts: Parts) -> Iterator[Problem]:
    peer_locs: dict[tuple[str, str], Loc] = {}
    for tid, trunk in parts.trunks.items():
        for j, peer in enumerate(trunk.peers):
            peer_locs.setdefault((f"trunk {tid!r}", peer), ("trunks", tid, "peers", j))
    for j, peer in enumerate(parts.network_peers):
        peer_locs.setdefault(("the network", peer), ("network", "peers", j))
    stack: list[Block] = []
    for block in _blocks(parts):
        while stack and (stack[-1][0] != block[0] or stack[-1][2] < block[1]):
            stack.pop()
        other = next((b for b in reversed(stack) if b[3] != block[3]), None)
        if other is not None:
            loc = peer_locs[(block[3], block[4])]
            text = f"peer {block[4]!r} of {block[3]} overlaps peer {other[4]!r} of {other[3]}"
            yield loc, text, peer_locs[(other[3], other[4])]
        stack.append(block)
