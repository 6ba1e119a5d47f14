"""A simulated magstripe reader: an instrument for tests and the demo.

Tests swipe cards into it (``swipe_card("visa")``, ``swipe(track2=...)``,
``swipe_raw(b"...")``, ``swipe_damaged("bad_luhn")``) and make it fail
(``stop_answering()``). The swipe text goes through the same sentinel
splitting as a real reader's, so the port's logic is what is tested.

``swipe_bits(...)`` swipes at the bit level instead, as a TTL reader would
deliver it: the card's tracks are encoded to F2F characters
(``hal.magstripe.f2f``), optionally the other way round (``reverse=True``) or
damaged (a flipped bit, a bad LRC, no end sentinel, a truncated track), and
the port decodes them. ``swipe_text()`` and ``swipe_track_bits()`` build the
same swipes for the device simulators (``hal.magstripe.devsim``), which feed
real drivers through a pseudo-terminal, an input device or a pin source.

Type-ahead: a swipe made while the reader is disabled is held in the
simulator (like a customer standing ready with a card) and arrives once the
reader is enabled. ``sim://?type_ahead=false`` instead delivers it at once,
so the port drops it, as it would a stray swipe on real hardware.

``TEST_CARDS`` are published scheme test numbers (UnionPay, Visa, Mastercard
test ranges), Luhn-valid, expiring in December 2049 unless the card is meant
to be expired. They are not real accounts. Their track 3 follows the UnionPay
(ISO 4909:1987 / GB/T 19584) layout of ``hal.magstripe.iso4909``.
``is_test_pan`` recognises them, the host simulator's lab card (``LAB_PAN``) and
a short list of other published test numbers, exactly (never by range: a rule by BIN would let a real card through);
the tools reveal clear card data for those only.
"""

from __future__ import annotations

import enum
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from crypto.secrets import looks_like_card_data
from firmware.errors import ReaderError, ScenarioError
from hal.magstripe import MagstripeReader, Sentinels
from hal.magstripe.f2f import BitSwipe, encode_track
from hal.url import Option

__all__ = [
    "SimReader",
    "TestCard",
    "TEST_CARDS",
    "Damage",
    "find_card",
    "is_test_pan",
    "LAB_PAN",
    "damaged_tracks",
    "swipe_text",
    "swipe_track_bits",
]


@dataclass(frozen=True)
class TestCard:
    """A test card's tracks as text without sentinels (public test numbers only)."""

    __test__ = False  # not a pytest test class

    name: str
    description: str
    track1: str | None = field(default=None, repr=False)
    track2: str | None = field(default=None, repr=False)
    track3: str | None = field(default=None, repr=False)

    @property
    def pan(self) -> str:
        """The test PAN, for assertions in tests (a public test number)."""
        if self.track2:
            return self.track2.split("=", 1)[0]
        assert self.track1 is not None
        return self.track1[1:].split("^", 1)[0]


def _card(name: str, description: str, **tracks: str) -> tuple[str, TestCard]:
    return name, TestCard(name, description, **tracks)


