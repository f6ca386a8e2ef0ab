"""The reported hang, on a local cluster of two raylets with 1 CPU each.

``--actors 2`` there used to sit at 2.0/2.0 CPUs forever: the two scoring actors held
both CPUs and no rendering task could start. Now the plan is refused before any work
(exit 2, naming the CPUs and ``--actors``), the default plan finishes with the local
engine's table, and a run that stalls anyway (the check bypassed) says what it waits for,
then stops with one line when Ray Data gives up on it.
"""

from __future__ import annotations

import _thread
import contextlib
import re
import threading
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from iqalign.cli import app
from iqalign.errors import ScoringStoppedError
from iqalign.scoring.run import ray_backend as rb
from iqalign.scoring.run import ray_sizing
from tests.scoring import ray_cases

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def two_nodes():
    """A head and a worker raylet of 1 CPU each; the tests connect through its address."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    memory = 100 * 2**20
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": memory, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1, object_store_memory=memory)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()


@contextlib.contextmanager
def _fails_after(seconds: float) -> Iterator[None]:
    """A return of the hang fails the test (Ctrl-C from a timer) instead of hanging CI."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        pytest.fail(f"still running after {seconds} s: the run hangs")
    finally:
        timer.cancel()


def _score(out, address: str, *more: str):
    args = ["score", "--config", str(out.parent / "run.toml"), "--out", str(out), "--quiet",
            "--backend", "ray", "--address", address, *more]  # fmt: skip
    (out.parent / "run.toml").write_text(ray_cases.CONFIG_TOML)
    return CliRunner().invoke(app, args)


def test_two_actors_on_two_cpus_are_refused_within_seconds(two_nodes, tmp_path):
    began = time.monotonic()
    with _fails_after(120):
        result = _score(tmp_path / "run", two_nodes, "--actors", "2")
    assert time.monotonic() - began < 60  # connecting is most of it
    assert result.exit_code == 2, result.output
    # Ray's own log lines (connecting ...) may come first: the error is the last line.
    message = " ".join(result.output.split("error: ")[-1].split())
    assert message.startswith(f"--actors 2: the Ray cluster at {two_nodes} (2 CPUs, 0 GPUs "
                              "on 2 nodes: 2 x (1 CPU, 0 GPUs)) cannot run 2 scoring actors"), \
        result.output  # fmt: skip
    assert message.endswith("To fix it, use --actors 1 or fewer (or leave --actors out)")
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_default_actors_finish_with_the_local_engines_table(two_nodes, ray_reference, tmp_path):
    with _fails_after(300):
        result = _score(tmp_path / "run", two_nodes)
    assert result.exit_code == 0, result.output
    ray_cases.assert_same_run(tmp_path / "run", ray_reference)


def test_a_stalled_run_says_what_it_waits_for_until_ray_data_stops_it(
    two_nodes, tmp_path, monkeypatch
):
    import ray.data

    lines: list[str] = []
    # The plan that used to hang: the check bypassed; the watch and Ray Data's own
    # no-progress limit (30 min by default) on a short fuse.
    monkeypatch.setattr(rb, "check_plan", lambda nodes, actors, *_, **__: actors)
    monkeypatch.setattr(ray_sizing, "say", lines.append)
    context = ray.data.DataContext.get_current()
    monkeypatch.setattr(context, "execution_no_progress_timeout_s", 8.0)
    options = rb.RayOptions(address=two_nodes, actors=2, stall_s=2.0)
    with _fails_after(120), pytest.raises(ScoringStoppedError) as stopped:
        rb.score_on_ray(ray_cases.config(tmp_path / "run"), options=options)
    assert len(lines) >= 2, lines  # said, and said again
    for line in lines:
        assert re.match(
            r"warning: no batch scored for \d+ s \(0 of \d+ done\); waiting for the first "
            r"batch from 2 scoring actors \(1 CPU each\) fed by rendering tasks \(1 CPU "
            r"each\)\. Free now: 0 of 2 CPUs, 0 of 0 GPUs\.",
            line,
        ), line
    message = str(stopped.value)
    assert message.startswith("Ray Data stopped the run: Dataset execution made no progress")
    assert "Map(_render_row)" in message and "rerun the same command" in message
    assert "\n" not in message
    assert not list((tmp_path / "run" / "parts").glob("*.parquet"))
