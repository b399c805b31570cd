"""Speak a two-person "Speaker: text" script with espeak-ng into one recording.

Used for the demo recording (examples/) and the test fixtures
(tests/fixtures/audio, via scripts/make_fixtures.sh). Needs the system tools
espeak-ng and sox (apt-get install espeak-ng sox libsox-fmt-all).

The first speaker in the script gets the first voice, the second the second.
Each line is spoken separately and joined with short pauses, so the exact
timing of every line is known; ``--rttm`` writes that as a reference.

Examples:
    python scripts/synth_dialogue.py examples/supervision_session.txt examples/supervision_session.ogg
    python scripts/synth_dialogue.py dialogue.txt stereo.ogg --stereo
    python scripts/synth_dialogue.py dialogue.txt phone.wav --rate 8000 --telephone
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

# (espeak voice, pitch 0-99, words per minute): two clearly different voices.
VOICES = [("en-gb+m3", 38, 165), ("en-us+f2", 72, 178)]
RATE = 22_050  # espeak-ng's native rate
PAUSES = (0.45, 0.8, 0.6, 0.35, 0.7)  # between turns, cycled: not all equal, like real talk


def read_script(path: Path) -> list[tuple[str, str]]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if ":" not in raw or not raw.strip():
            continue
        speaker, text = raw.split(":", 1)
        lines.append((speaker.strip(), text.strip()))
    return lines


def speak(text: str, voice: tuple[str, int, int], workdir: Path) -> np.ndarray:
    name, pitch, speed = voice
    out = workdir / "line.wav"
    subprocess.run(
        ["espeak-ng", "-v", name, "-p", str(pitch), "-s", str(speed), "-w", str(out), text],
        check=True,
        capture_output=True,
    )
    with wave.open(str(out)) as handle:
        assert handle.getframerate() == RATE and handle.getnchannels() == 1
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def synthesise(
    lines: list[tuple[str, str]], stereo: bool, crosstalk_db: float
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    speakers: list[str] = []
    for speaker, _ in lines:
        if speaker not in speakers:
            speakers.append(speaker)
    if len(speakers) > len(VOICES):
        sys.exit(f"at most {len(VOICES)} speakers, found {speakers}")
    voice_of = {s: VOICES[i] for i, s in enumerate(speakers)}
    channel_of = {s: i for i, s in enumerate(speakers)}
    leak = 10 ** (-crosstalk_db / 20)
    pieces: list[np.ndarray] = []
    reference: list[tuple[float, float, str]] = []
    t = 0.3
    pieces.append(np.zeros((2, int(0.3 * RATE)), dtype=np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        for i, (speaker, text) in enumerate(lines):
            mono = speak(text, voice_of[speaker], Path(tmp))
            # espeak pads lines with silence; trim to the spoken part for an exact reference.
            loud = np.flatnonzero(np.abs(mono) > 0.01)
            if len(loud):
                mono = mono[max(0, loud[0] - 200) : loud[-1] + 200]
            frame = np.zeros((2, len(mono)), dtype=np.float32)
            own = channel_of[speaker]
            frame[own] = mono
            frame[1 - own] = mono * leak
            reference.append((round(t, 3), round(t + len(mono) / RATE, 3), speaker))
            pieces.append(frame)
            pause = PAUSES[i % len(PAUSES)]
            pieces.append(np.zeros((2, int(pause * RATE)), dtype=np.float32))
            t += len(mono) / RATE + pause
    audio = np.concatenate(pieces, axis=1)
    if not stereo:
        # One room microphone: each voice once, without the other channel's leak.
        audio = np.concatenate([_own(p) for p in pieces])[None]
    return audio, reference


def _own(piece: np.ndarray) -> np.ndarray:
    """The louder channel of a stereo piece: the speaker's own microphone."""
    return piece[int(np.abs(piece).sum(axis=1).argmax())]


def write(audio: np.ndarray, out: Path, rate: int, telephone: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        pcm = (np.clip(audio.T, -1, 1) * 32767).astype(np.int16)
        with wave.open(str(raw), "wb") as handle:
            handle.setnchannels(audio.shape[0])
            handle.setsampwidth(2)
            handle.setframerate(RATE)
            handle.writeframes(pcm.tobytes())
        effects = ["rate", str(rate)]
        if telephone:
            effects = ["sinc", "300-3400", *effects]
        args = ["sox", str(raw)]
        if out.suffix == ".ogg":
            args += ["-C", "2"]  # vorbis quality 2: speech stays clear, files stay small
        if telephone and out.suffix == ".wav":
            args += ["-e", "u-law", "-b", "8"]
        subprocess.run([*args, str(out), *effects], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("script", type=Path, help="'Speaker: text' lines")
    parser.add_argument("out", type=Path, help="output audio (.wav, .flac, .ogg, ...)")
    parser.add_argument(
        "--stereo", action="store_true", help="one speaker per channel (two lapel microphones)"
    )
    parser.add_argument(
        "--crosstalk-db", type=float, default=20.0, help="how much quieter a voice is on the other mic"
    )
    parser.add_argument("--rate", type=int, default=16_000, help="output sample rate")
    parser.add_argument(
        "--telephone", action="store_true", help="band-limit to 300-3400 Hz (use with --rate 8000)"
    )
    parser.add_argument("--rttm", type=Path, help="also write the reference speaker timing as RTTM")
    args = parser.parse_args(argv)

    lines = read_script(args.script)
    if not lines:
        sys.exit(f"{args.script}: no 'Speaker: text' lines")
    audio, reference = synthesise(lines, args.stereo, args.crosstalk_db)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write(audio, args.out, args.rate, args.telephone)
    if args.rttm:
        uri = args.out.stem
        args.rttm.write_text(
            "".join(
                f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n" for s, e, spk in reference
            )
        )
    print(
        f"{args.out}: {audio.shape[1] / RATE:.1f} s, {len(lines)} lines, {args.out.stat().st_size // 1024} KB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
