"""Flat tables for researchers: one row per utterance, and one row of headline numbers per session."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from sessioncoder.schema import CodedSession

UTTERANCE_COLUMNS = ["index", "speaker", "role", "start", "end", "text", "codes", "confidences", "sources"]


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def utterances_csv(session: CodedSession, redact_text: Callable[[str], str] | None = None) -> str:
    """``index,speaker,role,start,end,text,codes`` with ``;``-separated code ids (the agreement CSV's form)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(UTTERANCE_COLUMNS)
    for u in session.utterances:
        text = redact_text(u.text) if redact_text else u.text
        writer.writerow(
            [
                u.index,
                u.speaker,
                u.role,
                _seconds(u.start),
                _seconds(u.end),
                text,
                ";".join(c.code for c in u.codes),
                ";".join(f"{c.confidence:.2f}" for c in u.codes),
                ";".join(c.source for c in u.codes),
            ]
        )
    return out.getvalue()


SUMMARY_COLUMNS = [
    "session", "source_sha256", "codebook", "duration_min", "duration_basis", "utterances",
    "officer_talk_share", "client_talk_share", "reflections", "questions", "rq_ratio", "pct_complex_reflections",
    "pct_open_questions", "mi_adherent", "mi_non_adherent", "structuring_score", "relationship_score",
    "behavioural_score", "cognitive_score", "overall_skill", "praise", "criticism", "praise_criticism_ratio",
    "meets_trotter_5_to_1", "share_criminogenic", "share_conditions", "procriminal_discussed",
    "missed_opportunities", "check_in", "review", "agenda", "homework", "summary",
]  # fmt: skip


def summary_row(stem: str, session: CodedSession) -> dict[str, object]:
    """Headline profile numbers for a batch's ``summary.csv``."""
    p = session.profile
    assert p is not None, "a coded session always has a profile"
    talk = {
        s.role: (s.share_time if p.talk_time.basis == "time" else s.share_words) for s in p.talk_time.roles
    }
    scores = {s.id: s.value for s in p.miti.scores}
    areas = {a.id: a.score for a in p.skill_areas}
    structure = {s.code.split(".", 1)[1]: s.present for s in p.structure}
    praise = p.praise_criticism

    def fmt(value: float | None, digits: int = 3) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    return {
        "session": stem,
        "source_sha256": session.source.sha256,
        "codebook": ",".join(f"{c.id}@{c.version}" for c in session.codebooks),
        "duration_min": fmt(p.duration_minutes, 2),
        "duration_basis": p.duration_basis,
        "utterances": p.utterances,
        "officer_talk_share": fmt(talk.get("officer")),
        "client_talk_share": fmt(talk.get("client")),
        "reflections": p.miti.reflections,
        "questions": p.miti.questions,
        "rq_ratio": fmt(scores.get("rq_ratio")),
        "pct_complex_reflections": fmt(scores.get("pct_complex_reflections")),
        "pct_open_questions": fmt(scores.get("pct_open_questions")),
        "mi_adherent": p.miti.adherent,
        "mi_non_adherent": p.miti.non_adherent,
        **{
            f"{area}_score": fmt(areas.get(area))
            for area in ("structuring", "relationship", "behavioural", "cognitive")
        },
        "overall_skill": fmt(p.overall_skill.score if p.overall_skill else None),
        "praise": praise.positive if praise else "",
        "criticism": praise.negative if praise else "",
        "praise_criticism_ratio": fmt(praise.ratio if praise else None, 2),
        "meets_trotter_5_to_1": ""
        if praise is None or praise.meets_guidance is None
        else int(praise.meets_guidance),
        "share_criminogenic": fmt(p.content.share_criminogenic),
        "share_conditions": fmt(p.content.share_conditions),
        "procriminal_discussed": int(p.content.procriminal_discussed),
        "missed_opportunities": len(p.missed_opportunities),
        **{k: int(structure.get(k, False)) for k in ("check_in", "review", "agenda", "homework", "summary")},
    }


def summary_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
