"""The practitioner/trainer feedback report: one self-contained HTML file.

STICS trainers gave officers "individual clinical feedback" on their recorded
sessions, rewarding and encouraging skill use. This page does the same at a
glance: what went well and what to work on, each with the quote, the moment in
the recording and the code's definition, then the full coded transcript.

The page makes no network request: CSS, SVG charts and a small vanilla script
are inline, the audio is referenced by a relative path (or embedded as a data
URI), and it prints cleanly. Every piece of session text is escaped, because
transcripts are untrusted input.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..schema import CodedSession, MitiScore, Profile, Utterance

if TYPE_CHECKING:  # pragma: no cover
    from ..codebook import Codebook
    from ..redact import Redactor

ASSET_DIR = Path(__file__).resolve().parent
DEFAULT_LOW_CONFIDENCE = 0.6
NON_ADHERENT = ("mi.persuade", "mi.confront")

# Okabe-Ito colours: distinguishable with common colour-vision deficiencies.
GROUP_COLOURS = {
    "structuring": "#0072B2",
    "relationship": "#009E73",
    "mi": "#56B4E9",
    "behavioural": "#E69F00",
    "cognitive": "#CC79A7",
    "client": "#D55E00",
    "topic": "#8a8f98",
}
CATEGORY_COLOURS = {"criminogenic": "#007a78", "condition": "#c46a00", "other": "#8a8f98", "none": "#d7dae0"}
RATING_COLOURS = {"good": "#1a7f37", "fair": "#9a6700", "below": "#b42318", "n/a": "#6e7781"}
ROLE_COLOURS = {"officer": "#0072B2", "client": "#D55E00", "unknown": "#8a8f98"}

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


# --------------------------------------------------------------------------- helpers


def esc(value: Any) -> str:
    """Escape text for HTML content and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_time(seconds: float | None) -> str:
    """``75.2`` -> ``01:15``; ``3725`` -> ``1:02:05``."""
    if seconds is None:
        return ""
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _fit(label: str, pixels: float, char_px: float = 7.2) -> str:
    """Shorten a chart label to fit ``pixels`` at 13px system font (the full text goes in a tooltip)."""
    limit = max(4, int(pixels / char_px))
    if len(label) <= limit:
        return label
    cut = label[: limit - 1].rsplit(" ", 1)[0] if " " in label[: limit - 1] else label[: limit - 1]
    return cut.rstrip(" (+-,") + "\u2026"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


@dataclass(frozen=True)
class CodeInfo:
    id: str
    name: str
    group: str
    group_name: str
    definition: str


def code_info(codebook: Any, code_id: str) -> CodeInfo:
    """Name, group and definition of a code; falls back to the id for codes the codebook lacks."""
    spec = getattr(codebook, "codes", {}).get(code_id) if codebook is not None else None
    group = getattr(spec, "group", None) or code_id.split(".", 1)[0]
    name = getattr(spec, "name", None) or code_id.split(".", 1)[-1].replace("_", " ").capitalize()
    groups = getattr(codebook, "groups", {}) or {}
    group_spec = groups.get(group)
    group_name = getattr(group_spec, "name", None) or group.capitalize()
    return CodeInfo(code_id, name, group, group_name, getattr(spec, "definition", "") or "")


def low_confidence_threshold(codebook: Any) -> float:
    settings = getattr(codebook, "settings", None)
    return float(getattr(settings, "low_confidence", DEFAULT_LOW_CONFIDENCE))


def needs_review(assignment: Any, threshold: float) -> bool:
    return assignment.source != "human" and assignment.confidence < threshold


def _colour(group: str) -> str:
    return GROUP_COLOURS.get(group, "#6e7781")


