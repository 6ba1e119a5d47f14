"""``posterm tools kcv|pinblock|dukpt|mac|iso8583|tr31``: the engineer's crypto calculator.

What field engineers otherwise do in closed desktop tools: check a key's
KCV, build or open a PIN block, derive DUKPT keys, compute a MAC, take an
ISO 8583 message apart (or build one from JSON), open a TR-31 key block.
Each prints plain text, or JSON with ``--json``.

Keys typed on a command line land in shell history and process listings:
these commands are for lab and test keys only, and every one of them says
so (``"lab_only": true`` in JSON; the first line of text output whenever a key
was given: a clear PIN block or an unMACed message decoded without one uses
no key, and its text does not claim one). Card data in
decoded messages is masked unless ``--clear`` is given.
"""

from __future__ import annotations

import json
import sys

from firmware.errors import CardError, ConfigError

__all__ = ["register", "LAB_NOTICE"]

LAB_NOTICE = "LAB ONLY: keys on the command line are for test keys, never live ones"
_LAB = "lab keys only"


# -- shared ------------------------------------------------------------------------
def _hex(text: str | None, what: str, *, sizes: tuple[int, ...] | None = None) -> bytes:
    if text is None:
        raise ConfigError(f"{what} is required", code="tools.missing")
    clean = text.replace(" ", "")
    try:
        raw = bytes.fromhex(clean)
    except ValueError:
        raise ConfigError(f"{what} must be hexadecimal digits", code="tools.bad_hex") from None
    if sizes is not None and len(raw) not in sizes:
        raise ConfigError(f"{what} must be {' or '.join(str(2 * n) for n in sizes)} hex digits, not {len(clean)}",
                          code="tools.bad_length")
    return raw


def _emit(args, tool: str, rows: dict, *, keyed: bool = True) -> int:
    """Print the rows. ``keyed``: a key was given on the command line, so the text opens with ``LAB_NOTICE``;
    a decoding without one (a clear PIN block, an unMACed frame) used no key and does not claim one."""
    if getattr(args, "json", False):
        print(json.dumps({"tool": tool, "lab_only": True, **rows}, indent=2))
    else:
        if keyed:
            print(LAB_NOTICE)
        for name, value in rows.items():
            if isinstance(value, dict):
                print(f"{name}:")
                for k, v in value.items():
                    print(f"  {k:<16} {v}")
            else:
                print(f"{name:<18} {value}")
    return 0


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


# -- kcv -----------------------------------------------------------------------------
def _kcv(args) -> int:
    from crypto.keys import kcv

    key = _hex(args.key, "--key", sizes=(8, 16, 24, 32))
    algorithm = args.algorithm
    if algorithm == "auto":
        algorithm = "aes" if len(key) == 32 else "tdes"
    size = 5 if algorithm == "aes-cmac" else 3
    return _emit(args, "kcv", {"algorithm": algorithm, "length_bits": 8 * len(key),
                               "kcv": kcv(key, size, algorithm=algorithm)})


# -- pinblock ---------------------------------------------------------------------------
def _refuse_live_pan(pan: str | None) -> None:
    """Decoding prints the PIN, so it is for test cards only, as ``tools track --reveal`` and ``tools iso8583
    --clear`` are (the lead's decision, AU15 L4): ``--pan`` must be a test card's, for every format (format 1
    binds no PAN, so its block could be any card's: the test card is named all the same)."""
    from hal.magstripe.sim import is_test_pan

    if not pan or not is_test_pan(pan):
        raise CardError("pinblock decode is only for test cards (posterm tools cards): give a test card's --pan",
                        code="tools.reveal_refused")


