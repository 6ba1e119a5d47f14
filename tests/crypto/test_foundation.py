"""DES/TDES wrappers, MACs, ISO 0 PIN blocks, sealing and the key ring."""

from __future__ import annotations

import os
import pickle
import stat

import pytest

from crypto.atrest import PanHasher, Sealer
from crypto.des import TdesEcb, tdes_cbc_decrypt, tdes_cbc_encrypt
from crypto.keyring import FileKek, Keyring
from crypto.keys import KeyUsage, kcv
from crypto.mac import cup_ecb_mac, iso9797_alg1, pad, retail_mac
from crypto.pinblock import clear_block_iso0, decrypt_iso0, encrypt_iso0
from crypto.provision import LAB_KEYS, TerminalKeys, provision
from crypto.secrets import Pan, PinBlock, SecretKey, TrackData, mask_pan
from firmware.errors import CardError, CryptoError


def test_retail_mac_matches_psec_vectors(vectors):
    v = vectors["retail_mac_x919"]
    key = bytes.fromhex(v["key1"] + v["key2"])
    data = v["data_ascii"].encode()
    assert retail_mac(key, data, padding=1).hex().upper() == v["padding_method_1"]
    assert retail_mac(key, data, padding=2).hex().upper() == v["padding_method_2"]


def test_dukpt_vector_mac_and_pin_block_under_transaction_keys(vectors):
    """X9.24-1 annex A.4: MAC and PIN block under the variants of each transaction key."""
    v = vectors["dukpt_tdes"]
    pin_mask = bytes.fromhex(v["pin_variant_mask"])
    mac_mask = bytes.fromhex(v["mac_variant_mask"])
    assert clear_block_iso0(v["pin"].encode(), v["pan"]).hex().upper() == v["clear_pin_block_iso0"]
    for t in v["transactions"]:
        tk = bytes.fromhex(t["transaction_key"])
        pin_key = bytes(a ^ b for a, b in zip(tk, pin_mask))
        mac_key = bytes(a ^ b for a, b in zip(tk, mac_mask))
        block = encrypt_iso0(v["pin"].encode(), Pan(v["pan"]), SecretKey(pin_key, "pin"))
        assert block.reveal().hex().upper() == t["encrypted_pin_block"]
        assert decrypt_iso0(block, v["pan"], SecretKey(pin_key, "pin")) == v["pin"].encode()
        mac = retail_mac(mac_key, v["mac_data_ascii"].encode(), padding=1)
        assert mac[:4].hex().upper() == t["mac"]


def test_iso0_clear_blocks(vectors):
    for v in vectors["pin_blocks"]["iso0"]:
        assert clear_block_iso0(v["pin"].encode(), v["pan"]).hex().upper() == v["clear"]


def test_iso9797_alg1_single_block_is_plain_encryption():
    key = bytes.fromhex("0123456789ABCDEF")
    block = b"ABCDEFGH"
    assert iso9797_alg1(key, block) == TdesEcb(key).encrypt(block)
    two = iso9797_alg1(key, block * 2)
    assert two == TdesEcb(key).encrypt(bytes(a ^ b for a, b in zip(TdesEcb(key).encrypt(block), block)))


def test_cup_ecb_mac_follows_the_published_steps():
    """Recompute the UnionPay ECB MAC step by step from the vectors file's description."""
    key = bytes.fromhex(LAB_KEYS[KeyUsage.MAC])
    mab = bytes(range(1, 30))
    blocks = pad(mab, 1)
    acc = bytes(8)
    for i in range(0, len(blocks), 8):
        acc = bytes(a ^ b for a, b in zip(acc, blocks[i : i + 8]))
    text = acc.hex().upper().encode()
    ecb = TdesEcb(key)
    step = bytes(a ^ b for a, b in zip(ecb.encrypt(text[:8]), text[8:]))
    expected = ecb.encrypt(step).hex().upper().encode()[:8]
    assert cup_ecb_mac(key, mab) == expected
    assert len(expected) == 8 and expected.isalnum()
    assert cup_ecb_mac(key, mab + b"\x00") == expected  # zero padding is implicit
    assert cup_ecb_mac(key, mab[:-1] + b"\xff") != expected


def test_tdes_cbc_round_trip_and_bad_lengths():
    key = bytes(range(16))
    data = b"0123456789ABCDEF"
    assert tdes_cbc_decrypt(key, tdes_cbc_encrypt(key, data)) == data
    with pytest.raises(CryptoError) as e:
        TdesEcb(bytes(7))
    assert e.value.code == "crypto.key_length"
    with pytest.raises(CryptoError):
        TdesEcb(key).encrypt(b"short")


def test_kcv_of_known_keys():
    # KCV of the X9.24 BDK 0123456789ABCDEFFEDCBA9876543210 is 08D7B4.
    assert kcv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")) == "08D7B4"
    assert len(kcv(bytes(32))) == 6


