"""``posterm journal`` on an aged terminal: the listing streams, so its memory does not grow with the journal.

AU17 H1: the listing built every record, then every dict, then one JSON string, with whole-journal dicts of
voids, refunds, completions and archived batches beside them (700 MB of RSS for ``--json`` at 100k rows, more
than a Pi Zero has). Now rows are read from a cursor and written as they come, with what names them joined by
SQLite; ``--batch`` and ``--last`` bound what is listed. Measured with tracemalloc, writing to a sink that
keeps nothing (what was written is the terminal's output, not the listing's working memory).
"""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from pathlib import Path

import pytest

from firmware.cli import main
from storage.store import Store
from tests.e2e.aged import SALE, copy_terminal, grow_journal, play


class Sink:
    """stdout that keeps only a count of what was written."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture(scope="module")
def one_sale(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("listing") / "data"
    r = play(SALE + [{"settle": True}] + SALE, data)  # batch 1 settled, one sale in batch 2
    assert r["ok"], r["failures"]
    return data


@pytest.fixture(scope="module")
def aged(one_sale, tmp_path_factory) -> dict[int, Path]:
    """Copies of the terminal grown to 1,000 and 10,000 more settled sales."""
    dirs = {}
    for rows in (1_000, 10_000):
        dirs[rows] = copy_terminal(one_sale, tmp_path_factory.mktemp(f"aged{rows}") / "data")
        grow_journal(dirs[rows], rows)
    return dirs


def listing_peak(data: Path, as_json: bool) -> tuple[int, int]:
    """The listing's tracemalloc peak and the characters it wrote."""
    from firmware.journalcli import _list

    store = Store.open_read_only(data)
    sink = Sink()
    try:
        tracemalloc.start()
        with contextlib.redirect_stdout(sink):
            _list(store, as_json=as_json)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        store.close()
    return peak, sink.chars


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_listing_memory_does_not_grow_with_the_journal(aged, as_json):
    (small, small_out), (big, big_out) = listing_peak(aged[1_000], as_json), listing_peak(aged[10_000], as_json)
    assert big_out > 9 * small_out  # every row was written: ten times the rows, ten times the output
    assert big < 1.5 * small, f"peak {small / 2**10:.0f} KiB at 1k rows, {big / 2**10:.0f} KiB at 10k rows"


def listed(data: Path, capsys, *args: str) -> list[dict]:
    capsys.readouterr()
    assert main(["journal", "--json", "--data-dir", str(data), *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_last_lists_the_newest_records_in_journal_order(aged, capsys):
    rows = listed(aged[1_000], capsys, "--last", "3")
    assert [r["txn_no"] for r in rows] == [1000, 1001, 1002]  # 2 played sales, then 1000 grown from number 3
    assert len(listed(aged[1_000], capsys)) == 1002
    assert len(listed(aged[1_000], capsys, "--last", "5000")) == 1002  # fewer than asked: every one


def test_batch_lists_one_batch_and_last_bounds_it(one_sale, capsys):
    assert [(r["txn_no"], r["batch"]) for r in listed(one_sale, capsys, "--batch", "1")] == [(1, 1)]
    assert [r["txn_no"] for r in listed(one_sale, capsys, "--batch", "2", "--last", "1")] == [2]
    capsys.readouterr()
    # no such batch: refused with its code, as posterm report --batch refuses it (an empty listing read as
    # "no transactions" in a batch that never was); with --json the error is the one JSON document
    assert main(["journal", "--json", "--batch", "7", "--data-dir", str(one_sale)]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["error"]["code"] == "journal.no_batch" and "there is no batch 000007" in err
    assert main(["journal", "--batch", "7", "--data-dir", str(one_sale)]) == 2
    assert main(["journal", "--batch", "1", "--data-dir", str(one_sale)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split()[0] == "1" and "approved" in line


@pytest.mark.parametrize("args", [["--last", "0"], ["--last", "x"], ["--batch", "0"], ["--batch", "1000000"]])
def test_bad_bounds_are_usage_errors(one_sale, capsys, args):
    with pytest.raises(SystemExit) as e:
        main(["journal", "--data-dir", str(one_sale), *args])
    assert e.value.code == 2 and args[0] in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--last", "2"], ["--batch", "1"], ["--json"]])
def test_resolve_takes_no_listing_options(one_sale, capsys, args):
    assert main(["journal", "resolve", "--txn", "1", "--note", "ticket 12: test", "--data-dir", str(one_sale),
                 *args]) == 2
    assert "[journal.usage]" in capsys.readouterr().err
