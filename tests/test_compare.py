"""Comparing sessions: the table's numbers come from each profile, and the HTML trend is self-contained."""

from __future__ import annotations

import re

from test_report_sample import make_codebook, make_session

from sessioncoder.report.compare import compare_sessions, fmt_value, render_compare_html
from sessioncoder.schema import CodeAssignment


def _sessions():
    first = make_session()
    second = make_session()
    # In the second session the officer reflects more: one more complex reflection, no persuading.
    second.utterances[12].codes.append(CodeAssignment(code="mi.complex_reflection", confidence=0.9))
    second.utterances[18].codes = [c for c in second.utterances[18].codes if c.code != "mi.persuade"]
    from sessioncoder.profile import compute_profile

    second.profile = compute_profile(second, make_codebook())
    return [first, second]


def test_table_values_match_each_profile(tmp_path):
    sessions = _sessions()
    comparison = compare_sessions(
        sessions, [tmp_path / "week1.session.json", tmp_path / "week2.session.json"]
    )
    assert comparison.labels == ["week1", "week2"]
    by_id = {m.id: (m, values) for m, values in zip(comparison.metrics, comparison.values, strict=True)}
    for score in sessions[0].profile.miti.scores:
        _metric, values = by_id[f"miti.{score.id}"]
        assert values[0] == score.value
        assert values[1] == next(s.value for s in sessions[1].profile.miti.scores if s.id == score.id)
    rq = next(k for k in by_id if k.startswith("miti.rq"))
    assert by_id[rq][1][1] > by_id[rq][1][0]
    assert by_id[rq][0].fair == 1.0 and by_id[rq][0].good == 2.0
    assert by_id["structure"][1] == [5.0, 5.0]
    rows = comparison.rows()
    assert all(len(row) == 3 for row in rows)
    assert fmt_value(by_id["procriminal"][0], 1.0) == "yes"


def test_html_has_table_and_a_chart_per_metric():
    sessions = _sessions()
    comparison = compare_sessions(sessions)
    page = render_compare_html(comparison)
    charts = re.findall(r'<svg class="chart trend"', page)
    assert len(charts) == sum(1 for m in comparison.metrics if m.chart) >= 8
    assert len(re.findall(r'<circle class="point"', page)) == 2 * len(charts) - sum(
        v.count(None) for m, v in zip(comparison.metrics, comparison.values, strict=True) if m.chart
    )
    assert '<table class="compare">' in page
    assert not re.search(r'(?:src|href)\s*=\s*"https?:', page)
    assert "<script>" not in page  # a static page: no script at all
