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
    CLIENT_CLASSES,
    OWNED_CODES,
    THERAPIST_CLASSES,
    class_code,
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
    return label_codes(t, t.labels)


def label_codes(t: AnnoMITranscript, labels: list[str]) -> list[set[str]]:
    """The codes that head classes ``labels`` (one per utterance of ``t``) give, as the coder gives them."""
    asked = permission_asked(hand_features(t.texts, t.roles))
    out: list[set[str]] = []
    for i, (role, label) in enumerate(zip(t.roles, labels, strict=True)):
        code = class_code(role, label, bool(asked[i])) if label else None
        out.append({code} if code else set())
    return out


def evaluate(
    coder: MIModelCoder, transcripts: list[AnnoMITranscript], embeddings: list[np.ndarray] | None = None
) -> dict[str, Any]:
    """Dev metrics of ``coder``: see :func:`score_codes`."""
    predicted = [
        [
            {c.code for c in assigned}
            for assigned in coder.code_texts(
                t.texts, t.roles, embeddings[k] if embeddings is not None else None
            )
        ]
        for k, t in enumerate(transcripts)
    ]
    return score_codes(transcripts, predicted)


def evaluate_labels(transcripts: list[AnnoMITranscript], labels: list[list[str]]) -> dict[str, Any]:
    """Metrics of head classes predicted per utterance (cross-validation's held-out predictions)."""
    return score_codes(transcripts, [label_codes(t, ls) for t, ls in zip(transcripts, labels, strict=True)])


def score_codes(transcripts: list[AnnoMITranscript], predicted: list[list[set[str]]]) -> dict[str, Any]:
    """4-class and 3-class macro-F1 (AnnoMI's tasks) and per-code P/R/F1/kappa, from codes per utterance."""
    from sessioncoder.research.agreement import Coding, compare

    model = Coding(name="model")
    gold = Coding(name="annomi")
    for t, codes in zip(transcripts, predicted, strict=True):
        for i, (assigned, truth) in enumerate(zip(codes, gold_codes(t), strict=True)):
            model.codes[(t.transcript_id, i)] = set(assigned)
            gold.codes[(t.transcript_id, i)] = truth
            model.roles[(t.transcript_id, i)] = t.roles[i]
    report = compare(model, gold, code_order=sorted(OWNED_CODES))
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


def cv_summary(
    folds: list[list[AnnoMITranscript]], predictions: list[dict[str, list[str]]]
) -> dict[str, Any]:
    """Cross-validated figures from each fold's held-out predictions (head classes per utterance).

    Macro-F1 per fold and their mean and standard deviation (the figure AnnoMI papers
    report), plus per-code figures pooled over all held-out utterances.
    """
    per_fold = [
        evaluate_labels(held, [labels[t.transcript_id] for t in held])
        for held, labels in zip(folds, predictions, strict=True)
    ]
    pooled = evaluate_labels(
        [t for held in folds for t in held],
        [labels[t.transcript_id] for held, labels in zip(folds, predictions, strict=True) for t in held],
    )
    out: dict[str, Any] = {"folds": len(folds), "transcripts": sum(len(h) for h in folds)}
    for name in ("therapist_macro_f1_4", "client_macro_f1_3", "therapist_accuracy_4", "client_accuracy_3"):
        values = np.array([m[name] for m in per_fold], dtype=float)
        out[name] = {
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "per_fold": [round(float(v), 4) for v in values],
        }
    out["pooled"] = {k: pooled[k] for k in ("therapist_macro_f1_4", "client_macro_f1_3", "codes")}
    out["pooled"]["therapist_kappa"] = pooled["therapist_confusion"]["kappa"]
    out["pooled"]["client_kappa"] = pooled["client_confusion"]["kappa"]
    return out


def encode_predictions(
    transcripts: dict[str, AnnoMITranscript], predictions: dict[str, list[str]]
) -> dict[str, str]:
    """Head classes per utterance as one digit each (officer: THERAPIST_CLASSES, client: CLIENT_CLASSES, '-': none).

    >>> t = AnnoMITranscript("1", ["Hi.", "Hello."], ["officer", "client"], ["other", "neutral"], ["a", "a"])
    >>> encode_predictions({"1": t}, {"1": ["question.open", "change"]})
    {'1': '11'}
    >>> decode_predictions({"1": t}, {"1": "11"})
    {'1': ['question.open', 'change']}
    """
    out = {}
    for tid, labels in predictions.items():
        roles = transcripts[tid].roles
        out[tid] = "".join(
            "-"
            if not label
            else str((THERAPIST_CLASSES if role == "officer" else CLIENT_CLASSES).index(label))
            for role, label in zip(roles, labels, strict=True)
        )
    return out


def decode_predictions(
    transcripts: dict[str, AnnoMITranscript], encoded: dict[str, str]
) -> dict[str, list[str]]:
    """The inverse of :func:`encode_predictions`; ModelError when they do not fit the transcripts."""
    out = {}
    for tid, digits in encoded.items():
        if tid not in transcripts or len(digits) != len(transcripts[tid].roles):
            raise ModelError(f"saved predictions for transcript {tid} do not fit the AnnoMI data")
        out[tid] = [
            "" if d == "-" else (THERAPIST_CLASSES if role == "officer" else CLIENT_CLASSES)[int(d)]
            for role, d in zip(transcripts[tid].roles, digits, strict=True)
        ]
    return out
