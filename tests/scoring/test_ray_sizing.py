"""Will a Ray plan progress (per node), and the watch that speaks up when a run stalls.

Pure: no Ray, no cluster. The same checks on a real two-raylet cluster are in
``test_ray_two_nodes.py``.
"""

from __future__ import annotations

import doctest
import threading
import time

import pytest

from iqalign.errors import ScoringConfigError
from iqalign.scoring.run import ray_backend as rb
from iqalign.scoring.run import ray_sizing as rs
from iqalign.scoring.run.ray_sizing import Node


def test_examples_in_the_docstrings_hold():
    assert doctest.testmod(rs).failed == 0


@pytest.mark.parametrize(
    ("nodes", "cpus", "gpus", "expected"),
    [
        ([Node(1, 0), Node(1, 0)], 1, 0, 1),  # the reported hang: 2 actors took both CPUs
        ([Node(2, 0), Node(1, 0)], 1, 0, 2),
        ([Node(1, 0), Node(1, 0), Node(1, 0), Node(1, 0)], 2, 0, 0),  # 4 CPUs, none 2 on a node
        ([Node(4, 4)], 1, 1, 3),  # 4 GPUs, but a CPU must be left for rendering
        ([Node(4, 4), Node(1, 0)], 1, 1, 4),  # rendering on the CPU node
        ([Node(1, 1), Node(1, 1)], 1, 1, 1),
        ([Node(8, 2)], 1, 0.5, 4),  # two actors a GPU
        ([Node(64, 8), Node(64, 8)], 1, 1, 16),
        ([Node(1, 1)], 1, 1, 0),
        ([Node(0, 1), Node(2, 0)], 1, 1, 0),  # the GPU node has no CPU for an actor
        ([Node(0, 0)], 1, 0, 0),
        ([], 1, 0, 0),
    ],
)
def test_max_actors_counts_per_node_and_keeps_a_cpu_for_rendering(nodes, cpus, gpus, expected):
    assert rs.max_actors(nodes, cpus, gpus) == expected


def test_fractions_of_a_cpu_count_as_ray_counts_them():
    assert rs._holds(0.3, 0, 0.1, 0) == 3  # 0.3 / 0.1 is 2.999... in floats


def test_actors_that_fit_are_kept_and_the_default_is_capped():
    nodes = [Node(4, 4)]
    assert rs.check_plan(nodes, 3, 1, 1, "here") == 3
    assert rs.check_plan(nodes, 4, 1, 1, "here", default=True) == 3  # one per GPU, capped


def test_actors_that_leave_no_cpu_for_rendering_are_refused_naming_the_fix():
    nodes = [Node(1, 0), Node(1, 0)]
    with pytest.raises(ScoringConfigError) as caught:
        rs.check_plan(nodes, 2, 1, 0, "the Ray cluster at h:6379")
    assert str(caught.value) == (
        "--actors 2: the Ray cluster at h:6379 (2 CPUs, 0 GPUs on 2 nodes: 2 x (1 CPU, "
        "0 GPUs)) cannot run 2 scoring actors (1 CPU, 0 GPUs each, on one node) and keep "
        "1 CPU free for the rendering tasks, so the run would wait forever; at most 1 fits. "
        "To fix it, use --actors 1 or fewer (or leave --actors out)"
    )


def test_a_plan_that_fits_in_total_but_on_no_node_is_refused():
    nodes = [Node(1, 1), Node(2, 0)]  # 3 CPUs for 1 actor (2 CPUs) + rendering, but...
    with pytest.raises(ScoringConfigError, match=r"at most 0 fit\. To fix it, add CPUs.*"
                       r"--gpus-per-actor"):  # fmt: skip
        rs.check_plan(nodes, 1, 2, 1, "here")


def test_a_default_that_cannot_run_is_refused_too():
    with pytest.raises(ScoringConfigError, match=r"^--actors \(default: 1\): the local .*1 CPU"):
        rs.check_plan([Node(1, 0)], 1, 1, 0, "the local Ray cluster", default=True)


def _wait_until(done, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_watch_reports_a_stall_and_again_while_it_lasts():
    lines: list[str] = []
    with rs.StallWatch(0.1, lambda idle: f"{idle:.1f}", lines.append):
        _wait_until(lambda: len(lines) >= 3)
    assert [float(x) for x in lines[:3]] == pytest.approx([0.1, 0.2, 0.3], abs=0.05)
    count = len(lines)
    time.sleep(0.15)
    assert len(lines) == count  # the watch stopped with the block


def test_progress_keeps_the_watch_quiet_and_restarts_its_clock():
    lines: list[str] = []
    with rs.StallWatch(0.3, lambda idle: f"{idle:.2f}", lines.append) as watch:
        for _ in range(10):  # 0.5 s of steady progress
            time.sleep(0.05)
            watch.tick()
        assert lines == []
        _wait_until(lambda: lines)
    assert float(lines[0]) == pytest.approx(0.3, abs=0.05)


def test_a_failing_description_is_still_a_report():
    lines: list[str] = []

    def broken(idle: float) -> str:
        raise ConnectionError("GCS gone")

    with rs.StallWatch(0.05, broken, lines.append):
        _wait_until(lambda: lines)
    assert lines[0].startswith("no progress for 0 s (asking Ray why: ConnectionError('GCS gone')")


def test_the_watch_prints_to_stderr_by_default(capsys):
    done = threading.Event()
    with rs.StallWatch(0.05, lambda idle: "stalled"):
        done.wait(0.2)
    assert "stalled\n" in capsys.readouterr().err


class _Busy:
    """Two 1-CPU actors holding the whole cluster, as Ray reports it."""

    def available_resources(self) -> dict[str, float]:
        return {"memory": 1e9}  # Ray leaves out a resource that is used up

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 2.0, "memory": 2e9}


def test_the_stall_message_says_what_the_run_waits_for():
    backend = rb._RayBackend(_Busy(), rb.RayOptions(actors=2))
    backend.actors = 2
    assert backend._stall_message(300.4, 0, 20) == (
        "warning: no batch scored for 300 s (0 of 20 done); waiting for the first batch "
        "from 2 scoring actors (1 CPU each) fed by rendering tasks (1 CPU each). Free now: "
        "0 of 2 CPUs, 0 of 0 GPUs. Starting actors load their weights first; if nothing "
        "frees up, stop the run (finished shards are kept) and rerun with fewer --actors "
        "or on more CPUs"
    )
    backend.gpus_per_actor = 0.5
    assert "waiting for batch 4 of 20 from 2 scoring actors (1 CPU, 0.5 GPU each)" in (
        backend._stall_message(301, 3, 20)
    )
