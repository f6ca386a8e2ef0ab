"""Run settings: TOML files, overrides, validation, the resume fingerprint."""

from __future__ import annotations

import pytest

from iqalign.errors import ScoringConfigError, UnknownNameError
from iqalign.scoring.run.config import ScoreConfig, load_config


def test_toml_with_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[score]\ndata = "demo"\nmodels = "efficientnet_lite0, efficientnet_lite1"\n'
        'metrics = ["tv", "piqe"]\nmixture = [0.01, 0.05]\nout = "a"\n'
        '[score.weights]\nresnet34 = "/w/r.pth"\n'
    )
    config = load_config(path, out="b", batch_size=None)
    assert config.out == "b" and config.models == ("efficientnet_lite0", "efficientnet_lite1")
    assert config.mixture == (0.01, 0.05) and config.weights == {"resnet34": "/w/r.pth"}


def test_unknown_setting_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('metrcs = ["tv"]\nout = "x"\n')
    with pytest.raises(ScoringConfigError, match=r"'metrcs' Did you mean: 'metrics'\?"):
        load_config(path)


def test_invalid_values_are_reported_together():
    with pytest.raises(ScoringConfigError, match=r"device.*precision"):
        ScoreConfig(out="o", metrics=("tv",), device="tpu", precision="int4")
    with pytest.raises(ScoringConfigError, match="out: an output folder is required"):
        ScoreConfig(metrics=("tv",))
    with pytest.raises(UnknownNameError, match="No corruption 'smoke'"):
        ScoreConfig(out="o", metrics=("tv",), corruptions="smoke")


def test_fingerprint_ignores_execution_settings():
    base = ScoreConfig(out="o", metrics=("tv",))
    assert base.fingerprint() == base.replace(device="cpu", batch_size=4, workers=0).fingerprint()
    assert base.fingerprint() != base.replace(seed=1).fingerprint()
    assert base.fingerprint() != base.replace(metrics=("tv", "piqe")).fingerprint()
