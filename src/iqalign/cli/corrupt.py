"""``iqalign corrupt``: write an ImageNet-C-layout data set from any folder of images."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from iqalign.cli._common import console, handle_errors

__all__ = ["corrupt_command"]


@handle_errors
def corrupt_command(
    data: Annotated[str, typer.Option("--data", help="'demo' or a folder of images.")],
    out: Annotated[str, typer.Option("--out", help="Output folder (re-run to resume).")],
    corruptions: Annotated[
        str, typer.Option("--corruptions", help="all (the 15) | extra (the 4) | NAMES.")
    ] = "all",
    severities: Annotated[str, typer.Option("--severities", help="e.g. 1-5 or 1,3,5.")] = "1-5",
    impl: Annotated[
        str,
        typer.Option("--impl", help="imagenet-c (the original code, 224 px) | imagecorruptions."),
    ] = "imagenet-c",
    layout: Annotated[
        str | None, typer.Option("--layout", help="imagenet | folder (guessed).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="Label file (CSV file,label; devkit).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Run seed (as in 'iqalign score').")] = 0,
    workers: Annotated[
        int, typer.Option("--workers", help="Processes (-1: one per CPU core).")
    ] = -1,
    limit: Annotated[int, typer.Option("--limit", help="Only the first N images.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Corrupt images as ImageNet-C did: <out>/<corruption>/<severity>/<class>/<file>.JPEG.

    Each image: Resize(256), CenterCrop(224), corrupt (seeded by its image ID, as
    on-the-fly scoring), JPEG quality 85. 'iqalign score --layout imagenet-c' reads it.
    """
    from iqalign.cli.score import _RichProgress
    from iqalign.scoring.corruptions.dataset import MANIFEST_NAME, corrupt_dataset

    result = corrupt_dataset(
        data, out, layout=layout, labels=labels, corruptions=corruptions,
        severities=severities, impl=impl, seed=seed, workers=workers, limit=limit,
        progress=None if quiet else _RichProgress("corrupting"),
    )  # fmt: skip
    summary = Table(box=None, show_header=False, pad_edge=False)
    summary.add_row("out", Text(str(result.out)))
    summary.add_row("files", Text(f"{result.written} written, {result.existing} already there"))
    summary.add_row("skipped", Text(f"{len(result.skipped)} images (see {MANIFEST_NAME})"))
    console.print(summary)
