"""Build a long synthetic supervision recording by repeating the espeak-ng demo session.

The memory bench (``bench/bench_reliability.py``) codes a 90-minute recording;
committing one would add tens of MB, so it is made on demand from the demo
recording (``examples/supervision_session.ogg``, itself espeak-ng speech from
``scripts/make_fixtures.sh``). Each repeat is separated by a second of faint
noise, so the VAD sees the pause a real session would have. Written in blocks,
so building it never holds the whole recording in memory.

    python scripts/make_long_recording.py /tmp/long.ogg --minutes 90
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "examples" / "supervision_session.ogg"


def build(out: Path, minutes: float, source: Path = SOURCE) -> float:
    """Write ``minutes`` of speech to ``out`` (format from its suffix); returns the seconds written."""
    speech, rate = sf.read(str(source), dtype="float32", always_2d=True)
    speech = speech.mean(axis=1)
    rng = np.random.default_rng(0)
    gap = (rng.standard_normal(rate) * 1e-3).astype(np.float32)
    target = int(minutes * 60 * rate)
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(out), "w", samplerate=rate, channels=1) as handle:
        while written < target:
            for part in (speech, gap):
                # libsndfile's Vorbis encoder crashes on very large writes: feed it a second at a time.
                for start in range(0, len(part), rate):
                    block = part[start : start + rate][: target - written]
                    handle.write(block)
                    written += len(block)
    return written / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=90.0)
    args = parser.parse_args()
    seconds = build(args.out, args.minutes)
    print(f"{args.out}: {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
