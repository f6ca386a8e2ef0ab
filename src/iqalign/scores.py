"""The scores table: the contract between scoring and statistics, owned here.

One row per scored image. Key columns (:data:`KEY_COLUMNS`): ``image_id`` (the clean
source image X0), ``label`` (Y), ``corruption`` and ``severity`` (a clean row has
``corruption == CLEAN`` and severity 0), ``variant`` (mixture id, if any). Per task model
``<m>``: ``pred_<m>`` (argmax class) and ``correct_<m>`` (0/1). Per quality metric:
``q_<metric>`` or, for a Q computed from a classifier, ``q_<metric>_<source>``; every
name part is a :func:`slug`. A run folder holds the table as Parquet shards under
``shards/`` and a ``manifest.json`` whose ``columns`` entry describes each ``q_*`` column
(:class:`MetricInfo`: metric, family, orientation, source model, role).

One way to read a run: :func:`read_run` gives a :class:`ScoredRun` (the table, the
manifest, one :class:`MetricInfo` per ``q_*`` column and one :class:`ModelInfo` per task
model). Every layer builds and parses column names with the functions here, and only this
module reads the manifest's ``columns`` and ``models`` records. Reading a run
(:func:`read_run`, :func:`read_manifest`, :func:`load_scores`) raises one set of errors:
:class:`~iqalign.errors.ScoresNotFoundError` when nothing is there,
:class:`~iqalign.errors.ScoresTableError` when what is there cannot be read.

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
    "ROLES",
    "MetricInfo",
    "ModelInfo",
    "ScoredRun",
    "is_performance_column",
    "is_quality_column",
    "list_quality_columns",
    "load_log_probs",
    "load_scores",
    "model_of",
    "models_in",
    "performance_column",
    "prediction_column",
    "quality_column",
    "read_manifest",
    "read_run",
    "role_of",
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
#: What a quality column's values are, beyond its family: ``quality`` (a Q of the image),
#: a classifier's ``confidence`` (max softmax probability), ``entropy`` (softmax
#: entropy) or ``max_logit``, or a ``legacy_estimator`` column of an older run (MSP, ATC,
#: DoC scored per image: never a Q). The scoring registry records one per metric
#: (``MetricSpec.role``) in the manifest; estimators find their ingredients by role.
ROLES: tuple[str, ...] = ("quality", "confidence", "entropy", "max_logit", "legacy_estimator")
# Manifests written before roles were recorded: the role of each known metric name, said
# once here (the registry's roles, and the per-image estimators older runs scored).
_ROLE_OF_METRIC = {
    **{f"{kind}_maxprob": "confidence" for kind in ("tg", "zsclip")},
    **{f"{kind}_entropy": "entropy" for kind in ("tg", "zsclip")},
    **{f"{kind}_maxlogit": "max_logit" for kind in ("tg", "zsclip")},
    **dict.fromkeys(("msp", "atc", "atc_ne", "doc"), "legacy_estimator"),
}
_LEGACY_FAMILY = "accuracy_estimator"


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


def models_in(columns: Iterable[object]) -> list[str]:
    """The model slug of every ``correct_*`` column, in table order (the registry of
    models one can score is :func:`iqalign.scoring.list_models`).

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


def role_of(metric: str, family: str = "") -> str:
    """The role of a metric recorded without one (manifests written before roles were):
    from its registry name, else ``legacy_estimator`` for that family, else ``quality``.

    Parameters
    ----------
    metric
        The metric's registry name (``tg_maxprob``, ``piqe``, ...).
    family
        The metric's family, if the manifest recorded one.

    Returns
    -------
    str
        One of :data:`ROLES`.

    Examples
    --------
    >>> role_of("tg_maxprob"), role_of("piqe"), role_of("x", "accuracy_estimator")
    ('confidence', 'quality', 'legacy_estimator')
    """
    if metric in _ROLE_OF_METRIC:
        return _ROLE_OF_METRIC[metric]
    return "legacy_estimator" if family == _LEGACY_FAMILY else "quality"


@dataclass(frozen=True)
class MetricInfo:
    """What a run says of one ``q_*`` column.

    ``source_model`` is the registry name of the classifier the Q comes from (``None``
    for a Q of the image alone), ``source_slug`` its column form; :meth:`is_from_model`
    compares it with a model *slug* of a ``correct_*`` column, the form the table uses.
    ``role`` (one of :data:`ROLES`) comes from the manifest; left out, it is derived from
    the metric name (:func:`role_of`).

    Examples
    --------
    >>> info = MetricInfo("q_tg_maxlogit_timm_resnet50", "tg_maxlogit", "strong_tg", True,
    ...                   "timm:resnet50")
    >>> info.name, info.source_slug, info.is_from_model("timm_resnet50"), info.role
    ('tg_maxlogit_timm_resnet50', 'timm_resnet50', True, 'max_logit')
    """

    column: str
    metric: str
    family: str
    higher_is_better: bool | None
    source_model: str | None
    role: str = ""

    def __post_init__(self) -> None:
        if not self.role:  # frozen: set once, here, from the one table of known names
            object.__setattr__(self, "role", role_of(self.metric, self.family))

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


