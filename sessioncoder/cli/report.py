"""Commands ``report``, ``rescore`` and ``compare``: feedback on coded sessions, corrections and trends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from sessioncoder.errors import InputError
from sessioncoder.research.batch import session_stem
from sessioncoder.schema import CodedSession, check_schema_version

console = Console()
err_console = Console(stderr=True)

REPORT_FORMATS = ("html", "md", "csv")
REDACTED_MARK = '<meta name="sessioncoder-redacted" content="true">'


def load_session_file(path: Path) -> CodedSession:
    """Load a ``.session.json``; a missing or malformed file is an InputError naming it."""
    if not path.is_file():
        raise InputError(f"{path}: session file not found")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        check_schema_version(data, str(path))
        session = CodedSession.model_validate(data)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read session file: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: malformed JSON: nested too deeply") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InputError(f"{path}: not a coded session: {where}: {first['msg']}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    if session.profile is None:  # a transcript JSON validates too: all its fields are a session's
        raise InputError(f"{path}: not a coded session (no profile): code it first with `sessioncoder code`")
    return session


def session_codebook(session: CodedSession, session_path: Path):
    """The codebook recorded in the session: by id, else by its recorded path; warns on a changed version."""
    from sessioncoder.coding.codebook import load_codebook
    from sessioncoder.errors import CodebookError

    if not session.codebooks:
        return load_codebook(None)
    ref = session.codebooks[0]
    try:
        codebook = load_codebook(ref.id)
    except CodebookError:
        if not ref.path:
            raise
        codebook = load_codebook(ref.path)
    if ref.sha256 and codebook.sha256 and ref.sha256 != codebook.sha256 and not set(ref.sha256) <= {"0"}:
        err_console.print(
            f"[yellow]note:[/] codebook {ref.id} has changed since {session_path.name} was coded "
            f"(version {ref.version} then, {codebook.version} now); definitions shown are today's."
        )
    return codebook


def with_resolved_audio(session: CodedSession, session_path: Path) -> CodedSession:
    """Find the recording: as recorded (relative to the working directory), else beside the session file."""
    if session.source.kind != "audio":
        return session
    recorded = Path(session.source.path)
    for candidate in (recorded, session_path.parent / recorded, session_path.parent / recorded.name):
        if candidate.is_file():
            return session.model_copy(
                update={"source": session.source.model_copy(update={"path": str(candidate.resolve())})}
            )
    err_console.print(
        f"[yellow]note:[/] recording {recorded} not found; the report will have no audio player."
    )
    return session


def parse_formats(value: str) -> list[str]:
    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown or not formats:
        raise InputError(
            f"--format: unknown format(s) {', '.join(unknown) or '(none)'} (choose from html, md, csv)"
        )
    return formats


def write_reports(
    session: CodedSession,
    session_path: Path,
    codebook,
    *,
    formats: list[str],
    out_dir: Path | None = None,
    redact: bool = False,
    embed_audio: bool = False,
) -> list[Path]:
    from sessioncoder.report import write_outputs

    out_dir = out_dir or session_path.parent
    session = with_resolved_audio(session, session_path)
    return write_outputs(
        session,
        codebook,
        out_dir,
        session_stem(session_path),
        formats,
        redact=redact,
        embed_audio=embed_audio,
    )


def report(
    session_path: Annotated[
        Path, typer.Argument(metavar="SESSION.json", help="A coded session (.session.json).")
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: html, md, csv.")
    ] = "html,md",
    redact: Annotated[
        bool,
        typer.Option("--redact", help="Replace names, places, phone numbers, dates of birth and addresses."),
    ] = False,
    embed_audio: Annotated[
        bool, typer.Option("--embed-audio", help="Embed the recording in the HTML instead of linking it.")
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", "-o", help="Where to write (default: beside the session file)."),
    ] = None,
) -> None:
    """Write the feedback report (HTML) and summary (markdown) for a coded session."""
    formats = parse_formats(format)
    session = load_session_file(session_path)
    codebook = session_codebook(session, session_path)
    with console.status("Writing reports" + (" (redacting)" if redact else "") + "\u2026"):
        written = write_reports(
            session,
            session_path,
            codebook,
            formats=formats,
            out_dir=out_dir,
            redact=redact,
            embed_audio=embed_audio,
        )
    for path in written:
        console.print(f"wrote {path}")


def rescore(
    session_path: Annotated[
        Path, typer.Argument(metavar="SESSION.json", help="A coded session (.session.json).")
    ],
    corrections: Annotated[
        Path,
        typer.Option("--corrections", help="CSV with columns index,add,remove (codes separated by ';')."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the corrected session here (default: update SESSION.json)."),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Reviewer name for the audit trail.")] = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact", help="Redact the regenerated reports (automatic if the old HTML was redacted)."
        ),
    ] = False,
) -> None:
    """Apply a trainer's corrections, recompute the profile and keep an audit trail; regenerate the reports."""
    from sessioncoder.report import output_paths
    from sessioncoder.research.rescore import apply_corrections

    session = load_session_file(session_path)
    codebook = session_codebook(session, session_path)
    corrected = apply_corrections(session, corrections, codebook, by=by)
    target = out or session_path
    corrected.save(target)
    changes = len(corrected.audit) - len(session.audit)
    console.print(f"applied {changes} change(s) from {corrections}; wrote {target}")
    before, after = session.profile, corrected.profile
    if before is not None and after is not None:
        table = Table("measure", "before", "after", title="Profile")
        for old, new in zip(before.miti.scores, after.miti.scores, strict=False):
            if old.display != new.display:
                table.add_row(new.name, old.display, new.display)
        for old, new in zip(before.skill_areas, after.skill_areas, strict=False):
            if old.score != new.score:
                table.add_row(new.name, f"{old.score:.0%}", f"{new.score:.0%}")
        if table.row_count:
            console.print(table)
    paths = output_paths(target.parent, session_stem(target))
    existing = [f for f, p in paths.items() if f in REPORT_FORMATS and p.exists()]
    # Never turn a redacted report into an unredacted one by regenerating it.
    redact = redact or (paths["html"].exists() and REDACTED_MARK in paths["html"].read_text(encoding="utf-8"))
    for path in write_reports(corrected, target, codebook, formats=existing or ["html"], redact=redact):
        console.print(f"wrote {path}")


def compare(
    sessions: Annotated[
        list[Path], typer.Argument(metavar="SESSION.json...", help="Sessions, oldest first.")
    ],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the trend as an HTML page here.")
    ] = None,
) -> None:
    """Show the trend across several sessions of the same officer."""
    from sessioncoder.fileio import write_text_atomic
    from sessioncoder.report.compare import compare_sessions, render_compare_html

    loaded = [load_session_file(p) for p in sessions]
    comparison = compare_sessions(loaded, sessions)
    table = Table(title=f"{len(loaded)} sessions")
    table.add_column("measure")
    for i, label in enumerate(comparison.labels, start=1):
        table.add_column(f"{i}. {label}", justify="right")
    for row in comparison.rows():
        table.add_row(*row)
    console.print(table)
    if html is not None:
        write_text_atomic(html, render_compare_html(comparison))
        console.print(f"wrote {html}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("rescore")(rescore)
    app.command("compare")(compare)
