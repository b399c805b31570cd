"""Coding: run every coder over the utterances and merge their codes.

Merge order, each step a plain function over per-utterance code lists:
1. ``combine``: a code owned by a trained model comes from that model alone;
   everything else is the union of the coders' codes (highest confidence wins);
2. ``apply_implications``: codebook ``implies`` (a pro-criminal statement is
   also pro-criminal attitudes talk; role clarification is also information);
3. ``carry_topics``: short follow-ups inherit the previous utterance's topics;
4. ``strip_role_play``: client lines spoken inside a role play keep only topic codes.
"""

from __future__ import annotations

import re

from sessioncoder.coding.base import Coder
from sessioncoder.coding.codebook import Codebook
from sessioncoder.schema import CodeAssignment, Utterance


def combine(results: list[tuple[Coder, list[list[CodeAssignment]]]], n: int) -> list[list[CodeAssignment]]:
    owned: dict[str, Coder] = {}
    for coder, _ in results:
        for code in coder.owned_codes:
            owned[code] = coder
    merged: list[dict[str, CodeAssignment]] = [{} for _ in range(n)]
    for coder, per_utterance in results:
        for slot, assignments in zip(merged, per_utterance, strict=True):
            for assignment in assignments:
                owner = owned.get(assignment.code)
                if owner is not None and owner is not coder:
                    continue
                current = slot.get(assignment.code)
                if current is None or assignment.confidence > current.confidence:
                    slot[assignment.code] = assignment
    return [list(slot.values()) for slot in merged]


def apply_implications(codebook: Codebook, per_utterance: list[list[CodeAssignment]]) -> None:
    for assignments in per_utterance:
        present = {a.code for a in assignments}
        for assignment in list(assignments):
            for implied in (
                codebook.codes[assignment.code].implies if assignment.code in codebook.codes else ()
            ):
                if implied not in present:
                    present.add(implied)
                    assignments.append(
                        CodeAssignment(
                            code=implied,
                            confidence=assignment.confidence,
                            source=assignment.source,
                            rule=f"implied-by:{assignment.code}",
                            evidence=assignment.evidence,
                            span=assignment.span,
                        )
                    )


def carry_topics(
    codebook: Codebook, utterances: list[Utterance], per_utterance: list[list[CodeAssignment]]
) -> None:
    """Give a short follow-up ("How much?", "Every night.") the topics of the utterance before it."""
    settings = codebook.settings
    topic_ids = {c.id for c in codebook.topics()}
    backchannels = {b.lower() for b in settings.backchannels}
    previous_topics: list[CodeAssignment] = []
    for utterance, assignments in zip(utterances, per_utterance, strict=True):
        words = re.findall(r"[a-z']+", utterance.text.lower())
        if not words or " ".join(words) in backchannels or all(w in backchannels for w in words):
            continue  # backchannels carry no code, and do not break the topic either
        own = [a for a in assignments if a.code in topic_ids]
        if own:
            previous_topics = own
            continue
        if len(words) <= settings.topic_carry_over_max_words and previous_topics:
            carried = [
                CodeAssignment(
                    code=t.code,
                    confidence=min(t.confidence, settings.topic_carry_over_confidence),
                    source="context",
                    rule="topic.carry_over",
                    evidence=None,
                )
                for t in previous_topics
            ]
            assignments.extend(carried)
            previous_topics = carried
        else:
            previous_topics = []


def strip_role_play(
    codebook: Codebook, utterances: list[Utterance], per_utterance: list[list[CodeAssignment]]
) -> None:
    """Client lines inside a role play are lines of a script, not the client's own change or sustain talk."""
    topic_ids = {c.id for c in codebook.topics()}
    window = codebook.settings.role_play_window
    remaining = 0
    for utterance, assignments in zip(utterances, per_utterance, strict=True):
        if utterance.role == "officer" and any(a.code == "cognitive.skill_practice" for a in assignments):
            remaining = window
            continue
        if remaining <= 0:
            continue
        remaining -= 1
        if utterance.role == "client":
            assignments[:] = [a for a in assignments if a.code in topic_ids]


def default_coders(codebook: Codebook, use_model: bool = True) -> tuple[list[Coder], list[str]]:
    """The rule coder and, when it is installed and loads, the trained MI model. Returns warnings too."""
    from sessioncoder.coding.rules import RuleCoder

    coders: list[Coder] = [RuleCoder(codebook)]
    warnings: list[str] = []
    if use_model:
        try:
            from sessioncoder.coding.mi.coder import load_mi_coder

            coders.append(load_mi_coder())
        except ImportError:
            pass
        except Exception as exc:  # a broken model must not stop rule coding; say so in the session
            warnings.append(f"trained MI model not used: {exc}")
    return coders, warnings


def code_utterances(
    utterances: list[Utterance], codebook: Codebook, coders: list[Coder]
) -> list[list[CodeAssignment]]:
    results = [(coder, coder.code(utterances)) for coder in coders]
    per_utterance = combine(results, len(utterances))
    apply_implications(codebook, per_utterance)
    carry_topics(codebook, utterances, per_utterance)
    strip_role_play(codebook, utterances, per_utterance)
    order = {code_id: i for i, code_id in enumerate(codebook.codes)}
    for assignments in per_utterance:
        assignments.sort(key=lambda a: order.get(a.code, len(order)))
    return per_utterance
