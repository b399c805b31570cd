"""ASR: the project's transcription beside plain faster-whisper, per file, same audio and model.

For Whisper base and tiny.en, on every recording with reference words
(fixtures, demo, pyannote sample, jfk, stereo clip as a mono mix, synthetic
sessions of 6-7 minutes), it prints:

- WER of the project's ASR stage (the recording pipeline's: faster-whisper's
  VAD filter, batched beam search 5, words from word timestamps; tiny.en
  sequential, see ``speech.recording.SEQUENTIAL_MODELS``), with and
  without the codebook's vocabulary prompted to Whisper (``code`` prompts it);
- WER of plain ``WhisperModel(...).transcribe(audio)`` with faster-whisper's
  defaults and no batching (text joined from its segments);
- both times, and whether the project as `code` runs it (vocabulary prompted, except for
  tiny.en) is within 0.01 of plain.

WER: jiwer on lower-cased text with punctuation removed (bench_audio.normalise).
Run with ``python -m bench asr``; slow on long sessions (plain decoding is
sequential): about 15-25 minutes on 2 free cores.
"""

from __future__ import annotations

import os
import time

from bench.bench_audio import wer
from bench.speech_data import decoded, project_transcription, recordings

# BENCH_ASR_MODELS=base runs one model only (the long sessions make the pair slow).
MODELS = tuple(os.environ.get("BENCH_ASR_MODELS", "base,tiny.en").split(","))
MARGIN = 0.01


def plain_transcription(path, model: str) -> tuple[str, float]:
    from sessioncoder.models.store import resolve_asr_model
    from sessioncoder.speech import asr

    model_dir, _ = resolve_asr_model(model)
    whisper = asr.load_whisper(model_dir)  # the same WhisperModel (int8, CPU threads) as the project's
    mono = decoded(path).mono
    started = time.perf_counter()
    segments, _info = whisper.transcribe(mono)
    text = " ".join(s.text for s in segments)
    return text, time.perf_counter() - started


def run() -> None:
    from rich.console import Console
    from rich.table import Table

    from sessioncoder.coding.codebook import load_codebook
    from sessioncoder.speech.recording import UNPROMPTED_MODELS

    console = Console(width=140)
    vocabulary = tuple(load_codebook().vocabulary)
    cases = [r for r in recordings() if r.text]
    if os.environ.get("BENCH_ONLY"):  # e.g. BENCH_ONLY=synthetic,jfk: names holding any of these
        cases = [r for r in cases if any(part in r.name for part in os.environ["BENCH_ONLY"].split(","))]
    if not cases:
        console.print("skip ASR bench: no recordings with reference words")
        return
    for model in MODELS:
        table = Table(title=f"WER, project vs plain faster-whisper ({model}); lower is better")
        for col in (
            "recording",
            "audio s",
            "WER project",
            "WER + vocabulary",
            "WER plain",
            "as `code` runs - plain",
            "≤ +0.01?",
            "project s",
            "plain s",
        ):
            table.add_column(col, justify="right")
        worst = 0.0
        for rec in cases:
            project, project_s = project_transcription(rec.path, model)
            with_vocab, _ = project_transcription(rec.path, model, vocabulary)
            plain, plain_s = plain_transcription(rec.path, model)
            w_project, w_vocab, w_plain = (
                wer(rec.text, project),
                wer(rec.text, with_vocab),
                wer(rec.text, plain),
            )
            # The gap that counts is that of what `code` runs: prompted with the vocabulary, except
            # the UNPROMPTED_MODELS (tiny.en).
            w_shipped = w_project if model in UNPROMPTED_MODELS else w_vocab
            worst = max(worst, w_shipped - w_plain)
            table.add_row(
                rec.name,
                f"{decoded(rec.path).duration:.0f}",
                f"{w_project:.3f}",
                f"{w_vocab:.3f}",
                f"{w_plain:.3f}",
                f"{w_shipped - w_plain:+.3f}",
                "yes" if w_shipped <= w_plain + MARGIN else "NO",
                f"{project_s:.1f}",
                f"{plain_s:.1f}",
            )
        console.print(table)
        console.print(
            f"  largest (as `code` runs) - plain: {worst:+.3f} (target ≤ {MARGIN:+.2f} on every file)"
        )
    console.print(
        "  Project: faster-whisper's VAD filter, batched beam search 5, WER on its words; sequential beam 5\n"
        "  over the whole recording for speech.recording.SEQUENTIAL_MODELS (tiny.en).\n"
        "  Plain: WhisperModel.transcribe(audio) with faster-whisper's defaults (beam 5, no VAD, no batching).\n"
        f"  Vocabulary: the stics codebook's {len(vocabulary)} terms as Whisper's initial prompt "
        "(what `code` does, except with tiny.en: speech.recording.UNPROMPTED_MODELS).\n"
        "  Times are wall-clock on this machine; other processes sharing the CPU make them pessimistic."
    )
