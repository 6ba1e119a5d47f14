"""``posterm tools track parse|decode-bits``: magstripe tracks for engineers (issue #3).

    posterm tools track parse DATA [--json] [--reveal] [--date YYYY-MM-DD]
    posterm tools track decode-bits --track N BITS [--json] [--reveal] [--date YYYY-MM-DD]

``parse`` takes what a text reader sends (``%B...?;...?;...?``; track 3 may
start with ``;`` or ``+``), ``decode-bits`` one track's raw bits (``0``/``1``,
spaces allowed, either swipe direction). Both print every field of every
track, the card checks (Luhn, expiry against ``--date`` or today, agreement
between the tracks) and the card's summary (service code meaning), as text
or as JSON. The exit status is 0 for a card that passes every check, 1 for
one that does not (the output says why), 2 for input that cannot be read at
all (one line naming the problem and its code).

Card data on a command line is for the lab. The output is masked: PANs to the
first 6 and last 4 digits, names to their initials, discretionary data and
track 3's secrets (PIN parameters, security number, SANs, check digits,
additional data) to asterisks. ``--reveal`` shows them in clear, and is
refused (``tools.reveal_refused``) unless every PAN in the input is a known
test card: exactly one of ``posterm tools cards`` or a published scheme test
number (``hal.magstripe.sim.is_test_pan``), never a rule by range.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from typing import Any

__all__ = ["register", "parse_report", "bits_report"]


def _masked_name(name: str | None, reveal: bool) -> str | None:
    if name is None or reveal:
        return name
    return re.sub(r"(?<=[A-Z0-9])[A-Z0-9]", "*", name)  # initials only


def _secret(value: Any, reveal: bool) -> str | None:
    if value is None:
        return None
    text = value.reveal_str()
    return text if reveal else "*" * len(text)


def _pan(pan: Any, reveal: bool) -> str | None:
    if pan is None:
        return None
    return pan.reveal_str() if reveal else pan.masked()


def _fields(track: int, text: str, reveal: bool) -> tuple[dict[str, Any], list[str]]:
    """One track's fields (masked unless ``reveal``) and the PANs it holds, for the reveal check."""
    from hal.magstripe.iso4909 import LAYOUT
    from hal.magstripe.tracks import parse_track1, parse_track2, parse_track3

    parsed = {1: parse_track1, 2: parse_track2, 3: parse_track3}[track](text)
    try:
        pans = [parsed.pan.reveal_str()] if parsed.pan is not None else []
        if track == 3:
            out: dict[str, Any] = {}
            for f in LAYOUT:
                value = getattr(parsed, f.name)
                out[f.name] = _pan(value, reveal) if f.name == "pan" else (_secret(value, reveal) if f.secret else value)
            return out, pans
        out = {"format_code": "B"} if track == 1 else {}
        out["pan"] = _pan(parsed.pan, reveal)
        if track == 1:
            out["name"] = _masked_name(parsed.name, reveal)
        out.update(expiry=parsed.expiry, service_code=parsed.service_code, discretionary=_secret(parsed.discretionary, reveal))
        return out, pans
    finally:
        parsed.wipe()


def _error(exc: Any) -> dict[str, str]:
    return {"code": exc.code, "text": exc.text}


def _report(texts: dict[int, str], today: date, reveal: bool) -> dict[str, Any]:
    from crypto.secrets import TrackData
    from firmware.errors import CardError
    from hal.magstripe import Swipe
    from hal.magstripe.policy import prompt
    from hal.magstripe.tracks import parse_swipe, summary

    tracks: dict[str, Any] = {}
    pans: list[str] = []
    for n, text in sorted(texts.items()):
        try:
            tracks[str(n)], found = _fields(n, text, reveal)
            pans += found
        except CardError as exc:
            tracks[str(n)] = {"error": _error(exc)}
    if reveal and (not pans or not all(_is_test_pan(p) for p in pans)):
        raise CardError("--reveal is only for test cards (posterm tools cards); this card is not one", code="tools.reveal_refused")
    swipe = Swipe.from_tracks({n: TrackData(t, track=n) for n, t in texts.items()})
    report: dict[str, Any] = {"date": today.isoformat(), "tracks": tracks, "card": None, "ok": False, "error": None}
    try:
        card = parse_swipe(swipe, today)
    except CardError as exc:
        report["error"] = {**_error(exc), "prompt": prompt(exc.code)}
    else:
        report["card"] = dataclasses.asdict(summary(card))
        report["ok"] = True
        card.wipe()
    finally:
        swipe.wipe()
    return report