def _quote(u: Utterance, code: str | None = None, limit: int = 260) -> str:
    """The utterance text, shortened around the code's evidence when it is long."""
    text = u.text.strip()
    if len(text) <= limit:
        return text
    span = next((c.span for c in u.codes if c.code == code and c.span), None)
    start = 0
    if span is not None:
        start = max(0, min(span[0] - limit // 3, len(text) - limit))
    piece = text[start : start + limit].strip()
    return ("\u2026" if start > 0 else "") + piece + ("\u2026" if start + limit < len(text) else "")


def _ts_link(index: int, start: float | None) -> str:
    """A timestamp that plays the recording from that moment (or jumps to the transcript line)."""
    label = fmt_time(start) if start is not None else f"line {index + 1}"
    data_t = f' data-t="{start:.2f}"' if start is not None else ""
    return f'<a class="ts" href="#u{index}" data-i="{index}"{data_t} title="Play from here">{esc(label)}</a>'


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


# --------------------------------------------------------------------------- SVG charts


@dataclass
class Bar:
    label: str
    value: float | None
    display: str
    colour: str
    fair: float | None = None
    good: float | None = None
    title: str = ""
    href: str | None = None


def _is_fraction_percent(score: MitiScore) -> bool:
    values = [v for v in (score.value, score.fair, score.good) if v is not None]
    return score.display.strip().endswith("%") and all(v <= 1.0 for v in values)


def _fmt_like(score: MitiScore, x: float | None) -> str:
    """A threshold formatted like the score's own display (``2:1``, ``50%``)."""
    if x is None:
        return ""
    if ":" in score.display:
        return f"{x:g}:1"
    if score.display.strip().endswith("%"):
        return f"{100 * x:.0f}%" if _is_fraction_percent(score) else f"{x:.0f}%"
    return f"{x:g}"


def bar_chart_svg(bars: list[Bar], scale_max: float, *, label: str, label_width: int = 170) -> str:
    """Horizontal bars with optional fair (dashed) and good (solid) threshold markers."""
    width, value_width, row_h, top = 540, 120, 30, 6
    track_x = label_width
    track_w = width - label_width - value_width
    height = top * 2 + row_h * max(1, len(bars))
    scale_max = scale_max if scale_max > 0 else 1.0

    def x_of(v: float) -> float:
        return track_x + track_w * max(0.0, min(1.0, v / scale_max))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg"><title>{esc(label)}</title>'
    ]
    for i, bar in enumerate(bars):
        y = top + i * row_h
        mid = y + row_h / 2
        row = [
            f'<text class="bar-label" x="0" y="{mid + 4:.1f}">{esc(_fit(bar.label, label_width - 8))}'
            f"<title>{esc(bar.label)}</title></text>",
            f'<rect class="track" x="{track_x}" y="{y + 7}" width="{track_w}" height="{row_h - 14}" rx="3"/>',
        ]
        if bar.value is not None:
            w = x_of(bar.value) - track_x
            row.append(
                f'<rect class="bar" x="{track_x}" y="{y + 7}" width="{max(w, 1.5):.1f}" height="{row_h - 14}" '
                f'rx="3" fill="{bar.colour}"><title>{esc(bar.title or bar.display)}</title></rect>'
            )
        for kind, threshold in (("fair", bar.fair), ("good", bar.good)):
            if threshold is not None:
                tx = x_of(threshold)
                row.append(
                    f'<line class="mark mark-{kind}" x1="{tx:.1f}" x2="{tx:.1f}" y1="{y + 3}" y2="{y + row_h - 3}">'
                    f"<title>{kind} threshold</title></line>"
                )
        row.append(
            f'<text class="bar-value" x="{track_x + track_w + 8}" y="{mid + 4:.1f}">{esc(bar.display)}</text>'
        )
        body = "".join(row)
        if bar.href:
            body = f'<a href="{esc(bar.href)}">{body}</a>'
        parts.append(f'<g class="bar-row">{body}</g>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar_svg(segments: list[tuple[str, float, str]], *, label: str, height: int = 34) -> str:
    """One 100% bar split into labelled segments: (label, share 0..1, colour)."""
    width = 640
    total = sum(max(0.0, s) for _, s, _ in segments) or 1.0
    parts = [
        f'<svg class="chart stacked" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg"><title>{esc(label)}</title>'
    ]
    x = 0.0
    for name, share, colour in segments:
        w = width * max(0.0, share) / total
        if w <= 0:
            continue
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}">'
            f"<title>{esc(name)}: {_pct(share / total)}</title></rect>"
        )
        if w > len(f"{name} {_pct(share / total)}") * 7.6 + 12:
            parts.append(
                f'<text class="seg-label" x="{x + 8:.1f}" y="{height / 2 + 5:.1f}">{esc(name)} {_pct(share / total)}</text>'
            )
        x += w
    parts.append("</svg>")
    return "".join(parts)


def miti_bars(profile: Profile) -> tuple[list[Bar], list[float]]:
    """One bar per MITI summary score, scaled to its own range; returns bars and scale maxima."""
    bars, scales = [], []
    for score in profile.miti.scores:
        fraction = _is_fraction_percent(score)
        values = [v for v in (score.value, score.fair, score.good) if v is not None]
        if score.display.strip().endswith("%"):
            scale = 1.0 if fraction else 100.0
        else:
            scale = max(values) * 1.3 if values else 1.0
        bars.append(
            Bar(
                label=score.name,
                value=score.value,
                display=score.display + ("" if score.rating == "n/a" else f" \u00b7 {score.rating}"),
                colour=RATING_COLOURS[score.rating],
                fair=score.fair,
                good=score.good,
                title=f"{score.name}: {score.display}"
                + (
                    f" (fair {_fmt_like(score, score.fair)}, good {_fmt_like(score, score.good)})"
                    if score.fair
                    else ""
                ),
            )
        )
        scales.append(scale)
    return bars, scales


