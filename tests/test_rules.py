"""The rule coder against the codebook's own examples and counter-examples, and the question/reflection analysis."""

from __future__ import annotations

import time

import pytest

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.coding.combine import code_utterances
from sessioncoder.coding.rules import RuleCoder, analyse_question
from sessioncoder.schema import Utterance

BOOK = load_codebook("stics")
FILLER_CLIENT = "I went to the pub on Friday and got really drunk with my mates."


@pytest.fixture(scope="module")
def coder() -> RuleCoder:
    return RuleCoder(BOOK)


def session_around(code_id: str, text: str, after: str | None) -> tuple[list[Utterance], int]:
    """A ten-turn session with the example where its code belongs (start, end or middle)."""
    spec = BOOK.codes[code_id]
    role = "client" if spec.applies_to == "client" else "officer"
    position = {"start": 1, "end": 9}.get(spec.expected_position or "", 5)
    utterances = []
    for i in range(10):
        r = "client" if i % 2 == 0 else "officer"
        utterances.append(
            Utterance(index=i, speaker=r, role=r, text=FILLER_CLIENT if r == "client" else "Okay.")
        )
    utterances[position] = Utterance(index=position, speaker=role, role=role, text=text)
    utterances[position - 1] = Utterance(
        index=position - 1, speaker="client", role="client", text=after or FILLER_CLIENT
    )
    return utterances, position


EXAMPLES = [(c.id, e.text, e.after) for c in BOOK.codes.values() for e in c.examples]
COUNTER = [(c.id, e.text, e.after) for c in BOOK.codes.values() for e in c.counter_examples]


@pytest.mark.parametrize(("code_id", "text", "after"), EXAMPLES)
def test_codebook_examples_fire(coder, code_id, text, after):
    utterances, position = session_around(code_id, text, after)
    codes = [c.code for c in coder.code(utterances)[position]]
    assert code_id in codes


@pytest.mark.parametrize(("code_id", "text", "after"), COUNTER)
def test_codebook_counter_examples_do_not_fire(coder, code_id, text, after):
    utterances, position = session_around(code_id, text, after)
    codes = [c.code for c in coder.code(utterances)[position]]
    assert code_id not in codes


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("What happened after you left the pub?", "open"),
        ("And how do you feel about that?", "open"),
        ("Tell me more about your mum.", "open"),
        ("Can you tell me more about that?", "open"),
        ("Did you go to the appointment?", "closed"),
        ("How many drinks did you have?", "closed"),
        ("On a scale of 1 to 10, how confident are you?", "closed"),
        ("Anything you want to add?", "closed"),
        ("Where are you staying?", "closed"),
        ("So you felt cornered?", "closed"),
        # A lead-in before the question proper: a greeting or name, a time, a subordinate clause.
        ("Hiya Dean, how are you doing today?", "open"),
        ("Next time, what could you do instead?", "open"),
        ("When you tell yourself one drink won't hurt, what happens next?", "open"),
        ("Take me through last Saturday.", "open"),
        ("When did you last have a drink?", "closed"),
        ("If he's there, will you leave?", "closed"),
        ("So you felt cornered, didn't you?", "closed"),
        ("You went to the pub.", None),
        ("Right.", None),
    ],
)
def test_question_shape(text, kind):
    shape = analyse_question(text)
    assert shape.is_question == (kind is not None)
    assert shape.open == (kind == "open")
    assert shape.closed == (kind == "closed")


def _codes(texts: list[tuple[str, str]]) -> list[list[str]]:
    utterances = [Utterance(index=i, speaker=r, role=r, text=t) for i, (r, t) in enumerate(texts)]
    coders = [RuleCoder(BOOK)]
    return [[a.code for a in codes] for codes in code_utterances(utterances, BOOK, coders)]


