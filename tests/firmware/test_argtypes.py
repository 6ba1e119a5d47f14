"""Numbers on the command line (ports, counts, batch numbers) are refused at parsing, with their range:
``posterm host-sim --port 99999`` once ended as "internal error (OverflowError)"."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.argtypes import PORT, whole
from firmware.cli import MAX_BENCH_SALES, main


@pytest.mark.parametrize("text, value", [("0", 0), ("1", 1), ("8583", 8583), ("65535", 65535)])
def test_a_port_is_0_to_65535(text, value):
    assert PORT(text) == value


@pytest.mark.parametrize("text", ["65536", "99999", "-1", "abc", "", " 80", "8e3", "+80", "٣", "1" * 40])
def test_anything_else_is_not_a_port(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"a TCP port is a whole number from 0 to 65535"):
        PORT(text)


@given(st.text(max_size=30))
def test_a_whole_number_type_returns_an_int_in_range_or_a_usage_error(text):
    parse = whole(1, 999, "a count")
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as e:
        assert str(e).startswith("a count is a whole number from 1 to 999")
    else:
        assert type(value) is int and 1 <= value <= 999


@pytest.mark.parametrize("argv, says", [
    (["host-sim", "--port", "99999"],
     "argument --port: a TCP port is a whole number from 0 to 65535 (0: any free port), not '99999'"),
    (["host-sim", "--port", "-1"], "argument --port: a TCP port is a whole number from 0 to 65535"),
    (["host-sim", "--port", "http"], "argument --port: a TCP port is a whole number from 0 to 65535"),
    (["bench", "--sales", "0"], f"argument --sales: a number of sales is a whole number from 1 to {MAX_BENCH_SALES}"),
    (["bench", "--sales", "10000000000000000000000"], "argument --sales: a number of sales is a whole number"),
    (["report", "--batch", "1000000"], "argument --batch: a batch number is a whole number from 1 to 999999"),
])
def test_the_cli_refuses_a_number_out_of_range_as_a_usage_error(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err and "internal error" not in err


def test_the_host_simulator_module_refuses_it_too(capsys):
    from firmware.hostsim.cli import main as hostsim_main

    with pytest.raises(SystemExit) as e:
        hostsim_main(["--port", "70000"])
    assert e.value.code == 2 and "a TCP port is a whole number from 0 to 65535" in capsys.readouterr().err
