"""DUKPT: ANSI X9.24-1 annex A.4 (TDES) in full and the X9.24-3 supplement (AES-128, AES-256).

Sources of the vectors:
* X9.24-1:2009 A.4.2 (initial sequence) and A.4.3 (rollover sequence), as quoted by
  openemv/dukpt test/dukpt_tdes_test.c;
* the PIN, MAC and data variants of A.4 as moov-io/dukpt pkg/des/des_test.go checks them
  (MAC: ISO 9797-1 alg. 3; data: TDES-CBC, zero IV) and X9.24-3:2017 annex C's
  counter-1 working keys;
* the X9.24-3:2017 supplement test vectors, as quoted by openemv/dukpt
  test/dukpt_aes128_test.c, dukpt_aes256_test.c, and the supplement's working keys.
"""

from __future__ import annotations

import math

import pytest

from crypto.des import tdes_cbc_encrypt
from crypto.dukpt import (
    TDES_MAX_COUNTER,
    TdesRegisters,
    TdesVariant,
    derive_ipek,
    derive_transaction_key,
    next_counter,
    parse_ksn,
    tdes_working_key,
    valid_counters,
    with_counter,
)
from crypto.dukpt_aes import (
    AesKeyType,
    AesKeyUsage,
    AesRegisters,
    derive_initial_key,
    derive_intermediate_key,
    derive_working_key,
)
from crypto.mac import retail_mac
from crypto.pinblock import clear_block_iso0, encrypt_pin_block
from crypto.secrets import SecretKey
from firmware.errors import CryptoError

BDK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
IKSN = "FFFF9876543210E00000"
IPEK = "6AC292FAA1315B4D858AB3A3D7D5933A"

# A.4.2: counter -> (transaction key, encrypted PIN block of 1234 / 4012345678909)
INITIAL_SEQUENCE = {
    0x01: ("042666B49184CFA368DE9628D0397BC9", "1B9C1845EB993A7A"),
    0x02: ("C46551CEF9FD24B0AA9AD834130D3BC7", "10A01C8D02C69107"),
    0x03: ("0DF3D9422ACA56E547676D07AD6BADFA", "18DC07B94797B466"),
    0x04: ("279C0F6AEED0BE652B2C733E1383AE91", "0BC79509D5645DF7"),
    0x05: ("5F8DC6D2C845C125508DDC048093B83F", "5BC0AF22AD87B327"),
    0x06: ("5E415CB0BAF9F03CD0C14B63FB62FF43", "A16DF70AE36158D8"),
    0x07: ("0C8F780B7C8B49D0AE84A9EB2A6CE660", "27711C16CB257F8E"),
    0x08: ("27F66D5244FF62E1AA6F6120EDEB4280", "50E55547A5027551"),
    0x09: ("27E31064FDC565698900E2057F658E7E", "536CF7F678ACFC8D"),
    0x0A: ("6CF2500A22507C7CC776CEADC1E33014", "EDABBA23221833FE"),
    0x0B: ("3E8260BA04B2D620C01482B3819A18B7", "2328981C57B4BDBA"),
    0x0C: ("B716E1E11CF53D80726CAEE75C3A624F", "038D03CC926CF286"),
    0x0D: ("E072EDF95340535FB6C581C58FBF2533", "6C8AA97088B62C68"),
    0x0E: ("A80046087F5B8F245AAD95E18429084F", "F17C9E1D72CD4950"),
    0x0F: ("93DD5B956C4878472E453AAEFD32A5AA", "B170F6E7F7F2F64A"),
    0x10: ("59598DCBD9BD94C094165CE453585F57", "D5D9638559EF53D6"),
    0x11: ("2B5F01F4F0CC05EA639D523231BF1BA2", "D544F8CDD292C863"),
    0x12: ("9CF640F279C2AEE615F725EEEAC2CBAF", "7A21BD10F36DC41D"),
    0x13: ("C3DF489FDF1153B4F03DE97C27DC4C2F", "78649BD17D0DFA60"),
    0x14: ("658488507721B3F14737FA93F923CBD2", "7E7E16EA0C31AD56"),
    0x15: ("E161D1956A61F6D2F37AFD7F9CC3699A", "72105C22EBC791E6"),
}
# A.4.3: the rollover sequence, counter -> (transaction key, encrypted PIN block)
ROLLOVER_SEQUENCE = {
    0x0FF800: ("F9CDFEBF4F5B1D9EB3EC12454527E176", "33365F5CC6F23C35"),
    0x0FF801: ("5BEE92627E97825C911BF619DF72CA3B", "3A86BF003F835C9D"),
    0x0FF802: ("64CA2F8AB93F61B01620B00BF77C7301", "3DB977D05C36DF3F"),
    0x0FF804: ("35A168695B3BA83307E871C42021DD37", "BA83243305712099"),
    0x0FF808: ("12C380FCB72ED3C26FC6079AF63F4787", "B0DA04AC90A36D85"),
    0x0FF810: ("D8007C833A1E3C49C6889B97A68C54FF", "2CF02BD9C309EEDA"),
    0x0FF820: ("A9C9FF9B735FDD49591F296B0BF0FD70", "9D1E2F77AEEE81C6"),
    0x0FF840: ("0E3E221062CB5E03A384602783A004FA", "40870B0F8BA2011C"),
    0x0FF880: ("CA8225C587124DFBB87F279C0BE29727", "22E340D6ABB40981"),
    0x0FF900: ("906AAC1751D4971A144D52C76C6E1F97", "1A4C10AFBA03A430"),
    0x0FFA00: ("2B9E2CE7C2750337E10B54D2989EA6AF", "849763B43E5F9CFF"),
    0x0FFC00: ("F9430DF975082491C77BE4EF4FDB91EE", "DEFC6F09F8927B71"),
    0x100000: ("AA4D58DB653EC74A48C75F2F047DD2B5", "73EC88AD0AC5830E"),
}
PIN, PAN = b"1234", "4012345678909"


