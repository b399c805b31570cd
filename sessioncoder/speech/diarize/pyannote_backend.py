"""pyannote.audio's speaker-diarisation pipeline, from a local model directory.

Optional: pyannote.audio is the ``pyannote`` extra (``pip install
'sessioncoder[pyannote]'``) and its weights are not on PyPI, so a user
prepares a directory once on a machine with internet (docs/pyannote.md) and
passes it with ``--pyannote-model DIR``. Nothing is downloaded here: the hub
is forced offline and pyannote's telemetry is off before the import.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sessioncoder.errors import ModelError
from sessioncoder.schema import ModelInfo
from sessioncoder.speech.diarize.base import Diarization, Progress

SAMPLE_RATE = 16_000


def check_model_dir(path: Path) -> Path:
    """A pipeline directory has a config.yaml (and the models it names, by relative path)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise ModelError(f"{path}: pyannote model directory not found (see docs/pyannote.md)")
    if not (path / "config.yaml").exists():
        raise ModelError(f"{path}: no config.yaml; not a pyannote pipeline directory (see docs/pyannote.md)")
    return path


def _import_pipeline():
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
    try:
        from pyannote.audio import Pipeline
    except ImportError as exc:
        raise ModelError(
            "pyannote.audio is not installed: pip install 'sessioncoder[pyannote]' (see docs/pyannote.md)"
        ) from exc
    return Pipeline


_PIPELINES: dict[str, object] = {}


def load_pipeline(path: Path):
    path = check_model_dir(path)
    key = str(path.resolve())
    if key not in _PIPELINES:
        pipeline_cls = _import_pipeline()
        cwd = os.getcwd()
        try:
            # Paths inside config.yaml are relative to the model directory.
            os.chdir(path)
            try:
                pipeline = pipeline_cls.from_pretrained(path)
            except TypeError:
                pipeline = pipeline_cls.from_pretrained(str(path / "config.yaml"))
        except ModelError:
            raise
        except Exception as exc:  # pyannote raises many kinds for a bad directory
            raise ModelError(f"{path}: cannot load the pyannote pipeline ({exc})") from exc
        finally:
            os.chdir(cwd)
        if pipeline is None:
            raise ModelError(f"{path}: cannot load the pyannote pipeline (see docs/pyannote.md)")
        _PIPELINES[key] = pipeline
    return _PIPELINES[key]


def diarize(
    samples: np.ndarray, model_dir: Path, speakers: int | str = 2, on_progress: Progress | None = None
) -> Diarization:
    import torch

    pipeline = load_pipeline(model_dir)
    kwargs = {} if speakers == "auto" else {"num_speakers": int(speakers)}
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
    output = pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, **kwargs)
    # pyannote.audio 4 returns an object holding the annotation; 3.x returns the annotation.
    annotation = getattr(output, "speaker_diarization", output)
    if on_progress:
        on_progress(1, 1)
    info = ModelInfo(task="diarisation", name="pyannote pipeline", path=str(Path(model_dir).resolve()))
    return Diarization(annotation, "pyannote", [info], [])
