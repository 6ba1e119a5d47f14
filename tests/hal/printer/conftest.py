"""Printer fixtures: a sample receipt, simulators handed to each test, nothing patched."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal.base import DeviceContext
from hal.printer import Align, Line, Receipt, render
from hal.printer.ptysim import PtyPrinterSim, TcpPrinterSim
from hal.printer.sim import SimPrinter

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session", autouse=True)
def escpos_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Import python-escpos once, with its capability cache in a temp dir (never the user's ~/.cache)."""
    cache = tmp_path_factory.mktemp("escpos-cache")
    render.warm_up(cache)
    return cache


@pytest.fixture
def context(tmp_path: Path) -> DeviceContext:
    return DeviceContext(data_dir=tmp_path)


@pytest.fixture
def receipt() -> Receipt:
    return Receipt(
        (
            Line("ACME STORE", align=Align.CENTER, bold=True, double=True),
            Line("MERCHANT COPY", rule=True),
            Line("CARD:", right="622848******1234"),
            Line("AMOUNT:", right="CNY 12.50", bold=True),
            Line("APPROVED", align=Align.CENTER),
            Line(),
            Line("Thank you for shopping with us, please come again"),
        ),
        title="MERCHANT COPY 000123",
    )


@pytest.fixture
def sim_printer(context: DeviceContext) -> Iterator[SimPrinter]:
    printer = SimPrinter("sim://", context)
    printer.open()
    yield printer
    printer.close()


@pytest.fixture
def pty_sim() -> Iterator[PtyPrinterSim]:
    with PtyPrinterSim() as sim:
        yield sim


@pytest.fixture
def tcp_sim() -> Iterator[TcpPrinterSim]:
    with TcpPrinterSim() as sim:
        yield sim


def _run_python(code: str, *, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != render.PICKLE_DIR_ENV}
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, f"subprocess failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def run_python():
    """Run code in a fresh interpreter of this venv (clean imports, clean root logger)."""
    return _run_python
