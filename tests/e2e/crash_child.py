"""A zygote for the crash test: imports everything once, then forks terminals to be killed.

Commands on stdin, one per line; answers on stdout:

    run SEED MODE   fork a terminal that recovers, then sells forever;  -> "pid N"
                    MODE is "up" (the host link works) or "down" (it is dead)
    reap PID        wait for that child after the test killed it         -> "reaped N"
    final           fork a terminal that recovers with the link up,      -> "final STATUS"
                    settles its open batch, and exits once nothing is owed
    quit

Forking from a warm process makes a cycle cost milliseconds instead of a
Python start-up, so hundreds of SIGKILLs fit in a CI run.

Besides sales, the mix voids approved sales of the open batch (by trace, with the
sale's card) and now and then settles (F 5, ENTER on the totals). A terminal whose
settlement went unanswered refuses every transaction until a settlement is
answered (``settle.interrupted``), so a child that finds it so settles again first:
selling would sell nothing. Void and settlement ask for the supervisor's password
(``SUPERVISOR``; the test sets it before the first child).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from crypto.secrets import mask_pan
from firmware.app import Overrides, build_runner
from firmware.config import Config
from firmware.core.model import JournalState, Kind, State
from hal.base import DeviceContext
from hal.magstripe.sim import TEST_CARDS
from hal.printer.render import warm_up
from hal.registry import make_device

TRANSFER_TO = "6228480402564890018"  # a transfer's destination: canary.TRANSFER_TO, which the scans look for

SUPERVISOR = "27182818"  # the supervisor's (00) password: void and settle ask for it (operators.supervisor_for)
GUARDED = ["void", "settle"]
KDF_COST = 10  # scrypt log2 N for the crash test's one password: cheap, so each guarded function costs little
AMOUNTS = [1111, 2222, 3333, 1250, 880, 4500, 99, 12000, 700]  # see the host rules in test_crash_kill.py
CARDS = ["unionpay_debit", "unionpay_credit", "visa"]
REFUNDS = [77, 300, 500, 1250]  # 77: the host loses the first answer (sent again); some exceed what is left
CARD_OF = {mask_pan(TEST_CARDS[name].pan): name for name in CARDS}


# POSTERM_CRASH_PIN_KEYS=dukpt: the iso87 profile with DUKPT PIN keys (the test gives the host the same profile)
DUKPT = os.environ.get("POSTERM_CRASH_PIN_KEYS") == "dukpt"
HOST_DUKPT = {"profile": "iso87", "pin_keys": "dukpt"} if DUKPT else {}


def config(data: Path, link: str) -> Config:
    return Config().replace(
        {
            "storage": {"data_dir": str(data)},
            "devices": {"link": link},
            "host": {"response_timeout": 0.15, "connect_timeout": 0.2, "reversal_retries": 3, "upload_interval": 0.3,
                     **HOST_DUKPT},
            "offline": {"floor_limit": 5000, "max_count": 1000, "max_amount": 10**9},
            "operators": {"supervisor_for": GUARDED, "kdf_cost": KDF_COST},
        }
    )


def terminal(args, link: str):
    devices = {}
    runner_ref = {}
    context = DeviceContext(data_dir=args.data, pin_key=lambda: runner_ref["r"].pin_cipher())
    for kind in ("reader", "pinpad", "display"):
        devices[kind] = make_device(kind, "sim://", context)
    devices["printer"] = make_device("printer", f"sim://?paper={args.paper}", context)
    runner = build_runner(config(args.data, link), overrides=Overrides(devices=devices))
    runner_ref["r"] = runner
    _record_windows(runner, args.paper.with_name("windows.txt"))
    return runner, devices


def _record_windows(runner, path: Path) -> None:
    """Note each window of several advices marked in one commit (so sent back to back): the test
    checks that the kills did meet pipelined uploads. Appends survive the child's SIGKILL."""
    store = runner.store
    mark = store.advices_sending

    def recording(txn_nos):
        mark(txn_nos)
        if len(txn_nos) > 1:
            with open(path, "a") as f:
                f.write(" ".join(map(str, txn_nos)) + "\n")

    store.advices_sending = recording


