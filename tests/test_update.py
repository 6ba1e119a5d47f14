"""Signed A/B updates on real files: real keys, real tar bundles, power cuts by ``os._exit`` in a forked child.

The invariant after every cut: ``current`` points at a complete slot, and after
the next start's boot-check the terminal runs either the old firmware with
nothing pending, or the new firmware pending confirmation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.cli import main
from firmware.bytecode import stale_sources
from firmware.errors import TerminalError
from firmware.update import (
    MARKER,
    BootCheck,
    FileEntry,
    Manifest,
    Slot,
    Step,
    Updater,
    build_bundle,
    generate_keypair,
    load_trusted_keys,
    sign_manifest,
    verify_bundle,
)
from firmware.update.build import _load_signing_key
from firmware.update.bundle import (
    FILES_PREFIX,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    _safe_path,
)
from tests.forking import CUT, run_in_child

ROOT = Path(__file__).resolve().parent.parent


def migrations_source(readable_by: tuple[int, ...] | int) -> str:
    """A ``storage/migrations.py`` as the updater reads it: ``Migration(n, _vn, readable_by=N)`` per version,
    or, given a plain count, the list of functions of firmware from before the usable-by records."""
    if isinstance(readable_by, int):
        return "MIGRATIONS: list[Callable] = [" + ", ".join(f"_v{n}" for n in range(1, readable_by + 1)) + "]\n"
    rows = "".join(f"    Migration({n}, _v{n}, readable_by={r}),\n" for n, r in enumerate(readable_by, 1))
    return f"MIGRATIONS: tuple[Migration, ...] = (\n{rows})\nLATEST = MIGRATIONS[-1].version\n"


def make_tree(path: Path, version: str, schema: tuple[int, ...] | int = (1, 2, 2, 2)) -> Path:
    """A small posterm-like source tree, with the junk a working copy has that a bundle must leave out."""
    (path / "firmware" / "sub").mkdir(parents=True)
    (path / "scripts").mkdir()
    (path / "storage").mkdir()
    (path / "storage" / "migrations.py").write_text(migrations_source(schema))
    (path / "pyproject.toml").write_text(f'[project]\nname = "posterm"\nversion = "{version}"\n')
    (path / "firmware" / "__init__.py").write_text(f'VERSION = "{version}"\n')
    (path / "firmware" / "sub" / "mod.py").write_text("X = 1\n" * 50)
    (path / "scripts" / "demo").write_text("#!/bin/sh\necho demo\n")
    os.chmod(path / "scripts" / "demo", 0o755)
    for junk in (".venv/bin/python", "firmware/__pycache__/x.pyc", ".git/HEAD", "posterm.egg-info/PKG-INFO"):
        (path / junk).parent.mkdir(parents=True, exist_ok=True)
        (path / junk).write_text("junk")
    return path


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A vendor key, a stranger's key, the terminal's trust file and bundles 1.0, 2.0 and 3.0."""
    base = tmp_path_factory.mktemp("kit")
    vendor_id = generate_keypair(base / "vendor.pem", base / "vendor.pub.pem")
    generate_keypair(base / "stranger.pem", base / "stranger.pub.pem")
    trust = base / "update-keys.pem"
    trust.write_bytes((base / "vendor.pub.pem").read_bytes())
    bundles = {}
    for version in ("1.0", "2.0", "3.0"):
        tree = make_tree(base / f"src-{version}", version)
        bundles[version] = base / f"posterm-{version}.tar.gz"
        build_bundle(tree, version, base / "vendor.pem", bundles[version])
    return {"base": base, "trust": trust, "vendor": base / "vendor.pem", "stranger": base / "stranger.pem",
            "vendor_id": vendor_id, **bundles}


@pytest.fixture
def installed(kit, tmp_path):
    """A terminal root running 1.0, confirmed."""
    updater = Updater(tmp_path / "opt")
    assert updater.apply(kit["1.0"], kit["trust"]) is Slot.A
    return updater


def slot_version(updater: Updater, slot: Slot) -> str:
    return (updater.slot_dir(slot) / "firmware" / "__init__.py").read_text().split('"')[1]


def assert_running(updater: Updater, slot: Slot, version: str, *, pending: bool) -> None:
    status = updater.status()
    assert (status["current"], status["active"], status["version"]) == (slot.value, slot.value, version)
    assert status["pending"] == (slot.value if pending else None)
    assert slot_version(updater, slot) == version  # the tree really is that version's
    assert updater.link("good") is (slot.other if pending else slot)


