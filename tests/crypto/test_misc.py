"""Benchmark helpers, the key ring's all-or-nothing batch, AES helpers."""

from __future__ import annotations

import pytest

from crypto import bench
from crypto.aes import AesEcb, aes_cbc_decrypt, aes_cbc_encrypt
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import provision
from crypto.secrets import SecretKey
from firmware.errors import CryptoError


def test_bench_helpers_return_seconds_per_operation(tmp_path):
    assert 0 < bench.dukpt_seconds("tdes", transactions=20) < 1
    assert 0 < bench.dukpt_seconds("aes256", transactions=20) < 1
    assert 0 < bench.dukpt_persisted_seconds("aes128", transactions=3, data_dir=tmp_path) < 1
    assert 0 < bench.pin_and_mac_seconds(transactions=20) < 1
    assert bench.Figure("x", 0.0004, 0.0005).met and not bench.Figure("x", 0.002, 0.001).met
    assert bench.Figure("x", 0.002, None).met is None


def test_keyring_batch_is_all_or_nothing(tmp_path):
    ring = provision(tmp_path / "data", lab=True)
    before = ring.path.read_bytes()
    with pytest.raises(RuntimeError):
        with ring.batch():
            ring.drop(KeyUsage.PIN, save=False)
            ring.put(KeyUsage.TDK, SecretKey(bytes(16)), save=False)
            raise RuntimeError("power cut")
    assert ring.has(KeyUsage.PIN) and not ring.has(KeyUsage.TDK)
    assert ring.path.read_bytes() == before
    with ring.batch():
        ring.drop(KeyUsage.PIN, save=False)
    assert not Keyring.load(tmp_path / "data").has(KeyUsage.PIN)


def test_aes_helpers():
    key = bytes(range(16))
    ecb = AesEcb(key)
    assert ecb.decrypt(ecb.encrypt(bytes(32))) == bytes(32) and repr(ecb) == "<AesEcb>"
    assert aes_cbc_decrypt(key, aes_cbc_encrypt(key, b"A" * 16, b"\x01" * 16), b"\x01" * 16) == b"A" * 16
    # FIPS-197 appendix C.1
    assert AesEcb(bytes.fromhex("000102030405060708090A0B0C0D0E0F")).encrypt(
        bytes.fromhex("00112233445566778899AABBCCDDEEFF")).hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    with pytest.raises(CryptoError) as e:
        AesEcb(bytes(15))
    assert e.value.code == "crypto.key_length"
    with pytest.raises(CryptoError) as e:
        ecb.encrypt(bytes(15))
    assert e.value.code == "crypto.block_length"
