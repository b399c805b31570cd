"""The semantic coder: codes by nearness to the codebook's own words, beside the rules.

Rules are precise but miss paraphrase ("I'll phone the housing team with you"
is a referral whatever the verb). This coder embeds every utterance with the
sentence encoder the project already ships (the MI model's fine-tuned MiniLM) and compares it
with each code's *prototypes*, which are data in the codebook:

* positives: the code's ``definition``, ``examples`` and ``prototypes``
  (``prototypes`` are further examples that the rules need not match);
* negatives: its ``counter_examples``.

A code is given when the nearest positive is at least the code's
``semantic_threshold`` (set on the tuning half of the STICS dev set by
``scripts/tune_semantic.py``, stored in the codebook) and nearer than the
nearest negative by ``settings.semantic.margin``. A code without a threshold
is left to the rules. Every assignment keeps its evidence: the nearest
prototype and the similarity, so a trainer sees *why*.

So a team's codebook changes behaviour without code changes: new examples,
counter-examples or thresholds are picked up on the next run. Prototype
embeddings are computed once per (codebook content, encoder) and cached in
memory and under the model cache directory.

The encoder is the MI model's fine-tuned one by default (``settings.semantic.encoder:
mi``), so each utterance is embedded once for both coders (see
:func:`sessioncoder.coding.code_utterances`); it runs in fp32, so the codes do
not depend on the CPU. ``frozen`` uses the packaged base MiniLM, which is an
int8 build whose similarities can move slightly between CPU families.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sessioncoder.coding.codebook import Codebook
from sessioncoder.coding.topics import is_backchannel
from sessioncoder.schema import CodeAssignment, ModelInfo, Utterance

SOURCE = "semantic"

_lock = threading.Lock()
_memory: dict[str, Prototypes] = {}


@dataclass
class Prototypes:
    """Embedded prototypes of every semantically coded code, stacked for one matrix product."""

    codes: list[str]
    thresholds: np.ndarray  # per code
    pos: np.ndarray  # (n_pos, dim), rows of all codes' positives
    pos_code: np.ndarray  # (n_pos,) index into codes
    pos_text: list[str]
    neg: np.ndarray  # (n_neg, dim)
    neg_code: np.ndarray


def prototype_texts(codebook: Codebook) -> dict[str, tuple[list[str], list[str]]]:
    """(positives, negatives) per code that has a semantic threshold, from the codebook alone."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for code in codebook.codes.values():
        if code.semantic_threshold is None:
            continue
        positives = [code.definition, *(e.text for e in code.examples), *(e.text for e in code.prototypes)]
        out[code.id] = (positives, [e.text for e in code.counter_examples])
    return out


def _key(texts: dict[str, tuple[list[str], list[str]]], encoder_id: str) -> str:
    digest = hashlib.sha256(encoder_id.encode())
    for code in sorted(texts):
        pos, neg = texts[code]
        digest.update(("\x00" + code + "\x01" + "\x02".join(pos) + "\x03" + "\x02".join(neg)).encode())
    return digest.hexdigest()[:24]


def _cache_file(key: str) -> Path | None:
    from sessioncoder.models.store import cache_dir

    try:
        folder = cache_dir() / "prototypes"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{key}.npy"
    except OSError:
        return None  # a read-only home still codes, it just re-embeds


def build_prototypes(codebook: Codebook, encoder) -> Prototypes:
    """Embed the prototypes (cached in memory and on disk, keyed by their texts and the encoder)."""
    texts = prototype_texts(codebook)
    codes = list(texts)
    key = _key(texts, str(getattr(encoder, "onnx_path", getattr(encoder, "name", "encoder"))))
    with _lock:
        if key in _memory:
            return _memory[key]
    flat: list[str] = []
    for code in codes:
        flat.extend(texts[code][0])
        flat.extend(texts[code][1])
    file = _cache_file(key)
    vectors = None
    if file is not None and file.is_file():
        try:
            loaded = np.load(file, allow_pickle=False)
            if loaded.shape[0] == len(flat):
                vectors = loaded
        except (OSError, ValueError):
            vectors = None
    if vectors is None:
        vectors = encoder.encode(flat) if flat else np.zeros((0, 384), dtype=np.float32)
        if file is not None:
            tmp = file.with_suffix(".tmp.npy")
            try:
                np.save(tmp, vectors)
                tmp.replace(file)
            except OSError:
                pass
    pos_rows, pos_code, pos_text, neg_rows, neg_code = [], [], [], [], []
    row = 0
    for i, code in enumerate(codes):
        positives, negatives = texts[code]
        for text in positives:
            pos_rows.append(row)
            pos_code.append(i)
            pos_text.append(text)
            row += 1
        for _ in negatives:
            neg_rows.append(row)
            neg_code.append(i)
            row += 1
    dim = vectors.shape[1] if vectors.ndim == 2 else 384
    protos = Prototypes(
        codes=codes,
        thresholds=np.array([codebook.codes[c].semantic_threshold for c in codes], dtype=np.float32),
        pos=vectors[pos_rows] if pos_rows else np.zeros((0, dim), np.float32),
        pos_code=np.array(pos_code, dtype=np.int64),
        pos_text=pos_text,
        neg=vectors[neg_rows] if neg_rows else np.zeros((0, dim), np.float32),
        neg_code=np.array(neg_code, dtype=np.int64),
    )
    with _lock:
        _memory[key] = protos
    return protos


