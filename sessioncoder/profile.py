"""Session-level measures (codebook-spec.md, "Session-level measures that a profile must report").

A profile is computed from the coded utterances and the codebook alone, so it
can be recomputed at any time (after a trainer's corrections, say). Time-based
measures use utterance timings when every utterance has them and otherwise
estimate from word counts at the codebook's words-per-minute.
"""

from __future__ import annotations

from collections import Counter

from sessioncoder.coding.codebook import Codebook
from sessioncoder.coding.topics import segments_of
from sessioncoder.schema import (
    CodeCount,
    CodedSession,
    Content,
    Evidence,
    MissedOpportunity,
    Miti,
    MitiScore,
    OverallSkill,
    PraiseCriticism,
    Profile,
    Rating,
    SkillArea,
    StructureItem,
    TalkShare,
    TalkTime,
    TopicTime,
    Utterance,
)

QUOTE_CHARS = 220
REFLECTIONS = ("mi.simple_reflection", "mi.complex_reflection")
QUESTIONS = ("mi.open_question", "mi.closed_question")
ADHERENT = ("relationship.affirmation", "relationship.autonomy", "relationship.collaboration")
NON_ADHERENT = ("mi.persuade", "mi.confront")
START_WINDOW = 1 / 3  # "near the start": first third of the session
END_WINDOW = 2 / 3  # "near the end": last third


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def evidence_for(u: Utterance, code: str | None = None) -> Evidence:
    return Evidence(index=u.index, code=code, start=u.start, speaker=u.speaker, quote=quote(u.text))


def _timed(utterances: list[Utterance]) -> bool:
    return bool(utterances) and all(u.start is not None and u.end is not None for u in utterances)


def utterance_minutes(u: Utterance, timed: bool, words_per_minute: float) -> float:
    if timed:
        return (u.duration or 0.0) / 60.0
    return u.word_count / words_per_minute


def rate(value: float, fair: float | None, good: float | None) -> Rating:
    if fair is None or good is None:
        return "n/a"
    if value >= good:
        return "good"
    if value >= fair:
        return "fair"
    return "below"


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def compute_miti(counts: Counter[str]) -> Miti:
    """MITI 4.2.1 summary scores and their fair/good thresholds.

    >>> m = compute_miti(Counter({"mi.simple_reflection": 2, "mi.complex_reflection": 2, "mi.open_question": 1, "mi.closed_question": 3}))
    >>> [(s.id, s.display, s.rating) for s in m.scores][:3]
    [('rq_ratio', '1.00', 'fair'), ('pct_complex_reflections', '50%', 'good'), ('pct_open_questions', '25%', 'below')]
    """
    simple, complex_ = counts["mi.simple_reflection"], counts["mi.complex_reflection"]
    open_, closed = counts["mi.open_question"], counts["mi.closed_question"]
    reflections, questions = simple + complex_, open_ + closed
    adherent = sum(counts[c] for c in ADHERENT)
    non_adherent = sum(counts[c] for c in NON_ADHERENT)

    def score(id_: str, name: str, value: float | None, display: str, fair=None, good=None) -> MitiScore:
        rating: Rating = "n/a" if value is None else rate(value, fair, good)
        return MitiScore(id=id_, name=name, value=value, display=display, fair=fair, good=good, rating=rating)

    rq = _ratio(reflections, questions)
    pct_cr = _ratio(complex_, reflections)
    pct_oq = _ratio(open_, questions)
    adherent_share = _ratio(adherent, adherent + non_adherent)
    return Miti(
        reflections=reflections,
        simple_reflections=simple,
        complex_reflections=complex_,
        questions=questions,
        open_questions=open_,
        closed_questions=closed,
        adherent=adherent,
        non_adherent=non_adherent,
        scores=[
            score("rq_ratio", "Reflection-to-question ratio", rq, "n/a" if rq is None else f"{rq:.2f}", 1.0, 2.0),
            score("pct_complex_reflections", "% complex reflections", pct_cr,
                  "n/a" if pct_cr is None else f"{pct_cr:.0%}", 0.40, 0.50),
            # MITI 4.2.1 sets no threshold for open questions; MITI 3.1.1's 50% / 70% are shown for orientation.
            score("pct_open_questions", "% open questions (MITI 3.1.1 thresholds)", pct_oq,
                  "n/a" if pct_oq is None else f"{pct_oq:.0%}", 0.50, 0.70),
            score("mi_adherent", "MI-adherent (affirm + autonomy + collaboration)", float(adherent), str(adherent)),
            score("mi_non_adherent", "MI-non-adherent (persuade + confront)", float(non_adherent), str(non_adherent)),
            score("adherent_share", "Adherent share of adherent + non-adherent", adherent_share,
                  "n/a" if adherent_share is None else f"{adherent_share:.0%}"),
        ],
    )  # fmt: skip


