"""Run a command as if this Python environment held only the GPU machine's packages.

The GPU machine's image has a fixed set of Python packages (``scripts/device_packages.txt``)
and no internet; what it lacks travels as wheels (``scripts/device_wheels``). To find out
here whether anything is missing, this runs a command with an import hook in every Python
process it starts (a ``sitecustomize`` put first on ``PYTHONPATH``): a top-level module
that this environment's site-packages would provide, from a distribution not on that
list, raises ``ModuleNotFoundError`` as it would there. Modules from anywhere else -- the
standard library, ``src/``, a ``--target`` folder of carried wheels -- import as usual.
Requirements of those packages *as installed here* stay importable too (this
environment's ``huggingface_hub`` needs ``httpx2``, the GPU machine's older one ``httpx``):
they come with the package there. Every blocked name is listed at the end (optional
imports, such as torch's ``dill``, are blocked too and do no harm).

    python scripts/device_imports.py -- python benchmarks/gpu_check.py --install --quick

Exit status: the command's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

PACKAGES = Path(__file__).with_name("device_packages.txt")

HOOK = """
import importlib.machinery, json, os, sys

with open(os.environ["IQALIGN_DEVICE_IMPORTS"]) as _file:
    _RULES = json.load(_file)
_SITE = _RULES["site"] + os.sep
_ALLOWED = set(_RULES["allowed"])


class _DevicePathFinder(importlib.machinery.PathFinder):
    # The path finder, blind to what the GPU machine lacks: `import` raises
    # ModuleNotFoundError and importlib.util.find_spec returns None, as there.
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        spec = super().find_spec(name, path, target)
        if spec is None or path is not None:  # submodules follow their package
            return spec
        where = spec.origin or next(iter(spec.submodule_search_locations or []), "")
        where = os.path.realpath(where or "")
        if not where.startswith(_SITE):
            return spec
        owners = _RULES["owners"].get(where[len(_SITE):].split(os.sep)[0], [])
        if not owners or set(owners) & _ALLOWED:
            return spec
        # There, the next place on the path serves it (setuptools' vendored copies).
        rest = [p for p in sys.path if os.path.realpath(p or ".") + os.sep != _SITE]
        elsewhere = super().find_spec(name, rest, target)
        if elsewhere is None:
            with open(_RULES["log"], "a") as log:
                log.write(f"{name} {'/'.join(owners)} {os.getpid()}\\n")
        return elsewhere


sys.meta_path[:] = [
    _DevicePathFinder if f is importlib.machinery.PathFinder else f for f in sys.meta_path
]
"""


def normalize(name: str) -> str:
    """A distribution name as pip compares them (``PyYAML`` -> ``pyyaml``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_packages(path: Path = PACKAGES) -> list[str]:
    """The normalised names of ``device_packages.txt`` (one a line, ``#`` comments)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return sorted({normalize(line) for line in lines if line})


def with_requirements(names: list[str]) -> tuple[list[str], list[str]]:
    """``names`` and, transitively, what their installed versions here require.

    Returns (all allowed names, the added ones).
    """
    from packaging.requirements import Requirement

    installed = {normalize(d.metadata["Name"] or ""): d for d in metadata.distributions()}
    allowed, todo = set(names), [n for n in names if n in installed]
    while todo:
        for text in installed[todo.pop()].requires or ():
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = normalize(requirement.name)
            if name in installed and name not in allowed:
                allowed.add(name)
                todo.append(name)
    return sorted(allowed), sorted(allowed - set(names))


def site_owners(site: str) -> dict[str, list[str]]:
    """First path component under ``site`` -> the distributions whose files hold it."""
    owners: dict[str, set[str]] = {}
    for dist in metadata.distributions(path=[site]):
        name = normalize(dist.metadata["Name"] or "")
        for file in dist.files or ():
            top = file.parts[0]
            if not top.endswith((".dist-info", ".egg-info")) and top not in ("..", "__pycache__"):
                owners.setdefault(top, set()).add(name)
    return {top: sorted(names) for top, names in owners.items()}


def main(argv: list[str]) -> int:
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print(__doc__)
        return 2
    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory(prefix="iqalign-device-imports-") as tmp:
        folder = Path(tmp)
        log = folder / "blocked.log"
        log.touch()
        allowed, added = with_requirements(read_packages())
        rules = {"site": site, "allowed": allowed, "owners": site_owners(site), "log": str(log)}
        (folder / "rules.json").write_text(json.dumps(rules))
        (folder / "sitecustomize.py").write_text(HOOK)
        env = dict(os.environ, IQALIGN_DEVICE_IMPORTS=str(folder / "rules.json"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tmp, env.get("PYTHONPATH")]))
        code = subprocess.call(command, env=env)
        blocked = sorted({" ".join(line.split()[:2]) for line in log.read_text().splitlines()})
    print(
        f"device_imports: allowed as requirements of the GPU machine's packages here: "
        f"{', '.join(added)}"
    )
    print(f"device_imports: blocked (not on the GPU machine): {', '.join(blocked) or 'nothing'}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
