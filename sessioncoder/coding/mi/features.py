"""Features of the MI coder: each utterance with its context, as numbers.

The classes each head predicts, the codes they give, surface cues
(:func:`hand_features`) and the context algebra (:func:`context_features`) are
defined once here and shared by inference and ``scripts/train_mi_model.py``.
"""

from __future__ import annotations

import re

import numpy as np

from sessioncoder.text import STOP_WORDS

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


def class_code(role: str, label: str, permission: bool) -> str | None:
    """The code a head's class gives (None: no code); advice after asking permission is MI-adherent.

    >>> class_code("officer", "input.advice", permission=True)
    'mi.advice_with_permission'
    >>> class_code("client", "neutral", permission=False) is None
    True
    """
    if label == "input.advice" and permission:
        return "mi.advice_with_permission"
    return (THERAPIST_CLASS_CODE if role == "officer" else CLIENT_CLASS_CODE).get(label)


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
