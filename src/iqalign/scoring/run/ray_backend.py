"""Scoring on a Ray cluster: the same run folder, shards and table as the local engine.

``iqalign score ... --backend ray [--address auto|ray://HOST:PORT]`` plans the run here,
exactly as the local engine does (:func:`iqalign.scoring.run.engine.score` with a backend),
and hands the pending shards to a Ray Data pipeline::

    one row per loader batch (its shard, its WorkItems)       -- this process
      -> CPU stage: render_item per source image (decode, Resize/CenterCrop, corrupt,
         JPEG), one Ray task per batch, spread over the cluster's CPUs
      -> GPU stage: a pool of actors; each builds the scorers once (weights load once)
         and runs the local engine's batch function (:class:`.engine.BatchScorer`)
      -> this process: a shard's part is written (atomically) when its last batch is in

The batches are the plan's (:attr:`.plan.RunPlan.pending`, the local engine's own), so
every batch -- and every number in the table -- is the same whatever the number of
workers or actors; results go to the run's sink (:class:`.execute.RunSink`); rows arrive
in any order and are put back in item order per shard. Only this process writes, and only
whole shards: after ``kill -9`` the same command skips the parts on disk. A worker or actor
lost mid-run is retried by Ray Data (tasks ``max_retries=-1``, actors ``max_restarts=-1``);
its batch's result counts only once, because a batch is delivered when its task ends.

Memory stays bounded by Ray Data's streaming backpressure: an operator stops taking new
batches while its outputs fill its share of the object store (Ray's default: 30% of RAM;
``ray start --object-store-memory`` sets it); rendered batches are ~150 kB per picture.
Measured: peak memory of a local cluster run grew 3% for 5x the images
(benchmarks/README.md).

A run never waits silently (:mod:`.ray_sizing`): a plan whose actors would leave no CPU
for the rendering tasks is refused before any work, and a run that gets no batch back for
five minutes says what it waits for, until Ray Data's own no-progress limit stops it.

On a cluster, the data paths and the ``--weights`` files must be readable under the same
path on every node (shared storage), and iqalign with the [scoring] extra must be
installed there; the offline settings of this process (``HF_HUB_OFFLINE``, ``TORCH_HOME``,
...) go to every worker through ``runtime_env``.
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iqalign.errors import (
    IqalignError,
    MissingDependencyError,
    ScoringConfigError,
    ScoringStoppedError,
)
from iqalign.scoring.run.ray_sizing import RENDER_CPUS, STALL_S, Node, StallWatch, check_plan

if TYPE_CHECKING:
    import torch

    from iqalign.scoring.run.config import ScoreConfig
    from iqalign.scoring.run.engine import Progress, RunResult
    from iqalign.scoring.run.execute import SessionStats, Sink
    from iqalign.scoring.run.pipeline import RenderSettings
    from iqalign.scoring.run.plan import RunPlan
    from iqalign.scoring.run.prepare import Scorers
    from iqalign.scoring.run.shards import ScoredBatch

__all__ = ["OFFLINE_ENV", "RayOptions", "connect", "import_ray", "score_on_ray", "worker_env"]

# Settings that decide where libraries look for weights and whether they may download:
# workers on other nodes do not inherit this process's environment.
OFFLINE_ENV = (
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME",
    "HF_HUB_CACHE", "TORCH_HOME", "XDG_CACHE_HOME",
)  # fmt: skip
_CONNECT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class RayOptions:
    """Where and how to run on Ray (execution only: none of it changes a score).

    ``address``: None starts a local cluster (``num_cpus``, ``object_store_memory``);
    ``"auto"`` joins the cluster this machine belongs to; ``"ray://HOST:PORT"`` connects
    through Ray Client. ``actors``: scoring actors (0: one per ``gpus_per_actor`` of the
    cluster's GPUs, or one on a CPU cluster, capped to what fits beside a rendering CPU).
    ``gpus_per_actor``: None is 1 when the cluster has GPUs, else 0; fractions put several
    actors on one GPU. ``stall_s``: with no batch back for this long, the run says what it
    waits for, and again every ``stall_s`` (:mod:`.ray_sizing`).
    """

    address: str | None = None
    actors: int = 0
    gpus_per_actor: float | None = None
    cpus_per_actor: float = 1.0
    num_cpus: int | None = None
    object_store_memory: int | None = None
    stall_s: float = STALL_S


def import_ray() -> Any:
    """``ray`` with Ray Data, or a clear error naming the extra."""
    try:
        import ray
        import ray.data  # the [data] extra: without it Ray Data cannot import
    except ImportError as err:
        raise MissingDependencyError(
            f"--backend ray needs Ray with Ray Data ({err}); install it with "
            "pip install 'iqalign[ray]'"
        ) from err
    return ray


def worker_env() -> dict[str, str]:
    """The offline and cache settings of this process that workers must share."""
    return {k: os.environ[k] for k in OFFLINE_ENV if k in os.environ}


def connect(ray: Any, options: RayOptions) -> bool:
    """Join or start a cluster; True if this call started the connection (close it after)."""
    if ray.is_initialized():
        return False
    # The offline settings go to the workers per task (see _dataset), whoever connected.
    common = {"log_to_driver": False}
    address = options.address
    if address in (None, "", "local"):
        ray.init(num_cpus=options.num_cpus, object_store_memory=options.object_store_memory,
                 include_dashboard=False, **common)  # fmt: skip
        return True
    if address != "auto":
        _check_reachable(address)
    try:
        ray.init(address=address, **common)
    except (ConnectionError, TimeoutError, RuntimeError) as err:
        raise ScoringConfigError(
            f"--address {address!r}: cannot join a Ray cluster there ({err}); start one with "
            "'ray start --head', or leave --address out to start a local cluster"
        ) from err
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds, naming the address (Ray Client alone retries for 30 s or more).

    One gRPC call with a deadline, to the service the address must offer: the Ray Client
    server for ``ray://``, the GCS otherwise. Only "nothing (or something else) answers"
    fails here; any other gRPC status (authentication, ...) is left to Ray to report.
    """
    import grpc

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ScoringConfigError(f"--address {address!r}: write auto, HOST:PORT or ray://HOST:PORT")
    what = "Ray Client server" if address.startswith("ray://") else "Ray cluster (GCS)"
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        _ping(channel, client=address.startswith("ray://"))
    except grpc.RpcError as err:
        unreachable = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.UNIMPLEMENTED)  # fmt: skip
        if err.code() in unreachable:
            raise ScoringConfigError(
                f"--address {address!r}: no {what} answers at {host}:{port} "
                f"({err.code().name}: {(err.details() or '').strip()[:80]}); start the cluster "
                "there ('ray start --head'; Ray Client listens on port 10001) or fix the address"
            ) from err
    finally:
        channel.close()


