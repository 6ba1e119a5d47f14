"""``posterm bench``: the least work any online sale must do, done with the libraries directly.

Issue #2's target puts a sale within 1.5 times its floor, two fsync'd
commits. This measures how much of that margin a sale's unavoidable work
takes before the terminal adds anything of its own: no state machine, no
events, no screens, no SQL, no checks beyond the MAC. Once per sale:

- split and parse the swipe (``hal.magstripe``: no library does ISO 7813);
- seal the card at capture (AES-GCM), and open it once to build the request;
- make the ISO 0 PIN block under the PIN key (TDES);
- encode the 0200 with pyiso8583 and MAC it (the profile's algorithm);
- encode the ready-made 0400 and seal it for storage;
- decode the 0210 with pyiso8583 and check its MAC.

The messages are the ones a real sale of the bench's terminal exchanged with
its host, decoded once here into the dicts pyiso8583 encodes. Contexts (the
AES-GCM and TDES keys) are made once, as a lower bound would. The figure is
the best of several runs, in seconds per sale; ``_timed_sales`` sets it beside
the floor measured in the same process.
"""

from __future__ import annotations

import hmac
import os
from datetime import date

from firmware.bench_worker import _best

__all__ = ["essentials_seconds"]


def essentials_seconds(runner, host, rounds: int = 500, repeat: int = 5) -> float:
    """Seconds per sale for the work above; ``runner`` and ``host`` are ``bench_worker._terminal``'s,
    after at least one sale (``host.last`` holds its request and answer)."""
    import iso8583
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from crypto.des import TdesEcb
    from crypto.pinblock import encrypt_iso0
    from crypto.secrets import Pan
    from firmware.host.field_rules import _layout
    from firmware.host.mac import compute_mac
    from hal.magstripe.raw import ISO_SENTINELS, split_tracks
    from hal.magstripe.sim import find_card, swipe_text
    from hal.magstripe.swipe import Swipe
    from hal.magstripe.tracks import parse_swipe

    profile = runner.bridge.profile
    spec = _layout(profile).pyiso8583_spec
    skip = (5 if profile.tpdu else 0) + profile.header_length
    width = profile.mac_wire_size
    request, answer = host.last
    request_doc, _ = iso8583.decode(request[skip:], spec)
    reversal_doc = dict(request_doc, t="0400")
    answer_body = answer[skip:]

    raw = bytes(swipe_text(find_card("unionpay_debit"), ISO_SENTINELS))
    today = date(2030, 1, 1)
    aead = AESGCM(os.urandom(16))
    pin_key, mac_key = TdesEcb(os.urandom(16)), TdesEcb(os.urandom(16))
    aad = b"card/1"

    def sale() -> None:
        card = parse_swipe(Swipe.from_tracks(split_tracks(raw, ISO_SENTINELS)), today)
        pan = card.pan.reveal()
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, pan + card.track2.reveal(), aad)
        aead.decrypt(nonce, sealed, aad)
        encrypt_iso0(b"1234", Pan(pan), pin_key).wipe()
        body, _ = iso8583.encode(request_doc, spec)
        compute_mac(profile.mac, mac_key, bytes(body[:-width]))
        reversal, _ = iso8583.encode(reversal_doc, spec)
        aead.encrypt(os.urandom(12), bytes(reversal), aad)
        iso8583.decode(answer_body, spec)
        hmac.compare_digest(compute_mac(profile.mac, mac_key, answer_body[:-width]), answer_body[-width:])
        card.wipe()

    return _best(sale, rounds, repeat)
