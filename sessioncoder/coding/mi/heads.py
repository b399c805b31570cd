"""The MI coder's heads: numpy MLPs over the context features, and how their probabilities become codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sessioncoder.coding.mi.context import softmax
from sessioncoder.errors import ModelError


@dataclass
class Output:
    """One output of the context network: its classes and its calibration temperature."""

    classes: tuple[str, ...]
    temperature: float = 1.0


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
        return softmax(self.logits(x) / self.temperature, axis=1)

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


def decide_rows(
    roles: list[str],
    therapist_proba: np.ndarray,
    client_proba: np.ndarray,
    therapist_classes: tuple[str, ...],
    client_classes: tuple[str, ...],
) -> list[tuple[str, float]]:
    """(class, confidence) per utterance from both outputs' probabilities (one row per utterance).

    Officer rows take the practitioner output (:func:`decide_therapist`), client rows the
    client output's most likely class; unknown roles get ``("", 0.0)``.
    """
    out: list[tuple[str, float]] = [("", 0.0)] * len(roles)
    officer = [i for i, r in enumerate(roles) if r == "officer"]
    for i, decided in zip(
        officer, decide_therapist(therapist_proba[officer], therapist_classes), strict=True
    ):
        out[i] = decided
    for i, r in enumerate(roles):
        if r == "client":
            k = int(client_proba[i].argmax())
            out[i] = (client_classes[k], float(client_proba[i, k]))
    return out
