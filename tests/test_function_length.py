"""No function in src/ is longer than 60 lines (issue 10): long ones are split into named
steps (validate -> prepare -> compute -> format).

The docstring is not counted: every exported function carries numpydoc Parameters and
Returns sections (issue 20, tests/test_docstrings.py), and documenting a parameter is not
a step to split out."""

from __future__ import annotations

import ast
from pathlib import Path

LIMIT = 60
SRC = Path(__file__).resolve().parents[1] / "src"


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0]
    is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return (
        first.end_lineno - first.lineno + 1 if is_doc and isinstance(first.value.value, str) else 0
    )


def test_no_function_in_src_exceeds_60_lines():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1 - _docstring_lines(node)
                if length > LIMIT:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length})")
    assert not long, "functions over 60 lines: " + ", ".join(long)