def _adherence_html(profile: Profile) -> str:
    """MI-adherent against MI-non-adherent counts on one scale, plus any other untargeted scores."""
    miti = profile.miti
    untargeted = [s for s in miti.scores if s.fair is None and s.good is None]
    adherent = next(
        (s for s in untargeted if "adherent" in s.id and "non" not in s.id and "share" not in s.id), None
    )
    non_adherent = next((s for s in untargeted if "non_adherent" in s.id), None)
    bars = [
        Bar(
            label="MI-adherent",
            value=float(miti.adherent),
            display=str(miti.adherent),
            colour=RATING_COLOURS["good"],
            title=f"{adherent.name}: {adherent.display}" if adherent else "MI-adherent",
        ),
        Bar(
            label="MI-non-adherent",
            value=float(miti.non_adherent),
            display=str(miti.non_adherent),
            colour=RATING_COLOURS["below"] if miti.non_adherent else RATING_COLOURS["n/a"],
            title=f"{non_adherent.name}: {non_adherent.display}" if non_adherent else "MI-non-adherent",
        ),
    ]
    scale = max(miti.adherent, miti.non_adherent, 1) * 1.2
    chart = bar_chart_svg(bars, scale, label="MI-adherent versus MI-non-adherent behaviours", label_width=190)
    others = "".join(
        f"<li>{esc(s.name)}: <strong>{esc(s.display)}</strong></li>"
        for s in untargeted
        if s is not adherent and s is not non_adherent
    )
    return chart + (f'<ul class="area-detail">{others}</ul>' if others else "")


def _miti_svg(profile: Profile) -> str:
    all_bars, all_scales = miti_bars(profile)
    if not all_bars:
        return '<p class="muted">No MITI scores in this profile.</p>'
    targeted = [
        (b, sc)
        for b, sc, s in zip(all_bars, all_scales, profile.miti.scores, strict=True)
        if s.fair is not None
    ]
    bars, scales = [b for b, _ in targeted], [sc for _, sc in targeted]
    # Each score has its own scale, so draw one single-row chart per score, stacked.
    charts = [
        bar_chart_svg([bar], scale, label=f"{bar.label}: {bar.display}", label_width=210)
        for bar, scale in zip(bars, scales, strict=True)
    ]
    legend = (
        '<p class="legend"><span class="key key-fair"></span> fair threshold '
        '<span class="key key-good"></span> good threshold (MITI 4.2.1)'
        f'<span class="swatch" style="background:{RATING_COLOURS["good"]}"></span>good'
        f'<span class="swatch" style="background:{RATING_COLOURS["fair"]}"></span>fair'
        f'<span class="swatch" style="background:{RATING_COLOURS["below"]}"></span>below fair</p>'
    )
    miti = profile.miti
    adherence = (
        '<p class="adherence muted">Adherent: affirm, emphasise autonomy, seek collaboration. '
        "Non-adherent: persuade without permission, confront. "
        f"{miti.reflections} reflections ({miti.complex_reflections} complex), "
        f"{miti.questions} questions ({miti.open_questions} open).</p>"
    )
    return (
        '<div class="miti-charts">'
        + "".join(charts)
        + "</div>"
        + legend
        + '<h4 class="h-sub">MI-adherent and non-adherent</h4>'
        + _adherence_html(profile)
        + adherence
    )


def _skill_areas_html(profile: Profile, codebook: Any) -> str:
    if not profile.skill_areas:
        return '<p class="muted">No skill areas in this profile.</p>'
    bars = [
        Bar(
            label=area.name,
            value=area.score,
            display=f"{len(area.skills_used)}/{len(area.skills_used) + len(area.skills_missing)} skills \u00b7 {area.count}\u00d7",
            colour=_colour(area.id),
            title=f"{area.name}: {_pct(area.score)} of the area's skills seen, {area.count} uses",
        )
        for area in profile.skill_areas
    ]
    chart = bar_chart_svg(bars, 1.0, label="STICS skill areas: share of each area's skills used")
    rows = []
    for area in profile.skill_areas:
        used = ", ".join(esc(code_info(codebook, c).name) for c in area.skills_used) or "none yet"
        missing = ", ".join(esc(code_info(codebook, c).name) for c in area.skills_missing)
        rows.append(
            f"<li><strong>{esc(area.name)}</strong>: used {used}"
            + (f'; <span class="muted">not seen: {missing}</span>' if missing else "")
            + "</li>"
        )
    return chart + f'<ul class="area-detail">{"".join(rows)}</ul>'