def _is_test_pan(pan: str) -> bool:
    from hal.magstripe.sim import is_test_pan

    return is_test_pan(pan)


def parse_report(data: str, today: date, *, reveal: bool = False) -> dict[str, Any]:
    """The report ``track parse`` prints, for reader text with sentinels. Raises ``CardError`` for unreadable text."""
    from hal.magstripe.raw import Sentinels, split_tracks

    found = split_tracks(data.encode("ascii", "replace"), Sentinels(track3=";+"))
    try:
        texts = {n: t.reveal_str() for n, t in found.items()}
    finally:
        for t in found.values():
            t.wipe()
    return _report(texts, today, reveal)


def bits_report(bits: str, track: int, today: date, *, reveal: bool = False) -> dict[str, Any]:
    """The report ``track decode-bits`` prints. Raises ``CardError`` naming the character that failed."""
    from hal.magstripe.f2f import bits_from_text, decode_track

    decoded = decode_track(bits_from_text(bits, track), track)
    try:
        text = decoded.data.reveal_str()
    finally:
        decoded.data.wipe()
    report = _report({track: text}, today, reveal)
    return {"track": track, "direction": decoded.direction.value, "characters": len(text), **report}


def _print(report: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for key in ("track", "direction", "characters", "date"):
            if key in report:
                print(f"{key}: {report[key]}")
        for n, fields in report["tracks"].items():
            print(f"track {n}:")
            for name, value in fields.items():
                print(f"  {name}: {value}")
        if report["card"] is not None:
            print("card: " + ", ".join(f"{k}={v}" for k, v in report["card"].items()))
        if report["error"] is not None:
            e = report["error"]
            print(f"card refused [{e['code']}]: {e['text']} (display: {e['prompt']})")
    return 0 if report["ok"] else 1


def _today(args) -> date:
    from firmware.errors import ConfigError

    if args.date is None:
        return date.today()
    try:
        return date.fromisoformat(args.date)
    except ValueError:
        raise ConfigError(f"--date expects YYYY-MM-DD, got {args.date!r}", code="tools.bad_date") from None


def _cmd_parse(args) -> int:
    return _print(parse_report(args.data, _today(args), reveal=args.reveal), args.json)


def _cmd_bits(args) -> int:
    return _print(bits_report(args.bits, args.track, _today(args), reveal=args.reveal), args.json)


def register(subparsers) -> None:
    t = subparsers.add_parser("track", help="magstripe tracks: parse reader text, decode raw bits")
    sub = t.add_subparsers(dest="track_command", required=True, metavar="COMMAND")

    def common(p) -> None:
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--reveal", action="store_true", help="show clear card data (test cards only)")
        p.add_argument("--date", help="the terminal's date for the expiry check, YYYY-MM-DD (default today)")

    p = sub.add_parser("parse", help="parse what a text reader sends: %%B...?;...?;...?")
    p.add_argument("data", metavar="DATA", help="the reader's text, sentinels included")
    common(p)
    p.set_defaults(func=_cmd_parse)
    b = sub.add_parser("decode-bits", help="decode one track's raw F2F bits (either direction)")
    b.add_argument("--track", type=int, choices=(1, 2, 3), required=True, help="the track the bits are from")
    b.add_argument("bits", metavar="BITS", help="the bits as 0 and 1 (spaces allowed)")
    common(b)
    b.set_defaults(func=_cmd_bits)