def registers_at(cls, host_key, ident: bytes, counter: int, **options):
    """The terminal's registers as they stand before ``counter``, built from the host's derivation.

    Register i holds the key of ``counter``'s bits above i plus bit i, for the
    lowest set bit p of ``counter`` and every higher bit that is clear.
    """
    regs = [None] * cls.BITS
    p = (counter & -counter).bit_length() - 1
    for i in range(p, cls.BITS):
        if i == p or not counter >> i & 1:
            target = (counter >> (i + 1) << (i + 1)) | 1 << i
            if target.bit_count() <= cls.MAX_ONES:
                regs[i] = bytearray(host_key(target))
    return cls(ident, counter, regs, **options)


@pytest.fixture
def ipek():
    return derive_ipek(BDK, IKSN)


def tdes_host_key(ipek):
    return lambda c: derive_transaction_key(ipek, with_counter(parse_ksn(IKSN), c)).reveal()


# -- TDES: the host side ----------------------------------------------------------------------
def test_ipek(ipek, vectors):
    assert ipek.reveal().hex().upper() == IPEK == vectors["dukpt_tdes"]["ipek"]
    assert derive_ipek(BDK, "FFFF9876543210E00008").reveal().hex().upper() == IPEK  # counter ignored
    assert clear_block_iso0(PIN, PAN).hex().upper() == "041274EDCBA9876F"


@pytest.mark.parametrize("counter", sorted({**INITIAL_SEQUENCE, **ROLLOVER_SEQUENCE}))
def test_annex_a4_transaction_keys_and_pin_blocks(ipek, counter):
    key, block = {**INITIAL_SEQUENCE, **ROLLOVER_SEQUENCE}[counter]
    ksn = with_counter(parse_ksn(IKSN), counter)
    txn = derive_transaction_key(ipek, ksn)
    assert txn.reveal().hex().upper() == key
    pin_key = tdes_working_key(txn, TdesVariant.PIN)
    assert encrypt_pin_block(PIN, PAN, pin_key, 0).reveal().hex().upper() == block


# moov-io/dukpt pkg/des/des_test.go: data "4012345678909D987" zero-padded, request and response
MOOV = {
    1: ("FC0D53B7EA1FDA9EE68AAF2E70D9B9506229BE2AA993F04F", "1FCC89AF66222F27B903898BB2BC8589CDBFDE5EC6AFCC25",
        "9CCC78173FC4FB64", "20364223C1FF00FA"),
    2: ("A2B4E70F846E63D68775B7215EB4563DFD3037244C61CC13", "5B692A6B1FDD5E25B0DEFAFDE1672E402F8011360CFF3508",
        "F608A9BCA6FFC311", "D1FCA6BEF05D24D2"),
    3: ("BD751E65F10E75B6C1D5B1D283496A36C2DE21D993C387A7", "345992D4163E4926C927BFD8ABD5D76F087A9CE81D5A27B8",
        "20B59A4FEAC937E3", "BAD4CC9CC2AE326C"),
    4: ("1118F50947441BBDA3C8C70220021A12EC31CC473F7215F4", "418C7413576C0D1819E785D3807AF32334231FDEC23414DB",
        "C7BFA6CC44161828", "1EB08AEECE6FF0C2"),
    5: ("9FD7BD1EC28845ACA93367A9DA9317BD555C6B33AE22D365", "7D4C109E49E83355A556AE949EED359F4404E7A2F0167C00",
        "0202B96339022058", "5CBE3E81D1D2A0FB"),
}