def sell_forever(args, seed: int, mode: str) -> None:
    rng = random.Random(seed)
    link = args.host if mode == "up" else "tcp://127.0.0.1:9"  # the discard port: nothing listens
    runner, devices = terminal(args, link)
    runner.boot()
    runner.run_until(runner.waiting_for_person, 5)
    while True:
        if runner.core.state is not State.IDLE:
            runner.run_until(runner.waiting_for_person, 5)
            if runner.core.state is not State.IDLE:  # e.g. a reversal pending alert screen: carry on
                runner.run_until(lambda: runner.core.state is State.IDLE, 2)
        if runner.core.settle_interrupted:  # the batch takes nothing until a settlement is answered
            devices["pinpad"].press(f"{rng.choice(AMOUNTS)}#")  # a sale first: refused (settle.interrupted)
            runner.run_until(runner.waiting_for_person, 5)
            if runner.core.state is State.IDLE:
                settle(runner, devices)
            continue
        extra = rng.random()
        if extra < 0.07:
            void(runner, devices, rng)
            continue
        if extra < 0.1:
            settle(runner, devices)
            continue
        choice = rng.random()
        if choice < 0.2:
            refund(runner, devices, rng)
            continue
        if 0.25 <= choice < 0.3:
            held(runner, devices, rng)  # a pre-auth's completion or cancel
            continue
        if choice < 0.25:
            devices["pinpad"].press("F7")  # a balance inquiry: no money moves
        elif choice < 0.35:
            devices["pinpad"].press(f"F01{rng.choice(AMOUNTS)}#")  # a pre-auth (menu page 2, 1): holds funds
        elif choice < 0.42:
            devices["pinpad"].press(f"F05{rng.choice(AMOUNTS)}#")  # a transfer (menu page 2, 5)
            # its destination, keyed twice once the pad's account prompt opens after the swipe
            devices["pinpad"].press(f"{TRANSFER_TO}#{TRANSFER_TO}#", hold_for_pin=True)
        else:
            devices["pinpad"].press(f"{rng.choice(AMOUNTS)}#")
        runner.run_until(runner.waiting_for_person, 5)
        devices["reader"].swipe_card(rng.choice(CARDS))
        runner.run_until(runner.waiting_for_person, 5)
        devices["pinpad"].press("1234#", hold_for_pin=True)
        runner.run_until(runner.waiting_for_person, 5)


def _then(runner, pad, state: State, keys: str, **kw) -> bool:
    """Once the terminal waits for a person: press ``keys`` if it is in ``state``; False (nothing pressed) if not."""
    runner.run_until(runner.waiting_for_person, 5)
    if runner.core.state is not state:
        return False
    pad.press(keys, **kw)
    return True


def refund(runner, devices, rng) -> None:
    """Refund part of an approved sale from the journal, by its reference number and date, with its card."""
    sales = [r for r in runner.store.journal() if r.kind is Kind.SALE and r.state is JournalState.APPROVED and r.rrn]
    if not sales:
        return
    sale = rng.choice(sales)
    pad = devices["pinpad"]

    pad.press(f"F6{sale.rrn}#{sale.when:%m%d}#")
    if not _then(runner, pad, State.CONFIRM, "#") or not _then(runner, pad, State.AMOUNT, f"{rng.choice(REFUNDS)}#"):
        return
    runner.run_until(runner.waiting_for_person, 5)
    if runner.core.state is State.AMOUNT:  # more than is left of the sale: refused, cancel
        pad.press("X")
        runner.run_until(runner.waiting_for_person, 5)
        return
    if runner.core.state is State.CARD:
        devices["reader"].swipe_card(CARD_OF.get(sale.masked_pan, rng.choice(CARDS)))
        _then(runner, pad, State.PIN, "1234#", hold_for_pin=True)
        runner.run_until(runner.waiting_for_person, 5)


def _supervisor(runner, pad) -> bool:
    """At the supervisor's prompt (a guarded function): type the password. False: it did not go on."""
    runner.run_until(runner.waiting_for_person, 5)
    if runner.core.state is State.SUPERVISOR:
        pad.press(f"{SUPERVISOR}#")
        runner.run_until(runner.waiting_for_person, 5)
    return runner.core.state not in (State.IDLE, State.MENU, State.SUPERVISOR)


