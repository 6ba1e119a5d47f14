"""TR-31 key blocks A, B, C, D against published blocks, and round trips.

Sources: knovichikhin/psec tests/test_tr31.py (``test_kb_known_values``, which
includes the TR-31:2018 annex A.7 examples), and openemv/tr31
test/tr31_decrypt_test.c (TR-31:2018 A.7.4 for version D, ANSI X9.143:2021
8.1 and 8.4, and blocks made by a Thales payShield 10k).
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.keys import kcv
from crypto.tr31 import Tr31Header, parse_header, unwrap, wrap
from firmware.errors import CryptoError

KNOWN = [
    # psec test_kb_known_values
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "EEEEEEEEEEEEEEEE",
     "A0088M3TC00E000062C2C14D8785A01A9E8283525CA96F490D0CC6346FC7C2AC1E6FF354468910379AA5BBA6"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "EEEEEEEEEEEEEEEE",
     "B0096M3TC00E0000B6CD513680EF255FC0DC590726FD0129A7CF6602E7F271631AB4EE7350642F11181AF4CC12F12FD9"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "EEEEEEEEEEEEEEEE",
     "C0088M3TC00E0000A53CF172FE6562E7FDD5E6482E8925DA46F7FFE4D1BAD49EB33A9EDBB96A8A8D39F13A31"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
     "A0088M3TC00E0000BE8AE894906D0B8F6FF555573A3907DC37FF13B12CE1CB8A97A97C8414AE1A8FF9183122"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
     "B0096M3TC00E0000D578DACC2286C7D10F20DEA88799CA8A2F44E0CC21226A2158D5DC8FD5C78E621327DA956C678808"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
     "C0088M3TC00E00009BC6306FC31891BF87B3148463627B1D68C603D9FAB9074E4A0D2E78D40B29905A826F5C"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCC", "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
     "A0088M3TC00E000022BD7EC46BBE2A6A73389D1BA6DB63120B386F912839F4679C0523399E4D8D0F1D9A356E"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCC", "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
     "B0096M3TC00E0000C7C6FE86A5DE769C20DCA238C52341378B484D544A9764D43963C3B2824AE56C2D07A565DD3AB342"),
    ("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCC", "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
     "C0088M3TC00E000091FA4978279FD9C218BDCBE9CC62F11A182F828406B67AC61B5573748FCF348FD59FA93A"),
    # TR-31:2018 A.7.2.1, A.7.2.2, A.7.3.1, A.7.3.2 (also in psec)
    ("89E88CF7931444F334BD7547FC3F380C", "F039121BEC83D26B169BDCD5B22AAF8F",
     "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701"),
    ("DD7515F2BFC17F85CE48F3CA25CB21F6", "3F419E1CB7079442AA37474C2EFBF8B8",
     "B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B727B8A248E"),
    ("B8ED59E0A279A295E9F5ED7944FD06B9", "EDB380DD340BC2620247D445F5B8D678",
     "C0096B0TX12S0100KS1800604B120F9292800000BFB9B689CB567E66FC3FEE5AD5F52161FC6545B9D60989015D02155C"),
    ("1D22BF32387C600AD97F9B97A51311AC", "E8BC63E5479455E26577F715D587FE68",
     "B0104B0TX12S0100KS1800604B120F9292800000BB68BE8680A400D9191AD4ECE45B6E6C0D21C4738A52190E248719E24B433627"),
    # psec: optional blocks and a pad block
    ("89E88CF7931444F334BD7547FC3F380C", "F039121BEC83D26B169BDCD5B22AAF8F",
     "A0088P0TE00E00007DD4DD9566DC0E2F956DCAC0FDE9153159539373E9D82D3CD4AFD305A7EF1BA67FE03712"),
    ("89E88CF7931444F334BD7547FC3F380C", "F039121BEC83D26B169BDCD5B22AAF8F",
     "B0120P0TE12E0100KS1800604B120F9292800000E6E28F097CB0350B2EB2DF520947F779FA34D9759CEE7E0DEEACF8353DB778D47FA4EC"
     "20DA3A9754"),
    ("B8ED59E0A279A295E9F5ED7944FD06B9", "F039121BEC83D26B169BDCD5B22AAF8F",
     "A0112P0TE12E0200KS1400604B120F929280PB047A1BB737854CD7AF58A8A1E4506A942277EDA76EBA6BA228AF62ADDA3AD8799E8B2C8"
     "CD7"),
    # openemv/tr31: TR-31:2018 A.7.4 (version D), ANSI X9.143:2021 8.1, 8.4.1, 8.4.2; payShield 10k blocks
    ("88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6", "3F419E1CB7079442AA37474C2EFBF8B8",
     "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457"
     "DC34"),
    ("88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6", "3F419E1CB7079442AA37474C2EFBF8B8",
     "D0144P0AE00E00002C77FA3F4A553BED6E88AE5C172A4166E3D4ACA8E2AC71C158A476FAC12C13C3829DE55D3AB54C48F4C4FEF7AC7"
     "5E90FC47F1B77E7B19A73ED46E64410082557"),
    ("B8ED59E0A279A295E9F5ED7944FD06B9", "EDB380DD340BC2620247D445F5B8D678",
     "C0112B0TX12S0100KS1800604B120F929280000042B758A2400AB598AE37782823DAF0BA4BDB0DAFF34915345CA169AE1F976A429EB1"
     "39E5"),
    ("1D22BF32387C600AD97F9B97A51311AC", "E8BC63E5479455E26577F715D587FE68",
     "B0120B0TX12S0100KS1800604B120F929280000015CEB14B76D551F21EC43A75390FA118A98C6CB049E3B9E864A5F4A8B9A5108A6DB5"
     "635C95B042D7"),
    ("EFE0853B256B583D868F251CE99EA1D9", "5DB50B454F8389ADCE573BE50861F2BF",
     "A0072K0TN00N0000F40D5672C6D0EC86F860BA88D44D00F0CA9A8CE8CD2F640287A9A9EB"),
    ("EFE0853B256B583D868F251CE99EA1D9", "5DB50B454F8389ADCE573BE50861F2BF",
     "B0080K0TN00N00001C414014375212C24995E405B5EE052CB92B67F455EA2680F6751088F9F1C228"),
    ("EFE0853B256B583D868F251CE99EA1D9", "5DB50B454F8389ADCE573BE50861F2BF",
     "C0072K0TN00N0000C9B875FF7A5316BF221C09ED52080DE0B45632A4EA9CE87699CB565E"),
    ("41" * 32, "1FA1F7CEC798D91545DA8AE0C7796BD9",
     "D0112B0TN00N000037DB9B046B7B0048785690759580ABC3B9842AB4BB7717B49E92528E575785D8123559376A2553B27BE94F054F4E"
     "971C"),
    ("41" * 32, "BE19E6A07A760F10EF8E83A226B63AAD141F463FDDD4F47DB244B4023EC3CACC",
     "D0144D0AN00N0000127862F945C2DED04530FAF7CDBC8B0BA10C7AA79BD5E0C2C5D6AC173BF588E4B19ACF1357178D50EA0AB193228E1"
     "3958304FC6149632DFDCADF3A5B3D57E814"),
]


@pytest.mark.parametrize("kbpk, key, block", KNOWN, ids=[b[:16] + f"-{i}" for i, (_, _, b) in enumerate(KNOWN)])
def test_published_blocks_unwrap(kbpk, key, block):
    opened = unwrap(bytes.fromhex(kbpk), block)
    assert opened.key.reveal().hex().upper() == key
    assert opened.header.version == block[0] and opened.header.key_usage == block[5:7]
    assert key not in repr(opened)


def test_published_check_values():
    # openemv/tr31 KCVs: TDES method for TDES keys, AES-CMAC (X9.24-1:2017) for AES keys
    assert kcv(bytes.fromhex("F039121BEC83D26B169BDCD5B22AAF8F")) == "CB9DEA"
    assert kcv(bytes.fromhex("EDB380DD340BC2620247D445F5B8D678")) == "F4B08D"
    assert kcv(bytes.fromhex("3F419E1CB7079442AA37474C2EFBF8B8"), 5, algorithm="aes-cmac") == "08793E25AB"
    assert kcv(bytes.fromhex("BE19E6A07A760F10EF8E83A226B63AAD141F463FDDD4F47DB244B4023EC3CACC"), 3,
               algorithm="aes-cmac") == "0A00E3"


def test_version_d_wrap_matches_tr31_2018_a74():
    """With the annex's padding, wrapping reproduces the published block byte for byte."""
    kbpk, key, block = KNOWN[16]
    header = Tr31Header("D", "P0", "A", "E", "00", "E")
    made = wrap(bytes.fromhex(kbpk), header, bytes.fromhex(key), pad=bytes.fromhex("1C2965473CE206BB855B01533782"))
    assert made == block


