"""Where weights are looked for, offline detection, and refusing downloads offline."""

from __future__ import annotations

import socket
import time

import pytest

from iqalign.errors import WeightsNotFoundError
from iqalign.scoring.models import weights


@pytest.fixture
def no_flags(monkeypatch):
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "IQALIGN_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    weights._dns_fails.cache_clear()
    yield
    weights._dns_fails.cache_clear()


def test_flags_mean_offline(monkeypatch, no_flags):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weights.is_offline()


def test_a_failing_name_lookup_means_offline_and_changes_nothing(monkeypatch, no_flags):
    """Asking is free of side effects: the hub flag is set only inside guard_downloads."""
    import os

    def fail(*args, **kwargs):
        raise socket.gaierror("no DNS")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    started = time.perf_counter()
    assert weights.is_offline()
    assert time.perf_counter() - started < 1
    assert "HF_HUB_OFFLINE" not in os.environ
    with weights.guard_downloads("x"):
        assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ


def test_resolution_order(tmp_path, monkeypatch):
    cache = tmp_path / "hub" / "checkpoints"
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    assert weights.resolve_weight_file("m", "f.pth", cache, str(explicit)) == explicit
    with pytest.raises(WeightsNotFoundError, match="from the run config"):
        weights.resolve_weight_file("m", "f.pth", cache, str(tmp_path / "missing.pth"))
    cache.mkdir(parents=True)
    (cache / "f.pth").write_bytes(b"y")
    assert weights.resolve_weight_file("m", "f.pth", cache, None) == cache / "f.pth"
    with pytest.raises(WeightsNotFoundError, match=r"'g\.pth' not found.*looked in: "):
        weights.resolve_weight_file("m", "g.pth", cache, None, url="https://x/g.pth")


def test_downloads_are_refused_offline_naming_file_and_folder(tmp_path):
    import torch.hub

    with weights.guard_downloads("thing"), pytest.raises(WeightsNotFoundError) as info:
        torch.hub.download_url_to_file("https://example.org/w/file-123.pth", str(tmp_path / "f"))
    message = str(info.value)
    assert message.startswith("thing: weight file 'f' not found")
    assert str(tmp_path / "f") in message and "https://example.org/w/file-123.pth" in message
    assert torch.hub.download_url_to_file.__name__ == "download_url_to_file"  # restored


def test_describe_file_hashes(tmp_path):
    import hashlib

    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    entry = weights.describe_file(path)
    assert entry["sha256"] == hashlib.sha256(b"weights").hexdigest()[:12] and entry["bytes"] == 7
