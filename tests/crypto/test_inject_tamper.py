"""Terminal master key and DUKPT injection (TR-31, lab components), KCV checks, tamper zeroize."""

from __future__ import annotations

import os

import pytest

from crypto.dukpt import derive_ipek
from crypto.dukpt_device import STATE_FILE, DukptDevice
from crypto.inject import check_kcv, combine_components, inject_dukpt_tr31, inject_key, inject_tmk_tr31
from crypto.keyring import KEK_FILE, KEYRING_FILE, FileKek, Keyring
from crypto.keys import KeyUsage, kcv
from crypto.provision import LAB_KEYS, TerminalKeys, lab_key, provision
from crypto.secrets import SecretKey
from crypto.tamper import TAMPER_FILE, tamper_status, zeroize
from crypto.tr31 import Tr31Header, wrap
from firmware.errors import CryptoError

KBPK = SecretKey(bytes.fromhex("89E88CF7931444F334BD7547FC3F380C"), "kbpk")
TMK = bytes.fromhex(LAB_KEYS[KeyUsage.TMK])


@pytest.fixture
def ring(tmp_path):
    return provision(tmp_path / "data", lab=False)


def test_tmk_from_components_checks_each_kcv(ring):
    c1 = bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")
    c2 = bytes(a ^ b for a, b in zip(c1, TMK))
    key = combine_components([c1, c2], [kcv(c1), kcv(c2)])
    entry = inject_key(ring, KeyUsage.TMK, key, expected_kcv=kcv(TMK))
    assert entry.kcv == kcv(TMK) and Keyring.load(ring.path.parent).get(KeyUsage.TMK).reveal() == TMK
    with pytest.raises(CryptoError) as e:
        combine_components([c1, c2], [kcv(c1), "000000"])
    assert e.value.code == "keys.kcv" and "component 2" in e.value.text


@pytest.mark.parametrize(
    "components, code",
    [([bytes(16)], "keys.components"), ([bytes(16), bytes(8)], "keys.components")],
)
def test_component_shapes(components, code):
    with pytest.raises(CryptoError) as e:
        combine_components(components)
    assert e.value.code == code


def test_a_wrong_expected_kcv_installs_nothing(ring):
    with pytest.raises(CryptoError) as e:
        inject_key(ring, KeyUsage.TMK, SecretKey(TMK), expected_kcv="123456")
    assert e.value.code == "keys.kcv"
    assert not Keyring.load(ring.path.parent).has(KeyUsage.TMK)
    with pytest.raises(CryptoError) as e:
        check_kcv(TMK, "08", "TMK")  # too short to check anything
    assert e.value.code == "keys.kcv"


@pytest.mark.parametrize("version", ["A", "B", "C", "D"])
def test_tmk_from_a_tr31_block(ring, version):
    kbpk = KBPK if version != "D" else SecretKey(bytes(range(32)), "kbpk")
    block = wrap(kbpk, Tr31Header(version, "K0", "T", "D", "01", "N"), TMK)
    inject_key(ring, KeyUsage.KBPK, kbpk, kcv_algorithm="aes-cmac" if version == "D" else "auto")
    entry = inject_tmk_tr31(ring, block, expected_kcv=kcv(TMK))
    assert entry.usage == "tmk" and entry.note == f"TR-31 {version}"
    assert Keyring.load(ring.path.parent).get(KeyUsage.TMK).reveal() == TMK


def test_a_new_tmk_drops_the_working_keys(tmp_path):
    ring = provision(tmp_path / "lab", lab=True)
    inject_tmk_tr31(ring, wrap(KBPK, Tr31Header("B", "K0", "T", "B"), bytes(range(16))), kbpk=KBPK)
    again = Keyring.load(ring.path.parent)
    assert not again.has(KeyUsage.PIN) and not again.has(KeyUsage.MAC) and again.versions(KeyUsage.TMK) == [2]


@pytest.mark.parametrize(
    "header, key, code",
    [
        (Tr31Header("B", "P0", "T", "E"), TMK, "tr31.usage"),  # a PIN key, not a KEK
        (Tr31Header("B", "K0", "A", "D"), TMK, "tr31.usage"),  # AES
        (Tr31Header("B", "K0", "T", "E"), TMK, "tr31.usage"),  # encrypt-only
        (Tr31Header("B", "K0", "T", "D"), TMK[:8], "crypto.key_length"),  # single DES
    ],
)
def test_wrong_tmk_blocks_are_refused(ring, header, key, code):
    with pytest.raises(CryptoError) as e:
        inject_tmk_tr31(ring, wrap(KBPK, header, key), kbpk=KBPK)
    assert e.value.code == code
    assert not Keyring.load(ring.path.parent).has(KeyUsage.TMK)


def test_tr31_needs_a_kbpk(ring):
    with pytest.raises(CryptoError) as e:
        inject_tmk_tr31(ring, "B0000K0TB00N0000")
    assert e.value.code == "keys.no_kbpk"


