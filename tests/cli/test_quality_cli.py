"""``iqalign quality``: images scored as they are, checked against pyiqa itself.

The reference is ``pyiqa.create_metric(name)`` called on the same file path: pyiqa reads
the file at its own size, so equal values also show that nothing was resized or cropped
(the calibration images are 512x384).
"""

from __future__ import annotations

import csv
import io
import json
import sysconfig
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iqalign.cli import app

pytest.importorskip("torch", reason="needs the [scoring] extra")
pytestmark = pytest.mark.scoring
runner = CliRunner()
CALIBRA = Path(sysconfig.get_paths()["purelib"]) / "ResultsCalibra"
IMAGES = [CALIBRA / "dist_dir" / f"{n}.bmp" for n in ("I03", "I19")]


def _pyiqa(name: str, *paths: Path) -> float:
    import pyiqa

    return float(pyiqa.create_metric(name, device="cpu")(*map(str, paths)).item())


def _csv(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def test_quality_nr_metric_equals_pyiqa_at_native_size():
    result = runner.invoke(app, ["quality", *map(str, IMAGES), "--metrics", "piqe,entropy",
                                 "--format", "csv"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _csv(result.output)
    assert [r["image"] for r in rows] == [str(p) for p in IMAGES]
    for row, path in zip(rows, IMAGES, strict=True):
        assert float(row["piqe"]) == pytest.approx(_pyiqa("piqe", path), rel=1e-6)
        assert float(row["entropy"]) == pytest.approx(_pyiqa("entropy", path), rel=1e-6)


def test_quality_fr_metric_takes_the_reference():
    dist, ref = CALIBRA / "dist_dir" / "I03.bmp", CALIBRA / "ref_dir" / "I03.bmp"
    result = runner.invoke(app, ["quality", str(dist), "--metrics", "psnr,ssim", "--reference",
                                 str(ref), "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["psnr"] == pytest.approx(_pyiqa("psnr", dist, ref), rel=1e-6)
    assert row["ssim"] == pytest.approx(_pyiqa("ssim", dist, ref), rel=1e-6)


def test_create_metric_scores_arrays_of_any_size():
    """The Python form: a list of RGB uint8 arrays of different sizes in, one float each."""
    import torch

    from iqalign.scoring import create_metric

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((40, 64), (97, 33))]
    values = create_metric("piqe")(images)
    assert isinstance(values, np.ndarray) and values.shape == (2,)
    import pyiqa

    piqe = pyiqa.create_metric("piqe", device="cpu")
    for value, image in zip(values, images, strict=True):
        tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        assert value == pytest.approx(float(piqe(tensor).item()), rel=1e-6)


def test_quality_table_is_the_default_format():
    result = runner.invoke(app, ["quality", str(IMAGES[0]), "--metrics", "tv"])
    assert result.exit_code == 0, result.output
    assert "tv" in result.output.splitlines()[0] and str(IMAGES[0]) in result.output


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["/no/such/image.png", "--metrics", "tv"], "file not found"),
        ([str(IMAGES[0]), "--metrics", "piqee"], "Did you mean: 'piqe'"),
        ([str(IMAGES[0]), "--metrics", "psnr"], "give the clean image with --reference"),
        ([str(IMAGES[0]), "--metrics", "tg_maxprob"], "use 'iqalign score'"),
        ([str(IMAGES[0]), "--metrics", "tv", "--format", "xml"], "--format 'xml'"),
    ],
)
def test_quality_bad_input_exits_2_with_one_line(arguments, expected):
    result = runner.invoke(app, ["quality", *arguments])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output


def test_quality_size_mismatch_exits_2(tmp_path):
    from PIL import Image

    small = tmp_path / "small.png"
    Image.new("RGB", (40, 30)).save(small)
    result = runner.invoke(app, ["quality", str(IMAGES[0]), "--metrics", "psnr",
                                 "--reference", str(small)])  # fmt: skip
    assert result.exit_code == 2
    assert "40x30" in result.output and "512x384" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_metrics_list_and_manifest_name_the_implementation(tmp_path):
    listing = runner.invoke(app, ["metrics", "list"])
    assert listing.exit_code == 0, listing.output
    lines = {line.split()[0]: line for line in listing.output.splitlines()[1:] if line.strip()}
    pyiqa_version = metadata.version("pyiqa")
    assert (
        f"pyiqa {pyiqa_version}" in lines["piqe"]
        and f"pyiqa {pyiqa_version}" in lines["brisque_pyiqa"]
    )
    assert "iqalign" in lines["brisque"] and "iqalign" in lines["tv"]
    out = tmp_path / "run"
    result = runner.invoke(app, ["score", "--data", "demo", "--metrics", "tv,piqe",
                                 "--corruptions", "none", "--limit", "1", "--workers", "0",
                                 "--out", str(out), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    columns = json.loads((out / "manifest.json").read_text())["columns"]
    assert columns["q_piqe"]["implementation"] == f"pyiqa {pyiqa_version}"
    assert columns["q_tv"]["implementation"].startswith("iqalign ")
    assert columns["q_piqe"]["reference"] == "pyiqa"
