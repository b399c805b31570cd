"""The MI context network: numpy inference equals the torch network it was trained as, and attends only nearby."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sessioncoder.coding.mi.context import BLOCK_ROWS, ContextNet
from sessioncoder.errors import ModelError

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from mi_context_torch import ContextModel, check_equal  # noqa: E402

DIM, N_TOKEN, N_FEATURES = 16, 5, 40
SETTINGS = {
    "dim": DIM,
    "token_start": 30,
    "n_token": N_TOKEN,
    "hidden": 12,
    "d_model": 16,
    "layers": 2,
    "heads": 4,
    "window": 3,
    "ffn": 24,
    "dropout": 0.1,
}


def _model(seed: int = 0) -> ContextModel:
    torch.manual_seed(seed)
    model = ContextModel(SETTINGS, N_FEATURES, np.full(N_FEATURES, 0.7, np.float32), 8, 3)
    with torch.no_grad():  # the relative biases start at zero; give them values so they are tested
        for block in model.blocks:
            block.rel.normal_()
    return model.eval()


def _features(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[:, SETTINGS["token_start"]] = rng.integers(0, 2, n)  # the officer indicator: speaker pairs
    return x


def test_numpy_network_equals_torch_across_blocks() -> None:
    model = _model()
    x = _features(BLOCK_ROWS + 90)  # more than one block, so the margins are exercised
    with torch.no_grad():
        t_ref, c_ref = (z.numpy() for z in model(torch.from_numpy(x)))
    t, c = model.numpy_net().logits(x)
    assert t.shape == (len(x), 8) and c.shape == (len(x), 3)
    assert np.abs(t - t_ref).max() < 1e-4 and np.abs(c - c_ref).max() < 1e-4
    check_equal(model, x)  # what training runs before saving


def test_attention_reaches_only_the_window() -> None:
    net = _model().numpy_net()
    x = _features(60)
    t, _ = net.logits(x)
    reach = SETTINGS["window"] * SETTINGS["layers"]
    far = x.copy()
    far[30 + reach + 1] += 5.0
    t_far, _ = net.logits(far)
    assert np.allclose(t_far[30], t[30], atol=1e-5)  # beyond two windows: no influence
    near = x.copy()
    near[30 + SETTINGS["window"]] += 5.0
    t_near, _ = net.logits(near)
    assert not np.allclose(t_near[30], t[30], atol=1e-3)  # a neighbour in the window changes it


def test_incomplete_weights_are_one_line_error() -> None:
    arrays = _model().arrays()
    del arrays["l1_rel"]
    with pytest.raises(ModelError, match="missing l1_rel"):
        ContextNet.from_arrays(arrays, SETTINGS)


def test_pair_ids_put_the_previous_turns_tail_first_and_pool_the_utterance() -> None:
    from train_mi_model import pair_ids

    packed = [[101, 7, 8, 9, 102], [101, 20, 21, 102], [101, 30, 102]]
    assert pair_ids(packed, 0) == [(ids, 0) for ids in packed]  # each alone, all pooled
    paired = pair_ids(packed, 2)
    assert paired[0] == (packed[0], 0)  # nothing before the first
    assert paired[1] == ([101, 8, 9, 102, 20, 21, 102], 4)  # [CLS] 8 9 [SEP] | 20 21 [SEP]
    assert paired[2] == ([101, 20, 21, 102, 30, 102], 4)
    ids, start = paired[1]
    assert ids[start:] == packed[1][1:]  # the pooled part is the utterance and its [SEP]