def _talk_time(utterances: list[Utterance], timed: bool) -> TalkTime:
    roles = ["officer", "client"] + [r for r in ("other", "unknown") if any(u.role == r for u in utterances)]
    total_words = sum(u.word_count for u in utterances) or 1
    total_seconds = sum(u.duration or 0.0 for u in utterances) if timed else 0.0
    shares = []
    for role in roles:
        mine = [u for u in utterances if u.role == role]
        words = sum(u.word_count for u in mine)
        seconds = sum(u.duration or 0.0 for u in mine) if timed else None
        shares.append(
            TalkShare(
                role=role,  # type: ignore[arg-type]
                seconds=round(seconds, 2) if seconds is not None else None,
                share_time=(seconds / total_seconds if total_seconds else 0.0)
                if seconds is not None
                else None,
                words=words,
                share_words=words / total_words,
                utterances=len(mine),
            )
        )
    return TalkTime(basis="time" if timed else "words", roles=shares)


def _structure(
    codebook: Codebook, utterances: list[Utterance], positions: list[float]
) -> list[StructureItem]:
    items = []
    for code in codebook.codes_in_group("structuring"):
        hits = [i for i, u in enumerate(utterances) if u.has(code.id)]
        expected = code.expected_position or "any"
        item = StructureItem(
            code=code.id, name=code.name, present=bool(hits), count=len(hits), expected=expected
        )
        if hits:
            # Where it happened: the first occurrence for opening moves, the last for closing ones.
            where = hits[-1] if expected == "end" else hits[0]
            item.first_index = utterances[hits[0]].index
            item.first_time = utterances[hits[0]].start
            item.position = round(positions[where], 3)
            if expected == "start":
                item.in_expected_place = positions[where] <= START_WINDOW
            elif expected == "end":
                item.in_expected_place = positions[where] >= END_WINDOW
        items.append(item)
    return items


def _positions(utterances: list[Utterance], timed: bool) -> list[float]:
    n = len(utterances)
    if timed:
        begin = min(u.start or 0.0 for u in utterances)
        end = max(u.end or 0.0 for u in utterances)
        span = (end - begin) or 1.0
        return [((u.start or 0.0) - begin) / span for u in utterances]
    return [i / (n - 1) if n > 1 else 0.0 for i in range(n)]


def _content(codebook: Codebook, utterances: list[Utterance], timed: bool, total_minutes: float) -> Content:
    """Minutes per topic from topic segments: a turn inside a run of talk on a topic counts for it
    (backchannels too), and a turn inside several segments gives each an equal part of its time."""
    wpm = codebook.settings.words_per_minute
    topics = codebook.topics()
    segments = segments_of(codebook, utterances, [u.codes for u in utterances])
    position = {u.index: i for i, u in enumerate(utterances)}
    covering: list[set[str]] = [set() for _ in utterances]
    for segment in segments:
        for i in range(position[segment.first], position[segment.last] + 1):
            covering[i].add(segment.topic)
    minutes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    untopiced = 0.0
    for u, mine in zip(utterances, covering, strict=True):
        length = utterance_minutes(u, timed, wpm)
        if not mine:
            untopiced += length
            continue
        # An utterance on two topics gives half its time to each, so shares never add up past 100%.
        for topic in mine:
            minutes[topic] += length / len(mine)
            counts[topic] += 1
    total = total_minutes or 1e-9
    rows = [
        TopicTime(
            topic=t.id,
            name=t.name,
            criminogenic=t.category == "criminogenic",
            category=t.category or "other",
            utterances=counts[t.id],
            minutes=round(minutes[t.id], 3),
            share=minutes[t.id] / total,
        )
        for t in topics
    ]
    procriminal = [
        u for u in utterances if u.has("topic.procriminal_attitudes", "client.procriminal_statement")
    ]
    return Content(
        basis="time" if timed else "words",
        topics=rows,
        share_criminogenic=sum(r.share for r in rows if r.category == "criminogenic"),
        share_conditions=sum(r.share for r in rows if r.category == "condition"),
        share_other=sum(r.share for r in rows if r.category == "other"),
        share_untopiced=untopiced / total,
        procriminal_discussed=bool(procriminal),
        procriminal_evidence=[evidence_for(u, "topic.procriminal_attitudes") for u in procriminal[:5]],
        segments=segments,
    )


POSITIVE = ("behavioural.reinforcement", "relationship.affirmation")
NEGATIVE = ("behavioural.disapproval", "mi.confront")
STICS_AREAS = ("structuring", "relationship", "behavioural", "cognitive")


def praise_criticism(counts: Counter[str], guidance: float = 5.0) -> PraiseCriticism:
    """Reinforcement + affirmation against disapproval + confront, against Trotter's 5:1.

    >>> praise_criticism(Counter({"behavioural.reinforcement": 4, "relationship.affirmation": 2, "mi.confront": 1})).display
    '6:1 (guidance at least 5:1: met)'
    """
    positive = sum(counts[c] for c in POSITIVE)
    negative = sum(counts[c] for c in NEGATIVE)
    ratio = positive / negative if negative else None
    if positive == 0 and negative == 0:
        meets, shown = None, "no praise or criticism"
    else:
        meets = negative == 0 or positive >= guidance * negative
        shown = f"{positive}:{negative}" if negative == 0 else f"{ratio:.3g}:1"
    verdict = "n/a" if meets is None else "met" if meets else "not met"
    return PraiseCriticism(
        positive=positive,
        negative=negative,
        ratio=ratio,
        guidance=guidance,
        meets_guidance=meets,
        display=f"{shown} (guidance at least {guidance:g}:1: {verdict})",
    )


