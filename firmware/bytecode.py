"""posterm's own bytecode: compiled where it is installed, and checked by ``posterm selftest``.

A terminal starts from bytecode or it compiles every module again at each start:
about 0.25 s on a laptop core and seconds on a Pi Zero, against the 0.5 s ready
target. The service may not write bytecode itself (systemd's ``ProtectSystem=strict``
makes its slot read-only), so it is compiled when the code is installed: by
``posterm update apply`` into the new slot (``firmware.update.install``), by
``scripts/_venv.sh`` into a checkout, and by ``posterm bench`` into the tree it times.
``posterm selftest`` says when it is missing or stale (``firmware.no_bytecode``).

The bytecode is hash-based and checked (PEP 552): the import compares it with a hash of
the source's bytes, not with the source's mtime. A slot copied or unpacked again
without its timestamps (``cp`` without ``-p``, a restore from backup) keeps bytecode
the interpreter uses, where timestamp bytecode would read as stale and every start
would compile again; and a source changed in place is still never run from old
bytecode. Checking costs a read and a hash of each source, too little to show in the
bench's ready time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from firmware.errors import StorageError

__all__ = ["PACKAGES", "class_code_kept", "compile_bytecode", "pyc_path", "record_class_code", "stale_sources"]

# The packages posterm runs from (pyproject.toml's packages.find): what the service imports.
PACKAGES = ("firmware", "hal", "crypto", "storage")


def pyc_path(source: Path) -> Path | None:
    """Where the interpreter looks for ``source``'s bytecode beside it (None: it keeps no bytecode). Beside the
    source, not under a PYTHONPYCACHEPREFIX of the process that compiles: the service has none."""
    tag = sys.implementation.cache_tag
    return None if tag is None else source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"


def _sources(root: Path) -> list[Path]:
    return [source for package in PACKAGES for source in sorted((root / package).rglob("*.py"))]


def compile_bytecode(root: Path) -> int:
    """Compile the Python of ``PACKAGES`` under ``root`` to checked hash-based bytecode, skipping modules whose
    bytecode is fresh; returns how many were compiled. A file that does not compile, or bytecode that cannot
    be written, is ``update.install_failed`` naming the file (an update refuses the slot then, before the
    switch, rather than at the new firmware's first start)."""
    import py_compile

    compiled = 0
    for source in _sources(root):
        cfile = pyc_path(source)
        if cfile is None:  # an interpreter that keeps no bytecode
            return 0
        if _fresh(source, cfile):
            continue
        name = source.relative_to(root).as_posix()
        try:
            py_compile.compile(str(source), cfile=str(cfile), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        except py_compile.PyCompileError:
            raise StorageError(f"{name} in the bundle is not valid Python; the running firmware is unchanged",
                               code="update.install_failed") from None
        except OSError as e:
            raise StorageError(f"cannot write the bytecode of {name} ({e.strerror}); the running firmware is "
                               "unchanged", code="update.install_failed") from None
        compiled += 1
    if compiled or not class_code_kept(root):
        record_class_code(root)
    return compiled


def class_code_kept(root: Path) -> bool:
    """The tree under ``root`` has its dataclasses' code kept for this interpreter (``firmware/classcode.py``),
    or keeps none (a tree without that module, an interpreter without bytecode)."""
    from firmware.classcode import cache_path, usable

    path = cache_path(root / "firmware")
    return path is None or not (root / "firmware" / "classcode.py").exists() or usable(path)


def record_class_code(root: Path) -> int | None:
    """Keep the code of the dataclasses of the tree under ``root`` (``firmware.classcode``), in a child process
    that imports that tree's modules; returns how many methods, or None where it could not. Never fatal: the
    tree runs as well without it, only its start is slower, and ``posterm selftest`` says so."""
    import os
    import subprocess

    if not (root / "firmware" / "classcode.py").exists():
        return None
    env = {**os.environ, "PYTHONPATH": str(root.resolve()), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "firmware.classcode", *PACKAGES], env=env, cwd=root,
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as e:
        done = subprocess.CompletedProcess([], -1, "", str(e))
    if done.returncode == 0 and done.stdout.strip().isdigit():
        return int(done.stdout)
    import logging  # the engineer's record of why (selftest says that it is missing)

    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    logging.getLogger(__name__).warning("the dataclasses' code of %s was not kept (a slower start): %s", root, last)
    return None


def _fresh(source: Path, cfile: Path) -> bool:
    """The interpreter would run ``cfile`` for ``source``, and it holds ``source`` as it is now. Read as the
    import system reads it: the magic number, then the source's hash (a hash-based file) or its mtime and
    size. Bytecode the import would trust unchecked is fresh only if its hash still matches the source."""
    from importlib.util import MAGIC_NUMBER, source_hash

    try:
        with open(cfile, "rb") as f:
            head = f.read(16)
        if len(head) < 16 or head[:4] != MAGIC_NUMBER:
            return False
        flags = int.from_bytes(head[4:8], "little")
        if flags & 0b1:  # hash-based
            return head[8:16] == source_hash(source.read_bytes())
        st = source.stat()
    except OSError:
        return False
    return (flags == 0 and int.from_bytes(head[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(head[12:16], "little") == st.st_size & 0xFFFFFFFF)


def stale_sources(root: Path) -> tuple[list[str], int]:
    """(the sources under ``root`` whose bytecode is missing or does not hold them as they are, how many
    sources), read as the import system reads it (``_fresh``)."""
    sources = _sources(root)
    if sources and pyc_path(sources[0]) is None:
        return [], len(sources)
    return [source.relative_to(root).as_posix() for source in sources
            if not _fresh(source, pyc_path(source))], len(sources)


if __name__ == "__main__":  # python3 -m firmware.bytecode ROOT: what an install does (selftest's fix)
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print(f"{compile_bytecode(root)} module(s) compiled; dataclasses' code kept: {class_code_kept(root)}")