def test_optional_blocks_are_returned_and_pad_blocks_are_not():
    opened = unwrap(bytes.fromhex("B8ED59E0A279A295E9F5ED7944FD06B9"), KNOWN[15][2])
    assert opened.header.blocks == (("KS", "00604B120F929280"),)
    assert opened.header.block("KS") == "00604B120F929280" and opened.header.block("PB") is None


@pytest.mark.parametrize(
    "text, length, blocks",
    [  # psec test_header_load_* cases
        ("B0000P0TE00N0000xxxxxxxx", 16, ()),
        ("B0000P0TE00N0100KS1800604B120F9292800000xxxxxxxx", 40, (("KS", "00604B120F9292800000"),)),
        ("B0000P0TE00N0200KS1200604B120F9292PB0600", 40, (("KS", "00604B120F9292"),)),
        ("B0000P0TE00N0200KS0002010A" + "P" * 256 + "PB0600", 288, (("KS", "P" * 256),)),
        ("B0000P0TE00N0200KS00011600604B120F9292PB0A000000", 48, (("KS", "00604B120F9292"),)),
        ("B0000P0TE00N0400KS1800604B120F9292800000T104T20600PB0600", 56,
         (("KS", "00604B120F9292800000"), ("T1", ""), ("T2", "00"))),
    ],
)
def test_header_parsing(text, length, blocks):
    header, size = parse_header(text)
    assert size == length and header.blocks == blocks and header.key_usage == "P0"


