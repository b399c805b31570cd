"""Speaker diarisation: who spoke when, as a pyannote.core ``Annotation``.

Backends share one interface, so the rest of the pipeline does not care which
one ran:

- ``embedded`` (default): silero-vad speech regions, resemblyzer voice
  embeddings over sliding windows, spectral clustering. Ships with the
  PyPI packages, runs anywhere.
- ``channels``: a stereo recording with one lapel microphone per speaker;
  whoever is loud on their channel is speaking. Cheap and exact.
- ``pyannote``: pyannote.audio's pipeline from a local model directory
  (optional extra, see docs/pyannote.md).

``auto`` picks ``channels`` for a stereo recording with one speaker per
channel and ``embedded`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyannote.core import Annotation, Segment

from ..audio import Audio, analyse_channels
from ..errors import InputError
from ..schema import ModelInfo, SpeakerTurn

METHODS = ("auto", "embedded", "channels", "pyannote")
Progress = Callable[[float, float], None]  # (done, total)


@dataclass
class Diarization:
    """The result of any backend, with what it used and what it noticed."""

    annotation: Annotation
    method: str
    models: list[ModelInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The backend's own labels -> the SPEAKER_nn labels given out (e.g. "left" -> "SPEAKER_00").
    label_map: dict[str, str] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        return ordered_labels(self.annotation)


def ordered_labels(annotation: Annotation) -> list[str]:
    """Labels in order of first speech."""
    seen: list[str] = []
    for _segment, _track, label in annotation.itertracks(yield_label=True):
        if label not in seen:
            seen.append(label)
    return seen


def from_segments(segments: list[tuple[float, float, str]], uri: str = "recording") -> Annotation:
    annotation = Annotation(uri=uri)
    for i, (start, end, label) in enumerate(segments):
        if end > start:
            annotation[Segment(start, end), i] = label
    return annotation


def annotation_to_turns(annotation: Annotation) -> list[SpeakerTurn]:
    """Turns sorted by start time, with each speaker's adjacent segments merged."""
    turns = [
        SpeakerTurn(speaker=str(label), start=round(segment.start, 3), end=round(segment.end, 3))
        for segment, _track, label in annotation.support().itertracks(yield_label=True)
    ]
    return sorted(turns, key=lambda t: (t.start, t.end))


def choose_method(audio: Audio, method: str) -> tuple[str, str]:
    """The backend to run and why (``auto`` looks at the channels)."""
    if method not in METHODS:
        raise InputError(f"unknown diarizer {method!r}: choose one of {', '.join(METHODS)}")
    if method != "auto":
        return method, "chosen by the user"
    report = analyse_channels(audio)
    if report.separate_speakers:
        return "channels", f"stereo with one speaker per channel: {report.reason}"
    return "embedded", report.reason


def diarize(
    audio: Audio,
    method: str = "auto",
    speakers: int | str = 2,
    pyannote_model: Path | None = None,
    on_progress: Progress | None = None,
    speech_regions: list[tuple[float, float]] | None = None,
) -> Diarization:
    """Run the chosen backend on a decoded recording.

    ``speech_regions`` (seconds, from ``embedded.shared_speech_regions``) spare the embedded
    diariser its own VAD pass; the other backends ignore them.
    """
    chosen, why = choose_method(audio, method)
    if chosen == "channels":
        from . import channels

        if audio.n_channels != 2:
            raise InputError(f"{audio.path}: --diarizer channels needs a stereo recording (this one is mono)")
        result = channels.diarize(audio.channels, on_progress=on_progress)
    elif chosen == "embedded":
        from . import embedded

        result = embedded.diarize(
            audio.mono, speakers=speakers, on_progress=on_progress, regions=speech_regions
        )
    else:
        from . import pyannote_backend

        if pyannote_model is None:
            raise InputError("--diarizer pyannote needs --pyannote-model DIR (see docs/pyannote.md)")
        result = pyannote_backend.diarize(
            audio.mono, pyannote_model, speakers=speakers, on_progress=on_progress
        )
    result.label_map = {
        label: f"SPEAKER_{i:02d}" for i, label in enumerate(ordered_labels(result.annotation))
    }
    result.annotation = result.annotation.rename_labels(mapping=result.label_map)
    result.annotation.uri = audio.path.stem
    result.notes.insert(0, f"diarizer {chosen}: {why}")
    return result
