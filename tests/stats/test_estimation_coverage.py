"""Coverage of the MAE interval of iqalign.stats.estimation.accuracy (slow: many replicates).

:func:`tests.stats.calibration_study.estimation_coverage` draws, per replicate, 15 new
corruptions from a population (the confidence's bias varies by corruption and grows with
severity; an image's hardness is shared by all its rows) and 1,000 target image IDs, runs
the package's own :func:`~iqalign.stats.estimation.accuracy.estimate_accuracy`, and checks each
clean-track estimator's printed interval against its population MAE on a new corruption,
as fitted (known in closed form over 4,000 corruptions). docs/estimation.md has the table
at other sizes (``benchmarks/calibrate_stats.py --part estimation``).
"""

from __future__ import annotations

import pytest

from tests.stats.calibration_study import estimation_coverage


@pytest.mark.slow
def test_mae_interval_covers_the_mae_on_a_new_corruption():
    rows = {row["estimator"]: row for row in estimation_coverage(1000, 200, seed=7)}
    assert set(rows) == {"AC", "DoC", "ATC-MC"}
    for name, row in rows.items():
        print(f"{name}: truth {row['truth']:.4f}; coverage printed {row['used']:.3f}, basic "
              f"{row['basic']:.3f}, percentile {row['percentile']:.3f}")  # fmt: skip
        # 200 replicates: SE of a coverage ~0.017 at 0.93. The printed interval must reach
        # ~95 % (measured 0.93-0.965 at 1,000 IDs) and beat the unstudentised intervals
        # of the same resamples, which miss the skew of 15 per-corruption errors.
        assert 0.90 <= row["used"] <= 0.995, (name, row)
        assert row["used"] >= max(row["basic"], row["percentile"]) - 0.01, (name, row)
        assert abs(row["corrected"]) <= 0.003, (name, row)  # the bias correction works


@pytest.mark.slow
def test_the_bias_correction_removes_the_upward_bias_of_few_images():
    rows = estimation_coverage(200, 100, seed=8)
    for row in rows:
        assert row["mae"] > 0.002 and abs(row["corrected"]) < row["mae"], row
