"""The trained MI coder: practitioner micro-skills and client talk type from context.

Trained on AnnoMI by ``scripts/train_mi_model.py`` (see ``models/mi/MODEL_CARD.md``).
Every utterance is embedded once, alone, by all-MiniLM-L6-v2 fine-tuned on
AnnoMI with LoRA adapters (the adapters ship in ``models/mi/``, the base weights
come from their package; see :mod:`sessioncoder.lora`). Each utterance's
feature vector joins that embedding with those of the previous two utterances,
the next one and the other speaker's last turn, its product with the latter
(reflections echo it), roles, and surface cues (question marks, wh-words,
reflection stems, permission phrases; :func:`hand_features`). Two heads share
one hidden layer: a practitioner head (8 classes) on officer utterances and a
client head (change/neutral/sustain) on client utterances. They are numpy MLPs
stored as ``.npz`` weights plus JSON config, with a temperature fitted on the
dev transcripts so the probabilities are calibrated. Encoder and heads were
trained together (``scripts/train_mi_model.py``).

Role ``unknown`` utterances get no MI code: a practitioner code on a client's
words (or the reverse) is worse than a missing one, and the role assignment
upstream labels almost every utterance.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..fileio import sha256_file
from ..schema import CodeAssignment, ModelInfo, Utterance
from ..text import STOP_WORDS

MODEL_NAME = "sessioncoder-mi"
FEATURE_VERSION = 2

# Practitioner head classes (AnnoMI main behaviour x subtype) and the code each one gives.
THERAPIST_CLASSES: tuple[str, ...] = (
    "other",
    "question.open",
    "question.closed",
    "reflection.simple",
    "reflection.complex",
    "input.information",
    "input.advice",
    "input.negotiation",  # AnnoMI negotiation/options: suggestions framed as the client's choice
)
CLIENT_CLASSES: tuple[str, ...] = ("neutral", "change", "sustain")

THERAPIST_CLASS_CODE: dict[str, str | None] = {
    "other": None,
    "question.open": "mi.open_question",
    "question.closed": "mi.closed_question",
    "reflection.simple": "mi.simple_reflection",
    "reflection.complex": "mi.complex_reflection",
    "input.information": "mi.giving_information",
    "input.advice": "mi.persuade",  # or mi.advice_with_permission when permission was asked
    "input.negotiation": "mi.advice_with_permission",
}
CLIENT_CLASS_CODE: dict[str, str | None] = {
    "neutral": None,
    "change": "client.change_talk",
    "sustain": "client.sustain_talk",
}
PRACTITIONER_CODES = frozenset(
    {
        "mi.open_question",
        "mi.closed_question",
        "mi.simple_reflection",
        "mi.complex_reflection",
        "mi.giving_information",
        "mi.persuade",
        "mi.advice_with_permission",
    }
)
CLIENT_CODES = frozenset({"client.change_talk", "client.sustain_talk"})
OWNED_CODES = PRACTITIONER_CODES | CLIENT_CODES

# Asking or having asked permission turns advice into MI-adherent advice.
PERMISSION_RE = re.compile(
    r"\b(would it be (ok|okay|alright|all right)|is it (ok|okay|alright|all right) (if|with you)|"
    r"(can|could|may) i (share|tell|offer|give|suggest|make a suggestion|mention)|"
    r"if you('d| would)? like|would you like (me to|to hear|some)|do you mind if|"
    r"would you be (interested|open|willing)|mind if i|up to you|your (choice|call|decision))\b",
    re.IGNORECASE,
)
_WH_RE = re.compile(
    r"^(?:\W*(?:so|and|okay|ok|well|um|uh|now|but|yeah|right|alright)\W+)*(what|how|why|when|where|who|which|tell me|describe)\b",
    re.I,
)
_AUX_RE = re.compile(
    r"^(?:\W*(?:so|and|okay|ok|well|um|uh|now|but|yeah|right|alright)\W+)*"
    r"(do|does|did|are|is|was|were|can|could|would|will|have|has|had|should|may|might|any|anything)\b",
    re.I,
)
_REFLECT_RE = re.compile(
    r"\b(sounds like|it sounds|you feel|you're feeling|you are feeling|so you|you've been|"
    r"you're saying|you are saying|you want|you'd like|you don't want|part of you|on one hand|"
    r"on the other hand|it seems|seems like|you're worried|you're not sure)\b",
    re.I,
)
_WORD_RE = re.compile(r"[a-z']+")

HAND_FEATURES = (
    "has_q",
    "ends_q",
    "wh_start",
    "aux_start",
    "reflect_stem",
    "permission",
    "log_words",
    "you_rate",
    "i_rate",
    "echo_other",
    "position",
    "prev_permission",
)


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _content(words: list[str]) -> set[str]:
    return {w for w in words if w not in STOP_WORDS and len(w) > 2}


def last_other_index(roles: list[str]) -> list[int]:
    """For each utterance, the index of the last earlier utterance by a different known role (-1 if none)."""
    out: list[int] = []
    last: dict[str, int] = {}
    for i, role in enumerate(roles):
        others = [j for r, j in last.items() if r != role and r != "unknown"]
        out.append(max(others) if others else -1)
        last[role] = i
    return out


def hand_features(texts: list[str], roles: list[str]) -> np.ndarray:
    """Surface and context cues per utterance (see HAND_FEATURES)."""
    n = len(texts)
    other = last_other_index(roles)
    words = [_words(t) for t in texts]
    content = [_content(w) for w in words]
    permission = [bool(PERMISSION_RE.search(t)) for t in texts]
    rows = np.zeros((n, len(HAND_FEATURES)), dtype=np.float32)
    for i, text in enumerate(texts):
        w = words[i]
        nw = max(len(w), 1)
        j = other[i]
        echo = len(content[i] & content[j]) / max(len(content[i]), 1) if j >= 0 else 0.0
        # permission asked by the same speaker in the previous two turns of that speaker
        prev_same = [k for k in range(i - 1, max(-1, i - 4), -1) if roles[k] == roles[i]][:2]
        rows[i] = (
            "?" in text,
            text.rstrip().rstrip("-").rstrip().endswith("?"),
            bool(_WH_RE.search(text)),
            bool(_AUX_RE.search(text)),
            bool(_REFLECT_RE.search(text)),
            permission[i],
            np.log1p(len(w)) / 5.0,
            sum(x in ("you", "your", "you're", "yourself") for x in w) / nw,
            sum(x in ("i", "me", "my", "i'm", "myself") for x in w) / nw,
            echo,
            i / max(n - 1, 1),
            any(permission[k] for k in prev_same),
        )
    return rows


_ROLE_ONEHOT = {"officer": (1.0, 0.0), "client": (0.0, 1.0)}
NEIGHBOUR_CUES = 7  # a neighbour's first HAND_FEATURES: its surface cues (question mark ... permission)


def context_index(roles: list[str], n_prev: int, n_next: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each utterance's context and which of them exist.

    Columns: the ``n_prev`` utterances before (nearest first), the ``n_next``
    after, then the other speaker's last turn. Returns ``(index, mask)``, both
    ``(n, n_prev + n_next + 1)``; missing rows have index 0 and mask 0.
    """
    n = len(roles)
    other = last_other_index(roles)
    offsets = [*range(-1, -n_prev - 1, -1), *range(1, n_next + 1)]
    index = np.zeros((n, len(offsets) + 1), dtype=np.int64)
    mask = np.zeros(index.shape, dtype=np.float32)
    for i in range(n):
        for k, offset in enumerate(offsets):
            if 0 <= i + offset < n:
                index[i, k], mask[i, k] = i + offset, 1.0
        if other[i] >= 0:
            index[i, -1], mask[i, -1] = other[i], 1.0
    return index, mask


