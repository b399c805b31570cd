"""How far to trust each code: the shipped figures, where they come from, and what the reports show."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import FIXTURES
from test_agreement import _write_tool_sessions
from typer.testing import CliRunner

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.coding.reliability import band, load_reliability, reliability_path, trust_status
from sessioncoder.pipeline import code_transcript, read_input
from sessioncoder.report.html import render_html
from sessioncoder.report.markdown import render_markdown
from sessioncoder.schema import CodeReliability, Reliability


@pytest.fixture(scope="module")
def coded():
    transcript = read_input(FIXTURES / "transcripts" / "supervision.txt")
    return code_transcript(transcript, use_model=False, use_semantic=False)


def test_shipped_figures_belong_to_the_shipped_codebook():
    """Re-tuning thresholds or changing a rule changes the hash: then scripts/measure_reliability.py --write."""
    codebook = load_codebook("stics")
    status = load_reliability(codebook.path, codebook.sha256)
    assert status.reliability is not None, status.note
    figures = status.reliability.codes
    assert set(figures) <= set(codebook.codes)
    assert {"mi.open_question", "topic.substance_use", "cognitive.restructuring"} <= set(figures)
    for code, f in figures.items():
        assert f.support > 0 or f.predicted > 0, code  # a code neither coder gave says nothing
        assert all(v is None or 0.0 <= v <= 1.0 for v in (f.precision, f.recall, f.f1)), code
    assert "checking half" in status.reliability.measured_on


def test_figures_for_other_content_are_not_shown(tmp_path):
    codebook = load_codebook("stics")
    copy = tmp_path / "stics.yaml"
    shutil.copy(codebook.path, copy)
    shutil.copy(reliability_path(codebook.path), reliability_path(copy))
    stale = load_reliability(copy, "0" * 64)  # the codebook's content has changed since it was measured
    assert stale.reliability is None and "another version" in stale.note
    reliability_path(copy).write_text("{not json", encoding="utf-8")
    broken = load_reliability(copy, codebook.sha256)
    assert broken.reliability is None and "could not be read" in broken.note
    reliability_path(copy).unlink()
    absent = load_reliability(copy, codebook.sha256)
    assert absent.reliability is None and "--reliability-out" in absent.note


def test_bands():
    assert band(CodeReliability(f1=0.75, support=5)) == "good"
    assert band(CodeReliability(f1=0.74, support=40)) == "fair"
    assert band(CodeReliability(f1=0.49, support=40)) == "weak"
    assert band(CodeReliability(f1=1.0, support=4)) == "few examples"
    assert band(CodeReliability(f1=0.0, support=0, predicted=3)) == "few examples"


def test_report_shows_each_used_code_with_its_held_out_agreement(coded):
    codebook = load_codebook("stics")
    status = trust_status(coded, codebook)
    assert status.reliability is not None
    page = render_html(coded, codebook)
    assert 'id="trust"' in page and "How far to trust these codes" in page
    used = {c.code for u in coded.utterances for c in u.codes}
    shown = [code for code in used if code in status.reliability.codes]
    assert shown
    for code in shown:
        figures = status.reliability.codes[code]
        row = page.split(f"{code}</span></th>", 1)[1].split("</tr>", 1)[0]
        assert f"<td>{figures.f1:.2f}</td>" in row and band(figures) in row
    markdown = render_markdown(coded, codebook)
    assert "## How far to trust these codes" in markdown
    weak = [c for c in shown if band(status.reliability.codes[c]) == "weak"]
    for code in weak:
        assert codebook.codes[code].name in markdown.split("## How far to trust these codes", 1)[1]


def test_report_of_a_changed_codebook_says_figures_are_missing(coded):
    codebook = load_codebook("stics")
    recoded = coded.model_copy(deep=True)
    recoded.codebooks[0].sha256 = "f" * 64  # coded with another version of the codebook
    page = render_html(recoded, codebook)
    assert "another version" in page and '<table class="trust">' not in page


def test_agree_writes_figures_the_report_reads(fixtures, tmp_path, no_network):
    from sessioncoder.cli import app

    agreement = fixtures / "agreement"
    tool = tmp_path / "tool"
    _write_tool_sessions(tool, agreement / "coder_a.csv", agreement / "coder_b.csv")
    out = tmp_path / "stics.reliability.json"
    result = CliRunner().invoke(
        app,
        ["agree", str(tool), str(agreement / "coder_b.csv"), "--reliability-out", str(out),
         "--measured-on", "our two sessions"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = Reliability.load(out)
    codebook = load_codebook("stics")
    assert written.sha256 == codebook.sha256 and written.measured_on == "our two sessions"
    assert written.codes["mi.open_question"].f1 == pytest.approx(0.8)  # hand-computed in test_agreement
    assert written.codes["mi.open_question"].support == 3
    assert json.loads(out.read_text())["codebook"] == "stics"


def test_feedback_moments_on_weak_codes_say_to_listen_first(coded):
    from sessioncoder.coding.reliability import ReliabilityStatus

    codebook = load_codebook("stics")

    def status(f1: float) -> ReliabilityStatus:
        figures = {code: CodeReliability(f1=f1, support=10, predicted=10) for code in codebook.codes}
        return ReliabilityStatus(
            Reliability(codebook="stics", version="x", sha256="x", measured_on="test", sessions=1,
                        utterances=1, codes=figures),
            "Measured on test.",
        )  # fmt: skip

    weak_page = render_html(coded, codebook, trust=status(0.2))
    cards = [c for c in weak_page.split('<li class="card ')[1:] if 'class="definition"' in c]
    assert cards  # the fixture session has moments tied to codes
    assert all('class="caution"' in c and "F1 0.20" in c for c in cards)
    missed = [c for c in weak_page.split('<li class="card develop">')[1:] if "could have been" in c]
    assert missed and all("Change talk, as the tool finds it" in c or "Pro-criminal" in c for c in missed)
    good_page = render_html(coded, codebook, trust=status(0.9))
    assert 'class="caution"' not in good_page
