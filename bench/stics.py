"""The STICS dev set (``bench/stics_dev``): loading, its two halves, and family-level agreement.

Shared by ``bench_stics`` (the report) and ``scripts/tune_semantic.py`` (which
sets thresholds on the tuning half only).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sessioncoder.research.agreement import read_coding_csv

DEV = Path(__file__).parent / "stics_dev"
PRACTITIONER_GROUPS = ("structuring", "relationship", "mi", "behavioural", "cognitive")
FAMILIES = (*PRACTITIONER_GROUPS, "client", "topic")
STRUCTURE = (
    "structuring.check_in",
    "structuring.review",
    "structuring.agenda",
    "structuring.homework",
    "structuring.summary",
    "structuring.plan_link",
)


@dataclass
class DevSession:
    name: str
    transcript: object  # sessioncoder.schema.Transcript
    gold: list[set[str]]


def load_dev(half: str | None = None) -> list[DevSession] | None:
    """The dev sessions of one half (``tuning``/``checking``) or all; None when the set is absent."""
    from sessioncoder.transcripts import read_transcript

    manifest = DEV / "manifest.json"
    if not manifest.is_file():
        return None
    halves = json.loads(manifest.read_text(encoding="utf-8"))
    names = halves[half] if half else [*halves["tuning"], *halves["checking"]]
    coding = read_coding_csv(DEV / "gold.csv")
    sessions = []
    for name in names:
        transcript = read_transcript(DEV / "transcripts" / f"{name}.txt")
        gold = [coding.codes.get((name, u.index), set()) for u in transcript.utterances]
        sessions.append(DevSession(name, transcript, gold))
    return sessions


def second_codings() -> dict[str, dict[str, list[set[str]]]]:
    """Independent codings of dev sessions (``stics_dev/second_coders/<coder>/<session>.coded``).

    Each is another coder's blind coding of the same lines, in the sources' format, so the
    agreement of two coders with each other and with the gold is the dev set's own ceiling:
    a target above it asks the tool to agree with one coder better than coders agree.
    """
    from .stics_dev.build import parse

    root = DEV / "second_coders"
    out: dict[str, dict[str, list[set[str]]]] = {}
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        out[folder.name] = {
            path.stem: [set(codes) for _, _, codes in parse(path)[1]]
            for path in sorted(folder.glob("*.coded"))
        }
    return out


def halves() -> dict[str, list[str]]:
    return json.loads((DEV / "manifest.json").read_text(encoding="utf-8"))


def family(code: str) -> str:
    return code.split(".", 1)[0]


def micro(pairs: list[tuple[set[str], set[str]]], keep=lambda code: True) -> tuple[float, int, int, int]:
    """Micro-F1 (and tp, fp, fn) of predicted against gold code sets, over the codes ``keep`` accepts."""
    tp = fp = fn = 0
    for predicted, gold in pairs:
        p = {c for c in predicted if keep(c)}
        g = {c for c in gold if keep(c)}
        tp += len(p & g)
        fp += len(p - g)
        fn += len(g - p)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return f1, tp, fp, fn


def family_scores(pairs: list[tuple[set[str], set[str]]]) -> dict[str, float]:
    scores = {"practitioner": micro(pairs, lambda c: family(c) in PRACTITIONER_GROUPS)[0]}
    for fam in FAMILIES:
        scores[fam] = micro(pairs, lambda c, fam=fam: family(c) == fam)[0]
    return scores


def per_code(pairs: list[tuple[set[str], set[str]]]) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for predicted, gold in pairs:
        for c in predicted | gold:
            counts[c][0 if c in predicted and c in gold else 1 if c in predicted else 2] += 1
    return {c: (v[0], v[1], v[2]) for c, v in sorted(counts.items())}


def session_checks(predicted: list[set[str]], gold: list[set[str]]) -> tuple[bool, bool]:
    """(pro-criminal attitudes flag right, structure checklist right) for one session."""
    flag = any("topic.procriminal_attitudes" in p or "client.procriminal_statement" in p for p in predicted)
    truth = any("topic.procriminal_attitudes" in g for g in gold)
    checklist = all(any(code in p for p in predicted) == any(code in g for g in gold) for code in STRUCTURE)
    return flag == truth, checklist
