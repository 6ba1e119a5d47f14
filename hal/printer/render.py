"""Receipt -> ESC/POS bytes, through python-escpos.

The protocol bytes are python-escpos's: a collecting subclass of
``escpos.escpos.Escpos`` (like ``escpos.printer.Dummy``) receives ``set()``,
``textln()`` and ``cut()`` for the rows ``hal.printer.document.layout`` made,
and the capability profile of the configured model decides what the device
can do (the cut command, the code pages). There is no ``if model ==`` here.

python-escpos is expensive to import (0.1-0.3 s here, seconds on a Pi Zero)
and its import has side effects we undo or steer:

* ``escpos.capabilities`` parses a 100 KB YAML file unless it finds a pickle
  of it in ``ESCPOS_CAPABILITIES_PICKLE_DIR``. We point that at a persistent
  cache (``<data_dir>/cache``, else ``~/.cache/posterm``) so the parse happens
  once, not at every start. A pickle left truncated by a power cut would make
  the import fail for ever, so on a failed import we delete it and try once
  more. (The cache directory must be as trusted as the code: it holds a
  pickle.) An operator's own ``ESCPOS_CAPABILITIES_PICKLE_DIR`` is respected.
  When the pickle cannot be written (a full disk), the import is tried once
  more with the cache in /dev/shm, removed after it; if that fails too it is
  ``printer.cache_failed``, a printer error like any other (the receipt is
  owed), never an ``OSError`` out of the runner.
* It calls ``mkdtemp()`` even when that variable is set (it is the default
  argument of ``environ.get``), which would leave an empty directory in /tmp
  at every start; we steer ``tempfile`` into a scratch directory for the
  import and remove what it left there.
* It calls ``logging.basicConfig()``, which adds a stderr handler to the root
  logger when there is none; we remove the handlers the import added.

So the import happens lazily, under a lock, in ``warm_up()``, which the
runner may call from a background thread once it is idle; ``render_escpos``
calls it too.

Chinese text (``cjk="gb18030"``): python-escpos sends a row holding a Chinese
character as raw GB18030 bytes without selecting the printer's Chinese mode,
so a printer prints them as single-byte code-page characters. Here each run
of wide characters (``hal.printer.document.is_wide``: the characters the
layout counts as two cells) goes as GB18030 between ``FS &`` (Chinese mode)
and ``FS .`` (cancel it), and everything else through python-escpos as
before. ``FS .`` also follows ``ESC @``, since many Chinese models start in
Chinese mode (a memory switch) and would read a code-page byte above 0x7F as
half of a Chinese character. A printer without ``cjk`` is sent ``??`` for
each wide character (``without_wide``), as many cells as the layout gave it;
the configuration refuses its own text such a printer cannot print
(``firmware.config_checks.check_printable``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from firmware.errors import ConfigError, PrinterError
from hal.printer.capabilities import columns_error, unknown_profile_error
from hal.printer.decode import KANJI_OFF, KANJI_ON
from hal.printer.document import Align, Receipt, is_wide, layout, wide_runs, without_wide

__all__ = ["render_escpos", "warm_up", "check_profile", "default_cache_dir", "PICKLE_DIR_ENV", "CJK_ENCODINGS"]

log = logging.getLogger(__name__)

PICKLE_DIR_ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"
CJK_ENCODINGS = ("gb18030",)  # what a printer's Chinese mode may take (the ``cjk`` option); "" is none
_MEMORY_DIR = Path("/dev/shm")  # where the cache goes when the disk will not take it (a tmpfs: RAM)
_lock = threading.Lock()
_collector: type | None = None


def default_cache_dir(data_dir: Path | None = None) -> Path:
    return Path(data_dir) / "cache" if data_dir is not None else Path.home() / ".cache" / "posterm"


def warm_up(cache_dir: Path | None = None) -> None:
    """Import python-escpos now (idempotent, thread-safe), so the first receipt does not wait for it."""
    _escpos_collector(cache_dir)


def _escpos_collector(cache_dir: Path | None) -> type:
    global _collector
    with _lock:
        if _collector is None:
            escpos_cls = _import_escpos(default_cache_dir() if cache_dir is None else Path(cache_dir))

            class _Collector(escpos_cls):  # type: ignore[misc, valid-type]
                """Collects the bytes python-escpos makes, as ``escpos.printer.Dummy`` does."""

                def __init__(self, **kwargs: Any) -> None:
                    super().__init__(**kwargs)
                    self.chunks: list[bytes] = []

                def _raw(self, msg: bytes) -> None:
                    self.chunks.append(bytes(msg))

                def close(self) -> None:
                    pass

            _collector = _Collector
        return _collector


def _import_escpos(cache_dir: Path) -> type:
    import importlib

    pickle_dir = os.environ.get(PICKLE_DIR_ENV)
    set_env = pickle_dir is None
    if set_env:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            pickle_dir = str(cache_dir)
        except OSError:
            log.warning("printer cache %s cannot be created; python-escpos will parse its profiles at every start", cache_dir)
            set_env = False
    handlers = list(logging.root.handlers)

    def drop_new_handlers() -> None:  # escpos's logging.basicConfig(): ours log through the caller's set-up
        for handler in logging.root.handlers[:]:
            if handler not in handlers:
                logging.root.removeHandler(handler)

    try:
        scratch = Path(tempfile.mkdtemp(prefix="posterm-escpos-"))
    except OSError:
        scratch = None
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get(PICKLE_DIR_ENV)
    if set_env:
        os.environ[PICKLE_DIR_ENV] = str(pickle_dir)
    in_memory: Path | None = None
    try:
        if scratch is not None:
            tempfile.tempdir = str(scratch)
        for attempt in (1, 2, 3):
            try:
                return importlib.import_module("escpos.escpos").Escpos
            except ImportError:  # not installed: nothing a cache could fix
                raise
            except OSError as e:  # its cache could not be written (a full disk): once more, the cache in memory
                drop_new_handlers()
                if in_memory is not None or not _MEMORY_DIR.is_dir():
                    raise PrinterError(f"cannot load python-escpos: writing its capability cache failed "
                                       f"({e.strerror or e})", code="printer.cache_failed") from None
                log.warning("printer cache %s cannot be written (%s); using one in memory", pickle_dir, e.strerror)
                try:
                    in_memory = Path(tempfile.mkdtemp(prefix="posterm-escpos-", dir=_MEMORY_DIR))
                except OSError as full:  # memory as full as the disk (AU10): still a printer error, named
                    raise PrinterError(f"cannot load python-escpos: no room for its capability cache on disk "
                                       f"({e.strerror or e}) or in {_MEMORY_DIR} ({full.strerror or full})",
                                       code="printer.cache_failed") from None
                pickle_dir = str(in_memory)
                os.environ[PICKLE_DIR_ENV] = pickle_dir
            except Exception:  # a torn or foreign pickle: unpickling errors vary
                drop_new_handlers()
                stale = Path(pickle_dir) / _pickle_name() if pickle_dir else None
                if attempt == 3 or stale is None or not stale.exists():
                    raise
                log.warning("python-escpos capability cache %s is unreadable; rebuilding it", stale)
                stale.unlink()
        raise AssertionError("unreachable")
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop(PICKLE_DIR_ENV, None)
        else:
            os.environ[PICKLE_DIR_ENV] = saved_env
        drop_new_handlers()
        if in_memory is not None:
            for leftover in in_memory.iterdir():
                leftover.unlink(missing_ok=True)
            _rmdir_quietly(in_memory)
        if scratch is not None:
            for leftover in scratch.iterdir():
                _rmdir_quietly(leftover)
            _rmdir_quietly(scratch)


def _pickle_name() -> str:
    import platform

    return f"{platform.python_version()}.capabilities.pickle"  # as escpos.capabilities names it


def _rmdir_quietly(path: Path) -> None:
    try:
        path.rmdir()  # only ever removes an empty directory
    except OSError:
        pass


def _profile(name: str) -> Any:
    from escpos.capabilities import CAPABILITIES, get_profile

    error = unknown_profile_error(CAPABILITIES["profiles"], name)
    if error is not None:
        raise error
    return get_profile(name)


def check_profile(profile: str = "default", columns: int = 32, encoding: str = "", *, cache_dir: Path | None = None,
                  url: str = "") -> None:
    """Check the profile (and a forced code page) exist, and that ``columns`` fits the profile's Font A.

    Rows wider than the printer's Font A wrap on paper, an amount line among them, so that is refused
    (``config.bad_option``, naming ``url``, the printer URL as an error may show it; ``hal.printer.capabilities``).
    A profile without font data says nothing about width and is taken as it is.
    """
    _escpos_collector(cache_dir)
    prof = _profile(profile)
    if encoding:
        _check_encoding(prof, profile, encoding)
    from escpos.capabilities import CAPABILITIES

    error = columns_error(CAPABILITIES["profiles"], profile, columns, url)  # the data python-escpos loaded
    if error is not None:
        raise error


def _check_encoding(prof: Any, profile: str, encoding: str) -> None:
    pages = prof.get_code_pages()
    if encoding.upper() not in pages:
        raise ConfigError(
            f"code page {encoding!r} is not in printer profile {profile!r}; it has {', '.join(sorted(pages))}",
            code="config.bad_option",
        )


def render_escpos(
    receipt: Receipt,
    *,
    profile: str = "default",
    columns: int = 32,
    encoding: str = "",
    cjk: str = "",
    cache_dir: Path | None = None,
) -> bytes:
    """The ESC/POS bytes python-escpos makes for ``receipt``.

    The printer is initialised (``ESC @``) first, so each receipt starts from
    known modes whatever came before. Styles are sent only when they change.
    ``encoding`` forces one code page (characters outside it print as "?");
    empty lets python-escpos pick a code page per character from the profile.
    ``cjk`` (one of ``CJK_ENCODINGS``) is the encoding of the printer's Chinese
    mode, which prints the wide characters; empty: the printer has none.
    """
    if cjk and cjk not in CJK_ENCODINGS:
        raise ConfigError(f"printer Chinese mode {cjk!r} is not one of {', '.join(CJK_ENCODINGS)}", code="config.bad_option")
    collector = _escpos_collector(cache_dir)
    prof = _profile(profile)
    printer = collector(profile=profile)  # python-escpos wants the name (or its own Profile subclass)
    printer.hw("INIT")
    if cjk:  # a Chinese model may start in Chinese mode: single-byte mode until a wide run asks for it
        printer._raw(KANJI_OFF)
    if encoding:  # after ESC @, which resets the code page
        _check_encoding(prof, profile, encoding)
        printer.magic.force_encoding(encoding.upper())
    align, bold, double = Align.LEFT, False, False  # the modes ESC @ leaves
    unprintable = 0
    for row in layout(receipt, columns):
        changes: dict[str, Any] = {}
        if row.double != double:
            double = row.double
            if double:
                changes.update(double_width=True, double_height=True)
            else:
                changes["normal_textsize"] = True
            # python-escpos sizes text with ESC ! n, which also clears emphasis: say bold again.
            changes["bold"] = row.bold
        elif row.bold != bold:
            changes["bold"] = row.bold
        bold = row.bold
        if row.align is not align:
            align = row.align
            changes["align"] = align.value
        if changes:
            printer.set(**changes)
        text = row.text
        if not cjk and not text.isascii():  # (ASCII: no wide character, the common case, checked at C speed)
            unprintable += sum(map(is_wide, text))
            text = without_wide(text)
        _row(printer, text, cjk)
    if unprintable:  # the configuration refuses its own such text: this came from elsewhere (the host)
        log.warning("printer has no Chinese mode (option cjk): %d wide characters of %s printed as ??", unprintable,
                    receipt.title or "a receipt")
    if receipt.cut:
        printer.cut()
    return b"".join(printer.chunks)


def _row(printer: Any, text: str, cjk: str) -> None:
    """One row and its line feed: each wide run in the Chinese mode, the rest through python-escpos.

    A row without wide characters is exactly ``textln(text)``; python-escpos is never handed a wide
    one (it would send the whole row as GB18030 outside the Chinese mode)."""
    runs = wide_runs(text) if cjk and not text.isascii() else [(False, text)]
    if not runs or runs[-1][0]:
        runs.append((False, ""))
    for wide, run in runs[:-1]:
        if wide:
            printer._raw(KANJI_ON + run.encode(cjk) + KANJI_OFF)
        else:
            printer.text(run)
    printer.textln(runs[-1][1])
