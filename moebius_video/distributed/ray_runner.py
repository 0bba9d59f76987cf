"""Fill a clip's segments on Ray actors; results come back in segment order.

Only this module imports Ray, and only when more than one worker (or a cluster
address) is asked for, so a laptop run never pays Ray's start-up.

Each actor holds one `SegmentFiller`: the model is loaded once per actor, not per
segment. The driver sends a segment (a few integers) and gets back patches; the
actor decodes its own frames from the source. Failures:
- a worker process that dies (killed, pre-empted, segfault) is restarted by Ray
  (`max_restarts`) and its unfinished calls are re-run (`max_task_retries`);
  segments are pure, so re-running one gives the same patches;
- a `RetryableError` raised while filling (out of GPU memory) is retried by the
  driver with smaller model tiles, up to `oom_retries` times;
- anything else (bad input, a bug) stops the run with that error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.exceptions import RayActorError, RayTaskError

from ..errors import MoebiusVideoError, OptionError, RetryableError
from .plan import Segment
from .worker import OOM_RETRIES, ClipJob, SegmentFiller, SegmentResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    """How to reach Ray and what each worker asks of it.

    address: None starts a private local cluster with `workers` CPUs; "auto" or
        "ray://host:10001" / "host:6379" joins an existing cluster.
    workers: number of actors (each one fills one segment at a time).
    cpus_per_worker / gpus_per_worker: Ray resources per actor. gpus_per_worker None
        (the default) asks for one GPU per actor when the job's device is not "cpu" and
        the cluster has GPUs, so Ray places one actor per GPU; none otherwise.
    """

    workers: int = 2
    address: str | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    max_restarts: int = 3
    max_task_retries: int = 3
    oom_retries: int = OOM_RETRIES
    in_flight_per_worker: int = 2


@ray.remote
class SegmentWorker:
    """One Ray actor: a `SegmentFiller` kept alive across segments."""

    def __init__(self, job: ClipJob):
        from ..allocator import limit_allocator_retention

        limit_allocator_retention()  # the actor is a process of its own
        self._filler = SegmentFiller(job)

    def fill(
        self, segment: Segment, keep: tuple[int, int] | None, attempt: int, pack_patches: bool
    ) -> SegmentResult:
        return self._filler.fill(segment, keep, attempt, pack_patches)


class RaySegmentRunner:
    """Context manager: connects to Ray, starts the actors, fills segments, cleans up.

    Joins Ray if it is already initialised in this process (tests, notebooks) and
    then leaves it running; otherwise starts or joins per `options.address` and
    shuts down on exit.
    """

    def __init__(self, job: ClipJob, options: RayOptions):
        self.job = job
        self.options = options
        self.actors: list = []
        self._owns_ray = False

    def __enter__(self) -> RaySegmentRunner:
        self._owns_ray = connect(self.options.address, self.options.workers)
        actor_class = SegmentWorker.options(
            num_cpus=self.options.cpus_per_worker,
            num_gpus=self._gpus_per_worker(),
            max_restarts=self.options.max_restarts,
            max_task_retries=self.options.max_task_retries,
        )
        # The job is passed by value (it is small): a restarted actor needs its arguments
        # again, and an object-store reference could be gone by then.
        self.actors = [actor_class.remote(self.job) for _ in range(max(self.options.workers, 1))]
        return self

    def _gpus_per_worker(self) -> float:
        if self.options.gpus_per_worker is not None:
            return self.options.gpus_per_worker
        gpus = ray.cluster_resources().get("GPU", 0)
        if self.job.device.startswith("cuda") and gpus < 1:
            raise OptionError("device", f" {self.job.device}: the Ray cluster has no GPU")
        return 1.0 if gpus >= 1 and self.job.device != "cpu" else 0.0

    def __exit__(self, *exc_info) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        if self._owns_ray:
            ray.shutdown()

    def run(
        self,
        segments: list[Segment],
        keep: tuple[int, int] | None = None,
        pack_patches: bool = True,
    ) -> Iterator[SegmentResult]:
        """Fill `segments`; yield their results in segment order, whatever order they finish in.

        pack_patches: workers send `PackedPatch`es (the caller unpacks them against the
        frames it decodes, see transfer.py) instead of whole FramePatches.

        At most `in_flight_per_worker` calls wait per actor, and results that
        arrive early are held only until the ones before them arrive, so driver
        memory stays bounded by a few segments' patches.
        """
        todo = list(reversed(segments))  # pop() takes the earliest segment next
        order = [s.index for s in segments]
        pending: dict = {}  # ObjectRef -> (segment, actor, attempt)
        load = {id(actor): 0 for actor in self.actors}
        done: dict[int, SegmentResult] = {}
        next_pos = 0
        limit = self.options.in_flight_per_worker

        def submit(segment: Segment, attempt: int) -> None:
            actor = min(self.actors, key=lambda a: load[id(a)])
            load[id(actor)] += 1
            ref = actor.fill.remote(segment, keep, attempt, pack_patches)
            pending[ref] = (segment, actor, attempt)

        while next_pos < len(order):
            # Keep every actor busy, but never run far ahead of the next result to hand out.
            window_end = next_pos + limit * len(self.actors)
            while todo and len(pending) < limit * len(self.actors):
                if len(order) - len(todo) >= window_end:
                    break
                submit(todo.pop(), 0)
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            segment, actor, attempt = pending.pop(ref)
            load[id(actor)] -= 1
            try:
                done[segment.index] = ray.get(ref)
            except RayTaskError as error:
                cause = error.cause if error.cause is not None else error
                if isinstance(cause, RetryableError) and attempt < self.options.oom_retries:
                    log.warning("%s; retrying with smaller tiles", cause)
                    submit(segment, attempt + 1)
                    continue
                if isinstance(cause, MoebiusVideoError):
                    raise cause from None
                raise
            except RayActorError as error:
                raise RetryableError(
                    f"{self.job.source}: a Ray worker died more than "
                    f"{self.options.max_restarts} times while filling frames "
                    f"{segment.start}-{segment.stop - 1}: {error}"
                ) from error
            while next_pos < len(order) and order[next_pos] in done:
                yield done.pop(order[next_pos])
                next_pos += 1


_RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


def connect(address: str | None, workers: int) -> bool:
    """Make sure this process is connected to Ray; True when this call started the connection.

    Already connected (a test, a notebook, a batch): nothing to do. No address: start a
    private local cluster with one CPU per worker. Otherwise join the cluster at
    `address` ("auto", "host:6379" or "ray://host:10001"); moebius-video must be
    installed in the same version on every node.
    """
    if ray.is_initialized():
        return False
    with _signal_handlers_kept():
        if address is None:
            # Ray 2.5x turns token authentication on for a new local cluster and logs a
            # WARNING saying so, in every run's log. The protection is right for our
            # private cluster; the line is not news. (Setting RAY_AUTH_MODE ourselves
            # instead misses Ray's cached config in a process that used Ray before.)
            logging.getLogger(_RAY_AUTH_LOGGER).setLevel(logging.ERROR)
            ray.init(
                num_cpus=max(workers, 1),
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,  # farm logs: our progress lines, not Ray's
                runtime_env={"env_vars": {"PYTHONPATH": _package_parent()}},
            )
        else:
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as error:
                raise RetryableError(
                    f"--ray-address {address}: cannot join the cluster: {error}"
                ) from None
    return True


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """Put back the process's SIGTERM/SIGHUP/SIGINT handlers after ray.init.

    ray.init installs its own: a C++ handler that dumps a stack trace and a Python one that
    exits with status 15. The CLI's handlers unwind like Ctrl-C instead (exit 130, output
    removed), and that unwinding is what kills the actors and stops a cluster we started.
    """
    names = ("SIGTERM", "SIGHUP", "SIGINT")
    signals = [getattr(signal, name) for name in names if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and Ray sets none from elsewhere
        return
    previous = {sig: signal.getsignal(sig) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set from C, not by Python; leave Ray's
                signal.signal(sig, handler)


def _package_parent() -> str:
    """The folder that holds `moebius_video`, so local workers import this same copy."""
    here = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return here if not existing else os.pathsep.join([here, existing])