def _per_code_max(sims: np.ndarray, owner: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Best similarity and the row it came from, per utterance and code."""
    best = np.full((sims.shape[0], n_codes), -1.0, dtype=np.float32)
    arg = np.full((sims.shape[0], n_codes), -1, dtype=np.int64)
    for j in range(n_codes):
        cols = np.flatnonzero(owner == j)
        if cols.size:
            block = sims[:, cols]
            k = block.argmax(axis=1)
            best[:, j] = block[np.arange(block.shape[0]), k]
            arg[:, j] = cols[k]
    return best, arg


class SemanticCoder:
    """Codes from prototype similarity; needs a sentence encoder with ``encode(texts) -> (n, dim)``."""

    name = "semantic"
    owned_codes: frozenset[str] = frozenset()

    def __init__(self, codebook: Codebook, encoder) -> None:
        self.codebook = codebook
        self.encoder = encoder
        self.settings = codebook.settings.semantic
        self.prototypes = build_prototypes(codebook, encoder)

    def similarities(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(best positive, its prototype row, best negative) per utterance and code."""
        p = self.prototypes
        n_codes = len(p.codes)
        best_pos, arg_pos = _per_code_max(emb @ p.pos.T, p.pos_code, n_codes)
        if p.neg.shape[0]:
            best_neg, _ = _per_code_max(emb @ p.neg.T, p.neg_code, n_codes)
        else:
            best_neg = np.full_like(best_pos, -1.0)
        return best_pos, arg_pos, best_neg

    def code(self, utterances: list[Utterance]) -> list[list[CodeAssignment]]:
        emb = self.encoder.encode([u.text for u in utterances]) if utterances else np.zeros((0, 384))
        return self.code_embedded(utterances, emb)

    def code_embedded(self, utterances: list[Utterance], emb: np.ndarray) -> list[list[CodeAssignment]]:
        """Codes given precomputed embeddings of the utterances (shared with the MI model)."""
        if not utterances or not self.prototypes.codes:
            return [[] for _ in utterances]
        return self.assign(utterances, self.similarities(np.asarray(emb, dtype=np.float32)))

    def assign(
        self,
        utterances: list[Utterance],
        sims: tuple[np.ndarray, np.ndarray, np.ndarray],
        thresholds: np.ndarray | None = None,
    ) -> list[list[CodeAssignment]]:
        """Codes from similarities (``thresholds`` per code: the codebook's unless given, for tuning)."""
        result: list[list[CodeAssignment]] = [[] for _ in utterances]
        p = self.prototypes
        best_pos, arg_pos, best_neg = sims
        limits = p.thresholds if thresholds is None else thresholds
        fires = (best_pos >= limits[None, :]) & (best_pos >= best_neg + self.settings.margin)
        applies = [self.codebook.codes[c].applies_to for c in p.codes]
        skip = [is_backchannel(self.codebook, u.text) for u in utterances]  # coded by convention as nothing
        for i, j in zip(*np.nonzero(fires), strict=True):
            if skip[i]:
                continue
            role = utterances[i].role
            if applies[j] != "any" and applies[j] != role:
                continue  # an officer code on a client line is worse than none
            sim = float(best_pos[i, j])
            threshold = float(limits[j])
            # Confidence rises from 0.5 at the threshold to 0.95 at identity: the threshold is where
            # the tuning half said a trainer would more likely agree than not.
            confidence = 0.5 + 0.45 * (sim - threshold) / max(1e-6, 1.0 - threshold)
            nearest = p.pos_text[int(arg_pos[i, j])]
            result[i].append(
                CodeAssignment(
                    code=p.codes[j],
                    confidence=round(min(0.95, max(0.5, confidence)), 4),
                    source=SOURCE,
                    rule=f"semantic:{p.codes[j]}",
                    evidence=f"nearest example ({sim:.2f}): {nearest}",
                )
            )
        return result

    def model_info(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                task="semantic-coder",
                name=f"prototypes-{self.codebook.id}-{self.codebook.version}",
                version=self.codebook.version,
                path=str(getattr(self.encoder, "onnx_path", "")) or None,
                sha256=self.codebook.sha256 or None,
                licence="codebook prototypes; encoder as listed for the MI model",
            )
        ]


def semantic_encoder(codebook: Codebook, mi_coder=None):
    """The encoder the codebook asks for: the MI model's (shared embeddings) or the packaged frozen one."""
    if codebook.settings.semantic.encoder == "mi" and mi_coder is not None:
        return mi_coder.encoder
    from sessioncoder.models.encoder import get_encoder

    return get_encoder()
