"""Speech recognition with faster-whisper: int8 on CPU, word timestamps, VAD filter on.

Models are loaded once per process and kept (module-level cache), because
loading costs about as much as transcribing a minute of audio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sessioncoder.compute import cpu_threads
from sessioncoder.errors import ModelError
from sessioncoder.schema import ModelInfo, Word
from sessioncoder.speech.audio import SAMPLE_RATE

_MODELS: dict[tuple[str, int], object] = {}

# Beam search 5, Whisper's and faster-whisper's default. Greedy decoding (1) was where the words were
# lost: on two 7-minute synthetic sessions (Whisper base) greedy gave WER 0.103 / 0.161 in batched and
# 0.103 / 0.155 in sequential mode, beam 5 0.081 / 0.129 batched and 0.082 / 0.131 for plain
# faster-whisper; almost all of the difference is substitutions (bench/bench_asr.py).
BEAM_SIZE = 5
# faster-whisper's batched pipeline decodes several VAD chunks at once: with beam 5 it is as accurate
# as the sequential decoder (above) and faster on 2 cores, so batching stays.
BATCH_SIZE = 4
# The vocabulary prompt (probation terms from the codebook) is given to Whisper as ``initial_prompt``:
# batched mode gives every 30 s chunk the same prompt.
PROMPT_PREFIX = "A probation supervision session. Terms: "
MAX_PROMPT_TERMS = 40  # Whisper keeps at most 223 prompt tokens; 40 short terms stay well inside
# faster-whisper's VAD filter settings for Whisper (its vad_parameters below) and its chunk length.
# Given shared VAD regions, ``speech_chunks`` shapes them the same way.
VAD_MIN_SILENCE_SECONDS = 0.5
VAD_SPEECH_PAD_SECONDS = 0.2
CHUNK_SECONDS = 30.0


def load_whisper(model_dir: Path, threads: int | None = None):
    """A faster-whisper model for ``model_dir``, loaded once per process."""
    threads = threads or cpu_threads()
    key = (str(model_dir), threads)
    if key not in _MODELS:
        from faster_whisper import WhisperModel

        try:
            _MODELS[key] = WhisperModel(
                str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError for a bad model
            raise ModelError(f"{model_dir}: cannot load Whisper model ({exc})") from exc
    return _MODELS[key]


@dataclass
class AsrResult:
    words: list[Word]
    language: str
    language_probability: float
    speech_seconds: float  # audio left after faster-whisper's VAD filter


def speech_chunks(
    regions: list[tuple[float, float]], duration: float, region_pad: float = 0.06
) -> list[tuple[float, float]]:
    """Whisper's speech chunks (seconds) from VAD ``regions`` already padded by ``region_pad`` each side.

    Reproduces what faster-whisper's VAD filter does with our settings
    (``min_silence_duration_ms=500``, ``speech_pad_ms=200``, at most 30 s
    each): regions separated by less than 0.5 s of unpadded silence are one
    chunk, each chunk is padded to 0.2 s each side (a gap too short for two
    pads is split in the middle), and no chunk is longer than 30 s (a longer
    run is cut into equal parts).
    """
    extra = max(VAD_SPEECH_PAD_SECONDS - region_pad, 0.0)
    merge_gap = VAD_MIN_SILENCE_SECONDS - 2 * region_pad
    longest = CHUNK_SECONDS - 2 * extra
    merged: list[list[float]] = []
    for start, end in sorted(regions):
        start, end = max(0.0, start), min(duration, end)
        if end <= start:
            continue
        if (
            merged
            and start - merged[-1][1] < merge_gap
            and max(end, merged[-1][1]) - merged[-1][0] <= longest
        ):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[tuple[float, float]] = []
    for start, end in merged:
        parts = max(1, int(np.ceil((end - start) / longest - 1e-9)))
        step = (end - start) / parts
        pieces.extend((start + i * step, start + (i + 1) * step) for i in range(parts))
    chunks: list[tuple[float, float]] = []
    for i, (start, end) in enumerate(pieces):
        gap_before = start - pieces[i - 1][1] if i else None
        gap_after = pieces[i + 1][0] - end if i + 1 < len(pieces) else None
        pad_before = extra if gap_before is None or gap_before >= 2 * extra else gap_before / 2
        pad_after = extra if gap_after is None or gap_after >= 2 * extra else gap_after / 2
        chunks.append((max(0.0, start - pad_before), min(duration, end + pad_after)))
    return chunks


def pack_clips(
    lengths: list[int], max_samples: int = int(CHUNK_SECONDS * SAMPLE_RATE)
) -> list[tuple[int, int]]:
    """Clips (start, end samples) of the speech chunks laid end to end, each at most ``max_samples`` long.

    Greedy, like faster-whisper's ``collect_chunks``: a chunk that would
    overflow the current clip starts the next one.
    """
    clips: list[tuple[int, int]] = []
    clip_start = position = 0
    for length in lengths:
        if position > clip_start and position + length - clip_start > max_samples:
            clips.append((clip_start, position))
            clip_start = position
        position += length
    if position > clip_start:
        clips.append((clip_start, position))
    return clips


def transcribe(
    samples: np.ndarray,
    model_dir: Path,
    language: str | None = "en",
    on_progress: Callable[[float], None] | None = None,
    speech_regions: list[tuple[float, float]] | None = None,
    vocabulary: list[str] | None = None,
    sequential: bool = False,
) -> AsrResult:
    """Words with timings (seconds) for 16 kHz mono ``samples``.

    ``sequential``: faster-whisper's own sequential decoder over the whole
    recording (no VAD cut, each window conditioned on the text before), for
    models that lose words to the batched pipeline (``speech.recording.SEQUENTIAL_MODELS``).

    ``vocabulary``: domain terms (the codebook's ``vocabulary``) Whisper is
    prompted with, so it spells "licence", "OASys" or "unpaid work" as the
    service does.

    ``on_progress`` is called with the audio time (seconds) reached so far.
    ``speech_regions`` (seconds, from ``diarize.embedded.shared_speech_regions``)
    replace faster-whisper's own VAD pass: the speech chunks built from them
    are laid end to end, as the VAD filter does, and given to Whisper as
    ``clip_timestamps`` of at most 30 s.
    """
    if sequential:
        return _transcribe_sequential(samples, model_dir, language, on_progress, vocabulary)
    if speech_regions is not None:
        return _transcribe_regions(samples, model_dir, language, on_progress, speech_regions, vocabulary)
    from faster_whisper import BatchedInferencePipeline

    model = load_whisper(model_dir)
    pipeline = BatchedInferencePipeline(model)
    segments, info = pipeline.transcribe(
        samples.astype(np.float32, copy=False),
        language=language,
        beam_size=BEAM_SIZE,
        word_timestamps=True,
        vad_filter=True,
        vad_parameters={"min_silence_duration_ms": 500, "speech_pad_ms": 200},
        condition_on_previous_text=False,
        batch_size=BATCH_SIZE,
        initial_prompt=vocabulary_prompt(vocabulary),
    )
    words = _collect_words(segments, on_progress, len(samples) / SAMPLE_RATE)
    speech = getattr(info, "duration_after_vad", None) or info.duration
    return AsrResult(words, info.language, float(info.language_probability), float(speech))


def _transcribe_sequential(
    samples: np.ndarray,
    model_dir: Path,
    language: str | None,
    on_progress: Callable[[float], None] | None,
    vocabulary: list[str] | None,
) -> AsrResult:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    samples = samples.astype(np.float32, copy=False)
    duration = len(samples) / SAMPLE_RATE
    # The same VAD as the batched path, only to say whether there is speech at all (and how much):
    # without it Whisper can "hear" a few words in a silent recording.
    vad = VadOptions(
        min_silence_duration_ms=int(VAD_MIN_SILENCE_SECONDS * 1000),
        speech_pad_ms=int(VAD_SPEECH_PAD_SECONDS * 1000),
    )
    speech = get_speech_timestamps(samples, vad)
    if not speech:
        if on_progress:
            on_progress(duration)
        return AsrResult([], language or "", 0.0, 0.0)
    segments, info = load_whisper(model_dir).transcribe(
        samples,
        language=language,
        beam_size=BEAM_SIZE,
        word_timestamps=True,
        initial_prompt=vocabulary_prompt(vocabulary),
    )
    words = _collect_words(segments, on_progress, duration)
    speech_seconds = sum(c["end"] - c["start"] for c in speech) / SAMPLE_RATE
    return AsrResult(words, info.language, float(info.language_probability), float(speech_seconds))


def vocabulary_prompt(vocabulary: list[str] | None) -> str | None:
    """Whisper's ``initial_prompt`` for a list of domain terms (None for none).

    >>> vocabulary_prompt(["unpaid work", "OASys", "unpaid work"])
    'A probation supervision session. Terms: unpaid work, OASys.'
    """
    terms = list(dict.fromkeys(t.strip() for t in vocabulary or [] if t and t.strip()))[:MAX_PROMPT_TERMS]
    return PROMPT_PREFIX + ", ".join(terms) + "." if terms else None


def _collect_words(segments, on_progress, duration: float, timeline=None) -> list[Word]:
    """Words from faster-whisper's segments, with times mapped back to the recording through
    ``timeline`` (a ``SpeechTimestampsMap``) when the audio given to Whisper was cut to speech."""
    words: list[Word] = []
    for segment in segments:
        for w in segment.words or []:
            text = w.word.strip()
            if not text:
                continue
            start, end = float(w.start), float(w.end)
            if timeline is not None:
                chunk = timeline.get_chunk_index((start + end) / 2)
                start, end = timeline.get_original_time(start, chunk), timeline.get_original_time(end, chunk)
            words.append(
                Word(
                    text=text,
                    start=round(float(start), 3),
                    end=round(float(end), 3),
                    probability=round(float(w.probability), 4),
                )
            )
        if on_progress:
            reached = (
                segment.end if timeline is None else timeline.get_original_time(segment.end, is_end=True)
            )
            on_progress(float(reached))
    if on_progress:
        on_progress(duration)
    return words


def _transcribe_regions(
    samples: np.ndarray,
    model_dir: Path,
    language: str | None,
    on_progress: Callable[[float], None] | None,
    speech_regions: list[tuple[float, float]],
    vocabulary: list[str] | None = None,
) -> AsrResult:
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.vad import SpeechTimestampsMap

    duration = len(samples) / SAMPLE_RATE
    bounds = [
        (round(start * SAMPLE_RATE), round(end * SAMPLE_RATE))
        for start, end in speech_chunks(speech_regions, duration)
    ]
    bounds = [(start, end) for start, end in bounds if end > start]
    if not bounds:
        if on_progress:
            on_progress(duration)
        return AsrResult([], language or "", 0.0, 0.0)
    samples = samples.astype(np.float32, copy=False)
    speech = np.concatenate([samples[start:end] for start, end in bounds])
    clips = pack_clips([end - start for start, end in bounds])
    pipeline = BatchedInferencePipeline(load_whisper(model_dir))
    segments, info = pipeline.transcribe(
        speech,
        language=language,
        beam_size=BEAM_SIZE,
        word_timestamps=True,
        vad_filter=False,
        clip_timestamps=[{"start": start / SAMPLE_RATE, "end": end / SAMPLE_RATE} for start, end in clips],
        condition_on_previous_text=False,
        batch_size=BATCH_SIZE,
        initial_prompt=vocabulary_prompt(vocabulary),
    )
    # Times in ``speech`` back to times in the recording, as faster-whisper's restore_speech_timestamps does.
    timeline = SpeechTimestampsMap([{"start": start, "end": end} for start, end in bounds], SAMPLE_RATE)
    words = _collect_words(segments, on_progress, duration, timeline)
    speech_seconds = len(speech) / SAMPLE_RATE
    return AsrResult(words, info.language, float(info.language_probability), speech_seconds)


def vad_model_info() -> ModelInfo:
    from importlib import metadata

    return ModelInfo(
        task="vad",
        name="silero-vad v6 (faster-whisper VAD filter)",
        version=f"faster-whisper=={metadata.version('faster-whisper')}",
        licence="MIT",
    )
