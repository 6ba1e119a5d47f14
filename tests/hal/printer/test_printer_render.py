"""ESC/POS rendering: python-escpos's bytes, lazy and side-effect-free import."""

from __future__ import annotations

import json
import platform
import threading

import pytest
from escpos.printer import Dummy

from firmware.errors import ConfigError
from hal.printer import Align, Line, Receipt, layout
from hal.printer.decode import decode_lines
from hal.printer.render import check_profile, render_escpos, warm_up


def test_bytes_are_what_python_escpos_dummy_makes_for_the_same_calls(receipt):
    d = Dummy(profile="default")
    d.hw("INIT")
    d.set(double_width=True, double_height=True, bold=True, align="center")
    d.textln("ACME STORE")
    d.set(normal_textsize=True, bold=False, align="left")
    d.textln("-------- MERCHANT COPY ---------")
    d.textln("CARD:           622848******1234")
    d.set(bold=True)
    d.textln("AMOUNT:                CNY 12.50")
    d.set(bold=False, align="center")
    d.textln("APPROVED")
    d.set(align="left")
    d.textln("")
    d.textln("Thank you for shopping with us,")
    d.textln("please come again")
    d.cut()
    assert render_escpos(receipt, profile="default", columns=32) == d.output


def test_leaving_double_size_says_bold_again_because_esc_bang_clears_it():
    r = Receipt((Line("BIG", bold=True, double=True), Line("still bold", bold=True)))
    d = Dummy()
    d.hw("INIT")
    d.set(double_width=True, double_height=True, bold=True)
    d.textln("BIG")
    d.set(normal_textsize=True, bold=True)
    d.textln("still bold")
    d.cut()
    assert render_escpos(r) == d.output


def test_the_profile_decides_the_cut():
    r = Receipt((Line("x"),))
    with_cutter = render_escpos(r, profile="TM-T88V")
    without = render_escpos(r, profile="ZJ-5870")  # a 58 mm printer with no cutter
    assert with_cutter.endswith(b"\x1bd\x06\x1dV\x00")
    assert without.endswith(b"x\n\x1bd\x06")
    assert render_escpos(Receipt((Line("x"),), cut=False)).endswith(b"x\n")


def test_forced_code_page_is_sent_after_init():
    r = Receipt((Line("Café"),))
    d = Dummy(profile="default")
    d.hw("INIT")
    d.magic.force_encoding("CP858")
    d.textln("Café")
    d.cut()
    data = render_escpos(r, encoding="cp858")
    assert data == d.output
    assert data.startswith(b"\x1b@\x1bt\x13Caf\x82")


@pytest.mark.parametrize(
    "kwargs",
    [{"profile": "NO-SUCH-PRINTER"}, {"encoding": "KLINGON"}, {"profile": "simple", "encoding": "CP1252"}],
)
def test_unknown_profile_or_code_page_is_a_config_error(kwargs):
    with pytest.raises(ConfigError) as err:
        render_escpos(Receipt((Line("x"),)), **kwargs)
    assert err.value.code == "config.bad_option"
    with pytest.raises(ConfigError):
        check_profile(**kwargs)


def test_columns_wider_than_the_profile_are_refused_naming_the_url_profile_and_its_font_a():
    with pytest.raises(ConfigError) as err:
        check_profile("default", 48, url="serial:///dev/ttyUSB0?columns=***")
    assert err.value.code == "config.bad_option"
    text = err.value.text
    assert "'serial:///dev/ttyUSB0?columns=***'" in text and "profile 'default'" in text and "the 42 columns" in text
    assert "CT-S651, KR-306, RP-F10-80mm, TM-L90, TM-T20II" in text and "columns=42 or fewer" in text
    with pytest.raises(ConfigError, match="the 32 columns of Font A in profile 'ZJ-5870'"):
        check_profile("ZJ-5870", 42)


@pytest.mark.parametrize("profile, columns", [("default", 42), ("TM-T20II", 48), ("ZJ-5870", 32), ("default", 8)])
def test_columns_up_to_the_profiles_font_a_are_taken(profile, columns):
    check_profile(profile, columns)


