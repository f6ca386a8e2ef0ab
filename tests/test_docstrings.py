"""Every exported function has a numpydoc ``Parameters`` and ``Returns`` section.

"Exported" means named in the ``__all__`` of a public package: ``iqalign.causal``,
``iqalign.stats``, ``iqalign.scores``, ``iqalign.scoring`` (its lazy ``__all__``,
resolved through ``_WHERE`` by the same griffe extension the docs site uses),
``iqalign.report`` and ``iqalign.errors``. The docstrings are read by static analysis
(griffe), so nothing is imported: no torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe")

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["causal", "stats", "scores", "scoring", "report", "errors"]


def _load() -> griffe.Module:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from griffe_lazy_exports import LazyExports
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return griffe.load(
        "iqalign",
        search_paths=[str(ROOT / "src")],
        allow_inspection=False,
        docstring_parser="numpy",
        extensions=griffe.load_extensions(LazyExports()),
    )


def _exported_functions() -> list[tuple[str, griffe.Function]]:
    pkg = _load()
    found = []
    # the top-level package (the five jobs' names) and each layer
    for prefix, module in [("iqalign", pkg)] + [(f"iqalign.{p}", pkg[p]) for p in PACKAGES]:
        for export in module.exports or []:
            name = export if isinstance(export, str) else export.name
            if name not in module.members:
                continue  # a constant spelt in __all__ only (iqalign.__version__)
            obj = module.members[name]
            obj = obj.final_target if obj.is_alias else obj
            if obj.is_function:
                found.append((f"{prefix}.{name}", obj))
    return found


FUNCTIONS = _exported_functions()


def test_the_walk_finds_the_exports():
    names = {name for name, _ in FUNCTIONS}
    assert {
        "iqalign.causal.check_claim",
        "iqalign.scoring.score",
        "iqalign.stats.predictability",
        "iqalign.scoring.plan_run",
        "iqalign.errors.did_you_mean",
        "iqalign.read_run",
        "iqalign.run_analysis",
    } <= names


def _problems(function: griffe.Function) -> list[str]:
    if function.docstring is None:
        return ["no docstring"]
    sections = {section.kind.value: section for section in function.docstring.parsed}
    problems = []
    wanted = [p.name for p in function.parameters if p.name not in ("self", "cls")]
    if wanted:
        if "parameters" not in sections:
            problems.append("no Parameters section")
        else:
            documented = {p.name.lstrip("*") for p in sections["parameters"].value}
            missing = [name for name in wanted if name not in documented]
            if missing:
                problems.append(f"Parameters lacks {missing}")
    returns_none = function.returns is not None and str(function.returns) == "None"
    if not returns_none and "returns" not in sections and "yields" not in sections:
        problems.append("no Returns (or Yields) section")
    return problems


@pytest.mark.parametrize(("name", "function"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_exported_function_has_numpydoc_sections(name, function):
    problems = _problems(function)
    assert problems == [], f"{name} ({function.filepath.name}:{function.lineno}): {problems}"
