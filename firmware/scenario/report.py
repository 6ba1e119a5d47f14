"""The ``expect`` checks and the result of a scenario: what the journal, the host and the devices hold.

The result is read back from where a real terminal keeps things (the store's
journal and settlements, the host simulator's ledger, the printed paper, the
display) rather than from the runner's memory, so it is the same after a power
cut as before it. A mixin of ``ScenarioRunner`` (``runner``).
"""

from __future__ import annotations

from firmware.scenario.steps import Scenario, Step

__all__ = ["ReportMixin"]


class ReportMixin:
    """Checking and reporting of ``ScenarioRunner``; state lives on the runner."""

    # -- checking and reporting -------------------------------------------------
    def _expect(self, step: Step) -> None:
        checks = step.value
        result = self.snapshot()
        last = result["transactions"][-1] if result["transactions"] else {}
        fail = []
        if "state" in checks and result["state"] != checks["state"]:
            fail.append(f"state is {result['state']}, expected {checks['state']}")
        for key in ("outcome", "response_code", "reason"):
            if key in checks and last.get(key) != checks[key]:
                fail.append(f"last transaction {key} is {last.get(key)!r}, expected {checks[key]!r}")
        if "display" in checks and not any(checks["display"] in line for line in result["display"]):
            fail.append(f"display does not show {checks['display']!r}: {result['display']}")
        paper, alerts, notes = self.devices["printer"].text, result["alerts"], result["notes"]
        last, start = self._expect_run
        if step.index != last + 1:  # a new run of expect steps: it reads from where the last run ended
            start = self.expected_upto
        self._expect_run = (step.index, start)
        p0, a0, n0 = start
        self.expected_upto = (len(paper), len(alerts), len(notes))
        if "printed" in checks and checks["printed"] not in paper[p0:]:
            fail.append(f"nothing printed since the last check contains {checks['printed']!r}")
        if "alerts" in checks and not any(checks["alerts"] in f"{c} {t}" for c, t in alerts[a0:]):
            fail.append(f"no alert since the last check mentions {checks['alerts']!r}")
        if "notes" in checks and not any(checks["notes"] in f"{c} {t}" for c, t in notes[n0:]):
            fail.append(f"no note since the last check mentions {checks['notes']!r}")
        if "journal_count" in checks and len(result["transactions"]) != checks["journal_count"]:
            fail.append(f"journal has {len(result['transactions'])} records, expected {checks['journal_count']}")
        if "ledger_postings" in checks:
            if result["host_ledger"] is None:  # an external host: its books are not ours to read
                self.skipped.append(f"step {step.index}: ledger_postings (external host)")
            elif len(result["host_ledger"]["postings"]) != checks["ledger_postings"]:
                n = len(result["host_ledger"]["postings"])
                fail.append(f"host ledger has {n} postings, expected {checks['ledger_postings']}")
        self.failures += [f"step {step.index}: {f}" for f in fail]

    def snapshot(self) -> dict:
        from storage.store import Store

        store = self.runner.store if self.runner is not None else Store.open(self.data_dir)
        try:
            listed = list(store.listing())  # each record with what names it, and a stored advice's answer
            boot = store.boot_state()
            settlements = [store.settlement(b) for b in store.settled_batches()]
        finally:
            if self.runner is None:
                store.close()
        receipts: dict[int, list[str]] = {}
        printer = self.devices.get("printer")
        texts = list(printer.receipts) if printer is not None else []
        order = self._printed_order()
        for (txn_no, _copy), text in zip(order, texts):
            receipts.setdefault(txn_no, []).append(text)
        display = self.devices.get("display")
        return {
            "state": self.runner.core.state.value if self.runner is not None else "off",
            "transactions": [
                {
                    "txn_no": r.txn_no,
                    "kind": r.kind.value,
                    "outcome": r.state.value,
                    "amount": r.amount,
                    "stan": f"{r.stan:06d}",
                    "batch": f"{r.batch:06d}",
                    "rrn": r.rrn,
                    "auth_code": r.auth_code,
                    "response_code": r.response_code,
                    "reason": r.reason,
                    "masked_pan": r.masked_pan,
                    "original_stan": f"{r.original.stan:06d}" if r.original is not None else None,
                    "orig_auth": (r.reference.auth_code or None) if r.reference is not None else None,
                    "voided_by": e.voided_by,
                    "refunded": e.refunded,
                    # a stored advice's (offline sale, completion) answer once it came: an issuer's refusal
                    # takes it out of the batch's totals though the record stays offline_approved
                    "advice": ({"response_code": r.advice.code, "accepted": r.advice.accepted}
                               if r.advice is not None else None),
                    "receipts": receipts.get(r.txn_no, []),
                }
                for e in listed
                for r in (e.record,)
            ],
            "settlements": [
                {
                    "batch": f"{s.batch:06d}",
                    "result": s.result.name.lower(),
                    "uploaded": s.uploaded,
                    "debit_count": s.totals.debit_count,
                    "debit_amount": s.totals.debit_amount,
                    "credit_count": s.totals.credit_count,
                    "credit_amount": s.totals.credit_amount,
                    "completion_count": s.totals.completion_count,
                    "completion_amount": s.totals.completion_amount,
                    "completion_void_count": s.totals.completion_void_count,
                    "completion_void_amount": s.totals.completion_void_amount,
                }
                for s in settlements
            ],
            "host_ledger": (
                {
                    "summary": self.processor.ledger.summary(),
                    "postings": self.processor.ledger.postings(),
                    "messages": self.processor.ledger.messages(),
                    "batches": self.processor.ledger.batches(),
                    "uploads": self.processor.ledger.uploads(),
                    "upload_ends": self.processor.ledger.upload_ends(),
                }
                if self.processor is not None
                else None
            ),
            "display": list(display.lines) if display is not None else [],
            "alerts": [list(a) for a in self._alerts()],
            "notes": [list(n) for n in self._notes()],
            "owed": {"reversals": len(boot.reversals), "advices": len(boot.advices), "receipts": len(boot.receipts)},
            "keys": self.runner.core.keys.value if self.runner is not None else None,
            "power_cuts": list(self.power_cuts),
        }

    def _printed_order(self) -> list[tuple[int, str]]:
        order = list(self._printed_before)
        if self.runner is not None:
            order += self.runner.printed
        return order

    def _notes(self) -> list[tuple[str, str]]:
        out = list(self._notes_before)
        if self.runner is not None:
            out += self.runner.notes
        return out

    def _alerts(self) -> list[tuple[str, str]]:
        out = list(self._alerts_before)
        if self.runner is not None:
            out += self.runner.alerts
        return out

    def result(self, scenario: Scenario) -> dict:
        out = self.snapshot()
        out = {
            "scenario": scenario.name,
            "ok": not self.failures,
            "failures": list(self.failures),
            "skipped_checks": list(self.skipped),
            **out,
        }
        return out