def overall_skill(areas: list[SkillArea]) -> OverallSkill:
    """The mean of the four STICS area scores, each the share of its skills seen at least once."""
    scores = {a.id: a.score for a in areas if a.id in STICS_AREAS}
    if not scores:
        return OverallSkill(score=0.0, computation="no STICS skill areas in this codebook")
    score = sum(scores.values()) / len(scores)
    terms = " + ".join(f"{area} {value:.2f}" for area, value in scores.items())
    return OverallSkill(
        score=score,
        areas=scores,
        computation=(
            f"mean of the {len(scores)} STICS area scores (each: share of the area's skills used at least "
            f"once) = ({terms}) / {len(scores)} = {score:.2f}"
        ),
    )


def _skill_areas(codebook: Codebook, utterances: list[Utterance], counts: Counter[str]) -> list[SkillArea]:
    areas = []
    for area_id, area in codebook.skill_areas.items():
        codes = codebook.codes_in_area(area_id)
        used = [c.id for c in codes if counts[c.id]]
        evidence: list[Evidence] = []
        for code_id in used:
            best = sorted(
                (u for u in utterances if u.has(code_id)),
                key=lambda u: -max(a.confidence for a in u.codes if a.code == code_id),
            )
            evidence.extend(evidence_for(u, code_id) for u in best[:2])
        areas.append(
            SkillArea(
                id=area_id,
                name=area.name,
                score=len(used) / len(codes) if codes else 0.0,
                count=sum(counts[c.id] for c in codes),
                skills_used=used,
                skills_missing=[c.id for c in codes if not counts[c.id]],
                evidence=evidence[:10],
            )
        )
    return areas


def _missed(u: Utterance, kind: str, explanation: str) -> MissedOpportunity:
    return MissedOpportunity(
        kind=kind, index=u.index, start=u.start, quote=quote(u.text), explanation=explanation
    )  # type: ignore[arg-type]


def _missed_opportunities(codebook: Codebook, utterances: list[Utterance]) -> list[MissedOpportunity]:
    window = codebook.settings.missed_opportunity_window
    missed = []
    for i, u in enumerate(utterances):
        if u.role != "client":
            continue
        following = [v for v in utterances[i + 1 : i + 1 + window] if v.role == "officer"]
        if u.has("client.procriminal_statement") and not any(
            v.has_prefix("cognitive.", "behavioural.") for v in following
        ):
            missed.append(
                _missed(
                    u,
                    "procriminal_unaddressed",
                    f"Pro-criminal statement with no cognitive or behavioural response in the next {window} turns.",
                )
            )
        if u.has("client.change_talk") and not any(
            v.has(*REFLECTIONS, "behavioural.reinforcement") for v in following[:1]
        ):
            missed.append(
                _missed(
                    u,
                    "change_talk_unreflected",
                    "Change talk that the officer's next turn neither reflected nor reinforced.",
                )
            )
    return missed


def compute_profile(session: CodedSession, codebook: Codebook) -> Profile:
    utterances = session.utterances
    timed = _timed(utterances)
    wpm = codebook.settings.words_per_minute
    if timed:
        begin = min(u.start or 0.0 for u in utterances)
        end = max(u.end or 0.0 for u in utterances)
        duration_minutes = (session.duration or (end - begin)) / 60.0
    else:
        duration_minutes = sum(u.word_count for u in utterances) / wpm
    counts: Counter[str] = Counter(c for u in utterances for c in dict.fromkeys(u.code_ids))
    per10 = (lambda n: n / duration_minutes * 10) if duration_minutes > 0 else (lambda n: None)
    code_counts = [
        CodeCount(code=c.id, group=c.group, count=counts[c.id], per_10_min=per10(counts[c.id]))
        for c in codebook.codes.values()
    ]
    positions = _positions(utterances, timed)
    areas = _skill_areas(codebook, utterances, counts)
    return Profile(
        duration_minutes=round(duration_minutes, 3),
        duration_basis="time" if timed else "words",
        utterances=len(utterances),
        talk_time=_talk_time(utterances, timed),
        code_counts=code_counts,
        miti=compute_miti(counts),
        skill_areas=areas,
        overall_skill=overall_skill(areas),
        praise_criticism=praise_criticism(counts),
        content=_content(codebook, utterances, timed, duration_minutes),
        structure=_structure(codebook, utterances, positions),
        missed_opportunities=_missed_opportunities(codebook, utterances),
    )
