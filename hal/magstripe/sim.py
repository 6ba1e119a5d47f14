"""A simulated magstripe reader: an instrument for tests and the demo.

Tests swipe cards into it (``swipe_card("visa")``, ``swipe(track2=...)``,
``swipe_raw(b"...")``, ``swipe_damaged("bad_luhn")``) and make it fail
(``stop_answering()``). The swipe text goes through the same sentinel
splitting as a real reader's, so the port's logic is what is tested.

Type-ahead: a swipe made while the reader is disabled is held in the
simulator (like a customer standing ready with a card) and arrives once the
reader is enabled. ``sim://?type_ahead=false`` instead delivers it at once,
so the port drops it, as it would a stray swipe on real hardware.

``TEST_CARDS`` are published scheme test numbers (UnionPay, Visa, Mastercard
test ranges), Luhn-valid, expiring in December 2049 unless the card is meant
to be expired. They are not real accounts.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from firmware.errors import ReaderError, ScenarioError
from hal.magstripe import MagstripeReader, Sentinels
from hal.url import Option

__all__ = ["SimReader", "TestCard", "TEST_CARDS", "Damage"]


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
            track3="996205500000000000004=1561560000000000001003000000214000049120=000000000000=000000000000=0000",
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


class Damage(str, enum.Enum):
    """Ways ``swipe_damaged`` spoils a good swipe (what the port or parser then reports)."""

    MISSING_END_SENTINEL = "missing_end_sentinel"  # the port: card.end_sentinel
    TRUNCATED = "truncated"  # track 2 cut inside the expiry date; the parser: card.format
    NON_DIGIT_PAN = "non_digit_pan"  # a PAN digit read as ':'; the parser: card.pan_digits
    BAD_LUHN = "bad_luhn"  # one PAN digit changed; the parser: card.luhn


class SimReader(MagstripeReader):
    """``sim://`` reader. Options: ``type_ahead`` (default true), ``track3`` sentinel."""

    scheme = "sim"
    OPTIONS = {
        "type_ahead": Option(bool, True, "hold swipes made while disabled until enable()"),
        "track3": Option(str, "semicolon", "track 3 start sentinel", choices=("semicolon", "plus")),
    }

    def __init__(self, url: Any, context: Any = None) -> None:
        super().__init__(url, context)
        self._queue: deque[bytearray] = deque()
        self._answering = True
        self._sentinels = Sentinels(track3=";" if self.options["track3"] == "semicolon" else "+")

    @property
    def sentinels(self) -> Sentinels:
        return self._sentinels

    # -- hooks --------------------------------------------------------------
    def _read_raw(self) -> list[bytes]:
        if not self._answering or (not self.enabled and self.options["type_ahead"]):
            return []
        out = list(self._queue)
        self._queue.clear()
        return out  # type: ignore[return-value]  # bytearrays: the port wipes them

    def _enable(self) -> None:
        if not self._answering:
            raise ReaderError("card reader is not responding", code="reader.not_responding")

    def _do_close(self) -> None:
        for raw in self._queue:
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
        """Swipe ``card`` damaged in one of the ways ``Damage`` lists."""
        try:
            damage = Damage(kind)
        except ValueError:
            raise ScenarioError(
                f"unknown swipe damage {kind!r}; expected one of {', '.join(d.value for d in Damage)}",
                code="scenario.unknown_damage",
            ) from None
        c = find_card(card)
        t1, t2, t3 = c.track1, c.track2, c.track3
        if t2 is None:
            raise ScenarioError(f"test card {card!r} has no track 2 to damage", code="scenario.bad_damage")
        pan_len = len(c.pan)
        if damage is Damage.MISSING_END_SENTINEL:
            s = self._sentinels
            raw = (f"{s.track1}{t1}{s.end}" if t1 else "") + f"{s.track2}{t2}"
            self.swipe_raw(raw + "\r")
            return
        if damage is Damage.TRUNCATED:
            t1, t2 = None, t2[: pan_len + 3]
        elif damage is Damage.NON_DIGIT_PAN:
            t1, t2 = None, t2[:5] + ":" + t2[6:]
        elif damage is Damage.BAD_LUHN:
            wrong = str((int(t2[pan_len - 1]) + 1) % 10)
            t1 = t1 and (t1[:pan_len] + wrong + t1[pan_len + 1 :])
            t2 = t2[: pan_len - 1] + wrong + t2[pan_len:]
        self.swipe(t1, t2, t3)

    def stop_answering(self) -> None:
        """The reader goes silent: ``enable()`` raises ``reader.not_responding``, swipes are held."""
        self._answering = False

    def resume(self) -> None:
        self._answering = True

    @property
    def swipes_pending(self) -> int:
        """Swipes injected and not yet delivered by ``poll()``."""
        return len(self._queue)


def find_card(name: str) -> TestCard:
    """A test card by name; ``unionpay-debit`` (as a TOML scenario may spell it) also finds ``unionpay_debit``."""
    try:
        return TEST_CARDS[name.replace("-", "_")]
    except KeyError:
        raise ScenarioError(
            f"unknown test card {name!r}; expected one of {', '.join(TEST_CARDS)}", code="scenario.unknown_card"
        ) from None