def _pinblock(args) -> int:
    from crypto.pinblock import PinFormat, clear_block, decode_clear_block, decrypt_pin_block, encrypt_pin_block
    from crypto.pinblock import pan_field_iso4

    fmt = PinFormat(args.format)
    key = _hex(args.key, "--key", sizes=(16, 24, 32) if fmt is PinFormat.ISO4 else (8, 16, 24)) if args.key else None
    if fmt.uses_pan and not args.pan:
        raise ConfigError(f"ISO format {fmt.value} needs --pan", code="tools.missing")
    rows: dict = {"format": fmt.value}
    if args.action == "encode":
        if not args.pin:
            raise ConfigError("encode needs --pin", code="tools.missing")
        pin = args.pin.encode("ascii")
        if key is None:
            clear = clear_block(fmt, pin, args.pan)
            rows["pin_field" if fmt is PinFormat.ISO4 else "clear_block"] = clear.hex().upper()
            if fmt is PinFormat.ISO4:
                rows["pan_field"] = pan_field_iso4(args.pan).hex().upper()
                rows["note"] = "format 4 is only defined enciphered: give --key for the PIN block"
        else:
            rows["pin_block"] = encrypt_pin_block(pin, args.pan, key, fmt).reveal().hex().upper()
    else:
        _refuse_live_pan(args.pan)
        block = _hex(args.block, "--block", sizes=(fmt.block_size,))
        if key is not None:
            pin = decrypt_pin_block(block, args.pan, key, fmt)
        else:
            pin = decode_clear_block(fmt, block, args.pan)
        rows["pin"] = pin.decode("ascii")
    return _emit(args, "pinblock", rows, keyed=key is not None)


# -- dukpt --------------------------------------------------------------------------------
def _dukpt(args) -> int:
    from crypto.keys import kcv

    def show(key, method: str = "tdes") -> str | dict:
        """The key and its check value by the key's own algorithm: an AES DUKPT initial or derivation
        key is AES (CMAC, X9.24-3) whatever the working keys are; a working key is what --key-type says."""
        raw = key.reveal() if hasattr(key, "reveal") else bytes(key)
        value, check = raw.hex().upper(), kcv(raw, 3, algorithm=method)
        return {"key": value, "kcv": check} if args.json else f"{value}  KCV {check}"

    aes = args.aes128 or args.aes256
    if not aes:
        from crypto.dukpt import derive_ipek, derive_transaction_key, ksn_counter, parse_ksn, tdes_keys

        bdk = _hex(args.bdk, "--bdk", sizes=(16,))
        ksn = parse_ksn(_hex(args.ksn, "--ksn", sizes=(8, 9, 10)))
        ipek = derive_ipek(bdk, ksn)
        counter = ksn_counter(ksn)
        rows = {"scheme": "TDES (ANSI X9.24-1)", "ksn": ksn.hex().upper(), "counter": counter,
                "ipek": show(ipek), "bdk_kcv": kcv(bdk)}
        if counter:
            txn = derive_transaction_key(ipek, ksn)
            keys = tdes_keys(txn, ksn, counter)
            rows["transaction_key"] = show(txn)
            rows["working_keys"] = {"pin": show(keys.pin), "mac_request": show(keys.mac_generate),
                                    "mac_response": show(keys.mac_verify), "data_request": show(keys.data_encrypt),
                                    "data_response": show(keys.data_decrypt)}
            if counter.bit_count() > 10:
                rows["warning"] = "this counter has more than 10 one-bits: a terminal never uses it"
        return _emit(args, "dukpt", rows)

    from crypto.dukpt_aes import AesKeyType, AesKeyUsage, derive_initial_key, derive_intermediate_key
    from crypto.dukpt_aes import derive_working_key, parse_aes_ksn

    bdk = _hex(args.bdk, "--bdk", sizes=(32,) if args.aes256 else (16,))
    ksn = parse_aes_ksn(_hex(args.ksn, "--ksn", sizes=(8, 12)))
    ik = derive_initial_key(bdk, ksn[:8])
    counter = int.from_bytes(ksn[8:], "big")
    rows = {"scheme": f"AES-{'256' if args.aes256 else '128'} (ANSI X9.24-3)", "ksn": ksn.hex().upper(),
            "counter": counter, "initial_key": show(ik, "aes-cmac")}
    if counter:
        kt = {"aes128": AesKeyType.AES128, "aes256": AesKeyType.AES256, "tdes2": AesKeyType.TDES2,
              "tdes3": AesKeyType.TDES3}[args.key_type]
        working = "aes-cmac" if args.key_type.startswith("aes") else "tdes"
        inter = derive_intermediate_key(ik, ksn)
        rows["derivation_key"] = show(inter, "aes-cmac")
        rows["working_key_type"] = args.key_type
        rows["working_keys"] = {
            usage.name.lower(): show(derive_working_key(inter, ksn, usage, kt), working)
            for usage in (AesKeyUsage.PIN_ENCRYPTION, AesKeyUsage.MAC_GENERATION, AesKeyUsage.MAC_VERIFICATION,
                          AesKeyUsage.DATA_ENCRYPT, AesKeyUsage.DATA_DECRYPT)
        }
        if counter.bit_count() > 16:
            rows["warning"] = "this counter has more than 16 one-bits: a terminal never uses it"
    return _emit(args, "dukpt", rows)


