"""The trend across several sessions of the same officer: a table, and a small-multiples chart in HTML.

Sessions are shown in the order given (list them oldest first). Each metric
comes straight from the session's profile, so the numbers match each
session's own report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sessioncoder.report.html.common import ASSET_DIR, esc
from sessioncoder.schema import CodedSession, Profile


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    kind: str  # ratio | share | count | minutes
    get: Callable[[Profile], float | None]
    fair: float | None = None
    good: float | None = None
    higher_is_better: bool | None = True
    chart: bool = True


def _score(score_id: str) -> Callable[[Profile], float | None]:
    return lambda p: next((s.value for s in p.miti.scores if s.id == score_id), None)


def _score_threshold(profiles: Sequence[Profile], score_id: str) -> tuple[float | None, float | None]:
    for p in profiles:
        for s in p.miti.scores:
            if s.id == score_id:
                return s.fair, s.good
    return None, None


def _officer_share(p: Profile) -> float | None:
    share = next((r for r in p.talk_time.roles if r.role == "officer"), None)
    if share is None:
        return None
    return (
        share.share_time
        if p.talk_time.basis == "time" and share.share_time is not None
        else share.share_words
    )


def metrics_for(sessions: Sequence[CodedSession]) -> list[Metric]:
    """The metrics to compare; MITI score ids and skill areas come from the profiles themselves."""
    profiles = [s.profile for s in sessions if s.profile is not None]
    metrics = [
        Metric(
            "duration",
            "Duration (min)",
            "minutes",
            lambda p: p.duration_minutes,
            higher_is_better=None,
            chart=False,
        ),
        Metric("officer_talk", "Officer talk share", "share", _officer_share, higher_is_better=None),
    ]
    seen_scores: list[tuple[str, str, bool]] = []
    for p in profiles:
        for s in p.miti.scores:
            if s.id not in [x[0] for x in seen_scores]:
                seen_scores.append((s.id, s.name, s.display.strip().endswith("%")))
    for score_id, name, percent in seen_scores:
        fair, good = _score_threshold(profiles, score_id)
        is_non_adherent = "non" in score_id
        metrics.append(
            Metric(
                f"miti.{score_id}",
                name,
                "share" if percent else ("ratio" if fair is not None else "count"),
                _score(score_id),
                fair,
                good,
                higher_is_better=not is_non_adherent,
                chart=fair is not None or is_non_adherent,
            )
        )
    area_ids: list[tuple[str, str]] = []
    for p in profiles:
        for a in p.skill_areas:
            if a.id not in [x[0] for x in area_ids]:
                area_ids.append((a.id, a.name))
    for area_id, name in area_ids:
        metrics.append(
            Metric(
                f"area.{area_id}",
                f"{name} (skills used)",
                "share",
                lambda p, area_id=area_id: next((a.score for a in p.skill_areas if a.id == area_id), None),
            )
        )
    metrics += [
        Metric(
            "structure",
            "Structuring steps (of 5)",
            "count",
            lambda p: float(sum(1 for i in p.structure if i.present)),
        ),
        Metric("criminogenic", "Time on criminogenic needs", "share", lambda p: p.content.share_criminogenic),
        Metric(
            "conditions",
            "Time on probation conditions",
            "share",
            lambda p: p.content.share_conditions,
            higher_is_better=False,
        ),
        Metric(
            "procriminal",
            "Pro-criminal attitudes discussed",
            "yesno",
            lambda p: 1.0 if p.content.procriminal_discussed else 0.0,
            chart=False,
        ),
        Metric(
            "missed",
            "Missed opportunities",
            "count",
            lambda p: float(len(p.missed_opportunities)),
            higher_is_better=False,
        ),
    ]
    return metrics


def fmt_value(metric: Metric, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.kind == "share":
        return f"{100 * value:.0f}%"
    if metric.kind == "yesno":
        return "yes" if value else "no"
    if metric.kind == "count":
        return f"{value:.0f}"
    if metric.kind == "minutes":
        return f"{value:.1f}"
    return f"{value:.2f}"


def session_label(session: CodedSession, path: Path | None = None) -> str:
    name = (
        path.name.removesuffix(".json").removesuffix(".session") if path else Path(session.source.path).stem
    )
    return name


@dataclass
class Comparison:
    labels: list[str]
    dates: list[str]
    metrics: list[Metric]
    values: list[list[float | None]]  # one row per metric, one column per session

    def rows(self) -> list[list[str]]:
        return [
            [m.name, *(fmt_value(m, v) for v in vs)] for m, vs in zip(self.metrics, self.values, strict=True)
        ]

    def to_dict(self) -> dict:
        return {
            "sessions": [
                {"label": label, "date": d} for label, d in zip(self.labels, self.dates, strict=True)
            ],
            "metrics": [
                {"id": m.id, "name": m.name, "values": vs, "fair": m.fair, "good": m.good}
                for m, vs in zip(self.metrics, self.values, strict=True)
            ],
        }


def compare_sessions(sessions: Sequence[CodedSession], paths: Sequence[Path] | None = None) -> Comparison:
    """Every metric for every session, in the order given. Sessions without a profile get n/a."""
    metrics = metrics_for(sessions)
    values = [[m.get(s.profile) if s.profile is not None else None for s in sessions] for m in metrics]
    labels = [session_label(s, paths[i] if paths else None) for i, s in enumerate(sessions)]
    dates = [str(s.settings.get("session_date") or s.created.date().isoformat()) for s in sessions]
    return Comparison(labels, dates, metrics, values)


def trend_svg(comparison: Comparison, metric: Metric, values: list[float | None]) -> str:
    """A small line chart of one metric across sessions, with fair/good lines where the metric has them."""
    width, height, left, right, top, bottom = 300, 136, 40, 12, 30, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    present = [v for v in values if v is not None]
    top_value = max([*present, metric.good or 0.0, metric.fair or 0.0, 0.0])
    if metric.kind == "share":
        top_value = max(1.0, top_value) if top_value > 1 else 1.0
    elif metric.id == "structure":
        top_value = 5.0
    else:
        top_value = top_value * 1.2 or 1.0
    n = len(values)

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - min(v, top_value) / top_value)

    parts = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(metric.name)} across sessions" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{esc(metric.name)} across sessions</title>"
        f'<text class="bar-label" x="0" y="14">{esc(metric.name)}</text>'
        f'<line class="grid" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#d0d7de"/>'
        f'<text class="axis" x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end">0</text>'
        f'<text class="axis" x="{left - 6}" y="{top + 8}" text-anchor="end">{esc(fmt_value(metric, top_value))}</text>'
    ]
    for kind, threshold in (("fair", metric.fair), ("good", metric.good)):
        if threshold is not None:
            y = y_of(threshold)
            parts.append(
                f'<line class="mark mark-{kind}" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}">'
                f"<title>{kind} threshold: {esc(fmt_value(metric, threshold))}</title></line>"
            )
    points = [(x_of(i), y_of(v), v, i) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#0b5cad" stroke-width="2.5"/>')
    for x, y, v, i in points:
        parts.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#0b5cad">'
            f"<title>{esc(comparison.labels[i])}: {esc(fmt_value(metric, v))}</title></circle>"
        )
    for i in range(n):
        parts.append(
            f'<text class="axis" x="{x_of(i):.1f}" y="{height - 6}" text-anchor="middle">{i + 1}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_compare_html(comparison: Comparison) -> str:
    """One self-contained page: the table and a small chart per metric."""
    head = "".join(
        f'<th scope="col">{i + 1}. {esc(label)}<br><span class="muted">{esc(date)}</span></th>'
        for i, (label, date) in enumerate(zip(comparison.labels, comparison.dates, strict=True))
    )
    body = []
    for metric, values in zip(comparison.metrics, comparison.values, strict=True):
        cells = "".join(f"<td>{esc(fmt_value(metric, v))}</td>" for v in values)
        target = ""
        if metric.fair is not None:
            target = f' <span class="muted">(fair {esc(fmt_value(metric, metric.fair))}, good {esc(fmt_value(metric, metric.good))})</span>'
        body.append(f'<tr><th scope="row">{esc(metric.name)}{target}</th>{cells}</tr>')
    charts = "".join(
        f'<div class="panel">{trend_svg(comparison, m, vs)}</div>'
        for m, vs in zip(comparison.metrics, comparison.values, strict=True)
        if m.chart
    )
    extra_css = (
        "table.compare{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}"
        "table.compare th,table.compare td{border-bottom:1px solid #d0d7de;padding:6px 10px;text-align:right}"
        "table.compare th[scope=row]{text-align:left;font-weight:500}"
        ".trends{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}"
        "svg.trend .axis{font-size:11px;fill:#57606a}"
    )
    data = json.dumps(comparison.to_dict()).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<link rel="icon" href="data:,">'
        f"<title>Session trend ({len(comparison.labels)} sessions)</title>"
        f"<style>{(ASSET_DIR / 'report.css').read_text(encoding='utf-8')}{extra_css}</style></head><body>"
        '<header class="masthead"><p class="eyebrow">Supervision sessions: trend</p>'
        f"<h1>{len(comparison.labels)} sessions compared</h1>"
        '<p class="muted">In the order given, oldest first. Dashed and solid lines are the fair and good thresholds.</p>'
        "</header><main>"
        f'<section><h2>Trend</h2><div class="trends">{charts}</div></section>'
        f'<section><h2>Table</h2><div style="overflow-x:auto"><table class="compare"><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></section>"
        f'</main><script type="application/json" id="compare-data">{data}</script></body></html>\n'
    )
