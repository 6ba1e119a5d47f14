"""A tap on the built-in host simulator's requests, for end-to-end tests that read the wire."""

from __future__ import annotations

from firmware.host.codec import decode
from firmware.scenario import ScenarioRunner, parse_scenario


class Wiretap:
    """Keeps every request the host simulator receives, then lets it answer (a tap, as pyserial's ``spy://``:
    it changes nothing). The simulator's server calls ``processor.respond``; the tap stands in front of it."""

    def __init__(self, profile) -> None:
        self.profile = profile
        self.frames: list[bytes] = []

    def install(self, processor) -> None:
        if getattr(processor, "_tapped", False):
            return
        answer = processor.respond

        def respond(payload: bytes):
            self.frames.append(bytes(payload))
            return answer(payload)

        processor.respond, processor._tapped = respond, True

    def decoded(self):
        """Every request, decoded without keys (the terminal's working keys come from its sign-on)."""
        return [decode(self.profile, frame) for frame in self.frames]

    def messages(self, mti: str):
        """The requests of one type."""
        return [m for m in self.decoded() if m.mti == mti]


def run_tapped(name: str, config: dict, steps: list, tmp_path, profile):
    """Run ``steps`` as a scenario on the built-in host with a tap on it: (result, printed paper, tap)."""
    tap = Wiretap(profile)
    runner = ScenarioRunner(data_dir=tmp_path / "data")
    result = runner.run(parse_scenario({"name": name, "config": config, "step": steps}),
                        after_step=lambda step: tap.install(runner.processor))
    assert result["failures"] == [], result["failures"]
    return result, runner.devices["printer"].text, tap
