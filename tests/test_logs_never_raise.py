"""A log that cannot be written never stops what was being logged."""

from __future__ import annotations

import io

import structlog

from sipguard import logs


class FullDisk(io.StringIO):
    """A stream on a full disk: every write and flush fails with ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


def test_a_line_written_to_a_full_disk_is_counted_not_raised() -> None:
    stream = logs._Unfailing(FullDisk())
    logger = structlog.PrintLogger(stream)  # type: ignore[arg-type]
    logger.msg('{"event": "call.decision"}')  # print + flush: must not raise
    assert stream.lost >= 2  # the writes and the flush, none raised


def test_lines_still_reach_a_working_stream() -> None:
    target = io.StringIO()
    stream = logs._Unfailing(target)
    structlog.PrintLogger(stream).msg("one line")  # type: ignore[arg-type]
    assert target.getvalue() == "one line\n" and stream.lost == 0


def test_serving_processes_log_through_the_unfailing_stream() -> None:
    old = structlog.get_config()
    logs.configure()
    try:
        factory = structlog.get_config()["logger_factory"]
    finally:
        structlog.configure(**old)
    assert factory._file is logs.LINES_LOST
