"""ISO 9564 PIN blocks (formats 0, 1, 3, 4) and MACs (ISO 9797-1 algorithms 1 and 3, CMAC) against published vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.mac import aes_cmac, iso9797_alg1, pad, retail_mac, tdes_cmac
from crypto.pinblock import (
    PinFormat,
    clear_block,
    decode_clear_block,
    decrypt_pin_block,
    encrypt_pin_block,
    pan_field_iso4,
)
from crypto.secrets import Pan, PinBlock, SecretKey
from firmware.errors import CryptoError

# -- ISO/IEC 9797-1:2011 annex B (K = 0123456789ABCDEF, K' = FEDCBA9876543210) ----------------
NOW_ALL = b"Now is the time for all "  # 24 bytes
NOW_IT = b"Now is the time for it"  # 22 bytes
K = bytes.fromhex("0123456789ABCDEF")
KK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


@pytest.mark.parametrize(
    "data, padding, expected",
    [  # MAC algorithm 1, single DES, first 4 bytes as the annex prints them
        (NOW_ALL, 1, "70A30640"), (NOW_ALL, 2, "10E1F0F1"), (NOW_ALL, 3, "2C58FB8F"),
        (NOW_IT, 1, "E45B3AD2"), (NOW_IT, 2, "A924C721"), (NOW_IT, 3, "B1ECD6FC"),
    ],
)
def test_iso9797_1_annex_b_algorithm_1(data, padding, expected):
    assert iso9797_alg1(K, data, padding=padding)[:4].hex().upper() == expected


@pytest.mark.parametrize(
    "data, padding, expected",
    [  # MAC algorithm 3 (ANSI X9.19 retail MAC)
        (NOW_ALL, 1, "A1C72E74EA3FA9B6"), (NOW_ALL, 2, "E9086230CA3BE796"), (NOW_ALL, 3, "AB059463D7A7D170"),
        (NOW_IT, 1, "2E2B1428CC78254F"), (NOW_IT, 2, "5A692CE64F404145"), (NOW_IT, 3, "C59F7EED328DDD69"),
    ],
)
def test_iso9797_1_annex_b_algorithm_3(data, padding, expected):
    assert retail_mac(KK, data, padding=padding).hex().upper() == expected


def test_padding_method_3_prefixes_the_bit_length():
    assert pad(b"abc", 3) == (24).to_bytes(8, "big") + b"abc" + bytes(5)
    with pytest.raises(ValueError):
        pad(b"abc", 4)


@pytest.mark.parametrize(
    "message, expected",
    [  # RFC 4493 section 4 (NIST SP 800-38B D.1), AES-128 key 2B7E1516...
        ("", "BB1D6929E95937287FA37D129B756746"),
        ("6BC1BEE22E409F96E93D7E117393172A", "070A16B46B4D4144F79BDD9DD04A287C"),
        ("6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411",
         "DFA66747DE9AE63030CA32611497C827"),
        ("6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411"
         "E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710", "51F0BEBF7E3B9D92FC49741779363CFE"),
    ],
)
def test_aes_cmac_rfc_4493(message, expected):
    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    assert aes_cmac(SecretKey(key, "mac"), bytes.fromhex(message)).hex().upper() == expected


def test_tdes_cmac_sp800_38b_example():
    # NIST SP 800-38B appendix D.2 (three-key TDEA), example 1: the empty message.
    key = bytes.fromhex("8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5")
    assert tdes_cmac(key, b"").hex().upper() == "B7A688E122FFAF95"


def test_cmac_rejects_a_key_of_the_wrong_length():
    with pytest.raises(CryptoError) as e:
        aes_cmac(bytes(15), b"x")
    assert e.value.code == "crypto.key_length"


# -- ISO 9564 PIN blocks ----------------------------------------------------------------------
PSEC_PAN = "5555555551234567"


@pytest.mark.parametrize(
    "pin, block",
    [  # knovichikhin/psec tests/test_pinblock.py, format 0
        ("1234", "041261AAAAEDCBA9"), ("123456789", "091261032D8DCBA9"),
        ("1234567890", "0A1261032D82CBA9"), ("123456789012", "0C1261032D8226A9"),
    ],
)
def test_format_0_encode_and_decode(pin, block):
    assert clear_block(0, pin.encode(), PSEC_PAN).hex().upper() == block
    assert decode_clear_block(0, bytes.fromhex(block), PSEC_PAN) == pin.encode()


@pytest.mark.parametrize(
    "pin, block",
    [  # psec, format 3 (its fill is A-F; these blocks keep the F fill of format 0)
        ("1234", "341261AAAAEDCBA9"), ("123456789", "391261032D8DCBA9"),
        ("1234567890", "3A1261032D82CBA9"), ("123456789012", "3C1261032D8226A9"),
    ],
)
def test_format_3_decode_and_random_fill(pin, block):
    assert decode_clear_block(3, bytes.fromhex(block), PSEC_PAN) == pin.encode()
    fresh = clear_block(3, pin.encode(), PSEC_PAN).hex().upper()
    assert fresh[: 2 + len(pin)] == block[: 2 + len(pin)]  # psec compares the same prefix
    plain = bytes(a ^ b for a, b in zip(bytes.fromhex(fresh), bytes.fromhex("0000" + PSEC_PAN[:-1][-12:])))
    assert set(plain.hex().upper()[2 + len(pin):]) <= set("ABCDEF")


def test_random_fills_differ_between_blocks():
    for fmt in (1, 3):
        blocks = {bytes(clear_block(fmt, b"1234", PSEC_PAN)) for _ in range(8)}
        assert len(blocks) > 1, fmt
    key = bytes(range(16))
    assert len({encrypt_pin_block(b"1234", PSEC_PAN, key, 4).reveal() for _ in range(8)}) > 1


def test_format_1_uses_no_pan():
    block = clear_block(1, b"1234", None, fill=b"0123456789")
    assert block.hex().upper() == "1412340123456789"
    assert decode_clear_block(1, block) == b"1234"
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    assert decrypt_pin_block(encrypt_pin_block(b"98765", None, key, 1), None, key) == b"98765"


def test_format_4_fields_and_published_blocks(vectors):
    v = vectors["pin_blocks"]["iso4"]  # psec, random fill forced to FF
    assert clear_block(4, v["pin"].encode(), fill=b"\xff" * 8).hex().upper() == v["pin_field"]
    assert pan_field_iso4(v["pan"]).hex().upper() == v["pan_field"]
    block = encrypt_pin_block(v["pin"].encode(), v["pan"], bytes.fromhex(v["key"]), 4, fill=b"\xff" * 8)
    assert block.reveal().hex().upper() == v["encrypted"] and block.format == 4
    assert decrypt_pin_block(block, v["pan"], bytes.fromhex(v["key"])) == b"1234"
    assert pan_field_iso4("112233445566778899").hex().upper() == "61122334455667788990000000000000"


@pytest.mark.parametrize(
    "key, block, pan, pin, source",
    [
        ("C1D0F8FB4958670DBA40AB1F3752EF0D", "CC17F65586BFD0953010226C4FC5B3CA", "432198765432109870", "1234",
         "ep2 security specification 8.0.0, 8.4, as quoted by psec"),
        ("00112233445566778899AABBCCDDEEFF", "39B69B1B91FE05D48F7EF0D68EB2CBD6", "1", "123456", "psec: PAN under 12"),
    ],
)
def test_format_4_published_decipherment(key, block, pan, pin, source):
    assert decrypt_pin_block(bytes.fromhex(block), pan, bytes.fromhex(key), 4) == pin.encode(), source


def test_format_4_x9_24_3_example():
    """X9.24-3-2017 test vectors, format 4 PIN block under the counter-1 AES PIN key (random fill given)."""
    block = encrypt_pin_block(b"1234", "4111111111111111", bytes.fromhex("AF8CB133A78F8DC2D1359F18527593FB"), 4,
                              fill=bytes.fromhex("2F69ADDE2E9E7ACE"))
    assert block.reveal().hex().upper() == "A912150391AB65A67E52883D81CE2D15"


@pytest.mark.parametrize(
    "fmt, block, pan, code",
    [  # psec's decode error cases, with our codes
        (0, "241261AAAAEDCBA9", PSEC_PAN, "pin.block_format"),
        (0, "041261AAAAEDCB", PSEC_PAN, "pin.block_length"),
        (0, "0F1261AAAAEDCBA9", PSEC_PAN, "pin.block_pin"),
        (0, "021261AAAAEDCBA9", PSEC_PAN, "pin.block_pin"),
        (0, "041261AAAAEDCBAA", PSEC_PAN, "pin.block_fill"),
        (0, "051261AAAAEDCBA9", PSEC_PAN, "pin.block_pin"),
        (3, "241261AAAAEDCBA9", PSEC_PAN, "pin.block_format"),
        (3, "341261AAAAEDCBA2", PSEC_PAN, "pin.block_fill"),
        (3, "351261AAAAEDCBA9", PSEC_PAN, "pin.block_pin"),
        (4, "541234AAAAAAAAAA548ED7FD65495950", None, "pin.block_format"),
        (4, "43123AAAAAAAAAAA548ED7FD65495950", None, "pin.block_pin"),
        (4, "441234ABCDEFABCD548ED7FD65495950", None, "pin.block_fill"),
        (4, "4412D4AAAAAAAAAA548ED7FD65495950", None, "pin.block_pin"),
        (4, "341261AAAAEDCB", None, "pin.block_length"),
        (0, "041261AAAAEDCBA9", None, "pin.pan"),
        (2, "241234FFFFFFFFFF", None, "pin.unsupported_format"),
    ],
)
def test_decode_errors_name_the_problem_never_the_data(fmt, block, pan, code):
    with pytest.raises(CryptoError) as e:
        decode_clear_block(fmt, bytes.fromhex(block), pan)
    assert e.value.code == code
    assert block not in str(e.value) and "1234" not in str(e.value)


@pytest.mark.parametrize(
    "key, block, pan, code",
    [  # psec test_decipher_pinblock_iso_4_exception
        ("E60B15B90ABDF14CEE337C97440F0D6E", "7D5AF4C33667A2098626027FB7A9A1B7", "4266229809609384667",
         "pin.block_format"),
        ("C7BBEBA16C5AD97D5866450718C03750", "2F9C910447F17293EC95DEDE1E3CA201", "8220499325458689523",
         "pin.block_pin"),
        ("820F6C7C12355BDFF1AB6CE12E8EED89", "CCF310A8300B46C925A86B1098089301", "939589847393485609",
         "pin.block_fill"),
        ("4FE3F0311936FBCE44F17159F1659CF09B2BF8913BB514A1", "51334B00A6CBA3EC7B1C6F871F060AFC",
         "2129100799029059903", "pin.block_pin"),
        ("C1D0F8FB4958670DBA40AB1F3752EF0D", "CC17F65586BFD0953010226C4FC5B3CA00", "432198765432109870",
         "pin.block_length"),
        ("C1D0F8FB4958670DBA40AB1F3752EF0D", "CC17F65586BFD0953010226C4FC5B3CA", "43219876543210987099", "pin.pan"),
    ],
)
def test_format_4_decipher_errors(key, block, pan, code):
    with pytest.raises(CryptoError) as e:
        decrypt_pin_block(bytes.fromhex(block), pan, bytes.fromhex(key), 4)
    assert e.value.code == code


@pytest.mark.parametrize("pin", [b"123", b"1234567890123", b"123A"])
def test_bad_pins_are_refused(pin):
    for fmt in PinFormat:
        with pytest.raises(CryptoError) as e:
            clear_block(fmt, pin, PSEC_PAN)
        assert e.value.code == "pin.format"


def test_dukpt_pin_key_encrypts_format_0(vectors):
    """X9.24-1 A.4: the format 0 block under the PIN variant of each transaction key."""
    v = vectors["dukpt_tdes"]
    mask = bytes.fromhex(v["pin_variant_mask"])
    for t in v["transactions"]:
        key = bytes(a ^ b for a, b in zip(bytes.fromhex(t["transaction_key"]), mask))
        block = encrypt_pin_block(v["pin"].encode(), Pan(v["pan"]), SecretKey(key, "pin"), PinFormat.ISO0)
        assert block.reveal().hex().upper() == t["encrypted_pin_block"]


# -- round trips in every format -----------------------------------------------------------------
PINS = st.text(alphabet="0123456789", min_size=4, max_size=12)
PANS = st.text(alphabet="0123456789", min_size=12, max_size=19)


@settings(max_examples=150, deadline=None)
@given(fmt=st.sampled_from(list(PinFormat)), pin=PINS, pan=PANS, key=st.binary(min_size=16, max_size=16),
       longer=st.booleans())
def test_round_trip_every_format(fmt, pin, pan, key, longer):
    if longer:  # three-key TDES, or AES-256 for format 4
        key = key + key[:8] if fmt is not PinFormat.ISO4 else key * 2
    block = encrypt_pin_block(pin.encode(), Pan(pan), key, fmt)
    assert isinstance(block, PinBlock) and len(block) == fmt.block_size and block.format == fmt
    assert decrypt_pin_block(block, pan, key) == pin.encode()
    assert pin not in repr(block)


@settings(max_examples=100, deadline=None)
@given(fmt=st.sampled_from(list(PinFormat)), raw=st.binary(min_size=8, max_size=16), pan=PANS)
def test_decoding_arbitrary_blocks_fails_cleanly(fmt, raw, pan):
    try:
        pin = decode_clear_block(fmt, raw, pan)
    except CryptoError as e:
        assert e.code.startswith("pin.")
    else:
        assert 4 <= len(pin) <= 12 and pin.isdigit()
