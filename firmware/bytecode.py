"""posterm's own bytecode: compiled where it is installed, and checked by ``posterm selftest``.

A terminal starts from bytecode or it compiles every module again at each start:
about 0.25 s on a laptop core and seconds on a Pi Zero, against the 0.5 s ready
target. The service may not write bytecode itself (systemd's ``ProtectSystem=strict``
makes its slot read-only), so it is compiled when the code is installed: by
``posterm update apply`` into the new slot (``firmware.update.install``), by
``scripts/_venv.sh`` into a checkout, and by ``posterm bench`` into the tree it times.
``posterm selftest`` says when it is missing or stale (``firmware.no_bytecode``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from firmware.errors import StorageError

__all__ = ["PACKAGES", "compile_bytecode", "pyc_path", "stale_sources"]

# The packages posterm runs from (pyproject.toml's packages.find): what the service imports.
PACKAGES = ("firmware", "hal", "crypto", "storage")


def pyc_path(source: Path) -> Path | None:
    """Where the interpreter looks for ``source``'s bytecode beside it (None: it keeps no bytecode). Beside the
    source, not under a PYTHONPYCACHEPREFIX of the process that compiles: the service has none."""
    tag = sys.implementation.cache_tag
    return None if tag is None else source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"


def _sources(root: Path) -> list[Path]:
    return [source for package in PACKAGES for source in sorted((root / package).rglob("*.py"))]


def compile_bytecode(root: Path) -> None:
    """Compile the Python of ``PACKAGES`` under ``root`` to bytecode. A file that does not compile, or
    bytecode that cannot be written, is ``update.install_failed`` naming the file (an update refuses the
    slot then, before the switch, rather than at the new firmware's first start)."""
    import py_compile

    for source in _sources(root):
        cfile = pyc_path(source)
        if cfile is None:  # an interpreter that keeps no bytecode
            return
        name = source.relative_to(root).as_posix()
        try:
            py_compile.compile(str(source), cfile=str(cfile), doraise=True)
        except py_compile.PyCompileError:
            raise StorageError(f"{name} in the bundle is not valid Python; the running firmware is unchanged",
                               code="update.install_failed") from None
        except OSError as e:
            raise StorageError(f"cannot write the bytecode of {name} ({e.strerror}); the running firmware is "
                               "unchanged", code="update.install_failed") from None


def stale_sources(root: Path) -> tuple[list[str], int]:
    """(the sources under ``root`` whose bytecode the interpreter would not use, how many sources). Read as
    the import system does: the magic number, then either a hash-based file or the source's mtime and
    size recorded in the header."""
    from importlib.util import MAGIC_NUMBER

    sources = _sources(root)
    stale = []
    for source in sources:
        cfile = pyc_path(source)
        if cfile is None:
            return [], len(sources)
        try:
            with open(cfile, "rb") as f:
                head = f.read(16)
            st = source.stat()
        except OSError:
            stale.append(source.relative_to(root).as_posix())
            continue
        flags = int.from_bytes(head[4:8], "little") if len(head) == 16 else -1
        fresh = head[:4] == MAGIC_NUMBER and (
            flags & 0b1 == 1  # hash-based: checked against the source, or trusted, by the import itself
            or (flags == 0 and int.from_bytes(head[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
                and int.from_bytes(head[12:16], "little") == st.st_size & 0xFFFFFFFF))
        if not fresh:
            stale.append(source.relative_to(root).as_posix())
    return stale, len(sources)
