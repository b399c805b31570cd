"""Agreement between two codings of the same sessions: the tool against a human, or two humans.

A coding is a table ``(session, utterance index) -> set of code ids``, read from
a directory of ``<stem>.session.json`` files (the tool's output; ``session`` is
the stem) or from a CSV with columns ``session,index,codes`` (codes separated
by ``;``; an optional ``role`` column gives officer/client).

Coding A is compared with coding B, B being the reference (the human, or the
second coder): precision is the share of A's codes that B also gave, recall
the share of B's codes that A found. Only utterances present in both tables
are compared (a human who coded the first 20 minutes is not penalised for the
rest); the report says how many were left out.

Reported:

* per code, over all compared utterances: precision, recall, F1, Cohen's kappa
  (presence/absence of the code on each utterance) and support (B's count);
* the 4-class main practitioner behaviour (AnnoMI's ``main_therapist_behaviour``:
  reflection > question > therapist_input > other) and the client's talk type
  (change / sustain / neutral) as confusion matrices with accuracy, macro-F1 and kappa;
* per session: code counts and the MITI summary scores (R:Q, % complex
  reflections, % open questions) from both codings, with ICC(2,1)
  (two-way random effects, absolute agreement, single rater; Shrout & Fleiss 1979)
  across sessions.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessioncoder.errors import InputError
from sessioncoder.fileio import atomic_open
from sessioncoder.schema import CodeReliability, Reliability

if TYPE_CHECKING:  # pragma: no cover
    from sessioncoder.coding.codebook import Codebook

Key = tuple[str, int]

REFLECTION_CODES = ("mi.simple_reflection", "mi.complex_reflection")
QUESTION_CODES = ("mi.open_question", "mi.closed_question")
INPUT_CODES = ("mi.giving_information", "mi.persuade", "mi.advice_with_permission")
MAIN_BEHAVIOURS = ("reflection", "question", "therapist_input", "other")
CLIENT_TALK = ("change", "sustain", "neutral")
SUMMARY_SCORES = ("r_to_q", "pct_complex", "pct_open")


@dataclass
class Coding:
    """Codes per utterance of one coder, with roles where known."""

    name: str
    codes: dict[Key, set[str]] = field(default_factory=dict)
    roles: dict[Key, str] = field(default_factory=dict)

    @property
    def sessions(self) -> set[str]:
        return {s for s, _ in self.codes}

    def all_codes(self) -> set[str]:
        return set().union(*self.codes.values()) if self.codes else set()


# --------------------------------------------------------------------------- reading


def read_coding_csv(path: Path) -> Coding:
    """Read ``session,index,codes[,role]``; InputError naming the file and line on bad rows."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    coding = Coding(name=path.name)
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
        except csv.Error as exc:
            raise InputError(f"{path}:1: not a valid CSV ({exc})") from None
        missing = [c for c in ("session", "index", "codes") if c not in header]
        if missing:
            raise InputError(f"{path}:1: missing column(s) {', '.join(missing)} (need session,index,codes)")
        reader.fieldnames = header
        try:
            for row in reader:
                line = reader.line_num
                if None in row:
                    raise InputError(f"{path}:{line}: more fields than the header has")
                session = (row.get("session") or "").strip()
                raw_index = (row.get("index") or "").strip()
                if not session:
                    raise InputError(f"{path}:{line}: empty session")
                try:
                    index = int(raw_index)
                except ValueError:
                    raise InputError(f"{path}:{line}: index {raw_index!r} is not a whole number") from None
                if index < 0:
                    raise InputError(f"{path}:{line}: negative index {index}")
                codes = {c.strip() for c in (row.get("codes") or "").split(";") if c.strip()}
                coding.codes.setdefault((session, index), set()).update(codes)
                role = (row.get("role") or "").strip().lower()
                if role in ("officer", "client"):
                    coding.roles[(session, index)] = role
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: not a valid CSV ({exc})") from None
    if not coding.codes:
        raise InputError(f"{path}: no rows")
    return coding