@pytest.mark.parametrize(
    "pan, masked",
    [
        ("6217000010001234567", "621700*********4567"),
        ("5555555551234567", "555555******4567"),
        ("40123456789012", "401234****9012"),
        ("4012345678909", "*********8909"),
        ("123456789012", "********9012"),
    ],
)
def test_mask_pan_never_shows_more_than_6_and_4(pan, masked):
    assert mask_pan(pan) == masked
    assert Pan(pan).masked() == masked


def test_secrets_never_show_their_value():
    pan = Pan("6217000010001234567")
    track = TrackData("6217000010001234567=30122201234567890", track=2)
    block = PinBlock(bytes.fromhex("1B9C1845EB993A7A"))
    key = SecretKey(bytes.fromhex(LAB_KEYS[KeyUsage.PIN]), "pin")
    for secret, clear in [
        (pan, "6217000010001234567"),
        (track, "30122201234567890"),
        (block, "1B9C1845EB993A7A"),
        (key, LAB_KEYS[KeyUsage.PIN]),
    ]:
        for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret):
            assert clear not in shown.upper()
        with pytest.raises(TypeError):
            pickle.dumps(secret)
    assert "KCV" in repr(key)


def test_wiped_secret_refuses_to_reveal():
    track = TrackData(b"5350290149345177=16042010000056700100", track=2)
    buf = track._buf
    track.wipe()
    assert not any(buf)
    with pytest.raises(CryptoError) as e:
        track.reveal()
    assert e.value.code == "secret.wiped"


@pytest.mark.parametrize("bad, code", [("12345", "card.pan_length"), ("62170000100012345X", "card.pan_digits")])
def test_pan_rejects_bad_numbers_without_quoting_them(bad, code):
    with pytest.raises(CardError) as e:
        Pan(bad)
    assert e.value.code == code
    assert bad not in str(e.value)


def test_sealer_binds_blob_to_its_record():
    key = SecretKey(os.urandom(32), "data")
    sealer = Sealer({1: key}, 1)
    blob = sealer.seal(b"6217000010001234567", b"journal:1:card")
    assert b"6217000010001234567" not in blob
    assert bytes(sealer.open(blob, b"journal:1:card")) == b"6217000010001234567"
    with pytest.raises(CryptoError) as e:
        sealer.open(blob, b"journal:2:card")
    assert e.value.code == "sealed.tampered"
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CryptoError):
        sealer.open(flipped, b"journal:1:card")


def test_sealer_opens_older_key_versions_after_rotation():
    k1, k2 = SecretKey(os.urandom(32), "data"), SecretKey(os.urandom(32), "data")
    old = Sealer({1: k1}, 1).seal(b"x", b"a")
    rotated = Sealer({1: k1, 2: k2}, 2)
    assert bytes(rotated.open(old, b"a")) == b"x"
    assert Sealer.key_version(rotated.seal(b"y", b"a")) == 2
    with pytest.raises(CryptoError) as e:
        Sealer({2: k2}, 2).open(old, b"a")
    assert e.value.code == "keys.missing"


def test_pan_hash_is_keyed():
    pan = Pan("6217000010001234567")
    h1 = PanHasher(SecretKey(os.urandom(32), "pan-hash"))
    h2 = PanHasher(SecretKey(os.urandom(32), "pan-hash"))
    assert h1(pan) == h1(Pan("6217000010001234567"))
    assert h1(pan) != h2(pan)


def test_provision_creates_private_key_files(tmp_path):
    data = tmp_path / "data"
    ring = provision(data, lab=True)
    for name in ("kek.key", "keyring.json"):
        mode = stat.S_IMODE((data / name).stat().st_mode)
        assert mode == 0o600, name
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    text = (data / "keyring.json").read_text()
    for clear in LAB_KEYS.values():
        assert clear not in text.upper()
    again = Keyring.load(data)
    assert again.get(KeyUsage.PIN) == ring.get(KeyUsage.PIN)
    keys = TerminalKeys.load(again)
    keys.require_working_keys()
    provision(data, lab=True)  # idempotent
    assert Keyring.load(data).versions(KeyUsage.DATA) == [1]


def test_keyring_refuses_loose_permissions_and_foreign_kek(tmp_path):
    provision(tmp_path / "a", lab=False)
    os.chmod(tmp_path / "a" / "kek.key", 0o644)
    with pytest.raises(CryptoError) as e:
        FileKek(tmp_path / "a" / "kek.key")
    assert e.value.code == "keys.permissions"
    provision(tmp_path / "b", lab=False)
    os.chmod(tmp_path / "a" / "kek.key", 0o600)
    with pytest.raises(CryptoError) as e:
        Keyring.load(tmp_path / "a", FileKek(tmp_path / "b" / "kek.key"))
    assert e.value.code == "keys.kek_mismatch"


def test_missing_working_keys_name_the_fix(tmp_path):
    keys = TerminalKeys.load(provision(tmp_path, lab=False))
    with pytest.raises(CryptoError) as e:
        keys.require_working_keys()
    assert e.value.code == "keys.no_working_keys"
    assert "sign on" in e.value.text
