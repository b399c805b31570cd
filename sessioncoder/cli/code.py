"""``sessioncoder code`` and ``sessioncoder batch``: recordings or transcripts in, coded sessions and reports out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sessioncoder.cli.app import CodebookOption, NoCodeModelOption, NoModelOption, app, console, err_console
from sessioncoder.coding.codebook import load_codebook, resolve_codebook_path
from sessioncoder.errors import InputError, SessionCoderError

# --------------------------------------------------------------------------- code


def _audio_options(asr_model, language, diarizer, speakers, pyannote_model, progress=True):
    from sessioncoder.speech.recording import AudioOptions

    if speakers is not None and speakers != "auto":
        try:
            speakers_value: int | str = int(speakers)
        except ValueError:
            raise InputError(f"--speakers must be a number or 'auto', got {speakers!r}") from None
        if speakers_value < 1:
            raise InputError("--speakers must be at least 1")
    else:
        speakers_value = speakers or 2
    return AudioOptions(
        asr_model=asr_model,
        language=None if language in (None, "auto") else language,
        diarizer=diarizer,
        speakers=speakers_value,
        speakers_explicit=speakers is not None,
        pyannote_model=pyannote_model,
        progress=progress,
    )


def _summary_table(stem: str, session) -> Table:
    p = session.profile
    table = Table(
        title=f"{stem}: {p.duration_minutes:.1f} min, {p.utterances} utterances", title_justify="left"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("rating / detail")
    talk = ", ".join(
        f"{t.role} {(t.share_time if p.talk_time.basis == 'time' else t.share_words) or 0:.0%}"
        for t in p.talk_time.roles
    )
    table.add_row("talk share", p.talk_time.basis, talk)
    for s in p.miti.scores[:5]:
        table.add_row(s.name, s.display, s.rating if s.rating != "n/a" else "")
    for area in p.skill_areas:
        table.add_row(
            area.name, f"{area.score:.0%}", f"{area.count} uses; {', '.join(area.skills_used) or '—'}"
        )
    present = [s.name for s in p.structure if s.present]
    table.add_row("structure", f"{len(present)}/{len(p.structure)}", ", ".join(present) or "—")
    table.add_row(
        "content",
        f"{p.content.share_criminogenic:.0%}",
        f"criminogenic vs {p.content.share_conditions:.0%} conditions; pro-criminal attitudes "
        + ("discussed" if p.content.procriminal_discussed else "not discussed"),
    )
    table.add_row("missed opportunities", str(len(p.missed_opportunities)), "")
    return table


@app.command()
def code(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Recordings (wav, mp3, m4a, flac, ogg) or transcripts (txt, vtt, csv, json)."),
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Where to write the outputs.")] = Path(
        "out"
    ),
    codebook: CodebookOption = "stics",
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated: json,md,csv,html.")
    ] = "json,md,csv,html",
    redact: Annotated[
        bool,
        typer.Option(
            "--redact",
            help="Redact names, places, phone numbers, dates of birth and addresses in md/csv/html.",
        ),
    ] = False,
    embed_audio: Annotated[
        bool, typer.Option("--embed-audio", help="Embed the recording in the HTML report.")
    ] = False,
    no_model: NoModelOption = False,
    no_code_model: NoCodeModelOption = False,
    no_semantic: Annotated[
        bool,
        typer.Option(
            "--no-semantic", help="Do not use the semantic coder (codebook prototypes); rules and model only."
        ),
    ] = False,
    officer: Annotated[
        str | None, typer.Option("--officer", help="Speaker id that is the officer (overrides inference).")
    ] = None,
    asr_model: Annotated[
        str, typer.Option("--asr-model", help="tiny.en, base, or a CTranslate2 Whisper directory.")
    ] = "base",
    language: Annotated[str, typer.Option("--language", help="Spoken language code, or 'auto'.")] = "en",
    diarizer: Annotated[
        str,
        typer.Option(
            "--diarizer",
            help="auto (pyannote, or embedded without the pyannote extra; channels for one lapel mic each), embedded, pyannote or channels.",
        ),
    ] = "auto",
    speakers: Annotated[
        str | None, typer.Option("--speakers", help="Number of speakers, or 'auto' (default 2).")
    ] = None,
    pyannote_model: Annotated[
        Path | None, typer.Option("--pyannote-model", help="Local pyannote.audio pipeline directory.")
    ] = None,
) -> None:
    """Code sessions: writes DIR/<stem>.session.json, <stem>.md, <stem>.utterances.csv and <stem>.html."""
    from sessioncoder.pipeline import AUDIO_SUFFIXES, code_transcript, read_input
    from sessioncoder.report import write_outputs
    from sessioncoder.research.batch import unique_stems

    fmt_list = _parse_formats(formats)
    book = load_codebook(codebook)
    failures = 0
    stems = unique_stems(inputs)
    for path in inputs:
        stem = stems[path]
        started = time.perf_counter()
        try:
            audio_options = None
            if path.suffix.lower() in AUDIO_SUFFIXES:
                audio_options = _audio_options(asr_model, language, diarizer, speakers, pyannote_model)
                audio_options.vocabulary = book.vocabulary
            transcript = read_input(
                path, audio_options, cache_path=out_dir / f"{stem}.transcript.json", officer=officer
            )
            session = code_transcript(
                transcript,
                book,
                use_model=not no_model,
                use_semantic=not no_semantic,
                use_code_model=not no_code_model,
            )
            written = write_outputs(
                session, book, out_dir, stem, fmt_list, redact=redact, embed_audio=embed_audio
            )
        except SessionCoderError as exc:
            if len(inputs) == 1:
                raise
            failures += 1
            err_console.print(f"[red]sessioncoder: error:[/red] {exc}", highlight=False, soft_wrap=True)
            continue
        elapsed = time.perf_counter() - started
        console.print(_summary_table(stem, session))
        for warning in session.warnings:
            err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
        audio_seconds = transcript.timings.get("audio_seconds")
        if audio_seconds:
            console.print(
                f"real-time factor {elapsed / audio_seconds:.2f} ({elapsed:.1f} s for {audio_seconds:.1f} s of audio)"
            )
        console.print("wrote " + ", ".join(str(p) for p in written), highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(2)


def _parse_formats(formats: str) -> list[str]:
    from sessioncoder.report import ALL_FORMATS

    chosen = [f.strip().lower() for f in formats.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in ALL_FORMATS]
    if unknown or not chosen:
        raise InputError(
            f"--format: unknown format(s) {', '.join(unknown) or '(none)'} (use {', '.join(ALL_FORMATS)})"
        )
    if "json" not in chosen:
        chosen.insert(0, "json")  # the session JSON is the artefact every other step starts from
    return chosen


# --------------------------------------------------------------------------- batch


@app.command()
def batch(
    inputs: Annotated[list[Path], typer.Argument(help="Folders and/or files to code.")],
    out_dir: Annotated[
        Path, typer.Option("--out-dir", "-o", help="Where to write outputs and summary.csv.")
    ] = Path("out"),
    codebook: CodebookOption = "stics",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel worker processes.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Re-code sessions even if already coded.")] = False,
    no_model: NoModelOption = False,
    no_code_model: NoCodeModelOption = False,
    asr_model: Annotated[
        str, typer.Option("--asr-model", help="For recordings: tiny.en, base, or a directory.")
    ] = "base",
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated: json,md,csv,html.")
    ] = "json,md,csv,html",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run on a dask cluster: its scheduler ADDRESS (tcp://host:8786), "
            "or 'local' for a LocalCluster of --jobs workers. DIR must be the same path on every worker.",
        ),
    ] = None,
) -> None:
    """Code many sessions with a progress bar; resumes, writes DIR/summary.csv, lists failures at the end."""
    from sessioncoder.research.batch import (
        BatchJob,
        collect_inputs,
        iter_batch,
        summary_from_disk,
        unique_stems,
        write_summary,
    )

    for item in inputs:
        if not item.exists():
            raise InputError(f"{item}: file or folder not found")
    book_path = str(resolve_codebook_path(codebook))
    load_codebook(book_path)  # a malformed codebook fails once, up front, not once per session
    paths = collect_inputs(inputs, out_dir)
    if not paths:
        raise InputError(
            f"no sessions found in {', '.join(map(str, inputs))} (supported: txt, vtt, csv, json and audio)"
        )
    stems = unique_stems(paths)
    settings = {
        "use_model": not no_model,
        "use_code_model": not no_code_model,
        "audio": {"asr_model": asr_model},
        "formats": _parse_formats(formats),
    }
    batch_jobs = [
        BatchJob(path=p, stem=stems[p], out_dir=out_dir, codebook=book_path, settings=settings) for p in paths
    ]
    from sessioncoder.fileio import remove_orphaned_temps

    if out_dir.is_dir():
        remove_orphaned_temps(out_dir)  # what a killed run was writing when it died
    if scheduler:
        from sessioncoder.research.dask_batch import iter_dask_batch

        running = iter_dask_batch(batch_jobs, scheduler, workers=jobs, force=force)
    else:
        running = iter_batch(batch_jobs, workers=jobs, force=force)
    results = []
    with Progress(
        TextColumn("[bold]coding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=err_console,
    ) as progress:
        task = progress.add_task("", total=len(batch_jobs))
        try:
            for result in running:
                results.append(result)
                progress.update(task, advance=1, description=f"{result.stem}: {result.status}")
        except KeyboardInterrupt:
            progress.stop()
            saved = summary_from_disk(batch_jobs)  # what is on disk, finished after Ctrl-C included
            write_summary(out_dir, saved)
            err_console.print(
                f"interrupted: {len(saved)} of {len(batch_jobs)} sessions are saved; "
                "run the same command again to resume"
            )
            raise typer.Exit(130) from None
    summary = write_summary(out_dir, results)
    coded = sum(r.status == "coded" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = [r for r in results if r.status == "failed"]
    console.print(
        f"coded {coded}, skipped {skipped} (already coded), failed {len(failed)}; summary: {summary}"
    )
    if failed:
        err_console.print(f"[red]{len(failed)} session(s) failed:[/red]")
        for r in failed:
            err_console.print(f"  {r.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
