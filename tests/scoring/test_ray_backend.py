"""The Ray backend on a local two-CPU cluster: the local engine's table, a lost worker.

The reference is the local engine's own run of the same settings (:mod:`ray_cases`):
the Ray backend must give the identical table -- every float bit -- the same manifest
columns and the same ``skipped.csv``. The error paths (no Ray, an address nothing answers
at) are checked without a cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from iqalign.cli import app
from iqalign.errors import MissingDependencyError, ScoringConfigError
from iqalign.scoring.run import ray_backend as rb
from tests.scoring import ray_cases

pytestmark = pytest.mark.ray


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'iqalign\[ray\]'"):
        rb.import_ray()


def test_cli_without_ray_exits_2_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    args = ["score", "--data", "demo", "--models", "efficientnet_lite0", "--limit", "1",
            "--out", str(tmp_path / "run"), "--backend", "ray"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "pip install 'iqalign[ray]'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # nothing started, nothing written


class _NoCluster:
    """Stands in for ``ray`` before a connection: ``init`` must not be reached."""

    def is_initialized(self) -> bool:
        return False

    def init(self, **_: object) -> None:
        raise AssertionError("ray.init called for an address nothing answers at")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "address",
    [
        f"ray://127.0.0.1:{_closed_port()}",  # connection refused
        f"127.0.0.1:{_closed_port()}",  # a GCS address, refused
        "ray://10.255.255.1:10001",  # nothing there: times out (or a proxy answers 404)
    ],
)
def test_unreachable_address_fails_within_seconds_naming_it(monkeypatch, tmp_path, address):
    pytest.importorskip("grpc")  # installed with ray
    monkeypatch.setattr(rb, "import_ray", _NoCluster)
    args = ["score", "--data", "demo", "--models", "efficientnet_lite0", "--limit", "1",
            "--out", str(tmp_path / "run"), "--backend", "ray", "--address", address]  # fmt: skip
    began = time.monotonic()
    result = CliRunner().invoke(app, args)
    assert time.monotonic() - began < 10
    assert result.exit_code == 2, result.output
    assert address in result.output and "ray start --head" in result.output


def test_address_without_a_port_is_refused():
    with pytest.raises(ScoringConfigError, match="HOST:PORT"):
        rb.connect(_NoCluster(), rb.RayOptions(address="headnode"))


def test_local_backend_refuses_ray_options(tmp_path):
    args = ["score", "--data", "demo", "--models", "efficientnet_lite0",
            "--out", str(tmp_path / "run"), "--address", "auto"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--backend ray" in result.output


def test_offline_settings_go_to_the_workers(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", "/shared/weights")
    monkeypatch.delenv("HF_HOME", raising=False)
    env = rb.worker_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["TORCH_HOME"] == "/shared/weights"
    assert "HF_HOME" not in env


class _Resources:
    """A cluster as the backend sees it when it sizes the actor pool."""

    def __init__(self, gpus: float) -> None:
        self.gpus = gpus

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 32.0, "GPU": self.gpus}

    def nodes(self) -> list[dict[str, object]]:
        dead = {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}  # counts for nothing
        return [{"Alive": True, "Resources": self.cluster_resources()}, dead]


@pytest.mark.parametrize(
    ("gpus", "options", "device", "expected"),
    [
        (4, {}, "auto", ("cuda", 4, 1.0)),  # one actor per GPU
        (2, {"gpus_per_actor": 0.5}, "auto", ("cuda", 4, 0.5)),  # two small actors a GPU
        (2, {"actors": 1}, "cuda", ("cuda", 1, 1.0)),
        (2, {}, "cpu", ("cpu", 1, 0.0)),  # --device cpu leaves the GPUs alone
        (0, {}, "auto", ("cpu", 1, 0.0)),  # a CPU cluster
        (32, {}, "auto", ("cuda", 31, 1.0)),  # one CPU left for rendering
        (0, {"actors": 31}, "auto", ("cpu", 31, 0.0)),
    ],
)
def test_actor_pool_follows_the_clusters_gpus(tmp_path, gpus, options, device, expected):
    backend = rb._RayBackend(_Resources(gpus), rb.RayOptions(**options))
    chosen = backend.device(ray_cases.config(tmp_path, device=device))
    assert (chosen.type, backend.actors, backend.gpus_per_actor) == expected


def test_actors_that_would_starve_the_rendering_are_refused_before_any_work(tmp_path):
    backend = rb._RayBackend(_Resources(0), rb.RayOptions(address="h:6379", actors=32))
    with pytest.raises(ScoringConfigError, match=r"^--actors 32: the Ray cluster at h:6379 "
                       r"\(32 CPUs, 0 GPUs on 1 node: .* use --actors 31 or fewer"):  # fmt: skip
        backend.device(ray_cases.config(tmp_path))


def test_ray_datas_no_progress_limit_becomes_one_line_and_nothing_else_does():
    from ray.data.exceptions import ExecutionTimeoutError

    assert rb._stopped_by_ray(RuntimeError("worker died")) is None
    ray_says = ExecutionTimeoutError(
        "Dataset execution made no progress for at least 1800s.\nOperators still running:\n"
        "  - Map(_render_row): 1 active task(s)\nIf this is expected, raise the timeout."
    )
    assert str(rb._stopped_by_ray(ray_says)) == (
        "Ray Data stopped the run: Dataset execution made no progress for at least 1800s. "
        "Operators still running: - Map(_render_row): 1 active task(s) The shards written so "
        "far are kept: rerun the same command to resume it, with fewer --actors or on more "
        "CPUs; where a long wait is expected (a cluster that scales up), set "
        "RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S (seconds; -1: no limit)"
    )


def test_gpus_asked_of_a_cluster_without_gpus_is_a_clear_error(tmp_path):
    backend = rb._RayBackend(_Resources(0), rb.RayOptions(address="auto"))
    with pytest.raises(ScoringConfigError, match=r"auto has no GPUs; .*--device cpu"):
        backend.device(ray_cases.config(tmp_path, device="cuda"))


# ------------------------------------------------------------- on a local cluster


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False,
             log_to_driver=False)  # fmt: skip
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(ray_reference):
    return ray_reference


def test_ray_table_equals_the_local_engines(cluster, reference, tmp_path, monkeypatch):
    out = tmp_path / "ray"
    datasets = []
    build = rb._RayBackend._dataset

    def keep(self, plan, settings):
        datasets.append(build(self, plan, settings))
        return datasets[-1]

    monkeypatch.setattr(rb._RayBackend, "_dataset", keep)
    result = rb.score_on_ray(ray_cases.config(out, workers=2))
    # Rendering ran as its own tasks, not fused into the scoring actors.
    stats = datasets[0].stats()
    assert "Map(_render_row)" in stats and "Map(_render_row)->" not in stats, stats
    assert result.status == "complete" and result.rows == ray_cases.ROWS
    ray_cases.assert_same_run(out, reference)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["device"] == "cpu" and manifest["timings"]["ray_actors"] == 1
    # Rerunning a finished run does nothing, as with the local engine.
    again = rb.score_on_ray(ray_cases.config(out, workers=2))
    assert again.status == "already complete"


def _worker_pids(stage: str) -> set[int]:
    """Ray workers running ``stage`` (Ray titles them ``ray::...<stage>...``).

    This test's cluster was started from this process: its workers descend from it.
    """
    import psutil

    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if stage in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.Error:
            continue
    return pids


def _wait_for(found, what: str, alive: threading.Thread, seconds: float = 240):
    deadline = time.monotonic() + seconds
    while not (result := found()):
        assert alive.is_alive(), f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} in time"
        time.sleep(0.02)
    return result


def test_lost_workers_are_retried_without_lost_or_duplicated_rows(cluster, reference, tmp_path):
    out = tmp_path / "ray"
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = rb.score_on_ray(ray_cases.config(out, workers=1))
        except Exception as err:  # reported by the assertion below
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    # A rendering task's worker, while it renders (the first batches, before any scoring)...
    renderer = _wait_for(lambda: _worker_pids("_render_row"), "rendering task", thread)
    for pid in renderer:
        os.kill(pid, signal.SIGKILL)
    # ... then the scoring actor, once a shard is written.
    _wait_for(lambda: list((out / "parts").glob("part-*.parquet")), "shard", thread)
    actor = _worker_pids("ScoringActor")
    assert actor, "no scoring actor process found"
    done_before = len(list((out / "parts").glob("part-*.parquet")))
    for pid in actor:
        os.kill(pid, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in outcome, outcome
    assert done_before < ray_cases.SHARDS, "the kill must land mid-run"
    assert not _worker_pids("ScoringActor") & actor  # Ray started a new actor
    ray_cases.assert_same_run(out, reference)


def test_the_address_check_passes_a_live_cluster_and_names_a_wrong_service(cluster):
    gcs = cluster.get_runtime_context().gcs_address
    rb._check_reachable(gcs)  # the GCS answers its own ping
    # The GCS port is no Ray Client server: refused in seconds, not after Ray's 30 s.
    began = time.monotonic()
    with pytest.raises(ScoringConfigError, match=r"no Ray Client server answers at"):
        rb._check_reachable(f"ray://{gcs}")
    assert time.monotonic() - began < 10
