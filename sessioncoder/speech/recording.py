"""A recording in, a Transcript out: decode, transcribe, diarise, align, assign roles, cache.

``transcribe_recording`` is what ``sessioncoder code recording.wav`` calls.
The result is saved as ``<stem>.transcript.json`` keyed by the audio's
SHA-256 and the settings that shape it, so coding the same recording with
another codebook skips the expensive stages.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sessioncoder.errors import AudioError, InputError
from sessioncoder.fileio import sha256_text
from sessioncoder.models.store import resolve_asr_model
from sessioncoder.roles import assign_roles
from sessioncoder.schema import ModelInfo, SourceInfo, Transcript, Word
from sessioncoder.speech import asr
from sessioncoder.speech.align import build_overlapping_utterances, words_to_utterances
from sessioncoder.speech.audio import SAMPLE_RATE, Audio, load_audio
from sessioncoder.speech.diarize import choose_method, diarize
from sessioncoder.speech.diarize.base import Diarization, annotation_to_turns

# Bump when a change to this pipeline makes old cached transcripts stale.
PIPELINE_VERSION = "3"  # 2: one shared VAD pass for Whisper and the diariser; 3: beam 5, vocabulary, own VAD


@dataclass
class AudioOptions:
    asr_model: str = "base"  # "tiny.en" | "base" | a directory with a CTranslate2 Whisper model
    language: str | None = "en"
    diarizer: str = "auto"  # auto | embedded | channels | pyannote
    speakers: int | str = 2  # N or "auto"
    speakers_explicit: bool = False  # True when the user passed --speakers
    pyannote_model: Path | None = None
    officer: str | None = None
    progress: bool = True
    vocabulary: list[str] = field(default_factory=list)  # the codebook's terms, prompted to Whisper


# Models that are not given the vocabulary prompt. bench_asr, WER without / with the codebook's terms:
# base, four 7-minute sessions 0.082/0.133/0.095/0.131 -> 0.067/0.115/0.080/0.126, demo 0.049 -> 0.056;
# tiny.en follows the prompt into errors: demo 0.054 -> 0.103, phone fixture 0.071 -> 0.143.
UNPROMPTED_MODELS = frozenset({"tiny.en"})


# Models decoded by faster-whisper's sequential decoder over the whole recording instead of the batched
# pipeline over VAD chunks. bench_asr, tiny.en, batched -> sequential (plain faster-whisper): demo 0.069 ->
# 0.050 (0.058), synthetic sessions 0.088/0.141/0.102/0.167 -> 0.087/-/0.087/0.142 (0.078/0.154/0.087/
# 0.142): the VAD cut loses its words. Base keeps the batched pipeline, within +0.002 of plain and faster.
SEQUENTIAL_MODELS = frozenset({"tiny.en"})


def sequential_decoding(model: str) -> bool:
    """Whether Whisper ``model`` is decoded sequentially (SEQUENTIAL_MODELS) rather than batched."""
    return model in SEQUENTIAL_MODELS


def prompted_vocabulary(options: AudioOptions) -> list[str]:
    """The codebook terms Whisper is prompted with for these options (none for UNPROMPTED_MODELS)."""
    return [] if options.asr_model in UNPROMPTED_MODELS else list(options.vocabulary)


def cache_key(audio_sha256: str, options: AudioOptions, asr_info: ModelInfo) -> str:
    """SHA-256 over everything that changes the words or the speakers (not the roles: those are cheap)."""
    parts = {
        "pipeline": PIPELINE_VERSION,
        "audio": audio_sha256,
        "asr": asr_info.sha256 or asr_info.path or asr_info.name,
        "beam_size": asr.BEAM_SIZE,
        "batch_size": asr.BATCH_SIZE,
        "sequential": sequential_decoding(options.asr_model),
        "language": options.language,
        "vocabulary": asr.vocabulary_prompt(prompted_vocabulary(options)),
        "diarizer": options.diarizer,
        "speakers": str(options.speakers),
        "pyannote_model": str(Path(options.pyannote_model).resolve()) if options.pyannote_model else None,
    }
    return sha256_text(json.dumps(parts, sort_keys=True))


def _check_options(options: AudioOptions) -> None:
    if options.speakers != "auto" and (not isinstance(options.speakers, int) or options.speakers < 1):
        raise InputError(f"--speakers must be a positive number or 'auto', not {options.speakers!r}")


# --------------------------------------------------------------------------- progress


class _Progress:
    """A rich progress display on stderr, or nothing when progress is off."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress = None

    @contextlib.contextmanager
    def running(self) -> Iterator[_Progress]:
        if not self.enabled:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        ) as progress:
            self._progress = progress
            yield self
        self._progress = None

    def task(self, description: str, total: float):
        """A callback ``(done[, total])`` that advances a new bar."""
        if self._progress is None:
            return None
        progress = self._progress
        task_id = progress.add_task(description, total=total)

        def update(done: float, new_total: float | None = None) -> None:
            if new_total is not None:
                progress.update(task_id, completed=done, total=new_total)
            else:
                progress.update(task_id, completed=min(done, total))

        return update


