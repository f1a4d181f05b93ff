"""Link layers and tunnels: from a captured frame to the IP packet inside it.

Invariants:
- Every function returns ``(ethertype, payload)`` with ethertype 0x0800 (IPv4) or 0x86DD
  (IPv6), or ``None`` for anything that carries no IP (ARP, LLDP, STP, short frames ...).
- Fixed headers are decoded with ``struct`` offsets, never with scapy layers: this runs
  for every packet of a capture.
- Supported: Ethernet II with any stack of 802.1Q / 802.1ad (QinQ) tags, Linux cooked
  capture v1 (SLL) and v2 (SLL2), raw IP (DLT_RAW and LINKTYPE_IPV4/IPV6), BSD null and
  OpenBSD loop; and inside IP, GRE (RFC 2784/2890) carrying IP, transparent Ethernet
  bridging, or ERSPAN type I, II and III.
"""

from __future__ import annotations

from collections.abc import Callable

IPV4 = 0x0800
IPV6 = 0x86DD
_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_ETH_BRIDGE = 0x6558
_ERSPAN_1_2 = 0x88BE
_ERSPAN_3 = 0x22EB
_BSD_AF_INET6 = frozenset({10, 24, 28, 30})

IpFrame = tuple[int, bytes] | None


def _ip_by_version(data: bytes) -> IpFrame:
    """A bare IP packet whose version nibble tells its family."""
    if not data:
        return None
    version = data[0] >> 4
    if version == 4:
        return (IPV4, data)
    if version == 6:
        return (IPV6, data)
    return None


def ethernet(data: bytes) -> IpFrame:
    """Ethernet II, skipping any number of VLAN tags."""
    if len(data) < 14:
        return None
    etype = (data[12] << 8) | data[13]
    offset = 14
    while etype in _VLAN_TAGS:
        if len(data) < offset + 4:
            return None
        etype = (data[offset + 2] << 8) | data[offset + 3]
        offset += 4
    if etype in (IPV4, IPV6):
        return (etype, data[offset:])
    return None


def linux_sll(data: bytes) -> IpFrame:
    """Linux cooked capture v1: a 16-byte header whose last two bytes are the protocol."""
    if len(data) < 16:
        return None
    etype = (data[14] << 8) | data[15]
    if etype in _VLAN_TAGS:
        return ethernet(b"\0" * 12 + data[14:])
    return (etype, data[16:]) if etype in (IPV4, IPV6) else None


def linux_sll2(data: bytes) -> IpFrame:
    """Linux cooked capture v2: a 20-byte header that starts with the protocol."""
    if len(data) < 20:
        return None
    etype = (data[0] << 8) | data[1]
    if etype in _VLAN_TAGS:
        return ethernet(b"\0" * 12 + data[:2] + data[20:])
    return (etype, data[20:]) if etype in (IPV4, IPV6) else None


def bsd_null(data: bytes) -> IpFrame:
    """BSD loopback: a 4-byte address family in the capturing host's byte order."""
    if len(data) < 4:
        return None
    family = int.from_bytes(data[:4], "little")
    if family > 0xFFFF:  # written by a big-endian host (or LINKTYPE_LOOP)
        family = int.from_bytes(data[:4], "big")
    if family == 2:
        return (IPV4, data[4:])
    if family in _BSD_AF_INET6:
        return (IPV6, data[4:])
    return None


def raw_ip(data: bytes) -> IpFrame:
    """Raw IP with no link header."""
    return _ip_by_version(data)


LINK_DECODERS: dict[int, Callable[[bytes], IpFrame]] = {
    0: bsd_null,
    1: ethernet,
    12: raw_ip,
    14: raw_ip,
    101: raw_ip,
    108: bsd_null,
    113: linux_sll,
    228: raw_ip,
    229: raw_ip,
    276: linux_sll2,
}


def decode_link(linktype: int, data: bytes) -> IpFrame:
    """The IP packet inside a captured frame of the given link type, or None."""
    decoder = LINK_DECODERS.get(linktype)
    return decoder(data) if decoder is not None else None


def gre(data: bytes) -> IpFrame:
    """The IP packet carried by a GRE packet (IP protocol 47), including ERSPAN I/II/III."""
    if len(data) < 4:
        return None
    flags = data[0]
    proto = (data[2] << 8) | data[3]
    offset = 4
    if flags & 0x80:  # checksum present (with reserved1)
        offset += 4
    if flags & 0x20:  # key present
        offset += 4
    has_seq = bool(flags & 0x10)
    if has_seq:
        offset += 4
    payload = data[offset:]
    if proto in (IPV4, IPV6):
        return (proto, payload)
    if proto == _ETH_BRIDGE:
        return ethernet(payload)
    if proto == _ERSPAN_1_2:
        # Type I has no sequence number and no ERSPAN header; type II has an 8-byte one.
        return ethernet(payload[8:] if has_seq else payload)
    if proto == _ERSPAN_3:
        if len(payload) < 12:
            return None
        skip = 12 + (8 if payload[11] & 0x01 else 0)  # O flag: platform-specific subheader
        return ethernet(payload[skip:])
    return None
