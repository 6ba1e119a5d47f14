"""Logging set-up for the firmware's own entry points (never called by library code).

Card data is kept out of logs by construction: secrets mask their repr, and
nothing logs a raw frame. As a second line of defence, every record passes
through ``redact()``, which masks anything that looks like a PAN or track
data, so a mistake in new code degrades to a masked number rather than a
leak.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from crypto.secrets import mask_card_data, mask_keys

__all__ = ["setup_logging", "redact", "RedactingFormatter", "LOG_MAX_BYTES", "LOG_BACKUPS"]


def redact(text: str) -> str:
    """Card numbers (in one run or in groups) and track text masked (``crypto.secrets.CARD_LIKE``, the judgement
    shared with every place that echoes input), then long hex runs (PIN blocks, keys) told by their length."""
    text = mask_card_data(text)
    return mask_keys(text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _SaysWhyOnce:
    """A log handler that cannot write (a full disk, a closed stream, a line that cannot be formatted) says so
    in one line on stderr, once until it writes again.

    ``logging.Handler.handleError``'s own report is a traceback followed by the record's message *and its
    arguments* unformatted, past the redacting formatter: on a full SD card every log call would put a
    traceback, and whatever the call was given, on stderr, which systemd keeps on disk."""

    _failing = False  # the last write failed and was reported
    _failed = False  # the write under way failed

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)  # type: ignore[misc]  # it calls handleError on any failure
        if not self._failed:
            self._failing = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed = True
        if self._failing:
            return
        self._failing = True
        error = sys.exc_info()[1]
        why = (error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__)
        where = getattr(self, "baseFilename", None) or "stream"
        try:
            sys.stderr.write(f"posterm: the log {where} cannot be written ({why}); "
                             "log lines are lost until it can\n")
        except (OSError, ValueError):  # stderr closed too: nowhere left to say it
            pass


class _StreamHandler(_SaysWhyOnce, logging.StreamHandler):
    pass


LOG_MAX_BYTES = 5 * 2**20  # log.max_bytes's default (firmware.config)
LOG_BACKUPS = 3  # log.backups's


def setup_logging(level: str = "info", file: str | Path | None = None, *, max_bytes: int = LOG_MAX_BYTES,
                  backups: int = LOG_BACKUPS) -> None:
    """Configure the root logger once for a firmware process.

    A ``file`` is rotated by size (``log.max_bytes``, keeping ``log.backups`` old files): ``posterm run``
    stays up for months, and a plain file at debug level would fill the SD card (AU17 L2). Rotation happens
    in the process that writes, so no logrotate stanza is needed, and none would be safe: the handler writes
    to the file it opened."""
    handler: logging.Handler
    if file:
        from logging.handlers import RotatingFileHandler  # not imported by a terminal that logs to stderr

        class _FileHandler(_SaysWhyOnce, RotatingFileHandler):
            pass

        path = Path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _FileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    else:
        handler = _StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
