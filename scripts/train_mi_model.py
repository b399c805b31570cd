"""Train the MI coder's heads on AnnoMI and write ``models/mi/`` (weights, config, metrics, model card).

    .venv/bin/python scripts/train_mi_model.py [--data ../shared/data/annomi] [--out models/mi]

CPU only and reproducible: the transcript split and every fit use ``--seed``;
the sentence encoder is frozen (all-MiniLM-L6-v2 int8 ONNX from its package),
so what is trained are two softmax-regression heads (sklearn, saved as plain
numpy arrays, no pickle) on context features built by
``sessioncoder.coding.model`` -- the same code that runs at inference.
Embeddings are cached under ``--cache-dir`` keyed by text and encoder, so a
re-run takes seconds; a cold run takes about 2 minutes on one core.

Heads were chosen on the dev transcripts (see MODEL_CARD.md): softmax
regression with balanced class weights (C=0.005) matched or beat MLPs of
64-256 units, and embedding the utterance after its previous turn (in-context
pooling) did not beat embedding it alone, which is also twice as fast.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sessioncoder.coding import model as mi  # noqa: E402
from sessioncoder.encoder import ENCODER_NAME, get_encoder  # noqa: E402
from sessioncoder.fileio import atomic_open, sha256_file, write_text_atomic  # noqa: E402

FEATURES = {"encoder": ENCODER_NAME, "max_length": 128, "context_prev": 0, "n_prev": 1, "n_next": 1}
HEAD_C = 0.005


def embed_all(transcripts: list[mi.AnnoMITranscript], cache_dir: Path | None) -> list[np.ndarray]:
    """One embedding matrix per transcript, cached by content."""
    encoder = get_encoder(max_length=FEATURES["max_length"])
    texts = [t for tr in transcripts for t in tr.texts]
    contexts = [c for tr in transcripts for c in mi.context_strings(tr.texts, FEATURES["context_prev"])]
    key = hashlib.sha256(
        json.dumps([ENCODER_NAME, FEATURES["max_length"], FEATURES["context_prev"], texts]).encode()
    ).hexdigest()[:16]
    cache = cache_dir / f"annomi-{key}.npy" if cache_dir else None
    if cache is not None and cache.is_file():
        flat = np.load(cache)
    else:
        started = time.perf_counter()
        if FEATURES["context_prev"]:
            flat = encoder.encode_in_context(contexts, texts)
        else:
            flat = encoder.encode(texts)
        print(f"embedded {len(texts)} utterances in {time.perf_counter() - started:.0f} s", flush=True)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(cache, "wb") as handle:
                np.save(handle, flat)
    out, start = [], 0
    for tr in transcripts:
        out.append(flat[start : start + len(tr.texts)])
        start += len(tr.texts)
    return out


def fit_head(x: np.ndarray, y: list[str], classes: tuple[str, ...], seed: int) -> mi.Head:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    clf = LogisticRegression(C=HEAD_C, max_iter=3000, class_weight="balanced", random_state=seed)
    clf.fit((x - mean) / scale, y)
    order = [list(clf.classes_).index(c) for c in classes]  # every class occurs in training
    return mi.Head(
        classes=classes,
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        weights=[clf.coef_[order].T.astype(np.float32)],
        biases=[clf.intercept_[order].astype(np.float32)],
    )


def fit_temperature(head: mi.Head, x: np.ndarray, y: list[str]) -> float:
    """Temperature minimising dev negative log-likelihood, so confidences are calibrated."""
    logits = head.logits(x)
    target = np.array([head.classes.index(v) for v in y])
    best, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 81)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -logp[np.arange(len(target)), target].mean()
        if nll < best_nll:
            best, best_nll = float(t), float(nll)
    return best


def expected_calibration_error(head: mi.Head, x: np.ndarray, y: list[str], bins: int = 10) -> float:
    proba = head.proba(x)
    conf = proba.max(axis=1)
    correct = np.array([head.classes[k] == v for k, v in zip(proba.argmax(axis=1), y, strict=True)])
    ece = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        sel = (conf > lo) & (conf <= lo + 1 / bins)
        if sel.any():
            ece += sel.mean() * abs(conf[sel].mean() - correct[sel].mean())
    return float(ece)


def features_for(transcripts, embeddings, role):
    xs, ys = [], []
    for tr, emb in zip(transcripts, embeddings, strict=True):
        x = mi.context_features(
            emb, tr.roles, mi.hand_features(tr.texts, tr.roles), FEATURES["n_prev"], FEATURES["n_next"]
        )
        keep = [i for i, r in enumerate(tr.roles) if r == role]
        xs.append(x[keep])
        ys.extend(tr.labels[i] for i in keep)
    return np.vstack(xs), ys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "annomi")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "mi")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-fraction", type=float, default=0.2)
    parser.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "sessioncoder-mi-cache")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    np.random.seed(args.seed)

    transcripts = mi.load_annomi(args.data)
    train_ids, dev_ids = mi.split_transcripts([t.transcript_id for t in transcripts], args.seed, args.dev_fraction)
    embeddings = embed_all(transcripts, args.cache_dir)
    by_id = {t.transcript_id: (t, e) for t, e in zip(transcripts, embeddings, strict=True)}
    train = [by_id[i] for i in train_ids]
    dev = [by_id[i] for i in dev_ids]
    print(f"{len(train)} train / {len(dev)} dev transcripts", flush=True)

    heads = {}
    calibration = {}
    for head_name, role, classes in (
        ("therapist", "officer", mi.THERAPIST_CLASSES),
        ("client", "client", mi.CLIENT_CLASSES),
    ):
        x_tr, y_tr = features_for([t for t, _ in train], [e for _, e in train], role)
        x_dev, y_dev = features_for([t for t, _ in dev], [e for _, e in dev], role)
        head = fit_head(x_tr, y_tr, classes, args.seed)
        ece_before = expected_calibration_error(head, x_dev, y_dev)
        head.temperature = fit_temperature(head, x_dev, y_dev)
        calibration[head_name] = {
            "temperature": head.temperature,
            "ece_before": round(ece_before, 4),
            "ece_after": round(expected_calibration_error(head, x_dev, y_dev), 4),
        }
        heads[head_name] = head
        print(f"{head_name}: {len(y_tr)} train utterances, temperature {head.temperature:.2f}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    weights_path = args.out / "heads.npz"
    arrays = {**heads["therapist"].to_arrays("therapist"), **heads["client"].to_arrays("client")}
    with atomic_open(weights_path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    from sessioncoder.encoder import get_encoder as _enc

    config = {
        "name": mi.MODEL_NAME,
        "version": "1.0.0",
        "feature_version": mi.FEATURE_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "features": {**FEATURES, "encoder_version": _enc(max_length=FEATURES["max_length"]).version},
        "head": {"kind": "softmax-regression", "C": HEAD_C, "class_weight": "balanced"},
        "therapist": {"classes": list(mi.THERAPIST_CLASSES), "temperature": heads["therapist"].temperature},
        "client": {"classes": list(mi.CLIENT_CLASSES), "temperature": heads["client"].temperature},
        "class_codes": {**{k: v for k, v in mi.THERAPIST_CLASS_CODE.items()}, **{f"client.{k}": v for k, v in mi.CLIENT_CLASS_CODE.items()}},
        "split": {"seed": args.seed, "dev_fraction": args.dev_fraction, "dev_transcripts": dev_ids},
        "training_data": "AnnoMI training split (99 transcripts), ../shared/data/annomi/AnnoMI-full.csv",
        "licence": "AnnoMI: upstream README once said 'License: Public Domain' (2023), line later dropped; see MODEL_CARD.md",
        "weights_sha256": sha256_file(weights_path),
    }
    write_text_atomic(args.out / "config.json", json.dumps(config, indent=2) + "\n")

    coder = mi.load_mi_coder(args.out)
    metrics = mi.evaluate(coder, [t for t, _ in dev], [e for _, e in dev])
    metrics["calibration"] = calibration
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)
    write_text_atomic(args.out / "dev_metrics.json", json.dumps(metrics, indent=2) + "\n")
    print(
        f"dev macro-F1: therapist 4-class {metrics['therapist_macro_f1_4']:.3f}, "
        f"client 3-class {metrics['client_macro_f1_3']:.3f} ({metrics['train_seconds']} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
