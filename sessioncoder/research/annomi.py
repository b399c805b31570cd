"""AnnoMI, the expert-coded MI transcripts: loading, gold codes, and scoring the MI coder against them.

Used by ``scripts/train_mi_model.py`` and ``make bench``; the data itself is read
from where the user keeps it and never ships with the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sessioncoder.coding.mi.coder import MIModelCoder
from sessioncoder.coding.mi.features import (
    CLIENT_CLASS_CODE,
    CLIENT_CLASSES,
    OWNED_CODES,
    THERAPIST_CLASS_CODE,
    hand_features,
    permission_asked,
)
from sessioncoder.errors import ModelError


@dataclass
class AnnoMITranscript:
    """One AnnoMI transcript in utterance order, with gold classes and codes."""

    transcript_id: str
    texts: list[str]
    roles: list[str]  # officer (AnnoMI therapist) | client
    labels: list[str]  # a THERAPIST_CLASSES entry for officer, a CLIENT_CLASSES entry for client
    annotators: list[str]


def annomi_therapist_class(main: str, question: str, reflection: str, therapist_input: str) -> str:
    """AnnoMI main behaviour + subtype flags -> practitioner class."""
    if main == "question":
        return "question.open" if question == "open" else "question.closed"
    if main == "reflection":
        return "reflection.complex" if reflection == "complex" else "reflection.simple"
    if main == "therapist_input":
        return {"information": "input.information", "advice": "input.advice"}.get(
            therapist_input, "input.negotiation"
        )
    return "other"


def load_annomi(data_dir: Path) -> list[AnnoMITranscript]:
    """Read ``AnnoMI-full.csv`` (main labels plus subtype flags; one annotator per utterance)."""
    import csv

    path = Path(data_dir) / "AnnoMI-full.csv"
    if not path.is_file():
        raise ModelError(f"AnnoMI not found: {path}")
    rows: dict[str, list[tuple[int, dict[str, str]]]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["transcript_id"], []).append((int(row["utterance_id"]), row))
    out = []
    for tid in sorted(rows, key=lambda t: int(t) if t.isdigit() else t):
        items = [r for _, r in sorted(rows[tid], key=lambda x: x[0])]
        texts, roles, labels, annotators = [], [], [], []
        for r in items:
            texts.append(r["utterance_text"] or "")
            annotators.append(r.get("annotator_id", ""))
            if r["interlocutor"] == "therapist":
                roles.append("officer")
                labels.append(
                    annomi_therapist_class(
                        r["main_therapist_behaviour"],
                        r["question_subtype"],
                        r["reflection_subtype"],
                        r["therapist_input_subtype"],
                    )
                )
            else:
                roles.append("client")
                labels.append(r["client_talk_type"] if r["client_talk_type"] in CLIENT_CLASSES else "neutral")
        out.append(AnnoMITranscript(tid, texts, roles, labels, annotators))
    return out


def split_transcripts(ids: list[str], seed: int, dev_fraction: float) -> tuple[list[str], list[str]]:
    """Split transcript ids (never utterances) into train and dev, reproducibly from ``seed``."""
    ordered = sorted(ids, key=lambda t: int(t) if t.isdigit() else t)
    rng = np.random.default_rng(seed)
    n_dev = max(1, round(len(ordered) * dev_fraction))
    dev = set(rng.choice(len(ordered), size=n_dev, replace=False).tolist())
    return [t for k, t in enumerate(ordered) if k not in dev], [t for k, t in enumerate(ordered) if k in dev]


def gold_codes(t: AnnoMITranscript) -> list[set[str]]:
    """The codebook codes AnnoMI's labels map to (advice asked with permission -> advice_with_permission)."""
    asked = permission_asked(hand_features(t.texts, t.roles))
    out: list[set[str]] = []
    for i, (role, label) in enumerate(zip(t.roles, t.labels, strict=True)):
        code = (THERAPIST_CLASS_CODE if role == "officer" else CLIENT_CLASS_CODE).get(label)
        if label == "input.advice" and asked[i]:
            code = "mi.advice_with_permission"
        out.append({code} if code else set())
    return out


