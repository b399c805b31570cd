"""The command line end to end: outputs, bad input (one line, exit 2, no partial output), batch resume, no network."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from sessioncoder.cli import main
from sessioncoder.research import batch as batch_module
from sessioncoder.schema import CodedSession

TXT = FIXTURES / "transcripts" / "supervision.txt"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sessioncoder.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_code_writes_all_outputs_and_makes_no_network_call(tmp_path, no_network, capsys):
    before = TXT.read_bytes()
    assert main(["code", str(TXT), "--out-dir", str(tmp_path), "--no-model"]) == 0
    assert TXT.read_bytes() == before  # the input is never modified
    stem = tmp_path / "supervision"
    session = CodedSession.load(f"{stem}.session.json")
    assert len(session.utterances) == 32
    assert session.codebooks[0].id == "stics" and session.source.sha256
    assert session.profile is not None and session.profile.miti.questions > 0
    with open(f"{stem}.utterances.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["index"]) for r in rows] == list(range(32))
    assert rows[2]["codes"] == "structuring.check_in;mi.open_question"
    assert "## MITI summary scores" in Path(f"{stem}.md").read_text()
    assert Path(f"{stem}.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert "Reflection-to-question ratio" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.tmp"))


def test_contract_fields(tmp_path):
    assert main(["code", str(TXT), "-o", str(tmp_path), "--no-model", "--format", "json"]) == 0
    data = json.loads((tmp_path / "supervision.session.json").read_text())
    u = data["utterances"][4]
    assert {"index", "speaker", "role", "start", "end", "text", "codes"} <= set(u)
    assert {"code", "confidence", "source"} <= set(u["codes"][0])
    assert not (tmp_path / "supervision.html").exists()


def test_recoding_from_session_json(tmp_path):
    assert main(["code", str(TXT), "-o", str(tmp_path / "a"), "--no-model", "--format", "json"]) == 0
    again = tmp_path / "a" / "supervision.session.json"
    assert main(["code", str(again), "-o", str(tmp_path / "b"), "--no-model", "--format", "json"]) == 0
    first = CodedSession.load(again)
    second = CodedSession.load(tmp_path / "b" / "supervision.session.json")
    assert [u.code_ids for u in first.utterances] == [u.code_ids for u in second.utterances]


BAD_INPUTS = {
    "missing": (None, "file not found"),
    "empty": (b"", "file is empty"),
    "binary": (bytes(range(256)) * 4, "not a text transcript"),
    "no_speakers": (b"just some words\nwith no speaker labels\n", "expected 'Speaker: text'"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_exit_2_no_output(tmp_path, case):
    content, message = BAD_INPUTS[case]
    path = tmp_path / f"{case}.txt"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    result = run_cli("code", str(path), "--out-dir", str(out))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("codebook", "message"),
    [("nope", "unknown codebook id 'nope'"), ("BAD", "malformed YAML")],
)
def test_bad_codebook_one_line_exit_2(tmp_path, codebook, message):
    if codebook == "BAD":
        codebook = str(tmp_path / "bad.yaml")
        Path(codebook).write_text("id: [oops\n")
    out = tmp_path / "out"
    result = run_cli("code", str(TXT), "--out-dir", str(out), "--codebook", codebook)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_debug_shows_traceback(tmp_path):
    result = run_cli("code", str(tmp_path / "missing.txt"), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_codebook_commands(tmp_path):
    assert main(["codebook", "list"]) == 0
    assert main(["codebook", "show", "stics", "mi.persuade"]) == 0
    assert main(["codebook", "validate", "codebooks/stics.yaml"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: '1'\nname: x\ngroups: {}\ncodes: {}\n")
    assert main(["codebook", "validate", str(bad)]) == 2


def make_inputs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    lines = TXT.read_text().splitlines()
    paths = []
    for i in range(n):
        path = folder / f"s{i}.txt"
        path.write_text("\n".join(lines[: 10 + 4 * i]) + "\n")
        paths.append(path)
    return paths


def test_batch_resume_after_interruption(tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    make_inputs(inputs, 3)
    (inputs / "broken.txt").write_text("no speaker here\n")
    out = tmp_path / "out"
    real_run_job = batch_module.run_job
    calls: list[str] = []

    def interrupt_on_third(job, force=False):
        calls.append(job.stem)
        if len(calls) == 3:  # broken.txt (fails), s0 (coded), then Ctrl-C
            raise KeyboardInterrupt
        return real_run_job(job, force)

    monkeypatch.setattr(batch_module, "run_job", interrupt_on_third)
    assert main(["batch", str(inputs), "--out-dir", str(out), "--no-model"]) == 130
    assert (out / "broken.session.json").exists() is False
    done = sorted(p.name for p in out.glob("*.session.json"))
    assert len(done) == 1  # the one finished before the interruption is kept
    assert not list(out.glob(".*.tmp"))
    with open(out / "summary.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 1

    monkeypatch.setattr(batch_module, "run_job", real_run_job)
    first_mtime = (out / done[0]).stat().st_mtime_ns
    assert main(["batch", str(inputs), "--out-dir", str(out), "--no-model"]) == 2  # broken.txt fails
    assert (out / done[0]).stat().st_mtime_ns == first_mtime  # skipped, not redone
    assert sorted(p.name for p in out.glob("*.session.json")) == [
        "s0.session.json",
        "s1.session.json",
        "s2.session.json",
    ]
    with open(out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["session"] for r in rows] == ["s0", "s1", "s2"]
    assert all(float(r["duration_min"]) > 0 for r in rows)
    for row in rows:  # the overall skill score and praise against criticism, as in each session's profile
        profile = CodedSession.load(out / f"{row['session']}.session.json").profile
        assert float(row["overall_skill"]) == pytest.approx(profile.overall_skill.score, abs=1e-3)
        assert int(row["praise"]) == profile.praise_criticism.positive
        assert int(row["criticism"]) == profile.praise_criticism.negative

    # --force re-codes; a changed codebook or input is not "already coded"
    (inputs / "broken.txt").unlink()
    assert main(["batch", str(inputs), "--out-dir", str(out), "--no-model", "--force"]) == 0
    assert (out / done[0]).stat().st_mtime_ns != first_mtime


def test_batch_parallel_workers(tmp_path):
    inputs = tmp_path / "in"
    make_inputs(inputs, 2)
    out = tmp_path / "out"
    result = run_cli(
        "batch", str(inputs), "--out-dir", str(out), "--jobs", "2", "--no-model", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert "coded 2, skipped 0" in result.stdout
    result = run_cli(
        "batch", str(inputs), "--out-dir", str(out), "--jobs", "2", "--no-model", "--format", "json"
    )
    assert "coded 0, skipped 2" in result.stdout


def test_batch_no_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("batch", str(tmp_path / "empty"), "--out-dir", str(tmp_path / "o"))
    assert result.returncode == 2 and "no sessions found" in result.stderr


def test_same_stem_inputs_do_not_overwrite(tmp_path):
    shutil.copy(FIXTURES / "transcripts" / "supervision.vtt", tmp_path / "x.vtt")
    shutil.copy(FIXTURES / "transcripts" / "supervision.csv", tmp_path / "x.csv")
    out = tmp_path / "out"
    assert (
        main(["batch", str(tmp_path / "x.vtt"), str(tmp_path / "x.csv"), "-o", str(out), "--no-model"]) == 0
    )
    assert {p.name for p in out.glob("*.session.json")} == {"x_vtt.session.json", "x_csv.session.json"}
