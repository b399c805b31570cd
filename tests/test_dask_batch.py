"""Batches on dask.distributed: a real LocalCluster of two worker processes, loopback only.

The same sessions coded by a local batch and on the cluster give the same
summary; a worker killed mid-task has its session retried on another; a
session that kills its worker twice is reported, not retried forever; a re-run
skips what is done; each worker loads its models once.
"""

from __future__ import annotations

import csv
import functools
import os
import signal
import sys
from pathlib import Path

import cloudpickle
import dask
import pytest
from conftest import FIXTURES, LoopbackOnly
from distributed import Client, LocalCluster

from sessioncoder.cli import main
from sessioncoder.research import dask_batch
from sessioncoder.research.batch import BatchJob, collect_inputs, run_job, unique_stems

TXT = FIXTURES / "transcripts" / "supervision.txt"
SETTINGS = {"use_model": False, "audio": {"asr_model": "base"}, "formats": ["json", "csv"]}

# The kill-switch runners below are defined here, so the workers must get them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    with (
        dask.config.set(dask_batch.SCHEDULER_CONFIG),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        client.register_plugin(LoopbackOnly())  # the workers may reach loopback and nothing else
        yield local


def make_inputs(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = TXT.read_text().splitlines()
    for i in range(n):
        (folder / f"s{i}.txt").write_text("\n".join(lines[: 8 + 3 * i]) + "\n")
    return folder


def jobs_for(inputs: Path, out: Path) -> list[BatchJob]:
    paths = collect_inputs([inputs], out)
    stems = unique_stems(paths)
    book = str(Path("codebooks/stics.yaml").resolve())
    return [BatchJob(p, stems[p], out, book, SETTINGS) for p in paths]


def summary(out: Path) -> list[dict]:
    with open(out / "summary.csv") as handle:
        return list(csv.DictReader(handle))


def test_cluster_summary_is_identical_to_a_local_run_and_resumes(tmp_path, cluster, capsys, no_network):
    inputs = make_inputs(tmp_path / "in", 5)
    common = [str(inputs), "--no-model", "--format", "json,csv"]
    assert main(["batch", *common, "-o", str(tmp_path / "local")]) == 0
    assert (
        main(["batch", *common, "-o", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
    )
    assert "coded 5, skipped 0" in capsys.readouterr().out
    assert summary(tmp_path / "dask") == summary(tmp_path / "local")
    assert (tmp_path / "dask" / "summary.csv").read_bytes() == (
        tmp_path / "local" / "summary.csv"
    ).read_bytes()
    for name in ("s0", "s4"):
        local = (tmp_path / "local" / f"{name}.utterances.csv").read_bytes()
        assert (tmp_path / "dask" / f"{name}.utterances.csv").read_bytes() == local
    assert (
        main(["batch", *common, "-o", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
    )
    assert "coded 0, skipped 5" in capsys.readouterr().out
    assert not list((tmp_path / "dask").glob(".*.tmp"))


def _kill_once(marker_dir: Path, victim: str, job: BatchJob, force: bool):
    """Kill this worker process (SIGKILL, no clean-up) the first time it codes ``victim``."""
    marker = marker_dir / f"killed-{job.stem}"
    if job.stem == victim and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return run_job(job, force)


def _always_kill(victim: str, job: BatchJob, force: bool):
    if job.stem == victim:
        os.kill(os.getpid(), signal.SIGKILL)
    return run_job(job, force)


def test_a_killed_workers_session_is_retried_on_another(tmp_path, cluster):
    inputs = make_inputs(tmp_path / "in", 4)
    markers = tmp_path / "markers"
    markers.mkdir()
    expected = {r.stem: r.row for r in map(run_job, jobs_for(inputs, tmp_path / "local"))}
    runner = functools.partial(_kill_once, markers, "s1")
    results = list(
        dask_batch.iter_dask_batch(
            jobs_for(inputs, tmp_path / "out"), cluster.scheduler_address, runner=runner
        )
    )
    assert (markers / "killed-s1").exists()  # a worker really died on it
    assert sorted(r.stem for r in results) == ["s0", "s1", "s2", "s3"]
    assert all(r.status == "coded" for r in results), [r.error for r in results]
    assert {r.stem: r.row for r in results} == expected
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_a_session_that_kills_its_worker_twice_is_reported(tmp_path, cluster):
    inputs = make_inputs(tmp_path / "in", 3)
    runner = functools.partial(_always_kill, "s2")
    results = {
        r.stem: r
        for r in dask_batch.iter_dask_batch(
            jobs_for(inputs, tmp_path / "out"), cluster.scheduler_address, runner=runner
        )
    }
    assert results["s2"].status == "failed" and "not retried again" in (results["s2"].error or "")
    # A session finished on a worker that then died is run again, and finds its outputs done.
    assert {results["s0"].status, results["s1"].status} <= {"coded", "skipped"}
    assert (tmp_path / "out" / "s0.session.json").exists() and (tmp_path / "out" / "s1.session.json").exists()
    assert not (tmp_path / "out" / "s2.session.json").exists()


def _nlp_loads() -> int:
    """How many times this process has built its spaCy pipeline (0 before the first session)."""
    nlp = sys.modules.get("sessioncoder.nlp")
    return nlp.load_nlp.cache_info().misses if nlp is not None else 0


def test_each_worker_loads_its_models_once(tmp_path, cluster):
    inputs = make_inputs(tmp_path / "in", 6)
    with Client(cluster.scheduler_address) as client:
        client.wait_for_workers(2, timeout=120)  # a worker killed by an earlier test is restarted by now
        pids = client.run(os.getpid)
        results = list(
            dask_batch.iter_dask_batch(jobs_for(inputs, tmp_path / "out"), cluster.scheduler_address)
        )
        assert client.run(os.getpid) == pids  # the same two worker processes did all six sessions
        loads = client.run(_nlp_loads)
    assert all(r.status == "coded" for r in results)
    assert len(pids) == 2 and all(n <= 1 for n in loads.values()), loads


def test_scheduler_local_starts_its_own_cluster(tmp_path, capsys):
    inputs = make_inputs(tmp_path / "in", 3)
    (inputs / "broken.txt").write_text("no speaker here\n")
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            str(inputs),
            "-o",
            str(out),
            "--no-model",
            "--format",
            "json",
            "--scheduler",
            "local",
            "--jobs",
            "2",
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and "coded 3, skipped 0" in captured.out and "failed 1" in captured.out
    assert "broken.txt" in captured.err
    assert [r["session"] for r in summary(out)] == ["s0", "s1", "s2"]


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    inputs = make_inputs(tmp_path / "in", 1)
    code = main(["batch", str(inputs), "-o", str(tmp_path / "o"), "--scheduler", "nowhere://x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--scheduler" in err[0]