def test_every_assignment_has_confidence_and_evidence(coder):
    utterances, position = session_around(
        "mi.persuade", "You need to stop drinking, it's ruining your life.", None
    )
    for assignments in coder.code(utterances):
        for a in assignments:
            assert 0 < a.confidence <= 1 and a.rule and a.source == "rule"
    persuade = next(a for a in coder.code(utterances)[position] if a.code == "mi.persuade")
    assert persuade.evidence and persuade.span is not None
    assert utterances[position].text[persuade.span[0] : persuade.span[1]].lower() == persuade.evidence.lower()


def test_topic_carry_over_and_backchannels():
    codes = _codes(
        [
            ("officer", "How much are you drinking at the moment?"),
            ("client", "Every night."),
            ("officer", "Right."),
            ("client", "About four cans most nights."),
            ("officer", "What do you do at the weekends?"),
        ]
    )
    assert "topic.substance_use" in codes[0]
    assert codes[1] == ["topic.substance_use"]  # short follow-up inherits the topic
    assert codes[2] == []  # a bare backchannel carries no code
    assert "topic.substance_use" in codes[3]  # the topic survives the backchannel
    assert "topic.substance_use" not in codes[4] and "topic.leisure" in codes[4]


def test_implied_codes_and_greetings():
    codes = _codes(
        [("officer", "Hi Dan, good to see you."), ("client", "He deserved it, he disrespected me.")]
    )
    assert codes[0] == []
    assert {"client.procriminal_statement", "topic.procriminal_attitudes"} <= set(codes[1])


def test_structuring_depends_on_position():
    opening = [("officer", "How are you doing, anything happen since last week?")] + [("client", "Fine.")] * 9
    closing = [("client", "Fine.")] * 9 + [("officer", "How are you doing, anything new?")]
    assert "structuring.check_in" in _codes(opening)[0]
    assert "structuring.check_in" not in _codes(closing)[-1]


def test_role_unknown_lowers_confidence():
    utterances = [
        Utterance(index=0, speaker="A", role="unknown", text="What happened after you left the pub?")
    ]
    (codes,) = RuleCoder(BOOK).code(utterances)
    open_q = next(a for a in codes if a.code == "mi.open_question")
    assert open_q.confidence < BOOK.settings.low_confidence


def test_rule_coder_is_fast_enough_to_be_useful(coder):
    """A sanity floor, far below the benchmark's 300 utterances/s target, so a slow machine does not flake."""
    utterances, _ = session_around("mi.persuade", "You need to stop drinking, it's ruining your life.", None)
    many = utterances * 20
    started = time.perf_counter()
    coder.code(many)
    assert len(many) / (time.perf_counter() - started) > 30


def test_client_lines_in_a_role_play_keep_only_topics():
    codes = _codes(
        [
            ("client", "I don't want to go back inside."),
            ("officer", "Let's practise it. I'll be your mate asking you to the pub; you say no."),
            ("client", "No thanks, I don't want to go to the pub tonight, I'm going to stay in."),
            ("officer", "Go on, just one pint."),
            ("client", "I've stopped drinking, mate."),
        ]
    )
    assert "client.change_talk" in codes[0]
    assert "cognitive.skill_practice" in codes[1]
    assert not any(c.startswith("client.") for c in codes[2] + codes[4])
    assert "topic.substance_use" in codes[4]


def test_praise_for_the_practice_ends_the_role_play():
    codes = _codes(
        [
            ("officer", "Let's practise it. I'll be your mate asking you to the pub; you say no."),
            ("client", "No thanks, I'm going to stay in."),
            (
                "officer",
                "Turning him down like that was a good call; that's the kind of choice that keeps you out of trouble.",
            ),
            ("client", "I don't want to go back inside."),
        ]
    )
    assert "behavioural.reinforcement" in codes[2]
    assert not any(c.startswith("client.") for c in codes[1])
    assert "client.change_talk" in codes[3]  # the client's own words again, inside the old window


def test_evidence_without_aligned_offsets_has_no_span(coder):
    utterances = [Utterance(index=0, speaker="PO", role="officer", text="You  need to   stop drinking now.")]
    persuade = next(a for a in coder.code(utterances)[0] if a.code == "mi.persuade")
    assert persuade.span is None and persuade.evidence.startswith("you need to stop")
