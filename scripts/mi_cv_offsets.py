"""Do per-class decision offsets help the MI coder? Nested in the grouped CV, through the shipped path.

    .venv/bin/python scripts/mi_cv_offsets.py [--data ../shared/data/annomi] [--work .mi-train]

Each CV fold's model (``WORK/foldK``, from ``train_mi_model.py``) codes its held-out
transcripts through the shipped inference path (fp32 ONNX encoder, numpy context
network). For each fold, offsets on the output logits are fitted by coordinate ascent
for macro-F1 on the other four folds' held-out logits and scored on this one. Printed
per fold, against no offsets (the model card's "what was tried" records the result).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sessioncoder.coding.mi.coder import load_mi_coder  # noqa: E402
from sessioncoder.coding.mi.context import softmax  # noqa: E402
from sessioncoder.coding.mi.features import CLIENT_CLASSES, THERAPIST_CLASSES  # noqa: E402
from sessioncoder.coding.mi.heads import MAIN_GROUPS, group_proba, therapist_group  # noqa: E402
from sessioncoder.research.agreement import confusion  # noqa: E402
from sessioncoder.research.annomi import load_annomi  # noqa: E402

GRID = np.arange(-1.5, 1.51, 0.1)


def held_out_logits(transcripts: dict, folds: list[list[str]], work: Path) -> dict[str, np.ndarray]:
    config = json.loads((REPO / "models" / "mi" / "config.json").read_text(encoding="utf-8"))
    for key in [k for k in config if k.endswith("sha256")]:
        del config[key]  # the shipped files' hashes; each fold has its own files
    out: dict[str, np.ndarray] = {}
    for k, fold in enumerate(folds):
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp)
            for name in ("adapters.npz", "context.npz"):
                shutil.copy(work / f"fold{k}" / name, model_dir / name)
            (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
            coder = load_mi_coder(model_dir)
            for tid in fold:
                t = transcripts[tid]
                out[f"{tid}/officer"], out[f"{tid}/client"] = coder.session_logits(t.texts, t.roles)
    return out


def rows(transcripts, logits, tids, role) -> tuple[np.ndarray, np.ndarray]:
    x, y = [], []
    for tid in tids:
        t = transcripts[tid]
        for i, r in enumerate(t.roles):
            if r == role:
                x.append(logits[f"{tid}/{role}"][i])
                label = t.labels[i]
                y.append(
                    MAIN_GROUPS.index(therapist_group(label))
                    if role == "officer"
                    else CLIENT_CLASSES.index(label)
                )
    return np.array(x), np.array(y)


def decide(x: np.ndarray, offsets: np.ndarray, role: str) -> np.ndarray:
    """As the coder decides: client by argmax, practitioner by the most probable main behaviour."""
    z = x + offsets
    if role == "client":
        return z.argmax(1)
    return group_proba(softmax(z, axis=1), THERAPIST_CLASSES).argmax(1)


def macro_f1(pred: np.ndarray, gold: np.ndarray, n: int) -> float:
    """Macro-F1 as the bench scores it (``research.agreement.confusion``), over class indices 0..n-1."""
    return confusion(gold.tolist(), pred.tolist(), tuple(range(n)))["macro_f1"] or 0.0


def fit_offsets(x: np.ndarray, y: np.ndarray, role: str, n: int) -> np.ndarray:
    offsets = np.zeros(x.shape[1])  # class 0 is the reference
    best = macro_f1(decide(x, offsets, role), y, n)
    for _ in range(2):
        for j in range(1, x.shape[1]):
            for v in GRID:
                trial = offsets.copy()
                trial[j] = v
                score = macro_f1(decide(x, trial, role), y, n)
                if score > best + 1e-9:
                    best, offsets = score, trial
    return offsets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "annomi")
    parser.add_argument("--work", type=Path, default=REPO / ".mi-train")
    args = parser.parse_args(argv)
    transcripts = {t.transcript_id: t for t in load_annomi(args.data)}
    folds = json.loads((REPO / "models" / "mi" / "cv_predictions.json").read_text(encoding="utf-8"))["folds"]
    logits = held_out_logits(transcripts, folds, args.work)
    for role, n in (("officer", len(MAIN_GROUPS)), ("client", len(CLIENT_CLASSES))):
        plain, tuned = [], []
        for k, fold in enumerate(folds):
            train = [t for j, f in enumerate(folds) if j != k for t in f]
            offsets = fit_offsets(*rows(transcripts, logits, train, role), role, n)
            x, y = rows(transcripts, logits, fold, role)
            plain.append(macro_f1(decide(x, np.zeros(x.shape[1]), role), y, n))
            tuned.append(macro_f1(decide(x, offsets, role), y, n))
            print(
                f"{role} fold {k}: {plain[-1]:.3f} without offsets, {tuned[-1]:.3f} with {np.round(offsets, 1)}"
            )
        print(
            f"{role}: {np.mean(plain):.3f} ± {np.std(plain, ddof=1):.3f} without, "
            f"{np.mean(tuned):.3f} ± {np.std(tuned, ddof=1):.3f} with offsets"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
