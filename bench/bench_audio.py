"""Audio front end: WER, DER, roles and speed, with the targets beside the measurements.

- WER (jiwer; case and punctuation normalised) of the full pipeline against
  the pyannote sample's .stm, jfk.flac, the stereo clip (texts in
  ../shared/data/README.md) and the synthetic sessions' scripts.
- DER (pyannote.metrics, collar 0.25 s and 0 s, overlap scored) of the
  diariser alone on the pyannote sample, the AMI excerpts (scored on their
  .uem, the first 30 s) and the synthetic sessions.
- Roles: on every synthetic session, is the speaker given the officer role
  the one who speaks the officer's lines?
- Speed: real-time factor, end to end and per stage, for Whisper base and
  tiny.en on the demo session (first run in the process: model loads included),
  and for base on a 12-minute session (the demo four times). The shared VAD
  pass (one silero-vad run whose regions feed both Whisper and the diariser)
  is its own column, outside both transcription and diarisation.

Run with ``python -m bench audio``. Whatever data is absent is skipped with
a line saying so. Takes about 3-6 minutes on 2 cores.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from bench import REPO, SHARED_DATA

AUDIO_DATA = SHARED_DATA / "audio"
FIXTURES = REPO / "tests" / "fixtures" / "audio"
EXAMPLES = REPO / "examples"

JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
STEREO_TEXT = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain on the left. "
    "The horizon seems extremely distant."
)

TARGET_RTF = 0.25
# What the default diariser may cost, as a share of transcription time: the budget that made pyannote the
# default (bench_diarize; it was 10% when the embedded diariser was the default).
TARGET_DIAR_SHARE = 0.25
TARGET_DER = 0.10


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


def read_rttm(path: Path, uri: str | None = None):
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 8 or (uri and parts[1] != uri):
            continue
        start, duration = float(parts[3]), float(parts[4])
        annotation[Segment(start, start + duration)] = parts[7]
    return annotation


def read_uem(path: Path, uri: str):
    from pyannote.core import Segment, Timeline

    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == uri:
            return Timeline([Segment(float(parts[2]), float(parts[3]))])
    return None


def script_text(path: Path) -> str:
    return " ".join(line.split(":", 1)[1] for line in path.read_text().splitlines() if ":" in line)


def synthetic_sessions() -> list[tuple[str, Path, Path, Path | None]]:
    """(name, audio, script, rttm) for the demo and the speech fixtures."""
    out = []
    demo = EXAMPLES / "supervision_session.ogg"
    if demo.exists():
        out.append(
            (
                "demo session (176 s)",
                demo,
                EXAMPLES / "supervision_session.txt",
                EXAMPLES / "supervision_session.rttm",
            )
        )
    for stem, ext in (("dialogue", "ogg"), ("phone_8k", "wav"), ("stereo_lapel", "ogg")):
        audio = FIXTURES / f"{stem}.{ext}"
        if audio.exists():
            rttm = FIXTURES / f"{stem}.rttm"
            out.append((f"fixture {stem}", audio, FIXTURES / f"{stem}.txt", rttm if rttm.exists() else None))
    return out


def roles_right(transcript, rttm: Path | None, script: Path) -> tuple[bool, float]:
    """Whether the officer-role speaker is the one who speaks the officer's lines, and word-level role accuracy."""
    if rttm is None:
        return False, 0.0
    reference = read_rttm(rttm)
    correct = total = 0
    for word in transcript.words:
        mid = (word.start + word.end) / 2
        labels = [
            label
            for seg, _, label in reference.itertracks(yield_label=True)
            if seg.start - 0.3 <= mid <= seg.end + 0.3
        ]
        if not labels:
            continue
        total += 1
        role = next((u.role for u in transcript.utterances if word in u.words), None)
        correct += role == labels[0].lower()
    accuracy = correct / total if total else 0.0
    return accuracy >= 0.9, accuracy