def read_coding_dir(directory: Path) -> Coding:
    """Read every ``<stem>.session.json`` in ``directory`` (the tool's coded sessions)."""
    directory = Path(directory)
    files = sorted(directory.glob("*.session.json"))
    if not files:
        raise InputError(f"{directory}: no *.session.json files")
    coding = read_session_files(files)
    coding.name = directory.name or str(directory)
    return coding


def read_session_files(files: list[Path]) -> Coding:
    """Codes and roles from coded sessions; the session name is the file name minus ``.session.json``."""
    from pydantic import ValidationError

    from sessioncoder.schema import CodedSession

    coding = Coding(name=files[0].name)
    for file in files:
        stem = file.name[: -len(".session.json")]
        try:
            session = CodedSession.load(file)
        except (OSError, ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{file}: not a coded session ({first})") from None
        for u in session.utterances:
            coding.codes[(stem, u.index)] = set(u.code_ids)
            if u.role in ("officer", "client"):
                coding.roles[(stem, u.index)] = u.role
    return coding


def read_coding(path: Path) -> Coding:
    """A directory of sessions, one ``.session.json`` file, or a CSV."""
    path = Path(path)
    if path.is_dir():
        return read_coding_dir(path)
    if not path.exists():
        raise InputError(f"{path}: not found")
    if path.name.endswith(".session.json"):
        return read_session_files([path])
    return read_coding_csv(path)


# --------------------------------------------------------------------------- statistics


def cohen_kappa(a: list[Any], b: list[Any]) -> float | None:
    """Cohen's kappa of two label sequences; None when chance agreement is 1 (one label only)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    labels = set(a) | set(b)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    expected = sum((a.count(lab) / n) * (b.count(lab) / n) for lab in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def prf(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall, F1; None where the denominator is zero."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if precision is None or recall is None:
        f1 = None if tp + fp + fn == 0 else 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def icc_2_1(pairs: Iterable[tuple[float, float]]) -> float | None:
    """ICC(2,1), two-way random, absolute agreement, single rater (Shrout & Fleiss 1979).

    ``pairs`` are (rater A, rater B) values per subject. None with fewer than two
    subjects or no variance at all.
    """
    rows = [(float(x), float(y)) for x, y in pairs]
    n, k = len(rows), 2
    if n < 2:
        return None
    grand = sum(x + y for x, y in rows) / (n * k)
    row_means = [(x + y) / 2 for x, y in rows]
    col_means = [sum(r[j] for r in rows) / n for j in range(k)]
    ss_total = sum((v - grand) ** 2 for r in rows for v in r)
    ss_rows = k * sum((m - grand) ** 2 for m in row_means)
    ss_cols = n * sum((m - grand) ** 2 for m in col_means)
    ss_error = ss_total - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_cols = ss_cols / (k - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    if denominator <= 0 or math.isclose(denominator, 0.0, abs_tol=1e-12):
        return None
    return (ms_rows - ms_error) / denominator


def main_behaviour(codes: set[str]) -> str:
    """AnnoMI main therapist behaviour from codes: reflection > question > therapist_input > other."""
    if codes.intersection(REFLECTION_CODES):
        return "reflection"
    if codes.intersection(QUESTION_CODES):
        return "question"
    if codes.intersection(INPUT_CODES):
        return "therapist_input"
    return "other"


def client_talk(codes: set[str]) -> str:
    if "client.change_talk" in codes:
        return "change"
    if "client.sustain_talk" in codes:
        return "sustain"
    return "neutral"


def summary_scores(codes: Iterable[set[str]]) -> dict[str, float | None]:
    """MITI summary scores from codes alone: R:Q, % complex reflections, % open questions."""
    counts = {c: 0 for c in (*REFLECTION_CODES, *QUESTION_CODES)}
    for item in codes:
        for c in counts:
            counts[c] += c in item
    reflections = counts["mi.simple_reflection"] + counts["mi.complex_reflection"]
    questions = counts["mi.open_question"] + counts["mi.closed_question"]
    return {
        "r_to_q": reflections / questions if questions else None,
        "pct_complex": 100.0 * counts["mi.complex_reflection"] / reflections if reflections else None,
        "pct_open": 100.0 * counts["mi.open_question"] / questions if questions else None,
    }


def confusion(gold: list[str], pred: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    """Confusion matrix (rows: reference B, columns: A) with accuracy, macro-F1 and kappa."""
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        matrix[labels.index(g)][labels.index(p)] += 1
    per_label = {}
    f1s = []
    for i, lab in enumerate(labels):
        tp = matrix[i][i]
        fp = sum(matrix[r][i] for r in range(len(labels))) - tp
        fn = sum(matrix[i]) - tp
        p, r, f = prf(tp, fp, fn)
        per_label[lab] = {"precision": p, "recall": r, "f1": f, "support": sum(matrix[i])}
        if sum(matrix[i]) or tp + fp:  # labels absent from both do not count in the macro average
            f1s.append(f or 0.0)
    n = len(gold)
    return {
        "labels": list(labels),
        "matrix": matrix,
        "n": n,
        "accuracy": sum(matrix[i][i] for i in range(len(labels))) / n if n else None,
        "macro_f1": sum(f1s) / len(f1s) if f1s else None,
        "kappa": cohen_kappa(gold, pred),
        "per_label": per_label,
    }


@dataclass
class AgreementReport:
    coder_a: str
    coder_b: str
    n_sessions: int
    n_utterances: int
    only_in_a: int
    only_in_b: int
    sessions_only_in_a: list[str]
    sessions_only_in_b: list[str]
    codes: list[dict[str, Any]]
    practitioner: dict[str, Any]
    client: dict[str, Any]
    sessions: list[dict[str, Any]]
    session_icc: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "coder_a": self.coder_a,
            "coder_b": self.coder_b,
            "reference": "b",
            "n_sessions": self.n_sessions,
            "n_utterances": self.n_utterances,
            "utterances_only_in_a": self.only_in_a,
            "utterances_only_in_b": self.only_in_b,
            "sessions_only_in_a": self.sessions_only_in_a,
            "sessions_only_in_b": self.sessions_only_in_b,
            "codes": self.codes,
            "main_practitioner_behaviour": self.practitioner,
            "client_talk_type": self.client,
            "sessions": self.sessions,
            "session_icc": self.session_icc,
        }


def compare(a: Coding, b: Coding, code_order: list[str] | None = None) -> AgreementReport:
    """Compare coding A with reference B over the utterances both have."""
    keys = sorted(set(a.codes) & set(b.codes))
    if not keys:
        raise InputError(f"{a.name} and {b.name} share no (session, index) rows: check the session names")
    present = a.all_codes() | b.all_codes()
    order = [c for c in (code_order or []) if c in present] + sorted(present - set(code_order or []))

    codes_rows = []
    for code in order:
        in_a = [code in a.codes[k] for k in keys]
        in_b = [code in b.codes[k] for k in keys]
        tp = sum(x and y for x, y in zip(in_a, in_b, strict=True))
        fp = sum(x and not y for x, y in zip(in_a, in_b, strict=True))
        fn = sum(y and not x for x, y in zip(in_a, in_b, strict=True))
        p, r, f = prf(tp, fp, fn)
        codes_rows.append(
            {
                "code": code,
                "precision": p,
                "recall": r,
                "f1": f,
                "kappa": cohen_kappa(in_a, in_b),
                "support": sum(in_b),
                "count_a": sum(in_a),
                "tp": tp,
                "fp": fp,
                "fn": fn,
            }
        )

    def role(k: Key) -> str | None:
        return a.roles.get(k) or b.roles.get(k)

    client_codes = ("client.change_talk", "client.sustain_talk")
    # Practitioner utterances: officer by role; without roles, those no one gave a client code.
    prac = [
        k
        for k in keys
        if role(k) == "officer"
        or (role(k) is None and not (a.codes[k] | b.codes[k]).intersection(client_codes))
    ]
    clients = [k for k in keys if role(k) == "client" or (role(k) is None and k not in prac)]
    practitioner = confusion(
        [main_behaviour(b.codes[k]) for k in prac],
        [main_behaviour(a.codes[k]) for k in prac],
        MAIN_BEHAVIOURS,
    )
    client = confusion(
        [client_talk(b.codes[k]) for k in clients], [client_talk(a.codes[k]) for k in clients], CLIENT_TALK
    )

    sessions = sorted({s for s, _ in keys})
    by_session: dict[str, list[Key]] = {s: [] for s in sessions}
    for k in keys:
        by_session[k[0]].append(k)
    session_rows = []
    for s in sessions:
        row: dict[str, Any] = {"session": s, "utterances": len(by_session[s])}
        sa = summary_scores(a.codes[k] for k in by_session[s])
        sb = summary_scores(b.codes[k] for k in by_session[s])
        for score in SUMMARY_SCORES:
            row[f"{score}_a"] = sa[score]
            row[f"{score}_b"] = sb[score]
        for code in order:
            row[f"{code}_a"] = sum(code in a.codes[k] for k in by_session[s])
            row[f"{code}_b"] = sum(code in b.codes[k] for k in by_session[s])
        session_rows.append(row)

    icc_rows = []
    for measure in [*SUMMARY_SCORES, *order]:
        pairs = [
            (r[f"{measure}_a"], r[f"{measure}_b"])
            for r in session_rows
            if r[f"{measure}_a"] is not None and r[f"{measure}_b"] is not None
        ]
        icc_rows.append(
            {
                "measure": measure,
                "kind": "score" if measure in SUMMARY_SCORES else "count",
                "sessions": len(pairs),
                "mean_a": sum(x for x, _ in pairs) / len(pairs) if pairs else None,
                "mean_b": sum(y for _, y in pairs) / len(pairs) if pairs else None,
                "mean_abs_diff": sum(abs(x - y) for x, y in pairs) / len(pairs) if pairs else None,
                "icc_2_1": icc_2_1(pairs),
            }
        )

    key_set = set(keys)
    return AgreementReport(
        coder_a=a.name,
        coder_b=b.name,
        n_sessions=len(sessions),
        n_utterances=len(keys),
        only_in_a=sum(k not in key_set for k in a.codes),
        only_in_b=sum(k not in key_set for k in b.codes),
        sessions_only_in_a=sorted(a.sessions - b.sessions),
        sessions_only_in_b=sorted(b.sessions - a.sessions),
        codes=codes_rows,
        practitioner=practitioner,
        client=client,
        sessions=session_rows,
        session_icc=icc_rows,
    )


# --------------------------------------------------------------------------- writing


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return v


def write_report(report: AgreementReport, prefix: Path) -> list[Path]:
    """Write ``PREFIX.json``, ``PREFIX.codes.csv``, ``PREFIX.sessions.csv`` and ``PREFIX.icc.csv`` atomically."""
    prefix = Path(prefix)
    written = []
    path = prefix.with_name(prefix.name + ".json")
    with atomic_open(path) as handle:
        json.dump(report.to_dict(), handle, indent=2)
        handle.write("\n")
    written.append(path)
    for suffix, rows in (("codes", report.codes), ("sessions", report.sessions), ("icc", report.session_icc)):
        path = prefix.with_name(f"{prefix.name}.{suffix}.csv")
        with atomic_open(path) as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: _csv_value(v) for k, v in row.items()})
        written.append(path)
    return written


def reliability_of(report: AgreementReport, codebook: Codebook, measured_on: str) -> Reliability:
    """Per-code agreement of the tool (A) with a human reference (B), as the report's trust figures.

    Only the codebook's own codes are kept, with the codebook's id, version and
    content hash, so the figures are shown only for sessions coded with the same codebook.
    """
    codes = {
        row["code"]: CodeReliability(
            precision=row["precision"],
            recall=row["recall"],
            f1=row["f1"],
            kappa=row["kappa"],
            support=row["support"],
            predicted=row["count_a"],
        )
        for row in report.codes
        if row["code"] in codebook.codes
    }
    return Reliability(
        codebook=codebook.id,
        version=codebook.version,
        sha256=codebook.sha256,
        measured_on=measured_on,
        sessions=report.n_sessions,
        utterances=report.n_utterances,
        codes=codes,
    )
