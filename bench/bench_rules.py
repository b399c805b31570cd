"""Rule coder on AnnoMI's training split: per-code precision, recall, F1, and utterances per second."""

from __future__ import annotations

import time

from rich.console import Console

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.coding.rules import RuleCoder

from .annomi import ANNOMI, CODES, load_annomi
from .metrics import prf, prf_table

TARGET_UTTERANCES_PER_SECOND = 300


def run() -> None:
    console = Console()
    sessions = load_annomi()
    if sessions is None:
        console.print(f"skipped: {ANNOMI} not found")
        return
    coder = RuleCoder(load_codebook("stics"))
    coder.code(sessions[0].utterances[:20])  # warm-up: model load is not coding speed
    predicted: list[set[str]] = []
    reference: list[set[str]] = []
    n = 0
    started = time.perf_counter()
    for s in sessions:
        for codes in coder.code(s.utterances):
            predicted.append({c.code for c in codes})
        reference.extend(s.reference)
        n += len(s.utterances)
    elapsed = time.perf_counter() - started
    scores = prf(predicted, reference, CODES)
    console.print(
        prf_table(
            f"Rule coder vs AnnoMI training split ({len(sessions)} transcripts, {n} utterances)", scores
        )
    )
    speed = n / elapsed
    verdict = "meets" if speed >= TARGET_UTTERANCES_PER_SECOND else "BELOW"
    console.print(
        f"rule coder speed: {speed:.0f} utterances/s on this machine ({verdict} the {TARGET_UTTERANCES_PER_SECOND}/s target)"
    )
