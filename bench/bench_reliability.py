"""Reliability in figures: redaction recall/precision, batch throughput, and memory for a long recording.

1. Redaction on ``bench/redaction/sentences.txt`` (our own set: supervision-style
   utterances, UK and US, every name, place, phone number and date of birth
   marked). A marked detail counts as found when every letter and digit of it
   is inside a redacted span; a redacted span counts as right when it overlaps
   a marked detail. Target: recall >= 0.95.
2. Throughput: the same transcripts coded by ``batch`` with 1 and 2 local
   worker processes and on a dask LocalCluster of 2 workers, in sessions per
   minute of wall-clock time including start-up (model loading, cluster start).
3. Memory: peak RSS and wall time of ``sessioncoder code`` on a synthetic
   90-minute recording (``scripts/make_long_recording.py``; built once and kept
   in ~/.cache/sessioncoder/bench). Target: <= 3 GB.
   ``SESSIONCODER_BENCH_MINUTES`` changes the length; 0 skips it.

Numbers taken on a shared machine are pessimistic for time, not for memory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SENTENCES = REPO / "bench" / "redaction" / "sentences.txt"
TRANSCRIPT = REPO / "examples" / "supervision_session.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sessioncoder" / "bench"
MARK = re.compile(r"\[\[([A-Z]+):(.*?)\]\]")
RSS_TARGET_MB = 3 * 1024
RECALL_TARGET = 0.95


@dataclass
class Item:
    locale: str
    text: str
    gold: list[tuple[int, int, str]]


def load_redaction_set(path: Path = SENTENCES) -> list[Item]:
    """The marked-up lines as plain text with gold (start, end, label) spans."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        locale, marked = (part.strip() for part in line.split("|", 1))
        text, gold, pos = "", [], 0
        for match in MARK.finditer(marked):
            text += marked[pos : match.start()]
            gold.append((len(text), len(text) + len(match.group(2)), match.group(1)))
            text += match.group(2)
            pos = match.end()
        items.append(Item(locale, text + marked[pos:], gold))
    return items


def score_redaction(items: list[Item], predicted: list[list[tuple[int, int, str]]]) -> dict:
    found: dict[str, list[int]] = {}
    right = total_pred = 0
    misses = []
    for item, spans in zip(items, predicted, strict=True):
        covered = {i for s, e, _ in spans for i in range(s, e)}
        for start, end, label in item.gold:
            ok = all(i in covered or not item.text[i].isalnum() for i in range(start, end))
            found.setdefault(label, []).append(int(ok))
            if not ok:
                misses.append(f"{label} {item.text[start:end]!r} in {item.text!r}")
        for start, end, _ in spans:
            total_pred += 1
            right += any(start < ge and end > gs for gs, ge, _ in item.gold)
    hits = sum(sum(v) for v in found.values())
    n = sum(len(v) for v in found.values())
    return {
        "recall": hits / n,
        "precision": right / max(1, total_pred),
        "n": n,
        "by_label": {k: (sum(v), len(v)) for k, v in sorted(found.items())},
        "misses": misses,
    }


def bench_redaction() -> float:
    from sessioncoder.report.redact import Redactor

    items = load_redaction_set()
    started = time.perf_counter()
    predicted = Redactor().spans_many([i.text for i in items])
    elapsed = time.perf_counter() - started
    result = score_redaction(items, predicted)
    print(f"redaction: {len(items)} utterances, {result['n']} marked details ({elapsed:.1f} s)")
    print(f"{'label':<8} {'found':>6} {'of':>4} {'recall':>7}")
    for label, (hit, n) in result["by_label"].items():
        print(f"{label:<8} {hit:>6} {n:>4} {hit / n:>7.3f}")
    verdict = "met" if result["recall"] >= RECALL_TARGET else "NOT met"
    print(
        f"recall {result['recall']:.3f} (target >= {RECALL_TARGET}: {verdict}), precision {result['precision']:.3f}"
    )
    for miss in result["misses"]:
        print(f"  missed {miss}")
    return result["recall"]


