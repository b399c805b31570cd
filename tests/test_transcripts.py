"""Transcript readers: every format, roles from labels, one-to-one utterances, malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES

from sessioncoder.errors import InputError
from sessioncoder.pipeline import code_transcript
from sessioncoder.transcripts import parse_timestamp, read_transcript

TRANSCRIPTS = FIXTURES / "transcripts"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_txt_fixture_is_one_to_one_with_roles_and_times():
    t = read_transcript(TRANSCRIPTS / "supervision.txt")
    lines = [line for line in (TRANSCRIPTS / "supervision.txt").read_text().splitlines() if line.strip()]
    assert len(t.utterances) == len(lines) == 32
    assert [u.index for u in t.utterances] == list(range(32))
    assert t.utterances[0].role == "officer" and t.utterances[1].role == "client"
    assert t.utterances[2].start == 6.0 and t.utterances[2].end == 10.0  # ends where the next begins
    assert t.utterances[-1].end is not None and t.utterances[-1].end > t.utterances[-1].start
    assert t.utterances[3].text.startswith("Not bad.")
    assert {s.id: s.role for s in t.speakers} == {"Officer": "officer", "Client": "client"}


def test_txt_hh_mm_ss_and_untimed(tmp_path):
    t = read_transcript(write(tmp_path, "a.txt", "[01:00:02] PO: Right then.\n\n[01:00:05.5] SU: Okay.\n"))
    assert [u.start for u in t.utterances] == [3602.0, 3605.5]
    t = read_transcript(write(tmp_path, "b.txt", "Probation Officer: Hello.\nService user: Hi: all good.\n"))
    assert [u.role for u in t.utterances] == ["officer", "client"]
    assert t.utterances[1].text == "Hi: all good."  # only the first colon separates the speaker
    assert all(u.start is None for u in t.utterances)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Officer: fine\nthis line has no speaker\n", "a.txt:2: expected 'Speaker: text'"),
        ("[1:2:3:4] Officer: hi\n", "a.txt:1: bad timestamp"),
        ("[aa:bb] Officer: hi\n", "a.txt:1: bad timestamp"),
        ("\n\n   \n", "file is empty"),
    ],
)
def test_txt_malformed_lines_name_file_and_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        read_transcript(write(tmp_path, "a.txt", text))


def test_vtt_voices_tags_and_times():
    t = read_transcript(TRANSCRIPTS / "supervision.vtt")
    assert [(u.speaker, u.start, u.end) for u in t.utterances] == [
        ("Officer", 0.0, 4.0),
        ("Client", 4.0, 9.5),
        ("Officer", 9.5, 13.0),
    ]
    assert t.utterances[1].text == "I've been drinking every night, honestly."  # <i> removed, unclosed <v> ok


def test_vtt_malformed(tmp_path):
    with pytest.raises(InputError, match="not a WebVTT"):
        read_transcript(write(tmp_path, "a.vtt", "00:00.000 --> 00:01.000\n<v A>hi\n"))
    with pytest.raises(InputError, match=r"a.vtt:3: cue has no <v Speaker>"):
        read_transcript(write(tmp_path, "a.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nno voice\n"))
    with pytest.raises(InputError, match="bad cue timing"):
        read_transcript(write(tmp_path, "a.vtt", "WEBVTT\n\nxx --> 00:01.000\n<v A>hi\n"))


def test_csv_with_and_without_times(tmp_path):
    t = read_transcript(TRANSCRIPTS / "supervision.csv")
    assert [u.start for u in t.utterances] == [0.0, 4.0, 9.5]
    assert t.utterances[1].text == "I've been drinking every night, honestly."
    t = read_transcript(write(tmp_path, "b.csv", 'Speaker,Text\nOfficer,Hello\nClient,"Hi, there"\n'))
    assert [u.text for u in t.utterances] == ["Hello", "Hi, there"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("who,what\nA,b\n", "header must include 'speaker' and 'text'"),
        ("speaker,text\n,hello\n", "b.csv:2: empty speaker"),
        ("speaker,text,start\nA,hi,soon\n", "b.csv:2: bad start time"),
        ("speaker,text\nA,hi,extra\n", "b.csv:2: more fields"),
    ],
)
def test_csv_malformed(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_transcript(write(tmp_path, "b.csv", text))


def test_json_round_trip_from_session(tmp_path):
    t = read_transcript(TRANSCRIPTS / "supervision.txt")
    session = code_transcript(t, use_model=False)
    path = session.save(tmp_path / "x.session.json")
    again = read_transcript(path)
    assert [u.text for u in again.utterances] == [u.text for u in t.utterances]
    assert all(not u.codes for u in again.utterances)  # codes are dropped for re-coding
    t.save(tmp_path / "x.transcript.json")
    assert read_transcript(tmp_path / "x.transcript.json").utterances == t.utterances


def test_json_bad(tmp_path):
    with pytest.raises(InputError, match="not valid JSON"):
        read_transcript(write(tmp_path, "a.json", "{nope"))
    with pytest.raises(InputError, match="no 'utterances'"):
        read_transcript(write(tmp_path, "a.json", json.dumps({"x": 1})))


def test_unlabelled_speakers_get_roles_from_what_they_say(tmp_path):
    text = (
        "Jane: How have things been since I last saw you?\n"
        "Dan: Alright. I've been working.\n"
        "Jane: Did you get to your unpaid work appointment on Tuesday?\n"
        "Dan: Yeah I went.\n"
        "Jane: What would help you keep to your order this month?\n"
        "Dan: Dunno, getting the bus sorted I suppose.\n"
    )
    t = read_transcript(write(tmp_path, "c.txt", text))
    roles = {s.id: s.role for s in t.speakers}
    assert roles == {"Jane": "officer", "Dan": "client"}
    assert 0 < t.speaker("Jane").role_confidence <= 1 and t.speaker("Jane").role_evidence


def test_other_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_transcript(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="unsupported transcript type"):
        read_transcript(write(tmp_path, "a.docx", "x"))
    (tmp_path / "latin.txt").write_bytes("Officer: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_transcript(tmp_path / "latin.txt")


def test_parse_timestamp_rejects_garbage():
    with pytest.raises(ValueError):
        parse_timestamp("1:2:3:4")
    assert parse_timestamp("00:01,5") == 1.5
