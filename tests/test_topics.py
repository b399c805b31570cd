"""Topics as segments: carried over short follow-ups and answers, ended when the talk moves on; minutes from segments."""

from __future__ import annotations

import pytest

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.coding.combine import code_utterances, merge_codes, run_coders
from sessioncoder.coding.rules import RuleCoder
from sessioncoder.profile import compute_profile
from sessioncoder.schema import CodeAssignment, CodedSession, SourceInfo, Utterance

BOOK = load_codebook("stics")
SUB = "topic.substance_use"
WORK = "topic.employment_education"

LINES = [
    ("officer", "How much have you been drinking since we last met?"),  # 0 own topic (drink)
    ("client", "Every night, pretty much."),  # 1 short answer to the question
    ("officer", "Every night."),  # 2 short follow-up
    ("client", "Yeah."),  # 3 backchannel: no code, does not end the topic
    ("officer", "What happens after the first couple?"),  # 4 follow-up question, no topic words
    ("client", "I end up on the vodka and can't stop."),  # 5 own topic again
    ("officer", "Now, the job. How did the interview at the warehouse go?"),  # 6 talk moves on
    ("client", "They offered me the early shift."),  # 7 own topic (work)
    ("officer", "I'm really pleased for you."),  # 8 short follow-up
]


def session(lines=LINES) -> list[Utterance]:
    return [
        Utterance(index=i, speaker=r, role=r, text=t, start=i * 10.0, end=i * 10.0 + 9.0)
        for i, (r, t) in enumerate(lines)
    ]


@pytest.fixture(scope="module")
def coded():
    utterances = session()
    per = code_utterances(utterances, BOOK, [RuleCoder(BOOK)])
    return utterances, per


def topics(per, i):
    return {a.code for a in per[i] if a.code.startswith("topic.")}


def test_topic_carries_over_short_follow_ups_and_answers(coded):
    _, per = coded
    assert SUB in topics(per, 0) and SUB in topics(per, 5)
    for i in (1, 2, 4):  # no drink words, but the discussion is still on drinking
        assert SUB in topics(per, i), (i, per[i])
        carried = next(a for a in per[i] if a.code == SUB)
        assert carried.source == "context" and carried.rule == "topic.segment"
        assert carried.evidence.startswith("same discussion as utterance")


def test_backchannels_carry_no_code_and_the_topic_ends_when_talk_moves_on(coded):
    _, per = coded
    assert per[3] == []
    assert SUB not in topics(per, 6) | topics(per, 7) | topics(per, 8)
    assert WORK in topics(per, 7) and WORK in topics(per, 8)


def test_minutes_come_from_segments(coded):
    utterances, per = coded
    for u, assignments in zip(utterances, per, strict=True):
        u.codes = assignments
    s = CodedSession(
        source=SourceInfo(path="x.txt", sha256="0", kind="transcript", format="txt"), utterances=utterances
    )
    content = compute_profile(s, BOOK).content
    drink = [seg for seg in content.segments if seg.topic == SUB]
    assert [(seg.first, seg.last) for seg in drink] == [(0, 5)]  # one run, backchannel 3 inside it
    minutes = {t.topic: t for t in content.topics}
    # utterances 0..5 at 9 s each, utterance 6 shared with work only if it is on work too
    assert minutes[SUB].minutes == pytest.approx(6 * 9 / 60, abs=1e-3)
    assert minutes[SUB].utterances == 6


def test_a_long_unrelated_turn_is_not_carried():
    lines = [
        ("officer", "Are you still drinking on a weekend?"),
        ("client", "Not really."),
        (
            "officer",
            "Let me tell you what you can expect from me and what I expect from you over the next few months.",
        ),
    ]
    utterances = session(lines)
    per = code_utterances(utterances, BOOK, [RuleCoder(BOOK)])
    assert SUB in topics(per, 1)
    assert SUB not in topics(per, 2)


def test_a_named_associate_keeps_the_topic_but_the_client_addressed_by_name_does_not():
    lines = [
        ("officer", "Morning Dean, come in."),
        ("client", "I was out with the lads again, me and Kyle were drinking all night."),
        ("officer", "Tell me about your job search, Dean."),
        ("client", "I applied to the warehouse."),
        ("officer", "Did the interview go well?"),
        ("client", "Not really, I was hungover."),
        ("officer", "Right. And how about money this week, any problems paying the rent?"),
        ("client", "Kyle lent me fifty quid."),
    ]
    utterances = session(lines)
    per = code_utterances(utterances, BOOK, [RuleCoder(BOOK)])
    assoc = "topic.criminal_associates"
    assert assoc in topics(per, 1)
    named = next(a for a in per[7] if a.code == assoc)
    assert named.rule == "topic.named_person" and named.evidence.startswith("Kyle")
    assert assoc not in topics(per, 2)  # "Dean" is the client, not an associate


def test_topics_a_coder_decided_from_context_are_not_carried_again():
    """The code model reads the talk around each line: its topics stand as given, the rules' still carry."""

    class ContextualDrink:
        """Gives drink talk on the first line only, as a coder that has already read the context."""

        name, owned_codes, contextual_codes = "contextual", frozenset(), frozenset({SUB})

        def code(self, utterances):
            return [
                [CodeAssignment(code=SUB, confidence=0.9, source="trained")] if i == 0 else []
                for i in range(len(utterances))
            ]

    utterances = session(LINES[:3])
    per = merge_codes(BOOK, utterances, run_coders(utterances, [ContextualDrink()]))
    assert [topics(per, i) for i in range(3)] == [{SUB}, set(), set()]
    carried = merge_codes(BOOK, utterances, run_coders(utterances, [RuleCoder(BOOK)]))
    assert SUB in topics(carried, 1) and SUB in topics(carried, 2)