# -- mac ------------------------------------------------------------------------------------
def _mac(args) -> int:
    from crypto.mac import aes_cmac, cup_ecb_mac, iso9797_alg1, retail_mac, tdes_cmac

    data = _hex(args.data, "--data")
    if args.algo == "cup-ecb":
        key = _hex(args.key, "--key", sizes=(8, 16, 24))
        mac = cup_ecb_mac(key, data).decode("ascii")
        rows = {"algorithm": "UnionPay ECB", "mac": mac, "field_64_hex": mac.encode().hex().upper()}
    elif args.algo == "x9.19":
        key = _hex(args.key, "--key", sizes=(16,))
        rows = {"algorithm": "ISO 9797-1 alg. 3 (ANSI X9.19)", "padding": args.padding,
                "mac": retail_mac(key, data, padding=args.padding).hex().upper()}
    elif args.algo == "iso9797-1":
        key = _hex(args.key, "--key", sizes=(8, 16, 24))
        rows = {"algorithm": "ISO 9797-1 alg. 1", "padding": args.padding,
                "mac": iso9797_alg1(key, data, padding=args.padding).hex().upper()}
    else:
        key = _hex(args.key, "--key", sizes=(8, 16, 24, 32))
        aes = len(key) == 32 or args.aes or len(key) == 16 and not args.tdes
        tag = (aes_cmac if aes else tdes_cmac)(key, data)
        rows = {"algorithm": f"CMAC ({'AES' if aes else 'TDES'})", "mac": tag.hex().upper()}
    return _emit(args, "mac", rows)


# -- iso8583 ---------------------------------------------------------------------------------
def _refuse_live_card(message, profile) -> None:
    """``--clear`` is for lab cards, as ``tools track --reveal`` is: the card's number, wherever the
    message carries it (field 2, tracks 1, 2 and 3), must be a test card's (``posterm tools cards``),
    and so must a transfer's destination account in the field the profile's transaction table names for
    it (``account_field``: cup 48, iso87 103), card data as much as the card's own number.
    A message with card data but no card number it can check is refused too."""
    import re

    from hal.magstripe.sim import is_test_pan

    f = message.fields
    if not any(n in message.sensitive for n in f):
        return  # no card data: nothing to hide
    where = {2: r"(\d{12,19})", 35: r"(\d{12,19})[=D]", 45: r"[A-Z]?(\d{12,19})\^", 36: r"\d\d(\d{12,19})="}
    pans = [m.group(1) for n, pattern in where.items() if n in f for m in [re.match(pattern, str(f[n]))] if m]
    accounts = {t.account_field for t in profile.transactions.values() if t.account_field is not None}
    pans += [str(f[n]) for n in sorted(accounts) if n in f]  # the whole field: a test card's number and nothing else
    if not pans or not all(is_test_pan(p) for p in pans):
        raise CardError("--clear is only for test cards (posterm tools cards); this message's card is not one",
                        code="tools.reveal_refused")


