"""The receipt model and its plain-text layout, exactly, row by row."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.printer import Align, Line, Receipt, cell_width, layout, plain_text


def rows(*lines: Line, columns: int = 32) -> list[str]:
    return plain_text(Receipt(lines), columns).split("\n")[:-1]


def test_sample_receipt_on_58mm(receipt):
    assert plain_text(receipt, 32) == (
        "   ACME STORE\n"
        "-------- MERCHANT COPY ---------\n"
        "CARD:           622848******1234\n"
        "AMOUNT:                CNY 12.50\n"
        "            APPROVED\n"
        "\n"
        "Thank you for shopping with us,\n"
        "please come again\n"
    )


def test_sample_receipt_on_80mm(receipt):
    assert plain_text(receipt, 48).splitlines()[:4] == [
        "       ACME STORE",
        "---------------- MERCHANT COPY -----------------",
        "CARD:                           622848******1234",
        "AMOUNT:                                CNY 12.50",
    ]


@pytest.mark.parametrize(
    "line, expected",
    [
        (Line("AMOUNT:", right="CNY 12.50"), ["AMOUNT:                CNY 12.50"]),
        (Line("", right="CNY 12.50"), ["                       CNY 12.50"]),
        # exactly full: one space between the columns
        (Line("A" * 22, right="CNY 12.50"), ["A" * 22 + " CNY 12.50"]),
        # one more and the right column takes its own row
        (Line("A" * 23, right="CNY 12.50"), ["A" * 23, "                       CNY 12.50"]),
        # wrapped text: the right column joins the last row
        (
            Line("Pay at the counter, thank you very much", right="OK"),
            ["Pay at the counter, thank you", "very much                     OK"],
        ),
        (Line("X", right="R" * 40), ["X", "R" * 32, " " * 24 + "R" * 8]),
    ],
)
def test_two_columns(line, expected):
    assert rows(line) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("short", ["short"]),
        ("a" * 32, ["a" * 32]),
        ("a" * 33, ["a" * 32, "a"]),
        ("word " * 7, ["word word word word word word", "word"]),
        ("x" * 20 + " " + "y" * 20, ["x" * 20, "y" * 20]),
        ("  indented", ["  indented"]),
        ("trailing   ", ["trailing"]),
        ("", [""]),
        ("one\ntwo\tthree\x1b@", ["one two three @"]),  # controls become spaces: no command injection
    ],
)
def test_wrapping(text, expected):
    assert rows(Line(text)) == expected


def test_double_lines_take_half_the_columns():
    assert rows(Line("TOTAL", align=Align.CENTER, double=True)) == ["     TOTAL"]
    assert rows(Line("TOTAL", right="12.50", double=True)) == ["TOTAL      12.50"]
    assert rows(Line("A" * 20, double=True)) == ["A" * 16, "AAAA"]
    assert rows(Line(rule=True, double=True)) == ["-" * 16]
    assert rows(Line(rule=True, double=True), columns=33) == ["-" * 16]


@pytest.mark.parametrize(
    "align, expected",
    [(Align.LEFT, "APPROVED"), (Align.CENTER, " " * 12 + "APPROVED"), (Align.RIGHT, " " * 24 + "APPROVED")],
)
def test_alignment(align, expected):
    assert rows(Line("APPROVED", align=align)) == [expected]


def test_centre_rounds_the_left_margin_down():
    assert rows(Line("ODD", align=Align.CENTER)) == [" " * 14 + "ODD"]


def test_rules():
    assert rows(Line(rule=True)) == ["-" * 32]
    assert rows(Line("SALE", rule=True)) == ["-" * 13 + " SALE " + "-" * 13]
    assert rows(Line("CUSTOMER", rule=True), columns=8) == ["CUSTOMER"]


def test_east_asian_characters_take_two_cells():
    assert cell_width("商户") == 4 and cell_width("AB") == 2
    assert rows(Line("商户名称", align=Align.RIGHT)) == [" " * 24 + "商户名称"]
    assert rows(Line("名" * 17)) == ["名" * 16, "名"]
    assert rows(Line("商户:", right="12.50"), columns=11) == ["商户: 12.50"]
    assert rows(Line("商户:", right="12.50"), columns=10) == ["商户:", "     12.50"]


def test_rows_carry_style_and_no_alignment_padding(receipt):
    first, rule, card = layout(receipt, 32)[:3]
    assert (first.text, first.width, first.align, first.bold, first.double) == ("ACME STORE", 16, Align.CENTER, True, True)
    assert (rule.bold, rule.double, rule.align) == (False, False, Align.LEFT)
    assert card.text == "CARD:           622848******1234" and card.align is Align.LEFT


@pytest.mark.parametrize(
    "build, error",
    [
        (lambda: Line(1250), TypeError),
        (lambda: Line("AMOUNT", right=1250), TypeError),
        (lambda: Line("x", align="center"), TypeError),
        (lambda: Line("x", right="y", rule=True), ValueError),
        (lambda: Receipt(("not a line",)), TypeError),
    ],
)
def test_malformed_lines_are_refused(build, error):
    with pytest.raises(error):
        build()


def test_receipt_is_immutable_even_from_a_list():
    lines = [Line("A")]
    r = Receipt(lines)
    lines.append(Line("B"))
    assert r.lines == (Line("A"),)
    assert hash(r)


def test_columns_must_be_sane():
    with pytest.raises(ValueError):
        plain_text(Receipt((Line("x"),)), 1)


# -- properties -------------------------------------------------------------------

text_st = st.text(st.sampled_from("abcXYZ019 .:-*/名商¥é"), max_size=80)
line_st = st.builds(
    Line,
    text=text_st,
    right=text_st,
    align=st.sampled_from(Align),
    bold=st.booleans(),
    double=st.booleans(),
)


@given(st.lists(line_st, max_size=6), st.integers(8, 64))
def test_no_row_is_wider_than_its_line(lines, columns):
    for row in layout(Receipt(tuple(lines)), columns):
        assert row.width == (columns // 2 if row.double else columns)
        assert cell_width(row.plain()) <= row.width
        assert row.plain() == row.plain().rstrip()


@given(line_st, st.integers(8, 64))
def test_layout_loses_and_reorders_nothing(line, columns):
    printed = plain_text(Receipt((line,)), columns)
    assert "".join(printed.split()) == "".join(line.text.split()) + "".join(line.right.split())
    assert printed.endswith("\n")
