"""The default diariser: silero-vad speech regions, resemblyzer embeddings, spectral clustering.

Everything it needs ships in PyPI packages (silero-vad's ONNX model and
resemblyzer's ``pretrained.pt``), so it runs offline anywhere.

Steps:
1. Speech regions from silero-vad's batched ("sequence") ONNX model: one
   call per 16 s block instead of one per 32 ms frame, so it costs well under
   1% of transcription time.
2. Voice embeddings (resemblyzer's 3-layer LSTM) over 1.2 s windows sliding
   through each speech region, computed in batches: the cost driver.
3. Spectral clustering of the windows' cosine affinities into N speakers
   (``speakers=N``) or into as many as the eigengap suggests (``"auto"``).
4. Each 10 ms speech frame takes the label most windows covering it vote for;
   flips shorter than ``MIN_FLIP_SECONDS`` inside a region are smoothed away.

A two-speaker request on a one-speaker recording would split one voice in
two; when the clusters' centroids are as similar as one voice's windows are,
the result is merged back into one speaker (and the caller decides whether
that is an error).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from sessioncoder.compute import cpu_threads
from sessioncoder.errors import InputError
from sessioncoder.models.store import resemblyzer_info, silero_vad_info
from sessioncoder.speech.asr import vad_model_info
from sessioncoder.speech.diarize.base import Diarization, Progress, from_segments

SAMPLE_RATE = 16_000
FRAME_SECONDS = 0.01  # resemblyzer's mel hop
# 1.2 s windows every 0.5 s. On the pyannote sample (DER at 0.25 s collar): 1.5 s / 0.75 s 11.9%,
# 1.2 s / 0.4 s 9.7%, 1.2 s / 0.5 s 6.6%, 1.0 s / 0.5 s 13.7%; one 30 s clip, so +-3 points is noise.
WINDOW_FRAMES = 120
HOP_FRAMES = 50
SPEECH_THRESHOLD = 0.35  # below silero-vad's 0.5: far-field AMI DER 36.8% -> 34.7%, no change on close talk
MIN_REGION_SECONDS = 0.25
SPEECH_PAD_MS = 60  # silero-vad's padding of each speech region (asr.speech_chunks accounts for it)
SHARED_VAD_MIN_SILENCE_MS = 300
MIN_FLIP_SECONDS = 0.5
# Spectral clustering is cubic in windows: beyond this many, cluster an even subsample and
# give every window the label of its nearest cluster centroid.
MAX_CLUSTER_WINDOWS = 1200
BATCH = 256
# Torch threads for the VAD and the voice encoder: at most two (measured on a 12-min session on an
# idle 2-core machine: VAD + embeddings 7.9 s with one thread, 6.5 s with two). Batch workers get
# one each through SESSIONCODER_THREADS, so they do not fight over the cores.
MAX_EMBED_THREADS = 2
MAX_AUTO_SPEAKERS = 8
# Cosine similarity of two cluster centroids above which they are one voice. Measured on
# 1.2 s windows: two real telephone speakers (pyannote sample) 0.875, two espeak voices
# 0.64-0.68; one espeak voice split in two 0.91-0.93, JFK alone 0.88. No threshold separates
# every case: one voice may come out as two speakers, and two similar voices as one.
SAME_SPEAKER_SIMILARITY = 0.90
# With the eigengap also finding a single speaker, a lower centroid similarity suffices.
LIKELY_ONE_SPEAKER_SIMILARITY = 0.85
TARGET_DBFS = -30.0


# --------------------------------------------------------------------------- models (loaded once)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, then restore the process's setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=1)
def _vad():
    # silero_vad sets torch's thread count to 1 for the whole process on import: undo that.
    with torch_threads(_torch_threads_now()), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # silero_vad's use of importlib.resources.path
        from silero_vad import load_silero_vad

        return load_silero_vad(sequence=True)


def embed_threads() -> int:
    return min(MAX_EMBED_THREADS, cpu_threads())


def _torch_threads_now() -> int:
    import torch

    return torch.get_num_threads()


@lru_cache(maxsize=1)
def _encoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resemblyzer imports webrtcvad, which warns about pkg_resources
        from resemblyzer import VoiceEncoder

    encoder = VoiceEncoder("cpu", verbose=False)
    encoder.eval()
    return encoder


def load_models() -> None:
    """Import torch and load the VAD and the voice encoder (about 5 s, most of it importing torch).

    The recording pipeline calls this on a background thread while Whisper
    transcribes (CTranslate2 releases the GIL), so diarisation starts warm.
    """
    _vad()
    _encoder()


# --------------------------------------------------------------------------- features


def shared_speech_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """Speech regions with this diariser's settings, from faster-whisper's copy of silero-vad (v6, ONNX).

    The recording pipeline runs this once, before transcription, and gives
    the regions to both Whisper (``asr.transcribe(speech_regions=...)``) and
    ``diarize(regions=...)``, instead of each running its own VAD pass over
    the whole recording. It runs on onnxruntime without importing torch, so
    the diariser's warm-up (importing torch) still overlaps transcription.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    # faster-whisper's post-processing splits at shorter pauses than silero-vad's: with 250 ms
    # (speech_regions' setting) DER at collar 0.25 was pyannote sample 5.5%, demo 1.2%, fixture
    # dialogue 2.6%; with 300 ms 5.5%, 0.7%, 0.9% (own pass: 6.6%, 1.1%, 5.1%). Four clips only.
    options = VadOptions(
        threshold=SPEECH_THRESHOLD,
        min_speech_duration_ms=200,
        min_silence_duration_ms=SHARED_VAD_MIN_SILENCE_MS,
        speech_pad_ms=SPEECH_PAD_MS,
    )
    stamps = get_speech_timestamps(samples.astype(np.float32, copy=False), options, sampling_rate=SAMPLE_RATE)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def speech_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """Speech regions in seconds from silero-vad."""
    from silero_vad import get_speech_timestamps_sequence

    stamps = get_speech_timestamps_sequence(
        samples,
        _vad(),
        sampling_rate=SAMPLE_RATE,
        threshold=SPEECH_THRESHOLD,
        min_speech_duration_ms=200,
        min_silence_duration_ms=250,
        speech_pad_ms=SPEECH_PAD_MS,
    )
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (linear below 1 kHz, log above), as librosa's default."""
    f = np.asarray(f, dtype=np.float64)
    mels = f / (200.0 / 3)
    log_region = f >= 1000.0
    mels[log_region] = 15.0 + np.log(f[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = m * (200.0 / 3)
    log_region = m >= 15.0
    f[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log_region] - 15.0))
    return f


