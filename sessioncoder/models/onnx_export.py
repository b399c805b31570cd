"""Tracing a torch module into an fp32 ONNX file: the one place the project calls the exporter.

Used for the MI encoder (``models.lora``) and the diarisation networks
(``speech.diarize.onnx_models``); callers write to a temporary path and rename.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

OPSET = 17


def torch_to_onnx(
    module: Any,
    examples: tuple,
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> None:
    """Trace ``module`` (in eval mode) on ``examples`` into ``path`` with the TorchScript exporter."""
    import torch

    # inference_mode(False): a caller inside torch.inference_mode would otherwise give tensors the tracer rejects.
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            module.eval(),
            examples,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )
