"""A key loaded from components follows the rules a TR-31 block follows (audit AU9 M4).

The same component twice XORs to a key of zeros; a length a usage never has (a single-DES
master key, 32 bytes for TDES) is refused whichever way the key comes in, by one rule
(``crypto.inject.KEY_LENGTHS``).
"""

from __future__ import annotations

import pytest

from crypto.inject import KEY_LENGTHS, combine_components, inject_key, open_tmk_tr31, require_key_length
from crypto.keyring import Keyring
from crypto.keys import KeyUsage
from crypto.provision import provision
from crypto.secrets import SecretKey
from crypto.tr31 import Tr31Header, wrap
from firmware.errors import CryptoError
from tests.engineer import cli

K = "0123456789ABCDEFFEDCBA9876543210"
KBPK = "89E88CF7931444F334BD7547FC3F380C"


@pytest.mark.parametrize("usage, components, code", [
    ("tmk", (K, K), "keys.components"),  # the same component twice: the key is all zeros
    ("tmk", (K, "1" * 32, K), "keys.components"),  # a pair among three cancels out as well
    ("tmk", ("11" * 16, "22" * 16, "33" * 16), "keys.components"),  # distinct, yet XORed to zeros
    ("tmk", ("0123456789ABCDEF", "1111111111111111"), "crypto.key_length"),  # single-length DES master key
    ("tmk", ("A" * 64, "1" * 64), "crypto.key_length"),  # 32 bytes is no TDES key
    ("kbpk", ("0123456789ABCDEF", "1111111111111111"), "crypto.key_length"),
    ("sred", ("A" * 48, "1" * 48), "crypto.key_length"),  # a TDES DUKPT initial key is 16 bytes
], ids=["identical", "a-pair-of-three", "xor-to-zeros", "tmk-8-bytes", "tmk-32-bytes", "kbpk-8-bytes",
        "sred-24-bytes"])
def test_inject_components_refuses_a_key_the_tr31_path_refuses(capsys, tmp_path, usage, components, code):
    data = tmp_path / "data"
    provision(data, lab=True)
    before = Keyring.load(data).summary()
    argv = ["keys", "inject", "--data-dir", str(data), "--usage", usage]
    for c in components:
        argv += ["--component", c]
    rc, out, err = cli(capsys, *argv)
    assert rc == 2 and f"[{code}]" in err, (rc, out, err)
    assert Keyring.load(data).summary() == before  # nothing installed


@pytest.mark.parametrize("usage, length", [(u, n) for u, ns in KEY_LENGTHS.items() for n in ns])
def test_every_length_a_usage_has_is_loaded_from_components(capsys, tmp_path, usage, length):
    data = tmp_path / "data"
    provision(data)
    a, b = bytes(range(1, length + 1)), bytes(range(101, 101 + length))
    rc, out, err = cli(capsys, "keys", "inject", "--data-dir", str(data), "--usage", usage.value,
                       "--component", a.hex(), "--component", b.hex())
    assert rc == 0, err
    assert Keyring.load(data).get(usage).reveal() == bytes(x ^ y for x, y in zip(a, b))


@pytest.mark.parametrize("usage, length", [(KeyUsage.SRED, 24), (KeyUsage.KBPK, 8)])
def test_a_tr31_block_of_a_wrong_length_for_its_usage_is_refused(capsys, tmp_path, usage, length):
    """--usage sred/kbpk with --tr31 goes through the same rule."""
    data = tmp_path / "data"
    provision(data)
    kbpk = KBPK + "0123456789ABCDEF"  # triple length: a version B block may carry a key as long
    block = wrap(SecretKey(bytes.fromhex(kbpk), "kbpk"), Tr31Header("B", "K0", "T", "D"), bytes(range(1, length + 1)))
    rc, out, err = cli(capsys, "keys", "inject", "--data-dir", str(data), "--usage", usage.value, "--tr31", block,
                       "--kbpk", kbpk)
    assert rc == 2 and "[crypto.key_length]" in err, (rc, out, err)
    assert not Keyring.load(data).has(usage)


def test_the_tr31_master_key_path_and_inject_key_share_the_rule(tmp_path):
    ring = provision(tmp_path / "data")
    kbpk = SecretKey(bytes.fromhex(KBPK), "kbpk")
    with pytest.raises(CryptoError) as e:
        open_tmk_tr31(kbpk, wrap(kbpk, Tr31Header("B", "K0", "T", "B"), bytes(range(1, 9))))
    assert e.value.code == "crypto.key_length"
    with pytest.raises(CryptoError) as e:
        inject_key(ring, KeyUsage.TMK, SecretKey(bytes(range(1, 9)), "tmk"))
    assert e.value.code == "crypto.key_length" and "8 bytes" in e.value.text
    require_key_length(KeyUsage.PIN, bytes(8))  # a usage with no rule here: whatever sign-on checks


def test_combined_components_never_show_in_the_error(tmp_path):
    with pytest.raises(CryptoError) as e:
        combine_components([bytes.fromhex(K), bytes.fromhex(K)])
    assert K not in e.value.text.upper() and e.value.code == "keys.components"
