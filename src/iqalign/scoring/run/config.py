"""Run settings: one frozen :class:`ScoreConfig`, from CLI options and/or a TOML file.

A config file holds the same settings as the CLI, under a ``[score]`` table (or at the top
level); options given on the command line win::

    [score]
    data = "demo"
    models = ["efficientnet_lite0", "efficientnet_lite1"]
    metrics = ["tv", "piqe", "tg_maxlogit", "tg_maxprob"]
    corruptions = "all"
    severities = "1-5"
    out = "runs/demo"

    [score.weights]            # explicit local weight files, by model / metric name
    resnet34 = "/models/resnet34-b627a593.pth"

Only settings that change the scores enter the run's fingerprint (:meth:`fingerprint`), so
a resumed run may use another device, batch size or worker count.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from iqalign.errors import ScoringConfigError, did_you_mean

__all__ = ["ScoreConfig", "load_config", "split_names"]

# Settings that are gone, and why (an old config file gets this, not "unknown setting").
_REMOVED = {
    key: "ATC and DoC are no longer scoring-time columns: 'iqalign estimate RUN_DIR' fits "
    "them on the images its protocol holds out; remove this setting"
    for key in ("atc_thresholds", "doc_offsets")
}
# Settings that do not change any score: a resumed run may change them freely.
_EXECUTION_ONLY = frozenset(
    {"device", "batch_size", "workers", "out", "shard_images", "max_failures"}
)


@dataclass(frozen=True)
class ScoreConfig:
    """Everything that defines a scoring run (see the module notes for the file format)."""

    data: str = "demo"
    out: str = ""
    layout: str | None = None
    labels: str | None = None
    clean: str | None = None  # ImageNet-C: the clean validation folder its files come from
    unpaired: str = "error"  # error | skip: files without a clean image and vice versa
    models: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    corruptions: str | tuple[str, ...] = "all"
    severities: str | tuple[int, ...] = "1-5"
    mixture: tuple[float, ...] = ()
    mixture_severities: str | tuple[int, ...] = "1-3"
    device: str = "auto"
    precision: str = "auto"  # auto: fp16 autocast on CUDA, fp32 on the CPU (engine notes)
    batch_size: int = 0  # 0: 256 on CUDA, 8 on the CPU
    workers: int = -1  # -1: one per CPU core but two (at least one)
    seed: int = 0
    jpeg_quality: int = 85
    corruption_impl: str = "imagenet-c"  # or "imagecorruptions" (iqalign.scoring.corrupt)
    limit: int = 0  # score only the first N images (0: all; with clean: N image IDs)
    max_failures: float = 0.01  # stop when one kind of failure exceeds this fraction
    shard_images: int = 0  # source images per shard (0: sized to about 8192 rows)
    zsclip_prompts: str = "single"  # single | openai (the 80-template ensemble)
    save_probs: bool = False  # also store each task model's per-row log-softmax (float16)
    weights: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self)

    def fingerprint(self) -> str:
        """A hash of the settings that change scores (the resume check compares it)."""
        data = {k: v for k, v in self.to_dict().items() if k not in _EXECUTION_ONLY}
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready settings (for the manifest)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def replace(self, **changes: Any) -> ScoreConfig:
        """A copy with some settings changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def split_names(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"a, b"`` or ``["a", "b"]`` -> ``("a", "b")``.

    Examples
    --------
    >>> split_names("tv, piqe,")
    ('tv', 'piqe')
    """
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)
    return tuple(p.strip() for p in parts if p and p.strip())


def load_config(path: str | Path, **overrides: Any) -> ScoreConfig:
    """Read a TOML config file; keyword ``overrides`` (not None) win over the file.

    Parameters
    ----------
    path
        The TOML file.
    **overrides
        Settings that replace the file's; ``None`` values are ignored.

    Returns
    -------
    ScoreConfig
        The validated config.
    """
    file = Path(path).expanduser()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ScoringConfigError(f"--config {str(path)!r}: no such file") from err
    except tomllib.TOMLDecodeError as err:
        raise ScoringConfigError(f"{file}: not valid TOML ({err})") from err
    table = raw.get("score", raw)
    gone = sorted(set(table) & set(_REMOVED))
    if gone:
        raise ScoringConfigError(f"{file}: {gone[0]}: {_REMOVED[gone[0]]}")
    known = {f.name for f in fields(ScoreConfig)}
    unknown = sorted(set(table) - known)
    if unknown:
        hints = [f"{u!r}{did_you_mean(u, sorted(known), n=1)}" for u in unknown]
        raise ScoringConfigError(f"{file}: unknown setting(s) {'; '.join(hints)}")
    values = {**table, **{k: v for k, v in overrides.items() if v is not None}}
    return from_values(values, where=str(file))


def from_values(values: dict[str, Any], *, where: str = "options") -> ScoreConfig:
    """Build a config from loosely typed values (CLI strings, TOML lists)."""
    values = dict(values)
    for key in ("models", "metrics"):
        if key in values:
            values[key] = split_names(values[key])
    if "mixture" in values:
        values["mixture"] = _floats(values["mixture"], "mixture", where)
    if "weights" in values and not isinstance(values["weights"], dict):
        raise ScoringConfigError(f"{where}: weights must be a table of name = value")
    return ScoreConfig(**values)


def _floats(value: Any, name: str, where: str) -> tuple[float, ...]:
    parts = value.split(",") if isinstance(value, str) else value
    parts = parts if isinstance(parts, list | tuple) else [parts]
    try:
        return tuple(float(p) for p in parts if str(p).strip())
    except ValueError as err:
        raise ScoringConfigError(f"{where}: {name}: cannot read {value!r} as numbers") from err


def _check(config: ScoreConfig) -> None:
    problems = []
    if not config.out:
        problems.append("out: an output folder is required (--out DIR)")
    if config.device not in ("auto", "cpu", "cuda") and not config.device.startswith("cuda:"):
        problems.append(f"device: {config.device!r}; choose auto, cpu, cuda or cuda:N")
    if config.precision not in ("auto", "fp32", "bf16", "fp16"):
        problems.append(f"precision: {config.precision!r}; choose auto, fp32, bf16 or fp16")
    if config.batch_size < 0 or config.limit < 0 or config.shard_images < 0:
        problems.append("batch_size, limit and shard_images must be >= 0")
    if not 0 <= config.max_failures <= 1:
        problems.append(f"max_failures: {config.max_failures} is not a fraction in 0..1")
    if config.unpaired not in ("error", "skip"):
        problems.append(f"unpaired: {config.unpaired!r}; choose error or skip")
    if config.clean is not None and config.layout not in (None, "imagenet-c"):
        problems.append(
            f"clean: pairs ImageNet-C files with clean images; --layout "
            f"{config.layout} has no released files (use --layout imagenet-c)"
        )
    if not 1 <= config.jpeg_quality <= 100:
        problems.append(f"jpeg_quality: {config.jpeg_quality} is not in 1..100")
    if any(not 0 < p <= 1 for p in config.mixture):
        problems.append(f"mixture: {list(config.mixture)}: each p_c must be in (0, 1]")
    if config.zsclip_prompts not in ("single", "openai"):
        problems.append(f"zsclip_prompts: {config.zsclip_prompts!r}; choose single or openai")
    if not config.models and not config.metrics:
        problems.append("nothing to compute: give --models and/or --metrics")
    if problems:
        raise ScoringConfigError("; ".join(problems))
    from iqalign.scoring.corruptions.pictures import (
        check_implementation,
        parse_corruptions,
        parse_severities,
    )

    # Parse now, so a typo stops the run before any model loads.
    check_implementation(config.corruption_impl)
    parse_corruptions(config.corruptions)
    parse_severities(config.severities)
    parse_severities(config.mixture_severities)