def permission_asked(hand: np.ndarray) -> np.ndarray:
    """Per utterance, whether the speaker asks (or just asked) permission, from :func:`hand_features` rows."""
    return hand[:, [HAND_FEATURES.index("permission"), HAND_FEATURES.index("prev_permission")]].any(axis=1)


def static_features(
    texts: list[str],
    roles: list[str],
    index: np.ndarray,
    mask: np.ndarray,
    hand: np.ndarray | None = None,
) -> np.ndarray:
    """The non-embedding features: own role and cues, and each positional neighbour's role and surface cues.

    ``hand``: the session's :func:`hand_features`, when the caller has them already.
    """
    role = np.array([_ROLE_ONEHOT.get(r, (0.0, 0.0)) for r in roles], dtype=np.float32).reshape(-1, 2)
    if hand is None:
        hand = hand_features(texts, roles)
    parts = [role, hand]
    for k in range(index.shape[1] - 1):  # the other speaker's role is implied; their words echo in hand
        present = mask[:, k : k + 1]
        parts.extend([role[index[:, k]] * present, hand[index[:, k], :NEIGHBOUR_CUES] * present])
    return np.hstack(parts).astype(np.float32)


def context_features(emb: np.ndarray, index: np.ndarray, mask: np.ndarray, static: np.ndarray) -> np.ndarray:
    """One session's feature rows: each embedding, its context's embeddings, its product with the other speaker's last.

    ``emb`` holds one row per utterance in order. The product lets a linear
    layer see word-by-word overlap with what the other speaker just said,
    which is what a reflection is. Training runs the same algebra on torch
    tensors (``scripts/train_mi_model.py``), so the two cannot drift apart.
    """
    n = emb.shape[0]
    context = emb[index] * mask[:, :, None]
    return np.hstack([emb, context.reshape(n, -1), emb * context[:, -1], static]).astype(np.float32)