def void(runner, devices, rng) -> None:
    """Void an approved sale of the open batch not yet voided (menu 4): its trace, ENTER, the sale's card, the PIN
    where the sale took one. Offline sales too: one the host has not accepted yet is refused (void.not_uploaded)."""
    voided = runner.store.voided()
    batch = runner.core.counters.batch
    sales = [r for r in runner.store.journal() if r.kind is Kind.SALE and r.batch == batch
             and r.state in (JournalState.APPROVED, JournalState.OFFLINE_APPROVED) and r.txn_no not in voided]
    if not sales:
        return
    sale = rng.choice(sales)
    pad = devices["pinpad"]
    pad.press("F4")
    if not _supervisor(runner, pad):
        return
    pad.press(f"{sale.stan}#")
    if not _then(runner, pad, State.CONFIRM, "#"):
        return  # refused by the journal (not uploaded, voided, void unresolved): nothing was sent
    runner.run_until(runner.waiting_for_person, 5)
    if runner.core.state is State.CARD:
        devices["reader"].swipe_card(CARD_OF.get(sale.masked_pan, rng.choice(CARDS)))
        _then(runner, pad, State.PIN, "1234#", hold_for_pin=True)
        runner.run_until(runner.waiting_for_person, 5)


def settle(runner, devices) -> bool:
    """Settle the open batch (menu 5): the queues go first, then ENTER on the totals. True: the batch it
    started with is closed (a 0510 was recorded)."""
    batch = runner.core.counters.batch
    pad = devices["pinpad"]
    pad.press("F5")
    if not _supervisor(runner, pad):
        return False
    runner.run_until(runner.waiting_for_person, 10)
    if runner.core.state is State.TOTALS:
        pad.press("#")
        runner.run_until(runner.waiting_for_person, 10)
    return runner.core.counters.batch != batch


def held(runner, devices, rng) -> None:
    """Complete (up to the tolerance: online, or as an advice without the host, menu page 2 key 6) or cancel an
    approved pre-auth from the journal, by its auth code and date."""
    held = [r for r in runner.store.journal()
            if r.kind is Kind.PREAUTH and r.state is JournalState.APPROVED and r.auth_code]
    if not held:
        return
    pa = rng.choice(held)
    pad = devices["pinpad"]
    key = rng.choices("362", weights=(5, 2, 3))[0]  # completion, completion advice, cancel
    complete = key != "2"
    amount = rng.choice([pa.amount, pa.amount * 115 // 100, max(pa.amount // 2, 1)]) if complete else pa.amount

    pad.press(f"F0{key}{pa.auth_code}#{pa.when:%m%d}#")
    if not _then(runner, pad, State.CONFIRM, "#") or not _then(runner, pad, State.AMOUNT, f"{amount}#"):
        return  # refused by the journal (completed, cancelled, unresolved): nothing was sent
    runner.run_until(runner.waiting_for_person, 5)
    if runner.core.state is State.CARD:
        devices["reader"].swipe_card(CARD_OF.get(pa.masked_pan, rng.choice(CARDS)))
        if key != "6":  # the advice takes no PIN
            _then(runner, pad, State.PIN, "1234#", hold_for_pin=True)
        runner.run_until(runner.waiting_for_person, 5)


def _owed(runner) -> bool:
    """Anything the terminal still owes: a reversal, an offline sale, a receipt, a batch upload or its report."""
    boot = runner.store.boot_state()
    return bool(boot.reversals or boot.advices or boot.receipts or boot.upload or boot.report)


def final(args) -> int:
    """Recover with the link up, then settle the open batch (so every transaction is in a batch both sides
    closed, and the check can hold each batch's totals against the host's), then clear whatever is owed."""
    runner, devices = terminal(args, args.host)
    runner.boot()
    settled = False
    for _ in range(50):
        runner.run_until(runner.waiting_for_person, 10)
        if runner.core.state is not State.IDLE:  # e.g. an alert screen: carry on to IDLE
            runner.run_until(lambda: runner.core.state is State.IDLE, 2)
            continue
        if not settled:
            settled = settle(runner, devices)
            continue
        if not _owed(runner):
            runner.close()
            return 0
        runner.request_upload()
    runner.close()
    return 1


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--paper", type=Path, required=True)
    p.add_argument("--host", required=True)
    args = p.parse_args()
    warm_up(args.data / "cache")  # python-escpos imported before forking
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "run":
            pid = os.fork()
            if pid == 0:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                try:
                    sell_forever(args, int(rest[0]), rest[1])
                finally:
                    os._exit(3)
            print(f"pid {pid}", flush=True)
        elif cmd == "reap":
            os.waitpid(int(rest[0]), 0)
            print(f"reaped {rest[0]}", flush=True)
        elif cmd == "final":
            pid = os.fork()
            if pid == 0:
                os._exit(final(args))
            _, status = os.waitpid(pid, 0)
            print(f"final {os.waitstatus_to_exitcode(status)}", flush=True)
        elif cmd == "quit":
            return


if __name__ == "__main__":
    main()
