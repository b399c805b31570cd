"""Apply a trainer's corrections to a coded session and recompute its profile.

The corrections file is a CSV with one row per utterance to change::

    index,add,remove,by,note
    12,mi.complex_reflection,mi.simple_reflection,JB,adds the feeling
    18,,mi.persuade

``add`` and ``remove`` hold ``;``-separated code ids; ``by`` and ``note`` are
optional. An added code becomes a ``human`` code with confidence 1.0 (adding
a code the coder already gave confirms it); a removed code goes entirely.
Every change is recorded in ``session.audit``, so the session file keeps the
trail of who changed what, and the profile is recomputed from the new codes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sessioncoder.errors import InputError
from sessioncoder.schema import AuditEntry, CodeAssignment, CodedSession

if TYPE_CHECKING:  # pragma: no cover
    from sessioncoder.coding.codebook import Codebook

HUMAN = "human"


@dataclass
class Correction:
    line: int
    index: int
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    by: str | None = None
    note: str | None = None


def _codes(cell: str | None) -> list[str]:
    return [c.strip() for c in (cell or "").replace(",", ";").split(";") if c.strip()]


def read_corrections(path: Path, codebook: Codebook, n_utterances: int) -> list[Correction]:
    """Parse and check the corrections CSV; errors name the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: corrections file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read corrections file: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for row in rows for cell in row):
        raise InputError(f"{path}: corrections file is empty")
    header = [h.strip().lower() for h in rows[0]]
    if "index" in header:
        columns = header
        body = list(enumerate(rows[1:], start=2))
    else:  # no header: index,add,remove[,by,note]
        columns = ["index", "add", "remove", "by", "note"]
        body = list(enumerate(rows, start=1))
    unknown_columns = set(columns) - {"index", "add", "remove", "by", "note", ""}
    if unknown_columns:
        raise InputError(
            f"{path}:1: unknown column(s) {', '.join(sorted(unknown_columns))} (expected index,add,remove)"
        )
    corrections = []
    for line, row in body:
        if not any(cell.strip() for cell in row):
            continue
        cells = dict(zip(columns, (cell.strip() for cell in row), strict=False))
        raw_index = cells.get("index", "")
        try:
            index = int(raw_index)
        except ValueError:
            raise InputError(f"{path}:{line}: index {raw_index!r} is not a whole number") from None
        if not 0 <= index < n_utterances:
            raise InputError(
                f"{path}:{line}: index {index} is out of range (the session has {n_utterances} utterances)"
            )
        add, remove = _codes(cells.get("add")), _codes(cells.get("remove"))
        if not add and not remove:
            raise InputError(f"{path}:{line}: nothing to add or remove")
        unknown = sorted({c for c in add + remove if c not in codebook.codes})
        if unknown:
            raise InputError(
                f"{path}:{line}: unknown code id(s) {', '.join(unknown)} (not in codebook {codebook.id})"
            )
        both = sorted(set(add) & set(remove))
        if both:
            raise InputError(f"{path}:{line}: {', '.join(both)} is both added and removed")
        corrections.append(
            Correction(line, index, add, remove, by=cells.get("by") or None, note=cells.get("note") or None)
        )
    return corrections


def apply_corrections(
    session: CodedSession, corrections_csv: Path, codebook: Codebook, *, by: str | None = None
) -> CodedSession:
    """A copy of ``session`` with the corrections applied, the audit trail extended and the profile recomputed.

    ``by`` is the default reviewer name for rows without a ``by`` column.
    Adding a code also adds the codes it implies in the codebook (a
    pro-criminal statement is always also the pro-criminal attitudes topic),
    unless the same row removes them.
    """
    from sessioncoder.profile import compute_profile

    corrections = read_corrections(Path(corrections_csv), codebook, len(session.utterances))
    session = session.model_copy(deep=True)
    by_index = {u.index: u for u in session.utterances}
    positions = {i: u for i, u in enumerate(session.utterances)}
    now = datetime.now(UTC)
    for correction in corrections:
        utterance = by_index.get(correction.index) or positions[correction.index]
        who = correction.by or by
        for code in correction.remove:
            removed = [c for c in utterance.codes if c.code == code]
            if not removed:
                continue  # nothing to remove: not an error, but nothing to record either
            utterance.codes = [c for c in utterance.codes if c.code != code]
            was = ", ".join(f"{c.source} {c.confidence:.2f}" for c in removed)
            note = "; ".join(x for x in (correction.note, f"was {was}") if x)
            session.audit.append(
                AuditEntry(at=now, action="remove", index=utterance.index, code=code, by=who, note=note)
            )
        to_add: list[tuple[str, str | None]] = [(code, correction.note) for code in correction.add]
        for code in correction.add:
            for implied in getattr(codebook.codes[code], "implies", []) or []:
                if implied not in correction.remove and implied not in correction.add:
                    to_add.append((implied, f"implied by {code}"))
        for code, note in to_add:
            existing = [c for c in utterance.codes if c.code == code]
            if existing and all(c.source == HUMAN for c in existing):
                continue
            if existing:
                note = "; ".join(
                    x
                    for x in (note, f"confirmed (was {existing[0].source} {existing[0].confidence:.2f})")
                    if x
                )
                utterance.codes = [c for c in utterance.codes if c.code != code]
            utterance.codes.append(CodeAssignment(code=code, confidence=1.0, source=HUMAN, rule="correction"))
            session.audit.append(
                AuditEntry(at=now, action="add", index=utterance.index, code=code, by=who, note=note)
            )
    session.profile = compute_profile(session, codebook)
    return session