@pytest.mark.parametrize(
    "text",
    ["B0000P0TE00N0100", "B0000P0TE00N0100KS", "B0000P0TE00N0100KS1Y", "B0000P0TE00N0100KS02",
     "B0000P0TE00N0100KS071", "B0000P0TE00N0100KS0000", "B0000P0TE00N0100KS0001FF", "B0000P0TE00N0100**04",
     "B0000P0TE00N0100KS05\x03", "_0000P0TE00N0000", "B0000", "B0000P0TE00N0X00"],
)
def test_malformed_headers(text):
    with pytest.raises(CryptoError) as e:
        parse_header(text)
    assert e.value.code in ("tr31.format", "tr31.version", "tr31.header")


@pytest.mark.parametrize(
    "kbpk_len, block, code",
    [  # psec test_kb_unwrap_exceptions, with KBPK b"E" * n
        (16, "B0040P0TE00N0000", "tr31.format"),
        (16, "BX040P0TE00N0000", "tr31.format"),
        (16, "A0087M3TC00E000062C2C14D8785A01A9E8283525CA96F490D0CC6346FC7C2AC1E6FF354468910379AA5BBA", "tr31.format"),
        (16, "A0088M3TC00E000062C2C14D8785A01A9E8283525CA96F490D0CC6346FC7C2AC1E6FF354468910379AA5BBAX",
         "tr31.format"),
        (16, "A0024M3TC00E00009AA5BBA6", "tr31.format"),
        (16, "A0056M3TC00E0000BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB9AA5BBA6", "tr31.mac"),
        (16, "B0064M3TC00E0000BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBFFFFFFFF9AA5BBA6", "tr31.mac"),
        (16, "C0056M3TC00E0000BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB9AA5BBA6", "tr31.mac"),
        (7, "A0088M3TC00E000062C2C14D8785A01A9E8283525CA96F490D0CC6346FC7C2AC1E6FF354468910379AA5BBA6", "tr31.kbpk"),
        (8, "B0088M3TC00E000062C2C14D8785A01A9E8283525CA96F490D0CC6346FC7C2AC1E6FF354468910379AA5BBA6", "tr31.kbpk"),
        (16, "A0056M3TC00E0000ABE3EB7813FD4031BCBAEC1FCAB750BB920E4863", "tr31.key"),  # key length 0 bits
        (16, "B0064M3TC00E000013F1B06566ECAE897A6DF8C7AA651FCEF9480447EEEC9933", "tr31.key"),
        (16, "C0056M3TC00E0000629D73329F5F42D868B2EB1E4C52D1E191BC1D3C", "tr31.key"),
        (16, "A0056M3TC00E0000EF14FD71CFCDCE0630AD5C1CDE0041DCF95CF1D0", "tr31.key"),  # 128 bits of a 64-bit key
        (16, "B0064M3TC00E00000398DC96A5DDB0EF61E26F8935173BD478DF9484050A672A", "tr31.key"),
        (16, "C0056M3TC00E000001235EC22408B6CE866746FF992B8707FD7A26D2", "tr31.key"),
        (16, "X0024M3TC00E00009AA5BBA6", "tr31.version"),
    ],
)
def test_unwrap_errors(kbpk_len, block, code):
    with pytest.raises(CryptoError) as e:
        unwrap(b"E" * kbpk_len, block)
    assert e.value.code == code
    assert len(block) == 16 or block[16:] not in str(e.value)


