"""The MI context network in torch, for training: the same network as :mod:`sessioncoder.coding.mi.context`.

``arrays()`` gives the weights under the names the numpy network reads, and
``check_equal`` (run by ``train_mi_model.py`` before it saves anything) makes
sure the two compute the same logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sessioncoder.coding.mi.context import MASKED, ContextNet


class Layer(nn.Module):
    def __init__(self, d: int, heads: int, window: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff1, self.ff2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.rel = nn.Parameter(torch.zeros(heads, 2 * (2 * window + 1)))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, index: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        n, d = h.shape
        dh = d // self.heads
        qkv = self.qkv(self.ln1(h)).reshape(n, 3, self.heads, dh).permute(1, 2, 0, 3)
        q, k, v = qkv[0], qkv[1], qkv[2]
        bias = torch.where(inside[None], self.rel[:, index], torch.tensor(MASKED))
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh) + bias, dim=-1)
        mixed = (self.drop(weights) @ v).permute(1, 0, 2).reshape(n, d)
        h = h + self.drop(self.out(mixed))
        return h + self.drop(self.ff2(torch.relu(self.ff1(self.ln2(h)))))


class ContextModel(nn.Module):
    """MLP over each feature row, joined with a banded transformer over the session's rows."""

    def __init__(
        self, settings: dict, n_features: int, inv_scale: np.ndarray, n_therapist: int, n_client: int
    ):
        super().__init__()
        self.settings = settings
        d, hidden = settings["d_model"], settings["hidden"]
        self.register_buffer("inv_scale", torch.from_numpy(inv_scale.astype(np.float32)))
        self.mlp = nn.Linear(n_features, hidden)
        self.inp = nn.Linear(settings["dim"] + settings["n_token"], d)
        self.blocks = nn.ModuleList(
            Layer(d, settings["heads"], settings["window"], settings["ffn"], settings["dropout"])
            for _ in range(settings["layers"])
        )
        self.final = nn.LayerNorm(d)
        self.therapist = nn.Linear(hidden + d, n_therapist)
        self.client = nn.Linear(hidden + d, n_client)
        self.drop = nn.Dropout(settings["dropout"])

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        x = features * self.inv_scale
        mlp = self.drop(torch.relu(self.mlp(self.drop(x))))
        start = s["token_start"]
        h = self.inp(torch.cat([x[:, : s["dim"]], x[:, start : start + s["n_token"]]], dim=1))
        n, w = x.shape[0], s["window"]
        offset = torch.arange(n)[None, :] - torch.arange(n)[:, None]
        officer = x[:, start]
        same = (officer[:, None] == officer[None, :]).long()
        index = same * (2 * w + 1) + offset.clamp(-w, w) + w
        inside = offset.abs() <= w
        for block in self.blocks:
            h = block(h, index, inside)
        joined = torch.cat([mlp, self.final(h)], dim=1)
        return self.therapist(joined), self.client(joined)

    def arrays(self) -> dict[str, np.ndarray]:
        """Weights under :class:`ContextNet`'s names (linear weights transposed to ``x @ w``)."""

        def t(p: torch.Tensor) -> np.ndarray:
            return p.detach().numpy().astype(np.float32)

        out = {
            "inv_scale": t(self.inv_scale),
            "mlp_w": t(self.mlp.weight).T,
            "mlp_b": t(self.mlp.bias),
            "in_w": t(self.inp.weight).T,
            "in_b": t(self.inp.bias),
            "final_g": t(self.final.weight),
            "final_b": t(self.final.bias),
            "therapist_w": t(self.therapist.weight).T,
            "therapist_b": t(self.therapist.bias),
            "client_w": t(self.client.weight).T,
            "client_b": t(self.client.bias),
        }
        for k, b in enumerate(self.blocks):
            for name, lin in (("qkv", b.qkv), ("out", b.out), ("ff1", b.ff1), ("ff2", b.ff2)):
                out[f"l{k}_{name}_w"], out[f"l{k}_{name}_b"] = t(lin.weight).T, t(lin.bias)
            for name, ln in (("ln1", b.ln1), ("ln2", b.ln2)):
                out[f"l{k}_{name}_g"], out[f"l{k}_{name}_b"] = t(ln.weight), t(ln.bias)
            out[f"l{k}_rel"] = t(b.rel)
        return {k: np.ascontiguousarray(v) for k, v in out.items()}

    def numpy_net(self) -> ContextNet:
        return ContextNet.from_arrays(self.arrays(), self.settings)


def check_equal(model: ContextModel, features: np.ndarray, atol: float = 1e-4) -> None:
    """The torch and numpy networks give the same logits on ``features`` (raises SystemExit if not)."""
    model.eval()
    with torch.no_grad():
        t_ref, c_ref = (z.numpy() for z in model(torch.from_numpy(features)))
    t_np, c_np = model.numpy_net().logits(features)
    worst = max(float(np.abs(t_ref - t_np).max()), float(np.abs(c_ref - c_np).max()))
    if worst > atol:
        raise SystemExit(f"numpy context network differs from torch by {worst:.2e}")
