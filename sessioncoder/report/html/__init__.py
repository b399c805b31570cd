"""The practitioner/trainer feedback report: one self-contained HTML file.

STICS trainers gave officers "individual clinical feedback" on their recorded
sessions, rewarding and encouraging skill use. This page does the same at a
glance: what went well and what to work on, each with the quote, the moment in
the recording and the code's definition, then the full coded transcript.

Holds the page's parts (``common``, ``feedback``, ``charts``, ``timeline``,
``sections``) and its template and assets as data (``page.html``,
``report.css``, ``report.js``); imports only the core modules, the profile and
``coding.reliability`` (the figures of "How far to trust these codes").

The page makes no network request: CSS, SVG charts and a small vanilla script
are inline, the audio is referenced by a relative path (or embedded as a data
URI), and it prints cleanly. Every piece of session text is escaped, because
transcripts are untrusted input.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from sessioncoder.coding.reliability import ReliabilityStatus, trust_status, weak_codes
from sessioncoder.report.html.charts import _content_html, _miti_svg, _skill_areas_html, _structure_html
from sessioncoder.report.html.common import ASSET_DIR, esc, low_confidence_threshold, needs_review
from sessioncoder.report.html.feedback import select_development, select_strengths
from sessioncoder.report.html.sections import (
    _asset,
    _audio_html,
    _footer_html,
    _header_html,
    _moment_card,
    _profile_for,
    _transcript_html,
    _trust_html,
)
from sessioncoder.report.html.timeline import timeline_svg
from sessioncoder.schema import CodedSession

if TYPE_CHECKING:  # pragma: no cover
    from sessioncoder.coding.codebook import Codebook
    from sessioncoder.report.redact import Redactor

# The page around the sections, as data; ``$name`` fields are filled in by render_html.
PAGE_TEMPLATE = Template((ASSET_DIR / "page.html").read_text(encoding="utf-8").rstrip("\n") + "\n")

__all__ = ["esc", "render_html"]


def render_html(
    session: CodedSession,
    codebook: Codebook | Any,
    *,
    audio_href: str | None = None,
    embed_audio_path: Path | None = None,
    redactor: Redactor | None = None,
    trust: ReliabilityStatus | None = None,
) -> str:
    """The whole report as one HTML string.

    ``audio_href`` is the recording's path relative to where the HTML will be
    written; ``embed_audio_path`` embeds the file instead. With a ``redactor``
    every text on the page comes from the redacted copy of the session. ``trust``: the
    codebook's measured agreement (default: read from beside the session's codebook).
    """
    if session.profile is None:
        session = session.model_copy(update={"profile": _profile_for(session, codebook)})
    if redactor is not None:
        session = redactor.redact_session(session)
    profile = session.profile
    threshold = low_confidence_threshold(codebook)
    if trust is None:
        trust = trust_status(session, codebook)
    weak = weak_codes(trust)
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
        "".join(_moment_card(m, "strength", weak) for m in strengths)
        or '<li class="card"><p class="note">No practitioner skills were coded in this session yet.</p></li>'
    )
    development_html = (
        "".join(_moment_card(m, "develop", weak) for m in development)
        or '<li class="card"><p class="note">Nothing stood out to work on: keep doing what you are doing.</p></li>'
    )
    nav = (
        '<nav class="toc" aria-label="Sections"><a href="#profile">Skill profile</a><a href="#timeline">Timeline</a>'
        '<a href="#strengths">What went well</a><a href="#develop">To work on</a><a href="#transcript">Transcript</a><a href="#trust">How far to trust</a></nav>'
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
        + "</section>"
        + _trust_html(session, codebook, trust)
        + "</main>"
        + _footer_html(session, codebook, threshold)
    )
    title = f"Session feedback: {display_name}"
    data = json.dumps({"lowConfidence": threshold}).replace("</", "<\\/")
    return PAGE_TEMPLATE.substitute(
        redacted_meta='<meta name="sessioncoder-redacted" content="true">'
        if session.settings.get("redacted")
        else "",
        title=esc(title),
        css=_asset("report.css"),
        body=body,
        data=data,
        js=_asset("report.js"),
    )
