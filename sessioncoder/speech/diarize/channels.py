"""Diarisation of a stereo recording with one lapel microphone per speaker.

Each speaker is loud on their own microphone and 10-20 dB quieter on the
other one, so a 20 ms frame belongs to the speaker whose channel is active
and not much quieter than the other. No model is needed; this is exact where
the microphones are well separated and costs next to nothing.
"""

from __future__ import annotations

import itertools

import numpy as np

from sessioncoder.speech.audio import frame_energies_db
from sessioncoder.speech.diarize.base import Diarization, Progress, from_segments

FRAME_SECONDS = 0.02
# A channel is active when this far above its own noise floor...
ABOVE_FLOOR_DB = 15.0
# ...and not more than this much quieter than the other channel (crosstalk is quieter still).
MAX_BELOW_OTHER_DB = 6.0
MIN_SPEECH_SECONDS = 0.2
FILL_GAP_SECONDS = 0.3


def _fill_and_prune(active: np.ndarray) -> np.ndarray:
    """Close short gaps, then drop short bursts (clicks, breaths)."""
    active = active.copy()
    gap = int(FILL_GAP_SECONDS / FRAME_SECONDS)
    idx = np.flatnonzero(active)
    if len(idx) > 1:
        for a, b in itertools.pairwise(idx):
            if 1 < b - a <= gap + 1:
                active[a:b] = True
    out = np.zeros_like(active)
    min_len = int(MIN_SPEECH_SECONDS / FRAME_SECONDS)
    start = None
    for i, value in enumerate([*active.tolist(), False]):
        if value and start is None:
            start = i
        elif not value and start is not None:
            if i - start >= min_len:
                out[start:i] = True
            start = None
    return out


def channel_activity(channels: np.ndarray) -> np.ndarray:
    """(2, n_frames) booleans: who is speaking on their own microphone in each 20 ms frame."""
    db = frame_energies_db(channels, FRAME_SECONDS)
    floors = np.percentile(db, 10, axis=1, keepdims=True)
    peaks = np.percentile(db, 99, axis=1, keepdims=True)
    threshold = np.maximum(floors + ABOVE_FLOOR_DB, peaks - 40.0)
    other = db[::-1]
    active = (db > threshold) & (db > other - MAX_BELOW_OTHER_DB)
    return np.stack([_fill_and_prune(row) for row in active])


def diarize(channels: np.ndarray, on_progress: Progress | None = None) -> Diarization:
    """Speaker turns for a (2, n) recording: channel 0 is one speaker, channel 1 the other."""
    active = channel_activity(channels)
    segments: list[tuple[float, float, str]] = []
    for ch, row in enumerate(active):
        label = "left" if ch == 0 else "right"
        start = None
        for i, value in enumerate([*row.tolist(), False]):
            if value and start is None:
                start = i
            elif not value and start is not None:
                segments.append((round(start * FRAME_SECONDS, 3), round(i * FRAME_SECONDS, 3), label))
                start = None
    segments.sort()
    if on_progress:
        on_progress(1, 1)
    spoken = {label: sum(e - s for s, e, lab in segments if lab == label) for label in ("left", "right")}
    notes = [f"channel speech: left {spoken['left']:.1f} s, right {spoken['right']:.1f} s"]
    return Diarization(from_segments(segments), "channels", [], notes)
