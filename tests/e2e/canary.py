"""Search files and text for every form in which a test card's data could leak."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from crypto.keys import KeyUsage
from crypto.pinblock import clear_block_iso0, encrypt_iso0
from crypto.provision import lab_key
from crypto.secrets import Pan
from hal.magstripe.sim import TEST_CARDS

# The destination account the transfer tests key on the PIN pad (card-shaped, Luhn-valid): card data too.
TRANSFER_TO = "6228480402564890018"


def bcd_forms(value: str) -> dict[str, bytes]:
    """``value`` (digits, and '=' for a track's separator) packed two digits a byte, as ISO 8583 packs
    fields 2, 35 and 36 in BCD ('=' is the nibble D). An odd-length value takes a pad nibble, after it
    (left-aligned, as cup packs them) or before it (right-aligned): both forms are searched, each as
    the whole bytes of the value only, so the pad nibble's value (0 or F) does not matter. An even
    length needs no pad and has one form."""
    hexed = value.replace("=", "D")
    if len(hexed) % 2 == 0:
        return {"packed": bytes.fromhex(hexed)}
    return {"left-aligned": bytes.fromhex(hexed[:-1]), "right-aligned": bytes.fromhex(hexed[1:])}


def field2_forms(pan: str) -> dict[str, bytes]:
    """A PAN as ISO 8583 packs field 2 in BCD: its length byte (BCD), then the digits, padded as
    ``bcd_forms`` says. The length is part of the needle because a test PAN may be mostly zeros
    (unionpay_debit's 6205500000000000004): its digits alone, "62 05 50" and six zero bytes, are found
    in an SQLite page whose cell pointers 0x0762 and 0x0550 are followed by free space that
    secure_delete zeroed (a crash run's log, session 9). Field 2 always follows its length, and a length
    byte of 0x13 to 0x19 followed by "62" can be no pair of cell pointers: a page offset is below 0x1000.
    The right-aligned form's pad nibble comes between the length and the digits, so both pads are searched."""
    length = bytes.fromhex(f"{len(pan):02d}")
    forms = {alignment: length + packed for alignment, packed in bcd_forms(pan).items() if alignment != "right-aligned"}
    if len(pan) % 2:
        for pad in "0F":
            forms[f"right-aligned, pad {pad}"] = length + bytes.fromhex(pad + pan)
    return forms


def needles() -> dict[str, bytes]:
    """Each test card's tracks and PAN (text and packed BCD), and its PIN block clear and encrypted."""
    out: dict[str, bytes] = {}
    pin_key = lab_key(KeyUsage.PIN)
    for name, card in TEST_CARDS.items():
        for track_no, text in ((1, card.track1), (2, card.track2), (3, card.track3)):
            if text:
                out[f"{name} track {track_no}"] = text.encode()
                if track_no != 1:
                    out[f"{name} track {track_no} after the PAN"] = text.split("=", 1)[1].encode()
                    for alignment, packed in bcd_forms(text).items():  # fields 35 and 36 in BCD
                        out[f"{name} track {track_no} as BCD, {alignment}"] = packed
        pan = (card.track2 or card.track1[1:]).split("=")[0].split("^")[0]
        out[f"{name} PAN"] = pan.encode()
        for alignment, packed in field2_forms(pan).items():  # field 2 in BCD
            out[f"{name} PAN as BCD, {alignment}"] = packed
        block = encrypt_iso0(b"1234", Pan(pan), pin_key).reveal()
        out[f"{name} PIN block"] = block
        out[f"{name} PIN block hex"] = block.hex().upper().encode()
        out[f"{name} clear PIN block"] = bytes(clear_block_iso0(b"1234", pan))
    out["transfer destination account"] = TRANSFER_TO.encode()
    for alignment, packed in bcd_forms(TRANSFER_TO).items():  # cup field 48 packs it left-aligned
        out[f"transfer destination account as BCD, {alignment}"] = packed
    out["transfer destination account's hidden digits"] = TRANSFER_TO[6:-4].encode()
    return out


def find_card_data(paths: Iterable[Path], texts: Mapping[str, str] = {}) -> list[str]:
    hay = {str(p): Path(p).read_bytes() for p in paths}
    hay.update({k: v.encode() for k, v in texts.items()})
    return [f"{what} in {where}" for where, data in hay.items() for what, n in needles().items() if n in data]


@dataclass(frozen=True)
class SimRun:
    """A scenario run by ``posterm sim --json`` as the canaries run it: its result, the finished process (its
    stdout and stderr are searched too), and the data directory, log and configuration it used."""

    result: dict
    out: subprocess.CompletedProcess
    data: Path
    log: Path
    config: Path


def run_logged(posterm_cmd: list[str], env: Mapping[str, str], tmp_path: Path, session: str) -> SimRun:
    """Run scenario text ``session`` in a real ``posterm sim`` process with debug logging to a file, so that
    every place card data could leak to (the database, the log, the console) is written; it must succeed."""
    data, log, config = tmp_path / "data", tmp_path / "posterm.log", tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[log]\nlevel = "debug"\nfile = "{log}"\n')
    scenario = tmp_path / "canary.toml"
    scenario.write_text(session)
    out = subprocess.run(
        posterm_cmd + ["sim", "--scenario", str(scenario), "--config", str(config), "--data-dir", str(data), "--json"],
        capture_output=True, text=True, env=dict(env), timeout=120,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return SimRun(json.loads(out.stdout), out, data, log, config)
