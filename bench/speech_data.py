"""Recordings with references shared by bench_asr and bench_diarize, and the project's timed transcription.

- fixtures (tests/fixtures/audio) and the demo (examples/): scripts and RTTM;
- ../shared/data/audio: the pyannote sample (.stm words, .rttm turns), jfk,
  the stereo clip (texts in bench_audio), the AMI excerpts (RTTM + UEM);
- synthetic sessions of 6-7 minutes with 2, 3 and 4 voices, built once with
  espeak-ng by scripts/make_long_sessions.py into the cache (skipped, with a
  line, when espeak-ng or sox is missing);
- AMI mixes: the scored 30 s of several AMI excerpts end to end, so that real
  far-field voices, 3 or 4 of them with most of the talk, share one recording
  (``ami_mix``). espeak-ng voices cannot test the count: segmentation-3.0
  hears two of them as one inside a chunk.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from bench.bench_audio import (
    AUDIO_DATA,
    EXAMPLES,
    FIXTURES,
    JFK_TEXT,
    REPO,
    STEREO_TEXT,
    read_rttm,
    read_uem,
    script_text,
)

SESSIONS = ("session_a", "session_b", "session_3v", "session_4v")
# Excerpts put end to end. Main voices (most of each excerpt's talk): trn03 MÉO069, trn05 FEE078,
# trn06 FEE083, trn09 FEE083 again (the same voice in a second excerpt must stay one speaker) and MEE094.
AMI_MIXES = {
    "AMI mix, 3 main voices": ("trn03", "trn05", "trn06"),
    "AMI mix, 4 main voices": ("trn03", "trn05", "trn06", "trn09"),
}
AMI_SCORED_SECONDS = 30.0  # the part of each excerpt that train.rttm covers (train.uem)


@dataclass
class Recording:
    name: str
    path: Path
    text: str | None = None  # reference words
    rttm: Path | None = None
    uri: str | None = None  # for a multi-file RTTM
    uem: object = None
    speakers: int | str = 2  # what the pipeline is told (AMI: auto)
    notes: list[str] = field(default_factory=list)

    def reference(self):
        return read_rttm(self.rttm, self.uri) if self.rttm else None


def sessions_dir() -> Path | None:
    """The synthetic sessions, built on first use (a few minutes of espeak-ng)."""
    from sessioncoder.models.store import cache_dir

    out = cache_dir() / "bench" / "sessions"
    if all((out / f"{n}.ogg").exists() for n in SESSIONS):
        return out
    script = REPO / "scripts" / "make_long_sessions.py"
    done = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"skip synthetic sessions: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return out


def recordings() -> list[Recording]:
    out: list[Recording] = []
    for stem, ext in (("dialogue", "ogg"), ("phone_8k", "wav"), ("stereo_lapel", "ogg")):
        audio = FIXTURES / f"{stem}.{ext}"
        if audio.exists():
            rttm = FIXTURES / f"{stem}.rttm"
            out.append(
                Recording(
                    f"fixture {stem}",
                    audio,
                    script_text(FIXTURES / f"{stem}.txt"),
                    rttm if rttm.exists() else None,
                )
            )
    demo = EXAMPLES / "supervision_session.ogg"
    if demo.exists():
        out.append(
            Recording(
                "demo session",
                demo,
                script_text(EXAMPLES / "supervision_session.txt"),
                EXAMPLES / "supervision_session.rttm",
            )
        )
    if AUDIO_DATA.exists():
        stm = AUDIO_DATA / "pyannote_sample.stm"
        if stm.exists():
            words = " ".join(
                " ".join(line.split()[5:]) for line in stm.read_text().splitlines() if line.strip()
            )
            out.append(
                Recording(
                    "pyannote sample",
                    AUDIO_DATA / "pyannote_sample.wav",
                    words,
                    AUDIO_DATA / "pyannote_sample.rttm",
                )
            )
        if (AUDIO_DATA / "jfk.flac").exists():
            out.append(Recording("jfk", AUDIO_DATA / "jfk.flac", JFK_TEXT, speakers="auto"))
        if (AUDIO_DATA / "stereo_diarization.wav").exists():
            out.append(Recording("stereo clip", AUDIO_DATA / "stereo_diarization.wav", STEREO_TEXT))
        ami = AUDIO_DATA / "ami"
        if (ami / "train.rttm").exists():
            for wav in sorted(ami.glob("trn*.wav")):
                out.append(
                    Recording(
                        f"AMI {wav.stem}",
                        wav,
                        rttm=ami / "train.rttm",
                        uri=wav.stem,
                        uem=read_uem(ami / "train.uem", wav.stem),
                        speakers="auto",
                    )
                )
            out += ami_mix_recordings(ami)
    else:
        print(f"skip shared data: {AUDIO_DATA} missing")
    folder = sessions_dir()
    if folder is not None:
        for name in SESSIONS:
            voices = {"session_3v": 3, "session_4v": 4}.get(name, 2)
            out.append(
                Recording(
                    f"synthetic {name} ({voices} voices)",
                    folder / f"{name}.ogg",
                    script_text(folder / f"{name}.txt"),
                    folder / f"{name}.rttm",
                    speakers=2 if voices == 2 else "auto",  # more voices: can the count be found?
                )
            )
    return out


def ami_mix(ami_dir: Path, stems: tuple[str, ...]):
    """The scored part of each AMI excerpt, end to end: 16 kHz mono samples and the reference turns.

    Speaker labels are AMI's, which name the same person in different excerpts.
    """
    import numpy as np
    from pyannote.core import Annotation, Segment

    from sessioncoder.speech.audio import SAMPLE_RATE, load_audio

    n = int(AMI_SCORED_SECONDS * SAMPLE_RATE)
    parts, reference = [], Annotation(uri="+".join(stems))
    for k, stem in enumerate(stems):
        mono = load_audio(ami_dir / f"{stem}.wav").mono[:n]
        parts.append(np.pad(mono, (0, n - len(mono))))
        offset = k * AMI_SCORED_SECONDS
        for segment, track, label in read_rttm(ami_dir / "train.rttm", stem).itertracks(yield_label=True):
            reference[Segment(segment.start + offset, segment.end + offset), (stem, track)] = label
    return np.concatenate(parts), reference


def main_speakers(annotation, share: float = 0.1) -> int:
    """Speakers with at least ``share`` of the speech: what a count should find (a 0.4 s interjection is not)."""
    total = sum(annotation.label_duration(label) for label in annotation.labels())
    return sum(annotation.label_duration(label) >= share * total for label in annotation.labels())


def ami_mix_recordings(ami_dir: Path) -> list[Recording]:
    """AMI_MIXES as wav + RTTM files in the cache (written once, atomically), told ``auto``."""
    import soundfile as sf

    from sessioncoder.fileio import atomic_open
    from sessioncoder.models.store import cache_dir
    from sessioncoder.speech.audio import SAMPLE_RATE

    folder = cache_dir() / "bench" / "ami_mix"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, stems in AMI_MIXES.items():
        base = folder / "_".join(stems)
        wav, rttm = base.with_suffix(".wav"), base.with_suffix(".rttm")
        if not (wav.exists() and rttm.exists()):
            samples, reference = ami_mix(ami_dir, stems)
            with atomic_open(rttm) as handle:
                reference.write_rttm(handle)
            with atomic_open(wav, "wb") as handle:
                sf.write(handle, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        out.append(Recording(name, wav, rttm=rttm, uri="+".join(stems), speakers="auto"))
    return out


@cache
def decoded(path: Path):
    from sessioncoder.speech.audio import load_audio

    return load_audio(path)


@cache
def project_transcription(path: Path, model: str, vocabulary: tuple[str, ...] = ()) -> tuple[str, float]:
    """The recording pipeline's ASR stage on a mono mix: text and seconds.

    As in ``speech.recording``: batched beam search over faster-whisper's own
    VAD filter, or sequential for ``SEQUENTIAL_MODELS``; the codebook
    vocabulary (or none) as prompt.
    """
    from sessioncoder.models.store import resolve_asr_model
    from sessioncoder.speech import asr
    from sessioncoder.speech.recording import sequential_decoding

    model_dir, _ = resolve_asr_model(model)
    asr.load_whisper(model_dir)
    mono = decoded(path).mono
    started = time.perf_counter()
    result = asr.transcribe(
        mono, model_dir, "en", vocabulary=list(vocabulary) or None, sequential=sequential_decoding(model)
    )
    seconds = time.perf_counter() - started
    return " ".join(w.text for w in result.words), seconds
