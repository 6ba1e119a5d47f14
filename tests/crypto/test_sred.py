"""SRED track decryption against published DUKPT data vectors."""

from __future__ import annotations

import pytest

from crypto.dukpt import derive_ipek
from crypto.secrets import SecretKey
from crypto.sred import SredDecryptor, SredVariant

BDK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")  # ANSI X9.24-1 annex A test BDK
KSN = bytes.fromhex("FFFF9876543210E00008")
HOGAN = b"%B5452300551227189^HOGAN/PAUL      ^08043210000000725000000?\0\0\0\0"

# sgbj/Dukpt.NET Dukpt.Test/DukptTests.cs: the same track under the PIN-variant and the data-variant key.
PEK = "C25C1D1197D31CAA87285D59A892047426D9182EC11353C051ADD6D0F072A6CB3436560B3071FC1FD11D9F7E74886742D9BEE0CFD1EA1064C213BB55278B2F12"
DEK = "411D405D7DEDB9D84797F045559721E8C06A5565FFB3B4050509277E5F80072E2410E0E6ADCBB614419700A9173807BA27C4E9D80BE67A2C32498032B200A7E3"
# tonicforhealth/dukpt README (PIN variant).
TONIC = (
    "160954FE1071D30C5CF260C5AC48EB5FBEFE37B32033E3B7EF693F8C6AB1BBD6276446FB3689728B926D923CD9ECCD522B6DE585"
    "0FD9AB2D7976D943C12CDC947E023098CAAE4F6D"
)


def decryptor(variant: SredVariant) -> SredDecryptor:
    return SredDecryptor(derive_ipek(BDK, KSN), variant)


@pytest.mark.parametrize("variant, ciphertext", [(SredVariant.PIN, PEK), (SredVariant.DATA, DEK)])
def test_dukpt_net_vectors(variant, ciphertext):
    assert bytes(decryptor(variant)(KSN, bytes.fromhex(ciphertext))) == HOGAN
    assert decryptor(variant).encrypt(KSN, HOGAN).hex().upper() == ciphertext


def test_tonicforhealth_vector():
    clear = bytes(decryptor(SredVariant.PIN)(KSN, bytes.fromhex(TONIC))).rstrip(b"\0")
    assert clear == b"%B4124939999999990^TEST/TESTCARD^19129015432139614567891234567890?"


def test_the_wrong_key_does_not_give_the_track():
    wrong = SredDecryptor(SecretKey(bytes(16), "sred"))
    assert bytes(wrong(KSN, bytes.fromhex(DEK))) != HOGAN
    assert "C25C1D" not in repr(decryptor(SredVariant.DATA))
