"""Role assignment: labels first, then text cues, overrides and the weak-evidence warnings."""

from __future__ import annotations

import pytest

from sessioncoder.errors import InputError
from sessioncoder.roles import assign_roles, build_speakers, role_from_label
from sessioncoder.schema import SourceInfo, Transcript, Utterance


def make(lines: list[tuple[str, str]], timed: bool = False) -> Transcript:
    utterances = []
    t = 0.0
    for i, (speaker, text) in enumerate(lines):
        start, end = (t, t + len(text.split()) * 0.4) if timed else (None, None)
        if timed:
            t = end + 0.2
        utterances.append(Utterance(index=i, speaker=speaker, text=text, start=start, end=end))
    return Transcript(
        source=SourceInfo(path="session.txt", sha256="0" * 64, kind="transcript", format="txt"),
        utterances=utterances,
    )


SUPERVISION = [
    ("A", "Hi Dean, come in. How have things been since I last saw you?"),
    ("B", "Yeah alright. I went to the pub with my mates on Friday but I was fine."),
    ("A", "Did you manage the homework we agreed last time?"),
    ("B", "I did some of it. I dunno, I forgot the rest."),
    ("A", "What got in the way? It sounds like the weekend was hard."),
    ("B", "My mates kept ringing me and I had a few drinks."),
    ("A", "Your order says you need to keep your appointment on Tuesday. Can you make it?"),
    ("B", "Yeah I can make it."),
    ("A", "Well done for coming today. See you next week."),
]


@pytest.mark.parametrize(
    ("label", "role"),
    [
        ("Officer", "officer"),
        ("officer 1", "officer"),
        ("PO (Jane)", "officer"),
        ("Jane (PO)", "officer"),
        ("Probation Officer", "officer"),
        ("OM", "officer"),
        ("Practitioner", "officer"),
        ("Worker", "officer"),
        ("Facilitator", "officer"),
        ("Counsellor", "officer"),
        ("THERAPIST", "officer"),
        ("Interviewer", "officer"),
        ("Client", "client"),
        ("Offender", "client"),
        ("Service user 2", "client"),
        ("SU", "client"),
        ("SU2", "client"),
        ("Probationer", "client"),
        ("Speaker 1", None),
        ("SPEAKER_00", None),
        ("Tom", None),
        ("Somebody", None),
        ("", None),
        ("Officer / Client", None),
    ],
)
def test_role_from_label(label, role):
    assert role_from_label(label) == role


def test_labels_decide_with_full_confidence():
    t = make([("Officer", "How are you?"), ("Client", "Fine. How are you?"), ("Client", "Any questions?")])
    out = assign_roles(t)
    assert [(s.id, s.role, s.role_confidence) for s in out.speakers] == [
        ("Officer", "officer", 1.0),
        ("Client", "client", 1.0),
    ]
    assert [u.role for u in out.utterances] == ["officer", "client", "client"]
    assert t.utterances[0].role == "unknown", "input must not be modified"


def test_infers_officer_from_text_cues_either_order():
    for officer_id, client_id in [("A", "B"), ("B", "A")]:
        swap = {"A": officer_id, "B": client_id}
        out = assign_roles(make([(swap[s], text) for s, text in SUPERVISION]))
        officer = out.speaker(officer_id)
        client = out.speaker(client_id)
        assert (officer.role, client.role) == ("officer", "client")
        assert officer.role_confidence >= 0.8
        assert any("questions" in e for e in officer.role_evidence)
        assert any("opens" in e for e in officer.role_evidence)
        assert not out.warnings


def test_client_who_opens_is_still_client():
    lines = [("B", "Sorry I'm late, I missed the bus."), *SUPERVISION[0:8]]
    out = assign_roles(make(lines))
    assert out.speaker("A").role == "officer"
    assert out.speaker("B").role == "client"


def test_weak_evidence_picks_but_warns():
    lines = [("A", "Hello."), ("B", "Hello."), ("A", "Nice weather."), ("B", "It is.")]
    out = assign_roles(make(lines))
    roles = sorted(s.role for s in out.speakers)
    assert roles == ["client", "officer"]
    assert all(s.role_confidence < 0.7 for s in out.speakers)
    assert any("weak evidence" in w and "session.txt" in w for w in out.warnings)


def test_one_speaker_is_unknown_with_warning():
    out = assign_roles(make([("SPEAKER_00", "Ask not what your country can do for you.")]))
    assert out.speakers[0].role == "unknown"
    assert out.utterances[0].role == "unknown"
    assert any("only one speaker" in w for w in out.warnings)


def test_officer_override_and_unknown_id():
    t = make(SUPERVISION)
    out = assign_roles(t, officer="B")
    assert out.speaker("B").role == "officer" and out.speaker("B").role_confidence == 1.0
    assert out.speaker("A").role == "client"
    assert out.utterances[0].role == "client"
    assert assign_roles(t, officer="b").speaker("B").role == "officer"
    with pytest.raises(InputError, match=r"session\.txt.*'C'"):
        assign_roles(t, officer="C")


def test_one_labelled_speaker_fixes_the_other():
    out = assign_roles(make([("Officer", "Hi."), ("Speaker 2", "Hi, how are you? Did you see my order?")]))
    assert out.speaker("Speaker 2").role == "client"


def test_speakers_built_in_order_with_words_and_time():
    t = make([("B", "one two three"), ("A", "four five"), ("B", "six")], timed=True)
    speakers = build_speakers(t)
    assert [(s.id, s.words) for s in speakers] == [("B", 4), ("A", 2)]
    assert speakers[0].talk_seconds == pytest.approx(1.6)
    assert build_speakers(make([("B", "one two")]))[0].talk_seconds is None


def test_three_speakers_one_officer_one_client_the_rest_other():
    lines = [*SUPERVISION, ("C", "I'm his mum, I just came along.")]
    out = assign_roles(make(lines))
    assert out.speaker("A").role == "officer"
    assert out.speaker("B").role == "client"  # says more than C
    assert out.speaker("C").role == "other"
    assert {u.role for u in out.utterances if u.speaker == "C"} == {"other"}
    assert any("3 speakers" in w for w in out.warnings)


def test_four_speakers_with_a_labelled_officer_or_officer_given():
    lines = [
        ("Officer", "How has the week been? Tell me about the curfew."),
        ("B", "It was fine, I kept to the curfew every night and I went to work on all the days."),
        ("C", "He says it was fine."),
        ("D", "From the housing side we have a room."),
    ]
    out = assign_roles(make(lines))
    assert [out.speaker(s).role for s in ("Officer", "B", "C", "D")] == [
        "officer",
        "client",
        "other",
        "other",
    ]
    out = assign_roles(make([(s.replace("Officer", "A"), t) for s, t in lines]), officer="A")
    assert [out.speaker(s).role for s in ("A", "B", "C", "D")] == ["officer", "client", "other", "other"]
