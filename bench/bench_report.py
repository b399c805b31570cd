"""Report speed: rendering the HTML report, redacting a session, and the page's size.

Uses the example transcript (coded with the default codebook) scaled up by
repetition, so it needs no shared data.
"""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "supervision_session.txt"


def _timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def run() -> None:
    if not EXAMPLE.is_file():
        print(f"skipped: {EXAMPLE} not found")
        return
    from sessioncoder import code_transcript, load_codebook, read_transcript
    from sessioncoder.profile import compute_profile
    from sessioncoder.report.html import render_html
    from sessioncoder.report.redact import Redactor

    codebook = load_codebook("stics")
    base = code_transcript(read_transcript(EXAMPLE), codebook)
    redactor = Redactor()
    redactor.redact("warm up the model, Darren.")
    print(f"{'utterances':>10} {'render ms':>10} {'redact ms':>10} {'utt/s redact':>13} {'HTML KiB':>9}")
    for copies in (1, 10, 20):
        session = base.model_copy(deep=True)
        utterances = []
        for _ in range(copies):
            for u in base.utterances:
                utterances.append(u.model_copy(update={"index": len(utterances)}))
        session.utterances = utterances
        session.profile = compute_profile(session, codebook)
        render_s, page = _timed(lambda s=session: render_html(s, codebook))
        redact_s, _ = _timed(lambda s=session: Redactor().redact_session(s), repeat=1)
        n = len(utterances)
        print(
            f"{n:>10} {1000 * render_s:>10.1f} {1000 * redact_s:>10.1f} {n / redact_s:>13.0f} {len(page) / 1024:>9.0f}"
        )
