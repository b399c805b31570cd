"""Coding many sessions: progress, resume, parallel workers and a summary table.

Each session's outputs are written atomically as soon as it is done, so an
interrupted batch loses nothing finished; a re-run skips every session whose
outputs were made from the same input bytes, codebook version and settings.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.compute import share_threads
from sessioncoder.errors import SessionCoderError
from sessioncoder.fileio import sha256_file, sha256_text, write_text_atomic
from sessioncoder.pipeline import AUDIO_SUFFIXES, code_transcript, read_input
from sessioncoder.report import output_paths, write_outputs
from sessioncoder.report.tables import summary_csv, summary_row
from sessioncoder.schema import CodedSession
from sessioncoder.transcripts import TRANSCRIPT_SUFFIXES
from sessioncoder.version import __version__

INPUT_SUFFIXES = AUDIO_SUFFIXES | TRANSCRIPT_SUFFIXES
_OUTPUT_ENDINGS = (".session.json", ".transcript.json", ".utterances.csv", "summary.csv", ".md", ".html")


def session_stem(path: Path) -> str:
    name = path.name
    for ending in (".session.json", ".transcript.json"):
        if name.endswith(ending):
            return name[: -len(ending)]
    return path.stem


def collect_inputs(items: Iterable[Path], out_dir: Path) -> list[Path]:
    """Files named directly, and every supported file under named folders (outputs of ours left out)."""
    out_dir = out_dir.resolve()
    found: list[Path] = []
    for item in items:
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                if not path.is_file() or path.suffix.lower() not in INPUT_SUFFIXES:
                    continue
                if out_dir in path.resolve().parents or path.name.endswith(_OUTPUT_ENDINGS[1:]):
                    continue
                found.append(path)
        else:
            found.append(item)
    return list(dict.fromkeys(found))


def unique_stems(paths: list[Path]) -> dict[Path, str]:
    """One output stem per input; inputs sharing a stem are told apart by their suffix."""
    stems = {p: session_stem(p) for p in paths}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    return {p: (s if counts[s] == 1 else f"{s}_{p.suffix.lstrip('.').lower()}") for p, s in stems.items()}


def input_key(path: Path, codebook_sha: str, settings: dict[str, Any]) -> str:
    """What a session's outputs depend on: the input's bytes, the codebook and the coding settings."""
    blob = json.dumps(
        {"input": sha256_file(path), "codebook": codebook_sha, "version": __version__, "settings": settings},
        sort_keys=True,
    )
    return sha256_text(blob)


@dataclass
class BatchJob:
    path: Path
    stem: str
    out_dir: Path
    codebook: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    path: Path
    stem: str
    status: str  # coded | skipped | failed
    row: dict[str, object] | None = None
    error: str | None = None


def already_done(job: BatchJob, key: str) -> CodedSession | None:
    paths = output_paths(job.out_dir, job.stem)
    session_path = paths["json"]
    # Every requested output, not only the JSON: a run killed between the JSON and the report is not done.
    formats = job.settings.get("formats", ("json", "md", "csv", "html"))
    if not all(paths[f].exists() for f in formats if f in paths):
        return None
    try:
        session = CodedSession.load(session_path)
    except Exception:
        return None  # unreadable earlier output: code it again
    return session if session.settings.get("input_key") == key else None


def run_job(job: BatchJob, force: bool = False) -> BatchResult:
    """Code one session (in this process or a worker). Bad input becomes a failed result, not an exception."""
    try:
        codebook = load_codebook(job.codebook)
        key = input_key(job.path, codebook.sha256, job.settings)
        if not force:
            done = already_done(job, key)
            if done is not None:
                return BatchResult(job.path, job.stem, "skipped", row=summary_row(job.stem, done))
        audio_options = None
        if job.path.suffix.lower() in AUDIO_SUFFIXES:
            from sessioncoder.speech.recording import AudioOptions

            audio_options = AudioOptions(progress=False, **job.settings.get("audio", {}))
            audio_options.vocabulary = codebook.vocabulary
        cache = job.out_dir / f"{job.stem}.transcript.json"
        transcript = read_input(job.path, audio_options, cache_path=cache)
        session = code_transcript(
            transcript,
            codebook,
            use_model=job.settings.get("use_model", True),
            use_code_model=job.settings.get("use_code_model", True),
        )
        session.settings["input_key"] = key
        write_outputs(
            session,
            codebook,
            job.out_dir,
            job.stem,
            formats=job.settings.get("formats", ("json", "md", "csv", "html")),
        )
        return BatchResult(job.path, job.stem, "coded", row=summary_row(job.stem, session))
    except SessionCoderError as exc:
        return BatchResult(job.path, job.stem, "failed", error=str(exc))
    except Exception as exc:  # one broken session must not stop the batch
        return BatchResult(job.path, job.stem, "failed", error=f"{job.path}: internal error: {exc!r}")


def write_summary(out_dir: Path, results: list[BatchResult]) -> Path:
    rows = [r.row for r in sorted(results, key=lambda r: r.stem) if r.row is not None]
    path = out_dir / "summary.csv"
    write_text_atomic(path, summary_csv(rows))
    return path


def summary_from_disk(jobs: list[BatchJob]) -> list[BatchResult]:
    """The sessions whose outputs are complete on disk, as results: the summary after an interruption.

    Includes sessions that workers finished after the interruption reached the
    parent, which the parent never heard about.
    """
    done = []
    for job in jobs:
        try:
            key = input_key(job.path, load_codebook(job.codebook).sha256, job.settings)
        except (OSError, SessionCoderError):
            continue
        session = already_done(job, key)
        if session is not None:
            done.append(BatchResult(job.path, job.stem, "skipped", row=summary_row(job.stem, session)))
    return done


def _init_worker(workers: int) -> None:
    share_threads(workers)
    # Ctrl-C reaches the whole process group: a worker finishes the session it is on (its outputs
    # are written atomically) and the parent stops handing out new ones.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def iter_batch(jobs: list[BatchJob], workers: int = 1, force: bool = False) -> Iterator[BatchResult]:
    """Run jobs and yield each result as it is finished: in order with one worker, else in a process pool.

    Every finished session's outputs are already on disk when its result is
    yielded, so a caller interrupted part-way keeps what it has collected.
    """
    if workers <= 1:
        for job in jobs:
            yield run_job(job, force)
        return
    # spawn, not fork: torch and spaCy do not survive a fork of a process that has used them.
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(workers,)
    ) as pool:
        futures: list[Future[BatchResult]] = [pool.submit(run_job, job, force) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:  # on Ctrl-C (or an abandoned generator) do not start what is still queued
            for future in futures:
                future.cancel()
