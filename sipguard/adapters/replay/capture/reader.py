"""Streaming capture-file reading: pcap and pcapng, plain or gzip-compressed.

Invariants:
- Records are read one at a time with scapy's raw readers (``RawPcapReader`` and
  ``RawPcapNgReader``); nothing is kept after it is yielded, so memory is flat in the size
  of the capture.
- Every record comes out as a plain tuple ``(ts_ns, linktype, data)``: the capture time in
  integer nanoseconds since the Unix epoch, the record's link-layer type, and its bytes.
  pcap microsecond and nanosecond files of either byte order are handled by scapy; pcapng
  timestamps are scaled by each interface's own ``if_tsresol`` (decimal or binary).
- A file that is not a capture at all raises :class:`CaptureError`; a capture that ends
  in the middle of a record sets ``truncated`` and stops, keeping what was read.
"""

from __future__ import annotations

import gzip
import logging
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, cast

from scapy.error import Scapy_Exception
from scapy.utils import RawPcapNgReader, RawPcapReader

from sipguard.errors import SipguardError

Frame = tuple[int, int, bytes]
"""One captured record: (timestamp in ns since the epoch, link type, bytes)."""

_PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4",
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x4d\x3c\xb2\xa1",
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 20
_MAX_RECORD = 1 << 24


class _NgMeta(Protocol):
    """The fields of scapy's pcapng record metadata that are read here."""

    tshigh: int
    tslow: int
    tsresol: int
    linktype: int


class CaptureError(SipguardError):
    """A file that cannot be read as a packet capture at all."""


class _TrackedFile:
    """A read-only file wrapper that notices a capture ending inside a record.

    scapy's readers treat a short read as the end of the file; this wrapper remembers
    that the read was short (or that the gzip stream broke off) so the caller can report
    the capture as truncated.
    """

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self._raw = raw
        self.name = name
        self.truncated = False

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._raw.read(size)
        except (EOFError, OSError, zlib.error):
            self.truncated = True
            return b""
        if 0 < len(data) < size:
            self.truncated = True
        return data

    def read_block(self, size: int) -> bytes:
        """Up to ``size`` bytes, where a short read just means the end of the file."""
        try:
            return self._raw.read(size)
        except (EOFError, OSError, zlib.error):
            self.truncated = True
            return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()


def _quiet_scapy() -> None:
    """scapy logs a warning for every odd record; sipguard reports truncation itself."""
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)


class CaptureReader:
    """Iterate the records of one capture file; use as a context manager.

    ``format`` is ``"pcap"`` or ``"pcapng"``, ``compressed`` tells whether it was gzipped,
    and after iteration ``truncated`` tells whether the file ended inside a record.
    """

    def __init__(self, path: str | Path) -> None:
        _quiet_scapy()
        self.path = str(path)
        try:
            raw: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot open: {exc.strerror}") from exc
        self._disk = raw
        self.compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if self.compressed:
            raw = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        self._file = _TrackedFile(raw, self.path)
        self._reader = self._open_reader()
        self.format = "pcapng" if isinstance(self._reader, RawPcapNgReader) else "pcap"

    def _open_reader(self) -> RawPcapReader | RawPcapNgReader:
        magic = self._file.read(4)
        self._file.truncated = False
        if not magic:
            self.close()
            raise CaptureError(f"{self.path}: empty file, not a packet capture")
        if magic not in _PCAP_MAGICS and magic != _PCAPNG_MAGIC:
            self.close()
            kind = "gzip data that is not" if self.compressed else "not"
            raise CaptureError(f"{self.path}: {kind} a pcap or pcapng capture")
        self._file.seek(0)
        try:
            return RawPcapReader(self._file)  # type: ignore[arg-type]
        except (Scapy_Exception, EOFError) as exc:
            self.close()
            raise CaptureError(f"{self.path}: capture header is damaged ({exc})") from exc

    def offset(self) -> int:
        """How many bytes of the file on disk were consumed so far (for progress)."""
        try:
            return self._disk.tell()
        except (OSError, ValueError):
            return 0

    @property
    def truncated(self) -> bool:
        """True when the file ended part-way through a record (read so far)."""
        return self._file.truncated

    def __iter__(self) -> Iterator[Frame]:
        if self.format == "pcapng":
            return self._iter_pcapng()
        return self._iter_pcap()

    def _iter_pcap(self) -> Iterator[Frame]:
        """Classic pcap records, sliced from large blocks.

        scapy's reader has already checked the file header (magic, byte order, precision,
        link type); reading each 16-byte record header with its own ``read`` call would
        cost as much as decoding the whole packet, so records are cut from 1 MiB blocks.
        """
        reader = self._reader
        linktype: int = reader.linktype
        scale = 1 if reader.nano else 1000
        header = struct.Struct(reader.endian + "IIII")
        unpack_from = header.unpack_from
        buf = b""
        pos = 0
        while True:
            block = self._file.read_block(_BLOCK)
            buf = buf[pos:] + block if pos < len(buf) else block
            pos = 0
            end = len(buf)
            while pos + 16 <= end:
                sec, frac, caplen, _wirelen = unpack_from(buf, pos)
                if caplen > _MAX_RECORD:
                    self._file.truncated = True  # a damaged record header
                    return
                stop = pos + 16 + caplen
                if stop > end:
                    break
                yield (sec * 1_000_000_000 + frac * scale, linktype, buf[pos + 16 : stop])
                pos = stop
            if len(block) < _BLOCK:
                if pos < end:
                    self._file.truncated = True
                return

    def _iter_pcapng(self) -> Iterator[Frame]:
        # scapy types a pcapng record's metadata as a pcap one's; it is the pcapng namedtuple.
        records = cast(Iterator[tuple[bytes, _NgMeta]], self._reader)
        for data, meta in records:
            ticks = (meta.tshigh << 32) | meta.tslow
            resol = meta.tsresol
            ts = (
                ticks * (1_000_000_000 // resol)
                if resol <= 1_000_000_000 and (1_000_000_000 % resol == 0)
                else ticks * 1_000_000_000 // resol
            )
            yield (ts, meta.linktype, data)

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()
        self._disk.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
