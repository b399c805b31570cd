"""The report's feedback: the moments that went well and the ones to work on, with advice worded for the practitioner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sessioncoder.report.html.charts import _fmt_like
from sessioncoder.report.html.common import NON_ADHERENT, CodeInfo, _pct, _quote, code_info
from sessioncoder.schema import CodedSession, MitiScore, Utterance

if TYPE_CHECKING:  # pragma: no cover
    pass


# How much a practitioner code says about skill, for picking the strengths to show.
STRENGTH_WEIGHTS: dict[str, float] = {
    "cognitive.restructuring": 3.0,
    "cognitive.model": 3.0,
    "cognitive.skill_practice": 3.0,
    "cognitive.problem_solving": 2.8,
    "cognitive.prosocial_modelling": 2.5,
    "behavioural.reinforcement": 3.0,
    "behavioural.disapproval": 2.8,
    "behavioural.authority": 2.2,
    "mi.complex_reflection": 2.6,
    "relationship.affirmation": 2.4,
    "relationship.autonomy": 2.2,
    "relationship.collaboration": 2.0,
    "relationship.role_clarification": 2.0,
    "structuring.summary": 2.2,
    "structuring.homework": 2.2,
    "structuring.review": 2.0,
    "structuring.agenda": 1.8,
    "structuring.check_in": 1.2,
    "mi.advice_with_permission": 1.8,
    "mi.simple_reflection": 1.2,
    "mi.open_question": 1.0,
}

PRAISE: dict[str, str] = {
    "mi.complex_reflection": "You reflected back more than the words, adding meaning. Complex reflections help the client feel understood and hear their own reasons for change.",
    "mi.simple_reflection": "You reflected what the client said, showing you were listening closely.",
    "mi.open_question": "An open question that invited the client to tell their own story.",
    "mi.advice_with_permission": "You asked permission before offering advice, which keeps the client in charge of the decision.",
    "relationship.affirmation": "You recognised a genuine strength or effort. Affirmations like this build the working relationship.",
    "relationship.autonomy": "You emphasised the client's choice and control, which lowers resistance and supports change.",
    "relationship.collaboration": "You asked for the client's ideas and shared the decision.",
    "relationship.role_clarification": "You were open about your role, helping and enforcing, which builds trust and sets clear expectations.",
    "structuring.check_in": "A check-in on how things are, so acute needs come up early.",
    "structuring.review": "You linked back to the last session and followed up on the practice.",
    "structuring.agenda": "You set out the plan for the session and invited the client's input.",
    "structuring.homework": "You set a task to practise before next time, so the skill carries into daily life.",
    "structuring.summary": "You drew the threads together in a summary, a good way to check understanding.",
    "behavioural.reinforcement": "Specific praise for a pro-social choice, said as it happened: this is how new behaviour sticks.",
    "behavioural.disapproval": "Calm disapproval with a reason and an alternative: firm, fair and respectful.",
    "behavioural.authority": "You stated the requirement clearly and fairly and offered a choice.",
    "cognitive.model": "You used the link between thoughts, feelings and behaviour, the core STICS cognitive technique.",
    "cognitive.restructuring": "You helped the client examine a thought and find another way of seeing it.",
    "cognitive.prosocial_modelling": "You modelled a pro-social way of handling the situation.",
    "cognitive.problem_solving": "Structured problem solving: options weighed and a plan made together.",
    "cognitive.skill_practice": "You rehearsed the skill together. Practice is what turns a plan into a habit.",
}

NON_ADHERENT_ADVICE: dict[str, tuple[str, str]] = {
    "mi.persuade": (
        "Advice given without asking first",
        "Try asking permission (\u201cWould it be OK if I shared an idea?\u201d) and leaving the choice with the client; advice lands better when it is invited.",
    ),
    "mi.confront": (
        "A confrontational moment",
        "The same point lands better as calm disapproval: say what concerns you and why, then ask what else they could do.",
    ),
}

# The client code each kind of missed opportunity is found from.
MISSED_TRIGGER = {
    "procriminal_unaddressed": "client.procriminal_statement",
    "change_talk_unreflected": "client.change_talk",
}
MISSED_ADVICE: dict[str, tuple[str, str]] = {
    "procriminal_unaddressed": (
        "A pro-criminal statement that could have been explored",
        "Next time, try naming it calmly and inviting another view, for example \u201cIs there another way to look at that?\u201d (cognitive restructuring) or effective disapproval with an alternative.",
    ),
    "change_talk_unreflected": (
        "Change talk that could have been picked up",
        "Reflecting or reinforcing change talk (\u201cYou really don't want to go back inside\u201d) strengthens the client's own reasons for change.",
    ),
}

AREA_ADVICE: dict[str, str] = {
    "structuring": "Check-in, review, agenda, homework and summary give the session a shape the client can follow.",
    "relationship": "Affirming effort, emphasising choice and asking for the client's ideas build the working alliance that change rests on.",
    "behavioural": "Look for a pro-social choice to reinforce with specific praise, and say why it matters; it is the quickest win in STICS.",
    "cognitive": "Try tracing one recent situation through thoughts, feelings and behaviour; it opens the door to the cognitive techniques.",
}

STRUCTURE_ADVICE: dict[str, str] = {
    "structuring.check_in": "Opening with a check-in on how things have been helps pick up acute needs and compliance issues early.",
    "structuring.review": "Linking back to the last session, and checking on any practice, gives the work continuity.",
    "structuring.agenda": "Agreeing a plan for the session near the start keeps the time focused on what matters most.",
    "structuring.homework": "Ending with a small task to practise helps skills carry over into daily life.",
    "structuring.summary": "A closing summary draws the threads together and checks you both heard the same thing.",
}


# --------------------------------------------------------------------------- moments


@dataclass
class Moment:
    """A strength or an area to develop, with the evidence that supports it."""

    kind: str  # strength | missed | non_adherent | structure | score | content
    headline: str
    note: str
    index: int | None = None
    start: float | None = None
    speaker: str | None = None
    quote: str | None = None
    code: str | None = None
    code_name: str | None = None
    definition: str | None = None

    @classmethod
    def of_code(cls, kind: str, headline: str, note: str, u: Utterance, code: str, info: CodeInfo) -> Moment:
        """A moment quoting utterance ``u`` as an example of ``code``."""
        return cls(
            kind=kind,
            headline=headline,
            note=note,
            index=u.index,
            start=u.start,
            speaker=u.speaker,
            quote=_quote(u, code),
            code=code,
            code_name=info.name,
            definition=info.definition,
        )


def select_strengths(session: CodedSession, codebook: Any, limit: int = 5) -> list[Moment]:
    """Three to five practitioner moments that show skill, varied across skill groups.

    Candidates are scored by how much the code says about skill times the
    coder's confidence; the first pass takes at most one per group, the second
    fills up to ``limit`` with other codes. MI non-adherent lines never count.
    """
    candidates: list[tuple[float, Utterance, str]] = []
    for u in session.utterances:
        if u.role != "officer" or u.has(*NON_ADHERENT):
            continue
        for c in u.codes:
            weight = STRENGTH_WEIGHTS.get(c.code)
            if weight:
                candidates.append((weight * c.confidence, u, c.code))
    candidates.sort(key=lambda item: (-item[0], item[1].index))
    chosen: list[tuple[Utterance, str]] = []
    used_codes: set[str] = set()
    used_lines: set[int] = set()
    for one_per_group in (True, False):
        used_groups = {code_info(codebook, code).group for _, code in chosen}
        for _, u, code in candidates:
            if len(chosen) >= limit:
                break
            group = code_info(codebook, code).group
            if code in used_codes or u.index in used_lines or (one_per_group and group in used_groups):
                continue
            chosen.append((u, code))
            used_codes.add(code)
            used_lines.add(u.index)
            used_groups.add(group)
    chosen.sort(key=lambda item: item[0].index)
    moments = []
    for u, code in chosen:
        info = code_info(codebook, code)
        note = PRAISE.get(code, f"A clear example of {info.name.lower()}.")
        moments.append(Moment.of_code("strength", info.name, note, u, code, info))
    return moments


def _score_advice(score: MitiScore) -> str:
    key = f"{score.id} {score.name}".lower()
    if "complex" in key:
        return "Try adding meaning to reflections: the feeling underneath, or both sides of what the client is weighing up."
    if "open" in key:
        return "Try opening more questions with \u201cwhat\u201d or \u201chow\u201d, so the client does more of the talking."
    if "reflection" in key or "r:q" in key or "rq" in key:
        return (
            "Try swapping some questions for reflections: aim for at least one reflection for every question."
        )
    return "A useful focus for the next session."


def select_development(session: CodedSession, codebook: Any, limit_quotes: int = 5) -> list[Moment]:
    """Missed opportunities and MI non-adherent moments (with quotes), then session-level gaps."""
    by_index = {u.index: u for u in session.utterances}
    moments: list[Moment] = []
    profile = session.profile
    quoted: list[Moment] = []
    if profile is not None:
        for m in profile.missed_opportunities:
            headline, advice = MISSED_ADVICE.get(m.kind, ("A missed opportunity", ""))
            u = by_index.get(m.index)
            quoted.append(
                Moment(
                    kind="missed",
                    headline=headline,
                    note=" ".join(x for x in (m.explanation, advice) if x),
                    index=m.index,
                    start=m.start,
                    speaker=u.speaker if u else None,
                    quote=m.quote,
                    code=MISSED_TRIGGER.get(m.kind),  # what was missed rests on this code being right
                )
            )
    for u in session.utterances:
        for code in NON_ADHERENT:
            if u.role == "officer" and u.has(code):
                info = code_info(codebook, code)
                headline, advice = NON_ADHERENT_ADVICE[code]
                quoted.append(Moment.of_code("non_adherent", headline, advice, u, code, info))
    quoted.sort(key=lambda m: m.index if m.index is not None else 0)
    moments.extend(quoted[:limit_quotes])
    if profile is None:
        return moments
    for area in profile.skill_areas:
        if area.count == 0:
            moments.append(
                Moment(
                    kind="area",
                    headline=f"{area.name}: none used this time",
                    note=AREA_ADVICE.get(area.id, "A skill area to bring into the next session."),
                )
            )
    for item in profile.structure:
        if not item.present:
            info = code_info(codebook, item.code)
            moments.append(
                Moment(
                    kind="structure",
                    headline=f"No {item.name.lower()} this time",
                    note=STRUCTURE_ADVICE.get(item.code, ""),
                    code=item.code,
                    code_name=info.name,
                    definition=info.definition,
                )
            )
    for score in profile.miti.scores:
        if score.rating == "below":
            threshold = _fmt_like(score, score.fair) if score.fair is not None else ""
            moments.append(
                Moment(
                    kind="score",
                    headline=f"{score.name}: {score.display}"
                    + (f", below the fair level of {threshold}" if threshold else ""),
                    note=_score_advice(score),
                )
            )
    content = profile.content
    if content.share_conditions > content.share_criminogenic and content.share_conditions > 0:
        moments.append(
            Moment(
                kind="content",
                headline="More time on probation conditions than on criminogenic needs",
                note=f"Conditions took {_pct(content.share_conditions)} of the session and criminogenic needs "
                f"{_pct(content.share_criminogenic)}. STICS found that more time on needs, and less on "
                "conditions, went with lower reoffending.",
            )
        )
    if not content.procriminal_discussed:
        moments.append(
            Moment(
                kind="content",
                headline="Pro-criminal attitudes were not discussed",
                note="STICS-trained officers discussed them in 39% of sessions (6.7% without training); "
                "exploring the thinking behind the offending is where cognitive techniques do the most good.",
            )
        )
    return moments
