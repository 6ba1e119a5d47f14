"""``log.file`` is rotated by size (AU17 L2): a ``posterm run`` of months never fills the SD card.

``firmware.logs.setup_logging`` opened a plain ``FileHandler``: nothing bounded it, and after logrotate moved
the file it kept writing to the old one. It now rotates in the process (``log.max_bytes``, ``log.backups``),
and card data is still masked in every file (the redacting formatter is the same).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from firmware.config import Config
from firmware.errors import ConfigError
from firmware.logs import setup_logging

PAN = "6222021234567890123"


def test_the_log_file_is_rotated_by_size_and_keeps_its_backups(tmp_path, root_logging):
    path = tmp_path / "log" / "posterm.log"
    setup_logging("info", path, max_bytes=64 * 1024, backups=2)
    log = logging.getLogger("posterm.test")
    for i in range(3000):  # about 300 KiB of lines
        log.info("sale %d approved card %s", i, PAN)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["posterm.log", "posterm.log.1", "posterm.log.2"]
    sizes = [p.stat().st_size for p in path.parent.iterdir()]
    assert max(sizes) <= 64 * 1024 and sum(sizes) <= 3 * 64 * 1024
    text = "".join(p.read_text() for p in path.parent.iterdir())
    assert "sale 2999 approved" in text and PAN not in text  # the newest kept; card data masked in every file


def test_the_defaults_bound_the_log_on_disk():
    log = Config().log
    assert 0 < (log.backups + 1) * log.max_bytes <= 64 * 2**20


@pytest.mark.parametrize("key, value, expected", [
    ("max_bytes", 0, "a number from 65536 to 1073741824"),
    ("max_bytes", 2**31, "a number from 65536 to 1073741824"),
    ("max_bytes", "5M", None),
    ("backups", 0, "a number from 1 to 20"),
    ("backups", 21, "a number from 1 to 20"),
])
def test_a_bad_rotation_setting_names_the_key_and_the_expected_form(key, value, expected):
    with pytest.raises(ConfigError) as e:
        Config().replace({"log": {key: value}})
    assert f"log.{key}" in e.value.text
    if expected is not None:
        assert expected in e.value.text


def test_the_configured_rotation_reaches_the_handler(tmp_path, root_logging):
    from firmware.cli import main

    conf = tmp_path / "posterm.toml"
    log = tmp_path / "posterm.log"
    conf.write_text(f'[log]\nfile = "{log}"\nmax_bytes = 70000\nbackups = 4\n'
                    f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    main(["selftest", "--config", str(conf)])  # it logs where the terminal logs
    (handler,) = root_logging.handlers
    assert (handler.maxBytes, handler.backupCount, Path(handler.baseFilename)) == (70000, 4, log)
