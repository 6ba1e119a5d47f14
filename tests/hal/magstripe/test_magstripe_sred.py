"""Encrypting readers (hal.magstripe.sred): MagTek MagneSafe output, carried sealed, opened only through a decryptor.

The decryptor here stands in for issue #4's DUKPT code in ``crypto/``: it uses
one fixed TDES data key for every KSN. The module under test never decrypts.
"""

from __future__ import annotations

import logging
import pickle

import pytest
from conftest import TODAY, card_texts, poll_until

from crypto.des import tdes_cbc_decrypt, tdes_cbc_encrypt
from firmware.errors import CardError
from hal.magstripe import Swipe
from hal.magstripe.devsim import KeyboardWedgeSim, PtyReaderSim
from hal.magstripe.raw import Sentinels
from hal.magstripe.sim import TEST_CARDS
from hal.magstripe.sred import EncryptedSwipe, encode_magtek, mask_track, masked_summary, open_swipe, parse_magtek
from hal.magstripe.tracks import parse_swipe
from hal.registry import open_device

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
KSN = bytes.fromhex("FFFF9876543210E00001")
PLUS = Sentinels(track3="+")


def encrypt(ksn: bytes, clear: bytes) -> bytes:
    assert ksn == KSN
    return tdes_cbc_encrypt(KEY, clear)


def decrypt(ksn: bytes, ciphertext: bytes) -> bytes:
    return tdes_cbc_decrypt(KEY, ciphertext)


def tracks(name: str) -> dict[int, str]:
    c = TEST_CARDS[name]
    return {n: t for n, t in ((1, c.track1), (2, c.track2), (3, c.track3)) if t}


def output(name: str, **kw) -> bytearray:
    return encode_magtek(tracks(name), ksn=KSN, encrypt=encrypt, **kw)


def test_the_output_has_magteks_fields_in_order():
    text = output("visa").decode()
    masked, *fields = text.rstrip("\r").split("|")
    assert masked.startswith("%B476173") and "?;476173" in masked and masked.endswith("?")
    assert len(fields) == 12 and fields[8] == KSN.hex().upper() and fields[0] == "0000"
    assert fields[3] == "" and len(fields[1]) % 16 == 0 and len(fields[2]) % 16 == 0  # no track 3 on this card
    assert TEST_CARDS["visa"].pan not in text


@pytest.mark.parametrize("name", ["visa", "unionpay_full", "unionpay_debit", "mastercard"])
@pytest.mark.parametrize("counter", [False, True])
def test_a_swipe_carries_masked_tracks_and_opens_through_the_decryptor(name, counter):
    swipe = parse_magtek(output(name, counter=counter), Sentinels())
    assert swipe.encrypted is not None and swipe.encrypted.ksn() == KSN
    assert swipe.encrypted.track_numbers == tuple(tracks(name))
    with pytest.raises(CardError) as info:
        parse_swipe(swipe, TODAY)  # masked tracks are never taken for the card
    assert info.value.code == "card.encrypted"
    clear = open_swipe(swipe, decrypt)
    assert {t.track: t.reveal_str() for t in clear.tracks} == tracks(name)
    assert parse_swipe(clear, TODAY).pan.reveal_str() == TEST_CARDS[name].pan


def test_the_masked_summary_needs_no_key():
    s = masked_summary(parse_magtek(output("unionpay_debit"), Sentinels()))
    assert (s.masked_pan, s.last4, s.expiry, s.service_code) == ("620550*********0004", "0004", "4912", None)
    assert s.tracks == "23"


def test_the_masking_keeps_pan_ends_expiry_and_separators():
    assert mask_track("4761739001010010=4912101123", 2) == "4761730000000010=4912000000"
    assert mask_track("B4761739001010010^VISA/TEST^4912101999", 1) == "B4761730000000010^VISA/TEST^4912000000"
    assert mask_track("996205500000000000004=1561=2", 3) == "006205500000000000004=0000=0"


