"""A griffe extension: the lazily exported names of ``iqalign.scoring`` as members.

``iqalign.scoring`` imports nothing at import time (torch must not load): its ``__all__``
names resolve through the ``_WHERE`` map in ``__getattr__`` (PEP 562). Static analysis
sees no members for them, so this extension reads ``_WHERE`` and adds one alias per name,
pointing where ``__getattr__`` would import it from. The docs site (mkdocs.yml) and
tests/test_docstrings.py load it, so both follow ``_WHERE`` when modules move.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe

PACKAGE = "iqalign.scoring"


def lazy_exports(module: griffe.Module) -> dict[str, str]:
    """``{name: target path}`` for every name of ``module``'s ``_WHERE`` map (may be empty).

    Parameters
    ----------
    module
        A module loaded by griffe (statically).

    Returns
    -------
    dict[str, str]
        Each exported name and the full path of the object it resolves to.
    """
    where = module.members.get("_WHERE")
    if where is None or where.value is None:
        return {}
    mapping = ast.literal_eval(str(where.value))
    return {name: f"{module.path}.{sub}.{name}" for name, sub in mapping.items()}


class LazyExports(griffe.Extension):
    """Add ``iqalign.scoring``'s lazy exports as aliases once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.path != PACKAGE.split(".")[0]:
            return
        module = pkg[PACKAGE.split(".", 1)[1]]
        for name, target in lazy_exports(module).items():
            if name not in module.members:
                module.set_member(name, griffe.Alias(name, target, parent=module))