TEST_CARDS: dict[str, TestCard] = dict(
    [
        _card(
            "unionpay_debit",
            "UnionPay debit, 19 digits, tracks 2 and 3, service code 120 (PIN required)",
            track2="6205500000000000004=4912120" + "0000000000",
            # format 99, PAN, =, country 156, currency 156, exponent 0, amounts 0000 0000, cycle 0001 00,
            # retry 3, PINPARM 000000, interchange 2, restrictions 14 00 00, expiry 4912, sequence 0,
            # no security number (=), SAN-1 =, SAN-2 =, relay 0, crypto check 000000, additional data 0000
            track3="996205500000000000004=156156" + "0000000000001003000000214000049120"
            + "=000000000000=000000000000=0000000" + "0000",
        ),
        _card(
            "unionpay_full",
            "UnionPay test card with tracks 1, 2 and 3, service code 101",
            track1="B6200000000000005^UNIONPAY/THREE TRACKS^4912101" + "0000000000000000",
            track2="6200000000000005=4912101" + "0000000000",
            track3="996200000000000005=156156" + "2500050001001013000000210000049121"
            + "=000000000000=000000000000=0000000" + "0",
        ),
        _card(
            "unionpay_credit",
            "UnionPay credit, tracks 1 and 2, service code 101",
            track1="B6250946000000016^UNIONPAY/TEST CARD^4912101000000000000000",
            track2="6250946000000016=4912101" + "0000000000",
        ),
        _card(
            "visa",
            "Visa test card, tracks 1 and 2, service code 101",
            track1="B4761739001010010^VISA ACQUIRER TEST/CARD 01^4912101" + "1234000000000000",
            track2="4761739001010010=4912101" + "1234000000",
        ),
        _card(
            "mastercard",
            "Mastercard test card, tracks 1 and 2, service code 101",
            track1="B5413330089020011^MTIP/TEST CARD^4912101" + "000000000000",
            track2="5413330089020011=4912101" + "0000000000",
        ),
        _card(
            "expired",
            "Visa test card that expired in December 2019",
            track1="B4111111111111111^EXPIRED/TEST CARD^1912101" + "000000000000",
            track2="4111111111111111=1912101" + "0000000000",
        ),
        _card(
            "chip",
            "Visa chip test card swiped: service code 201 (use the chip)",
            track1="B4761739001010119^VISA CHIP/TEST CARD^4912201" + "000000000000",
            track2="4761739001010119=4912201" + "0000000000",
        ),
    ]
)


# The host simulator's lab card (``firmware.hostsim.lab``, which takes it from here): a test card too.
LAB_PAN = "6212345678901234569"

# Every test card number the tools trust besides TEST_CARDS' own: the lab card, published test numbers
# (scheme and acquirer test ranges), and the card numbers of the PIN-block standards' worked examples (ISO 9564-1:
# 5555555551234567, format 4: 432198765432109870), whose published blocks ``tools pinblock decode`` must open.
# One list: ``is_test_pan`` reads it, and nothing else decides.
PUBLISHED_TEST_PANS = frozenset(
    {
        LAB_PAN,
        "4111111111111111",
        "4012888888881881",
        "5555555555554444",
        "5105105105105100",
        "6200000000000047",
        "6250946000000016",
        "5555555551234567",
        "432198765432109870",
    }
)


def is_test_pan(pan: str) -> bool:
    """True for exactly the PANs of ``TEST_CARDS`` and ``PUBLISHED_TEST_PANS``."""
    return pan in PUBLISHED_TEST_PANS or any(card.pan == pan for card in TEST_CARDS.values())


class Damage(str, enum.Enum):
    """Ways a good swipe is spoiled, and what is then reported, for text (``swipe_damaged``) and bits (``swipe_bits``).

    Damage falls on track 2. An ASCII reader that finds a bad parity or LRC
    sends ``E`` for the track, so at the text level a flipped bit or a bad LRC
    is ``card.unreadable`` (swipe again), as ``card.parity`` or ``card.lrc`` is at the bit level.
    """

    MISSING_END_SENTINEL = "missing_end_sentinel"  # text: the port, card.end_sentinel; bits: card.end_sentinel
    TRUNCATED = "truncated"  # text: cut inside the expiry, the parser's card.format; bits: card.end_sentinel
    NON_DIGIT_PAN = "non_digit_pan"  # a PAN digit read as ':'; the parser: card.pan_digits
    BAD_LUHN = "bad_luhn"  # one PAN digit changed; the parser: card.luhn
    FLIPPED_BIT = "flipped_bit"  # bits: card.parity at character 6; text: track 2 reads as E
    BAD_LRC = "bad_lrc"  # bits: card.lrc; text: track 2 reads as E


# Damage that changes the track text itself (the rest is done to the bits or the framing).
_TEXT_DAMAGE = (Damage.TRUNCATED, Damage.NON_DIGIT_PAN, Damage.BAD_LUHN)