def test_dukpt_initial_key_from_tr31_with_its_ksn(ring):
    data_dir = ring.path.parent
    ipek = derive_ipek(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), "FFFF9876543210E00000")
    block = wrap(KBPK, Tr31Header("B", "B1", "T", "X", blocks=(("KS", "FFFF9876543210E00000"),)), ipek)
    device = inject_dukpt_tr31(data_dir, block, KBPK, expected_kcv=kcv(ipek))
    assert device.next_ksn.hex().upper() == "FFFF9876543210E00001"
    keys = DukptDevice.load(data_dir).next_transaction()
    assert keys.pin.reveal().hex().upper() == "042666B49184CF5C68DE9628D0397B36"  # X9.24-3 annex C
    assert ipek.reveal().hex().upper() not in (data_dir / STATE_FILE).read_text().upper()


def test_aes_dukpt_initial_key_from_tr31(ring):
    ik = bytes.fromhex("1273671EA26AC29AFA4D1084127652A1")  # X9.24-3 supplement, AES-128 BDK
    kbpk = SecretKey(bytes(range(32)))
    block = wrap(kbpk, Tr31Header("D", "B1", "A", "X", blocks=(("IK", "1234567890123456"),)), ik)
    device = inject_dukpt_tr31(ring.path.parent, block, kbpk, expected_kcv=kcv(ik, 5, algorithm="aes-cmac"))
    keys = device.next_transaction()
    assert keys.scheme == "aes128" and keys.pin.reveal().hex().upper() == "AF8CB133A78F8DC2D1359F18527593FB"


@pytest.mark.parametrize(
    "header, code",
    [
        (Tr31Header("B", "B0", "T", "X", blocks=(("KS", "FFFF9876543210E00000"),)), "dukpt.bdk_refused"),
        (Tr31Header("B", "P0", "T", "E"), "tr31.usage"),
        (Tr31Header("B", "B1", "T", "X"), "dukpt.ksn"),
    ],
)
def test_dukpt_blocks_that_are_refused(ring, header, code):
    with pytest.raises(CryptoError) as e:
        inject_dukpt_tr31(ring.path.parent, wrap(KBPK, header, bytes(range(16))), KBPK)
    assert e.value.code == code
    assert not DukptDevice.exists(ring.path.parent)


# -- tamper ---------------------------------------------------------------------------------------
def test_zeroize_destroys_every_key_and_locks_the_terminal(tmp_path):
    data_dir = tmp_path / "data"
    ring = provision(data_dir, lab=True)
    from crypto.dukpt_device import initialise_from_bdk

    initialise_from_bdk(data_dir, "tdes", SecretKey(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")),
                        "FFFF9876543210E00000")
    (data_dir / f".{KEYRING_FILE}.tmp").write_bytes(b"half-written")
    record = zeroize(data_dir, reason="case opened", source="gpio")
    for name in (KEK_FILE, KEYRING_FILE, STATE_FILE, f".{KEYRING_FILE}.tmp"):
        assert not (data_dir / name).exists(), name
    assert set(record.destroyed) == {KEK_FILE, KEYRING_FILE, STATE_FILE, f".{KEYRING_FILE}.tmp"}
    assert tamper_status(data_dir) == record and (data_dir / TAMPER_FILE).stat().st_mode & 0o077 == 0
    with pytest.raises(CryptoError) as e:
        TerminalKeys.load(ring)
    assert e.value.code == "keys.tampered" and "case opened" in e.value.text and "re-key" in e.value.text
    assert zeroize(data_dir, reason="again").destroyed == ()  # safe to repeat


def test_re_keying_ends_the_lock_out(tmp_path):
    data_dir = tmp_path / "data"
    provision(data_dir, lab=True)
    zeroize(data_dir, reason="test")
    ring = provision(data_dir, lab=False)  # a new KEK and at-rest keys; still no TMK
    with pytest.raises(CryptoError) as e:
        TerminalKeys.load(ring)
    assert e.value.code == "keys.tampered"
    inject_key(ring, KeyUsage.TMK, lab_key(KeyUsage.TMK))
    assert tamper_status(data_dir) is None
    TerminalKeys.load(ring)  # no longer refused (working keys come with sign-on)
    zeroize(data_dir, reason="test")
    provision(data_dir, lab=True)  # the lab's way of re-keying
    TerminalKeys.load(Keyring.load(data_dir)).require_working_keys()


def test_a_damaged_tamper_record_still_locks(tmp_path):
    data_dir = tmp_path / "data"
    provision(data_dir, lab=True)
    (data_dir / TAMPER_FILE).write_text("{garbage")
    with pytest.raises(CryptoError) as e:
        TerminalKeys.load(Keyring.load(data_dir))
    assert e.value.code == "keys.tampered"


def test_a_secure_element_kek_is_asked_to_destroy_its_key(tmp_path):
    class Element:
        destroyed = False

        def destroy(self):
            Element.destroyed = True

    data_dir = tmp_path / "data"
    provision(data_dir)
    record = zeroize(data_dir, kek=Element())
    assert Element.destroyed and "kek provider" in record.destroyed


def test_the_kek_file_is_overwritten_before_removal(tmp_path):
    """The file's blocks are zeroed through the same inode before it is unlinked."""
    data_dir = tmp_path / "data"
    provision(data_dir)
    fd = os.open(data_dir / KEK_FILE, os.O_RDONLY)  # keep the inode alive to look at it afterwards
    try:
        zeroize(data_dir)
        assert os.pread(fd, 64, 0) == bytes(32)
    finally:
        os.close(fd)
    with pytest.raises(CryptoError) as e:
        FileKek(data_dir / KEK_FILE)
    assert e.value.code == "keys.not_provisioned"