def _structure_html(profile: Profile, session: CodedSession) -> str:
    if not profile.structure:
        return '<p class="muted">No structure items in this profile.</p>'
    items = []
    for item in profile.structure:
        if item.present:
            where = ""
            if item.first_index is not None:
                where = " at " + _ts_link(item.first_index, item.first_time)
            placement = ""
            if item.in_expected_place is False and item.expected != "any":
                placement = f' <span class="muted">(usually comes at the {esc(item.expected)})</span>'
            count = f" \u00b7 {item.count}\u00d7" if item.count > 1 else ""
            items.append(
                f'<li class="present"><span class="tick" aria-hidden="true">\u2713</span>'
                f'<span class="sr-only">Present: </span>{esc(item.name)}{where}{count}{placement}</li>'
            )
        else:
            items.append(
                f'<li class="absent"><span class="tick" aria-hidden="true">\u25cb</span>'
                f'<span class="sr-only">Not seen: </span>{esc(item.name)} <span class="muted">not seen</span></li>'
            )
    done = sum(1 for i in profile.structure if i.present)
    return f'<p class="kpi"><strong>{done} of {len(profile.structure)}</strong> structuring steps</p><ul class="checklist">{"".join(items)}</ul>'


def _content_html(profile: Profile) -> str:
    content = profile.content
    unit = "min" if content.basis == "time" else "min (est.)"
    topics = sorted((t for t in content.topics if t.utterances > 0), key=lambda t: -t.minutes)
    not_discussed = [t.name for t in content.topics if t.utterances == 0 and t.category == "criminogenic"]
    parts = []
    if topics:
        scale = max(t.minutes for t in topics) * 1.1 or 1.0
        bars = [
            Bar(
                label=t.name,
                value=t.minutes,
                display=f"{t.minutes:.1f} {unit} \u00b7 {_pct(t.share)}",
                colour=CATEGORY_COLOURS.get(t.category, "#8a8f98"),
                title=f"{t.name} ({t.category}): {t.minutes:.1f} minutes, {t.utterances} lines",
            )
            for t in topics
        ]
        parts.append(bar_chart_svg(bars, scale, label="Time on each topic"))
    else:
        parts.append('<p class="muted">No topics were coded.</p>')
    parts.append(
        stacked_bar_svg(
            [
                ("Criminogenic needs", content.share_criminogenic, CATEGORY_COLOURS["criminogenic"]),
                ("Conditions", content.share_conditions, CATEGORY_COLOURS["condition"]),
                ("Other", content.share_other, CATEGORY_COLOURS["other"]),
                ("No topic", content.share_untopiced, CATEGORY_COLOURS["none"]),
            ],
            label="Share of the session: criminogenic needs versus probation conditions",
        )
    )
    parts.append(
        '<p class="legend">'
        + "".join(
            f'<span class="swatch" style="background:{CATEGORY_COLOURS[k]}"></span>{label}'
            for k, label in (
                ("criminogenic", f"criminogenic needs {_pct(content.share_criminogenic)}"),
                ("condition", f"probation conditions {_pct(content.share_conditions)}"),
                ("other", f"other {_pct(content.share_other)}"),
                ("none", f"no topic {_pct(content.share_untopiced)}"),
            )
        )
        + "</p>"
    )
    if not_discussed:
        parts.append(f'<p class="muted">Needs not discussed: {esc(", ".join(not_discussed))}.</p>')
    if content.procriminal_discussed:
        ev = content.procriminal_evidence[:1]
        quote = ""
        if ev:
            quote = f" {_ts_link(ev[0].index, ev[0].start)} <q>{esc(ev[0].quote)}</q>"
        parts.append(f'<p class="flag yes">\u2713 Pro-criminal attitudes were discussed.{quote}</p>')
    else:
        parts.append('<p class="flag no">\u25cb Pro-criminal attitudes were not discussed.</p>')
    return "".join(parts)


def _topic_category(codebook: Any, code_id: str) -> str | None:
    spec = getattr(codebook, "codes", {}).get(code_id) if codebook is not None else None
    return getattr(spec, "category", None)


