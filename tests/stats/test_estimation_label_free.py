"""The literature's label-free estimators inside the estimation protocol.

Each group's estimate must equal the estimator of :mod:`iqalign.stats.estimation.label_free` (itself
checked against its authors' code in ``test_label_free.py``) called on that group's
target rows and the labelled clean source rows -- nothing else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iqalign.stats.estimation import label_free
from iqalign.stats.estimation._agreement import aline_from_agreements
from iqalign.stats.estimation.accuracy import estimate_accuracy

MODELS = ("m0", "m1", "m2", "m3")
CLASSES = 12


def synthetic_run(n_ids: int = 240, seed: int = 0) -> pd.DataFrame:
    """Four classifiers of different skill on clean + 3 corruptions x 2 severities."""
    rng = np.random.default_rng(seed)
    groups = [("none", 0)] + [(c, s) for c in ("fog", "snow", "blur") for s in (1, 3)]
    rows = []
    for image in range(n_ids):
        label = int(rng.integers(CLASSES))
        for corruption, severity in groups:
            row = {"image_id": f"id{image:04d}", "label": label, "corruption": corruption,
                   "severity": severity, "variant": None}  # fmt: skip
            for k, model in enumerate(MODELS):
                right = rng.random() < 0.92 - 0.12 * severity - 0.05 * k
                pred = label if right else int(rng.integers(CLASSES))
                row[f"pred_{model}"], row[f"correct_{model}"] = pred, int(pred == label)
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def estimated():
    frame = synthetic_run()
    return frame, estimate_accuracy(frame, n_boot=20, seed=3)


def _group_rows(frame, result, corruption, severity):
    target = ~frame["image_id"].isin(result.source_ids)
    return frame[target & (frame["corruption"] == corruption) & (frame["severity"] == severity)]


def _source_clean(frame, result):
    source = frame["image_id"].isin(result.source_ids) & (frame["corruption"] == "none")
    return frame[source]


def test_gde_per_group_equals_the_estimator_on_the_group(estimated):
    frame, result = estimated
    gde = result.groups[result.groups["estimator"] == "GDE"]
    assert len(gde) == len(MODELS) * 6 and (gde["track"] == "clean").all()
    for row in gde.itertuples():
        rows = _group_rows(frame, result, row.corruption, row.severity)
        expected = label_free.gde_estimate(rows[[f"pred_{m}" for m in MODELS]].to_numpy().T)
        assert row.estimate == pytest.approx(expected[MODELS.index(row.model)], abs=1e-12)


@pytest.mark.parametrize("name,field", [("ALine-S", "aline_s"), ("ALine-D", "aline_d")])
def test_aline_per_group_equals_the_estimator_on_source_and_group(estimated, name, field):
    frame, result = estimated
    source = _source_clean(frame, result)
    preds = [f"pred_{m}" for m in MODELS]
    found = result.groups[result.groups["estimator"] == name]
    assert len(found) == len(MODELS) * 6
    for row in found.itertuples():
        target = _group_rows(frame, result, row.corruption, row.severity)
        reference = label_free.aline_estimate(source[preds].to_numpy().T,
                                              source["label"].to_numpy(),
                                              target[preds].to_numpy().T)  # fmt: skip
        expected = getattr(reference, field)[MODELS.index(row.model)]
        assert row.estimate == pytest.approx(expected, abs=1e-9)


def test_aline_from_agreements_matches_the_estimator_row_by_row():
    """Vectorised over target sets, partial bands included (pairs out of range)."""
    rng = np.random.default_rng(7)
    models, n = 5, 400
    labels = rng.integers(0, 6, n)
    skill = np.array([0.95, 0.9, 0.8, 0.7, 0.6])
    source = np.where(
        rng.random((models, n)) < skill[:, None], labels, rng.integers(0, 6, (models, n))
    )
    i, j = np.triu_indices(models, 1)
    accuracy = (source == labels).mean(axis=1)
    agreement = (source[i] == source[j]).mean(axis=1)
    targets, rates = [], []
    for scale in (1.0, 0.8, 0.5, 0.3, 0.05):  # the last: agreements below the band
        t_labels = rng.integers(0, 6, 60)
        t = np.where(rng.random((models, 60)) < skill[:, None] * scale, t_labels,
                     rng.integers(0, 6, (models, 60)))  # fmt: skip
        targets.append(t)
        rates.append((t[i] == t[j]).mean(axis=1))
    got = aline_from_agreements(accuracy, agreement, np.array(rates), i, j)
    for k, t in enumerate(targets):
        try:
            ref = label_free.aline_estimate(source, labels, t)
        except Exception:  # too few usable pairs: the vectorised form gives NaN
            assert np.isnan(got["S"][k]).all()
            continue
        np.testing.assert_allclose(got["S"][k], ref.aline_s, atol=1e-9)
        np.testing.assert_allclose(got["D"][k], ref.aline_d, atol=1e-9)


def test_one_model_gets_no_agreement_estimators_and_a_note():
    frame = synthetic_run(n_ids=60).drop(columns=[f"{p}_{m}" for p in ("pred", "correct")
                                                  for m in MODELS[1:]])  # fmt: skip
    result = estimate_accuracy(frame, n_boot=5, seed=0)
    names = result.summary.get("estimator", pd.Series(dtype=str))
    assert not names.isin(["GDE", "ALine-S", "ALine-D"]).any()
    assert any("several task models" in note for note in result.notes)


def _log_probs(frame: pd.DataFrame, model: str, seed: int = 1) -> list[np.ndarray]:
    """Per-row log-softmax consistent with the model's predictions, split in two 'shards'."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(frame), CLASSES))
    pred = frame[f"pred_{model}"].to_numpy()
    logits[np.arange(len(frame)), pred] += rng.uniform(0.5, 4.0, len(frame))
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    logp = logp.astype(np.float16)
    half = len(frame) // 2
    return [logp[:half], logp[half:]]


