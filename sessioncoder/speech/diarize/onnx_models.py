"""fp32 ONNX copies of the bundled diarisation networks (segmentation-3.0 and CAM++), run by onnxruntime.

Why: on this 2-core machine onnxruntime runs both networks 1.2-2x faster
than torch eager at the same precision (outputs within 1e-4), and with its
worker threads told not to spin, two threads stay fast when another process
shares the CPU (torch's OpenMP threads became 5-20x slower there). fp32, not
int8, so the speaker labels do not depend on the CPU's instruction set.

Each network is exported once from the weight file the session records, into
``~/.cache/sessioncoder/diarisation/`` under a name that carries the file's
SHA-256 prefix and this export's version, written to a temp file and renamed.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sessioncoder.compute import cpu_threads
from sessioncoder.errors import ModelError
from sessioncoder.models.onnx_export import torch_to_onnx

# Bump when the export below changes, so cached files from an older export are not reused.
EXPORT_VERSION = 1
# Two threads are the measured best on two cores; more only add wake-ups.
MAX_THREADS = 2

_LOCK = threading.Lock()


def export_dir() -> Path:
    from sessioncoder.models.store import cache_dir

    return cache_dir() / "diarisation"


def cached_export(name: str, sha256: str, export: Callable[[Path], None]) -> Path:
    """The ONNX file for ``name``, exported by ``export(tmp_path)`` the first time (atomic rename)."""
    target = export_dir() / f"{name}-{sha256[:12]}-v{EXPORT_VERSION}.onnx"
    with _LOCK:
        if target.is_file() and target.stat().st_size > 0:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            export(Path(tmp))
            os.replace(tmp, target)
        except Exception as exc:
            Path(tmp).unlink(missing_ok=True)
            raise ModelError(f"cannot export {name} to ONNX in {target.parent} ({exc})") from exc
    return target


def session(path: Path):
    """An onnxruntime CPU session whose idle worker threads sleep instead of spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = min(MAX_THREADS, cpu_threads())
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a truncated cache file: onnxruntime raises its own kinds
        raise ModelError(f"{path}: cannot load the ONNX model ({exc}); delete it to re-export") from exc


class OnnxForward:
    """A callable standing in for a torch module's ``forward``: torch in, torch out, onnxruntime inside."""

    def __init__(self, path: Path, input_name: str) -> None:
        self.session = session(path)
        self.input_name = input_name

    def numpy(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def __call__(self, x):
        import torch

        return torch.from_numpy(self.numpy(x.detach().cpu().numpy()))


def segmentation_onnx(model, sha256: str) -> Path:
    """pyannote segmentation-3.0 (waveforms (batch, 1, samples) -> powerset scores (batch, frames, 7))."""
    import torch

    samples = int(model.specifications.duration * model.hparams.sample_rate)

    def export(path: Path) -> None:
        torch_to_onnx(
            model,
            (torch.zeros(2, 1, samples),),
            path,
            ["waveforms"],
            ["scores"],
            {"waveforms": {0: "batch"}, "scores": {0: "batch"}},
        )

    return cached_export("segmentation-3.0", sha256, export)


def campplus_onnx(model, sha256: str) -> Path:
    """CAM++ frame features ((batch, frames, 80) filterbanks -> (batch, 512, frames / 2))."""
    import torch

    from sessioncoder.speech.diarize.campplus import FrameFeatures

    def export(path: Path) -> None:
        torch_to_onnx(
            FrameFeatures(model),
            (torch.randn(1, 998, 80),),
            path,
            ["fbank"],
            ["frames"],
            {"fbank": {0: "batch", 1: "frames"}, "frames": {0: "batch", 2: "frames_out"}},
        )

    return cached_export("campplus-frames", sha256, export)
