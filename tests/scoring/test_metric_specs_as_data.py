"""What a metric needs is data on its spec: no metric name is compared in code elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path

import iqalign
from iqalign.scoring.metrics.registry import METRIC_SPECS, get_metric_spec

SRC = Path(iqalign.__file__).parent
# The registry, and the module that implements the logit scores the registry's rows point
# at (its "entropy", "maxprob" are score kinds, not metric names).
ALLOWED = {
    SRC / "scoring" / "metrics" / "registry.py",
    SRC / "scoring" / "metrics" / "confidence.py",
}


def _compared_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants on either side of ==, !=, in, not in, or given to startswith."""
    found = []
    for node in ast.walk(tree):
        operands: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "startswith":
            operands = list(node.args)
        for operand in operands:
            items = (
                operand.elts if isinstance(operand, ast.Tuple | ast.List | ast.Set) else [operand]
            )
            found += [(node.lineno, i.value) for i in items
                      if isinstance(i, ast.Constant) and isinstance(i.value, str)]  # fmt: skip
    return found


def test_no_metric_name_is_compared_outside_the_registry():
    names = set(METRIC_SPECS)
    hits = [
        f"{path.relative_to(SRC)}:{line}: {value!r}"
        for path in SRC.rglob("*.py") if path not in ALLOWED
        for line, value in _compared_strings(ast.parse(path.read_text()))
        if value in names or value.rstrip("_") in names
    ]  # fmt: skip
    assert hits == []


def test_what_a_metric_needs_is_on_its_spec():
    assert get_metric_spec("tg_maxprob").logit_score == "maxprob"
    assert get_metric_spec("tg_entropy").logit_score == "entropy"
    assert get_metric_spec("zsclip_maxlogit").logit_score == "maxlogit"
    assert get_metric_spec("brisque").readiness.endswith(":live_model_installed")
    assert get_metric_spec("brisque").worker == "iqalign.scoring.metrics.brisque:worker_scorer"
    assert all(spec.worker is None for name, spec in METRIC_SPECS.items() if name != "brisque")