@pytest.mark.parametrize("counter", sorted(MOOV))
def test_data_and_mac_variants(ipek, counter):
    data = b"4012345678909D987" + bytes(7)
    txn = derive_transaction_key(ipek, with_counter(parse_ksn(IKSN), counter))
    req_data, resp_data, req_mac, resp_mac = MOOV[counter]
    assert tdes_cbc_encrypt(tdes_working_key(txn, TdesVariant.DATA_REQUEST).reveal(), data).hex().upper() == req_data
    assert tdes_cbc_encrypt(tdes_working_key(txn, TdesVariant.DATA_RESPONSE).reveal(), data).hex().upper() == resp_data
    assert retail_mac(tdes_working_key(txn, TdesVariant.MAC_REQUEST), data).hex().upper() == req_mac
    assert retail_mac(tdes_working_key(txn, TdesVariant.MAC_RESPONSE), data).hex().upper() == resp_mac


def test_annex_c_counter_1_working_keys(ipek):
    """X9.24-3:2017 annex C (TDES DUKPT) working keys for KSN FFFF9876543210E00001."""
    txn = derive_transaction_key(ipek, "FFFF9876543210E00001")
    expected = {
        TdesVariant.PIN: "042666B49184CF5C68DE9628D0397B36",
        TdesVariant.MAC_REQUEST: "042666B4918430A368DE9628D03984C9",
        TdesVariant.MAC_RESPONSE: "042666B46E84CFA368DE96282F397BC9",
        TdesVariant.DATA_REQUEST: "448D3F076D8304036A55A3D7E0055A78",
    }
    for variant, key in expected.items():
        assert tdes_working_key(txn, variant).reveal().hex().upper() == key


# -- TDES: the terminal side --------------------------------------------------------------------
def test_terminal_registers_reproduce_the_initial_sequence(ipek, vectors):
    regs = TdesRegisters.from_initial_key(SecretKey(ipek.reveal()), parse_ksn(IKSN))
    v = vectors["dukpt_tdes"]
    macs = {parse_ksn(t["ksn"]): t["mac"] for t in v["transactions"]}
    for counter, (_key, block) in INITIAL_SEQUENCE.items():
        keys = regs.next_keys()
        assert keys.ksn == with_counter(parse_ksn(IKSN), counter) and keys.counter == counter
        assert encrypt_pin_block(PIN, PAN, keys.pin, 0).reveal().hex().upper() == block
        if keys.ksn in macs:  # tests/vectors.json: X9.19 MAC under the request MAC key, first 4 bytes
            mac = retail_mac(keys.mac_generate, v["mac_data_ascii"].encode())
            assert mac[:4].hex().upper() == macs.pop(keys.ksn)
    assert not macs


def test_terminal_rollover_sequence(ipek):
    """A.4.3 from the registers as they stand at counter 0FF800: KSNs skip the 11-bit counters."""
    regs = registers_at(TdesRegisters, tdes_host_key(ipek), parse_ksn(IKSN), 0x0FF800)
    for counter, (_key, block) in ROLLOVER_SEQUENCE.items():
        keys = regs.next_keys()
        assert keys.counter == counter
        assert encrypt_pin_block(PIN, PAN, keys.pin, 0).reveal().hex().upper() == block


def test_terminal_agrees_with_the_host_over_the_first_600_counters(ipek):
    regs = TdesRegisters.from_initial_key(SecretKey(ipek.reveal()), parse_ksn(IKSN))
    host = tdes_host_key(ipek)
    for expected in list(valid_counters(21, 10))[:600]:
        counter, key = regs.next_key()
        assert counter == expected and bytes(key) == host(counter)


