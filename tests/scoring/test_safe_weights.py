"""Weights are safe: stand-ins never touch a real cache; published files are verified.

A checkpoint under a published torchvision name (``resnet18-f37072fd.pth``) carries the
first hex digits of its SHA-256 (torch.hub's convention). A file under that name with other
bytes -- a truncated download, or random weights written by some test tool -- used to be
loaded silently and score at chance; it is now refused with its path and the expected
prefix.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iqalign.errors import IqalignError, WeightsMismatchError
from iqalign.scoring.models.registry import create_model
from tests.standins import write_torchvision_standin

ROOT = Path(__file__).resolve().parents[2]


def _published_name(model: str) -> tuple[str, str]:
    from torchvision import models

    name = os.path.basename(models.get_model_weights(model).DEFAULT.url)
    return name, name.rsplit("-", 1)[1].split(".")[0]


def test_a_corrupted_checkpoint_under_a_published_name_is_refused(tmp_path, monkeypatch):
    name, prefix = _published_name("resnet18")
    cached = tmp_path / "hub" / "checkpoints" / name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the published weights")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsMismatchError) as info:
        create_model("resnet18")
    message = str(info.value)
    assert str(cached) in message and prefix in message
    actual = hashlib.sha256(cached.read_bytes()).hexdigest()[: len(prefix)]
    assert actual in message


def test_an_explicit_file_under_a_published_name_is_verified_too(tmp_path):
    name, prefix = _published_name("resnet18")
    standin = write_torchvision_standin("resnet18")
    renamed = tmp_path / name
    renamed.write_bytes(standin.read_bytes())
    with pytest.raises(WeightsMismatchError, match=prefix):
        create_model("resnet18", str(renamed))
    model = create_model("resnet18", str(standin))  # own name, no promise: loads
    assert model.weight_files == (str(standin),)


def test_the_cli_refuses_it_in_one_line(tmp_path):
    name, prefix = _published_name("resnet18")
    cached = tmp_path / "home" / "hub" / "checkpoints" / name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\0" * 1024)
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "iqalign", "score", "--data", "demo", "--models", "resnet18",
         "--metrics", "tv", "--corruptions", "none", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert prefix in done.stderr and str(cached) in done.stderr


def test_standin_writers_refuse_a_cache_that_is_not_private(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(IqalignError, match="refusing to write random stand-in weights"):
        write_torchvision_standin("resnet18")
    assert not any(tmp_path.rglob("*.pth"))


def test_the_scoring_benchmark_leaves_a_users_real_cache_byte_identical(tmp_path):
    """The README's benchmark command, run with TORCH_HOME set to a cache of real files."""
    cache = tmp_path / "user-cache"
    files = {
        cache / "hub" / "checkpoints" / _published_name("resnet18")[0]: os.urandom(4096),
        cache / "hub" / "checkpoints" / "resnet50-0676ba61.pth": os.urandom(4096),
        cache / "hub" / "pyiqa" / "brisque_svm_weights.pth": os.urandom(2048),
        cache / "hub" / "clip" / "RN50.pt": os.urandom(2048),
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    before = sorted(p for p in cache.rglob("*"))
    env = {**os.environ, "TORCH_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scoring.py"), "--device", "cpu",
         "--images", "4", "--baseline-images", "2", "--models", "resnet18",
         "--metrics", "tv,piqe", "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"images_per_s"' in done.stdout.splitlines()[-1]
    assert sorted(p for p in cache.rglob("*")) == before  # nothing added
    for path, data in files.items():
        assert path.read_bytes() == data, f"{path} was changed by the benchmark"


def test_the_offline_guard_changes_the_process_only_inside_its_scope(monkeypatch):
    import huggingface_hub.constants as hf_constants
    import torch.hub

    from iqalign.scoring.models.weights import guard_downloads, is_offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("IQALIGN_OFFLINE", "1")
    original, flag = torch.hub.download_url_to_file, hf_constants.HF_HUB_OFFLINE
    assert is_offline() and "HF_HUB_OFFLINE" not in os.environ  # asking changes nothing
    with guard_downloads("x"):
        assert os.environ["HF_HUB_OFFLINE"] == "1" and hf_constants.HF_HUB_OFFLINE is True
        assert torch.hub.download_url_to_file is not original
    assert "HF_HUB_OFFLINE" not in os.environ
    assert torch.hub.download_url_to_file is original and flag == hf_constants.HF_HUB_OFFLINE
