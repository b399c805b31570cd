"""The coder against the hand-coded STICS dev set: per-family F1 on both halves, session checks, speed.

Thresholds of the semantic coder are set on the tuning half only
(``scripts/tune_semantic.py``), and the code model is trained on ``training/stics``
and the tuning half (``scripts/train_code_model.py``), so its tuning-half figures are
in-sample; the checking half is held out from all of them. Rows: rules and MI model
alone, with the semantic coder, then with the code model (the shipped default). Then
two independent coders' blind codings of the checking half against the same gold: what
coders reach on these sessions. Speed is utterances per second of coding (all coders and the merge,
models loaded), on the threads given by ``SESSIONCODER_THREADS`` or all CPUs;
numbers taken on a shared machine are pessimistic.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from sessioncoder.coding import code_utterances, default_coders
from sessioncoder.coding.codebook import load_codebook

from .stics import FAMILIES, family_scores, halves, load_dev, second_codings, session_checks

TARGET_UTTERANCES_PER_SECOND = 300
TARGET_F1 = 0.75


def _code(sessions, coders, codebook) -> list[list[set[str]]]:
    out = []
    for s in sessions:
        utts = [u.model_copy(deep=True) for u in s.transcript.utterances]
        out.append([{a.code for a in codes} for codes in code_utterances(utts, codebook, coders)])
    return out


SCORE_COLUMNS = ("practitioner", *FAMILIES, "pro-criminal flag", "structure checklist")


def _score_cells(
    coded: dict[str, list[set[str]]], reference: dict[str, list[set[str]]], names: list[str]
) -> list[str]:
    """Micro-F1 per family and the two session checks of ``coded`` against ``reference`` on ``names``."""
    pairs = [(p, g) for n in names for p, g in zip(coded[n], reference[n], strict=True)]
    checks = [session_checks(coded[n], reference[n]) for n in names]
    scores = family_scores(pairs)
    return [
        *(f"{scores[k]:.3f}" for k in ("practitioner", *FAMILIES)),
        f"{sum(a for a, _ in checks)}/{len(checks)}",
        f"{sum(b for _, b in checks)}/{len(checks)}",
    ]


def _agreement_row(
    label: str, coded: dict[str, list[set[str]]], reference: dict[str, list[set[str]]]
) -> list[str]:
    names = sorted(coded.keys() & reference.keys())
    return [label, str(len(names)), *_score_cells(coded, reference, names)]


def _print_ceiling(
    console: Console, gold: dict[str, list[set[str]]], predicted: dict[str, list[set[str]]]
) -> None:
    """Independent coders against the gold (and each other): how far coders agree on these sessions."""
    seconds = second_codings()
    if not seconds:
        return
    for coder, sessions in seconds.items():
        for name, rows in sessions.items():
            if name not in gold or len(rows) != len(gold[name]):
                console.print(f"second coder {coder}: {name} does not match the dev set's lines; skipped")
                return
    table = Table(
        title="Independent coders on the same sessions: micro-F1 against the gold (the dev set's ceiling)",
        title_justify="left",
    )
    for col in ("coding", "sessions", *SCORE_COLUMNS):
        table.add_column(col, justify="left" if col == "coding" else "right")
    for coder, sessions in seconds.items():
        table.add_row(*_agreement_row(f"coder {coder} vs gold", sessions, gold))
    coders = list(seconds)
    for i, a in enumerate(coders):
        for b in coders[i + 1 :]:
            table.add_row(*_agreement_row(f"coder {a} vs coder {b}", seconds[a], seconds[b]))
    shipped = {n: predicted[n] for n in set().union(*seconds.values())}
    table.add_row(*_agreement_row("sessioncoder (default) vs gold", shipped, gold))
    console.print(table)


def run() -> None:
    console = Console()
    everything = load_dev()
    if everything is None:
        console.print("skipped: bench/stics_dev not found")
        return
    codebook = load_codebook("stics")
    split = halves()
    setups = {
        "rules + MI model": default_coders(codebook, use_semantic=False, use_code_model=False)[0],
        "+ semantic coder": default_coders(codebook, use_code_model=False)[0],
        "+ code model (default)": default_coders(codebook)[0],
    }
    table = Table(
        title="STICS dev set: micro-F1 by family (tuning half / checking half)", title_justify="left"
    )
    for col in ("coders", "half", *SCORE_COLUMNS):
        table.add_column(col, justify="left" if col in ("coders", "half") else "right")
    gold = {s.name: s.gold for s in everything}
    predicted: dict[str, dict[str, list[set[str]]]] = {}
    for label, coders in setups.items():
        predicted[label] = dict(zip(gold, _code(everything, coders, codebook), strict=True))
        for half in ("tuning", "checking"):
            table.add_row(label, half, *_score_cells(predicted[label], gold, split[half]))
    console.print(table)
    console.print("the code model learnt from the tuning half: its tuning-half figures are in-sample")
    _print_ceiling(console, gold, predicted["+ code model (default)"])
    console.print(
        f"targets on the checking half: practitioner and topic micro-F1 >= {TARGET_F1}, "
        "both session checks right in every session"
    )

    coders = setups["+ code model (default)"]
    utterances = [u for s in everything for u in s.transcript.utterances]
    _code(everything[:1], coders, codebook)  # warm-up: model loading is not coding speed
    started = time.perf_counter()
    _code(everything, coders, codebook)
    elapsed = time.perf_counter() - started
    speed = len(utterances) / elapsed
    console.print(
        f"coding speed with every coder on: {speed:.0f} utterances/s "
        f"({len(utterances)} utterances in {elapsed:.2f} s; target >= {TARGET_UTTERANCES_PER_SECOND})"
    )
    # The bound: the one fp32 sentence-encoder pass that the MI model and the semantic coder share,
    # alone, session by session, as the coder runs it.
    encoder = next((c.encoder for c in coders if getattr(c, "encoder", None) is not None), None)
    if encoder is not None:
        texts = [[u.text for u in s.transcript.utterances] for s in everything]
        started = time.perf_counter()
        tokens = sum(len(ids) for session in texts for ids in encoder.token_ids(session))
        for session in texts:
            encoder.encode(session)
        alone = time.perf_counter() - started
        console.print(
            f"  of which the sentence encoder alone: {len(utterances) / alone:.0f} utterances/s "
            f"({tokens / alone:.0f} tokens/s, {encoder.threads} threads, {encoder.quantisation})"
        )