def _metric_records(
    columns: Iterable[object], manifest: Mapping[str, Any] | None, models: Iterable[str] = ()
) -> dict[str, MetricInfo]:
    """One :class:`MetricInfo` per ``q_*`` column; a column the manifest does not
    describe gets family ``"unknown"`` and orientation ``None`` (never guessed), and is
    read as a task model's Q when its name ends in ``_<slug>`` of one of ``models``
    (``q_tg_maxprob_m`` -> metric ``tg_maxprob``, source ``m``)."""
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
            role=str(entry.get("role") or ""),
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


def _model_records(
    columns: Iterable[object], manifest: Mapping[str, Any] | None
) -> dict[str, ModelInfo]:
    """One :class:`ModelInfo` per ``correct_*`` column, keyed by slug, in table order; the
    registry name from the manifest's ``models`` record of that column, else the slug."""
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


@dataclass(frozen=True, eq=False)  # compared by identity: a DataFrame has no one truth value
class ScoredRun:
    """A scored run, read once: its table, its manifest and what they say of each column.

    ``metrics``: one :class:`MetricInfo` per ``q_*`` column (by column, in table order);
    ``models``: one :class:`ModelInfo` per task model (by column slug, in table order).
    ``path``: the run folder, if it was read from one (saved log-probabilities are read
    from it). Build one with :func:`read_run`, or :meth:`from_table` for a table in hand.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"q_tg_maxprob_m": [0.9], "q_tv": [0.1], "correct_m": [1]})
    >>> run = ScoredRun.from_table(table)
    >>> run.quality_columns, run.performance_columns, run.model_slugs
    (['q_tg_maxprob_m', 'q_tv'], ['correct_m'], ['m'])
    >>> run.metrics["q_tg_maxprob_m"].role, run.metrics["q_tv"].family
    ('confidence', 'unknown')
    """

    table: pd.DataFrame
    manifest: Mapping[str, Any]
    metrics: Mapping[str, MetricInfo]
    models: Mapping[str, ModelInfo]
    path: Path | None = None

    @classmethod
    def from_table(
        cls, table: pd.DataFrame, manifest: Mapping[str, Any] | None = None,
        path: Path | None = None,
    ) -> ScoredRun:  # fmt: skip
        """The records of a table and its manifest (``None``: names only, family unknown)."""
        manifest = dict(manifest or {})
        models = _model_records(table.columns, manifest)
        metrics = _metric_records(table.columns, manifest, models=list(models))
        return cls(table, manifest, metrics, models, path)

    @property
    def quality_columns(self) -> list[str]:
        return list(self.metrics)

    @property
    def performance_columns(self) -> list[str]:
        return [m.correct_column for m in self.models.values()]

    @property
    def model_slugs(self) -> list[str]:
        return list(self.models)

    def metrics_with_role(self, role: str, model: str | None = None) -> list[MetricInfo]:
        """The quality columns of ``role`` (:data:`ROLES`), computed from task model
        ``model`` (a slug) if given."""
        return [
            info for info in self.metrics.values()
            if info.role == role and (model is None or info.is_from_model(model))
        ]  # fmt: skip

    def provenance(self) -> list[dict[str, str]]:
        """Per column the manifest describes (its order): the metric as asked for, whose
        code computed it and what it is checked against ("not recorded" in older runs)."""
        described = self.manifest.get("columns", {}) or {}
        return [
            {
                "column": column,
                "metric": entry.get("key", entry.get("metric", "")),
                "implementation": entry.get("implementation", "not recorded"),
                "checked against": entry.get("reference", "not recorded"),
            }
            for column, entry in described.items()
        ]

    def settings(self) -> dict[str, Any]:
        """The manifest without its per-column records (settings, versions, models...)."""
        return {k: v for k, v in self.manifest.items() if k != "columns"}

    def log_probs(self, model: str) -> list[np.ndarray]:
        """:func:`load_log_probs` of task model ``model`` (slug) from :attr:`path`."""
        if self.path is None:
            raise ScoresNotFoundError(
                f"no log-probabilities of model {model!r}: this run was not read from a run "
                "folder; use read_run(RUN_DIR) on a run scored with --save-probs"
            )
        return load_log_probs(self.path, model)


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


def read_run(run_dir: str | Path) -> ScoredRun:
    """A run folder (``shards/`` and ``manifest.json``), or a bare scores table (a Parquet
    file or folder of shards; its manifest is then ``{}``), as a :class:`ScoredRun`.

    Parameters
    ----------
    run_dir
        A run folder, a Parquet file or a folder of Parquet shards.

    Returns
    -------
    ScoredRun
        The table, the manifest, and one record per quality column and per task model.

    Raises
    ------
    ScoresNotFoundError
        Nothing is there.
    ScoresTableError
        What is there cannot be read (a manifest that is not JSON, unreadable shards).
    """
    run = Path(run_dir).expanduser()
    if not run.exists():
        raise ScoresNotFoundError(
            f"{run}: no such Parquet file or run folder; create one with "
            f"'iqalign score ... --out {run}' or 'iqalign demo'"
        )
    manifest = read_manifest(run, required=False) if run.is_dir() else {}
    shards = run / "shards"
    table = load_scores(shards if shards.is_dir() else run)
    return ScoredRun.from_table(table, manifest, run if run.is_dir() else None)


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