def _ping(channel: Any, *, client: bool) -> None:
    """The cheapest call each service answers (Ray's own generated stubs).

    Ray's ``*_pb2`` modules make their message classes at import time (protobuf's
    builder) and ship no ``.pyi``, so mypy sees none of them: hence the ignores below.
    """
    if client:
        from ray.core.generated import ray_client_pb2, ray_client_pb2_grpc

        request = ray_client_pb2.ClusterInfoRequest(  # type: ignore[attr-defined]  # no .pyi
            type=ray_client_pb2.ClusterInfoType.PING  # type: ignore[attr-defined]  # no .pyi
        )
        ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(
            request, timeout=_CONNECT_TIMEOUT_S
        )
    else:
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

        gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
            gcs_service_pb2.GetClusterIdRequest(),  # type: ignore[attr-defined]  # no .pyi
            timeout=_CONNECT_TIMEOUT_S,
        )


def _nodes(ray: Any) -> list[Node]:
    """The live nodes' CPUs and GPUs: an actor needs all of its resources on one of them."""
    return [
        Node(float(n["Resources"].get("CPU", 0)), float(n["Resources"].get("GPU", 0)))
        for n in ray.nodes()
        if n.get("Alive")
    ]


def score_on_ray(
    config: ScoreConfig, progress: Progress | None = None, options: RayOptions | None = None
) -> RunResult:
    """:func:`iqalign.scoring.score` on a Ray cluster: same folder, table and manifest."""
    from iqalign.scoring.run.engine import score

    options = options or RayOptions()
    ray = import_ray()
    started_here = connect(ray, options)
    try:
        return score(config, progress, backend=_RayBackend(ray, options))
    finally:
        if started_here:
            ray.shutdown()


