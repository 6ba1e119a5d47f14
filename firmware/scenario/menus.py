"""The scenario steps that walk the function menu: void, refund, the pre-auth family, the operators.

Each is several key presses with the terminal run between them, and each stops
where the terminal does not go on as the step expects (a refused trace, a
supervisor's prompt with no password given), so a scenario can check that
stop. A mixin of ``ScenarioRunner`` (``runner``): the devices, the runner and
``_safely`` live there.
"""

from __future__ import annotations

from firmware.config import Config
from firmware.core.model import State
from firmware.runner import Runner
from firmware.scenario.steps import Step

__all__ = ["MenuStepsMixin"]


class MenuStepsMixin:
    """Menu walks of ``ScenarioRunner``; state lives on the runner."""

    def _void(self, step: Step, keys: str = "F4") -> None:
        """Menu, 4, the trace, ENTER; once the original is shown, ENTER again to confirm it (a completion's
        void: menu, 0, 4)."""
        runner = self._need_runner(step)
        pad = self.devices["pinpad"]
        pad.press(keys)
        self._safely(lambda: None)
        if not self._supervisor(runner, step.value["supervisor"]):
            return
        pad.press(f"{step.value['trace']}#")
        self._safely(lambda: None)
        if step.value["confirm"] and self.runner is runner and runner.core.state is State.CONFIRM:
            pad.press("#")
            self._safely(lambda: None)

    def _named(self, step: Step, keys: str, number: str) -> None:
        """A refund (F 6, by RRN) or a pre-auth's cancel or completion (F 0 2 / F 0 3, by authorisation
        code): the menu keys, the supervisor's password if guarded, the number, ENTER, the date, ENTER;
        once the original is shown, ENTER, then the amount."""
        runner = self._need_runner(step)
        pad, value = self.devices["pinpad"], step.value
        date = value["date"] or runner.clock().strftime("%m%d")
        pad.press(keys)
        self._safely(lambda: None)
        if not self._supervisor(runner, value["supervisor"]):
            return
        pad.press(f"{number}#{date}#")
        self._safely(lambda: None)
        if not value["confirm"] or self.runner is not runner or runner.core.state is not State.CONFIRM:
            return
        pad.press("#")
        self._safely(lambda: None)
        if value["amount"] is not None and self.runner is runner and runner.core.state is State.AMOUNT:
            pad.press(f"{value['amount']}#")
            self._safely(lambda: None)

    def _supervisor(self, runner: Runner, password: str | None) -> bool:
        """At the supervisor's prompt: type the password if the step gives one. False: stop the step here."""
        if self.runner is not runner or runner.core.state is not State.SUPERVISOR:
            return self.runner is runner and runner.core.state not in (State.IDLE, State.MENU)
        if password is None:
            return False
        self.devices["pinpad"].press(f"{password}#")
        self._safely(lambda: None)
        return self.runner is runner and runner.core.state not in (State.IDLE, State.MENU)

    def _operator(self, step: Step, config: Config) -> None:
        """``add_operator``, ``sign_in``, ``sign_out``, ``supervisor``: see ``firmware.scenario``."""
        runner = self._need_runner(step)
        pad, value = self.devices["pinpad"], step.value
        if step.kind == "add_operator":
            from crypto.passwords import KdfCost, Password
            from storage.operators import SUPERVISOR, OperatorBook

            book = OperatorBook(runner.store.conn, cost=KdfCost(config.operators.kdf_cost))
            with Password(value["password"]) as password:
                if value["operator"] == SUPERVISOR:
                    book.passwd(SUPERVISOR, password, runner.clock())
                else:
                    book.add(value["operator"], password, runner.clock())
            return
        if step.kind == "sign_in":
            pad.press(f"{value['operator']}#{value['password']}#")
        elif step.kind == "sign_out":
            pad.press("F*")
        else:
            pad.press(f"{value}#")
        self._safely(lambda: None)