@pytest.fixture(scope="module")
def with_probs():
    frame = synthetic_run(n_ids=200, seed=5)
    probs = {m: _log_probs(frame, m, seed=k) for k, m in enumerate(MODELS[:2])}
    return frame, probs, estimate_accuracy(frame, n_boot=10, seed=4, log_probs=probs)


def test_probability_estimators_per_group_equal_the_estimators(with_probs):
    from iqalign.stats.estimation._probs import COT_MAX_ROWS

    frame, probs, result = with_probs
    for model in MODELS[:2]:
        logp = np.concatenate(probs[model]).astype(np.float32)
        source = _source_clean(frame, result)
        z_source, labels = logp[source.index], source["label"].to_numpy()
        temperature = label_free.fit_temperature(z_source, labels)
        norm = label_free.mano_normalisation(z_source)
        mine = result.groups[result.groups["model"] == model]
        for g, row in enumerate(mine[mine["estimator"] == "TS-AC"].itertuples()):
            z = logp[_group_rows(frame, result, row.corruption, row.severity).index]
            expected = {
                "TS-AC": label_free.temperature_scaled_ac(z, temperature),
                "MaNo": label_free.mano_score(z, norm),
                "Nuclear norm": label_free.nuclear_norm_score(z),
                "COT": label_free.cot_estimate(z, labels, temperature=temperature,
                                               max_rows=COT_MAX_ROWS, seed=g),
            }  # fmt: skip
            for name, value in expected.items():
                got = mine[(mine["estimator"] == name) & (mine["corruption"] == row.corruption)
                           & (mine["severity"] == row.severity)]["estimate"].item()  # fmt: skip
                assert got == pytest.approx(value, abs=1e-9), (model, name, row.corruption)
    assert (result.summary.loc[result.summary["estimator"] == "COT", "track"] == "clean").all()


def test_without_probabilities_the_notes_say_how_to_get_them(estimated):
    _, result = estimated
    assert not result.summary["estimator"].isin(["TS-AC", "COT", "MaNo"]).any()
    assert any("--save-probs" in note for note in result.notes)


def test_target_labels_never_reach_the_probability_estimators(with_probs):
    frame, probs, result = with_probs
    shuffled = frame.copy()
    target = ~shuffled["image_id"].isin(result.source_ids)
    shuffled.loc[target, "label"] = (shuffled.loc[target, "label"] + 5) % CLASSES
    again = estimate_accuracy(shuffled, n_boot=10, seed=4, log_probs=probs)
    names = ["TS-AC", "MaNo", "Nuclear norm", "COT"]
    before = result.groups[result.groups["estimator"].isin(names)]["estimate"].to_numpy()
    after = again.groups[again.groups["estimator"].isin(names)]["estimate"].to_numpy()
    np.testing.assert_array_equal(before, after)


def test_log_probs_of_another_run_are_refused(with_probs):
    from iqalign.errors import ScoresTableError

    frame, probs, _ = with_probs
    with pytest.raises(ScoresTableError, match="same run"):
        estimate_accuracy(frame, n_boot=2, seed=0, log_probs={MODELS[0]: probs[MODELS[0]][:1]})