def _time_axis(session: CodedSession) -> tuple[list[tuple[float, float]], float, bool]:
    """(start, end) per utterance on a common axis: seconds when timed, else cumulative words."""
    utts = session.utterances
    timed = bool(utts) and all(u.start is not None and u.end is not None for u in utts)
    if timed:
        spans = [(float(u.start), float(u.end)) for u in utts]  # type: ignore[arg-type]
        total = max([session.duration or 0.0] + [e for _, e in spans])
        return spans, total or 1.0, True
    spans, pos = [], 0.0
    for u in utts:
        n = max(1, u.word_count)
        spans.append((pos, pos + n))
        pos += n
    return spans, pos or 1.0, False


def timeline_svg(session: CodedSession, codebook: Any) -> str:
    """Who spoke when, the practitioner and client codes by group, and the topics, on one time axis."""
    spans, total, timed = _time_axis(session)
    width, label_w, row_h = 1000, 200, 18
    plot_w = width - label_w - 10
    speakers: list[str] = []
    for u in session.utterances:
        if u.speaker not in speakers:
            speakers.append(u.speaker)
    roles = {u.speaker: u.role for u in session.utterances}
    groups: list[str] = []
    topics: list[str] = []
    for u in session.utterances:
        for c in u.codes:
            info = code_info(codebook, c.code)
            target = topics if c.code.startswith("topic.") else groups
            key = c.code if c.code.startswith("topic.") else info.group
            if key not in target:
                target.append(key)
    group_order = list(GROUP_COLOURS)
    groups.sort(key=lambda g: group_order.index(g) if g in group_order else len(group_order))
    rows: list[tuple[str, str, str]] = [
        ("speaker", s, s if s.lower() == roles.get(s, "unknown") else f"{s} ({roles.get(s, 'unknown')})")
        for s in speakers
    ]
    rows += [("group", g, code_info(codebook, f"{g}.x").group_name) for g in groups]
    rows += [("topic", t, code_info(codebook, t).name) for t in topics]
    axis_h = 22
    height = axis_h + row_h * len(rows) + 12
    row_y = {(kind, key): axis_h + i * row_h for i, (kind, key, _) in enumerate(rows)}

    def x_of(v: float) -> float:
        return label_w + plot_w * v / total

    out = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="Timeline of the session: who spoke when, codes and topics" xmlns="http://www.w3.org/2000/svg">'
        "<title>Timeline of the session</title>"
    ]
    # Axis ticks: about eight, at round minutes when timed.
    if timed:
        step = (
            max(60.0, round(total / 8 / 60) * 60.0)
            if total > 120
            else max(10.0, round(total / 8 / 10) * 10.0)
        )
    else:
        step = max(50.0, round(total / 8 / 50) * 50.0)
    tick = 0.0
    while tick <= total + 1e-9:
        x = x_of(tick)
        label = fmt_time(tick) if timed else f"{int(tick)}w"
        out.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{axis_h - 4}" y2="{height - 8}"/>'
            f'<text class="axis" x="{x:.1f}" y="{axis_h - 8}" text-anchor="middle">{label}</text>'
        )
        tick += step
    for i, (_, _, label) in enumerate(rows):
        y = axis_h + i * row_h
        shade = ' class="lane alt"' if i % 2 else ' class="lane"'
        out.append(f'<rect{shade} x="{label_w}" y="{y}" width="{plot_w}" height="{row_h}"/>')
        short = label if len(label) <= 30 else label[:29] + "\u2026"
        out.append(
            f'<text class="lane-label" x="{label_w - 6}" y="{y + row_h - 5}" text-anchor="end">{esc(short)}</text>'
        )
    for u, (s, e) in zip(session.utterances, spans, strict=True):
        x0, x1 = x_of(s), x_of(e)
        w = max(x1 - x0, 1.5)
        data_t = f' data-t="{u.start:.2f}"' if u.start is not None else ""
        when = fmt_time(u.start) if u.start is not None else f"line {u.index + 1}"
        preview = u.text if len(u.text) < 120 else u.text[:117] + "\u2026"
        shapes = []
        y = row_y[("speaker", u.speaker)]
        shapes.append(
            f'<rect class="turn" x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{ROLE_COLOURS.get(u.role, "#8a8f98")}"/>'
        )
        seen_groups: set[str] = set()
        for c in u.codes:
            if c.code.startswith("topic."):
                y = row_y[("topic", c.code)]
                shapes.append(
                    f'<rect class="topic" x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                    f'fill="{CATEGORY_COLOURS.get(_topic_category(codebook, c.code), "#8a8f98")}"/>'
                )
            else:
                group = code_info(codebook, c.code).group
                if group in seen_groups:
                    continue
                seen_groups.add(group)
                y = row_y[("group", group)]
                cls = " bad" if c.code in NON_ADHERENT else ""
                shapes.append(
                    f'<circle class="code-dot{cls}" cx="{(x0 + x1) / 2:.1f}" cy="{y + row_h / 2}" r="4.5" fill="{_colour(group)}"/>'
                )
        codes = ", ".join(code_info(codebook, c.code).name for c in u.codes) or "no codes"
        out.append(
            f'<a href="#u{u.index}" class="tl-utt" data-i="{u.index}"{data_t}>'
            f"<title>{esc(when)} {esc(u.speaker)}: {esc(preview)} [{esc(codes)}]</title>{''.join(shapes)}</a>"
        )
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- sections