def test_counter_rules_exhaust_at_1048575_transactions():
    counters = valid_counters(21, 10)
    n = last = 0
    for last in counters:
        assert last.bit_count() <= 10
        n += 1
    assert n == 1_048_575 == sum(math.comb(21, k) for k in range(1, 11))
    assert last == TDES_MAX_COUNTER == 0x1FF800
    assert next_counter(0x0FF802, 21, 10) == 0x0FF804  # 0FF803 has 11 one-bits


def test_terminal_runs_to_exhaustion_and_stops(ipek):
    regs = registers_at(TdesRegisters, tdes_host_key(ipek), parse_ksn(IKSN), 0x1FF000)
    host = tdes_host_key(ipek)
    seen = []
    while not regs.exhausted:
        counter, key = regs.next_key()
        assert bytes(key) == host(counter)
        seen.append(counter)
    assert seen[-1] == 0x1FF800 and seen == list(valid_counters(21, 10, start=0x1FEFFF))
    with pytest.raises(CryptoError) as e:
        regs.next_key()
    assert e.value.code == "dukpt.exhausted"


def test_terminal_keeps_only_future_keys(ipek):
    """After initialisation neither the BDK nor the IPEK is held; a used key is erased at once."""
    initial = SecretKey(ipek.reveal())
    regs = TdesRegisters.from_initial_key(initial, parse_ksn(IKSN))
    assert initial.wiped
    held = lambda: {bytes(r) for r in regs.registers if r is not None}  # noqa: E731
    assert bytes.fromhex(IPEK) not in held() and BDK not in held()
    assert len(held()) == 21
    for _ in range(40):
        counter, key = regs.next_key()
        assert bytes(key) not in held()
        assert bytes(key) not in bytes(regs.dump())
    assert bytes.fromhex(IPEK) not in bytes(regs.dump())


# -- AES (X9.24-3:2017 supplement) ----------------------------------------------------------------
AES_BDK = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
IKID = bytes.fromhex("1234567890123456")

AES128_KEYS = {
    0x00000001: "4F21B565BAD9835E112B6465635EAE44", 0x00000002: "2F34D68DE10F68D38091A73B9E7C437C",
    0x00000003: "031504E530365CF81264238540518318", 0x00000004: "0EEFC7ADA628BA68878DA9165A8A1887",
    0x00000005: "C2A7AC328A5DA2D6002D62465BFC028B", 0x00000006: "D30F7D9351DA58448A2F5E92B4EE3B7D",
    0x00000007: "A8253CEED9AC042C54F75D35C8352278", 0x00000008: "718EE6CF0B27E53D5F7AF99C4D8146A2",
    0x0001FFFE: "E21E8C8D347F8561A2BE752DAA85A111", 0x00020000: "F7AE9025468A25D37B7249CFFED224C8",
    0x00020001: "692C8EA4013645135B36497131DF9D2C", 0xFFFE2000: "48E585B694EB0B18D5C35443E163C0BA",
    0xFFFE4000: "396C2C7CA1EA701C03B86B7D41F0C562", 0xFFFE8000: "0387625F189B58AE03EF0E8CCA41105E",
    0xFFFF0000: "F6BA59389BD14A9855BE9727E7C52E3C",
}
AES256_KEYS = {
    0x00000001: "54AC2B32B145EA4A554CB8BC44B17467063A799856B1CCC2A138D36E8DBF78B3",
    0x00000002: "5DD5A0253842BBBE1D7C0DA27021412C6F1FAB53FB928DEAE56DA06090A9DE97",
    0x00000003: "8EEEF7C464AE415BB1D73FAED21993CD669F7999092A579EC6DD3CC680C65171",
    0x00000004: "C18CBED570B3B89ECADA7CEC9C224CD5A86ECF3DE377D3EFAB720F8C4D76B9D0",
    0x00000005: "6B3C3C93307151C25DC2309456F01C5C3108DAD571C321899A9B7E0C009FD2EB",
    0x00000006: "B8BB61AE3E2D5CD8C699E0C578FB2C7B89B0C0CF02DBAB60864D8049C986C844",
    0x00000007: "88D0ACA287B3066F5DE0C93396337D4C2DA8D92C1F720A576D62CEB4C979E01E",
    0x00000008: "20A796D5077D51B8E7613893A4F095B134E02917DC84BD391F3661D0873FF308",
    0x0001FFFE: "A289508CBF1228452CD86AB77B15CB35577AC828C18BB66681E5A16D6C9CCED3",
    0x00020000: "D62DDA94A47D7DA5D763443B4ECB15EA8DD62E0E4F915958BA459591F8312E37",
    0x00020001: "44110A1102748D4A3AC326F53D8CAC650212590CA7126D54546DDE0F20E89CEE",
    0xFFFE2000: "4625EB06E4886D4AFCC9AE37ED4F4E4E1653C9E60E3F24742A87A26AA96AB7A6",
    0xFFFE4000: "FF20E1BB575539ACCB44E3111BE8757F83AE8549A2DD71B441A4A424F7FFD4B1",
    0xFFFE8000: "630535C9C53E1EC6524016930B56F6728909C45403536B419AEBCB25B7351C07",
    0xFFFF0000: "6D6DB7AAAE8B3EA90E57A39E4BBA71E173B21B446B30A78D64BFC6A8806C55EE",
}