# --------------------------------------------------------------------------- cache


def _load_cached(cache_path: Path | None, key: str) -> Transcript | None:
    if cache_path is None or not cache_path.exists():
        return None
    try:
        cached = Transcript.load(cache_path)
    except (OSError, ValueError):
        return None  # unreadable or from an older schema: recompute and overwrite
    return cached if cached.cache_key == key else None


def _with_roles(transcript: Transcript, officer: str | None) -> Transcript:
    """Apply roles to a transcript whose words and speakers are final, recording what came before."""
    transcript.settings["officer"] = officer
    transcript.settings["warnings_before_roles"] = len(transcript.warnings)
    return assign_roles(transcript, officer=officer)


def _reroled(cached: Transcript, officer: str | None) -> Transcript:
    """A cached transcript with roles redone for another ``--officer`` choice."""
    if cached.settings.get("officer") == officer:
        return cached
    before = int(cached.settings.get("warnings_before_roles", len(cached.warnings)))
    fresh = cached.model_copy(deep=True)
    fresh.warnings = fresh.warnings[:before]
    for speaker in fresh.speakers:
        speaker.role, speaker.role_confidence, speaker.role_evidence = "unknown", 0.0, []
    return _with_roles(fresh, officer)


# --------------------------------------------------------------------------- stages


def _channel_masks(audio: Audio) -> np.ndarray:
    """Per-sample masks (2, n) of each lapel channel's own speech, padded 0.2 s each side."""
    from sessioncoder.speech.diarize.channels import FRAME_SECONDS, channel_activity

    active = channel_activity(audio.channels)
    pad = int(0.2 / FRAME_SECONDS)
    if pad:
        kernel = np.ones(2 * pad + 1)
        active = np.stack([np.convolve(row.astype(float), kernel, mode="same") > 0 for row in active])
    hop = int(SAMPLE_RATE * FRAME_SECONDS)
    masks = np.repeat(active, hop, axis=1)
    n = audio.channels.shape[1]
    if masks.shape[1] < n:
        masks = np.pad(masks, ((0, 0), (0, n - masks.shape[1])))
    return masks[:, :n]


def _transcribe_channels(
    audio: Audio, model_dir: Path, options: AudioOptions, labels: dict[str, str], progress
) -> list[Word]:
    """Transcribe each lapel channel alone (its own speech only), so overlapping talk is not lost."""
    masks = _channel_masks(audio)
    words: list[Word] = []
    for ch, name in enumerate(("left", "right")):
        on_progress = progress.task(f"Transcribing {name} channel", audio.duration)
        result = asr.transcribe(
            audio.channels[ch] * masks[ch],
            model_dir,
            options.language,
            on_progress,
            vocabulary=prompted_vocabulary(options),
            sequential=sequential_decoding(options.asr_model),
        )
        speaker = labels.get(name, f"SPEAKER_{ch:02d}")
        words.extend(w.model_copy(update={"speaker": speaker}) for w in result.words)
    return sorted(words, key=lambda w: (w.start, w.end))


