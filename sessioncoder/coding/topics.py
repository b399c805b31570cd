"""Topics as segments of talk, not as lines.

A human coder codes the discussion, not the sentence: once the officer asks
about the drinking, the client's "Round at Kyle's, a few cans" and "Honestly?
Every time." are drinking talk too, and the topic ends when the talk moves on.
Utterances first get their *own* topics (rules and the semantic coder); then,
per topic:

* **gaps are bridged**: between two utterances on the same topic no more than
  ``topic_gap`` utterances apart, the ones in between are on it too (the talk
  stayed there);
* **responses carry it forward**: up to ``topic_carry_forward`` following
  utterances that have no topic of their own and *respond* (a client answering
  the officer's question, an officer reflection, or any turn of at most
  ``topic_carry_over_max_words`` words) take the topic;
* bare backchannels ("Yeah.", "Right.") carry no code but do not end a segment;
* topics that a coder decides from context already (``contextual``: the trained code
  model reads the utterances and words around each line) are not carried or anchored: doing
  it again counts the context twice. Out of fold on 157 sessions, carrying them took topic
  F1 from 0.659 to 0.646, and carrying only the rules' guesses for them to 0.653 (on the 13
  tuning sessions, coded to the dev set's convention: 0.720 / 0.716 / 0.713). Without the
  code model every topic carries;
* for the codebook's ``topic_anchor_names`` topics (associates), a person named in a
  turn on the topic keeps it wherever they are named again ("Kyle" once he is one of
  the lads); names used to address the client do not count.

Carried codes have ``source="context"`` and say which utterance they came from.
A segment is then a maximal run of utterances on one topic; the profile's topic
minutes add up segment time (first start to last end, backchannels included),
not line time.
"""

from __future__ import annotations

import functools
import itertools
import re

from sessioncoder.coding.codebook import Codebook
from sessioncoder.schema import CodeAssignment, TopicSegment, Utterance
from sessioncoder.text import words

REFLECTION_CODES = frozenset({"mi.simple_reflection", "mi.complex_reflection"})


@functools.cache
def _backchannel_re(phrases: tuple[str, ...]) -> re.Pattern[str]:
    # longest first, so "go on then" is removed whole before "go on"
    ordered = sorted({p.lower() for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![a-z'])(?:" + "|".join(re.escape(p) for p in ordered) + r")(?![a-z'])")


def is_backchannel(codebook: Codebook, text: str) -> bool:
    """Nothing but backchannel phrases ("Yeah.", "Okay, thank you.", "Go on then.")."""
    rest = " ".join(words(text))
    if not codebook.settings.backchannels:
        return not rest
    return not _backchannel_re(tuple(codebook.settings.backchannels)).sub(" ", rest).strip()


_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][a-z]{2,})\b")
_VOCATIVE = re.compile(
    r"(?:^|[.?!]\s+)(?:(?:hi|hello|hiya|hey|morning|afternoon|evening|thanks|cheers|come on|okay|ok|right|so)\s+)?"
    r"([A-Z][a-z]{2,})(?=,|\s*[.?!]|$)|(?:^|[.?!]\s+)(?:hi|hello|hiya|hey|morning|thanks|cheers|come on)\s+([A-Z][a-z]{2,})"
    r"|,\s*([A-Z][a-z]{2,})\s*[.?!]",
    re.IGNORECASE,
)
_WORD_CAP = re.compile(r"\b([A-Z][a-z]{2,})\b")
_NOT_NAMES = frozenset(
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Christmas",
        "Okay",
        "Yeah",
        "Right",
        "Well",
        "Now",
        "Then",
        "Just",
        "Maybe",
        "Honestly",
        "Sorry",
        "Thanks",
        "Please",
        "Mum",
        "Mom",
        "Dad",
        "Nan",
        "Gran",
        "Sir",
        "Miss",
        "Court",
        "Probation",
        "Universal",
        "Credit",
    ]
)


def anchor_names(
    codebook: Codebook,
    utterances: list[Utterance],
    per_utterance: list[list[CodeAssignment]],
    back: list[bool],
    contextual: frozenset[str] = frozenset(),
) -> None:
    """Turns naming a person first met in a turn on an anchoring topic are on that topic too (in place)."""
    topics = [t for t in codebook.settings.topic_anchor_names if t not in contextual]
    if not topics:
        return
    # The people in the room are not the topic: speaker labels, and names used to address someone
    # ("Morning Dean", "Reece, how much...", "...don't be boring, Dean.").
    present = {u.speaker for u in utterances}
    for u in utterances:
        present.update(g for m in _VOCATIVE.finditer(u.text) for g in m.groups() if g)
    # A name is a capitalised word seen mid-sentence somewhere in the session; once known it counts
    # at the start of a sentence too ("Kyle lent me fifty quid").
    known = {n for u in utterances for n in _NAME.findall(u.text)} - _NOT_NAMES - present
    names = [set(_WORD_CAP.findall(u.text)) & known for u in utterances]
    for topic in topics:
        anchors: dict[str, int] = {}
        for i, assignments in enumerate(per_utterance):
            if any(a.code == topic and a.source != "context" for a in assignments):
                for name in names[i]:
                    anchors.setdefault(name, i)
        for i, assignments in enumerate(per_utterance):
            hit = next((n for n in names[i] if n in anchors and anchors[n] != i), None)
            if hit is None or back[i] or any(a.code == topic for a in assignments):
                continue
            assignments.append(
                CodeAssignment(
                    code=topic,
                    confidence=codebook.settings.topic_carry_over_confidence,
                    source="context",
                    rule="topic.named_person",
                    evidence=f"{hit}, named on this topic in utterance {utterances[anchors[hit]].index}",
                )
            )