class _RayBackend:
    """The :class:`.engine.Backend` on Ray: the device, then the plan's pending batches."""

    def __init__(self, ray: Any, options: RayOptions) -> None:
        self.ray, self.options = ray, options
        self.gpus_per_actor = 0.0
        self.actors = 1

    def device(self, config: ScoreConfig) -> torch.device:
        """The actors' device (the manifest records it); checks the cluster can run them."""
        import torch

        gpus = float(self.ray.cluster_resources().get("GPU", 0))
        wanted = self.options.gpus_per_actor
        if wanted is None:
            wanted = 1.0 if gpus and config.device != "cpu" else 0.0
        where = self.options.address or "the local Ray cluster"
        if (wanted > 0 or config.device.startswith("cuda")) and not gpus:
            raise ScoringConfigError(
                f"--device {config.device} / --gpus-per-actor {wanted:g}: {where} has no "
                "GPUs; add GPU nodes, or score on the CPU with --device cpu"
            )
        if config.device == "cpu":
            wanted = 0.0
        self.gpus_per_actor = wanted
        default = max(1, int(gpus // wanted)) if wanted else 1
        if self.options.address:
            where = f"the Ray cluster at {self.options.address}"
        # Before anything loads: actors that leave no CPU to render on would wait forever,
        # and silently (Ray waits for resources without a word).
        self.actors = check_plan(
            _nodes(self.ray), self.options.actors or default, self.options.cpus_per_actor,
            wanted, where, default=not self.options.actors,
        )  # fmt: skip
        return torch.device("cuda" if wanted else "cpu")

    def score_pending(
        self, plan: RunPlan, scorers: Scorers, sink: Sink, progress: Progress | None
    ) -> SessionStats:
        """Score the plan's pending batches; ``sink`` writes each shard as it completes."""
        from iqalign.scoring.run.execute import SessionStats

        if progress:
            progress.start(plan.rows_total, plan.rows_done)
        began = time.perf_counter()
        collector = _ShardCollector(plan, sink)
        settings = plan.render_settings(scorers.metrics)
        try:
            first = self._stream(collector, self._dataset(plan, settings), progress)
        except Exception as err:
            cause = _unwrap(err)
            if cause is err:
                stopped = _stopped_by_ray(err)
                if stopped is None:
                    raise
                raise stopped from err
            raise cause from err
        collector.check_done()
        stats = SessionStats(rows_written=collector.rows_written)
        stats.per_scorer_s.update(collector.per_scorer_s)
        stats.timings["scoring_s"] += time.perf_counter() - began
        stats.timings.update({
            "ray_actors": self.actors, "ray_gpus_per_actor": self.gpus_per_actor,
            "ray_cluster_cpus": float(self.ray.cluster_resources().get("CPU", 0)),
            "ray_first_result_s": first[0] - began if first else 0.0,
            "ray_first_result_rows": first[1] if first else 0,
        })  # fmt: skip
        if progress:
            progress.close()
        return stats

    def _stream(
        self, collector: _ShardCollector, dataset: Any, progress: Progress | None
    ) -> tuple[float, int] | None:
        """Hand every result to the collector; when the first came and its rows."""
        first, delivered, total = None, 0, len(collector.batches)

        def describe(idle_s: float) -> str:
            return self._stall_message(idle_s, delivered, total)

        with StallWatch(self.options.stall_s, describe) as watch:
            for row in dataset.iter_rows():
                watch.tick()
                delivered += 1
                # Worker start-up and weight loading: the fixed cost of a Ray run.
                rows = collector.add(int(row["batch"]), pickle.loads(row["result"]))
                if first is None:
                    first = (time.perf_counter(), rows)
                if progress:
                    progress.advance(rows)
        return first

    def _stall_message(self, idle_s: float, done: int, total: int) -> str:
        """What a run that got no batch back for ``idle_s`` waits for (one line)."""
        free, have = self.ray.available_resources(), self.ray.cluster_resources()
        gpus = f", {self.gpus_per_actor:g} GPU" if self.gpus_per_actor else ""
        waiting = "the first batch" if not done else f"batch {done + 1} of {total}"
        return (
            f"warning: no batch scored for {idle_s:.0f} s ({done} of {total} done); "
            f"waiting for {waiting} from {self.actors} scoring actor"
            f"{'s' * (self.actors != 1)} ({self.options.cpus_per_actor:g} CPU{gpus} each) "
            f"fed by rendering tasks ({RENDER_CPUS:g} CPU each). Free now: "
            f"{free.get('CPU', 0):g} of {have.get('CPU', 0):g} CPUs, "
            f"{free.get('GPU', 0):g} of {have.get('GPU', 0):g} GPUs. Starting actors load "
            "their weights first; if nothing frees up, stop the run (finished shards are "
            "kept) and rerun with fewer --actors or on more CPUs"
        )

    def _dataset(self, plan: RunPlan, settings: RenderSettings) -> Any:
        data = self.ray.data
        context = data.DataContext.get_current()
        context.enable_progress_bars = False  # the CLI draws its own bar
        context.print_on_execution_start = False
        rows = [
            {"batch": j, "work": pickle.dumps([(i, plan.work[i]) for i in batch.items])}
            for j, batch in enumerate(plan.pending)
        ]
        env = {"env_vars": worker_env()}
        workers = plan.config.workers
        rendered = data.from_items(rows, override_num_blocks=max(1, len(rows))).map(
            _render_row,
            fn_kwargs={"settings": settings},
            compute=data.TaskPoolStrategy(size=workers) if workers > 0 else None,
            num_cpus=RENDER_CPUS, runtime_env=env,
            scheduling_strategy="SPREAD",  # the CPU work goes to every node
            # Retry a task lost with its worker, forever (Ray Data's default, said here):
            # remote args unlike the actors' also stop Ray Data from fusing this stage
            # into them, which it would on a CPU cluster -- every picture would then be
            # rendered by the few scoring processes (a test checks the plan).
            max_retries=-1,
        )  # fmt: skip
        actor_config = plan.config.replace(device=plan.device_type)
        return rendered.map(
            _ScoringActor,
            fn_constructor_kwargs={"config": actor_config, "batch_size": plan.batch_size},
            compute=data.ActorPoolStrategy(size=self.actors),
            num_gpus=self.gpus_per_actor or None, num_cpus=self.options.cpus_per_actor,
            runtime_env=env,
        )  # fmt: skip


def _render_row(row: dict[str, Any], settings: RenderSettings) -> dict[str, Any]:
    """CPU stage: render (and run the CPU metrics on) every source image of one batch."""
    from iqalign.scoring.run.feed import one_thread_per_library
    from iqalign.scoring.run.pipeline import render_item

    # One thread per task: the tasks are the parallelism (Ray sets OMP_NUM_THREADS=1).
    # Torch stays unimported here: rendering needs none of it, and it costs seconds.
    one_thread_per_library()
    samples = [(i, render_item(w, settings=settings)) for i, w in pickle.loads(row["work"])]
    return {"batch": row["batch"], "samples": pickle.dumps(samples, protocol=5)}


class _ScoringActor:
    """GPU stage: the scorers, built once per actor, run on each rendered batch."""

    def __init__(self, config: ScoreConfig, batch_size: int) -> None:
        from iqalign.scoring.run.engine import BatchScorer, resolve_device
        from iqalign.scoring.run.prepare import build_scorers

        device = resolve_device(config.device)
        # This process planned the run and checked labels and references already.
        scorers = build_scorers(config, has_labels=True, has_clean=True)
        for scorer in [*scorers.classifiers.values(), *scorers.metrics]:
            scorer.to(device)
        if device.type == "cuda":
            import torch

            # Fixed batch shapes: cuDNN's fastest kernels (this process only scores).
            torch.backends.cudnn.benchmark = True
        self.scorer = BatchScorer(config, scorers, device, batch_size)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        from iqalign.scoring.run.pipeline import collate

        batch = collate(pickle.loads(row["samples"]))
        scored = self.scorer.collect(self.scorer.launch(batch))
        timer = self.scorer.timer
        timer.collect(wait=True)
        scored.timings = dict(timer.totals)
        timer.totals.clear()
        return {"batch": row["batch"], "result": pickle.dumps(scored, protocol=5)}


class _ShardCollector:
    """Batch results in any order -> shards in item order, each written once complete.

    Batch ``j`` is ``plan.pending[j]``; the collector counts what it wrote and the
    actors' per-scorer seconds itself (the backend reports them).
    """

    def __init__(self, plan: RunPlan, sink: Sink) -> None:
        from collections import Counter, defaultdict

        self.sink, self.batches = sink, plan.pending
        self.missing = Counter(batch.shard for batch in self.batches)
        self.results: dict[int, dict[int, ScoredBatch]] = {k: {} for k in self.missing}
        self.rows_written = 0
        self.per_scorer_s: dict[str, float] = defaultdict(float)

    def add(self, j: int, scored: ScoredBatch) -> int:
        """Keep batch ``j``'s result; write its shard if it was the last. Rows it settles."""
        shard = self.batches[j].shard
        if j in self.results[shard]:  # cannot happen with Ray's exactly-once delivery
            raise RuntimeError(f"batch {j} of shard {shard} delivered twice")
        self.results[shard][j] = scored
        for name, seconds in scored.timings.items():
            self.per_scorer_s[name] += seconds
        rows = self.sink.accept(scored)  # the local engine's failure threshold, batch by batch
        self.missing[shard] -= 1
        if not self.missing[shard]:
            done = self.results.pop(shard)
            # batch order is item order
            self.rows_written += self.sink.write(shard, [done[k] for k in sorted(done)])
        return rows

    def check_done(self) -> None:
        """Every pending shard was written (else Ray lost a batch: never silently)."""
        left = sorted(k for k, n in self.missing.items() if n)
        if left:
            raise RuntimeError(f"Ray returned no result for some batches of shards {left}")


def _stopped_by_ray(err: Exception) -> ScoringStoppedError | None:
    """Ray Data's own limit on a run without progress, as the one line the CLI prints.

    Ray Data stops an execution in which no block moved for
    ``execution_no_progress_timeout_s`` (30 min by default); its message names the stuck
    operators. Without this, the CLI would print a traceback.
    """
    from ray.data.exceptions import ExecutionTimeoutError

    if not isinstance(err, ExecutionTimeoutError):
        return None
    said = " ".join(
        line.strip() for line in str(err).splitlines() if not line.startswith("If this")
    )
    return ScoringStoppedError(
        f"Ray Data stopped the run: {said} The shards written so far are kept: rerun the "
        "same command to resume it, with fewer --actors or on more CPUs; where a long wait "
        "is expected (a cluster that scales up), set RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S "
        "(seconds; -1: no limit)"
    )


def _unwrap(err: BaseException) -> BaseException:
    """The iqalign error a worker raised (Ray wraps it twice), else the error itself."""
    seen = err
    for _ in range(8):
        cause = getattr(seen, "cause", None) or seen.__cause__
        if isinstance(cause, IqalignError):
            return cause
        if cause is None:
            break
        seen = cause
    return err