@lru_cache(maxsize=1)
def _mel_filterbank(n_fft: int = 400, n_mels: int = 40) -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) without librosa's slow first call."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([SAMPLE_RATE / 2]))[0], n_mels + 2)
    )
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Resemblyzer's input features: (n_frames, 40) mel power, 25 ms windows, 10 ms hop."""
    from scipy.fft import rfft

    n_fft, hop = 400, 160
    padded = np.pad(samples.astype(np.float32), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    fb = _mel_filterbank().T
    out = np.empty((len(frames), 40), dtype=np.float32)
    step = 8192  # frames per chunk, to bound memory on long recordings
    for first in range(0, len(frames), step):
        spectrum = rfft(frames[first : first + step] * window, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        out[first : first + len(power)] = power @ fb
    return out


def _normalise(samples: np.ndarray, regions: list[tuple[float, float]]) -> np.ndarray:
    """Scale so that speech sits at resemblyzer's training level (-30 dBFS)."""
    if not regions:
        return samples
    speech = np.concatenate([samples[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in regions])
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) if len(speech) else 0.0
    if rms <= 1e-6:
        return samples
    return (samples * (10 ** (TARGET_DBFS / 20) / rms)).astype(np.float32)


def window_starts(regions: list[tuple[float, float]], n_frames: int) -> list[int]:
    """Start frames of embedding windows covering every speech region."""
    starts: list[int] = []
    for start, end in regions:
        a, b = int(start / FRAME_SECONDS), int(end / FRAME_SECONDS)
        if b - a <= WINDOW_FRAMES:
            centre = (a + b) // 2
            starts.append(centre - WINDOW_FRAMES // 2)
            continue
        s = a
        while s + WINDOW_FRAMES < b:
            starts.append(s)
            s += HOP_FRAMES
        starts.append(b - WINDOW_FRAMES)
    return [min(max(0, s), max(0, n_frames - WINDOW_FRAMES)) for s in starts]


def embed_windows(mel: np.ndarray, starts: list[int], on_progress: Progress | None = None) -> np.ndarray:
    """L2-normalised embeddings, one per window, computed in batches."""
    import torch

    encoder = _encoder()
    if mel.shape[0] < WINDOW_FRAMES:
        mel = np.pad(mel, ((0, WINDOW_FRAMES - mel.shape[0]), (0, 0)))
    out = np.empty((len(starts), 256), dtype=np.float32)
    with torch_threads(embed_threads()), torch.inference_mode():
        for first in range(0, len(starts), BATCH):
            chunk = starts[first : first + BATCH]
            batch = torch.from_numpy(np.stack([mel[s : s + WINDOW_FRAMES] for s in chunk]))
            out[first : first + len(chunk)] = encoder(batch).numpy()
            if on_progress:
                on_progress(first + len(chunk), len(starts))
    return out


# --------------------------------------------------------------------------- clustering


def _affinity(embeddings: np.ndarray, keep: float = 0.25) -> np.ndarray:
    """Cosine affinity, each row pruned to its strongest ``keep`` share, made symmetric."""
    sim = np.clip(embeddings @ embeddings.T, 0.0, 1.0)
    n = len(sim)
    k = min(n, max(4, int(np.ceil(keep * n))))
    threshold = -np.sort(-sim, axis=1)[:, k - 1 : k]
    pruned = np.where(sim >= threshold, sim, 0.0)
    return (pruned + pruned.T) / 2


def _laplacian_eig(affinity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    degree = affinity.sum(axis=1)
    inv_sqrt = 1.0 / np.sqrt(np.maximum(degree, 1e-10))
    laplacian = np.eye(len(affinity)) - inv_sqrt[:, None] * affinity * inv_sqrt[None, :]
    from scipy.linalg import eigh

    # Only the smallest eigenpairs matter (speaker count and embedding).
    return eigh(laplacian, subset_by_index=[0, min(len(laplacian), MAX_AUTO_SPEAKERS + 2) - 1])


def estimate_speakers(eigenvalues: np.ndarray, max_speakers: int = MAX_AUTO_SPEAKERS) -> int:
    """Number of speakers from the largest gap among the smallest Laplacian eigenvalues."""
    top = eigenvalues[: max_speakers + 1]
    if len(top) < 2:
        return 1
    gaps = np.diff(top)
    return int(np.argmax(gaps)) + 1


def kmeans(points: np.ndarray, k: int, n_init: int = 10, iterations: int = 100, seed: int = 0) -> np.ndarray:
    """Plain k-means with k-means++ starts (a few hundred points, k small: no need for sklearn's import cost)."""
    rng = np.random.default_rng(seed)
    best_labels, best_inertia = np.zeros(len(points), dtype=int), np.inf
    for _ in range(n_init):
        centres = [points[rng.integers(len(points))]]
        for _ in range(1, k):
            d2 = np.min([((points - c) ** 2).sum(axis=1) for c in centres], axis=0)
            probs = d2 / d2.sum() if d2.sum() > 0 else np.full(len(points), 1 / len(points))
            centres.append(points[rng.choice(len(points), p=probs)])
        centre_arr = np.array(centres)
        for _ in range(iterations):
            labels = ((points[:, None, :] - centre_arr[None]) ** 2).sum(axis=2).argmin(axis=1)
            new = np.array(
                [points[labels == j].mean(axis=0) if np.any(labels == j) else centre_arr[j] for j in range(k)]
            )
            if np.allclose(new, centre_arr):
                break
            centre_arr = new
        inertia = float(((points - centre_arr[labels]) ** 2).sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels


def cluster(embeddings: np.ndarray, speakers: int | str) -> tuple[np.ndarray, int]:
    """Cluster labels (0..k-1) for each window and the eigengap's own estimate of the number of speakers.

    Spectral clustering on pruned cosine affinities; long recordings cluster
    an even subsample and assign the rest to the nearest centroid.
    """
    n = len(embeddings)
    if n > MAX_CLUSTER_WINDOWS:
        pick = np.linspace(0, n - 1, MAX_CLUSTER_WINDOWS).round().astype(int)
        sub_labels, estimate = _spectral(embeddings[pick], speakers)
        ids = sorted(set(sub_labels.tolist()))
        centroids = np.stack([embeddings[pick][sub_labels == i].mean(axis=0) for i in ids])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        return (embeddings @ centroids.T).argmax(axis=1), estimate
    return _spectral(embeddings, speakers)


def _spectral(embeddings: np.ndarray, speakers: int | str) -> tuple[np.ndarray, int]:
    n = len(embeddings)
    if n < 3:
        return np.zeros(n, dtype=int), 1
    eigenvalues, eigenvectors = _laplacian_eig(_affinity(embeddings))
    estimate = estimate_speakers(eigenvalues)
    k = estimate if speakers == "auto" else int(speakers)
    k = max(1, min(k, n))
    if k == 1:
        return np.zeros(n, dtype=int), estimate
    features = eigenvectors[:, :k]
    features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-10)
    return kmeans(features, k), estimate


def merge_similar(
    embeddings: np.ndarray, labels: np.ndarray, threshold: float = SAME_SPEAKER_SIMILARITY
) -> np.ndarray:
    """Merge clusters whose centroids are as close as one voice's windows (a split single speaker)."""
    labels = labels.copy()
    while True:
        ids, sim = _centroid_similarities(embeddings, labels)
        if len(ids) < 2:
            return labels
        i, j = np.unravel_index(np.argmax(sim), sim.shape)
        if sim[i, j] < threshold:
            return labels
        labels[labels == ids[j]] = ids[i]


def _centroid_similarities(embeddings: np.ndarray, labels: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Cluster ids and the cosine similarity of their centroids (diagonal set to -1)."""
    ids = sorted(set(labels.tolist()))
    centroids = np.stack([embeddings[labels == i].mean(axis=0) for i in ids])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    sim = centroids @ centroids.T
    np.fill_diagonal(sim, -1)
    return ids, sim


def centroid_similarity(embeddings: np.ndarray, labels: np.ndarray) -> float | None:
    ids, sim = _centroid_similarities(embeddings, labels)
    return float(sim.max()) if len(ids) >= 2 else None


# --------------------------------------------------------------------------- frames to segments


def frame_labels(
    regions: list[tuple[float, float]], starts: list[int], labels: np.ndarray, n_frames: int
) -> np.ndarray:
    """Label (or -1 for non-speech) per 10 ms frame: vote of the windows covering it, weighted to their centre."""
    k = int(labels.max()) + 1 if len(labels) else 1
    votes = np.zeros((k, n_frames + WINDOW_FRAMES), dtype=np.float32)
    weight = np.hanning(WINDOW_FRAMES + 2)[1:-1].astype(np.float32)
    for s, label in zip(starts, labels, strict=True):
        votes[label, s : s + WINDOW_FRAMES] += weight
    out = np.full(n_frames, -1, dtype=int)
    centres = np.array(starts) + WINDOW_FRAMES // 2
    for start, end in regions:
        a, b = int(start / FRAME_SECONDS), min(n_frames, int(np.ceil(end / FRAME_SECONDS)))
        if b <= a:
            continue
        region_votes = votes[:, a:b]
        best = region_votes.argmax(axis=0)
        unvoted = region_votes.max(axis=0) <= 0
        if unvoted.any() and len(centres):
            frames = np.arange(a, b)[unvoted]
            nearest = np.abs(centres[None, :] - frames[:, None]).argmin(axis=1)
            best[unvoted] = labels[nearest]
        out[a:b] = best
    return out


def _runs(frames: np.ndarray) -> list[list[int]]:
    """[label, start, end) runs of equal values."""
    runs: list[list[int]] = []
    for i, value in enumerate(frames.tolist()):
        if runs and runs[-1][0] == value and runs[-1][2] == i:
            runs[-1][2] = i + 1
        else:
            runs.append([value, i, i + 1])
    return runs


def smooth(frames: np.ndarray, min_flip_frames: int) -> np.ndarray:
    """Relabel short speaker runs that sit inside speech to their longer neighbour's label."""
    frames = frames.copy()
    changed = True
    while changed:
        changed = False
        runs = _runs(frames)
        for i, (label, a, b) in enumerate(runs):
            if label < 0 or b - a >= min_flip_frames:
                continue
            prev_run = runs[i - 1] if i > 0 and runs[i - 1][0] >= 0 else None
            next_run = runs[i + 1] if i + 1 < len(runs) and runs[i + 1][0] >= 0 else None
            neighbours = [r for r in (prev_run, next_run) if r is not None and r[0] != label]
            if not neighbours:
                continue
            longest = max(neighbours, key=lambda r: r[2] - r[1])
            frames[a:b] = longest[0]
            changed = True
            break
    return frames


def segments_from_frames(frames: np.ndarray) -> list[tuple[float, float, str]]:
    return [
        (round(a * FRAME_SECONDS, 3), round(b * FRAME_SECONDS, 3), f"S{label}")
        for label, a, b in _runs(frames)
        if label >= 0
    ]


# --------------------------------------------------------------------------- entry point


def diarize(
    samples: np.ndarray,
    speakers: int | str = 2,
    on_progress: Progress | None = None,
    regions: list[tuple[float, float]] | None = None,
) -> Diarization:
    """Who spoke when in 16 kHz mono ``samples``.

    ``regions``: speech regions (seconds) already found (``shared_speech_regions``);
    without them the diariser runs its own VAD pass.

    Runs single-threaded (BLAS and torch): its matrices are small, and
    multi-threaded BLAS on small matrices is 20-40x slower whenever another
    process is using the CPU (measured: eigh of 346x346 2.2 s vs 0.05 s).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), torch_threads(embed_threads()):
        return _diarize(samples, speakers, on_progress, regions)


def _diarize(
    samples: np.ndarray,
    speakers: int | str,
    on_progress: Progress | None,
    regions: list[tuple[float, float]] | None = None,
) -> Diarization:
    if speakers != "auto" and (not isinstance(speakers, int) or speakers < 1):
        raise InputError(f"--speakers must be a positive number or 'auto', not {speakers!r}")
    # The VAD that found the regions: our own pass, or the shared one the ASR also used.
    models = [silero_vad_info() if regions is None else vad_model_info(), resemblyzer_info()]
    if regions is None:
        regions = speech_regions(samples)
    regions = [(s, e) for s, e in regions if e - s >= MIN_REGION_SECONDS]
    notes: list[str] = []
    if not regions:
        return Diarization(from_segments([]), "embedded", models, ["no speech regions found"])
    mel = mel_spectrogram(_normalise(samples, regions))
    n_frames = mel.shape[0]
    starts = window_starts(regions, n_frames)
    embeddings = embed_windows(mel, starts, on_progress)
    labels, estimate = cluster(embeddings, speakers)
    similarity = centroid_similarity(embeddings, labels)
    merged = merge_similar(embeddings, labels)
    if len(set(merged.tolist())) < len(set(labels.tolist())):
        notes.append(
            f"clusters merged: their voices are too similar (centroid cosine {similarity:.2f} ≥ {SAME_SPEAKER_SIMILARITY})"
        )
    elif estimate == 1 and similarity is not None and similarity >= LIKELY_ONE_SPEAKER_SIMILARITY:
        # The affinity graph has one block and the centroids are close: one voice split in two.
        merged = np.zeros_like(labels)
        notes.append(f"one voice: eigengap finds one speaker and centroid cosine is {similarity:.2f}")
    elif similarity is not None:
        notes.append(
            f"speaker separation: centroid cosine {similarity:.2f} (< {SAME_SPEAKER_SIMILARITY} = distinct)"
        )
    _, labels = np.unique(merged, return_inverse=True)
    frames = smooth(frame_labels(regions, starts, labels, n_frames), int(MIN_FLIP_SECONDS / FRAME_SECONDS))
    annotation = from_segments(segments_from_frames(frames))
    notes.append(f"{len(regions)} speech regions, {len(starts)} embedding windows")
    return Diarization(annotation, "embedded", models, notes)
