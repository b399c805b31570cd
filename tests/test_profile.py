"""Profile arithmetic on a hand-computed session."""

from __future__ import annotations

import pytest

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.profile import compute_profile
from sessioncoder.schema import CodeAssignment, CodedSession, SourceInfo, Utterance

BOOK = load_codebook("stics")


def utt(i, role, start, end, text, *codes):
    return Utterance(
        index=i, speaker=role.title(), role=role, start=start, end=end, text=text,
        codes=[CodeAssignment(code=c, confidence=0.9) for c in codes],
    )  # fmt: skip


def session(utterances, duration=None) -> CodedSession:
    return CodedSession(
        source=SourceInfo(path="hand.txt", sha256="0", kind="transcript", format="txt"),
        utterances=utterances,
        duration=duration,
    )


@pytest.fixture
def hand() -> CodedSession:
    return session(
        [
            utt(0, "officer", 0, 10, "How have things been since last week?", "mi.open_question", "structuring.check_in"),
            utt(1, "client", 10, 20, "I have been drinking a lot", "topic.substance_use"),
            utt(2, "officer", 20, 25, "You have been drinking a lot", "mi.simple_reflection"),
            utt(3, "client", 25, 40, "I want to stop for my job", "client.change_talk", "topic.substance_use",
                "topic.employment_education"),
            utt(4, "officer", 40, 50, "You are worried about your job?", "mi.complex_reflection", "mi.closed_question"),
            utt(5, "officer", 50, 60, "And it matters to you. Before next time write it down.", "mi.complex_reflection",
                "structuring.homework"),
        ]
    )  # fmt: skip


def test_miti_scores(hand):
    p = compute_profile(hand, BOOK)
    scores = {s.id: s for s in p.miti.scores}
    assert (p.miti.reflections, p.miti.questions) == (3, 2)
    assert scores["rq_ratio"].value == pytest.approx(1.5) and scores["rq_ratio"].rating == "fair"
    assert scores["pct_complex_reflections"].value == pytest.approx(2 / 3)
    assert scores["pct_complex_reflections"].rating == "good"
    assert (
        scores["pct_open_questions"].value == pytest.approx(0.5)
        and scores["pct_open_questions"].rating == "fair"
    )


def test_talk_share_by_time_and_words(hand):
    p = compute_profile(hand, BOOK)
    shares = {s.role: s for s in p.talk_time.roles}
    assert p.talk_time.basis == "time"
    assert shares["officer"].seconds == pytest.approx(35) and shares["officer"].share_time == pytest.approx(
        35 / 60
    )
    officer_words = 7 + 6 + 6 + 11
    client_words = 6 + 7
    assert shares["officer"].words == officer_words
    assert shares["officer"].share_words == pytest.approx(officer_words / (officer_words + client_words))


def test_untimed_talk_share_uses_words(hand):
    for u in hand.utterances:
        u.start = u.end = None
    p = compute_profile(hand, BOOK)
    assert p.talk_time.basis == "words" and p.duration_basis == "words"
    assert p.duration_minutes == pytest.approx(43 / 150, abs=1e-3)
    assert {s.role: s.share_time for s in p.talk_time.roles}["officer"] is None


def test_counts_rates_topics_structure(hand):
    p = compute_profile(hand, BOOK)
    assert p.duration_minutes == pytest.approx(1.0)
    assert p.count("mi.complex_reflection") == 2
    per10 = {c.code: c.per_10_min for c in p.code_counts}
    assert per10["mi.complex_reflection"] == pytest.approx(20.0)
    topics = {t.topic: t for t in p.content.topics}
    # substance: all of utterance 1 (10 s) and half of utterance 3 (7.5 s), which it shares with employment
    assert topics["topic.substance_use"].minutes == pytest.approx(17.5 / 60, abs=1e-3)
    assert topics["topic.substance_use"].share == pytest.approx(17.5 / 60, abs=1e-3)
    assert p.content.share_criminogenic == pytest.approx(25 / 60, abs=1e-3)
    assert p.content.share_conditions == 0
    structure = {s.code: s for s in p.structure}
    assert structure["structuring.check_in"].present and structure["structuring.check_in"].in_expected_place
    assert structure["structuring.homework"].position == pytest.approx(50 / 60, abs=1e-3)
    assert not structure["structuring.agenda"].present
    area = {a.id: a for a in p.skill_areas}["structuring"]
    assert area.score == pytest.approx(2 / len(BOOK.codes_in_area("structuring"))) and area.count == 2


def test_missed_opportunities():
    s = session(
        [
            utt(0, "client", None, None, "He deserved it.", "client.procriminal_statement"),
            utt(1, "officer", None, None, "Okay. And then?", "mi.open_question"),
            utt(2, "client", None, None, "I want to stop drinking.", "client.change_talk"),
            utt(3, "officer", None, None, "You want to stop.", "mi.simple_reflection"),
            utt(4, "client", None, None, "They had it coming.", "client.procriminal_statement"),
            utt(5, "officer", None, None, "Is there another way to see it?", "cognitive.restructuring"),
            utt(6, "client", None, None, "I'll ring the college.", "client.change_talk"),
            utt(7, "officer", None, None, "What time is it?", "mi.closed_question"),
        ]
    )
    p = compute_profile(s, BOOK)
    assert [(m.kind, m.index) for m in p.missed_opportunities] == [
        ("procriminal_unaddressed", 0),
        ("change_talk_unreflected", 6),
    ]
