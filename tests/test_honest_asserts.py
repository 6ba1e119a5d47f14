"""Honest tests: no assertion hides a claim in its message.

``assert r["ok"], r["failures"] and mtis(r) == ["0200"]`` checks only ``r["ok"]``: the comparison
is the message, evaluated only when the assertion has already failed. Seven such claims were found
in the suite (session 9) and split into assertions of their own; this keeps new ones out.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_assertion_message_is_itself_a_claim():
    hidden = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Assert) and isinstance(node.msg, ast.BoolOp | ast.Compare):
                hidden.append(f"{path.relative_to(TESTS)}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert not hidden, "assertions whose message is a claim that is never checked:\n" + "\n".join(hidden)