def session_features(
    emb: np.ndarray,
    texts: list[str],
    roles: list[str],
    n_prev: int,
    n_next: int,
    hand: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`context_features` for one session's embeddings, texts and roles."""
    index, mask = context_index(roles, n_prev, n_next)
    return context_features(emb, index, mask, static_features(texts, roles, index, mask, hand))


def feature_scale(dim: int, n_context: int, n_static: int) -> np.ndarray:
    """Fixed input scaling for :func:`context_features`: unit vectors' entries are ~1/sqrt(dim), so boost them."""
    return np.concatenate(
        [
            np.full(dim * (1 + n_context), 1 / 5, np.float32),
            np.full(dim, 1 / 20, np.float32),  # products of two unit vectors are smaller still
            np.ones(n_static, np.float32),
        ]
    )


# --------------------------------------------------------------------------- heads


@dataclass
class Head:
    """Standardise, then an MLP (ReLU hidden layers) or softmax regression, then temperature."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    temperature: float = 1.0

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean) / self.scale
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if k < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x) / self.temperature
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        arrays = {
            f"{prefix}_mean": self.mean.astype(np.float32),
            f"{prefix}_scale": self.scale.astype(np.float32),
        }
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"{prefix}_w{k}"] = w.astype(np.float32)
            arrays[f"{prefix}_b{k}"] = b.astype(np.float32)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str, classes: tuple[str, ...], temperature: float) -> Head:
        """The head stored under ``prefix`` (arrays it shares with other heads under ``shared``, see :func:`heads_to_arrays`)."""

        def array(name: str) -> np.ndarray:
            key = f"{prefix}_{name}" if f"{prefix}_{name}" in arrays else f"{SHARED_PREFIX}_{name}"
            return np.asarray(arrays[key], dtype=np.float32)

        def has(name: str) -> bool:
            return f"{prefix}_{name}" in arrays or f"{SHARED_PREFIX}_{name}" in arrays

        weights, biases = [], []
        k = 0
        while has(f"w{k}"):
            weights.append(array(f"w{k}"))
            biases.append(array(f"b{k}"))
            k += 1
        if not weights:
            raise ModelError(f"model weights for head {prefix!r} missing")
        if weights[-1].shape[-1] != len(classes):
            raise ModelError(
                f"head {prefix!r} has {weights[-1].shape[-1]} outputs for {len(classes)} classes"
            )
        return cls(
            classes=classes,
            mean=array("mean"),
            scale=array("scale"),
            weights=weights,
            biases=biases,
            temperature=float(temperature),
        )


SHARED_PREFIX = "shared"


def heads_to_arrays(heads: dict[str, Head]) -> dict[str, np.ndarray]:
    """All heads' arrays for one ``.npz``, storing once (as ``shared_*``) any array equal in every head.

    The heads share their hidden layer, so this halves the file.

    >>> a = Head(("x", "y"), np.zeros(2), np.ones(2), [np.eye(2), np.eye(2)], [np.zeros(2), np.ones(2)])
    >>> b = Head(("p", "q"), np.zeros(2), np.ones(2), [np.eye(2), -np.eye(2)], [np.zeros(2), np.zeros(2)])
    >>> sorted(heads_to_arrays({"a": a, "b": b}))
    ['a_b1', 'a_w1', 'b_b1', 'b_w1', 'shared_b0', 'shared_mean', 'shared_scale', 'shared_w0']
    """
    per_head = {name: head.to_arrays(name) for name, head in heads.items()}
    suffixes = {key.split("_", 1)[1] for arrays in per_head.values() for key in arrays}
    out: dict[str, np.ndarray] = {}
    for suffix in sorted(suffixes):
        values = [arrays.get(f"{name}_{suffix}") for name, arrays in per_head.items()]
        if len(values) > 1 and all(v is not None and np.array_equal(v, values[0]) for v in values):
            out[f"{SHARED_PREFIX}_{suffix}"] = values[0]
        else:
            out.update(
                {f"{name}_{suffix}": v for name, v in zip(per_head, values, strict=True) if v is not None}
            )
    return out


def therapist_group(label: str) -> str:
    """AnnoMI main_therapist_behaviour of a practitioner class."""
    return {"question": "question", "reflection": "reflection", "input": "therapist_input"}.get(
        label.split(".")[0], "other"
    )


MAIN_GROUPS: tuple[str, ...] = ("reflection", "question", "therapist_input", "other")


def group_proba(proba: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Sum class probabilities into the 4 AnnoMI main behaviours (order MAIN_GROUPS)."""
    out = np.zeros((proba.shape[0], len(MAIN_GROUPS)), dtype=proba.dtype)
    for k, label in enumerate(classes):
        out[:, MAIN_GROUPS.index(therapist_group(label))] += proba[:, k]
    return out


def decide_therapist(proba: np.ndarray, classes: tuple[str, ...]) -> list[tuple[str, float]]:
    """Pick the main behaviour by summed probability, then its most likely subtype.

    Returns (class, confidence) per row; confidence is the subtype's probability.
    """
    groups = group_proba(proba, classes)
    out = []
    for i in range(proba.shape[0]):
        g = MAIN_GROUPS[int(groups[i].argmax())]
        members = [k for k, c in enumerate(classes) if therapist_group(c) == g]
        best = max(members, key=lambda k: proba[i, k])
        out.append((classes[best], float(proba[i, best])))
    return out


# --------------------------------------------------------------------------- coder


def default_model_dir() -> Path:
    """The shipped ``models/mi/`` next to the package (editable install or source tree)."""
    return Path(__file__).resolve().parents[2] / "models" / "mi"


class MIModelCoder:
    """Codes MI practitioner micro-skills and client change/sustain talk with the trained heads."""

    name = MODEL_NAME
    owned_codes: frozenset[str] = OWNED_CODES

    def __init__(self, model_dir: Path, config: dict[str, Any], therapist: Head, client: Head) -> None:
        self.model_dir = model_dir
        self.config = config
        self.therapist = therapist
        self.client = client
        self.version = str(config.get("version", "0"))
        self.n_prev = int(config["features"]["n_prev"])
        self.n_next = int(config["features"]["n_next"])
        self.max_length = int(config["features"]["max_length"])
        self._encoder = None
        self._encoder_onnx: Path | None = None

    def encoder_onnx(self) -> Path | None:
        """The fine-tuned encoder (adapters merged, built once and cached), or None for the frozen one."""
        adapters = self.config["features"].get("adapters")
        if not adapters:
            return None
        if self._encoder_onnx is None:  # looking it up hashes the 90 MB base weights: once per coder
            from ..lora import adapted_encoder_onnx

            self._encoder_onnx = adapted_encoder_onnx(
                self.model_dir / adapters, adapters_sha256=self.config.get("adapters_sha256")
            )
        return self._encoder_onnx

    def make_encoder(self, threads: int | None = None):
        """A sentence encoder for this model with ``threads`` workers (default: the process-wide one)."""
        from ..encoder import SentenceEncoder, get_encoder

        if threads is None:
            return get_encoder(max_length=self.max_length, onnx_path=self.encoder_onnx())
        return SentenceEncoder(max_length=self.max_length, threads=threads, onnx_path=self.encoder_onnx())

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self.make_encoder()
        return self._encoder

    # -- features shared with training
    def features(
        self,
        texts: list[str],
        roles: list[str],
        emb: np.ndarray | None = None,
        hand: np.ndarray | None = None,
    ) -> np.ndarray:
        if emb is None:
            emb = self.encoder.encode(texts)
        return session_features(emb, texts, roles, self.n_prev, self.n_next, hand)

    def predict(
        self,
        texts: list[str],
        roles: list[str],
        emb: np.ndarray | None = None,
        hand: np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        """(class, probability) per utterance: a practitioner class for officer, client class for client.

        Unknown-role utterances get ``("", 0.0)``. ``emb`` and ``hand``: precomputed
        embeddings and :func:`hand_features`, if the caller has them.
        """
        out: list[tuple[str, float]] = [("", 0.0)] * len(texts)
        if not texts:
            return out
        x = self.features(texts, roles, emb, hand)
        officer = [i for i, r in enumerate(roles) if r == "officer"]
        client = [i for i, r in enumerate(roles) if r == "client"]
        if officer:
            proba = self.therapist.proba(x[officer])
            for i, decided in zip(officer, decide_therapist(proba, self.therapist.classes), strict=True):
                out[i] = decided
        if client:
            proba = self.client.proba(x[client])
            for i, row in zip(client, proba, strict=True):
                k = int(row.argmax())
                out[i] = (self.client.classes[k], float(row[k]))
        return out

    def code(self, utterances: list[Utterance]) -> list[list[CodeAssignment]]:
        return self.code_texts([u.text for u in utterances], [u.role for u in utterances])

    def code_texts(
        self, texts: list[str], roles: list[str], emb: np.ndarray | None = None
    ) -> list[list[CodeAssignment]]:
        """Codes for one session's utterances given as texts and roles (``emb``: precomputed embeddings)."""
        result: list[list[CodeAssignment]] = [[] for _ in texts]
        hand = hand_features(texts, roles)
        asked = permission_asked(hand)
        for i, (label, confidence) in enumerate(self.predict(texts, roles, emb, hand)):
            if not label:
                continue
            code = (THERAPIST_CLASS_CODE if roles[i] == "officer" else CLIENT_CLASS_CODE).get(label)
            if code is None:
                continue
            evidence = None
            if label == "input.advice" and asked[i]:
                code = "mi.advice_with_permission"
                match = PERMISSION_RE.search(texts[i])
                evidence = match.group(0) if match else "permission asked in a previous turn"
            result[i].append(
                CodeAssignment(
                    code=code,
                    confidence=round(min(max(confidence, 0.0), 1.0), 4),
                    source="model",
                    rule=self.name,
                    evidence=evidence,
                )
            )
        return result

    def model_info(self) -> list[ModelInfo]:
        weights = self.model_dir / "heads.npz"
        return [
            ModelInfo(
                task="mi-classifier",
                name=f"{self.name}-{self.version}",
                version=self.version,
                path=str(weights),
                sha256=self.config.get("weights_sha256"),
                licence=self.config.get("licence"),
            ),
            ModelInfo(
                task="sentence-encoder",
                name=self.config["features"]["encoder"],
                version=self.config["features"].get("base_encoder"),
                path=str(self.encoder.onnx_path) if self._encoder is not None else None,
                sha256=self.config.get("adapters_sha256"),
                licence="Apache-2.0 (base weights); adapters trained on AnnoMI, see MODEL_CARD.md",
            ),
        ]


_coder_lock = threading.Lock()
_coders: dict[Path, MIModelCoder] = {}


def load_mi_coder(path: Path | None = None) -> MIModelCoder:
    """Load the MI coder from ``path`` (default: the shipped ``models/mi/``), once per process.

    Raises ModelError with one line when the model files are missing or do not match.
    """
    model_dir = Path(path) if path is not None else default_model_dir()
    model_dir = model_dir.resolve()
    with _coder_lock:
        if model_dir in _coders:
            return _coders[model_dir]
        config_path = model_dir / "config.json"
        weights_path = model_dir / "heads.npz"
        if not config_path.is_file() or not weights_path.is_file():
            raise ModelError(f"MI model not found in {model_dir} (need config.json and heads.npz)")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            if int(config.get("feature_version", -1)) != FEATURE_VERSION:
                raise ModelError(
                    f"MI model {config_path} has feature version {config.get('feature_version')}, "
                    f"this sessioncoder needs {FEATURE_VERSION}"
                )
            for key, name in (
                ("weights_sha256", "heads.npz"),
                ("adapters_sha256", config["features"].get("adapters")),
            ):
                if name and config.get(key) and sha256_file(model_dir / name) != config[key]:
                    raise ModelError(
                        f"MI model file {model_dir / name} does not match the sha256 in config.json"
                    )
            with np.load(weights_path, allow_pickle=False) as arrays:
                therapist = Head.from_arrays(
                    arrays,
                    "therapist",
                    tuple(config["therapist"]["classes"]),
                    config["therapist"]["temperature"],
                )
                client = Head.from_arrays(
                    arrays, "client", tuple(config["client"]["classes"]), config["client"]["temperature"]
                )
        except ModelError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot load MI model from {model_dir}: {exc}") from exc
        coder = MIModelCoder(model_dir, config, therapist, client)
        _coders[model_dir] = coder
        return coder


# --------------------------------------------------------------------------- AnnoMI (training and evaluation)


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
    from ..agreement import Coding, compare

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
