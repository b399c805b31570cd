"""Diarisation: embedded vs pyannote, DER and cost relative to transcription, per recording.

For every recording with a reference (fixtures, demo, pyannote sample, AMI
excerpts scored on their UEM, synthetic sessions with 2-4 voices, the stereo
clip's mono mix against its per-channel turns, AMI mixes of 3 and 4 main
voices) and for jfk (one voice: how
many speakers are found), it prints for both backends:
speakers in the reference / found, DER with a 0.25 s collar and with none
(pyannote.metrics, overlap scored), seconds, and the backend's share of the
project's transcription time (Whisper base, bench_asr's ASR stage, shared
VAD included) on the same file. The embedded diariser gets the shared VAD
regions, as in the pipeline; pyannote runs on the audio alone. Speaker count
as the pipeline is told: 2 for two-person sessions, ``auto`` for AMI, jfk
and the 3- and 4-voice sessions.

The default diariser is the more accurate one if its cost is at most 25% of
transcription time (TARGET_SHARE); the last lines say which, from these numbers.
Run with ``python -m bench diarize``.
"""

from __future__ import annotations

import os
import time
import warnings

from bench.speech_data import decoded, main_speakers, project_transcription, recordings

TARGET_SHARE = 0.25
TARGET_AMI = 0.20
TARGET_SAMPLE = 0.05
BACKENDS = ("embedded", "pyannote")


def diarise(backend: str, rec):
    from sessioncoder.speech.diarize import diarize
    from sessioncoder.speech.diarize.embedded import shared_speech_regions

    audio = decoded(rec.path)
    regions = shared_speech_regions(audio.mono) if backend == "embedded" else None
    # Loading is not part of the per-file cost (the pipeline overlaps it with transcription).
    if backend == "pyannote":
        from sessioncoder.speech.diarize import pyannote_backend

        pyannote_backend.load_models()
    else:
        from sessioncoder.speech.diarize import embedded

        embedded.load_models()
    started = time.perf_counter()
    result = diarize(audio, backend, rec.speakers, speech_regions=regions)
    return result.annotation, time.perf_counter() - started


def speaker_column(reference) -> str:
    """Speakers in the reference; "main of all" when some say little (under 10% of the speech)."""
    if reference is None:
        return "1"
    everyone, main = len(reference.labels()), main_speakers(reference)
    return str(everyone) if main == everyone else f"{main} of {everyone}"


def run() -> None:
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    from pyannote.metrics.diarization import DiarizationErrorRate
    from rich.console import Console
    from rich.table import Table

    from sessioncoder.errors import ModelError

    warnings.filterwarnings("ignore", message=".*uem.*approximated")
    console = Console(width=190)
    cases = [r for r in recordings() if r.rttm or r.name in ("jfk", "stereo clip")]
    cases = [r for r in cases if not r.name.startswith("fixture stereo")]  # channels backend: exact
    if os.environ.get("BENCH_ONLY"):  # e.g. BENCH_ONLY=stereo,jfk: names holding any of these
        cases = [r for r in cases if any(part in r.name for part in os.environ["BENCH_ONLY"].split(","))]
    table = Table(title="DER (overlap scored; lower is better) and cost relative to transcription (base)")
    table.add_column("recording")
    table.add_column("speakers", justify="right")
    for backend in BACKENDS:
        for col in ("found", "DER 0.25", "DER 0", "s", "of ASR"):
            table.add_column(f"{backend[:4]} {col}", justify="right")
    totals = {b: {c: DiarizationErrorRate(collar=c) for c in (0.25, 0.0)} for b in BACKENDS}
    sample: dict[str, float] = {}
    cost = {b: [0.0, 0.0] for b in BACKENDS}  # diarisation s, transcription s
    available = list(BACKENDS)
    for rec in cases:
        _text, asr_seconds = project_transcription(rec.path, "base")
        reference = rec.reference()
        if rec.name == "stereo clip":
            # No reference file: one speaker per channel, so the channel backend's turns (energy per
            # lapel microphone) are the reference for the backends that hear the mono mix.
            from sessioncoder.speech.diarize import diarize

            reference = diarize(decoded(rec.path), "channels").annotation
        row = [rec.name, speaker_column(reference)]
        for backend in BACKENDS:
            if backend not in available:
                row += ["-"] * 5
                continue
            try:
                hyp, seconds = diarise(backend, rec)
            except ModelError as exc:
                console.print(f"skip {backend}: {exc}")
                available.remove(backend)
                row += ["-"] * 5
                continue
            cost[backend][0] += seconds
            cost[backend][1] += asr_seconds
            if reference is None:
                row += [str(len(hyp.labels())), "", "", f"{seconds:.1f}", f"{seconds / asr_seconds:.0%}"]
                continue
            values = {c: DiarizationErrorRate(collar=c)(reference, hyp, uem=rec.uem) for c in (0.25, 0.0)}
            if rec.name.startswith("AMI trn"):  # the excerpts; the mixes repeat them
                for c in (0.25, 0.0):
                    totals[backend][c](reference, hyp, uem=rec.uem)
            if rec.name == "pyannote sample":
                sample[backend] = values[0.25]
            row += [
                str(len(hyp.labels())),
                f"{values[0.25]:.1%}",
                f"{values[0.0]:.1%}",
                f"{seconds:.1f}",
                f"{seconds / asr_seconds:.0%}",
            ]
        table.add_row(*row)
    ami_row = ["AMI overall", ""]
    for backend in BACKENDS:
        ami_row += ["", f"{abs(totals[backend][0.25]):.1%}", f"{abs(totals[backend][0.0]):.1%}", "", ""]
    table.add_row(*ami_row)
    share_row = ["all files: diarisation / transcription", ""]
    for backend in BACKENDS:
        d, a = cost[backend]
        share_row += ["", "", "", f"{d:.0f}", f"{d / a:.0%}" if a else "-"]
    table.add_row(*share_row)
    console.print(table)
    for backend in available:
        ami = abs(totals[backend][0.25])
        console.print(
            f"  {backend}: AMI DER (0.25 s) {ami:.1%} (target ≤ {TARGET_AMI:.0%}), pyannote sample "
            f"{sample.get(backend, float('nan')):.1%} (≤ {TARGET_SAMPLE:.0%}), cost "
            f"{cost[backend][0] / max(cost[backend][1], 1e-9):.0%} of transcription (≤ {TARGET_SHARE:.0%} to be the default)"
        )
    console.print(
        "  'of ASR' is diarisation seconds over the project's transcription seconds (Whisper base) on the same file.\n"
        "  Model loading is excluded for both; other processes sharing the CPU make all times pessimistic."
    )
