"""``iqalign quality``: score image files as they are, one row per image.

Like pyiqa's command line: no resize, no crop, no corruption; each image is scored at its
own size by :func:`iqalign.scoring.create_metric`. Full-reference metrics compare with
``--reference`` (one file for all images, or one per image, in order).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from iqalign.cli._common import console, handle_errors
from iqalign.errors import ScoringConfigError

__all__ = ["quality"]

FORMATS = ("table", "csv", "json")


@handle_errors
def quality(
    images: Annotated[list[Path], typer.Argument(help="Image files to score.")],
    metrics: Annotated[
        str, typer.Option("--metrics", help="Metric names, comma-separated.")
    ] = "brisque,piqe,tv",
    output_format: Annotated[str, typer.Option("--format", help="table | csv | json.")] = "table",
    reference: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference",
            help="Reference image for full-reference metrics "
            "(once for all images, or once per image).",
        ),
    ] = None,
) -> None:
    """Score images at their own size (no resize or crop): one row per image."""
    from iqalign.scoring.metrics.registry import create_metric, get_metric_spec

    if output_format not in FORMATS:
        raise ScoringConfigError(f"--format {output_format!r}: expected one of {FORMATS}")
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if not names:
        raise ScoringConfigError("--metrics is empty: name at least one metric")
    specs = [get_metric_spec(n) for n in names]  # unknown names fail here, with suggestions
    _check_metric_kinds(names, specs, reference)
    pictures = [_read(p) for p in images]
    refs = _references(reference, len(images))
    columns = {name: create_metric(name)(pictures, refs if spec.needs_reference else None)
               for name, spec in zip(names, specs, strict=True)}  # fmt: skip
    rows = [{"image": str(p), **{n: float(v[i]) for n, v in columns.items()}}
            for i, p in enumerate(images)]  # fmt: skip
    _print(rows, names, output_format)


def _check_metric_kinds(names: list[str], specs: list[Any], reference: list[Path] | None) -> None:
    for name, spec in zip(names, specs, strict=True):
        if spec.source is not None:
            raise ScoringConfigError(
                f"metric {name!r} reads a classifier's logits; 'iqalign quality' scores image "
                "metrics only (use 'iqalign score' for it)"
            )
        if spec.needs_reference and not reference:
            raise ScoringConfigError(
                f"metric {name!r} is full-reference: give the clean image with --reference REF"
            )


def _read(path: Path) -> Any:
    import numpy as np

    from iqalign.scoring.data.images import decode_image

    return np.asarray(decode_image(path))


def _references(reference: list[Path] | None, count: int) -> list[Any] | None:
    if not reference:
        return None
    if len(reference) not in (1, count):
        raise ScoringConfigError(
            f"--reference given {len(reference)} times for {count} images: give it once "
            "(one reference for all) or once per image"
        )
    pictures = [_read(p) for p in reference]
    return pictures * count if len(pictures) == 1 else pictures


def _print(rows: list[dict[str, Any]], names: list[str], output_format: str) -> None:
    if output_format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    elif output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["image", *names], lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: repr(v) if isinstance(v, float) else v for k, v in row.items()}
                         for row in rows)  # fmt: skip
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table("image", *names, box=None, pad_edge=False)
        for row in rows:
            table.add_row(Text(row["image"]), *(Text(f"{row[n]:.4f}") for n in names))
        console.print(table)
