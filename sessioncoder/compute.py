"""How many CPU threads the models may use: one setting for Whisper, the sentence encoder and batch workers."""

from __future__ import annotations

import os


def cpu_threads() -> int:
    """``SESSIONCODER_THREADS``, else the CPUs this process may use."""
    env = os.environ.get("SESSIONCODER_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def share_threads(workers: int) -> None:
    """In a batch worker: split the CPUs between ``workers`` processes instead of each taking them all."""
    os.environ["SESSIONCODER_THREADS"] = str(max(1, cpu_threads() // max(1, workers)))
