"""LoRA adapters: what training saves, merged into the packaged MiniLM, equals the adapted network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from sessioncoder.errors import ModelError
from sessioncoder.models import lora
from sessioncoder.models.encoder import SentenceEncoder

TEXTS = ["So you'd like to cut down on the drinking.", "No.", "What would help you keep the job?"]


@pytest.fixture(scope="module")
def adapted():
    """A base model with rank-2 adapters set to random values, and its saved arrays."""
    torch.manual_seed(0)
    model = lora.load_base_model()
    lora.inject_lora(model, rank=2, alpha=4.0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_b" in name:
                param.normal_(0, 0.2)
            elif name.endswith("LayerNorm.bias"):
                param.add_(0.01)
    return model, lora.adapter_arrays(model, rank=2, alpha=4.0)


def _hidden(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.numpy()


def test_only_adapters_layer_norms_and_biases_train(adapted):
    model, arrays = adapted
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "LayerNorm" in n or n.endswith(".bias") for n in trainable)
    assert not any("word_embeddings" in n for n in trainable)
    assert sum(1 for k in arrays if k.endswith(".lora_a")) == 6 * len(lora.LORA_TARGETS)


def test_merged_base_equals_adapted_model(adapted):
    model, arrays = adapted
    ids = torch.tensor([[101, 2061, 2017, 1005, 1040, 2066, 2000, 102]])
    merged = lora.load_base_model()
    before = _hidden(merged, ids)
    merge_arrays = {k: np.asarray(v) for k, v in arrays.items()}
    lora.merge_adapters(merged, merge_arrays)
    after = _hidden(merged, ids)
    assert np.allclose(after, _hidden(model.eval(), ids), atol=1e-4)
    assert not np.allclose(after, before, atol=1e-3)  # the adapters changed something


def test_adapter_that_fits_no_layer_is_a_model_error(adapted):
    _, arrays = adapted
    bad = dict(arrays)
    bad["encoder.layer.9.attention.self.query.lora_a"] = bad["encoder.layer.0.attention.self.query.lora_a"]
    with pytest.raises(ModelError, match="matches no layer"):
        lora.merge_adapters(lora.load_base_model(), bad)
    bad = dict(arrays)
    bad["encoder.layer.0.output.LayerNorm.weight"] = np.ones(7, np.float32)
    with pytest.raises(ModelError, match="does not fit"):
        lora.merge_adapters(lora.load_base_model(), bad)


def test_encoder_is_built_once_cached_unquantised_and_equal_to_torch(adapted, tmp_path, no_network, caplog):
    model, arrays = adapted
    path = tmp_path / "adapters.npz"
    np.savez(path, **arrays)
    with caplog.at_level("WARNING"):
        onnx_path = lora.adapted_encoder_onnx(path, cache_root=tmp_path / "cache")
    assert not [r for r in caplog.records if "quantization" in r.getMessage()]  # no URL-bearing advice
    assert lora.build_of(onnx_path) == lora.SHIPPED_BUILD == "fp32"
    assert onnx_path.stat().st_size > 80 * 1024 * 1024  # fp32 weights (90 MB), not int8 (23 MB)
    assert [p.name for p in onnx_path.parent.iterdir()] == [onnx_path.name]  # no temporary files left
    stamp = onnx_path.stat().st_mtime_ns
    assert lora.adapted_encoder_onnx(path, cache_root=tmp_path / "cache") == onnx_path
    assert onnx_path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not no_network

    encoder = SentenceEncoder(onnx_path=onnx_path)
    assert encoder.quantisation == "none (fp32)"
    onnx = encoder.encode(TEXTS)
    fp32 = lora.torch_embeddings(model.eval(), encoder.token_ids(TEXTS))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(lora.base_model_dir()), local_files_only=True)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        padded = lora.mean_pool(model.eval()(**batch).last_hidden_state, batch["attention_mask"]).numpy()
    np.testing.assert_allclose(fp32, padded, atol=1e-5)  # the reference helper is plain fp32 torch
    np.testing.assert_allclose(onnx, fp32, atol=1e-4)  # unquantised: the adapted network itself
    # and the adapted encoder is not the frozen one
    assert (onnx * SentenceEncoder().encode(TEXTS)).sum(axis=1).min() < 0.999


def test_cache_name_changes_with_the_build():
    """An int8 file cached by an older release is never taken for today's build, nor one build for another."""
    names = {lora.encoder_cache_name("a" * 64, "b" * 64, build) for build in lora.BUILDS}
    assert len(names) == len(lora.BUILDS)
    assert all(lora.build_of(Path(n)) in lora.BUILDS for n in names)
    assert lora.build_of(Path("minilm-mi-62821c793e9eb86d.int8.onnx")) == "int8"
    # the old key was the adapters' and base weights' hash alone: the new names never equal it
    old = hashlib.sha256(f"{'a' * 64}:{'b' * 64}".encode()).hexdigest()[:16]
    assert all(old not in n for n in names)
    assert lora.build_of(Path("model.onnx")) is None
    with pytest.raises(ModelError, match="unknown encoder build"):
        lora.encoder_cache_name("a", "b", "int4")


def test_missing_adapters_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="adapters not found"):
        lora.adapted_encoder_onnx(tmp_path / "absent.npz", cache_root=tmp_path)


def test_adapters_go_only_where_asked():
    """inject_lora's targets (another encoder's layer names, in train_mi_model's experiments)."""
    model = lora.load_base_model()
    lora.inject_lora(model, rank=2, alpha=4.0, targets=("attention.self.query",))
    wrapped = {n.rsplit(".lora_a", 1)[0] for n, _ in model.named_parameters() if n.endswith(".lora_a")}
    assert len(wrapped) == 6 and all(n.endswith("attention.self.query") for n in wrapped)
    with pytest.raises(AttributeError):
        lora.inject_lora(lora.load_base_model(), rank=2, alpha=4.0, targets=("attention.attn.q",))