def transcribe_recording(path: Path, options: AudioOptions, cache_path: Path | None = None) -> Transcript:
    """Transcript (words, turns, utterances, speakers with roles) of a recording; see the module docstring.

    Raises AudioError (one line naming the file) for a recording that is not
    audio, corrupt or truncated, shorter than 2 s, silent, or has one speaker
    when the user asked for more with ``--speakers``.
    """
    path = Path(path)
    _check_options(options)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    t = time.perf_counter()
    audio = load_audio(path)
    timings["decode"] = time.perf_counter() - t

    model_dir, asr_info = resolve_asr_model(options.asr_model)
    key = cache_key(audio.sha256, options, asr_info)
    cached = _load_cached(cache_path, key)
    if cached is not None:
        result = _reroled(cached, options.officer)
        result.timings = {
            **cached.timings,
            "cache_load": round(time.perf_counter() - started, 3),
            "cached": 1.0,
        }
        return result

    warnings: list[str] = list(f"{path}: {note}" for note in audio.notes)
    method, _why = choose_method(audio, options.diarizer)
    progress = _Progress(options.progress)
    with progress.running():
        t = time.perf_counter()
        asr.load_whisper(model_dir)
        timings["asr_model_load"] = time.perf_counter() - t

        if method == "channels":
            t = time.perf_counter()
            diarization = diarize(
                audio, options.diarizer, options.speakers, on_progress=progress.task("Diarising", 1)
            )
            timings["diarisation"] = time.perf_counter() - t
            t = time.perf_counter()
            words = _transcribe_channels(audio, model_dir, options, diarization.label_map, progress)
            timings["transcription"] = time.perf_counter() - t
            if not words:
                raise AudioError(f"{path}: no speech found")
            t = time.perf_counter()
            # Channel attribution is exact: no smoothing, and overlapping talk stays apart.
            utterances = build_overlapping_utterances(words)
        else:
            warm = _warm_up(method, options.pyannote_model)
            mono = audio.mono
            regions = None
            if method == "embedded":
                # The diariser's VAD pass. Whisper runs faster-whisper's own VAD filter instead of being
                # given these regions as clips: on four 7-minute sessions the clips cost 0.002-0.014 WER
                # (bench_asr); the second pass costs about 1% of transcription time.
                from sessioncoder.speech.diarize.embedded import shared_speech_regions

                t = time.perf_counter()
                regions = shared_speech_regions(mono)
                timings["vad"] = time.perf_counter() - t
            t = time.perf_counter()
            result = asr.transcribe(
                mono,
                model_dir,
                options.language,
                progress.task("Transcribing", audio.duration),
                vocabulary=prompted_vocabulary(options),
                sequential=sequential_decoding(options.asr_model),
            )
            timings["transcription"] = time.perf_counter() - t
            if not result.words:
                raise AudioError(f"{path}: no speech found")
            if warm is not None:
                t = time.perf_counter()
                warm.join()
                timings["diarisation_model_load"] = getattr(warm, "seconds", 0.0)
                # What the warm-up did not hide behind transcription (pyannote's imports on a short file).
                timings["diarisation_model_wait"] = time.perf_counter() - t
            t = time.perf_counter()
            diarization = diarize(
                audio,
                options.diarizer,  # as asked, so the session's note says why ``method`` was chosen
                options.speakers,
                pyannote_model=options.pyannote_model,
                on_progress=progress.task("Diarising", 1),
                speech_regions=regions,
            )
            timings["diarisation"] = time.perf_counter() - t
            if not diarization.speakers:
                raise AudioError(f"{path}: no speech found")
            t = time.perf_counter()
            words, utterances = words_to_utterances(result.words, diarization.annotation)
    timings["alignment"] = time.perf_counter() - t

    speakers_found = sorted({u.speaker for u in utterances})
    if len(speakers_found) < 2:
        asked = options.speakers
        if options.speakers_explicit and asked != "auto" and int(asked) >= 2:
            raise AudioError(
                f"{path}: only one speaker detected, but --speakers {asked} was asked for "
                "(check the recording, or leave out --speakers to code it with roles unknown)"
            )
        # assign_roles adds the warning that roles are unknown.
    elif options.speakers != "auto" and len(speakers_found) < int(options.speakers):
        warnings.append(f"{path}: {len(speakers_found)} speakers detected, {options.speakers} asked for")
    warnings.extend(f"{path}: {note}" for note in diarization.notes if note.startswith("clusters merged"))

    transcript = Transcript(
        source=SourceInfo(
            path=str(path), sha256=audio.sha256, kind="audio", format=path.suffix.lstrip(".").lower()
        ),
        duration=round(audio.duration, 3),
        utterances=utterances,
        words=words,
        turns=annotation_to_turns(diarization.annotation),
        models=[asr_info, asr.vad_model_info(), *diarization.models, *_extra_models(diarization)],
        settings={
            "asr_model": options.asr_model,
            "language": options.language,
            "beam_size": asr.BEAM_SIZE,
            "decoding": "sequential" if sequential_decoding(options.asr_model) else "batched",
            "batch_size": None if sequential_decoding(options.asr_model) else asr.BATCH_SIZE,
            "initial_prompt": asr.vocabulary_prompt(prompted_vocabulary(options)),
            "compute_type": "int8",
            "vad_filter": not sequential_decoding(options.asr_model),
            "diarizer": diarization.method,
            "diarizer_requested": options.diarizer,
            "speakers": options.speakers,
            "pyannote_model": str(options.pyannote_model) if options.pyannote_model else None,
            "channels": audio.n_channels,
            "original_sample_rate": audio.original_sample_rate,
            "diarisation_notes": diarization.notes,
        },
        cache_key=key,
        warnings=warnings,
    )
    t = time.perf_counter()
    transcript = _with_roles(transcript, options.officer)
    timings["roles"] = time.perf_counter() - t
    total = time.perf_counter() - started
    timings["total"] = total
    timings["audio_seconds"] = audio.duration
    timings["rtf"] = total / audio.duration
    timings["rtf_transcription"] = timings["transcription"] / audio.duration
    timings["rtf_diarisation"] = timings["diarisation"] / audio.duration
    transcript.timings = {k: round(v, 4) for k, v in timings.items()}
    if cache_path is not None:
        transcript.save(cache_path)
    return transcript


def _warm_up(method: str, pyannote_model: Path | None = None) -> threading.Thread | None:
    """Load the diariser's models (embedded, or the bundled pyannote pipeline) on a thread while Whisper runs.

    Importing torch alone takes several seconds; CTranslate2 releases the GIL
    while it decodes, so the import overlaps transcription instead of adding
    to the total.
    """
    if method == "embedded":
        from sessioncoder.speech.diarize import embedded as backend
    elif method == "pyannote" and pyannote_model is None:
        from sessioncoder.speech.diarize import pyannote_backend as backend
    else:
        return None

    def load() -> None:
        started = time.perf_counter()
        # A failure here is reported properly when diarize() loads the models again.
        with contextlib.suppress(Exception):
            backend.load_models()
        thread.seconds = time.perf_counter() - started  # type: ignore[attr-defined]

    thread = threading.Thread(target=load, name="sessioncoder-diarisation-warm-up", daemon=True)
    thread.start()
    return thread


def _extra_models(diarization: Diarization) -> list[ModelInfo]:
    if diarization.method == "channels":
        return [ModelInfo(task="diarisation", name="channel energy (one lapel microphone per speaker)")]
    return []
