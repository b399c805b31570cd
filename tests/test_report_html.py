"""The HTML feedback report: its numbers match the profile, it is self-contained and escapes everything."""

from __future__ import annotations

import html
import re

import pytest
from test_report_sample import CLIENT_NAME, make_codebook, make_session, write_wav

from sessioncoder.report.html import render_html
from sessioncoder.report.html.charts import miti_bars
from sessioncoder.report.html.common import (
    NON_ADHERENT,
    esc,
    fmt_time,
    low_confidence_threshold,
    needs_review,
)
from sessioncoder.report.html.feedback import select_development, select_strengths
from sessioncoder.schema import CodeAssignment


@pytest.fixture(scope="module")
def codebook():
    return make_codebook()


@pytest.fixture(scope="module")
def session():
    return make_session()


@pytest.fixture(scope="module")
def page(session, codebook):
    return render_html(session, codebook)


def _svg_with_label(page: str, label: str) -> str:
    match = re.search(r'<svg[^>]*aria-label="' + re.escape(esc(label)) + r'".*?</svg>', page, re.S)
    assert match, f"no chart labelled {label!r}"
    return match.group(0)


def test_miti_scores_shown_equal_the_profile(page, session):
    miti = session.profile.miti
    rq = next(s for s in miti.scores if s.id.startswith("rq"))
    assert rq.value is not None
    # The R:Q chart shows the profile's value and draws its bar to scale, with both threshold markers.
    bars, scales = miti_bars(session.profile)
    bar, scale = next((b, s) for b, s in zip(bars, scales, strict=True) if b.label == rq.name)
    svg = _svg_with_label(page, f"{bar.label}: {bar.display}")
    assert rq.display in svg
    width = float(re.search(r'<rect class="bar" x="(\d+)" y="[\d.]+" width="([\d.]+)"', svg).group(2))
    track = float(re.search(r'<rect class="track" x="\d+" y="[\d.]+" width="([\d.]+)"', svg).group(1))
    assert width == pytest.approx(track * min(1.0, rq.value / scale), abs=0.11)
    assert 'class="mark mark-fair"' in svg and 'class="mark mark-good"' in svg
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for score in miti.scores:
        assert f"{score.name}: {score.display}" in text
    adherence = _svg_with_label(page, "MI-adherent versus MI-non-adherent behaviours")
    assert f">{miti.adherent}</text>" in adherence and f">{miti.non_adherent}</text>" in adherence
    assert f"{miti.reflections} reflections ({miti.complex_reflections} complex)" in page


def test_talk_time_and_structure_match_the_profile(page, session):
    profile = session.profile
    svg = _svg_with_label(page, "Talk-time split by role")
    for share in profile.talk_time.roles:
        value = share.share_time if profile.talk_time.basis == "time" else share.share_words
        assert f"{share.role.capitalize()}: {100 * value:.0f}%" in svg
    present = sum(1 for item in profile.structure if item.present)
    assert f"<strong>{present} of {len(profile.structure)}</strong> structuring steps" in page
    for area in profile.skill_areas:
        assert f"{esc(area.name)}: {100 * area.score:.0f}% of the area" in page


def test_content_shares_and_procriminal_flag(page, session):
    content = session.profile.content
    assert f"criminogenic needs {100 * content.share_criminogenic:.0f}%" in page
    assert f"probation conditions {100 * content.share_conditions:.0f}%" in page
    assert content.procriminal_discussed
    assert "Pro-criminal attitudes were discussed" in page
    for topic in content.topics:
        if topic.utterances:  # each discussed topic has its bar, with its minutes
            assert f"{esc(topic.name)} ({topic.category}): {topic.minutes:.1f} minutes" in page
        elif topic.category == "criminogenic":
            assert re.search(r"Needs not discussed: [^<]*" + re.escape(esc(topic.name)), page)


