"""A log that cannot be written (a full SD card) costs its lines and says so once, in one line.

``logging``'s own report of a failed write is a traceback followed by the record's message and its
arguments, unformatted and so past the redacting formatter: on a full disk every log call put a traceback,
and whatever the call was given, on stderr, which systemd keeps on disk. ``/dev/full`` fails every write with
ENOSPC, as a full disk does.
"""

from __future__ import annotations

import logging
import os

import pytest

from firmware.logs import setup_logging

PAN = "6222021234567890123"
needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")


@needs_dev_full
def test_a_full_disk_is_one_line_naming_the_file_and_never_a_traceback_or_the_arguments(root_logging, capfd):
    setup_logging("info", "/dev/full")
    log = logging.getLogger("posterm.test")
    for _ in range(3):
        log.warning("sale approved card %s", PAN)
    err = capfd.readouterr().err
    assert err == ("posterm: the log /dev/full cannot be written (No space left on device); "
                   "log lines are lost until it can\n")


def test_it_says_so_again_after_the_log_came_back_and_failed_once_more(root_logging, capfd, tmp_path):
    setup_logging("info", tmp_path / "posterm.log")
    (handler,) = root_logging.handlers
    log = logging.getLogger("posterm.test")
    good = handler.stream
    for stream in (open(os.devnull, "w"), good, open(os.devnull, "w")):
        if stream is not good:
            stream.close()  # a write to a closed file fails (ValueError), as a write to a lost disk does
        handler.stream = stream
        log.warning("card %s", PAN)
        log.warning("card %s", PAN)
    handler.stream = good
    lines = capfd.readouterr().err.splitlines()
    assert lines == [f"posterm: the log {handler.baseFilename} cannot be written (ValueError); "
                     "log lines are lost until it can"] * 2
    assert (tmp_path / "posterm.log").read_text().count("card ") == 2  # the two lines while it could


def test_a_line_that_cannot_be_formatted_on_stderr_is_one_line_too(root_logging, capfd):
    setup_logging("info")
    logging.getLogger("posterm.test").warning("amount %d card %s", "not a number", PAN)
    err = capfd.readouterr().err
    assert err == "posterm: the log stream cannot be written (TypeError); log lines are lost until it can\n"