class SimReader(MagstripeReader):
    """``sim://`` reader. Options: ``type_ahead`` (default true), ``track3`` sentinel."""

    scheme = "sim"
    OPTIONS = {
        "type_ahead": Option(bool, True, "hold swipes made while disabled until enable()"),
        "track3": Option(str, "semicolon", "track 3 start sentinel", choices=("semicolon", "plus")),
    }

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self._queue: deque[bytearray | BitSwipe] = deque()
        self._answering = True
        self._sentinels = Sentinels(track3=";" if self.options["track3"] == "semicolon" else "+")

    @property
    def sentinels(self) -> Sentinels:
        return self._sentinels

    # -- hooks --------------------------------------------------------------
    def _read_raw(self) -> list[bytearray | BitSwipe]:
        if not self._answering or (not self.enabled and self.options["type_ahead"]):
            return []
        out = list(self._queue)
        self._queue.clear()
        return out  # bytearrays and BitSwipes: the port wipes them

    def _enable(self) -> None:
        if not self._answering:
            raise ReaderError("card reader is not responding", code="reader.not_responding")

    def _do_close(self) -> None:
        for raw in self._queue:
            if isinstance(raw, BitSwipe):
                raw.wipe()
            else:
                raw[:] = bytes(len(raw))
        self._queue.clear()

    def next_deadline(self) -> float | None:
        """Now, when a swipe is waiting that ``poll()`` would deliver."""
        if self._queue and self._answering and (self.enabled or not self.options["type_ahead"]):
            return time.monotonic()
        return None

    # -- the instrument -----------------------------------------------------
    def swipe(self, track1: str | None = None, track2: str | None = None, track3: str | None = None) -> None:
        """Swipe a card with these tracks (text without sentinels)."""
        s = self._sentinels
        raw = bytearray()
        if track1 is not None:
            raw += f"{s.track1}{track1}{s.end}".encode("ascii")
        if track2 is not None:
            raw += f"{s.track2}{track2}{s.end}".encode("ascii")
        if track3 is not None:
            raw += f"{s.track3[0]}{track3}{s.end}".encode("ascii")
        self.swipe_raw(raw + b"\r")

    def swipe_card(self, name: str) -> TestCard:
        """Swipe one of ``TEST_CARDS`` by name; returns it for assertions."""
        card = find_card(name)
        self.swipe(card.track1, card.track2, card.track3)
        return card

    def swipe_raw(self, raw: bytes | bytearray | str) -> None:
        """Inject exactly what the reader hardware would send, sentinels and all."""
        self._queue.append(bytearray(raw.encode("ascii") if isinstance(raw, str) else raw))

    def swipe_damaged(self, kind: Damage | str, card: str = "visa") -> None:
        """Swipe ``card`` damaged in one of the ways ``Damage`` lists, as text."""
        self.swipe_raw(swipe_text(find_card(card), self._sentinels, damage=_damage(kind)))

    def swipe_bits(
        self,
        card: str | None = None,
        *,
        tracks: dict[int, str] | None = None,
        reverse: bool = False,
        damage: Damage | str | None = None,
    ) -> None:
        """Swipe a test card (or ``tracks``, text without sentinels) at the bit level, as a TTL reader reads it."""
        if card is not None:
            given = find_card(card)
        else:
            given = TestCard("tracks", "given tracks", **{f"track{n}": t for n, t in (tracks or {}).items()})
        bits = swipe_track_bits(given, reverse=reverse, damage=_damage(damage) if damage else None)
        self._queue.append(BitSwipe(bits))

    def stop_answering(self) -> None:
        """The reader goes silent: ``enable()`` raises ``reader.not_responding``, swipes are held."""
        self._answering = False

    def resume(self) -> None:
        self._answering = True

    @property
    def swipes_pending(self) -> int:
        """Swipes injected and not yet delivered by ``poll()``."""
        return len(self._queue)


_PLAIN_NAME = re.compile(r"[a-z0-9_-]{1,32}")  # what a card name looks like; anything else is not echoed


def find_card(name: str) -> TestCard:
    """A test card by name; ``unionpay-debit`` (as a TOML scenario may spell it) also finds ``unionpay_debit``.

    An unknown name is quoted in the error only if it is a plain name and not card data: a scenario that puts
    the track text where the name belongs (``swipe = "4761...=4912..."``) must not see it echoed."""
    try:
        return TEST_CARDS[name.replace("-", "_")]
    except KeyError:
        plain = isinstance(name, str) and _PLAIN_NAME.fullmatch(name) and not looks_like_card_data(name)
        said = repr(name) if plain else "(not a card name: left out)"
        raise ScenarioError(
            f"unknown test card {said}; expected one of {', '.join(TEST_CARDS)}", code="scenario.unknown_card"
        ) from None