def test_the_encrypted_swipe_is_a_secret():
    swipe = parse_magtek(output("visa"), Sentinels())
    enc = swipe.encrypted
    shown = repr(swipe) + repr(enc) + str(enc)
    assert KSN.hex().upper() not in shown and "track 2: 40 bytes" in shown and "KSN 10 bytes" in shown
    with pytest.raises(TypeError):
        pickle.dumps(enc)
    swipe.wipe()
    assert enc.wiped and swipe.wiped and repr(enc) == "<EncryptedSwipe wiped>"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda t: t.replace("|", "/", 1), "card.sred_format"),
        (lambda t: t.rsplit("|", 1)[0], "card.sred_format"),
        (lambda t: t.replace(KSN.hex().upper(), "FFFF98"), "card.sred_format"),
        (lambda t: "|".join(f if i != 1 else "00Z0" for i, f in enumerate(t.split("|"))), "card.sred_format"),
        (lambda t: "|".join(f if i != 2 else f[:-2] for i, f in enumerate(t.split("|"))), "card.sred_format"),
        (lambda t: "|".join(f if i not in (2, 3, 4) else "" for i, f in enumerate(t.split("|"))), "card.no_track"),
        (lambda t: t.replace("?;", ";"), "card.end_sentinel"),
    ],
)
def test_output_not_in_the_format_is_refused(mutate, code):
    text = mutate(output("visa").decode())
    with pytest.raises(CardError) as info:
        parse_magtek(text.encode(), Sentinels())
    assert info.value.code == code and TEST_CARDS["visa"].pan not in str(info.value)


def test_non_ascii_output_is_refused():
    with pytest.raises(CardError) as info:
        parse_magtek(b"\xff|" * 13, Sentinels())
    assert info.value.code == "card.sred_format"


def test_masked_tracks_may_be_absent():
    text = output("visa").decode()
    swipe = parse_magtek(("|" + text.split("|", 1)[1]).encode(), Sentinels())
    assert swipe.tracks == () and open_swipe(swipe, decrypt).track2 is not None


def test_clear_data_that_does_not_match_the_masked_copy_is_refused():
    other = encode_magtek(tracks("mastercard"), ksn=KSN, encrypt=encrypt).decode()
    visa = output("visa").decode()
    forged = visa.split("|", 1)[0] + "|" + other.split("|", 1)[1]  # visa's masked tracks, mastercard's ciphertext
    with pytest.raises(CardError) as info:
        open_swipe(parse_magtek(forged.encode(), Sentinels()), decrypt)
    assert info.value.code == "card.sred_mismatch"


def test_a_wrong_key_does_not_decrypt_to_a_track():
    wrong = bytes(16)
    with pytest.raises(CardError) as info:
        open_swipe(parse_magtek(output("visa"), Sentinels()), lambda ksn, ct: tdes_cbc_decrypt(wrong, ct))
    assert info.value.code in {"card.sred_format", "card.sred_mismatch"}


def test_open_swipe_needs_an_encrypted_swipe():
    with pytest.raises(ValueError):
        open_swipe(Swipe(), decrypt)
    with pytest.raises(ValueError):
        EncryptedSwipe(b"short", {})


def test_a_magtek_reader_on_a_serial_line():
    sim = PtyReaderSim()
    reader = open_device("reader", f"serial://{sim.port}?format=magtek&timeout=0.05")
    try:
        reader.enable()
        sim.send(output("unionpay_full"))
        (got,) = poll_until(reader)
        assert got.encrypted is not None and got.track3.reveal_str().startswith("00620000")
        assert {t.track: t.reveal_str() for t in open_swipe(got, decrypt).tracks} == tracks("unionpay_full")
    finally:
        reader.close()
        sim.close()


def test_a_magtek_reader_as_a_keyboard(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    sim = KeyboardWedgeSim(tmp_path, sentinels=PLUS)
    reader = open_device("reader", f"hid://{sim.path}?grab=false&format=magtek&track3=plus&timeout=0.05")
    try:
        reader.enable()
        sim.type(output("visa").decode())
        (got,) = poll_until(reader)
        assert got.encrypted.ksn() == KSN
        clear = open_swipe(got, decrypt)
        assert clear.track2.reveal_str() == TEST_CARDS["visa"].track2
        shown = caplog.text + repr(got) + repr(clear)
        for secret in card_texts() | {KSN.hex().upper()}:
            assert secret not in shown
    finally:
        reader.close()
        sim.close()
