"""The paper's job as a user meets it: clean images + `iqalign corrupt` + `score --clean`,
then `report` and `estimate` on the run with no extra flag."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from iqalign.cli import app

pytestmark = pytest.mark.slow


def _clean_folder(root):
    """The bundled photos as ImageNet validation images in class folders."""
    from iqalign.scoring.data.images import decode_image
    from iqalign.scoring.data.labels import index_to_wnid
    from iqalign.scoring.data.sources import load_source

    for k, item in enumerate(load_source("demo")[:6]):
        folder = root / index_to_wnid(item.label)
        folder.mkdir(parents=True, exist_ok=True)
        decode_image(item.path).save(folder / f"ILSVRC2012_val_{k + 1:08d}.JPEG", quality=95)
    return root


def _ok(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_corrupt_score_with_clean_then_report_and_estimate(tmp_path):
    clean = _clean_folder(tmp_path / "val")
    inc, run = tmp_path / "imagenet-c", tmp_path / "run"
    _ok(["corrupt", "--data", str(clean), "--out", str(inc), "--corruptions",
         "fog,gaussian_noise", "--severities", "1,4", "--workers", "0"])  # fmt: skip
    _ok(["score", "--data", str(inc), "--layout", "imagenet-c", "--clean", str(clean),
         "--out", str(run), "--models", "efficientnet_lite0",
         "--metrics", "tv,psnr,brisque,tg_maxprob,tg_entropy", "--workers", "1",
         "--quiet"])  # fmt: skip
    table = pd.read_parquet(run / "shards")
    assert len(table) == 6 * (1 + 4)
    assert (table.groupby("image_id")["corruption"].apply(lambda c: (c == "none").sum()) == 1).all()
    assert table["q_psnr"].notna().all()
    report = _ok(["report", str(run), "--n-boot", "50", "--workers", "1"])
    assert (run / "report" / "report.md").is_file(), report
    estimate = _ok(["estimate", str(run), "--n-boot", "50"])
    # fitted on the run's own clean source images: no value carried from another run
    for baseline in ("AC", "DoC", "ATC-MC"):
        assert baseline in estimate