def _iso8583(args) -> int:
    from firmware.host.codec import Message, Tpdu, decode, encode
    from firmware.host.mac import mac_key_for
    from firmware.host.profiles import get_profile

    profile = get_profile(args.profile)
    mac_key = mac_key_for(profile, _hex(args.mac_key, "--mac-key", sizes=(8, 16))) if args.mac_key else None
    if args.action == "decode":
        message = decode(profile, _hex(args.message, "the message"), mac_key=mac_key)
        view = message.redacted()
        if args.clear:
            _refuse_live_card(message, profile)
            view["fields"] = dict(sorted(message.fields.items()))
        rows = {"profile": profile.name, "mti": view["mti"], "tpdu": view["tpdu"], "header": view["header"],
                "mac_ok": view["mac_ok"], "fields": {str(n): v for n, v in view["fields"].items()}}
        if not args.clear:
            rows["note"] = "card data masked; --clear shows it (lab cards only)"
        return _emit(args, "iso8583", rows, keyed=mac_key is not None)
    text = sys.stdin.read() if args.message == "-" else args.message
    try:
        doc = json.loads(text)
        fields = {int(n): str(v) for n, v in doc.get("fields", {}).items()}
        t = doc.get("tpdu")
        tpdu = Tpdu(t[:2], t[2:6], t[6:]) if t else None
        message = Message(mti=str(doc["mti"]), fields=fields, tpdu=tpdu, header=doc.get("header"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError('encode takes JSON like {"mti": "0800", "tpdu": "6000030000", "fields": {"11": "000001"}}',
                          code="tools.bad_json") from None
    wire = encode(profile, message, mac_key=mac_key)
    return _emit(args, "iso8583", {"profile": profile.name, "message": wire.hex().upper()}, keyed=mac_key is not None)


# -- tr31 ----------------------------------------------------------------------------------------
def _tr31(args) -> int:
    from crypto.keys import kcv
    from crypto.tr31 import parse_header, unwrap, wrap

    kbpk = _hex(args.kbpk, "--kbpk", sizes=(8, 16, 24, 32))
    if not args.block:
        raise ConfigError(f"{args.action} needs the key block" + (" header" if args.action == "wrap" else ""),
                          code="tools.missing")
    if args.action == "wrap":
        header, _ = parse_header(args.block)
        block = wrap(kbpk, header, _hex(args.key, "--key", sizes=(8, 16, 24, 32)))
        return _emit(args, "tr31", {"key_block": block})
    opened = unwrap(kbpk, args.block)
    h, raw = opened.header, opened.key.reveal()
    method = "aes-cmac" if h.algorithm == "A" else "tdes"
    return _emit(args, "tr31", {
        "version": h.version, "key_usage": h.key_usage, "algorithm": h.algorithm, "mode_of_use": h.mode_of_use,
        "key_version": h.key_version, "exportability": h.exportability,
        "optional_blocks": dict(h.blocks), "key": raw.hex().upper(),
        "kcv": kcv(raw, 5 if method == "aes-cmac" else 3, algorithm=method),
        "kbpk_kcv": kcv(kbpk, 5, algorithm="aes-cmac") if h.version == "D" else kcv(kbpk),
    })


# -- registration ------------------------------------------------------------------------------------
def register(subparsers) -> None:
    p = subparsers.add_parser("kcv", help=f"a key's check value ({_LAB})")
    p.add_argument("--key", required=True, help="the key, hex")
    p.add_argument("--algorithm", choices=("auto", "tdes", "aes", "aes-cmac"), default="auto",
                   help="auto: TDES, AES-ECB for 32-byte keys; aes-cmac is the X9.24-1:2017 AES method")
    _json_flag(p)
    p.set_defaults(func=_kcv)

    p = subparsers.add_parser("pinblock", help=f"encode or decode an ISO 9564 PIN block ({_LAB}; decode shows "
                              "the PIN, so only for a test card's --pan)")
    p.add_argument("action", choices=("encode", "decode"))
    p.add_argument("--format", type=int, choices=(0, 1, 3, 4), default=0)
    p.add_argument("--pin", help="PIN digits (encode)")
    p.add_argument("--pan", help="card number (formats 0, 3, 4; decode: a test card's, any format)")
    p.add_argument("--key", help="PIN key, hex: TDES for 0/1/3, AES for 4; without it the block is clear")
    p.add_argument("--block", help="the PIN block, hex (decode)")
    _json_flag(p)
    p.set_defaults(func=_pinblock)

    p = subparsers.add_parser("dukpt", help=f"DUKPT initial, transaction and working keys ({_LAB})")
    p.add_argument("--bdk", required=True, help="base derivation key, hex")
    p.add_argument("--ksn", required=True, help="KSN, hex: 20 digits (TDES) or 24 (AES: key ID and counter)")
    scheme = p.add_mutually_exclusive_group()
    scheme.add_argument("--aes128", action="store_true", help="ANSI X9.24-3 AES DUKPT, AES-128 BDK")
    scheme.add_argument("--aes256", action="store_true", help="ANSI X9.24-3 AES DUKPT, AES-256 BDK")
    p.add_argument("--key-type", choices=("aes128", "aes256", "tdes2", "tdes3"), default=None,
                   help="AES DUKPT working key type (default: that of the BDK)")
    _json_flag(p)
    p.set_defaults(func=_dukpt_defaults)

    p = subparsers.add_parser("mac", help=f"a message authentication code ({_LAB})")
    p.add_argument("--algo", required=True, choices=("cup-ecb", "x9.19", "iso9797-1", "cmac"))
    p.add_argument("--key", required=True, help="the MAC key, hex")
    p.add_argument("--data", required=True, help="the data, hex")
    p.add_argument("--padding", type=int, choices=(1, 2, 3), default=1, help="ISO 9797-1 padding method")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--aes", action="store_true", help="cmac: AES (default for 16 and 32-byte keys)")
    kind.add_argument("--tdes", action="store_true", help="cmac: TDES (default for 8 and 24-byte keys)")
    _json_flag(p)
    p.set_defaults(func=_mac)

    p = subparsers.add_parser("iso8583", help="decode a host message, or encode one from JSON")
    p.add_argument("action", choices=("decode", "encode"))
    p.add_argument("message", help="decode: the payload in hex (TPDU and header included); encode: JSON or -")
    p.add_argument("--profile", default="cup", help="cup, iso87 or iso87-aes (an unknown one names the known ones)")
    p.add_argument("--mac-key", help=f"MAC key, hex: check (decode) or set (encode) field 64 ({_LAB})")
    p.add_argument("--clear", action="store_true", help="show card data unmasked (lab cards only)")
    _json_flag(p)
    p.set_defaults(func=_iso8583)

    p = subparsers.add_parser("tr31", help=f"open (or make) a TR-31 key block ({_LAB})")
    p.add_argument("action", choices=("unwrap", "wrap"))
    p.add_argument("block", help="unwrap: the key block; wrap: its 16-character header (length digits ignored)")
    p.add_argument("--kbpk", required=True, help="key block protection key, hex")
    p.add_argument("--key", help="wrap: the key to protect, hex")
    _json_flag(p)
    p.set_defaults(func=_tr31)


def _dukpt_defaults(args) -> int:
    if args.key_type is None:
        args.key_type = "aes256" if args.aes256 else "aes128"
    return _dukpt(args)