def evaluate(
    coder: MIModelCoder, transcripts: list[AnnoMITranscript], embeddings: list[np.ndarray] | None = None
) -> dict[str, Any]:
    """Dev metrics: 4-class and 3-class macro-F1 (AnnoMI's tasks) and per-code P/R/F1, from the coder's codes."""
    from sessioncoder.research.agreement import Coding, compare

    predicted = Coding(name="model")
    gold = Coding(name="annomi")
    for k, t in enumerate(transcripts):
        codes = coder.code_texts(t.texts, t.roles, embeddings[k] if embeddings is not None else None)
        for i, (assigned, truth) in enumerate(zip(codes, gold_codes(t), strict=True)):
            predicted.codes[(t.transcript_id, i)] = {c.code for c in assigned}
            gold.codes[(t.transcript_id, i)] = truth
            predicted.roles[(t.transcript_id, i)] = t.roles[i]
    report = compare(predicted, gold, code_order=sorted(OWNED_CODES))
    # Every practitioner class maps to a code of its own AnnoMI group, so the 4-class gold read
    # back from the codes equals AnnoMI's main_therapist_behaviour.
    return {
        "therapist_macro_f1_4": report.practitioner["macro_f1"],
        "client_macro_f1_3": report.client["macro_f1"],
        "therapist_accuracy_4": report.practitioner["accuracy"],
        "client_accuracy_3": report.client["accuracy"],
        "therapist_confusion": report.practitioner,
        "client_confusion": report.client,
        "codes": {
            r["code"]: {k: r[k] for k in ("precision", "recall", "f1", "kappa", "support")}
            for r in report.codes
        },
        "utterances": report.n_utterances,
        "transcripts": len(transcripts),
    }


def abstention(
    coder: MIModelCoder,
    transcripts: list[AnnoMITranscript],
    threshold: float,
    embeddings: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """How often the coder's decision falls below ``threshold`` (left to human review) and how right it is otherwise.

    Per role (``officer``, ``client``) over every utterance of that role: the decision
    is the code given, or none ("other" / neutral), with the confidence of its class;
    it is right when it equals AnnoMI's code. ``shown`` counts only the codes the coder
    gives: how many of them a report marks for review, and their precision either side.
    The threshold is the codebook's ``settings.low_confidence`` in ``make bench``.
    """
    decided: dict[str, list[tuple[float, bool]]] = {"officer": [], "client": []}
    shown: list[tuple[float, bool]] = []
    for k, t in enumerate(transcripts):
        emb = embeddings[k] if embeddings is not None else coder.encoder.encode(t.texts)
        confidences = [c for _, c in coder.predict(t.texts, t.roles, emb)]
        codes = coder.code_texts(t.texts, t.roles, emb)
        for i, (assigned, truth) in enumerate(zip(codes, gold_codes(t), strict=True)):
            if t.roles[i] in decided:
                decided[t.roles[i]].append((confidences[i], {c.code for c in assigned} == truth))
            shown.extend((c.confidence, c.code in truth) for c in assigned)

    def summary(rows: list[tuple[float, bool]]) -> dict[str, float | int]:
        conf = np.array([c for c, _ in rows], dtype=float)
        right = np.array([r for _, r in rows], dtype=bool)
        kept = conf >= threshold

        def share(mask: np.ndarray) -> float:
            return float(right[mask].mean()) if mask.any() else float("nan")

        return {
            "n": len(rows),
            "abstained": float(1 - kept.mean()) if rows else float("nan"),
            "accuracy_kept": share(kept),
            "accuracy_abstained": share(~kept),
            "accuracy_all": share(np.ones_like(kept)),
        }

    return {
        "threshold": threshold,
        **{role: summary(rows) for role, rows in decided.items()},
        "shown": summary(shown),
    }