def _damage(kind: Damage | str) -> Damage:
    try:
        return Damage(kind)
    except ValueError:
        raise ScenarioError(
            f"unknown swipe damage {kind!r}; expected one of {', '.join(d.value for d in Damage)}",
            code="scenario.unknown_damage",
        ) from None


def damaged_tracks(card: TestCard, damage: Damage | None) -> dict[int, str]:
    """The card's track texts, with ``damage``'s change to the text (truncation, a wrong digit) made."""
    tracks = {n: t for n, t in ((1, card.track1), (2, card.track2), (3, card.track3)) if t is not None}
    if damage is None or damage not in _TEXT_DAMAGE:
        return tracks
    t2 = tracks.get(2)
    if t2 is None:
        raise ScenarioError(f"test card {card.name!r} has no track 2 to damage", code="scenario.bad_damage")
    pan_len = len(card.pan)
    if damage is Damage.TRUNCATED:
        tracks.pop(1, None)
        tracks[2] = t2[: pan_len + 3]
    elif damage is Damage.NON_DIGIT_PAN:
        tracks.pop(1, None)
        tracks[2] = t2[:5] + ":" + t2[6:]
    elif damage is Damage.BAD_LUHN:
        wrong = str((int(t2[pan_len - 1]) + 1) % 10)
        if 1 in tracks:
            tracks[1] = tracks[1][:pan_len] + wrong + tracks[1][pan_len + 1 :]
        tracks[2] = t2[: pan_len - 1] + wrong + t2[pan_len:]
    return tracks


def _require_track2(card: TestCard, tracks: dict[int, str], damage: Damage | None) -> None:
    if damage is not None and 2 not in tracks:
        raise ScenarioError(f"test card {card.name!r} has no track 2 to damage", code="scenario.bad_damage")


def swipe_text(card: TestCard, sentinels: Sentinels, *, damage: Damage | None = None, terminator: bytes = b"\r") -> bytearray:
    """What an ASCII reader sends for ``card`` (sentinels, tracks in order, then ``terminator``)."""
    tracks = damaged_tracks(card, damage)
    _require_track2(card, tracks, damage)
    s = sentinels
    starts = {1: s.track1[0], 2: s.track2[0], 3: s.track3[0]}
    out = bytearray()
    for n, text in sorted(tracks.items()):
        if n == 2 and damage in (Damage.FLIPPED_BIT, Damage.BAD_LRC):
            text = s.error_mark or ""  # the reader found the parity or LRC error and says so
        if n == 2 and damage is Damage.MISSING_END_SENTINEL:
            out += f"{starts[n]}{text}".encode("ascii")
            break  # the reader lost the end of track 2, and what came after it
        out += f"{starts[n]}{text}{s.end}".encode("ascii")
    return out + terminator


def swipe_track_bits(card: TestCard, *, reverse: bool = False, damage: Damage | None = None) -> dict[int, bytearray]:
    """The bits a TTL reader clocks in for ``card``, per track, swiped either way and damaged as asked."""
    tracks = damaged_tracks(card, damage if damage in (Damage.NON_DIGIT_PAN, Damage.BAD_LUHN) else None)
    _require_track2(card, tracks, damage)
    out: dict[int, bytearray] = {}
    for n, text in tracks.items():
        hit = n == 2 and damage is not None
        bits = encode_track(text, n, end_sentinel=not (hit and damage is Damage.MISSING_END_SENTINEL))
        if hit and damage is Damage.FLIPPED_BIT:
            bits[16 + 5 * 5 + 2] ^= 1  # a data bit of the sixth character (16 leading zeros, 5 bits a character)
        elif hit and damage is Damage.BAD_LRC:
            lrc = len(bits) - 16 - 5  # the LRC's first bit; flip a data bit and the parity bit: parity still odd
            bits[lrc] ^= 1
            bits[lrc + 4] ^= 1
        elif hit and damage is Damage.TRUNCATED:
            del bits[16 + 5 * (len(text) // 2) :]  # the head lost contact halfway along the track
        if reverse:
            bits.reverse()
        out[n] = bits
    return out
