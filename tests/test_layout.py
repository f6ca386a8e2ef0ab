"""The house a newcomer walks (issue 20): each layer's rooms are few, and every import
points down.

- ``stats/`` and ``scoring/`` have at most ten entries each at their top level;
- no module imports another sub-package's private module or private name (``_name``);
- inside ``stats``: core <- analyses <- estimation, runner; inside ``scoring``: data <-
  corruptions, models <- metrics <- run (a lower room never imports a higher one).

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "iqalign"

# Rank of each room: a module may import only rooms of lower or equal rank.
RANKS = {
    "iqalign.stats.core": 0,
    "iqalign.stats.analyses": 1,
    "iqalign.stats.estimation": 2,
    "iqalign.stats.runner": 3,
    "iqalign.scoring.data": 0,
    "iqalign.scoring.corruptions": 1,
    "iqalign.scoring.models": 1,
    "iqalign.scoring.metrics": 2,
    "iqalign.scoring.run": 3,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from iqalign.stats.estimation import _base` imports a module too
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name.startswith("iqalign.")]


def _room(module: str) -> str | None:
    return next((room for room in RANKS if module == room or module.startswith(room + ".")), None)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, _module_name(path)


def test_stats_and_scoring_have_few_rooms_at_the_top():
    for layer in ("stats", "scoring"):
        entries = [p.name for p in (PACKAGE / layer).iterdir() if p.name != "__pycache__"]
        assert len(entries) <= 10, f"{layer}/ has {len(entries)} entries: {sorted(entries)}"


def test_nothing_private_is_imported_from_outside_its_room():
    existing = {name for _, name in _modules()}
    wrong = []
    for path, module in _modules():
        for line, name in _imports(path):
            parts = name.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.endswith("__")]
            if not private:
                continue
            owner = ".".join(parts[: private[0]])  # the module or package it belongs to
            # a private module belongs to its package; a private name to its module's room
            home = (
                owner
                if owner + "." + parts[private[0]] in existing
                else _room(owner) or owner.rsplit(".", 1)[0]
            )
            if not (module == home or module.startswith(home + ".")):
                wrong.append(f"{path.relative_to(SRC)}:{line} imports {name}")
    assert not wrong, "private modules or names imported from outside their room:\n" + "\n".join(
        wrong
    )


def test_every_import_points_down():
    upward = []
    for path, module in _modules():
        room = _room(module)
        if room is None:
            continue
        for line, name in _imports(path):
            target = _room(name)
            if (
                target
                and target.split(".")[1] == room.split(".")[1]
                and RANKS[target] > RANKS[room]
            ):
                upward.append(f"{path.relative_to(SRC)}:{line} ({room}) imports {name} ({target})")
    assert not upward, "imports pointing up:\n" + "\n".join(upward)
