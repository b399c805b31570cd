"""The markdown summary: the report in a form for the terminal and for email."""

from __future__ import annotations

from sessioncoder.coding.codebook import Codebook
from sessioncoder.coding.reliability import (
    WEAK_F1,
    ReliabilityStatus,
    band,
    trust_status,
    used_codes,
    weak_codes,
)
from sessioncoder.schema import CodedSession, Profile


def fmt_clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _where(index: int, start: float | None) -> str:
    return f"#{index}" + (f" @ {fmt_clock(start)}" if start is not None else "")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def render_markdown(
    session: CodedSession,
    codebook: Codebook,
    title: str | None = None,
    trust: ReliabilityStatus | None = None,
) -> str:
    p: Profile | None = session.profile
    assert p is not None, "a coded session always has a profile"
    lines: list[str] = [f"# Session summary: {title or session.name}", ""]
    basis = "speech time" if p.talk_time.basis == "time" else "words (no timings)"
    lines += [
        f"- Duration: {p.duration_minutes:.1f} min ({'timed' if p.duration_basis == 'time' else 'estimated from words'}), "
        f"{p.utterances} utterances",
        "- Speakers: " + ", ".join(f"{s.id} = {s.role} ({s.role_confidence:.0%})" for s in session.speakers),
        "- Talk share by "
        + basis
        + ": "
        + ", ".join(
            f"{t.role} {_pct(t.share_time if p.talk_time.basis == 'time' else t.share_words)}"
            for t in p.talk_time.roles
        ),
        f"- Codebook: {', '.join(f'{c.id} {c.version}' for c in session.codebooks)}",
        "",
        "## MITI summary scores",
        "",
        "| measure | value | fair | good | rating |",
        "|---|---|---|---|---|",
    ]
    for s in p.miti.scores:
        fair = "" if s.fair is None else (f"{s.fair:.0%}" if "pct" in s.id else f"{s.fair:g}")
        good = "" if s.good is None else (f"{s.good:.0%}" if "pct" in s.id else f"{s.good:g}")
        lines.append(f"| {s.name} | {s.display} | {fair} | {good} | {s.rating} |")
    lines += [
        "",
        f"Reflections {p.miti.reflections} (complex {p.miti.complex_reflections}), "
        f"questions {p.miti.questions} (open {p.miti.open_questions}).",
        "",
        "## STICS skill areas",
        "",
        "| area | skills shown | uses | not seen |",
        "|---|---|---|---|",
    ]
    for area in p.skill_areas:
        missing = ", ".join(codebook.codes[c].name for c in area.skills_missing) or "—"
        lines.append(
            f"| {area.name} | {len(area.skills_used)}/{len(area.skills_used) + len(area.skills_missing)} "
            f"| {area.count} | {missing} |"
        )
    if p.overall_skill is not None:
        lines += [
            "",
            f"Overall skill score: **{p.overall_skill.score:.2f}** — {p.overall_skill.computation}.",
        ]
    if p.praise_criticism is not None:
        pc = p.praise_criticism
        lines += [
            "",
            f"Praise against criticism (reinforcement + affirmation : disapproval + confront): {pc.display}.",
        ]
    lines += ["", "## Structure", ""]
    for item in p.structure:
        mark = "x" if item.present else " "
        where = (
            f" (first at {_where(item.first_index, item.first_time)})" if item.first_index is not None else ""
        )
        placed = "" if item.in_expected_place in (None, True) else f" — expected near the {item.expected}"
        lines.append(f"- [{mark}] {item.name}{where}{placed}")
    c = p.content
    lines += [
        "",
        "## Content",
        "",
        f"Criminogenic needs {_pct(c.share_criminogenic)} of the session, probation conditions "
        f"{_pct(c.share_conditions)}, other topics {_pct(c.share_other)} (by {'time' if c.basis == 'time' else 'words'}). "
        f"Pro-criminal attitudes discussed: {'yes' if c.procriminal_discussed else 'no'}.",
        "",
    ]
    for t in sorted(c.topics, key=lambda t: -t.minutes):
        if t.utterances:
            lines.append(f"- {t.name}: {t.minutes:.1f} min ({_pct(t.share)}), {t.utterances} utterances")
    lines += ["", "## Missed opportunities", ""]
    if not p.missed_opportunities:
        lines.append("None found.")
    for m in p.missed_opportunities:
        lines.append(f"- {_where(m.index, m.start)}: “{m.quote}” — {m.explanation}")
    lines += ["", *trust_lines(session, codebook, trust)]
    if session.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in session.warnings]
    lines.append("")
    return "\n".join(lines)


def trust_lines(
    session: CodedSession, codebook: Codebook, trust: ReliabilityStatus | None = None
) -> list[str]:
    """The codes of this session whose agreement with a trainer was weak or unsure on held-out sessions."""
    trust = trust or trust_status(session, codebook)
    lines = ["## How far to trust these codes", ""]
    if trust.reliability is None:
        return [*lines, trust.note]
    weak_f1 = weak_codes(trust)
    weak, unsure = [], []
    for code, count in used_codes(session).items():
        name = codebook.codes[code].name if code in codebook.codes else code
        if code in weak_f1:
            weak.append(f"- {name} ({count} here): F1 {weak_f1[code]:.2f} against a trainer")
        elif band(trust.reliability.codes.get(code)) in ("few examples", "not measured"):
            unsure.append(name)
    lines.append(
        f"Each code's agreement with a trained coder, utterance by utterance. {trust.note} "
        + (
            f"Weak here (F1 under {WEAK_F1}): read these counts as pointers for review, not as measures:"
            if weak
            else "No code used here is weak."
        )
    )
    lines += ["", *weak] if weak else []
    if unsure:
        lines += ["", "Too few examples to say: " + ", ".join(unsure) + "."]
    return lines
