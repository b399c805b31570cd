"""The skill-profile panels: inline SVG bar charts, MITI scores against thresholds, STICS areas, structure and content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sessioncoder.report.html.common import (
    CATEGORY_COLOURS,
    PAUSE_COLOUR,
    RATING_COLOURS,
    _colour,
    _fit,
    _pct,
    _ts_link,
    code_info,
    esc,
)
from sessioncoder.schema import CodedSession, MitiScore, Profile

if TYPE_CHECKING:  # pragma: no cover
    pass


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
    extra = ""
    if profile.overall_skill is not None:
        o = profile.overall_skill
        extra += (
            f'<p class="kpi"><strong>Overall skill score {o.score:.2f}</strong></p>'
            f'<p class="muted">How it is computed: {esc(o.computation)}.</p>'
        )
    if profile.praise_criticism is not None:
        pc = profile.praise_criticism
        extra += (
            f"<p><strong>Praise against criticism</strong> (reinforcement + affirmation : disapproval + confront): "
            f"{esc(pc.display)}. Trotter's guidance is at least five positive remarks for each criticism.</p>"
        )
    return chart + f'<ul class="area-detail">{"".join(rows)}</ul>' + extra


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
    segments = [
        ("Criminogenic needs", content.share_criminogenic, CATEGORY_COLOURS["criminogenic"]),
        ("Conditions", content.share_conditions, CATEGORY_COLOURS["condition"]),
        ("Other", content.share_other, CATEGORY_COLOURS["other"]),
        ("No topic", content.share_untopiced, CATEGORY_COLOURS["none"]),
    ]
    # Shares are of the whole session, pauses included; showing the pauses keeps the bar's
    # percentages equal to the legend's instead of rescaling the talk to fill the bar.
    pauses = 1.0 - sum(share for _, share, _ in segments)
    if pauses > 0.005:
        segments.append(("Pauses", pauses, PAUSE_COLOUR))
    parts.append(
        stacked_bar_svg(
            segments, label="Share of the session: criminogenic needs versus probation conditions"
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
