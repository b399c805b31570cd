"""LoRA adapters: what training saves, merged into the packaged MiniLM, equals the adapted network."""

from __future__ import annotations

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


def test_int8_onnx_is_built_once_cached_and_close_to_fp32(adapted, tmp_path, no_network, caplog):
    model, arrays = adapted
    path = tmp_path / "adapters.npz"
    np.savez(path, **arrays)
    with caplog.at_level("WARNING"):
        onnx_path = lora.adapted_encoder_onnx(path, cache_root=tmp_path / "cache")
    assert not [r for r in caplog.records if "quantization" in r.getMessage()]  # no URL-bearing advice
    assert onnx_path.is_file() and onnx_path.stat().st_size < 30 * 1024 * 1024  # int8, not fp32 (90 MB)
    assert [p.name for p in onnx_path.parent.iterdir()] == [onnx_path.name]  # no temporary files left
    stamp = onnx_path.stat().st_mtime_ns
    assert lora.adapted_encoder_onnx(path, cache_root=tmp_path / "cache") == onnx_path
    assert onnx_path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not no_network

    int8 = SentenceEncoder(onnx_path=onnx_path).encode(TEXTS)
    frozen = SentenceEncoder().encode(TEXTS)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(lora.base_model_dir()), local_files_only=True)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        fp32 = lora.mean_pool(model.eval()(**batch).last_hidden_state, batch["attention_mask"]).numpy()
    agreement = (int8 * fp32).sum(axis=1)
    assert agreement.min() > 0.97, agreement  # quantisation keeps the adapted embedding
    # and the adapted encoder is not the frozen one
    assert (int8 * frozen).sum(axis=1).min() < agreement.min()


def test_missing_adapters_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="adapters not found"):
        lora.adapted_encoder_onnx(tmp_path / "absent.npz", cache_root=tmp_path)