def _make_transcripts(folder: Path, n: int) -> None:
    lines = TRANSCRIPT.read_text(encoding="utf-8").splitlines()
    for i in range(n):
        # Different lengths and a rotated start, so no two sessions are the same file.
        rotated = lines[i % 7 :] + lines[: i % 7]
        (folder / f"session{i:02d}.txt").write_text("\n".join(rotated * (2 + i % 2)) + "\n", encoding="utf-8")


def bench_throughput(n_sessions: int = 16) -> None:
    from sessioncoder.coding.codebook import resolve_codebook_path
    from sessioncoder.research.batch import BatchJob, collect_inputs, iter_batch, unique_stems
    from sessioncoder.research.dask_batch import iter_dask_batch

    if not TRANSCRIPT.is_file():
        print(f"throughput skipped: {TRANSCRIPT} not found")
        return
    book = str(resolve_codebook_path("stics"))
    settings = {"use_model": True, "audio": {"asr_model": "base"}, "formats": ["json", "md", "csv", "html"]}
    print(f"\nthroughput: {n_sessions} transcripts (60-90 utterances each), rules + MI model, all formats")
    print("  wall = from the call to the last session, start-up included (processes, models, cluster);")
    print("  steady = sessions/min between the first result and the last")
    print(f"{'how':<28} {'wall s':>7} {'per min':>8} {'first s':>8} {'steady/min':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        _make_transcripts(inputs, n_sessions)
        runs = [
            ("batch --jobs 1", lambda jobs: iter_batch(jobs, workers=1)),
            ("batch --jobs 2", lambda jobs: iter_batch(jobs, workers=2)),
            ("batch --scheduler local (2)", lambda jobs: iter_dask_batch(jobs, "local", workers=2)),
        ]
        for name, run_batch in runs:
            out = Path(tmp) / name.replace(" ", "_")
            paths = collect_inputs([inputs], out)
            stems = unique_stems(paths)
            jobs = [BatchJob(p, stems[p], out, book, settings) for p in paths]
            started = time.perf_counter()
            stamps = []
            for result in run_batch(jobs):
                if result.status == "coded":
                    stamps.append(time.perf_counter() - started)
            wall, first = stamps[-1], stamps[0]
            steady = 60 * (len(stamps) - 1) / max(1e-9, wall - first)
            print(f"{name:<28} {wall:>7.1f} {60 * len(stamps) / wall:>8.1f} {first:>8.1f} {steady:>11.1f}")


def bench_memory() -> None:
    minutes = float(os.environ.get("SESSIONCODER_BENCH_MINUTES", "90"))
    if minutes <= 0:
        print("\nmemory skipped: SESSIONCODER_BENCH_MINUTES=0")
        return
    if not (REPO / "examples" / "supervision_session.ogg").is_file():
        print("\nmemory skipped: examples/supervision_session.ogg not found")
        return
    sys.path.insert(0, str(REPO / "scripts"))
    from make_long_recording import build

    recording = CACHE / f"long_{minutes:g}min.ogg"
    if not recording.is_file():
        build(recording, minutes)
    print(f"\nmemory: `sessioncoder code` on a {minutes:g}-minute recording ({recording})")
    # The child reports its own peak (RUSAGE_SELF), so no other process of this bench is counted.
    child = (
        "import resource, sys; from sessioncoder.cli import main; code = main(sys.argv[1:]); "
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)"
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", child, "code", str(recording), "--out-dir", out],
            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        elapsed = time.perf_counter() - started
    peak = re.search(r"PEAK_KB (\d+)", result.stderr)
    if result.returncode != 0 or peak is None:
        print(f"memory run failed (exit {result.returncode}): {result.stderr.strip()[-300:]}")
        return
    peak_mb = int(peak.group(1)) / 1024
    verdict = "met" if peak_mb <= RSS_TARGET_MB else "NOT met"
    print(f"peak RSS {peak_mb:,.0f} MB (target <= {RSS_TARGET_MB:,} MB: {verdict}); "
          f"{elapsed:,.0f} s wall, real-time factor {elapsed / (minutes * 60):.2f}")  # fmt: skip


def run() -> None:
    bench_redaction()
    bench_throughput()
    bench_memory()