def _moment_card(m: Moment, cls: str) -> str:
    when = _ts_link(m.index, m.start) if m.index is not None else ""
    speaker = f'<span class="who">{esc(m.speaker)}</span>' if m.speaker else ""
    quote = f"<blockquote>{esc(m.quote)}</blockquote>" if m.quote else ""
    definition = ""
    if m.code_name:
        definition = (
            f'<p class="definition"><span class="chip-static g-{esc(m.code.split(".")[0] if m.code else "")}">'
            f"{esc(m.code_name)}</span> {esc(m.definition or '')}</p>"
        )
    return (
        f'<li class="card {cls}"><div class="card-head"><h3>{esc(m.headline)}</h3>'
        f'<span class="when">{when} {speaker}</span></div>{quote}<p class="note">{esc(m.note)}</p>{definition}</li>'
    )


def _transcript_html(session: CodedSession, codebook: Any, threshold: float) -> str:
    codes_present: dict[str, CodeInfo] = {}
    for u in session.utterances:
        for c in u.codes:
            codes_present.setdefault(c.code, code_info(codebook, c.code))
    group_order = list(GROUP_COLOURS)
    by_group: dict[str, list[CodeInfo]] = {}
    for info in sorted(codes_present.values(), key=lambda i: i.id):
        by_group.setdefault(info.group, []).append(info)
    group_keys = sorted(by_group, key=lambda g: group_order.index(g) if g in group_order else 99)
    group_options = "".join(
        f'<option value="{esc(g)}">{esc(by_group[g][0].group_name)}</option>' for g in group_keys
    )
    code_options = "".join(
        f'<optgroup label="{esc(by_group[g][0].group_name)}">'
        + "".join(f'<option value="{esc(i.id)}">{esc(i.name)}</option>' for i in by_group[g])
        + "</optgroup>"
        for g in group_keys
    )
    review_total = sum(1 for u in session.utterances for c in u.codes if needs_review(c, threshold))
    filters = (
        '<div class="filters" role="search" aria-label="Filter the transcript">'
        '<label>Search <input type="search" id="f-search" placeholder="words in the transcript"></label>'
        f'<label>Group <select id="f-group"><option value="">All groups</option>{group_options}</select></label>'
        f'<label>Code <select id="f-code"><option value="">All codes</option>{code_options}</select></label>'
        f'<label class="check"><input type="checkbox" id="f-review"> Only codes to review ({review_total})</label>'
        '<button type="button" id="f-clear">Clear</button>'
        '<span id="f-count" class="muted" aria-live="polite"></span></div>'
    )
    lines = []
    for u in session.utterances:
        chips = []
        for c in u.codes:
            info = codes_present[c.code]
            review = needs_review(c, threshold)
            classes = ["chip", f"g-{info.group}"]
            note = f"confidence {c.confidence:.2f}, {c.source}"
            if review:
                classes.append("review")
                note += ": low confidence, please review"
            if c.source == "human":
                classes.append("human")
                note = "added or confirmed by a reviewer"
            if c.code in NON_ADHERENT:
                classes.append("bad")
            title = f"{info.name} ({info.group_name}): {info.definition} [{note}]"
            if c.evidence:
                title += f" Evidence: \u201c{c.evidence}\u201d"
            marker = (
                '<span class="q" aria-hidden="true">?</span><span class="sr-only"> (review)</span>'
                if review
                else ""
            )
            chips.append(
                f'<button type="button" class="{" ".join(classes)}" data-code="{esc(c.code)}" '
                f'data-group="{esc(info.group)}" title="{esc(title)}">{esc(info.name)}{marker}</button>'
            )
        data_t = f' data-t="{u.start:.2f}"' if u.start is not None else ""
        lines.append(
            f'<li class="utt role-{esc(u.role)}" id="u{u.index}" data-i="{u.index}"{data_t}>'
            f"{_ts_link(u.index, u.start)}"
            f'<span class="spk">{esc(u.speaker)}</span>'
            f'<p class="text">{esc(u.text)}</p>'
            f'<div class="chips">{"".join(chips)}</div></li>'
        )
    return filters + f'<ol class="utterances">{"".join(lines)}</ol>'


