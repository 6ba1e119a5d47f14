"""A hostile-but-MACed host for end-to-end tests (from audit AU11).

The scenario runs against the built-in host simulator over the in-process link; one of its answers is
rewritten (fields dropped or changed) and MACed again under the working MAC key the simulator issued at
sign-on, so the MAC is valid and every check but the MAC's is exercised. The requests the host received are
kept, decoded, so a test can read what the terminal sent (a reversal's reason, a repeat's MTI).
"""

from __future__ import annotations

from collections.abc import Callable

from firmware.host.codec import Message, decode, encode
from firmware.host.profiles import get_profile
from firmware.scenario import ScenarioRunner, parse_scenario

SALE = [{"key": "1250#"}, {"swipe": "unionpay_debit"}, {"pin": "1234"}]
FAST = {"host": {"response_timeout": 0.5, "connect_timeout": 0.3}}

Change = Callable[[dict[int, str]], dict[int, str]]


def without(*numbers: int) -> Change:
    return lambda f: {n: v for n, v in f.items() if n not in numbers}


def setting(**values: str) -> Change:
    """``setting(f39="10")``: those fields set (or added)."""
    return lambda f: {**f, **{int(k[1:]): v for k, v in values.items()}}


def run(steps: list[dict], change: Change, *, mti: str = "0210", config: dict = FAST, profile: str = "cup",
        sent: list[Message] | None = None) -> dict:
    """Run ``steps``; the first answer of MTI ``mti`` has its fields passed through ``change`` and is MACed
    again. Every request the host received is appended, decoded, to ``sent``."""
    p = get_profile(profile)
    runner = ScenarioRunner()
    sent = [] if sent is None else sent

    def wrap(respond):
        done = []

        def rewritten(payload):
            sent.append(decode(p, payload))
            answer = respond(payload)
            if answer.payload is None or done:
                return answer
            message = decode(p, answer.payload)
            if message.mti != mti:
                return answer
            done.append(True)
            key = runner.processor._keys(message.fields.get(41)).mac
            fields = {n: v for n, v in change(dict(message.fields)).items() if v is not None and n not in (64, 128)}
            out = encode(p, message.copy(fields=dict(sorted(fields.items()))), mac_key=key)
            return type(answer)(out, answer.delay, answer.close)

        return rewritten

    def after(step):
        if not getattr(runner, "rewritten", False):
            runner.processor.respond = wrap(runner.processor.respond)
            runner.rewritten = True

    config = {**config, "host": {**config.get("host", {}), "profile": profile}} if profile != "cup" else config
    return runner.run(parse_scenario({"name": "t", "config": config, "step": steps}), after_step=after)


# -- a scripted host (FX8): answers held back, sent twice, handed over late or on another connection --------------
Script = Callable[[Message, object], object]


def scripted(steps: list[dict], script: Script, *, config: dict = FAST, profile: str = "cup",
             sent: list[Message] | None = None, after: Callable[[ScenarioRunner, object], None] | None = None) -> dict:
    """Run ``steps`` against the simulator over the real TCP link; once the first step is done, every request the
    host receives (decoded, also appended to ``sent``) and the simulator's ``Answer`` to it pass through
    ``script(request, answer) -> answer``. The script may return the answer as it is, silence
    (``Answer(None)``), a close, or other frames in the same write (``Answer.also``): an answer it held back from
    an earlier request, the same answer twice. Answers are the simulator's own bytes, correctly MACed.
    ``after(runner, step)`` is called after each step, as ``ScenarioRunner.run``'s ``after_step``."""
    p = get_profile(profile)
    runner = ScenarioRunner()
    sent = [] if sent is None else sent

    def wrap(respond):
        def scripted_respond(payload):
            request = decode(p, payload)
            sent.append(request)
            return script(request, respond(payload))

        return scripted_respond

    def after_step(step):
        if not getattr(runner, "scripted", False):
            runner.processor.respond = wrap(runner.processor.respond)
            runner.scripted = True
        if after is not None:
            after(runner, step)

    config = {**config, "host": {**config.get("host", {}), "profile": profile}} if profile != "cup" else config
    return runner.run(parse_scenario({"name": "t", "config": config, "step": steps}), after_step=after_step)


def remac(runner: ScenarioRunner, payload: bytes, change: Change, *, profile: str = "cup") -> bytes:
    """The host's answer ``payload`` with its fields passed through ``change``, MACed again under the working key
    the simulator issued this terminal (as ``run`` does): a hostile answer every check but the MAC's sees."""
    p = get_profile(profile)
    message = decode(p, payload)
    key = runner.processor._keys(message.fields.get(41)).mac
    fields = {n: v for n, v in change(dict(message.fields)).items() if v is not None and n not in (64, 128)}
    return encode(p, message.copy(fields=dict(sorted(fields.items()))), mac_key=key)
