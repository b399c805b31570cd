"""The MI coder's context network: self-attention over the neighbouring utterances, in numpy.

Each utterance's feature row (:func:`sessioncoder.coding.mi.features.context_features`)
goes two ways, and their outputs are joined before the two output layers:

* an MLP over the whole row (the 2.x heads: the utterance, its two predecessors,
  its successor and the other speaker's last turn);
* a pre-norm transformer over the session's utterances, where each one attends
  only to those at most ``window`` places away, with a learned bias per head
  for each offset and for same- or other-speaker pairs. Two layers see about
  ten utterances either side, the span M3TCM found best for AnnoMI.

Training (``scripts/mi_context_torch.py``) runs the same network in torch and
checks it equal to this one before saving. Attention is banded, so a long
session is computed in blocks with a margin of ``window * layers`` rows: the
result is the same as one pass over the whole session, with memory bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sessioncoder.errors import ModelError

LAYER_NORM_EPS = 1e-5
MASKED = -1e9  # added to the scores of utterances outside the window
BLOCK_ROWS = 256  # rows computed per block at inference (plus the margin either side)


def layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * gain + bias


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class ContextNet:
    """The trained network as arrays (names as saved by training), plus its shape settings.

    ``dim``: embedding width at the start of each feature row; ``token_start`` and
    ``n_token``: where the own role and surface cues sit in the row; ``role_column``:
    the officer indicator used for same-speaker pairs.
    """

    arrays: dict[str, np.ndarray]
    dim: int
    token_start: int
    n_token: int
    layers: int
    heads: int
    window: int

    @classmethod
    def from_arrays(cls, arrays: Any, settings: dict[str, Any]) -> ContextNet:
        values = (
            {k: np.asarray(arrays[k], dtype=np.float32) for k in arrays.files}
            if hasattr(arrays, "files")
            else {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        )
        net = cls(
            arrays=values,
            dim=int(settings["dim"]),
            token_start=int(settings["token_start"]),
            n_token=int(settings["n_token"]),
            layers=int(settings["layers"]),
            heads=int(settings["heads"]),
            window=int(settings["window"]),
        )
        needed = [
            "inv_scale",
            "mlp_w",
            "mlp_b",
            "in_w",
            "in_b",
            "final_g",
            "final_b",
            "therapist_w",
            "client_w",
        ]
        needed += [
            f"l{k}_{name}" for k in range(net.layers) for name in ("qkv_w", "out_w", "ff1_w", "ff2_w", "rel")
        ]
        missing = [k for k in needed if k not in values]
        if missing:
            raise ModelError(f"MI context network incomplete: missing {', '.join(missing[:3])}")
        return net

    @property
    def margin(self) -> int:
        """Rows either side that can reach a row through the attention layers."""
        return self.window * self.layers

    def logits(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Practitioner and client logits (before temperature) for one session's feature rows, in order."""
        n = features.shape[0]
        therapist = np.zeros((n, self.arrays["therapist_w"].shape[1]), np.float32)
        client = np.zeros((n, self.arrays["client_w"].shape[1]), np.float32)
        for start in range(0, n, BLOCK_ROWS):
            stop = min(n, start + BLOCK_ROWS)
            lo, hi = max(0, start - self.margin), min(n, stop + self.margin)
            t, c = self._forward(features[lo:hi])
            therapist[start:stop], client[start:stop] = t[start - lo : stop - lo], c[start - lo : stop - lo]
        return therapist, client

    def _forward(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = self.arrays
        x = features.astype(np.float32) * a["inv_scale"]
        mlp = np.maximum(x @ a["mlp_w"] + a["mlp_b"], 0.0)
        tokens = np.concatenate(
            [x[:, : self.dim], x[:, self.token_start : self.token_start + self.n_token]], axis=1
        )
        h = tokens @ a["in_w"] + a["in_b"]
        bias = self._attention_bias(x[:, self.token_start])
        for k in range(self.layers):
            h = h + self._attention(layer_norm(h, a[f"l{k}_ln1_g"], a[f"l{k}_ln1_b"]), k, bias)
            ff = np.maximum(
                layer_norm(h, a[f"l{k}_ln2_g"], a[f"l{k}_ln2_b"]) @ a[f"l{k}_ff1_w"] + a[f"l{k}_ff1_b"], 0
            )
            h = h + ff @ a[f"l{k}_ff2_w"] + a[f"l{k}_ff2_b"]
        joined = np.concatenate([mlp, layer_norm(h, a["final_g"], a["final_b"])], axis=1)
        return joined @ a["therapist_w"] + a["therapist_b"], joined @ a["client_w"] + a["client_b"]

    def _attention_bias(self, officer: np.ndarray) -> list[np.ndarray]:
        """Per layer, the (heads, n, n) additive bias: offset x same-speaker table, window mask."""
        n = officer.shape[0]
        offset = np.arange(n)[None, :] - np.arange(n)[:, None]
        inside = np.abs(offset) <= self.window
        same = (officer[:, None] == officer[None, :]).astype(np.int64)
        index = same * (2 * self.window + 1) + np.clip(offset, -self.window, self.window) + self.window
        out = []
        for k in range(self.layers):
            table = self.arrays[f"l{k}_rel"].reshape(self.heads, -1)  # (heads, 2 * (2w + 1))
            out.append(np.where(inside[None], table[:, index], MASKED).astype(np.float32))
        return out

    def _attention(self, h: np.ndarray, k: int, bias: list[np.ndarray]) -> np.ndarray:
        a = self.arrays
        n, d = h.shape
        dh = d // self.heads
        qkv = (h @ a[f"l{k}_qkv_w"] + a[f"l{k}_qkv_b"]).reshape(n, 3, self.heads, dh).transpose(1, 2, 0, 3)
        q, key, v = qkv[0], qkv[1], qkv[2]  # (heads, n, dh)
        weights = softmax(q @ key.transpose(0, 2, 1) / np.sqrt(dh) + bias[k])
        mixed = (weights @ v).transpose(1, 0, 2).reshape(n, d)
        return mixed @ a[f"l{k}_out_w"] + a[f"l{k}_out_b"]
