"""The methods ``dataclasses`` writes for posterm's classes, compiled when posterm is installed.

``@dataclass`` writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and
(frozen) ``__setattr__``/``__delattr__`` as source text and compiles it with ``exec``, at
every import, one ``exec`` per method. posterm's start imports about 190 dataclasses
(the core's events and actions are frozen dataclasses, as the style guide asks): some
1,100 compilations, about 40% of the import time of ``posterm run`` on a laptop core,
and far more on a Pi Zero, for text that is the same at every start.

So the compiled code is kept beside posterm's bytecode, in
``firmware/__pycache__/dataclasses.<cache tag>.marshal``, written by ``compile_bytecode``
when the code is installed (``record``: every posterm module imported in a child process,
each ``exec`` the dataclasses module makes noted), and read at start (``install``). The
dataclasses module then finds its ``exec`` here first: text whose code is kept runs from
it, any other text is compiled as the module would compile it. Nothing else changes:
the same text gives the same code, run with the same globals and locals, so the
classes are what ``@dataclass`` makes without the file (``tests/firmware/test_classcode.py``
builds them both ways and compares).

Code is looked up by its whole text, never by a class's name or a digest of it, so a
class whose fields changed since the file was written can only miss and be compiled
(the texts cost the file a millisecond to read, less than a hash library would to import). A file
written by another Python (its magic number), unreadable or damaged is not used: the start
is as slow as without it, never different. It is trusted as the bytecode beside it is:
both are written into the slot when it is installed, and the service cannot write either.
"""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

__all__ = ["cache_path", "install", "record", "stats", "usable"]

FORMAT = b"PDC1"  # this file's layout; MAGIC_NUMBER (the interpreter's bytecode) follows it
stats = {"kept": 0, "hits": 0, "misses": 0}  # what a start took from the file (the tests read it)


def cache_path(package_dir: Path) -> Path | None:
    """Where the code is kept for the ``firmware`` package in ``package_dir`` (None: no bytecode kept)."""
    tag = sys.implementation.cache_tag
    return None if tag is None else package_dir / "__pycache__" / f"dataclasses.{tag}.marshal"


def _compile(text: str):
    """As ``exec(text, ...)`` in the dataclasses module compiles it: no future flags (that module has none;
    ``dont_inherit`` keeps this module's out of it)."""
    return compile(text, "<string>", "exec", dont_inherit=True)


def _header() -> bytes:
    from importlib.util import MAGIC_NUMBER

    return FORMAT + MAGIC_NUMBER


def _load(path: Path) -> dict:
    import marshal

    try:
        with open(path, "rb") as f:  # read from the file: no copy of its bytes held beside the codes
            head = _header()
            if f.read(len(head)) != head:
                return {}
            codes = marshal.load(f)
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(codes, dict):
        return {}
    return codes


def usable(path: Path) -> bool:
    """A kept file this interpreter would take code from."""
    return bool(_load(path))


def _exec_through(codes: dict, seen: dict | None = None):
    """The ``exec`` the dataclasses module finds: the kept code for a text, else the text compiled as it would
    be. ``seen``: where ``record`` collects every text's code."""

    def exec(source, globals=None, locals=None, /):  # noqa: A001 - it stands in for the builtin
        if not isinstance(source, str):
            return builtins.exec(source, globals, locals)
        code = codes.get(source)  # (kept after use: many classes share a text, a frozen __setattr__ say)
        if code is None:
            stats["misses"] += 1
            code = _compile(source)
            if seen is not None:
                seen[source] = code
        else:
            stats["hits"] += 1
        return builtins.exec(code, globals, locals)

    return exec


def install() -> None:
    """Let the dataclasses module take its code from the kept file, if there is one for this interpreter.
    Called as ``firmware`` is imported, before any of posterm's dataclasses is made."""
    import dataclasses

    if "exec" in vars(dataclasses):  # installed already, or another's: leave it
        return
    path = cache_path(Path(__file__).resolve().parent)
    codes = _load(path) if path is not None else {}
    stats["kept"] = len(codes)
    if codes:
        dataclasses.exec = _exec_through(codes)


def record(packages: tuple[str, ...], out: Path) -> int:
    """Import every module of ``packages`` (but ``__main__``s) with each text the dataclasses module compiles
    noted, and write their code to ``out`` (atomically; mode as the bytecode's). Returns how many texts.
    Run in a child process of ``compile_bytecode``, on the tree it compiled (``python -m firmware.classcode``)."""
    import dataclasses
    import importlib
    import marshal
    import os
    import pkgutil

    seen: dict = {}
    dataclasses.exec = _exec_through({}, seen)
    for name in packages:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if not info.name.endswith(".__main__"):
                importlib.import_module(info.name)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # two test workers may record at once
    tmp.write_bytes(_header() + marshal.dumps(seen))
    os.replace(tmp, out)
    return len(seen)


if __name__ == "__main__":  # python -m firmware.classcode PACKAGE... : record for the tree on sys.path
    import firmware

    target = cache_path(Path(firmware.__file__).resolve().parent)
    if target is not None:
        print(record(tuple(sys.argv[1:]), target))