def run() -> None:
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    import warnings

    from rich.console import Console
    from rich.table import Table

    from sessioncoder.speech.audio import load_audio
    from sessioncoder.speech.diarize import choose_method, diarize
    from sessioncoder.speech.diarize.embedded import shared_speech_regions
    from sessioncoder.speech.recording import AudioOptions, transcribe_recording

    warnings.filterwarnings("ignore", message=".*uem.*approximated")
    console = Console(width=120)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    console.print(f"CPUs available: {len(os.sched_getaffinity(0))}; load average at start: {load:.1f}")

    # ------------------------------------------------------------------ speed (demo, cold per model)
    speed = Table(title="Speed: real-time factor (seconds of processing per second of audio)")
    for col in (
        "model",
        "audio s",
        "total s",
        "RTF e2e",
        "target",
        "ASR load s",
        "VAD s",
        "transcribe s",
        "diar s",
        "diar/ASR",
        "target",
    ):
        speed.add_column(col, justify="right")
    demo = EXAMPLES / "supervision_session.ogg"
    results: dict[str, dict] = {}
    for model in ("base", "tiny.en"):
        if not demo.exists():
            console.print(f"skip speed: {demo} missing")
            break
        started = time.perf_counter()
        t = transcribe_recording(demo, AudioOptions(asr_model=model, progress=False))
        wall = time.perf_counter() - started
        tm = t.timings
        share = tm["diarisation"] / tm["transcription"]
        speed.add_row(
            model,
            f"{tm['audio_seconds']:.0f}",
            f"{wall:.1f}",
            f"{wall / tm['audio_seconds']:.3f}",
            f"≤ {TARGET_RTF}" if model == "base" else "",
            f"{tm.get('asr_model_load', 0):.1f}",
            f"{tm.get('vad', 0):.1f}",
            f"{tm['transcription']:.1f}",
            f"{tm['diarisation']:.1f}",
            f"{share:.1%}",
            f"≤ {TARGET_DIAR_SHARE:.0%}" if model == "base" else "",
        )
        results[model] = {"demo": t}
    if demo.exists():
        # A longer session (the demo four times, about 12 minutes) shows how the cost scales.
        import tempfile
        import wave

        import numpy as np

        samples = np.concatenate([load_audio(demo).mono] * 4)
        with tempfile.TemporaryDirectory() as tmp:
            long_path = Path(tmp) / "long_session.wav"
            with wave.open(str(long_path), "wb") as handle:
                handle.setnchannels(1)
                handle.setsampwidth(2)
                handle.setframerate(16000)
                handle.writeframes((samples * 32767).astype(np.int16).tobytes())
            started = time.perf_counter()
            t = transcribe_recording(long_path, AudioOptions(asr_model="base", progress=False))
            wall = time.perf_counter() - started
        tm = t.timings
        speed.add_row(
            "base, 12 min",
            f"{tm['audio_seconds']:.0f}",
            f"{wall:.1f}",
            f"{wall / tm['audio_seconds']:.3f}",
            f"≤ {TARGET_RTF}",
            f"{tm.get('asr_model_load', 0):.1f}",
            f"{tm.get('vad', 0):.1f}",
            f"{tm['transcription']:.1f}",
            f"{tm['diarisation']:.1f}",
            f"{tm['diarisation'] / tm['transcription']:.1%}",
            f"≤ {TARGET_DIAR_SHARE:.0%}",
        )
    console.print(speed)
    console.print(
        "  VAD s is the one silero-vad pass shared by Whisper and the diariser (run before transcription); "
        "transcribe s, diar s and diar/ASR exclude it.\n"
        "  diar s excludes loading torch and the diariser's models, which overlaps transcription on a thread "
        f"(base run: {results.get('base', {}).get('demo').timings.get('diarisation_model_load', 0):.1f} s)."
        if "base" in results
        else ""
    )

    # ------------------------------------------------------------------ WER
    clips: list[tuple[str, Path, str, dict]] = []
    if AUDIO_DATA.exists():
        stm = AUDIO_DATA / "pyannote_sample.stm"
        if stm.exists():
            ref = " ".join(
                " ".join(line.split()[5:]) for line in stm.read_text().splitlines() if line.strip()
            )
            clips.append(("pyannote sample (telephone, 30 s)", AUDIO_DATA / "pyannote_sample.wav", ref, {}))
        if (AUDIO_DATA / "jfk.flac").exists():
            clips.append(("jfk.flac (one speaker, 11 s)", AUDIO_DATA / "jfk.flac", JFK_TEXT, {}))
        if (AUDIO_DATA / "stereo_diarization.wav").exists():
            clips.append(
                (
                    "stereo clip (one per channel, 5 s)",
                    AUDIO_DATA / "stereo_diarization.wav",
                    STEREO_TEXT,
                    {"by_speaker": True},
                )
            )
    else:
        console.print(f"skip shared-data WER and DER: {AUDIO_DATA} missing")
    for name, audio, script, _rttm in synthetic_sessions():
        clips.append((name, audio, script_text(script), {}))

    wer_table = Table(title="WER (lower is better; case and punctuation ignored)")
    wer_table.add_column("recording")
    for model in ("base", "tiny.en"):
        wer_table.add_column(f"WER {model}", justify="right")
    wer_table.add_column("speakers (base)", justify="right")
    transcripts: dict[tuple[str, str], object] = {}
    for name, audio, reference, opts in clips:
        row = [name]
        for model in ("base", "tiny.en"):
            if audio == demo and model in results:
                t = results[model]["demo"]
            else:
                t = transcribe_recording(audio, AudioOptions(asr_model=model, progress=False))
            transcripts[(name, model)] = t
            if opts.get("by_speaker"):
                # Overlapping speakers: compare each speaker's words in order of first appearance.
                hyp = " ".join(
                    " ".join(u.text for u in t.utterances if u.speaker == s.id) for s in t.speakers
                )
            else:
                hyp = " ".join(w.text for w in t.words)
            row.append(f"{wer(reference, hyp):.1%}")
        row.append(str(len(transcripts[(name, "base")].speakers)))
        wer_table.add_row(*row)
    console.print(wer_table)

    # ------------------------------------------------------------------ roles
    roles_table = Table(title="Roles on the synthetic sessions (target: right on every one)")
    for col in ("session", "officer found", "officer confidence", "words with the right role", "right?"):
        roles_table.add_column(col)
    for name, _audio, script, rttm in synthetic_sessions():
        t = transcripts.get((name, "base"))
        if t is None:
            continue
        ok, accuracy = roles_right(t, rttm, script)
        officer = next((s for s in t.speakers if s.role == "officer"), None)
        roles_table.add_row(
            name,
            officer.id if officer else "-",
            f"{officer.role_confidence:.2f}" if officer else "-",
            f"{accuracy:.1%}",
            "yes" if ok else "NO",
        )
    console.print(roles_table)

    # ------------------------------------------------------------------ DER
    from pyannote.metrics.diarization import DiarizationErrorRate

    der_table = Table(
        title="DER of the embedded diariser, the fallback without the pyannote extra (overlap scored; lower is better)"
    )
    for col in ("recording", "speakers ref/found", "DER collar 0.25 s", "target", "DER collar 0", "diar s"):
        der_table.add_column(col, justify="right")
    cases: list[tuple[str, Path, object, object, int | str]] = []
    if (AUDIO_DATA / "pyannote_sample.rttm").exists():
        cases.append(
            (
                "pyannote sample",
                AUDIO_DATA / "pyannote_sample.wav",
                read_rttm(AUDIO_DATA / "pyannote_sample.rttm"),
                None,
                2,
            )
        )
    ami = AUDIO_DATA / "ami"
    if (ami / "train.rttm").exists():
        for wav in sorted(ami.glob("trn*.wav")):
            cases.append(
                (
                    f"AMI {wav.stem} (auto)",
                    wav,
                    read_rttm(ami / "train.rttm", wav.stem),
                    read_uem(ami / "train.uem", wav.stem),
                    "auto",
                )
            )
    else:
        console.print(f"skip AMI DER: {ami} missing")
    for name, audio, _script, rttm in synthetic_sessions():
        if rttm is not None:
            cases.append((name, audio, read_rttm(rttm), None, 2))
    ami_totals = {0.25: DiarizationErrorRate(collar=0.25), 0.0: DiarizationErrorRate(collar=0.0)}
    for name, audio_path, reference, uem, speakers in cases:
        audio = load_audio(audio_path)
        # As in the pipeline: the embedded diariser gets the shared VAD pass's regions (not timed here).
        method = choose_method(audio, "auto")[0]
        method = "embedded" if method == "pyannote" else method  # this table is the embedded diariser's
        regions = shared_speech_regions(audio.mono) if method == "embedded" else None
        started = time.perf_counter()
        result = diarize(audio, method, speakers, speech_regions=regions)
        seconds = time.perf_counter() - started
        hyp = result.annotation
        values = {}
        for collar in (0.25, 0.0):
            metric = DiarizationErrorRate(collar=collar)
            values[collar] = metric(reference, hyp, uem=uem)
            if name.startswith("AMI"):
                ami_totals[collar](reference, hyp, uem=uem)
        der_table.add_row(
            name,
            f"{len(reference.labels())}/{len(hyp.labels())}",
            f"{values[0.25]:.1%}",
            f"≤ {TARGET_DER:.0%}" if name == "pyannote sample" else "",
            f"{values[0.0]:.1%}",
            f"{seconds:.1f}",
        )
    if any(n.startswith("AMI") for n, *_ in cases):
        der_table.add_row(
            "AMI overall",
            "",
            f"{abs(ami_totals[0.25]):.1%}",
            "",
            f"{abs(ami_totals[0.0]):.1%}",
            "",
        )
    console.print(der_table)
    console.print(
        "  AMI excerpts are far-field meetings with 2-4 speakers and little speech in the scored 30 s; "
        "the embedded diariser is built for two-person sessions. bench_diarize puts it beside pyannote, the default.\n"
        "  The embedded diariser is given the shared VAD pass's speech regions, as in the pipeline."
    )