def ksn(counter: int) -> bytes:
    return IKID + counter.to_bytes(4, "big")


def test_aes_initial_keys(vectors):
    assert derive_initial_key(AES_BDK, IKID).reveal().hex().upper() == vectors["dukpt_aes"]["initial_key"]
    assert derive_initial_key(AES_BDK * 2, IKID).reveal().hex().upper() == (
        "CE9CE0C101D1138F97FB6CAD4DF045A7083D4EAE2D35A31789D01CCF0949550F")


@pytest.mark.parametrize("bdk, table", [(AES_BDK, AES128_KEYS), (AES_BDK * 2, AES256_KEYS)], ids=["aes128", "aes256"])
def test_aes_intermediate_derivation_keys(bdk, table):
    ik = derive_initial_key(bdk, IKID)
    for counter, expected in table.items():
        assert derive_intermediate_key(ik, ksn(counter)).hex().upper() == expected, hex(counter)


@pytest.mark.parametrize(
    "bdk, counter, usage, key_type, expected",
    [
        (AES_BDK, 1, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.AES128, "AF8CB133A78F8DC2D1359F18527593FB"),
        (AES_BDK, 1, AesKeyUsage.MAC_GENERATION, AesKeyType.AES128, "A2DC23DE6FDE0824A2BC321E08E4B8B7"),
        (AES_BDK, 1, AesKeyUsage.MAC_VERIFICATION, AesKeyType.AES128, "DBB463945B286C07CD3AD82EE96FD9C9"),
        (AES_BDK, 1, AesKeyUsage.MAC_BOTH, AesKeyType.AES128, "85675439D18D7F1158BD8E3EAA3D502B"),
        (AES_BDK, 1, AesKeyUsage.DATA_ENCRYPT, AesKeyType.AES128, "A35C412EFD41FDB98B69797C02DCD08F"),
        (AES_BDK, 1, AesKeyUsage.DATA_DECRYPT, AesKeyType.AES128, "16292C6EA8F64C5420A0584BFBC577BE"),
        (AES_BDK, 1, AesKeyUsage.DATA_BOTH, AesKeyType.AES128, "A308E080DD15A1B741F1721BF67DE11C"),
        (AES_BDK, 1, AesKeyUsage.KEY_ENCRYPTION, AesKeyType.AES128, "36A724B7BEFA5A25F5E7B5782A4554A2"),
        (AES_BDK, 2, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.AES128, "D30BDC73EC9714B000BEC66BDB7B6D09"),
        (AES_BDK, 3, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.AES128, "7D69F01F3B45449F62C7816ECE723268"),
        (AES_BDK, 8, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.AES128, "4D9DF3FBEE3448FC3E676D04320A90F5"),
        (AES_BDK, 8, AesKeyUsage.MAC_GENERATION, AesKeyType.AES128, "6FD572E5D59E618875F193484F9178FB"),
        (AES_BDK, 8, AesKeyUsage.DATA_ENCRYPT, AesKeyType.AES128, "650F34204ABD4E57764D61AC3D266FB1"),
        (AES_BDK, 1, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.TDES2, "630C706D9546E47D4449313F61C4D4AB"),
        (AES_BDK, 1, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.TDES3, "EA8B3F37EB9B15831167EF2977FD8762D9B5913F35766F6A"),
        (AES_BDK * 2, 1, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.AES256,
         "8C1AB7BEE973829E30242E0BBBDD4946D540C98FC1B5BDCF94790001A23FD502"),
        (AES_BDK * 2, 1, AesKeyUsage.MAC_GENERATION, AesKeyType.AES256,
         "61DABDF4B340CF461EE860B1D1AB55357142BD2D6977306859CF49AEFE8F1549"),
        (AES_BDK * 2, 1, AesKeyUsage.DATA_ENCRYPT, AesKeyType.AES256,
         "71EB36C9A6B7F801D1D1700C29741FC5A5C4E9B45D742DA7AF6992B8AA29AF58"),
    ],
)
def test_aes_working_keys(bdk, counter, usage, key_type, expected, vectors):
    ik = derive_initial_key(bdk, IKID)
    key = derive_working_key(derive_intermediate_key(ik, ksn(counter)), ksn(counter), usage, key_type)
    assert key.reveal().hex().upper() == expected
    if bdk == AES_BDK and counter == 1 and usage is AesKeyUsage.PIN_ENCRYPTION and key_type is AesKeyType.AES128:
        assert expected == vectors["dukpt_aes"]["counter_1_working_keys"]["pin_encryption"]


