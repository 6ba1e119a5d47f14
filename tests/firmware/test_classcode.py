"""The dataclasses' methods taken from code kept at install (``firmware/classcode.py``): the same classes, faster.

Each test makes classes the way posterm's modules do, once through the kept code and once as the
dataclasses module makes them alone, and compares what they are and do; the last ones start a real
interpreter on a real tree, as ``posterm run`` starts.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from dataclasses import InitVar, dataclass, field
from pathlib import Path

import pytest

from firmware import classcode
from firmware.bytecode import PACKAGES, class_code_kept, compile_bytecode

ROOT = Path(__file__).resolve().parents[2]


def make_classes():
    """Classes with what posterm's use: frozen, defaults, factories, keyword-only fields, slots, a field kept out
    of repr and comparison, __post_init__ with an InitVar, and an annotation only a string would survive."""

    @dataclass(frozen=True)
    class Frozen:
        code: str
        amount: int = 0
        lines: tuple[str, ...] = ()
        secret: bytes = field(default=b"", repr=False, compare=False)

    @dataclass(kw_only=True, slots=True)
    class Slotted:
        stan: int
        tags: list[int] = field(default_factory=list)

    @dataclass(order=True)
    class Ordered:
        batch: int
        seed: InitVar[int] = 0
        twice: int = field(init=False, default=0)

        def __post_init__(self, seed):
            self.twice = 2 * self.batch + seed

    return Frozen, Slotted, Ordered


def kept_code() -> dict:
    """Every text ``make_classes`` has the dataclasses module compile, and its code, as ``record`` keeps it."""
    seen: dict = {}
    saved = vars(dataclasses).get("exec")
    dataclasses.exec = classcode._exec_through({}, seen)
    try:
        make_classes()
    finally:
        if saved is None:
            del dataclasses.exec
        else:
            dataclasses.exec = saved
    return seen


def made_with(codes: dict | None):
    """``make_classes`` with the dataclasses module taking code from ``codes`` (None: on its own)."""
    saved = vars(dataclasses).get("exec")
    if codes is None:
        vars(dataclasses).pop("exec", None)
    else:
        dataclasses.exec = classcode._exec_through(codes)
    try:
        return make_classes()
    finally:
        if saved is None:
            vars(dataclasses).pop("exec", None)
        else:
            dataclasses.exec = saved


METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__lt__", "__le__")


def test_classes_from_kept_code_are_the_classes_the_dataclasses_module_makes():
    codes = kept_code()
    before = dict(classcode.stats)
    kept, alone = made_with(codes), made_with(None)
    assert classcode.stats["hits"] - before["hits"] == len(codes) >= 10  # every method came from the kept code
    for k, a in zip(kept, alone):
        for name in METHODS:
            if vars(a).get(name) is None:  # not made (or __hash__ = None, as eq without frozen sets it)
                assert vars(k).get(name) is None, (a.__name__, name)
            else:
                assert vars(k)[name].__code__ == vars(a)[name].__code__, (a.__name__, name)
                # as the module's own exec compiles them: no future flag from classcode.py (annotations are
                # the types, not their names as strings)
                assert vars(k)[name].__annotations__ == vars(a)[name].__annotations__, (a.__name__, name)
        assert [f.name for f in dataclasses.fields(k)] == [f.name for f in dataclasses.fields(a)]
    frozen, slotted, ordered = kept
    f = frozen("00", 1250, ("A",), secret=b"k")
    assert repr(f).endswith("Frozen(code='00', amount=1250, lines=('A',))") and f == frozen("00", 1250, ("A",))
    assert hash(f) == hash(frozen("00", 1250, ("A",)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.amount = 1
    assert dataclasses.replace(f, amount=5).amount == 5
    s = slotted(stan=7)
    assert s.tags == [] and s.tags is not slotted(stan=7).tags and not hasattr(s, "__dict__")
    with pytest.raises(TypeError):
        slotted(7)  # keyword-only
    assert ordered(3, 1).twice == 7 and ordered(1) < ordered(2)


def test_a_text_whose_code_is_not_kept_is_compiled_as_the_module_would():
    """A class changed since the code was kept (a field renamed): its new texts miss and are compiled, never run
    from the old class's code, which is kept under the old texts only."""
    bogus = compile("def __create_fn__(**kw):\n def f(*a, **k): raise AssertionError('old code')\n return f",
                    "<string>", "exec")
    renamed = {text.replace("amount", "total"): bogus for text in kept_code() if "amount" in text}
    assert renamed
    before = classcode.stats["misses"]
    frozen = made_with(renamed)[0]
    assert frozen("05", 7).amount == 7 and repr(frozen("05")).endswith("Frozen(code='05', amount=0, lines=())")
    assert classcode.stats["misses"] > before


@pytest.mark.parametrize("damage", ["truncated", "other python", "not a dict", "empty"])
def test_a_damaged_or_foreign_file_is_not_used(tmp_path, damage):
    import marshal

    path = tmp_path / "dataclasses.marshal"
    good = classcode._header() + marshal.dumps(kept_code())
    path.write_bytes({"truncated": good[:-40], "other python": classcode.FORMAT + b"\x00\x00\r\n" + good[8:],
                      "not a dict": classcode._header() + marshal.dumps([1, 2]), "empty": b""}[damage])
    assert classcode._load(path) == {} and not classcode.usable(path)
    path.write_bytes(good)
    assert classcode.usable(path)


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "slot"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


START = ("import json, firmware.cli, firmware.app, firmware.runner, firmware.classcode as c; "
         "print(json.dumps(c.stats))")


def start(root: Path) -> dict:
    """A fresh interpreter importing what ``posterm run`` imports before it is ready, from ``root``."""
    done = subprocess.run([sys.executable, "-c", START], cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_installed_tree_starts_with_every_dataclass_method_from_kept_code(tmp_path):
    """What ``compile_bytecode`` does at install (and ``scripts/_venv.sh`` in a checkout) keeps the code of every
    method ``posterm run``'s imports make: none is compiled at the start."""
    root = tree(tmp_path)
    assert not class_code_kept(root)
    cold = start(root)
    assert cold["kept"] == 0 and cold["hits"] == 0
    compile_bytecode(root)
    assert class_code_kept(root)
    warm = start(root)
    assert warm["kept"] >= warm["hits"] > 500 and warm["misses"] == 0, warm


def test_selftest_says_when_the_code_is_not_kept(tmp_path):
    from firmware.selftest import Status, Target, check_firmware

    root = tree(tmp_path)
    compile_bytecode(root)
    assert check_firmware(Target(firmware_root=root)).status is Status.PASS
    classcode.cache_path(root / "firmware").unlink()
    found = check_firmware(Target(firmware_root=root))
    assert (found.status, found.code) == (Status.WARN, "firmware.no_bytecode")
    assert "dataclasses" in found.text and f"python3 -m firmware.bytecode {root}" in found.text
    compile_bytecode(root)  # nothing to compile: the missing code alone is kept again
    assert check_firmware(Target(firmware_root=root)).status is Status.PASS