def test_a_wrong_kbpk_fails_the_mac():
    kbpk, _, block = KNOWN[10]
    with pytest.raises(CryptoError) as e:
        unwrap(bytes.fromhex(kbpk)[::-1], block)
    assert e.value.code == "tr31.mac"


@pytest.mark.parametrize(
    "version, kbpk_len, key_len, algorithm",
    [("A", 24, 24, "T"), ("A", 16, 16, "T"), ("A", 8, 8, "T"), ("B", 24, 24, "T"), ("B", 16, 16, "T"),
     ("B", 16, 8, "T"), ("C", 24, 16, "T"), ("C", 8, 8, "T"), ("D", 16, 16, "A"), ("D", 24, 24, "A"),
     ("D", 32, 32, "A"), ("D", 32, 16, "T"), ("D", 16, 24, "T")],
)
def test_wrap_unwrap_round_trip(version, kbpk_len, key_len, algorithm):
    kbpk, key = bytes(range(1, kbpk_len + 1)), bytes(range(100, 100 + key_len))
    header = Tr31Header(version, "K0" if algorithm == "T" else "D0", algorithm, "B", "00", "N",
                        blocks=(("KS", "00604B120F9292800000"),))
    block = wrap(kbpk, header, key)
    assert int(block[1:5]) == len(block) and (len(block) - 16) % 8 == 0
    opened = unwrap(kbpk, block)
    assert opened.key.reveal() == key and opened.header == header


def test_masked_key_length_hides_a_double_length_key():
    plain = wrap(b"E" * 24, Tr31Header("B", "P0", "T", "E"), b"F" * 16)
    masked = wrap(b"E" * 24, Tr31Header("B", "P0", "T", "E"), b"F" * 16, masked_length=24)
    assert (len(plain), len(masked)) == (80, 96)  # psec test_kb_masking_key_length
    assert unwrap(b"E" * 24, masked).key.reveal() == b"F" * 16


@pytest.mark.parametrize(
    "kbpk, header, key, code",
    [
        (b"E" * 16, Tr31Header("A"), b"F" * 15, "tr31.key_length"),
        (b"E" * 16, Tr31Header("B"), b"F" * 24, "tr31.key_length"),
        (b"E" * 8, Tr31Header("B"), b"F" * 8, "tr31.kbpk"),
        (b"E" * 20, Tr31Header("D", algorithm="A"), b"F" * 16, "tr31.kbpk"),
    ],
)
def test_wrap_errors(kbpk, header, key, code):
    with pytest.raises(CryptoError) as e:
        wrap(kbpk, header, key)
    assert e.value.code == code


@pytest.mark.parametrize(
    "fields, code",
    [({"version": "E"}, "tr31.version"), ({"key_usage": "P_"}, "tr31.header"), ({"algorithm": "T0"}, "tr31.header"),
     ({"key_version": "0"}, "tr31.header"), ({"blocks": (("PB", "00"),)}, "tr31.header"),
     ({"blocks": (("KS", "\x01"),)}, "tr31.header")],
)
def test_header_attributes_are_checked(fields, code):
    with pytest.raises(CryptoError) as e:
        Tr31Header(**fields)
    assert e.value.code == code


def test_no_deprecation_warning_from_the_tdes_path():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kbpk, key, block in KNOWN[:3]:
            assert unwrap(bytes.fromhex(kbpk), block).key.reveal().hex().upper() == key


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
def test_unwrap_of_arbitrary_text_fails_cleanly(text):
    try:
        unwrap(b"E" * 16, text)
    except CryptoError as e:
        assert e.code.startswith("tr31.")
