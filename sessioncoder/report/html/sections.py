"""The report's page sections: header, audio player, moment cards, coded transcript and footer."""

from __future__ import annotations

import base64
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessioncoder.coding.reliability import (
    FEW_EXAMPLES,
    GOOD_F1,
    WEAK_F1,
    ReliabilityStatus,
    band,
    used_codes,
)
from sessioncoder.report.html.charts import stacked_bar_svg
from sessioncoder.report.html.common import (
    ASSET_DIR,
    GROUP_COLOURS,
    NON_ADHERENT,
    ROLE_COLOURS,
    CodeInfo,
    _colour,
    _pct,
    _ts_link,
    code_info,
    esc,
    fmt_time,
    needs_review,
)
from sessioncoder.report.html.feedback import Moment
from sessioncoder.schema import CodedSession, Profile

if TYPE_CHECKING:  # pragma: no cover
    pass


# --------------------------------------------------------------------------- sections


def _moment_card(m: Moment, cls: str, weak: dict[str, float] | None = None) -> str:
    """One strength or area to develop; ``weak``: codes (and their F1) that agree poorly with a trainer."""
    when = _ts_link(m.index, m.start) if m.index is not None else ""
    speaker = f'<span class="who">{esc(m.speaker)}</span>' if m.speaker else ""
    quote = f"<blockquote>{esc(m.quote)}</blockquote>" if m.quote else ""
    definition = ""
    if m.code_name:
        definition = (
            f'<p class="definition"><span class="chip-static g-{esc(m.code.split(".")[0] if m.code else "")}">'
            f"{esc(m.code_name)}</span> {esc(m.definition or '')}</p>"
        )
    caution = ""
    if weak and m.code in weak:
        name = m.code_name or m.code.split(".")[-1].replace("_", " ").capitalize()
        caution = (
            f'<p class="caution">{esc(name)}, as the tool finds it, agrees weakly with a '
            f"trained coder (F1 {weak[m.code]:.2f} on held-out sessions): listen to the moment before you "
            "use it in feedback.</p>"
        )
    return (
        f'<li class="card {cls}"><div class="card-head"><h3>{esc(m.headline)}</h3>'
        f'<span class="when">{when} {speaker}</span></div>{quote}<p class="note">{esc(m.note)}</p>{definition}'
        f"{caution}</li>"
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
        from sessioncoder.profile import compute_profile  # type: ignore[attr-defined]
    except ImportError:
        return None
    return compute_profile(session, codebook)


BAND_CLASS = {"good": "good", "fair": "fair", "weak": "weak", "few examples": "few", "not measured": "few"}


def _trust_html(session: CodedSession, codebook: Any, trust: ReliabilityStatus) -> str:
    """How far to trust each code used in this session: its agreement with a trainer on held-out sessions."""
    head = (
        '<section id="trust" aria-labelledby="h-trust"><h2 id="h-trust">How far to trust these codes</h2>'
        "<p>Each code is an automatic suggestion. Below: how often each code used in this session agreed "
        "with a trained human coder, utterance by utterance, on sessions that nothing in the tool was tuned "
        f"on. F1 is 1 when the tool and the coder always agree; below {WEAK_F1:.2f}, read the code's count "
        "as a pointer to moments worth a listen, not as a measure.</p>"
    )
    if trust.reliability is None:
        return head + f'<p class="note muted">{esc(trust.note)}</p></section>'
    figures = trust.reliability.codes
    rows = []
    order = {code: i for i, code in enumerate(getattr(codebook, "codes", {}))}
    for code, count in sorted(used_codes(session).items(), key=lambda item: order.get(item[0], len(order))):
        info = code_info(codebook, code)
        measured = figures.get(code)
        level = band(measured)
        f1 = "–" if measured is None or measured.f1 is None else f"{measured.f1:.2f}"
        precision = "–" if measured is None or measured.precision is None else _pct(measured.precision)
        recall = "–" if measured is None or measured.recall is None else _pct(measured.recall)
        support = "–" if measured is None else str(measured.support)
        rows.append(
            f'<tr class="trust-{BAND_CLASS[level]}"><th scope="row"><span class="swatch" '
            f'style="background:{_colour(info.group)}"></span>{esc(info.name)} <span class="muted">'
            f"{esc(code)}</span></th><td>{count}</td><td>{f1}</td><td>{precision}</td><td>{recall}</td>"
            f'<td>{support}</td><td class="band">{esc(level)}</td></tr>'
        )
    table = (
        '<table class="trust"><thead><tr><th scope="col">code</th><th scope="col">lines here</th>'
        '<th scope="col">F1</th><th scope="col" title="of the tool\'s codes, the share the coder also gave">'
        'precision</th><th scope="col" title="of the coder\'s codes, the share the tool found">recall</th>'
        '<th scope="col" title="utterances the human coder gave this code">coder\'s examples</th>'
        f'<th scope="col">agreement</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    source = (
        f'<p class="muted">{esc(trust.note)} Codebook {esc(trust.reliability.codebook)} '
        f"{esc(trust.reliability.version)}. Good: F1 ≥ {GOOD_F1:.2f}; fair: ≥ {WEAK_F1:.2f}; "
        f"few examples: under {FEW_EXAMPLES} coded by the human, so the F1 itself is unsure.</p>"
    )
    return head + table + source + "</section>"
