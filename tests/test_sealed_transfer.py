"""A transfer's destination account sealed with the card: packed as version 2, opened with it, wiped with it,
and never in the journal's copy (which outlives the host's answer)."""

from __future__ import annotations

from crypto.atrest import Sealer
from crypto.secrets import Pan, SecretKey, TrackData
from firmware.sealed import CardSession, ClearCard, card_aad, pack_card, unpack_card

TO = "6228480402564890018"
PAN = "6212345678901234569"


def _sealer() -> Sealer:
    return Sealer({1: SecretKey(bytes(range(32)), "data")}, 1)


def _card(account: str | None = None) -> ClearCard:
    return ClearCard(Pan(PAN), "3012", TrackData(f"{PAN}=3012101", track=2), None, None,
                     Pan(account) if account else None)


def test_version_2_round_trips_and_version_1_is_unchanged_without_an_account():
    packed = pack_card(_card(TO))
    assert packed[0] == 2
    back = unpack_card(packed)
    assert back.account.reveal_str() == TO and back.pan.reveal_str() == PAN
    assert bytes(packed) == bytes(len(packed))  # unpacking wiped the bytes
    assert pack_card(_card())[0] == 1


def test_the_session_carries_the_account_until_wiped_and_the_journal_copy_never_does():
    sealer = _sealer()
    session = CardSession(5, sealer, _card())
    account = Pan(TO)
    session.add_account(account)
    assert account.wiped  # the pad's copy is gone once sealed
    with session.card() as clear:
        assert clear.account.reveal_str() == TO and clear.track2 is not None
        journal = session.sealed_for_journal(clear)
    kept = unpack_card(sealer.open(journal, card_aad(5, "journal")))
    assert kept.account is None and kept.track2 is None and kept.pan.reveal_str() == PAN
    assert TO.encode() not in journal and TO not in repr(session)
    session.wipe()
    assert session.wiped