def test_a_profile_without_font_data_takes_any_columns():
    from escpos.capabilities import CAPABILITIES

    bare = [name for name, p in CAPABILITIES["profiles"].items() if not p.get("fonts")]
    assert bare == []  # none in this python-escpos: a profile of its own then, as an operator's database may hold
    CAPABILITIES["profiles"]["posterm-test-no-fonts"] = {"name": "no fonts", "codePages": {"0": "CP437"}}
    try:
        check_profile("posterm-test-no-fonts", 255)
    finally:
        del CAPABILITIES["profiles"]["posterm-test-no-fonts"]


def test_rendered_rows_decode_back_to_the_layout(receipt):
    lines, pending = decode_lines(render_escpos(receipt, columns=42))
    assert lines == [row.text for row in layout(receipt, 42)]
    assert pending == ""


def test_no_receipt_field_can_inject_a_command():
    data = render_escpos(Receipt((Line("evil\x1b@\x1dV\x00", right="\x10\x04\x01"),)))
    assert b"evil @ V" in data
    assert data.count(b"\x1b@") == 1 and data.count(b"\x1dV") == 1 and b"\x10" not in data


def test_warm_up_from_threads_is_safe():
    errors: list[BaseException] = []

    def run():
        try:
            warm_up()
            render_escpos(Receipt((Line("x", align=Align.RIGHT),)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- import side effects, each in a fresh interpreter ------------------------------

LIGHT_IMPORT = """
import sys
import hal.printer, hal.printer.sim, hal.printer.serial, hal.printer.network
import hal.printer.ptysim, hal.printer.status, hal.printer.decode, hal.printer.render, hal.printer.stream
from hal.registry import make_device
for url in ("sim://", "serial:///dev/ttyS0", "tcp://127.0.0.1:9100"):
    make_device("printer", url)
p = make_device("printer", "sim://"); p.open(); p.status()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("escpos", "serial", "PIL", "qrcode", "barcode", "yaml"))
assert not heavy, heavy
"""


def test_importing_the_printer_package_imports_no_escpos(run_python):
    run_python(LIGHT_IMPORT)


RENDER_AND_LOOK = """
import json, logging, os, sys
from pathlib import Path
from hal.base import DeviceContext
from hal.printer import Line, Receipt
from hal.printer.sim import SimPrinter
assert logging.root.handlers == []
data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
p = SimPrinter("sim://", DeviceContext(data_dir=data_dir)); p.open()
p.print_receipt(Receipt((Line("hello"),)))
print(json.dumps({
    "escpos": "escpos.escpos" in sys.modules,
    "handlers": len(logging.root.handlers),
    "env": "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ,
    "text": p.last_receipt,
}))
"""


def _render_in_fresh_process(run_python, tmp_path, *, data_dir=None):
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    code = RENDER_AND_LOOK if data_dir is None else RENDER_AND_LOOK.replace("len(sys.argv) > 1", "True").replace(
        "sys.argv[1]", repr(str(data_dir))
    )
    out = run_python(code, env={"HOME": str(home), "TMPDIR": str(tmp)})
    return json.loads(out.stdout), home, tmp


def test_rendering_leaves_no_root_handler_no_env_and_no_temp_dir(run_python, tmp_path):
    result, home, tmp = _render_in_fresh_process(run_python, tmp_path)
    assert result == {"escpos": True, "handlers": 0, "env": False, "text": "hello\n"}
    assert list(tmp.iterdir()) == []
    pickle = home / ".cache" / "posterm" / f"{platform.python_version()}.capabilities.pickle"
    assert pickle.stat().st_size > 1000


def test_the_workarounds_are_needed(run_python, tmp_path):
    """Control: python-escpos itself adds a root handler and a temp dir, even with the cache dir set."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = run_python(
        "import logging, escpos.escpos; print(len(logging.root.handlers))",
        env={"TMPDIR": str(tmp), "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path)},
    )
    assert out.stdout.strip() == "1"
    assert len(list(tmp.iterdir())) == 1


def test_capability_cache_lives_in_the_data_dir_and_survives_a_torn_pickle(run_python, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _render_in_fresh_process(run_python, tmp_path, data_dir=data_dir)
    pickle = data_dir / "cache" / f"{platform.python_version()}.capabilities.pickle"
    size = pickle.stat().st_size
    assert size > 1000
    assert not (tmp_path / "home" / ".cache").exists()

    pickle.write_bytes(pickle.read_bytes()[:100])  # power cut while python-escpos wrote it
    result, _, _ = _render_in_fresh_process(run_python, tmp_path, data_dir=data_dir)
    assert result["text"] == "hello\n"
    assert pickle.stat().st_size == size
