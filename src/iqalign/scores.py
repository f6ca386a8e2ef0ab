"""The scores table: the contract between scoring and statistics, owned here.

One row per scored image. Key columns (:data:`KEY_COLUMNS`): ``image_id`` (the clean
source image X0), ``label`` (Y), ``corruption`` and ``severity`` (a clean row has
``corruption == CLEAN`` and severity 0), ``variant`` (mixture id, if any). Per task model
``<m>``: ``pred_<m>`` (argmax class) and ``correct_<m>`` (0/1). Per quality metric:
``q_<metric>`` or, for a Q computed from a classifier, ``q_<metric>_<source>``; every
name part is a :func:`slug`. A run folder holds the table as Parquet shards under
``shards/`` and a ``manifest.json`` whose ``columns`` entry describes each ``q_*`` column
(:class:`MetricInfo`: metric, family, orientation, source model).

Every layer builds and parses column names with the functions here; no other module
spells the prefixes. Reading a run (:func:`read_run`, :func:`read_manifest`,
:func:`load_scores`) raises one set of errors: :class:`~iqalign.errors.ScoresNotFoundError`
when nothing is there, :class:`~iqalign.errors.ScoresTableError` when what is there
cannot be read.

This module imports neither torch nor pandas at import time.

Examples
--------
>>> quality_column("clipiqa+"), quality_column("tg_maxlogit", "timm:resnet50.a1_in1k")
('q_clipiqa_plus', 'q_tg_maxlogit_timm_resnet50_a1_in1k')
>>> performance_column("timm_resnet50"), model_of("correct_timm_resnet50")
('correct_timm_resnet50', 'timm_resnet50')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqalign.errors import ScoresNotFoundError, ScoresTableError
from iqalign.imagenet_c import CLEAN

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "CLEAN",
    "CLEAN_SEVERITY",
    "FAMILIES",
    "KEY_COLUMNS",
    "MANIFEST_NAME",
    "PERFORMANCE_PREFIX",
    "PREDICTION_PREFIX",
    "QUALITY_PREFIX",
    "MetricInfo",
    "ModelInfo",
    "is_performance_column",
    "is_quality_column",
    "list_models",
    "list_quality_columns",
    "load_log_probs",
    "load_scores",
    "model_of",
    "performance_column",
    "prediction_column",
    "quality_column",
    "read_manifest",
    "read_metric_infos",
    "read_model_infos",
    "read_run",
    "slug",
]

QUALITY_PREFIX = "q_"
PERFORMANCE_PREFIX = "correct_"
PREDICTION_PREFIX = "pred_"
KEY_COLUMNS: tuple[str, ...] = ("image_id", "label", "corruption", "severity", "variant")
CLEAN_SEVERITY = 0
MANIFEST_NAME = "manifest.json"
#: Families of quality metric; the manifest records one per ``q_*`` column and a DAG's
#: ``applies_to`` names the families whose story it tells. ``unknown``: no manifest entry.
FAMILIES: tuple[str, ...] = (
    "classic_nr",
    "classic_fr",
    "tv",
    "strong_tg",
    "zsclip",
    "accuracy_estimator",
)
UNKNOWN_FAMILY = "unknown"


def slug(name: str) -> str:
    """Column-safe form of a name: lower case, ``+`` -> ``_plus``, other symbols -> ``_``.

    Parameters
    ----------
    name
        A registry name (metric or model).

    Returns
    -------
    str
        The name as it appears in column names.

    Examples
    --------
    >>> slug("ViT-B-32"), slug("clipiqa+"), slug("timm:resnet50.a1_in1k")
    ('vit_b_32', 'clipiqa_plus', 'timm_resnet50_a1_in1k')
    """
    text = name.lower().replace("+", "_plus_")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def quality_column(metric: str, source: str | None = None) -> str:
    """``q_<slug(metric)>``, or ``q_<slug(metric)>_<slug(source)>`` for a classifier's Q
    (a ``clip:`` prefix of the source is not part of the name).

    Parameters
    ----------
    metric
        The metric's registry name.
    source
        The classifier (or CLIP model) the Q comes from; ``None`` for an image metric.

    Returns
    -------
    str
        The column name.
    """
    if source is None:
        return f"{QUALITY_PREFIX}{slug(metric)}"
    return f"{QUALITY_PREFIX}{slug(metric)}_{slug(source.removeprefix('clip:'))}"


def performance_column(model: str) -> str:
    """``correct_<model>`` (``model`` as the table spells it: the slug of its registry
    name): 1 where the model's prediction is correct.

    Parameters
    ----------
    model
        The model's slug.

    Returns
    -------
    str
        The column name.
    """
    return f"{PERFORMANCE_PREFIX}{model}"


def prediction_column(model: str) -> str:
    """``pred_<model>``: the model's argmax class.

    Parameters
    ----------
    model
        The model's slug.

    Returns
    -------
    str
        The column name.
    """
    return f"{PREDICTION_PREFIX}{model}"


def is_quality_column(column: object) -> bool:
    """Whether ``column`` names a quality column (``q_*``).

    Parameters
    ----------
    column
        A column name (any object; compared as text).

    Returns
    -------
    bool
        True for a ``q_*`` column.
    """
    return str(column).startswith(QUALITY_PREFIX)


def is_performance_column(column: object) -> bool:
    """Whether ``column`` names a performance column (``correct_*``).

    Parameters
    ----------
    column
        A column name (any object; compared as text).

    Returns
    -------
    bool
        True for a ``correct_*`` column.
    """
    return str(column).startswith(PERFORMANCE_PREFIX)


def model_of(column: str) -> str:
    """The model slug of a ``correct_*`` or ``pred_*`` column (a name without a prefix is
    returned as it is).

    Parameters
    ----------
    column
        A ``correct_*`` or ``pred_*`` column name.

    Returns
    -------
    str
        The model slug.
    """
    for prefix in (PERFORMANCE_PREFIX, PREDICTION_PREFIX):
        if column.startswith(prefix):
            return column.removeprefix(prefix)
    return column


def list_quality_columns(columns: Iterable[object]) -> list[str]:
    """The ``q_*`` columns among ``columns``, in order.

    Parameters
    ----------
    columns
        A table's column names.

    Returns
    -------
    list[str]
        The quality columns.
    """
    return [str(c) for c in columns if is_quality_column(c)]


def list_models(columns: Iterable[object]) -> list[str]:
    """The model slug of every ``correct_*`` column, in table order.

    Parameters
    ----------
    columns
        A table's column names.

    Returns
    -------
    list[str]
        The model slugs.
    """
    return [model_of(str(c)) for c in columns if is_performance_column(c)]


@dataclass(frozen=True)
class MetricInfo:
    """What the manifest says of one ``q_*`` column.

    ``source_model`` is the registry name of the classifier the Q comes from (``None``
    for a Q of the image alone); :meth:`is_from_model` compares it with a model *slug*
    of a ``correct_*`` column, the form the table uses.

    Examples
    --------
    >>> info = MetricInfo("q_tg_maxlogit_timm_resnet50", "tg_maxlogit", "strong_tg", True,
    ...                   "timm:resnet50")
    >>> info.name, info.source_slug, info.is_from_model("timm_resnet50")
    ('tg_maxlogit_timm_resnet50', 'timm_resnet50', True)
    """

    column: str
    metric: str
    family: str
    higher_is_better: bool | None
    source_model: str | None

    @property
    def name(self) -> str:
        return self.column.removeprefix(QUALITY_PREFIX)

    @property
    def source_slug(self) -> str | None:
        return None if self.source_model is None else slug(self.source_model)

    def is_from_model(self, model: str) -> bool:
        """Is this Q computed from the model whose correctness column is
        ``correct_<model>``? (``model`` as a slug or a registry name.)"""
        return self.source_model is not None and self.source_slug == slug(model)


def read_metric_infos(
    columns: Iterable[object], manifest: Mapping[str, Any] | None, models: Iterable[str] = ()
) -> dict[str, MetricInfo]:
    """One :class:`MetricInfo` per ``q_*`` column; a column the manifest does not
    describe gets family ``"unknown"`` and orientation ``None`` (never guessed).

    ``models`` (model slugs, e.g. from :func:`list_models`): an undescribed column whose
    name ends in ``_<slug>`` of one of them is read as that model's Q
    (``q_tg_maxprob_m`` -> metric ``tg_maxprob``, source ``m``); without it the whole name
    is the metric and the source is ``None``.

    Parameters
    ----------
    columns
        The table's column names.
    manifest
        The run's manifest; ``None`` or ``{}`` for a bare table.
    models
        The model slugs whose Q columns an undescribed name may end in.

    Returns
    -------
    dict[str, MetricInfo]
        One record per quality column, keyed by column, in table order.

    Examples
    --------
    >>> info = read_metric_infos(["q_tg_maxprob_m", "q_tv"], None, models=["m"])
    >>> info["q_tg_maxprob_m"].metric, info["q_tg_maxprob_m"].source_model
    ('tg_maxprob', 'm')
    >>> info["q_tv"].metric, info["q_tv"].source_model, info["q_tv"].family
    ('tv', None, 'unknown')
    """
    described = (manifest or {}).get("columns", {}) or {}
    slugs = sorted(models, key=len, reverse=True)  # the longest slug that ends the name
    infos = {}
    for column in list_quality_columns(columns):
        entry = described.get(column, {})
        name, source = column.removeprefix(QUALITY_PREFIX), entry.get("source_model")
        if not entry:
            source = next((m for m in slugs if name.endswith(f"_{m}")), None)
            name = name.removesuffix(f"_{source}") if source else name
        infos[column] = MetricInfo(
            column=column,
            metric=str(entry.get("metric", name)),
            family=str(entry.get("family", UNKNOWN_FAMILY)),
            higher_is_better=entry.get("higher_is_better"),
            source_model=source,
        )
    return infos


@dataclass(frozen=True)
class ModelInfo:
    """A task model of a run: its registry ``name`` (``timm:resnet50``, as the manifest's
    ``models`` record and a Q's ``source_model`` spell it) and its column ``slug``
    (``timm_resnet50``, as ``correct_<slug>`` and ``pred_<slug>`` spell it).

    Examples
    --------
    >>> info = ModelInfo("timm:resnet50", "timm_resnet50")
    >>> info.correct_column, info.pred_column
    ('correct_timm_resnet50', 'pred_timm_resnet50')
    >>> MetricInfo("q_x", "tg_maxprob", "strong_tg", True, info.name).is_from_model(info.slug)
    True
    """

    name: str
    slug: str

    @property
    def correct_column(self) -> str:
        return performance_column(self.slug)

    @property
    def pred_column(self) -> str:
        return prediction_column(self.slug)


def read_model_infos(
    columns: Iterable[object], manifest: Mapping[str, Any] | None
) -> dict[str, ModelInfo]:
    """One :class:`ModelInfo` per ``correct_*`` column, keyed by slug, in table order.

    The registry name comes from the manifest's ``models`` record whose
    ``correct_column`` is that column; a table without one (a bare Parquet file, an
    older run) names the model by its slug.

    Parameters
    ----------
    columns
        The table's column names.
    manifest
        The run's manifest; ``None`` or ``{}`` for a bare table.

    Returns
    -------
    dict[str, ModelInfo]
        One record per task model, keyed by slug.

    Examples
    --------
    >>> manifest = {"models": {"timm:resnet50": {"correct_column": "correct_timm_resnet50"}}}
    >>> read_model_infos(["correct_timm_resnet50", "correct_m"], manifest)
    {'timm_resnet50': ModelInfo(name='timm:resnet50', slug='timm_resnet50'), \
'm': ModelInfo(name='m', slug='m')}
    """
    records = (manifest or {}).get("models", {})
    names: dict[str, str] = {}
    if isinstance(records, Mapping):
        for name, record in records.items():
            column = record.get("correct_column") if isinstance(record, Mapping) else None
            if column:
                names[str(column)] = str(name)
    return {
        model_of(str(c)): ModelInfo(names.get(str(c), model_of(str(c))), model_of(str(c)))
        for c in columns
        if is_performance_column(c)
    }


def read_manifest(run_dir: str | Path, *, required: bool = True) -> dict[str, Any]:
    """The ``manifest.json`` of a run folder (``{}`` when absent and not ``required``).

    Parameters
    ----------
    run_dir
        The run folder.
    required
        Raise :class:`~iqalign.errors.ScoresNotFoundError` when there is no manifest.

    Returns
    -------
    dict[str, Any]
        The manifest.
    """
    path = Path(run_dir).expanduser() / MANIFEST_NAME
    if not path.is_file():
        if required:
            raise ScoresNotFoundError(
                f"{str(run_dir)!r} is not an iqalign run: no {MANIFEST_NAME}; create one with "
                "'iqalign score ... --out DIR' or 'iqalign demo'"
            )
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ScoresTableError(
            f"{path}: not valid JSON ({err}); restore it or re-run 'iqalign score'"
        ) from err
    if not isinstance(manifest, dict):
        raise ScoresTableError(f"{path}: expected a JSON object, found {type(manifest).__name__}")
    return manifest


def read_run(run_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The scores table and manifest of a run folder, or of a bare scores table (a Parquet
    file or folder of shards; its manifest is then ``{}``).

    Parameters
    ----------
    run_dir
        A run folder, a Parquet file or a folder of Parquet shards.

    Returns
    -------
    tuple[pandas.DataFrame, dict[str, Any]]
        The scores table and the manifest.
    """
    run = Path(run_dir).expanduser()
    if not run.exists():
        raise ScoresNotFoundError(
            f"{run}: no such Parquet file or run folder; create one with "
            f"'iqalign score ... --out {run}' or 'iqalign demo'"
        )
    manifest = read_manifest(run, required=False) if run.is_dir() else {}
    shards = run / "shards"
    return load_scores(shards if shards.is_dir() else run), manifest


def load_log_probs(run_dir: str | Path, model: str) -> list[np.ndarray]:
    """``--save-probs``: a task model's per-row log-softmax, one read-only memory map per
    shard, in the row order of :func:`read_run`'s table (``model``: its column slug).

    Each array is float16 ``(rows of the shard, classes)``; ``np.concatenate`` them for
    one array (about 2 kB per row: 7.6 GB for ImageNet-C), or work shard by shard.

    Parameters
    ----------
    run_dir
        The run folder.
    model
        The task model's column slug (``correct_<model>``).

    Returns
    -------
    list[numpy.ndarray]
        One read-only float16 array per shard.

    Raises
    ------
    ScoresNotFoundError
        The run was scored without ``--save-probs``, or not for this model.
    ScoresTableError
        A shard's file is missing or its row count differs from the shard's.
    """
    import numpy as np
    import pyarrow.parquet as pq

    run = Path(run_dir).expanduser()
    folder = run / "probs" / model
    if not folder.is_dir():
        saved = (
            sorted(p.name for p in (run / "probs").glob("*")) if (run / "probs").is_dir() else []
        )
        raise ScoresNotFoundError(
            f"{run}: no log-probabilities of model {model!r} (saved: {saved or 'none'}); "
            "score the run with --save-probs"
        )
    arrays = []
    for shard in _parquet_files(run / "shards"):
        rows = pq.read_metadata(shard).num_rows
        path = folder / f"{shard.stem}.npy"
        if not path.is_file():
            if rows == 0:
                continue
            raise ScoresTableError(f"{path}: missing; its shard {shard.name} has {rows} rows")
        array = np.load(path, mmap_mode="r")
        if array.shape[0] != rows:
            raise ScoresTableError(
                f"{path}: {array.shape[0]} rows, but its shard {shard.name} has {rows}"
            )
        arrays.append(array)
    return arrays


def load_scores(
    source: pd.DataFrame | str | Path, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """A scores table from a DataFrame, a Parquet file or a folder of Parquet shards.

    A folder is read as every ``*.parquet`` file below it (sorted by path); other files
    (the JSON manifest, temporary names of shards being written) are ignored.

    Parameters
    ----------
    source
        A DataFrame (returned as it is), a Parquet file or a folder of Parquet shards.
    columns
        Read only these columns; ``None`` reads all.

    Returns
    -------
    pandas.DataFrame
        The scores table.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source if columns is None else source[list(columns)]
    return _read_parquet_files(_parquet_files(Path(source)), Path(source), columns)


def _parquet_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise ScoresNotFoundError(
                f"{path}: folder holds no *.parquet files; expected shards of a scores table"
            )
        return files
    if path.is_file():
        return [path]
    raise ScoresNotFoundError(f"{path}: no such Parquet file or folder")


def _read_parquet_files(
    files: list[Path], path: Path, columns: Sequence[str] | None
) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for file in files:
        try:
            tables.append(pq.read_table(file, columns=list(columns) if columns else None))
        except (pa.ArrowException, OSError) as err:
            raise ScoresTableError(f"{file}: cannot be read as Parquet ({err})") from err
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as err:
        raise ScoresTableError(f"{path}: shards have incompatible columns ({err})") from err
    return table.to_pandas()
