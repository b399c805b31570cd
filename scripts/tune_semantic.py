"""Set each code's ``semantic_threshold`` and ``model_min_confidence`` from the TUNING half of the STICS dev set.

    python scripts/tune_semantic.py                 # prints the thresholds and the tuning-half F1
    python scripts/tune_semantic.py --write         # also writes them into codebooks/stics.yaml

The checking half is never read here, so ``make bench`` can report it as held out.
Coordinate ascent, two passes: for one code at a time, every threshold on a grid
(and "off", leaving the code to the rules) is tried with the others fixed, scoring
the micro-F1 of *all* codes after the full merge (precedence, overrides, topic
segments), because a semantic topic also changes what the segments carry.
Rule, model and embedding passes run once per session; each trial only re-merges.
The codes the trained MI model owns get a ``model_min_confidence`` the same way (a
grid of confidences, and "off", keeping all of the model's codes), in the same passes,
so the two kinds of threshold are set with each other in place. Rerun after a new MI
model ships: its confidences are its own.
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
    args = parser.parse_args()

    sessions = load_dev("tuning")
    if not sessions:
        print("no dev set under bench/stics_dev")
        return 1
    base = load_codebook(args.codebook)
    coders, _ = default_coders(base, use_semantic=False)
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
    for code in model_codes:
        book.codes[code].model_min_confidence = None

    def score(limits: np.ndarray) -> float:
        pairs = []
        for utts, fixed, sims, gold in prepared:
            results = [*fixed, (semantic, semantic.assign(utts, sims, limits))]
            merged = merge_codes(book, utts, results)
            pairs.extend(({a.code for a in m}, g) for m, g in zip(merged, gold, strict=True))
        return micro(pairs)[0]

    limits = np.array([OFF] * len(order), dtype=np.float32)
    best = score(limits)
    print(f"rules + model only, tuning half: micro-F1 {best:.3f}")
    for sweep in range(2):
        for j in range(len(order)):
            keep = limits[j]
            for t in [OFF, *GRID]:
                limits[j] = t
                f = score(limits)
                if f > best + 1e-6:
                    best, keep = f, t
            limits[j] = keep
        for code in model_codes:
            spec = book.codes[code]
            keep_floor = spec.model_min_confidence
            for floor in [None, *MODEL_GRID]:
                spec.model_min_confidence = floor
                f = score(limits)
                if f > best + 1e-6:
                    best, keep_floor = f, floor
            spec.model_min_confidence = keep_floor
        print(f"pass {sweep + 1}: tuning-half micro-F1 {best:.3f}")
    chosen = {code: float(limits[j]) for j, code in enumerate(order) if limits[j] < OFF}
    for code, t in chosen.items():
        print(f"  {code}: semantic {t:.3f}")
    floors = {code: book.codes[code].model_min_confidence for code in model_codes}
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
