"""Interrupting a batch: SIGKILL and Ctrl-C (SIGINT) lose no finished session and leave no half-written
file, and the next run codes only what was not finished.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES

TXT = FIXTURES / "transcripts" / "supervision.txt"
N_SESSIONS = 8
RUN = "import sys; from sessioncoder.cli import main; sys.exit(main())"


def make_inputs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = TXT.read_text().splitlines()
    for i in range(N_SESSIONS):
        # Long enough (a few hundred utterances) that the batch is still running when it is interrupted.
        (folder / f"s{i}.txt").write_text("\n".join(lines * (6 + i % 3)) + "\n")
    return folder


def start_batch(inputs: Path, out: Path, jobs: int) -> subprocess.Popen:
    args = ["batch", str(inputs), "--out-dir", str(out), "--no-model", "--jobs", str(jobs)]
    return subprocess.Popen(
        [sys.executable, "-c", RUN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        start_new_session=True,  # its own process group: the signal reaches the workers too, as from a terminal
    )


def wait_for_sessions(out: Path, n: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("*.session.json"))) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "batch made no progress"
        time.sleep(0.05)


def assert_every_output_complete(out: Path) -> dict[str, int]:
    """Every visible file parses in full; returns the finished sessions' modification times."""
    finished = {}
    for session in out.glob("*.session.json"):
        stem = session.name.removesuffix(".session.json")
        data = json.loads(session.read_text())
        assert data["profile"] is not None and data["utterances"]
        finished[stem] = session.stat().st_mtime_ns
    for html in out.glob("*.html"):
        assert html.read_text().rstrip().endswith("</html>"), html
    for table in out.glob("*.utterances.csv"):
        with open(table, newline="") as handle:
            rows = list(csv.DictReader(handle))
        stem = table.name.removesuffix(".utterances.csv")
        assert len(rows) == len(json.loads((out / f"{stem}.session.json").read_text())["utterances"])
    return finished


def rerun(inputs: Path, out: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", RUN, "batch", str(inputs), "--out-dir", str(out), "--no-model"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("sig", "jobs"), [(signal.SIGKILL, 1), (signal.SIGINT, 2)], ids=["sigkill", "ctrl-c"]
)
def test_interrupted_batch_loses_nothing_and_resumes(tmp_path, sig, jobs):
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    process = start_batch(inputs, out, jobs)
    wait_for_sessions(out, 2, process)
    os.killpg(process.pid, sig)
    _, stderr = process.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert process.returncode == 130, stderr
        assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    finished = assert_every_output_complete(out)
    assert 2 <= len(finished) < N_SESSIONS, "interrupt too late to test anything"
    if sig == signal.SIGINT:  # a clean stop: no temporary file left and the summary lists what is done
        assert not list(out.glob(".*.tmp"))
        with open(out / "summary.csv") as handle:
            assert {r["session"] for r in csv.DictReader(handle)} == set(finished)

    stdout = rerun(inputs, out)
    assert f"coded {N_SESSIONS - len(finished)}, skipped {len(finished)}" in stdout
    for stem, mtime in finished.items():  # finished sessions are not redone
        assert (out / f"{stem}.session.json").stat().st_mtime_ns == mtime
    assert len(assert_every_output_complete(out)) == N_SESSIONS
    for i in range(N_SESSIONS):  # a session killed between its JSON and its report was finished now
        for ending in (".session.json", ".md", ".utterances.csv", ".html"):
            assert (out / f"s{i}{ending}").is_file(), f"s{i}{ending}"
    assert not list(out.glob(".*.tmp"))  # a killed run's orphaned temporary file is cleared by the next