# -- build, apply, status ------------------------------------------------------------
def test_build_then_apply_installs_the_tree_and_leaves_it_pending(kit, installed):
    assert_running(installed, Slot.A, "1.0", pending=False)
    assert installed.apply(kit["2.0"], kit["trust"], install_cmd="pwd > installed-here") is Slot.B
    assert_running(installed, Slot.B, "2.0", pending=True)
    slot = installed.slot_dir(Slot.B)
    assert (slot / "installed-here").read_text().strip() == str(slot)  # the hook ran inside the new slot
    names = sorted(p.relative_to(slot).as_posix() for p in slot.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert names == [MARKER, "firmware/__init__.py", "firmware/sub/mod.py", "installed-here", "pyproject.toml",
                     "scripts/demo", "storage/migrations.py"]  # no .venv, .git, __pycache__ or egg-info from the working copy
    # the slot's own bytecode, compiled at the install (the service cannot write it: ProtectSystem=strict)
    for source in ("firmware/__init__.py", "firmware/sub/mod.py", "storage/migrations.py"):
        cached = slot / Path(source).parent / "__pycache__" / f"{Path(source).stem}.{sys.implementation.cache_tag}.pyc"
        assert cached.read_bytes()[:4] == importlib.util.MAGIC_NUMBER, source
    for source in slot.rglob("*.py"):  # a slot copied without its timestamps (cp, a restore) keeps usable bytecode
        os.utime(source, (1_000_000_000, 1_000_000_000))
    assert stale_sources(slot)[0] == []
    assert stat.S_IMODE((slot / "scripts" / "demo").stat().st_mode) == 0o755
    assert stat.S_IMODE((slot / "pyproject.toml").stat().st_mode) == 0o644
    assert stat.S_IMODE((slot / "firmware" / "sub").stat().st_mode) == 0o755
    assert os.readlink(installed.root / "current") == "slots/b"
    status = installed.status()
    assert status["slots"]["b"]["key_id"] == kit["vendor_id"] and status["attempts"] == 0
    assert [e["event"] for e in status["history"]] == ["applied", "applied"]

    assert installed.confirm() is Slot.B
    assert_running(installed, Slot.B, "2.0", pending=False)
    assert installed.confirm() is None  # nothing left to confirm


def test_the_real_project_tree_builds_and_verifies(kit, tmp_path):
    bundle = tmp_path / "real.tar.gz"
    manifest = build_bundle(ROOT, "9.9.9", kit["vendor"], bundle)
    paths = {f.path for f in manifest.files}
    assert {"pyproject.toml", "firmware/update/bundle.py", "firmware/cli.py", "crypto/keyring.py"} <= paths
    assert not [p for p in paths if p.startswith(".") or "__pycache__" in p or p.endswith(".pyc") or ".egg-info" in p]
    assert verify_bundle(bundle, load_trusted_keys(kit["trust"])).manifest == manifest


def test_manifest_lists_a_sha256_per_file_and_is_signed(kit):
    with tarfile.open(kit["2.0"], "r:gz") as tar:
        names = tar.getnames()
        raw = tar.extractfile(MANIFEST_NAME).read()
        content = {n: tar.extractfile(n).read() for n in names if n.startswith(FILES_PREFIX)}
    assert names[:2] == [MANIFEST_NAME, SIGNATURE_NAME]
    doc = json.loads(raw)
    assert doc["version"] == "2.0" and doc["product"] == "posterm"
    assert {f["path"]: f["sha256"] for f in doc["files"]} == {
        n[len(FILES_PREFIX):]: hashlib.sha256(data).hexdigest() for n, data in content.items()}


# -- refusals -----------------------------------------------------------------------------
def craft(path: Path, key_path: Path, files: dict[str, bytes], *, manifest_files=None, extra=(), sig=None,
          version="2.0", tamper=None) -> Path:
    """A bundle written by hand: ``manifest_files`` (default: from ``files``) is what is signed,
    ``extra`` are raw TarInfo members appended, ``tamper`` replaces one file's content after signing."""
    if manifest_files is None:
        manifest_files = [FileEntry(p, hashlib.sha256(d).hexdigest(), len(d), 0o644) for p, d in files.items()]
    raw = Manifest(version, "2024-05-06T12:00:00Z", tuple(manifest_files)).to_bytes()
    signature = sign_manifest(_load_signing_key(key_path), raw) if sig is None else sig
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data, kind=tarfile.REGTYPE, linkname=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, linkname, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
        add(MANIFEST_NAME, raw)
        add(SIGNATURE_NAME, signature)
        for p, data in files.items():
            add(FILES_PREFIX + p, (tamper or {}).get(p, data))
        for name, kind, linkname in extra:
            add(name, b"", kind, linkname)
    return path


GOOD_FILES = {"pyproject.toml": b"[project]\nname='posterm'\n", "firmware/__init__.py": b"VERSION = '2.0'\n"}


def _entry(path: str, data: bytes = b"x") -> FileEntry:
    return FileEntry(path, hashlib.sha256(data).hexdigest(), len(data), 0o644)


def _flip_signature(kit):
    raw = Manifest("2.0", "2024-05-06T12:00:00Z", tuple(_entry(p, d) for p, d in GOOD_FILES.items())).to_bytes()
    doc = json.loads(sign_manifest(_load_signing_key(kit["vendor"]), raw))
    doc["signature"] = ("B" if doc["signature"][0] == "A" else "A") + doc["signature"][1:]
    return json.dumps(doc).encode()


def _listed(path: str, kind: bytes, linkname: str = "") -> dict:
    """The signed manifest lists ``path`` as an empty file; the tar (whose headers nobody signs) makes it ``kind``."""
    return {"manifest_files": [_entry(p, d) for p, d in GOOD_FILES.items()] + [_entry(path, b"")],
            "extra": [(FILES_PREFIX + path, kind, linkname)]}


# case: (code, what the message must name, the bundle's defect)
REFUSALS = {
    "flipped signature": ("update.bad_signature", "does not verify", lambda kit: {"sig": _flip_signature(kit)}),
    "garbage signature": ("update.bad_signature", "unreadable", lambda kit: {"sig": b"not json"}),
    "manifest edited after signing": ("update.bad_signature", "does not verify", lambda kit: {
        "sig": sign_manifest(_load_signing_key(kit["vendor"]), b"another manifest")}),
    "signed by a stranger": ("update.untrusted_key", "does not trust", lambda kit: {"key": kit["stranger"]}),
    "tampered file": ("update.bad_bundle", "SHA-256", lambda kit: {
        "tamper": {"firmware/__init__.py": b"VERSION = '6.6'\n"}}),
    "signed ../x": ("update.bad_bundle", "unsafe path", lambda kit: {"files": {**GOOD_FILES, "../x": b"x"}}),
    "signed absolute path": ("update.bad_bundle", "unsafe path", lambda kit: {"files": {**GOOD_FILES, "/etc/x": b"x"}}),
    "signed a/../../x": ("update.bad_bundle", "unsafe path", lambda kit: {"files": {**GOOD_FILES, "a/../../x": b"x"}}),
    "signed marker file": ("update.bad_bundle", "unsafe path", lambda kit: {"files": {**GOOD_FILES, MARKER: b"x"}}),
    "unlisted ../x member": ("update.bad_bundle", "unsafe path", lambda kit: {
        "extra": [("files/../../x", tarfile.REGTYPE, "")]}),
    "unlisted absolute member": ("update.bad_bundle", "unsafe path", lambda kit: {
        "extra": [("/tmp/evil", tarfile.REGTYPE, "")]}),
    "unlisted symlink": ("update.bad_bundle", "symbolic link", lambda kit: {
        "extra": [("files/firmware/link", tarfile.SYMTYPE, "/etc")]}),
    "listed symlink": ("update.bad_bundle", "symbolic link", lambda kit: _listed("firmware/l", tarfile.SYMTYPE, "/etc")),
    "listed hard link": ("update.bad_bundle", "hard link", lambda kit: _listed("h", tarfile.LNKTYPE, "pyproject.toml")),
    "listed device": ("update.bad_bundle", "character device", lambda kit: _listed("dev", tarfile.CHRTYPE)),
    "listed FIFO": ("update.bad_bundle", "FIFO", lambda kit: _listed("fifo", tarfile.FIFOTYPE)),
    "directory member": ("update.bad_bundle", "directory", lambda kit: {
        "extra": [("files/firmware", tarfile.DIRTYPE, "")]}),
    "unlisted extra file": ("update.bad_bundle", "not in the manifest", lambda kit: {
        "extra": [("files/firmware/extra.py", tarfile.REGTYPE, "")]}),
    "file missing from the tar": ("update.bad_bundle", "lacks", lambda kit: {
        "manifest_files": [_entry(p, d) for p, d in GOOD_FILES.items()] + [_entry("firmware/gone.py")]}),
    "no pyproject.toml": ("update.bad_bundle", "posterm tree", lambda kit: {"files": {"firmware/__init__.py": b"x"}}),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_a_bad_bundle_is_refused_and_touches_nothing(kit, installed, tmp_path, case):
    code, names, make = REFUSALS[case]
    opts = make(kit)
    bundle = craft(tmp_path / "bad.tar.gz", opts.pop("key", kit["vendor"]), opts.pop("files", GOOD_FILES), **opts)
    installed.apply(kit["2.0"], kit["trust"])
    installed.confirm()  # slot a (1.0) is now the inactive slot: a refused bundle must not wipe it
    before = {p: p.read_bytes() for p in installed.root.rglob("*") if p.is_file() and not p.is_symlink()}
    with pytest.raises(TerminalError) as err:
        installed.apply(bundle, kit["trust"], allow_downgrade=True)
    assert err.value.code == code and names in err.value.text
    with pytest.raises(TerminalError) as err:
        verify_bundle(bundle, load_trusted_keys(kit["trust"]))
    assert err.value.code == code and names in err.value.text
    assert {p: p.read_bytes() for p in installed.root.rglob("*") if p.is_file() and not p.is_symlink()} == before
    assert_running(installed, Slot.B, "2.0", pending=False)


def test_a_crafted_but_honest_bundle_is_accepted(kit, installed, tmp_path):
    """The crafting helper itself makes good bundles: each refusal above is about its one defect."""
    bundle = craft(tmp_path / "ok.tar.gz", kit["vendor"], GOOD_FILES)
    assert installed.apply(bundle, kit["trust"]) is Slot.B
    assert (installed.slot_dir(Slot.B) / "firmware" / "__init__.py").read_bytes() == GOOD_FILES["firmware/__init__.py"]


@pytest.mark.parametrize("version, allowed", [("1.0", False), ("1.0.0", False), ("0.9", False), ("1.0.1", True)])
def test_a_version_not_newer_than_the_running_one_is_refused(kit, installed, tmp_path, version, allowed):
    bundle = craft(tmp_path / "v.tar.gz", kit["vendor"], GOOD_FILES, version=version)
    if allowed:
        assert installed.apply(bundle, kit["trust"]) is Slot.B
        return
    with pytest.raises(TerminalError) as err:
        installed.apply(bundle, kit["trust"])
    assert err.value.code == "update.downgrade"
    assert_running(installed, Slot.A, "1.0", pending=False)
    assert installed.apply(bundle, kit["trust"], allow_downgrade=True) is Slot.B


def test_no_second_update_while_one_awaits_confirmation(kit, installed):
    installed.apply(kit["2.0"], kit["trust"])
    with pytest.raises(TerminalError) as err:
        installed.apply(kit["3.0"], kit["trust"])
    assert err.value.code == "update.pending"
    assert_running(installed, Slot.B, "2.0", pending=True)
    assert slot_version(installed, Slot.A) == "1.0"  # the fallback is intact


def test_a_failing_install_hook_leaves_the_old_firmware_current(kit, installed):
    with pytest.raises(TerminalError) as err:
        installed.apply(kit["2.0"], kit["trust"], install_cmd="exit 7")
    assert err.value.code == "update.install_failed" and "7" in err.value.text
    assert_running(installed, Slot.A, "1.0", pending=False)
    assert installed.slot_info(Slot.B) is None  # unpacked but never marked complete
    with pytest.raises(TerminalError) as err:
        installed.rollback()
    assert err.value.code == "update.no_fallback"


def test_a_bundle_whose_python_does_not_compile_is_refused_before_the_switch(kit, installed, tmp_path):
    tree = make_tree(tmp_path / "src-bad", "2.1")
    (tree / "firmware" / "sub" / "broken.py").write_text("def f(:\n")
    bundle = tmp_path / "posterm-2.1.tar.gz"
    build_bundle(tree, "2.1", kit["vendor"], bundle)
    with pytest.raises(TerminalError) as err:
        installed.apply(bundle, kit["trust"])
    assert err.value.code == "update.install_failed"
    assert "firmware/sub/broken.py" in err.value.text and "not valid Python" in err.value.text
    assert_running(installed, Slot.A, "1.0", pending=False)
    assert installed.slot_info(Slot.B) is None  # unpacked but never marked complete


@pytest.mark.parametrize("setup, code", [
    (lambda kit, t: t.unlink(), "update.no_trust"),
    (lambda kit, t: os.chmod(t, 0o666), "update.trust_permissions"),
    (lambda kit, t: t.write_text("no keys here\n"), "update.bad_trust"),
])
def test_the_trust_file_must_exist_be_private_to_root_and_hold_keys(kit, installed, tmp_path, setup, code):
    trust = tmp_path / "trust.pem"
    trust.write_bytes(kit["trust"].read_bytes())
    os.chmod(trust, 0o644)
    setup(kit, trust)
    with pytest.raises(TerminalError) as err:
        installed.apply(kit["2.0"], trust)
    assert err.value.code == code


def test_several_trusted_keys_in_one_file(kit, installed, tmp_path):
    trust = tmp_path / "two.pem"
    trust.write_bytes(kit["trust"].read_bytes() + (kit["base"] / "stranger.pub.pem").read_bytes())
    bundle = craft(tmp_path / "s.tar.gz", kit["stranger"], GOOD_FILES)
    assert installed.apply(bundle, trust) is Slot.B


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", "a//b", "./a", "a\\b", MARKER, ""])
def test_a_signed_manifest_may_not_name_a_path_outside_the_slot(path):
    raw = Manifest("2.0", "now", (_entry("pyproject.toml"), _entry(path))).to_bytes()
    with pytest.raises(TerminalError) as err:
        Manifest.parse(raw)
    assert err.value.code == "update.bad_bundle" and "unsafe path" in err.value.text


def test_a_member_larger_than_its_entry_is_refused_before_it_is_read(kit, installed, tmp_path):
    bundle = craft(tmp_path / "big.tar.gz", kit["vendor"], GOOD_FILES, tamper={"pyproject.toml": b"x" * 100_000})
    with pytest.raises(TerminalError) as err:
        installed.apply(bundle, kit["trust"])
    assert err.value.code == "update.bad_bundle" and "pyproject.toml is not the size" in err.value.text


def test_a_bundle_swapped_between_verify_and_unpack_is_refused(kit, installed, tmp_path):
    """Apply reads the bundle twice (verify, then unpack); the second read must be the bundle verified."""
    bundle = tmp_path / "swap.tar.gz"
    bundle.write_bytes(kit["2.0"].read_bytes())

    def swap(step: Step) -> None:
        if step is Step.VERIFIED:
            bundle.write_bytes(kit["3.0"].read_bytes())  # also validly signed, but not what was checked

    with pytest.raises(TerminalError) as err:
        Updater(installed.root, hook=swap).apply(bundle, kit["trust"])
    assert err.value.code == "update.bad_bundle" and "changed" in err.value.text
    assert_running(installed, Slot.A, "1.0", pending=False)
    assert installed.slot_info(Slot.B) is None


# -- power cuts --------------------------------------------------------------------------
def apply_in_child(updater: Updater, bundle: Path, trust: Path, die_at: int | None) -> int:
    """Apply ``bundle`` in a forked child that dies, without any cleanup, at the ``die_at``-th step."""
    return run_in_child(
        lambda hook: Updater(updater.root, hook=hook).apply(bundle, trust, install_cmd="touch venv-made"), die_at
    )


def test_a_power_cut_at_every_step_of_apply_leaves_a_complete_slot_current(kit, tmp_path):
    steps: list[Step] = []
    probe = Updater(tmp_path / "probe")
    probe.apply(kit["1.0"], kit["trust"])
    Updater(probe.root, hook=steps.append).apply(kit["2.0"], kit["trust"])
    # every named step is passed, so every one gets its power cut (a restore's are cut in tests/update)
    assert set(steps) == set(Step) - {Step.RESTORING, Step.RESTORED}
    assert steps.count(Step.FILE_WRITTEN) == 5
    for die_at in range(1, len(steps) + 1):
        root = tmp_path / f"cut-{die_at}"
        updater = Updater(root)
        updater.apply(kit["1.0"], kit["trust"])
        assert apply_in_child(updater, kit["2.0"], kit["trust"], die_at) == CUT, die_at
        current = updater.link("current")  # before anything repairs it: what systemd would run
        assert current is not None and updater.slot_info(current) is not None, (die_at, steps[die_at - 1])
        assert updater.boot_check() in (BootCheck.NOTHING_PENDING, BootCheck.COUNTED)  # the next start
        status = updater.status()
        if status["current"] == "a":
            assert status["pending"] is None and slot_version(updater, Slot.A) == "1.0", die_at
        else:
            assert (status["current"], status["pending"], status["version"]) == ("b", "b", "2.0"), die_at
            assert (updater.slot_dir(Slot.B) / "venv-made").exists()  # the install hook ran before the switch
            assert status["attempts"] == 1 and slot_version(updater, Slot.A) == "1.0"
            updater.rollback("test")  # so the retry below starts from the same place
        # and the update can simply be tried again
        assert apply_in_child(updater, kit["2.0"], kit["trust"], None) == 0
        assert_running(updater, Slot.B, "2.0", pending=True)


# action, confirm 2.0 first?, the (current, pending) states it may settle in, and the good link
CUT_ACTIONS = {
    "rollback of a pending update": ("rollback", False, [("a", None)], "a"),
    "rollback onto probation": ("rollback", True, [("a", "a")], "b"),
    "confirm": ("confirm", False, [("b", None)], "b"),
}


@pytest.mark.parametrize("case", CUT_ACTIONS)
def test_a_power_cut_during_a_rollback_or_confirm_settles_on_one_side(kit, tmp_path, case):
    action, confirmed, settled, good = CUT_ACTIONS[case]

    def prepare(root: Path) -> Updater:
        updater = Updater(root)
        updater.apply(kit["1.0"], kit["trust"])
        updater.apply(kit["2.0"], kit["trust"])
        if confirmed:
            updater.confirm()
        return updater

    steps: list[Step] = []
    getattr(Updater(prepare(tmp_path / "probe").root, hook=steps.append), action)()
    assert Step.RECORDED in steps and Step.SWITCHED in steps
    for die_at in range(1, len(steps) + 1):
        updater = prepare(tmp_path / f"cut-{die_at}")
        pid = os.fork()
        if pid == 0:
            def hook(step: Step, seen: list = [], die_at: int = die_at) -> None:  # noqa: B006 (one child, one list)
                seen.append(step)
                if len(seen) == die_at:
                    os._exit(9)

            try:
                getattr(Updater(updater.root, hook=hook), action)()
            finally:
                os._exit(0)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 9
        current = updater.link("current")
        assert current is not None and updater.slot_info(current) is not None
        updater.boot_check(max_attempts=5)
        status = updater.status()
        assert (status["current"], status["pending"]) in settled, (case, die_at, steps[die_at - 1])
        assert updater.link("good").value == good, (case, die_at)


# -- boot-check ----------------------------------------------------------------------------
def test_boot_check_rolls_back_after_n_unconfirmed_starts(kit, installed):
    installed.apply(kit["2.0"], kit["trust"])
    assert [installed.boot_check(3) for _ in range(3)] == [BootCheck.COUNTED] * 3
    assert_running(installed, Slot.B, "2.0", pending=True)
    assert installed.boot_check(3) is BootCheck.ROLLED_BACK
    assert_running(installed, Slot.A, "1.0", pending=False)
    rollback = installed.status()["last_rollback"]
    assert (rollback["from"], rollback["to"], rollback["from_version"], rollback["to_version"]) == ("b", "a", "2.0", "1.0")
    assert "3 starts without a confirm" in rollback["reason"]
    assert installed.boot_check(3) is BootCheck.NOTHING_PENDING
    assert installed.apply(kit["2.0"], kit["trust"]) is Slot.B  # the same update may be tried again


def test_boot_check_leaves_a_confirmed_update_alone(kit, installed):
    installed.apply(kit["2.0"], kit["trust"])
    assert installed.boot_check(3) is BootCheck.COUNTED
    assert installed.confirm() is Slot.B
    assert [installed.boot_check(3) for _ in range(6)] == [BootCheck.NOTHING_PENDING] * 6
    assert_running(installed, Slot.B, "2.0", pending=False)


def test_boot_check_with_one_attempt_and_on_an_empty_root(kit, installed, tmp_path):
    assert Updater(tmp_path / "nothing").boot_check() is BootCheck.NOTHING_PENDING
    assert not (tmp_path / "nothing").exists()  # boot-check creates nothing where there is nothing
    installed.apply(kit["2.0"], kit["trust"])
    assert installed.boot_check(1) is BootCheck.COUNTED
    assert installed.boot_check(1) is BootCheck.ROLLED_BACK


def test_operator_rollback_switches_to_the_other_complete_slot(kit, installed):
    with pytest.raises(TerminalError) as err:
        installed.rollback()
    assert err.value.code == "update.no_fallback"  # only one slot was ever installed
    installed.apply(kit["2.0"], kit["trust"])
    assert installed.rollback() is Slot.A  # an unconfirmed update: straight back to the confirmed slot
    assert_running(installed, Slot.A, "1.0", pending=False)


def test_rolling_back_from_a_confirmed_slot_puts_the_other_on_probation(kit, installed):
    """The older firmware has not proved it works with today's data: it must confirm like an update."""
    installed.apply(kit["2.0"], kit["trust"])
    installed.confirm()
    assert installed.rollback() is Slot.A
    assert_running(installed, Slot.A, "1.0", pending=True)  # good stays b
    assert [installed.boot_check(2) for _ in range(3)] == [BootCheck.COUNTED] * 2 + [BootCheck.ROLLED_BACK]
    assert_running(installed, Slot.B, "2.0", pending=False)
    assert installed.rollback() is Slot.A and installed.confirm() is Slot.A  # and it can be kept
    assert_running(installed, Slot.A, "1.0", pending=False)


def test_a_damaged_state_file_is_reported_not_guessed(kit, installed):
    installed.state_path.write_text("{ half")
    with pytest.raises(TerminalError) as err:
        installed.boot_check()
    assert err.value.code == "update.state_damaged"


def test_a_disk_error_is_reported_with_a_code_and_changes_nothing_current(kit, installed):
    installed.root.joinpath("slots", "b").write_text("a file where the inactive slot should be")
    installed.root.joinpath("slots", "b").chmod(0o444)
    with pytest.raises(TerminalError) as err:
        installed.apply(kit["2.0"], kit["trust"])
    assert err.value.code == "update.io" and "slots/b" in err.value.text
    assert_running(installed, Slot.A, "1.0", pending=False)


# -- parsers -----------------------------------------------------------------------------
@given(st.lists(st.sampled_from(["a", "b", ".", "/", "\\", "\0", "..", MARKER]), max_size=12).map("".join))
def test_a_safe_path_never_leaves_the_slot(path):
    if _safe_path(path):
        parts = PurePosixPath(path).parts
        assert parts and ".." not in parts and not PurePosixPath(path).is_absolute() and path != MARKER
        assert os.path.normpath("/slot/" + path).startswith("/slot/")


@given(st.binary(max_size=300))
def test_a_random_manifest_is_refused_with_a_code(raw):
    try:
        Manifest.parse(raw)
    except TerminalError as e:
        assert e.code == "update.bad_bundle"


# -- the command line ----------------------------------------------------------------------
def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["update", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def test_cli_session(kit, tmp_path, capsys):
    key = tmp_path / "k" / "vendor.pem"
    key.parent.mkdir()
    code, out, _ = run_cli(capsys, "keygen", "-o", key)
    assert code == 0 and stat.S_IMODE(key.stat().st_mode) == 0o600
    trust = tmp_path / "k" / "vendor.pub.pem"
    assert "BEGIN PUBLIC KEY" in trust.read_text() and "PRIVATE" not in trust.read_text()
    assert run_cli(capsys, "keygen", "-o", key)[2].strip() == (
        f"posterm: error [update.key_exists]: {key} already exists: refusing to overwrite a key")
    src = make_tree(tmp_path / "src", "1.2.3")
    bundle = tmp_path / "b.tar.gz"
    code, out, _ = run_cli(capsys, "build", "--source", src, "--version", "1.2.3", "--key", key, "-o", bundle)
    assert code == 0 and "posterm 1.2.3, 5 files" in out
    assert run_cli(capsys, "verify", bundle, "--trust", trust)[0] == 0
    root = tmp_path / "opt"
    code, out, _ = run_cli(capsys, "apply", bundle, "--root", root, "--trust", trust)
    assert code == 0 and "first install" in out
    code, out, _ = run_cli(capsys, "status", "--root", root, "--json")
    status = json.loads(out)
    assert (status["current"], status["version"], status["pending"]) == ("a", "1.2.3", None)
    assert "slot a" in run_cli(capsys, "status", "--root", root)[1]
    assert run_cli(capsys, "confirm", "--root", root)[1].strip() == "nothing to confirm"
    assert run_cli(capsys, "boot-check", "--root", root)[0] == 0


@pytest.mark.parametrize("argv, code", [
    (["apply", "{stranger}", "--trust", "{trust}"], "update.untrusted_key"),
    (["apply", "{missing}", "--trust", "{trust}"], "update.no_bundle"),
    (["apply", "{notgz}", "--trust", "{trust}"], "update.bad_bundle"),
    (["apply", "{v1}", "--trust", "{missing}"], "update.no_trust"),
    (["build", "--source", "{base}", "--version", "1.0", "--key", "{vendor}", "-o", "{out}"], "update.bad_source"),
    (["build", "--source", "{src}", "--version", "1.0-beta", "--key", "{vendor}", "-o", "{out}"], "update.bad_version"),
    (["build", "--source", "{src}", "--version", "1.0", "--key", "{trust}", "-o", "{out}"], "update.bad_key"),
    (["rollback"], "update.not_installed"),
    (["keygen", "-o", "{missing}/k.pem"], "update.io"),
    (["build", "--source", "{src}", "--version", "1.0", "--key", "{vendor}", "-o", "{missing}/b.tgz"], "update.io"),
])
def test_cli_errors_are_one_line_with_a_code(kit, tmp_path, capsys, argv, code):
    stranger = craft(tmp_path / "s.tar.gz", kit["stranger"], GOOD_FILES)
    (tmp_path / "notgz").write_bytes(b"this is not a bundle")
    names = {"stranger": stranger, "trust": kit["trust"], "missing": tmp_path / "missing", "v1": kit["1.0"],
             "notgz": tmp_path / "notgz", "base": tmp_path, "vendor": kit["vendor"], "out": tmp_path / "o.tgz",
             "src": kit["base"] / "src-1.0"}
    rooted = ["--root", tmp_path / "opt"] if argv[0] in ("apply", "rollback") else []
    exit_code, out, err = run_cli(capsys, *[a.format(**names) for a in argv], *rooted)
    assert exit_code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"posterm: error [{code}]: ")


def test_the_installed_command_prints_no_traceback(kit, tmp_path, posterm_cmd, clean_env):
    """As an operator sees it: a separate process, one line on stderr."""
    bad = craft(tmp_path / "bad.tar.gz", kit["vendor"], GOOD_FILES, tamper={"pyproject.toml": b"[evil]\n" + b"x" * 17})
    result = subprocess.run([*posterm_cmd, "update", "apply", str(bad), "--root", str(tmp_path / "opt"), "--trust",
                             str(kit["trust"])], capture_output=True, text=True, env=clean_env, timeout=60, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("posterm: error [update.bad_bundle]: pyproject.toml is not the size") and "Traceback" not in result.stderr
    assert not (tmp_path / "opt" / "current").exists()


def test_building_the_cli_parser_loads_none_of_the_update_or_screen_machinery():
    """The CLI builds its parser at every start, ``posterm run`` included: the ``update`` and
    ``screen`` commands register themselves without importing what they run."""
    probe = ("import sys; from firmware.cli import build_parser; build_parser(); "
             "heavy = {'cryptography', 'tarfile', 'subprocess', 'gzip', 'hashlib', 'curses', "
             "'firmware.update.bundle', 'firmware.update.slots', 'firmware.update.cli', "
             "'firmware.screen.session', 'firmware.screen.tui'}; "
             "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace(1) is not installed")
def test_apply_syncs_each_step_before_the_next_makes_it_reachable(kit, installed, tmp_path, posterm_cmd):
    """The kills above cannot lose unsynced data (the page cache survives a process); this checks
    the sync order itself, from the system calls: the slot's files, then its marker, then
    state.json, then the ``current`` link, each on the disk before the next step points at it."""
    trace = tmp_path / "trace.txt"
    subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", "trace=sync,fsync,fdatasync,rename,renameat,renameat2",
         "-o", str(trace)] + posterm_cmd + ["update", "apply", str(kit["2.0"]), "--root", str(installed.root),
                                            "--trust", str(kit["trust"])],
        check=True, capture_output=True, timeout=60,
    )
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines() if "(" in line]

    def first(predicate) -> int:
        return next(i for i, call in enumerate(calls) if predicate(call))

    synced_all = first(lambda c: c.startswith("sync("))
    marker_synced = first(lambda c: c.startswith("fsync(") and f".{MARKER}.tmp" in c)
    marker_renamed = first(lambda c: c.startswith("rename") and f"{MARKER}.tmp" in c)
    state_synced = first(lambda c: c.startswith("fsync(") and ".state.json.tmp" in c)
    state_renamed = first(lambda c: c.startswith("rename") and "state.json.tmp" in c)
    current_renamed = first(lambda c: c.startswith("rename") and "current" in c.split(",")[-1])
    root_synced_after = [i for i, c in enumerate(calls)
                         if c.startswith("fsync(") and f"<{installed.root}>)" in c and i > current_renamed]
    assert synced_all < marker_synced < marker_renamed < state_synced < state_renamed < current_renamed
    assert root_synced_after, "the directory holding the new 'current' link was never synced"
