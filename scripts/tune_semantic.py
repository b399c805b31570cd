"""Set each code's ``semantic_threshold`` and ``model_min_confidence`` from the TUNING half of the STICS dev set.

    python scripts/tune_semantic.py                 # prints the thresholds and the tuning-half F1
    python scripts/tune_semantic.py --write         # also writes them into codebooks/stics.yaml
    python scripts/tune_semantic.py --shared        # one semantic threshold shared by every code
    python scripts/tune_semantic.py --leave-one-out # per code against shared, each tuning session left out

The checking half is never read here, so ``make bench`` can report it as held out.
Coordinate ascent, two passes, scoring the micro-F1 of *all* codes after the full
merge (precedence, overrides, topic segments), because a semantic topic also
changes what the segments carry. For one code at a time every semantic threshold
on a grid (and "off", leaving the code to the rules) is tried with the others
fixed; ``--shared`` instead tries each value for all codes with prototypes at once.

Shared was tried as the default (with the first seven tuning sessions), since 24 thresholds fitted on seven sessions
may follow them. Leaving one tuning session out at a time (fit on six, score the
seventh; ``--leave-one-out``): micro-F1 0.710 shared against 0.702 per code (practitioner 0.745 /
0.744, topics 0.689 / 0.679; one threshold per code family 0.701, a coarse
per-code grid 0.698, a minimum gain of 0.004 per step 0.675, no semantic coder
0.660). On the checking half, though, shared (0.550 for every code) gave
practitioner 0.647 and topics 0.582 against 0.642 / 0.620 per code, and the
structure checklist on the tuning half fell from 7/7 to 5/7. No clear winner, so
per code stays the default.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stics import load_dev, micro  # noqa: E402
from sessioncoder.coding import default_coders, merge_codes, run_coders  # noqa: E402
from sessioncoder.coding.codebook import load_codebook  # noqa: E402
from sessioncoder.coding.semantic import SemanticCoder, semantic_encoder  # noqa: E402

GRID = [round(x, 3) for x in np.arange(0.30, 0.901, 0.025)]
OFF = 2.0  # never reached by a cosine similarity
MODEL_GRID = [round(x, 3) for x in np.arange(0.20, 0.701, 0.05)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebook", default="stics")
    parser.add_argument("--write", action="store_true", help="write the thresholds into the codebook YAML")
    parser.add_argument("--shared", action="store_true", help="one semantic threshold for every code")
    parser.add_argument(
        "--leave-one-out",
        action="store_true",
        help="score per-code and shared fitting on each tuning session left out (writes nothing)",
    )
    args = parser.parse_args()

    sessions = load_dev("tuning")
    if not sessions:
        print("no dev set under bench/stics_dev")
        return 1
    base = load_codebook(args.codebook)
    coders, _ = default_coders(base, use_semantic=False, use_code_model=False)
    owned = set().union(*(c.owned_codes for c in coders))
    candidates = [c.id for c in base.codes.values() if (c.examples or c.prototypes) and c.id not in owned]
    # Every candidate gets a threshold so its prototypes are embedded; trials vary them.
    book = base.model_copy(deep=True)
    for code in candidates:
        book.codes[code].semantic_threshold = book.codes[code].semantic_threshold or 1.0
    encoder = semantic_encoder(book, next((c for c in coders if hasattr(c, "code_texts")), None))
    semantic = SemanticCoder(book, encoder)
    order = semantic.prototypes.codes
    prepared = []
    for s in sessions:
        utts = [u.model_copy(deep=True) for u in s.transcript.utterances]
        fixed = run_coders(utts, coders)
        sims = semantic.similarities(encoder.encode([u.text for u in utts]))
        prepared.append((utts, fixed, sims, s.gold))
    model_codes = sorted(owned)

    def pairs(which: list[int], limits: np.ndarray, floors: dict[str, float | None]) -> list:
        for code, floor in floors.items():
            book.codes[code].model_min_confidence = floor
        out = []
        for i in which:
            utts, fixed, sims, gold = prepared[i]
            merged = merge_codes(book, utts, [*fixed, (semantic, semantic.assign(utts, sims, limits))])
            out.extend(({a.code for a in m}, g) for m, g in zip(merged, gold, strict=True))
        return out

    def fit(which: list[int], shared: bool, verbose: bool = False):
        """Semantic thresholds and model floors by coordinate ascent on the sessions ``which``."""
        limits = np.array([OFF] * len(order), dtype=np.float32)
        floors: dict[str, float | None] = {code: None for code in model_codes}
        best = micro(pairs(which, limits, floors))[0]
        if verbose:
            print(f"rules + model only, tuning half: micro-F1 {best:.3f}")
        # The semantic thresholds tried together: each code alone, or all codes at once.
        groups = [list(range(len(order)))] if shared else [[j] for j in range(len(order))]

        def ascend(values: list, apply, current, best: float) -> float:
            """Apply each value in turn; keep the one that raises micro-F1 most (else ``current``)."""
            keep = current
            for value in values:
                apply(value)
                f = micro(pairs(which, limits, floors))[0]
                if f > best + 1e-6:
                    best, keep = f, value
            apply(keep)
            return best

        for sweep in range(2):
            for group in groups:
                best = ascend(
                    [OFF, *GRID], lambda t, g=group: limits.__setitem__(g, t), limits[group[0]], best
                )
            for code in model_codes:
                best = ascend(
                    [None, *MODEL_GRID], lambda f, c=code: floors.__setitem__(c, f), floors[code], best
                )
            if verbose:
                print(f"pass {sweep + 1}: tuning-half micro-F1 {best:.3f}")
        return limits, floors

    everything = list(range(len(prepared)))
    if args.leave_one_out:
        for shared in (False, True):
            held_out = []
            for k in everything:
                limits, floors = fit([i for i in everything if i != k], shared)
                held_out.extend(pairs([k], limits, floors))
            practitioner = micro(held_out, lambda c: c.split(".")[0] not in ("client", "topic"))[0]
            topic = micro(held_out, lambda c: c.split(".")[0] == "topic")[0]
            print(
                f"{'shared' if shared else 'per code'}: left-out sessions micro-F1 {micro(held_out)[0]:.3f}, "
                f"practitioner {practitioner:.3f}, topics {topic:.3f}"
            )
        return 0
    limits, floors = fit(everything, args.shared, verbose=True)
    chosen = {code: float(limits[j]) for j, code in enumerate(order) if limits[j] < OFF}
    for code, t in chosen.items():
        print(f"  {code}: semantic {t:.3f}")
    for code, t in floors.items():
        if t is not None:
            print(f"  {code}: model confidence >= {t:.2f}")
    if args.write:
        path = Path(base.path or "")
        write_thresholds(path, "semantic_threshold", {c: chosen.get(c) for c in order})
        write_thresholds(path, "model_min_confidence", floors)
    return 0


def write_thresholds(path: Path, field: str, thresholds: dict[str, float | None]) -> None:
    """Set one threshold field's lines in place (comments and layout of the YAML kept)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    out: list[str] = []
    current = None
    for line in lines:
        m = re.match(r"^  ([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*):\s*$", line)
        if m:
            current = m.group(1)
        if current in thresholds and line.startswith(f"    {field}:"):
            continue
        out.append(line)
        if current in thresholds and line.startswith("    applies_to:") and thresholds[current] is not None:
            out.append(f"    {field}: {thresholds[current]:.3f}")
    path.write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {sum(v is not None for v in thresholds.values())} {field} values to {path}")


if __name__ == "__main__":
    sys.exit(main())
