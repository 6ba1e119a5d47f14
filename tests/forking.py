"""A power cut at the n-th step of some work: the work runs in a forked child that ``_exit``s there.

``os._exit`` skips every cleanup and flush in the child, as a power cut would
(the kernel's page cache survives it, so sync order needs its own test).
"""

from __future__ import annotations

import os
from collections.abc import Callable

CUT = 9  # the child's exit status when it died at the chosen step


def run_in_child(work: Callable[[Callable[[object], None]], None], die_at: int | None) -> int:
    """Fork, run ``work(hook)`` in the child, where ``hook`` is called at each step and exits with
    ``CUT`` at the ``die_at``-th call (never when ``die_at`` is None). Returns the child's exit
    code: 0 done, 1 the work raised, ``CUT`` cut."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            seen = 0

            def hook(step: object) -> None:
                nonlocal seen
                seen += 1
                if seen == die_at:
                    os._exit(CUT)

            work(hook)
        except BaseException:  # noqa: BLE001 (the child reports by exit status, never by traceback)
            code = 1
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