@pytest.mark.parametrize("bdk, table", [(AES_BDK, AES128_KEYS), (AES_BDK * 2, AES256_KEYS)], ids=["aes128", "aes256"])
def test_aes_terminal_registers(bdk, table):
    ik = derive_initial_key(bdk, IKID)
    regs = AesRegisters.from_initial_key(SecretKey(ik.reveal()), IKID)
    for counter in range(1, 9):
        c, key = regs.next_key()
        assert c == counter and bytes(key).hex().upper() == table[counter]
    assert regs.scheme == ("aes256" if len(bdk) == 32 else "aes128")
    keys = AesRegisters.from_initial_key(SecretKey(ik.reveal()), IKID).next_keys()
    assert keys.ksn == ksn(1)
    if len(bdk) == 16:
        assert keys.pin.reveal().hex().upper() == "AF8CB133A78F8DC2D1359F18527593FB"
        assert keys.mac_verify.reveal().hex().upper() == "DBB463945B286C07CD3AD82EE96FD9C9"
        assert keys.data_decrypt.reveal().hex().upper() == "16292C6EA8F64C5420A0584BFBC577BE"


def test_aes_terminal_rollover_and_exhaustion():
    ik = derive_initial_key(AES_BDK, IKID)

    def host(c):
        return derive_intermediate_key(ik, ksn(c))

    regs = registers_at(AesRegisters, host, IKID, 0x0001FFFE, key_type=AesKeyType.AES128)
    got = [regs.next_key() for _ in range(3)]
    assert [c for c, _ in got] == [0x1FFFE, 0x20000, 0x20001]  # 1FFFF has 17 one-bits: skipped
    assert [bytes(k).hex().upper() for _, k in got] == [AES128_KEYS[c] for c, _ in got]
    regs = registers_at(AesRegisters, host, IKID, 0xFFFE2000, key_type=AesKeyType.AES128)
    seen = []
    while not regs.exhausted:
        c, k = regs.next_key()
        seen.append(c)
        assert bytes(k) == bytes(host(c))
    assert seen == [0xFFFE2000, 0xFFFE4000, 0xFFFE8000, 0xFFFF0000]
    with pytest.raises(CryptoError) as e:
        regs.next_keys()
    assert e.value.code == "dukpt.exhausted"


def test_aes_terminal_agrees_with_the_host_over_the_first_300_counters():
    ik = derive_initial_key(AES_BDK * 2, IKID)
    regs = AesRegisters.from_initial_key(SecretKey(ik.reveal()), IKID)
    for counter in range(1, 301):
        c, key = regs.next_key()
        assert c == counter and bytes(key) == bytes(derive_intermediate_key(ik, ksn(c)))


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda: parse_ksn("FFFF98"), "dukpt.ksn"),
        (lambda: parse_ksn("not hex"), "dukpt.ksn"),
        (lambda: derive_ipek(bytes(24), IKSN), "crypto.key_length"),
        (lambda: derive_initial_key(bytes(15), IKID), "crypto.key_length"),
        (lambda: TdesRegisters.load(parse_ksn(IKSN), b"\x00\x00\x00\x01\x00\x00\x00\x01", 16), "dukpt.state"),
        (lambda: TdesRegisters(parse_ksn(IKSN), 2, [None] * 21).next_key(), "dukpt.state"),
    ],
)
def test_errors(call, code):
    with pytest.raises(CryptoError) as e:
        call()
    assert e.value.code == code
