"""A usage error names the problem and never repeats the values typed (audit AU15 L1).

argparse quotes what it cannot take (``unrecognized arguments: ...``, ``invalid choice: '...'``,
``invalid int value: '...'``): reader text the shell split at its spaces, or a hex dump pasted in two
words, reached stderr (a scrollback, a CI log, the systemd journal) with the PAN and track 2 in clear.
Every posterm parser and subparser is a ``PostermParser``."""

from __future__ import annotations

import pytest

from firmware.cli import build_parser, main
from firmware.cliparser import PostermParser
from hal.magstripe.sim import TEST_CARDS

VISA = TEST_CARDS["visa"]
PAN, TRACK2 = VISA.pan, VISA.track2


def _usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    out = capsys.readouterr()
    assert out.out == ""
    return out.err


@pytest.mark.parametrize("argv, says", [
    # track 1's name holds spaces: unquoted, the shell splits the reader text into several arguments
    (["tools", "track", "parse", f"%B{PAN}^VISA", "ACQUIRER", "TEST/CARD", f"01^4912101123400000000000?;{TRACK2}?"],
     "3 unexpected arguments: quote a value that holds spaces"),
    # a hex dump pasted with spaces: field 2 packed BCD is the PAN's digits
    (["tools", "iso8583", "decode", "6000030000603100000000", "0200702000000000000016" + PAN + "000000"],
     "1 unexpected argument: quote a value that holds spaces"),
    (["tools", TRACK2], "argument TOOL: invalid choice (choose from 'states'"),  # a subparser's choice
    (["tools", "pinblock", "decode", "--format", PAN + "x"], "argument --format: invalid int value"),  # a type's echo
    (["tools", "pinblock", "decode", "--format", PAN], "argument --format: invalid choice (choose from 0, 1, 3, 4)"),
    (["tools", "pinblock", PAN], "argument action: invalid choice (choose from 'encode', 'decode')"),
    (["tools", "dukpt", "--bdk", "00", "--ksn", "00", f"--aes128={PAN}"], "argument --aes128: takes no value"),
], ids=["track parse, name unquoted", "iso8583 decode, hex in two words", "tool name", "int option",
        "int choice",
        "subcommand choice", "flag given a value"])
def test_a_usage_error_names_the_problem_without_the_values(capsys, argv, says):
    err = _usage_error(capsys, argv)
    assert says in err, err
    assert PAN not in err and PAN[6:-4] not in err, err


def test_a_types_own_message_is_masked_if_it_quotes_card_data(capsys):
    """A posterm type may quote what it refused (``not '99999'``); card data in it is masked all the same."""
    err = _usage_error(capsys, ["host-sim", "--port", PAN])
    assert "a TCP port is a whole number" in err and PAN not in err, err


@pytest.mark.parametrize("option, what", [("--last", "a count of records"), ("--txn", "a journal number")])
def test_a_range_in_a_usage_error_reads_whole(capsys, option, what):
    """audit AU22: the bound 10**12 has 13 digits, card-shaped (12 are too), and the redaction of the usage error showed
    the operator 'from 1 to *********0000'."""
    err = _usage_error(capsys, ["journal", "resolve" if option == "--txn" else "list", option, "0"])
    assert f"{what} is a whole number from 1 to 99999999999, not '0'" in err and "*" not in err, err


def test_every_subparser_is_a_posterm_parser():
    def walk(parser):
        yield parser
        for action in parser._subparsers._group_actions if parser._subparsers else ():
            for sub in action.choices.values():
                yield from walk(sub)

    parsers = list(walk(build_parser()))
    assert len(parsers) > 20 and all(isinstance(p, PostermParser) for p in parsers)