def test_page_is_self_contained(page):
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:)?//', page)
    assert '<link rel="stylesheet"' not in page
    assert "@import" not in page
    # The only absolute URL is the SVG namespace, which is an identifier, never fetched.
    assert set(re.findall(r"https?://[^\"'\s)]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert "@media print" in page


def test_every_utterance_is_in_the_transcript_with_its_chips(page, session, codebook):
    threshold = low_confidence_threshold(codebook)
    for u in session.utterances:
        assert f'id="u{u.index}"' in page
        assert esc(u.text) in page
    review = sum(1 for u in session.utterances for c in u.codes if needs_review(c, threshold))
    assert review > 0
    assert page.count('class="chip g-') - page.count("chip g-topic") >= 1
    assert len(re.findall(r'<button type="button" class="chip [^"]*\breview\b', page)) == review
    assert f"Only codes to review ({review})" in page


def test_strengths_and_areas_to_develop(session, codebook, page):
    strengths = select_strengths(session, codebook)
    assert 3 <= len(strengths) <= 5
    by_index = {u.index: u for u in session.utterances}
    for m in strengths:
        u = by_index[m.index]
        assert u.role == "officer" and not u.has(*NON_ADHERENT)
        assert m.definition and esc(m.quote) in page
        assert f'data-t="{u.start:.2f}"' in page
    assert len({m.code for m in strengths}) == len(strengths)
    development = select_development(session, codebook)
    persuade = [m for m in development if m.code == "mi.persuade"]
    assert persuade and persuade[0].quote.startswith("You need to cut the drinking out")
    assert "Advice given without asking first" in page
    assert any(m.kind == "missed" for m in development)


def test_user_text_is_escaped(session, codebook):
    hostile = session.model_copy(deep=True)
    hostile.utterances[1].text = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    hostile.speakers[1].id = "<b>Client</b>"
    hostile.utterances[1].codes.append(
        CodeAssignment(code="client.change_talk", confidence=0.9, evidence='"><script>')
    )
    page = render_html(hostile, codebook)
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>Client</b>" not in page
    assert html.escape('<script>alert("x")</script>') in page
    assert page.count("<script") == 2  # the JSON data block and the report's own script


def test_audio_by_relative_path_or_embedded(session, codebook, tmp_path):
    page = render_html(session, codebook, audio_href="../audio/session 1.wav")
    assert '<audio id="audio"' in page and 'src="../audio/session 1.wav"' in page
    wav = write_wav(tmp_path / "s.wav", seconds=0.2)
    embedded = render_html(session, codebook, embed_audio_path=wav)
    assert 'src="data:audio/wav;base64,UklGR' in embedded
    none = render_html(session, codebook)
    assert '<audio id="audio"' not in none and "not linked" in none


def test_untimed_session_uses_line_numbers(session, codebook):
    untimed = session.model_copy(deep=True)
    for u in untimed.utterances:
        u.start = u.end = None
    untimed.duration = None
    untimed.profile = None  # recomputed from the codes
    page = render_html(untimed, codebook)
    assert ">line 1<" in page and "data-t=" not in page
    assert 'class="timeline"' in page


def test_redacted_report_has_no_client_name(session, codebook):
    from sessioncoder.report.redact import Redactor

    page = render_html(session, codebook, redactor=Redactor())
    visible = re.sub(r"<[^>]+>", " ", page)
    assert CLIENT_NAME not in visible and "Kelly" not in visible and "Acacia Road" not in visible
    assert "[NAME]" in visible and "Redacted copy" in visible


def test_fmt_time():
    assert fmt_time(75.2) == "01:15"
    assert fmt_time(3725) == "1:02:05"
    assert fmt_time(None) == ""


def test_unused_skill_area_becomes_something_to_work_on(session, codebook):
    from sessioncoder.profile import compute_profile

    plain = session.model_copy(deep=True)
    for u in plain.utterances:
        u.codes = [c for c in u.codes if not c.code.startswith("behavioural.")]
    plain.profile = compute_profile(plain, codebook)
    area = next(a for a in plain.profile.skill_areas if a.id == "behavioural")
    headlines = [m.headline for m in select_development(plain, codebook)]
    assert f"{area.name}: none used this time" in headlines
    assert not any("none used" in m.headline for m in select_development(session, codebook))


def test_content_bar_percentages_equal_the_profile_shares_with_pauses_shown(session, codebook):
    # Shares are of the whole session; with a fifth of it silent the bar must not rescale the talk.
    content = session.profile.content.model_copy(
        update={
            "share_criminogenic": 0.5,
            "share_conditions": 0.2,
            "share_other": 0.0,
            "share_untopiced": 0.1,
        }
    )
    profile = session.profile.model_copy(update={"content": content})
    page = render_html(session.model_copy(update={"profile": profile}), codebook)
    svg = _svg_with_label(page, "Share of the session: criminogenic needs versus probation conditions")
    titles = dict(re.findall(r"<title>([^<:]+): (\d+%)</title>", svg))
    assert titles == {"Criminogenic needs": "50%", "Conditions": "20%", "No topic": "10%", "Pauses": "20%"}
