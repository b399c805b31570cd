"""The committed bad-input corpus (tests/fixtures/bad_inputs, made by scripts/make_bad_inputs.py).

Each refused case must end with exactly one line on stderr and exit code 2,
no traceback and no internal error, nothing written to the output folder and
its input unchanged. Each accepted case (a BOM, CRLF, UTF-16 ...) must code
cleanly, with the speakers read right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from sessioncoder.cli import main
from sessioncoder.fileio import sha256_file
from sessioncoder.schema import CodedSession

CORPUS = FIXTURES / "bad_inputs"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
GOOD = FIXTURES / "transcripts" / "supervision.txt"
IDS = [c["file"] for c in MANIFEST]


def test_corpus_is_large_and_covers_the_issue_examples():
    errors = [c for c in MANIFEST if c["expect"] == "error"]
    assert len(errors) >= 40
    names = " ".join(IDS)
    for example in (
        "audio/empty",
        "audio/truncated",
        "recording_as.txt",
        "transcript_as.wav",
        "invalid_utf8",
        "bom",
        "crlf",
        "one_mb",
        "missing_columns.csv",
        "no_voices.vtt",
        "other_schema.json",
        "newer_schema.json",
        "duplicate_code_id",
        "cycle_a",
        "invalid_regex",
        "unknown_field",
    ):
        assert example in names, example
    for entry in MANIFEST:
        assert (CORPUS / entry["file"]).is_file(), entry["file"]


def _args(entry: dict, out: Path) -> list[str]:
    mapping = {"{file}": str(CORPUS / entry["file"]), "{out}": str(out), "{good}": str(GOOD)}
    return [mapping.get(a, a) for a in entry["args"]]


def _check_refused(entry: dict, code: int, stderr: str, out: Path) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (code, stderr)
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert entry["message"] in lines[0], (entry["message"], lines[0])
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_bad_input_case(entry, tmp_path, capsys):
    path = CORPUS / entry["file"]
    before = sha256_file(path)
    out = tmp_path / "out"
    code = main(_args(entry, out))
    captured = capsys.readouterr()
    assert sha256_file(path) == before  # the input is never modified
    if entry["expect"] == "error":
        _check_refused(entry, code, captured.err, out)
        return
    assert code == 0, captured.err
    assert "Traceback" not in captured.err and "internal error" not in captured.err
    check = entry.get("check")
    if check:
        (session_file,) = out.glob("*.session.json")
        session = CodedSession.load(session_file)
        assert len(session.utterances) == check["utterances"]
        first = session.utterances[0]
        assert (first.speaker, first.role) == (check["first_speaker"], check["first_role"])
        assert all("\r" not in u.text and "\ufeff" not in u.text for u in session.utterances)
        assert not list(out.glob(".*.tmp"))


# A real process for a sample of every kind: what a user sees, with Python's own error handling.
SAMPLE = [
    "transcripts/recording_as.txt",
    "transcripts/one_mb_utterance.txt",
    "audio/truncated.ogg",
    "json/deep_nesting.json",
    "codebooks/python_tag.yaml",
    "codebooks/cycle_a.yaml",
]


@pytest.mark.parametrize("name", SAMPLE)
def test_bad_input_in_a_real_process(name, tmp_path):
    entry = next(c for c in MANIFEST if c["file"] == name)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "sessioncoder.cli", *_args(entry, out)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    _check_refused(entry, result.returncode, result.stderr, out)


def test_an_unknown_option_is_a_usage_error_not_an_internal_one(tmp_path, capsys):
    """typer's own copy of click raises its own exceptions: still exit 2 and click's usage message."""
    code = main(["code", str(GOOD), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "No such option: --out" in err and "internal error" not in err
    assert not (tmp_path / "out").exists()
