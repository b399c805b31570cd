"""What every diarisation backend returns: a pyannote.core ``Annotation`` with what it used and noticed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyannote.core import Annotation, Segment

from sessioncoder.schema import ModelInfo, SpeakerTurn

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
