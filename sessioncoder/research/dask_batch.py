"""Batches on a dask.distributed cluster: one task per session, on as many machines as the cluster has.

``sessioncoder batch ... --scheduler ADDRESS`` sends every session to the
scheduler at ADDRESS as one task; ``--scheduler local`` starts a
``LocalCluster`` of ``--jobs`` worker processes on this machine instead.

The task is the same :func:`~sessioncoder.research.batch.run_job` that a local
batch runs, so the skip-what-is-done check, the transcript cache and the atomic
writes of every output happen on the worker, in the output folder (which must
be the same path on every machine: a shared filesystem). A worker process keeps
its models between tasks (they are cached per process), so each worker loads
them once.

A worker that dies mid-task (killed, out of memory) is replaced by its nanny
and the scheduler runs the task again on a live worker. A session whose worker
dies twice is given up and reported as failed, so one recording that crashes
its decoder cannot take the cluster down in turn: that is dask's
``distributed.scheduler.allowed-failures``, set to 1 for a LocalCluster here
and to be set on the scheduler of a cluster of your own (see the README).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack

from distributed import WorkerPlugin

from sessioncoder.compute import share_threads
from sessioncoder.research.batch import BatchJob, BatchResult, run_job

LOCAL = "local"
# A session may be on one worker that dies and is then run again; when a second worker dies under
# it, it is reported. One task per worker thread at a time (saturation 1.0), so a worker's death
# counts against the session it was coding and not against sessions merely queued behind it.
SCHEDULER_CONFIG = {
    "distributed.scheduler.allowed-failures": 1,
    "distributed.scheduler.worker-saturation": 1.0,
}


class _ShareThreads(WorkerPlugin):
    """Worker plugin: split the machine's CPUs between its workers, on every (re)started worker."""

    name = "sessioncoder-threads"

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def setup(self, worker) -> None:
        share_threads(self.workers)


def _run_on_worker(
    runner: Callable[[BatchJob, bool], BatchResult], job: BatchJob, force: bool
) -> BatchResult:
    """The task: keep telemetry and hub access off in the worker too, then code the session."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    return runner(job, force)


def _lost_result(job: BatchJob, exc: BaseException) -> BatchResult:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        reason = (
            "the workers coding it died (killed, or out of memory) as often as the scheduler allows "
            "(twice with the settings in the README); not retried again"
        )
    else:
        reason = f"lost on the cluster: {type(exc).__name__}: {exc}"
    return BatchResult(job.path, job.stem, "failed", error=f"{job.path}: {reason}")


def connect(scheduler: str, workers: int, stack: ExitStack):
    """A client for the scheduler at ``scheduler``, or for a new LocalCluster of ``workers`` processes."""
    import dask
    from distributed import Client, LocalCluster

    from sessioncoder.errors import InputError

    if scheduler == LOCAL:
        stack.enter_context(dask.config.set(SCHEDULER_CONFIG))
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",  # loopback only: nothing of a session is reachable from the network
                dashboard_address="127.0.0.1:0",  # any free port, loopback only
                # Workers slow to stop at the end are killed by their nanny: not worth a warning each.
                silence_logs=logging.ERROR,
            )
        )
        client = stack.enter_context(Client(cluster))
        client.register_plugin(_ShareThreads(workers))
        return client
    try:
        client = stack.enter_context(Client(scheduler, timeout="20s"))
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"--scheduler {scheduler}: cannot connect to a dask scheduler there ({exc})"
        ) from None
    return client


def iter_dask_batch(
    jobs: list[BatchJob],
    scheduler: str,
    workers: int = 2,
    force: bool = False,
    runner: Callable[[BatchJob, bool], BatchResult] = run_job,
) -> Iterator[BatchResult]:
    """Run jobs as dask tasks; yields each result as it finishes (its outputs already on disk).

    Connects (or starts the LocalCluster) before returning, so a scheduler that
    cannot be reached is an error here, before any progress is shown.
    """
    stack = ExitStack()
    try:
        client = connect(scheduler, workers, stack)
    except BaseException:
        stack.close()
        raise
    return _results(client, stack, jobs, force, runner)


def _results(client, stack: ExitStack, jobs, force, runner) -> Iterator[BatchResult]:
    from distributed import as_completed

    with stack:
        # pure=False: a re-run must run again (the skip check is in the task), not reuse a cached result.
        futures = {
            client.submit(_run_on_worker, runner, job, force, key=f"session-{i}-{job.stem}", pure=False): job
            for i, job in enumerate(jobs)
        }
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    yield future.result()
                except Exception as exc:  # KilledWorker, or a worker lost for good: report, do not hang
                    yield _lost_result(job, exc)
        finally:  # Ctrl-C, or an abandoned generator: do not leave sessions queued on the cluster
            client.cancel(list(futures))