def _responds(codebook: Codebook, utterances: list[Utterance], codes: list[set[str]], j: int) -> bool:
    """Whether utterance ``j`` answers or reflects the one before (so it stays on its topic)."""
    if j == 0:
        return False
    u, before = utterances[j], utterances[j - 1]
    if u.role == "client" and before.role == "officer" and "?" in before.text:
        return True  # the officer's question sets what the answer is about
    if u.role == "officer" and codes[j] & REFLECTION_CODES:
        return True
    return len(words(u.text)) <= codebook.settings.topic_carry_over_max_words


def segment_topics(
    codebook: Codebook,
    utterances: list[Utterance],
    per_utterance: list[list[CodeAssignment]],
    contextual: frozenset[str] = frozenset(),
) -> list[TopicSegment]:
    """Extend topics over the talk that stays on them (in place) and return the segments.

    ``contextual``: topics a coder already decided from context, which are not carried.
    """
    settings = codebook.settings
    topic_ids = [c.id for c in codebook.topics()]
    n = len(utterances)
    back = [is_backchannel(codebook, u.text) for u in utterances]
    for i in range(n):
        if back[i]:  # coding convention: backchannels carry no code, even inside a topic
            per_utterance[i][:] = [a for a in per_utterance[i] if a.code not in topic_ids]
    anchor_names(codebook, utterances, per_utterance, back, contextual)
    codes = [{a.code for a in assignments} for assignments in per_utterance]
    own = [c.intersection(topic_ids) for c in codes]
    carried: list[dict[str, int]] = [{} for _ in range(n)]  # topic -> utterance it came from
    for topic in topic_ids:
        if topic in contextual:
            continue
        on = [i for i in range(n) if topic in own[i]]
        for a, b in itertools.pairwise(on):
            if b - a <= settings.topic_gap:
                for j in range(a + 1, b):
                    if not back[j]:
                        carried[j].setdefault(topic, a)
        for a in on:
            j = a + 1
            while j < n and j <= a + settings.topic_carry_forward:
                if not back[j]:
                    if own[j] or not _responds(codebook, utterances, codes, j):
                        break
                    carried[j].setdefault(topic, a)
                j += 1
    for i in range(n):
        for topic, origin in carried[i].items():
            if topic in own[i]:
                continue
            source = next((a for a in per_utterance[origin] if a.code == topic), None)
            per_utterance[i].append(
                CodeAssignment(
                    code=topic,
                    confidence=min(
                        source.confidence if source else 1.0, settings.topic_carry_over_confidence
                    ),
                    source="context",
                    rule="topic.segment",
                    evidence=f"same discussion as utterance {utterances[origin].index}",
                )
            )
    return segments_of(codebook, utterances, per_utterance)


def segments_of(
    codebook: Codebook, utterances: list[Utterance], per_utterance: list[list[CodeAssignment]]
) -> list[TopicSegment]:
    """Maximal runs of utterances on one topic; backchannels inside a run belong to it."""
    segments: list[TopicSegment] = []
    for topic in (c.id for c in codebook.topics()):
        start: int | None = None
        last: int | None = None
        for i, assignments in enumerate(per_utterance):
            has = any(a.code == topic for a in assignments)
            if has:
                if start is None:
                    start = i
                last = i
            elif start is not None and not is_backchannel(codebook, utterances[i].text):
                segments.append(_segment(topic, utterances, start, last))
                start = last = None
        if start is not None and last is not None:
            segments.append(_segment(topic, utterances, start, last))
    segments.sort(key=lambda s: (s.first, s.topic))
    return segments


def _segment(topic: str, utterances: list[Utterance], first: int, last: int | None) -> TopicSegment:
    last = first if last is None else last
    span = utterances[first : last + 1]
    return TopicSegment(
        topic=topic,
        first=utterances[first].index,
        last=utterances[last].index,
        start=span[0].start,
        end=span[-1].end,
        utterances=len(span),
    )
