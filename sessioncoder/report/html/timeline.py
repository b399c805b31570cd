"""The session timeline: speaker lanes, code dots and topic bands as one inline SVG."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessioncoder.report.html.common import (
    CATEGORY_COLOURS,
    GROUP_COLOURS,
    NON_ADHERENT,
    ROLE_COLOURS,
    _colour,
    code_info,
    esc,
    fmt_time,
)
from sessioncoder.schema import CodedSession

if TYPE_CHECKING:  # pragma: no cover
    pass


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
