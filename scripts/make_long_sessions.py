"""Synthetic supervision sessions of 5+ minutes (two, three and four voices) for the ASR/diarisation bench.

Lines come from ``scripts/session_lines/`` (officer, client, and "other": an
interpreter or a second worker), in a fixed order per session, and are spoken
by espeak-ng through ``synth_dialogue``. Each session is written as
``NAME.ogg`` with its script ``NAME.txt`` and reference speaker timing
``NAME.rttm``. Deterministic for a given espeak-ng version; the audio is not
committed (a few MB): ``make bench`` builds it into the cache when espeak-ng
and sox are there.

    python scripts/make_long_sessions.py OUT_DIR
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth_dialogue  # noqa: E402

LINES = HERE / "session_lines"

# Speaker name -> (espeak voice, pitch, words per minute). Four voices different enough for a listener.
VOICE_SETS = {
    "session_a": [("Officer", ("en-gb+m3", 38, 165)), ("Client", ("en-us+f2", 72, 178))],
    "session_b": [("Officer", ("en-gb-x-rp+f4", 60, 170)), ("Client", ("en-gb-scotland+m1", 30, 160))],
    "session_3v": [
        ("Officer", ("en-gb+m3", 38, 165)),
        ("Client", ("en-us+f2", 72, 178)),
        ("Interpreter", ("en-029+m5", 50, 172)),
    ],
    "session_4v": [
        ("Officer", ("en-gb-x-rp+f4", 60, 170)),
        ("Client", ("en-gb-scotland+m1", 30, 160)),
        ("Interpreter", ("en-029+m5", 50, 172)),
        ("Worker", ("en-us+f3", 82, 168)),
    ],
}


def read_lines(name: str) -> list[str]:
    return [line.strip() for line in (LINES / f"{name}.txt").read_text().splitlines() if line.strip()]


def session_script(name: str) -> list[tuple[str, str]]:
    """Alternating officer/client lines, with the other voices stepping in every few turns."""
    rng = random.Random(name)
    officer, client, other = read_lines("officer"), read_lines("client"), read_lines("other")
    if name == "session_b":  # same lines, another order: a different session
        rng.shuffle(officer)
        rng.shuffle(client)
    extras = [speaker for speaker, _ in VOICE_SETS[name][2:]]
    script: list[tuple[str, str]] = []
    others = iter(other * 2)
    for i, (o, c) in enumerate(zip(officer, client, strict=False)):
        script.append(("Officer", o))
        script.append(("Client", c))
        if extras and i % 4 == 3:
            script.append((extras[(i // 4) % len(extras)], next(others)))
    return script


def synthesise(
    script: list[tuple[str, str]], voices: dict[str, tuple[str, int, int]]
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One room microphone, any number of voices (``synth_dialogue.synthesise`` is for two)."""
    rate = synth_dialogue.RATE
    pieces = [np.zeros(int(0.3 * rate), dtype=np.float32)]
    reference: list[tuple[float, float, str]] = []
    t = 0.3
    with tempfile.TemporaryDirectory() as tmp:
        for i, (speaker, text) in enumerate(script):
            mono = synth_dialogue.speak(text, voices[speaker], Path(tmp))
            loud = np.flatnonzero(np.abs(mono) > 0.01)
            if len(loud):  # espeak pads lines with silence; trim for an exact reference
                mono = mono[max(0, loud[0] - 200) : loud[-1] + 200]
            reference.append((round(t, 3), round(t + len(mono) / rate, 3), speaker))
            pause = synth_dialogue.PAUSES[i % len(synth_dialogue.PAUSES)]
            pieces += [mono * 0.8, np.zeros(int(pause * rate), dtype=np.float32)]
            t += len(mono) / rate + pause
    return np.concatenate(pieces), reference


def build(name: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    audio_path = out_dir / f"{name}.ogg"
    script = session_script(name)
    (out_dir / f"{name}.txt").write_text("".join(f"{s}: {t}\n" for s, t in script))
    audio, reference = synthesise(script, dict(VOICE_SETS[name]))
    synth_dialogue.write(audio[None], audio_path, 16_000, telephone=False)
    (out_dir / f"{name}.rttm").write_text(
        "".join(f"SPEAKER {name} 1 {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>\n" for a, b, s in reference)
    )
    return audio_path


def available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("names", nargs="*", default=list(VOICE_SETS))
    args = parser.parse_args(argv)
    if not available():
        sys.exit("espeak-ng and sox are needed (apt-get install espeak-ng sox libsox-fmt-all)")
    for name in args.names:
        print(build(name, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
