"""Packet-capture adapter: stream pcap/pcapng files and recover the SIP messages in them.

The layers are one module each: ``reader`` (file formats), ``link`` (link layers and
tunnels), ``ip`` (IPv4/IPv6 with fragment reassembly), ``tcp`` (stream reassembly),
``stream`` (SIP framing on streams), ``websocket``, ``sctp``, and ``packets`` which
puts them together.
"""

from sipguard.adapters.replay.capture.packets import CapturedMessage, DecodeStats, PacketDecoder
from sipguard.adapters.replay.capture.reader import CaptureError, CaptureReader, Frame

__all__ = [
    "CaptureError",
    "CaptureReader",
    "CapturedMessage",
    "DecodeStats",
    "Frame",
    "PacketDecoder",
]