def _audio_html(audio_href: str | None, embed_audio_path: Path | None) -> str:
    src = None
    if embed_audio_path is not None:
        mime = mimetypes.guess_type(str(embed_audio_path))[0] or "audio/wav"
        if mime in ("audio/x-wav", "audio/wave"):
            mime = "audio/wav"
        data = base64.b64encode(Path(embed_audio_path).read_bytes()).decode("ascii")
        src = f"data:{mime};base64,{data}"
    elif audio_href:
        src = audio_href
    if src is None:
        return (
            '<div class="player none"><p class="muted">The recording is not linked to this report: '
            "timestamps jump to the line in the transcript.</p></div>"
        )
    return (
        '<div class="player" id="player"><audio id="audio" controls preload="metadata" '
        f'src="{esc(src)}">Your browser cannot play this recording.</audio>'
        '<p class="muted">Click any timestamp, timeline bar or transcript line to play from that moment.</p></div>'
    )


def _header_html(session: CodedSession, profile: Profile | None, display_name: str, redacted: bool) -> str:
    date = session.settings.get("session_date") or session.created
    if isinstance(date, datetime):
        date_text = date.strftime("%d %b %Y")
    else:
        date_text = str(date)
    if session.duration:
        duration = fmt_time(session.duration)
    elif profile is not None:
        duration = f"about {profile.duration_minutes:.0f} min (from word count)"
    else:
        duration = "unknown"
    speakers = session.speakers
    if speakers:
        speaker_items = "".join(
            f'<li><span class="dot" style="background:{ROLE_COLOURS.get(s.role, "#8a8f98")}"></span>'
            f"{esc(s.id)}: <strong>{esc(s.role)}</strong>"
            + (f' <span class="muted">({s.role_confidence:.0%} sure)</span>' if s.role_confidence else "")
            + "</li>"
            for s in speakers
        )
    else:
        seen: dict[str, str] = {}
        for u in session.utterances:
            seen.setdefault(u.speaker, u.role)
        speaker_items = "".join(f"<li>{esc(k)}: <strong>{esc(v)}</strong></li>" for k, v in seen.items())
    talk = ""
    if profile is not None and profile.talk_time.roles:
        basis = profile.talk_time.basis
        segs = [
            (
                r.role.capitalize(),
                (r.share_time if basis == "time" and r.share_time is not None else r.share_words),
                ROLE_COLOURS.get(r.role, "#8a8f98"),
            )
            for r in profile.talk_time.roles
        ]
        talk = (
            f'<div class="talk"><h2 class="h-small">Talk time ({"speaking time" if basis == "time" else "words"})</h2>'
            + stacked_bar_svg(segs, label="Talk-time split by role")
            + "</div>"
        )
    banner = (
        '<p class="redacted-note">Redacted copy: names, places, phone numbers, dates of birth, addresses and '
        "emails have been replaced.</p>"
        if redacted
        else ""
    )
    utterances = len(session.utterances)
    return (
        '<header class="masthead"><p class="eyebrow">Supervision session feedback</p>'
        f"<h1>{esc(display_name)}</h1>{banner}"
        '<dl class="facts">'
        f"<div><dt>Date</dt><dd>{esc(date_text)}</dd></div>"
        f"<div><dt>Duration</dt><dd>{esc(duration)}</dd></div>"
        f"<div><dt>Lines</dt><dd>{utterances}</dd></div>"
        f'<div class="speakers"><dt>Speakers</dt><dd><ul>{speaker_items}</ul></dd></div>'
        f"</dl>{talk}</header>"
    )


def _footer_html(session: CodedSession, codebook: Any, threshold: float) -> str:
    books = ", ".join(f"{esc(c.id)} {esc(c.version)}" for c in session.codebooks) or esc(
        getattr(codebook, "id", "?")
    )
    models = ", ".join(f"{esc(m.task)}: {esc(m.name)}" for m in session.models) or "none recorded"
    audit = ""
    if session.audit:
        audit = f"<p>{len(session.audit)} correction(s) by a reviewer are applied (see the session file's audit trail).</p>"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in session.warnings)
    return (
        '<footer class="foot"><p>Codes are automatic suggestions for a trained reviewer to check. '
        f'Codes with confidence below {threshold:.2f} are marked <span class="chip review static">like this'
        '<span class="q">?</span></span> for review.</p>'
        f"<p>Codebook: {books}. Models: {models}. Generated by sessioncoder.</p>{audit}"
        + (f"<details><summary>Warnings</summary><ul>{warnings}</ul></details>" if warnings else "")
        + "</footer>"
    )


