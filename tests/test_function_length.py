"""No function in src/ is longer than 60 lines (issue 10): long ones are split into named
steps (validate -> prepare -> compute -> format)."""

from __future__ import annotations

import ast
from pathlib import Path

LIMIT = 60
SRC = Path(__file__).resolve().parents[1] / "src"


def test_no_function_in_src_exceeds_60_lines():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > LIMIT:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length})")
    assert not long, "functions over 60 lines: " + ", ".join(long)
