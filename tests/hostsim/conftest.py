"""Fixtures for the host simulator: a processor with the lab keys and a terminal-side helper."""

from __future__ import annotations

from datetime import datetime

import pytest

from crypto.keys import KeyUsage
from crypto.provision import lab_key
from firmware.host.codec import Tpdu, decode, encode
from firmware.host.messages import as_repeat, build_advice, build_request, build_reversal, parse_reply
from firmware.host.profiles import get_profile
from firmware.hostsim.lab import lab_card, lab_txn
from firmware.hostsim.ledger import Ledger
from firmware.hostsim.processor import HostProcessor
from firmware.hostsim.rules import RuleBook

HOST_NOW = datetime(2024, 5, 6, 12, 0, 0)


class Terminal:
    """Builds and encodes what a terminal sends, and reads what comes back (lab keys)."""

    def __init__(self, profile):
        self.profile = profile
        self.mac_key = lab_key(KeyUsage.MAC)
        self.tpdu = Tpdu("60", "0003", "0000") if profile.tpdu else None

    def encode(self, message, mac_key=None):
        return encode(self.profile, message, mac_key=mac_key or self.mac_key)

    def sale(self, *, pin="1234", mac_key=None, card=None, **txn):
        txn.setdefault("pin_entered", pin is not None)
        message = build_request(self.profile, lab_txn(**txn), card or lab_card(pin=pin), tpdu=self.tpdu)
        return self.encode(message, mac_key)

    def reversal(self, *, repeat=False, reason="98", **txn):
        message = build_reversal(self.profile, lab_txn(**txn), lab_card(), tpdu=self.tpdu, reason=reason)
        return self.encode(as_repeat(self.profile, message) if repeat else message)

    def advice(self, *, repeat=False, **txn):
        message = build_advice(self.profile, lab_txn(pin_entered=False, **txn), lab_card(pin=None), tpdu=self.tpdu)
        return self.encode(as_repeat(self.profile, message) if repeat else message)

    def decode(self, payload):
        return decode(self.profile, payload, mac_key=self.mac_key)

    def read(self, payload):
        return parse_reply(self.profile, self.decode(payload))


@pytest.fixture(params=["cup", "iso87"])
def profile(request):
    return get_profile(request.param)


@pytest.fixture
def cup():
    return get_profile("cup")


@pytest.fixture
def iso87():
    return get_profile("iso87")


@pytest.fixture
def iso87_term(iso87):
    return Terminal(iso87)


@pytest.fixture
def term(profile):
    return Terminal(profile)


@pytest.fixture
def cup_term(cup):
    return Terminal(cup)


@pytest.fixture
def rules():
    return RuleBook()


@pytest.fixture
def ledger():
    with Ledger(":memory:") as book:
        yield book


@pytest.fixture
def make_host(rules, ledger):
    """A processor for a profile sharing the test's rule book and ledger."""

    def make(profile):
        return HostProcessor(profile, mac_key=lab_key(KeyUsage.MAC), pin_key=lab_key(KeyUsage.PIN),
                             ledger=ledger, rules=rules, clock=lambda: HOST_NOW)

    return make


@pytest.fixture
def host(make_host, profile):
    return make_host(profile)


@pytest.fixture
def cup_host(make_host, cup):
    return make_host(cup)


@pytest.fixture
def iso87_host(make_host, iso87):
    return make_host(iso87)
