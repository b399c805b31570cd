"""The report, rescore and compare commands end to end, offline."""

from __future__ import annotations

import json

import pytest
from test_report_sample import CLIENT_NAME, make_session, write_wav

from sessioncoder.cli import main


@pytest.fixture
def coded(tmp_path):
    """A coded session saved beside its recording, as `sessioncoder code` leaves them."""
    wav = write_wav(tmp_path / "week6.wav", seconds=8.0)
    session = make_session(audio_path=wav, audio_seconds=8.0)
    path = tmp_path / "week6.session.json"
    session.save(path)
    return path


def test_report_writes_html_and_markdown_beside_the_session(coded, no_network, capsys):
    assert main(["report", str(coded)]) == 0
    page = (coded.parent / "week6.html").read_text(encoding="utf-8")
    assert (coded.parent / "week6.md").is_file()
    assert 'src="week6.wav"' in page  # relative to the HTML file, not embedded
    assert "base64" not in page
    assert CLIENT_NAME in page


def test_report_redacts_every_format(coded, tmp_path, no_network):
    out = tmp_path / "shared"
    assert main(["report", str(coded), "--format", "html,md,csv", "--redact", "--out-dir", str(out)]) == 0
    for name in ("week6.html", "week6.md", "week6.utterances.csv"):
        text = (out / name).read_text(encoding="utf-8")
        assert CLIENT_NAME not in text and "Kelly" not in text and "Acacia Road" not in text, name
    page = (out / "week6.html").read_text(encoding="utf-8")
    # Not linked: the link would carry the recording's file name and lead to the unredacted voices.
    assert "<audio" not in page and 'src="../week6.wav"' not in page
    # The session JSON itself is never touched.
    assert CLIENT_NAME in coded.read_text(encoding="utf-8")


def test_report_embeds_audio_on_request(coded, no_network):
    assert main(["report", str(coded), "--format", "html", "--embed-audio"]) == 0
    assert 'src="data:audio/wav;base64,' in (coded.parent / "week6.html").read_text(encoding="utf-8")


def test_rescore_rewrites_the_session_and_its_reports(coded, tmp_path, no_network):
    assert main(["report", str(coded), "--format", "html", "--redact"]) == 0
    edits = tmp_path / "edits.csv"
    edits.write_text("index,add,remove\n18,,mi.persuade\n", encoding="utf-8")
    assert main(["rescore", str(coded), "--corrections", str(edits), "--by", "JB"]) == 0
    data = json.loads(coded.read_text(encoding="utf-8"))
    assert [(a["action"], a["index"], a["code"], a["by"]) for a in data["audit"]] == [
        ("remove", 18, "mi.persuade", "JB")
    ]
    assert data["profile"]["miti"]["non_adherent"] == 0
    page = (coded.parent / "week6.html").read_text(encoding="utf-8")
    assert "Advice given without asking first" not in page
    assert CLIENT_NAME not in page  # it was redacted before, so it stays redacted
    out = tmp_path / "copy.session.json"
    before = coded.read_text(encoding="utf-8")
    assert main(["rescore", str(coded), "--corrections", str(edits), "--out", str(out)]) == 0
    assert coded.read_text(encoding="utf-8") == before and out.is_file()


def test_compare_prints_a_table_and_writes_html(coded, tmp_path, capsys, no_network):
    other = tmp_path / "week5.session.json"
    make_session().save(other)
    html = tmp_path / "trend.html"
    assert main(["compare", str(other), str(coded), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "week5" in out and "week6" in out and "Reflection" in out
    assert "<svg" in html.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ["report", "missing.session.json"],
        ["report", "{bad}", "--format", "pdf"],
        ["compare", "missing.session.json"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args):
    bad = tmp_path / "bad.session.json"
    bad.write_text('{"not": "a session"}', encoding="utf-8")
    args = [a.replace("{bad}", str(bad)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sessioncoder: error:") and len(err.splitlines()) == 1


def test_malformed_session_file(tmp_path, capsys):
    bad = tmp_path / "bad.session.json"
    bad.write_text('{"not": "a session"}', encoding="utf-8")
    assert main(["report", str(bad)]) == 2
    assert "not a coded session" in capsys.readouterr().err
