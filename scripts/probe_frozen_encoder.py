"""How far would a different sentence encoder take the MI coder? A frozen-encoder probe.

    .venv/bin/python scripts/probe_frozen_encoder.py [ENCODER_DIR ...] [--data ../shared/data/annomi]

Each ENCODER_DIR is a local Hugging Face model directory (config, tokenizer,
weights); with none given, the packaged all-MiniLM-L6-v2 is probed. For each,
every AnnoMI utterance is embedded alone (mean pooling, 128 tokens, fp32 torch,
not fine-tuned), the shipped coder's context features are built from those
embeddings (:func:`sessioncoder.coding.mi.features.session_features`), an MLP like
the shipped heads is trained on the train split, and dev macro-F1 and encoding
speed are printed. Comparing encoders this way costs minutes rather than a
fine-tuning run; MODEL_CARD.md records what it found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from train_mi_model import CONTEXT, FEATURES, N_CONTEXT, class_weights  # noqa: E402  (beside this script)

from sessioncoder.coding.mi.features import (  # noqa: E402
    CLIENT_CLASSES,
    THERAPIST_CLASSES,
    feature_scale,
    session_features,
)
from sessioncoder.coding.mi.heads import MAIN_GROUPS, Head, decide_therapist, therapist_group  # noqa: E402
from sessioncoder.models import lora  # noqa: E402
from sessioncoder.research.agreement import confusion  # noqa: E402
from sessioncoder.research.annomi import AnnoMITranscript, load_annomi, split_transcripts  # noqa: E402


def features_for(transcripts, embeddings, role):
    """Feature rows and labels of ``role``'s utterances (the MI coder's context features)."""
    xs, ys = [], []
    for tr, emb in zip(transcripts, embeddings, strict=True):
        x = session_features(emb, tr.texts, tr.roles, FEATURES["n_prev"], FEATURES["n_next"])
        keep = [i for i, r in enumerate(tr.roles) if r == role]
        xs.append(x[keep])
        ys.extend(tr.labels[i] for i in keep)
    return np.vstack(xs), ys


def embed_all(encoder_dir: Path, transcripts: list[AnnoMITranscript]) -> tuple[dict[str, np.ndarray], float]:
    """Unit-length mean-pooled embeddings per transcript, and utterances per second."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(encoder_dir), local_files_only=True).eval()
    out, n, started = {}, 0, time.perf_counter()
    for t in transcripts:
        order = np.argsort([len(x) for x in t.texts])  # similar lengths per batch: less padding
        emb = np.zeros((len(t.texts), model.config.hidden_size), np.float32)
        for a in range(0, len(order), 64):
            rows = order[a : a + 64]
            batch = tokenizer(
                [t.texts[i] for i in rows], padding=True, truncation=True, max_length=128, return_tensors="pt"
            )
            with torch.no_grad():
                emb[rows] = lora.mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]).numpy()
        out[t.transcript_id] = emb
        n += len(t.texts)
    return out, n / (time.perf_counter() - started)


def train_mlp(x, y, classes, seed: int, epochs: int = 40) -> Head:
    """A one-hidden-layer MLP (as in training: width, class weights) as a numpy Head."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    index = {c: k for k, c in enumerate(classes)}
    target = torch.tensor([index[v] for v in y])
    weight = class_weights(target.tolist(), len(classes))
    inputs = torch.from_numpy(x)
    net = torch.nn.Sequential(
        torch.nn.Dropout(0.1),
        torch.nn.Linear(x.shape[1], CONTEXT["hidden"]),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(CONTEXT["hidden"], len(classes)),
    )
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs))
        for a in range(0, len(order), 128):
            rows = order[a : a + 128]
            loss = F.cross_entropy(net(inputs[rows]), target[rows], weight=weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return Head(
        classes=classes,
        mean=np.zeros(x.shape[1], np.float32),
        scale=np.ones(x.shape[1], np.float32),
        weights=[net[1].weight.detach().numpy().T, net[4].weight.detach().numpy().T],
        biases=[net[1].bias.detach().numpy(), net[4].bias.detach().numpy()],
    )


def probe(encoder_dir: Path, transcripts, train_ids, dev_ids, seed: int) -> str:
    by_id = {t.transcript_id: t for t in transcripts}
    train, dev = [by_id[i] for i in train_ids], [by_id[i] for i in dev_ids]
    embeddings, speed = embed_all(encoder_dir, transcripts)
    dim = next(iter(embeddings.values())).shape[1]
    scores = []
    for role, classes in (("officer", THERAPIST_CLASSES), ("client", CLIENT_CLASSES)):
        x_train, y_train = features_for(train, [embeddings[t.transcript_id] for t in train], role)
        x_dev, y_dev = features_for(dev, [embeddings[t.transcript_id] for t in dev], role)
        scale = feature_scale(dim, N_CONTEXT, x_train.shape[1] - dim * (N_CONTEXT + 2))
        head = train_mlp(x_train / scale, y_train, classes, seed)
        proba = head.proba(x_dev / scale)
        if role == "officer":
            predicted = [therapist_group(c) for c, _ in decide_therapist(proba, classes)]
            gold, labels = [therapist_group(c) for c in y_dev], MAIN_GROUPS
        else:
            predicted, gold, labels = [classes[k] for k in proba.argmax(axis=1)], y_dev, classes
        scores.append(confusion(gold, predicted, labels)["macro_f1"])
    return f"{encoder_dir.parent.name}/{encoder_dir.name}: therapist 4-class {scores[0]:.3f}, client 3-class {scores[1]:.3f}, {speed:.0f} utt/s (fp32)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoders", type=Path, nargs="*")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "annomi")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    transcripts = load_annomi(args.data)
    train_ids, dev_ids = split_transcripts([t.transcript_id for t in transcripts], args.seed, 0.2)
    for encoder_dir in args.encoders or [lora.base_model_dir()]:
        print(probe(encoder_dir, transcripts, train_ids, dev_ids, args.seed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