def _asset(name: str) -> str:
    return (ASSET_DIR / name).read_text(encoding="utf-8")


def _profile_for(session: CodedSession, codebook: Any) -> Profile | None:
    if session.profile is not None:
        return session.profile
    try:
        from ..profile import compute_profile  # type: ignore[attr-defined]
    except ImportError:
        return None
    return compute_profile(session, codebook)


def render_html(
    session: CodedSession,
    codebook: Codebook | Any,
    *,
    audio_href: str | None = None,
    embed_audio_path: Path | None = None,
    redactor: Redactor | None = None,
) -> str:
    """The whole report as one HTML string.

    ``audio_href`` is the recording's path relative to where the HTML will be
    written; ``embed_audio_path`` embeds the file instead. With a ``redactor``
    every text on the page comes from the redacted copy of the session.
    """
    if session.profile is None:
        session = session.model_copy(update={"profile": _profile_for(session, codebook)})
    if redactor is not None:
        session = redactor.redact_session(session)
    profile = session.profile
    threshold = low_confidence_threshold(codebook)
    display_name = Path(session.source.path).name

    strengths = select_strengths(session, codebook)
    development = select_development(session, codebook)
    review_total = sum(1 for u in session.utterances for c in u.codes if needs_review(c, threshold))

    glance = ""
    if profile is not None:
        glance = (
            '<section id="profile" aria-labelledby="h-profile"><h2 id="h-profile">Skill profile</h2>'
            '<div class="grid">'
            f'<div class="panel"><h3>STICS skill areas</h3>{_skill_areas_html(profile, codebook)}</div>'
            f'<div class="panel"><h3>MITI summary scores</h3>{_miti_svg(profile)}</div>'
            f'<div class="panel"><h3>Structure</h3>{_structure_html(profile, session)}</div>'
            f'<div class="panel"><h3>Content: criminogenic needs and conditions</h3>{_content_html(profile)}</div>'
            "</div></section>"
        )
    summary = (
        f'<p class="lede">{len(strengths)} strength{"s" if len(strengths) != 1 else ""} to build on and '
        f"{len(development)} thing{'s' if len(development) != 1 else ''} to work on"
        + (
            f"; {review_total} code{'s' if review_total != 1 else ''} marked for review."
            if review_total
            else "."
        )
        + "</p>"
    )
    strengths_html = (
        "".join(_moment_card(m, "strength") for m in strengths)
        or '<li class="card"><p class="note">No practitioner skills were coded in this session yet.</p></li>'
    )
    development_html = (
        "".join(_moment_card(m, "develop") for m in development)
        or '<li class="card"><p class="note">Nothing stood out to work on: keep doing what you are doing.</p></li>'
    )
    nav = (
        '<nav class="toc" aria-label="Sections"><a href="#profile">Skill profile</a><a href="#timeline">Timeline</a>'
        '<a href="#strengths">What went well</a><a href="#develop">To work on</a><a href="#transcript">Transcript</a></nav>'
    )
    body = (
        _header_html(session, profile, display_name, bool(session.settings.get("redacted")))
        + _audio_html(audio_href, embed_audio_path)
        + nav
        + "<main>"
        + summary
        + glance
        + '<section id="timeline" aria-labelledby="h-timeline"><h2 id="h-timeline">Timeline</h2>'
        + '<div class="timeline-wrap">'
        + timeline_svg(session, codebook)
        + "</div></section>"
        + '<section id="strengths" aria-labelledby="h-strengths"><h2 id="h-strengths">What went well</h2>'
        + f'<ul class="cards">{strengths_html}</ul></section>'
        + '<section id="develop" aria-labelledby="h-develop"><h2 id="h-develop">Areas to develop</h2>'
        + '<p class="muted">Suggestions for next time, in the spirit of the STICS clinical feedback.</p>'
        + f'<ul class="cards">{development_html}</ul></section>'
        + '<section id="transcript" aria-labelledby="h-transcript"><h2 id="h-transcript">Transcript</h2>'
        + _transcript_html(session, codebook, threshold)
        + "</section></main>"
        + _footer_html(session, codebook, threshold)
    )
    title = f"Session feedback: {display_name}"
    data = json.dumps({"lowConfidence": threshold}).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:; media-src file: data: blob: 'self'\">"
        '<link rel="icon" href="data:,">'
        + ('<meta name="sessioncoder-redacted" content="true">' if session.settings.get("redacted") else "")
        + f"<title>{esc(title)}</title><style>{_asset('report.css')}</style></head>"
        f"<body>{body}"
        f'<script type="application/json" id="report-data">{data}</script>'
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )
